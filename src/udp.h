/* SPDX-License-Identifier: MIT */
/*
 * UDP sockets for QUIC: non-blocking, batched receive (recvmmsg + UDP GRO), batched send (UDP GSO
 * with a sticky fallback to one datagram per packet when the kernel refuses), optional
 * IP_PKTINFO so a wildcard-bound server answers from the address the client used.
 */
#ifndef MPQ_UDP_H
#define MPQ_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "pktsize.h"

/* Receive scratch shared by every socket of the loop (single-threaded): MPQ_RX_BATCH buffers
 * of MPQ_RX_BUFSIZE, owned by the daemon (struct daemon.rxbuf). */
#define MPQ_RX_BATCH	    32
#define MPQ_RX_BUFSIZE	    65536		/* one GRO super-datagram */
#define MPQ_TX_GSO_MAX	    40			/* packets per GSO send: 40 * 1452 < 64 KiB */
#define MPQ_MAX_UDP_PAYLOAD PKTSIZE_UDP_PAYLOAD /* owned by lib/pktsize.h: 1500 - IPv6 - UDP */

struct udp_sock {
	int fd; /* owned; -1 when closed */
	int family;
	bool gso;     /* UDP_SEGMENT works (cleared on the first refusal) */
	bool pktinfo; /* IP(V6)_PKTINFO enabled: local addresses are reported and used */
	struct sockaddr_storage local; /* bound address (getsockname) */
	socklen_t local_len;
	uint64_t tx_errors;  /* sends that failed other than EAGAIN */
	uint64_t tx_eagain;  /* datagrams dropped because the socket buffer was full (udp_send) */
	uint64_t tx_blocked; /* udp_send_batch calls that found the buffer full (data kept) */
};

/* One received datagram (or GRO train of segsize-byte segments). */
struct udp_rx {
	uint8_t *data;
	size_t len;
	size_t segsize; /* == len unless GRO coalesced several datagrams */
	struct sockaddr_storage peer;
	socklen_t peer_len;
	struct sockaddr_storage local; /* from PKTINFO, else the bound address */
	socklen_t local_len;
};

/*
 * Open a non-blocking UDP socket bound to addr (port 0 = ephemeral). ifname, if not NULL,
 * binds the socket to that device (SO_BINDTODEVICE, needs CAP_NET_RAW or CAP_NET_ADMIN).
 * Returns 0 or -errno.
 */
int udp_open(const struct sockaddr *addr, socklen_t addr_len, const char *ifname, bool pktinfo,
	     struct udp_sock *ret);
void udp_close(struct udp_sock *s);

/*
 * Receive up to max datagrams into bufs (max * bufsize bytes). Returns the count (> 0),
 * -EAGAIN when nothing is pending, or another -errno.
 */
int udp_recv_batch(struct udp_sock *s, uint8_t *bufs, size_t bufsize, struct udp_rx *out, int max);

/*
 * Send len bytes made of segsize-byte packets (the last may be shorter) to peer, from local
 * (when PKTINFO is on and local is not NULL). Uses one GSO send when possible.
 * Returns 0; -EAGAIN when the socket buffer is full (counted in tx_blocked): *ret_sent bytes
 * went, whole packets from the start, and the caller keeps the rest until the socket is
 * writable; or another -errno (counted in tx_errors). *ret_sent is always written.
 */
int udp_send_batch(struct udp_sock *s, const struct sockaddr *peer, socklen_t peer_len,
		   const struct sockaddr *local, const uint8_t *data, size_t len, size_t segsize,
		   size_t *ret_sent);

/*
 * The same for packets nobody keeps (CONNECTION_CLOSE, stateless answers): a full socket buffer
 * drops them, counted per datagram in tx_eagain, and reports 0. Returns 0 or -errno.
 */
int udp_send(struct udp_sock *s, const struct sockaddr *peer, socklen_t peer_len,
	     const struct sockaddr *local, const uint8_t *data, size_t len, size_t segsize);

#endif
