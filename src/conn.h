/* SPDX-License-Identifier: MIT */
/*
 * One QUIC connection (ngtcp2 + wolfSSL) carrying one HTTP/3 connection (nghttp3) with at most
 * one CONNECT-IP session (RFC 9484): the unit both roles are built from. The owner (a client
 * tunnel or the server) supplies the UDP socket and reacts to events through conn_ops.
 *
 * Timers: expiry_timer, re-armed from ngtcp2_conn_get_expiry() after every read and write.
 *
 * Lifetime: the owner creates and frees the connection. When a conn_* call or a callback
 * reports the connection finished (return < 0, or ops->closed), the owner frees it with
 * conn_free() and touches it no more; ops->closed is the last call for a connection.
 */
#ifndef MPQ_CONN_H
#define MPQ_CONN_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <nghttp3/nghttp3.h>

#include "conf.h"
#include "dcap.h"
#include "fqq.h"
#include "pktsize.h"
#include "tls.h"
#include "udp.h"

struct conn;

enum conn_drop {
	CONN_DROP_QUEUE_FULL = 0, /* send queue full: its longest flow lost its oldest packet */
	CONN_DROP_TOO_BIG,	  /* larger than a DATAGRAM frame can carry */
	CONN_DROP_SPOOFED,	  /* inner source not allowed for this tunnel */
	CONN_DROP_NO_ROUTE,	  /* no tunnel for the inner destination */
	CONN_DROP_NO_SESSION,	  /* datagram before or after the CONNECT-IP session */
	CONN_DROP_MALFORMED,	  /* not an IP packet, bad HTTP Datagram header */
	CONN_DROP_TUN,		  /* the TUN device refused the write */
	CONN_DROP_AQM,		  /* CoDel: a flow's packets queued too long (congestion) */
	CONN_DROP__N,
};

struct conn_stats {
	uint64_t tx_packets, tx_bytes; /* inner packets sent into the tunnel */
	uint64_t rx_packets, rx_bytes; /* inner packets received from the tunnel */
	uint64_t drops[CONN_DROP__N];
	uint64_t probes;      /* probe datagrams sent (docs/protocol.md, Extensions) */
	uint64_t probe_bytes; /* their UDP payload bytes, an upper bound */
	uint64_t dup_dropped; /* duplicates of a duplicate class dropped on receipt */
};

/*
 * What QUIC says about the path (for lib/health.h): DATAGRAM frames acknowledged and declared
 * lost since the connection began, when the last acknowledgement of one arrived and when one
 * was last sent (CLOCK_MONOTONIC ns, 0 = never); the smoothed RTT once it was measured.
 */
struct conn_path {
	uint64_t dgram_acked, dgram_lost;
	uint64_t last_ack_ns, last_dgram_tx_ns;
	uint64_t unacked_since_ns; /* first datagram sent after the latest acknowledgement, 0:
				      none outstanding since */
	uint32_t srtt_us;
	bool have_rtt;
};

struct conn_ops {
	/* server: a CONNECT-IP request for `path`; return 200 to accept, or an HTTP status. */
	int (*request)(struct conn *c, const char *path);
	/*
	 * server: called right after the 200 response was submitted (send capsules here).
	 * Return < 0 when the session cannot work (its capsules could not be sent): the
	 * connection then fails with an HTTP/3 error.
	 */
	int (*session_open)(struct conn *c);
	/* client: the server's answer to our CONNECT-IP (or GET) request. */
	void (*response)(struct conn *c, int status);
	/* client: body bytes of a GET response (optional). */
	void (*body)(struct conn *c, const uint8_t *data, size_t len);
	/*
	 * A capsule on the session stream (unknown types included: return 0 for them). DATAGRAM
	 * capsules are handled by conn.c and come through packet. Return 0, or -EPROTO for a
	 * malformed capsule, -E2BIG / -ENOBUFS for one we cannot serve: the session stream is
	 * then aborted (H3_DATAGRAM_ERROR, resp. H3_EXCESSIVE_LOAD) and session_ended follows.
	 */
	int (*capsule)(struct conn *c, uint64_t type, const uint8_t *value, size_t len);
	/* the open CONNECT-IP session ended (optional): stream aborted or closed by either side. */
	void (*session_ended)(struct conn *c, const char *why);
	/* an inner IP packet (HTTP Datagram, context 0) of the session. */
	void (*packet)(struct conn *c, const uint8_t *pkt, size_t len);
	/* the TLS handshake completed (server: check the peer identity here). */
	void (*handshake_done)(struct conn *c);
	/* server: a connection ID was issued / retired (for the demultiplexing table). */
	int (*cid_add)(struct conn *c, const uint8_t *cid, size_t len);
	void (*cid_remove)(struct conn *c, const uint8_t *cid, size_t len);
	/* the connection is finished; the owner frees it (from this callback or later). */
	void (*closed)(struct conn *c, const char *why);
};

/*
 * What a non-conforming or foreign peer does, for the conformance test peer (t/peer) only;
 * the daemon never sets any of them.
 */
struct conn_quirks {
	bool no_h3_datagram; /* SETTINGS without SETTINGS_H3_DATAGRAM = 1 */
	bool hold_requests;  /* server: leave CONNECT-IP requests unanswered */
	bool raw_datagrams;  /* queued packets are whole HTTP Datagram payloads (no header added) */
	bool late_settings;  /* our SETTINGS only once conn_quirk_send_settings() is called */
};

/* late_settings quirk: send our SETTINGS now. 0, -EALREADY (sent already), -EPROTO. */
int conn_quirk_send_settings(struct conn *c);

struct conn_params {
	bool server;
	struct ev_loop *loop;	      /* borrowed */
	struct tls_ctx *tls;	      /* borrowed */
	struct udp_sock *sock;	      /* borrowed */
	const struct sockaddr *local; /* path */
	socklen_t local_len;
	const struct sockaddr *remote;
	socklen_t remote_len;
	const struct conf_quic *quic; /* keepalive, idle timeout, cc */
	const char *server_name;      /* client: SNI, certificate check, :authority */
	const uint8_t *static_secret; /* 32 bytes: stateless reset tokens */
	uint8_t server_id;	      /* server: QUIC-LB server ID in our CIDs */
	uint32_t queue_packets;	      /* send queue length */
	uint32_t mtu;		      /* config mtu, 0: default; sizes from lib/pktsize.h */
	const struct conn_ops *ops;
	void *owner; /* borrowed: the owner's object, for ops */
	/* server: the client's first packet */
	const ngtcp2_pkt_hd *initial_hd;
	/*
	 * server: the DCID of the client's very first Initial, from a validated Retry token in
	 * initial_hd (NULL when no Retry happened). Sets original_dcid/retry_scid and marks the
	 * client's address as validated.
	 */
	const ngtcp2_cid *retry_odcid;
	const char *name; /* for log messages, e.g. "tunnel 'cr1'" or "client 192.0.2.1:5000" */
	const struct conn_quirks *quirks; /* borrowed; NULL: none (t/peer only) */
};

/*
 * Create a connection. A client connection starts its handshake on the first conn_write().
 * A server connection registers its first CID with ops->cid_add as its last step, so a
 * failed conn_new() leaves nothing in the owner's table.
 * Returns 0 or -errno (-ENOMEM, -EINVAL: TLS or ngtcp2 setup failed; -ENOSPC: cid_add failed).
 */
int conn_new(const struct conn_params *p, struct conn **ret);
void conn_free(struct conn *c); /* NULL-safe; stops the timer; no CONNECTION_CLOSE */

/* Feed one received UDP datagram. Returns 0, or < 0 when the connection is finished. */
int conn_read(struct conn *c, const struct sockaddr *local, socklen_t local_len,
	      const struct sockaddr *remote, socklen_t remote_len, const uint8_t *data, size_t len);

/* Write everything pending (handshake, HTTP/3, queued datagrams, ACKs). <0: finished. */
int conn_write(struct conn *c);

/*
 * Send CONNECTION_CLOSE with an application error (0 = H3_NO_ERROR) and reason. The owner
 * frees the connection afterwards.
 */
void conn_close(struct conn *c, uint64_t app_error, const char *reason);

/* Client: open the CONNECT-IP session for `path` once the server's SETTINGS allow it. */
int conn_request_session(struct conn *c, const char *path);

/* Client: a plain GET request (health checks); the answer comes through response/body. */
int conn_request_get(struct conn *c, const char *path);

/*
 * Queue a whole capsule on the session stream (at most CONN_CAPBUF bytes unacknowledged).
 * 0, -ENOBUFS, -ENOMEM, -ENOTCONN.
 */
int conn_send_capsule(struct conn *c, const uint8_t *capsule, size_t len);

/*
 * Datagram send queue (lib/fqq.h: flow queuing with CoDel): reserve a slot of
 * conn_pktsize()->slot bytes, fill it, commit its length with the time it was read
 * (CLOCK_MONOTONIC ns; one reading may serve a whole batch). conn_queue_reserve() returns NULL
 * only when there is no session (counted); a full queue makes room at commit by dropping the
 * oldest packet of its longest flow (counted as queue_full). A length that does not fit
 * (pktsize_fits() false: the caller should have refused it) is dropped as too_big, never
 * queued.
 */
uint8_t *conn_queue_reserve(struct conn *c);
void conn_queue_commit(struct conn *c, size_t len, uint64_t now_ns);
/* The path as QUIC sees it (see struct conn_path). */
void conn_path_info(struct conn *c, struct conn_path *ret);

/*
 * Send a probe datagram (docs/protocol.md, Extensions) with the next conn_write(): an
 * acknowledged datagram that carries nothing. Only with an open session; -ENOTCONN otherwise.
 */
int conn_probe(struct conn *c);

/*
 * The connection's packet sizes (lib/pktsize.h): a packet read from a TUN goes into a slot
 * only if pktsize_fits(); otherwise it is refused with ICMP too-big carrying ->mtu and counted
 * as CONN_DROP_TOO_BIG.
 */
const struct pktsize *conn_pktsize(const struct conn *c);

bool conn_session_open(const struct conn *c);
/*
 * Client: what the connection is waiting for before its session can open ("the QUIC
 * handshake", "the server's HTTP/3 SETTINGS", "the answer to the CONNECT-IP request"), or NULL
 * once the session is open, for setup-timeout messages.
 */
const char *conn_waiting_for(const struct conn *c);
/* Set the delay target (lib/dcap.h) to us microseconds, 0 for none; a change restarts its
 * controller. */
void conn_set_delay_target(struct conn *c, uint32_t us);
bool conn_handshake_done(const struct conn *c);
void *conn_owner(const struct conn *c);
void conn_set_owner(struct conn *c, void *owner);
const char *conn_name(const struct conn *c);
void conn_set_name(struct conn *c, const char *name);
struct conn_stats *conn_stats(struct conn *c);
WOLFSSL *conn_ssl(const struct conn *c);
ngtcp2_conn *conn_ngtcp2(const struct conn *c);
const struct sockaddr *conn_remote(const struct conn *c);
/* Add rtt_ms {smoothed, min, var, latest}, cwnd, bytes_in_flight, local, peer to obj. */
struct json_t;
void conn_status_json(struct conn *c, struct json_t *obj);

/* Add the counters of from to to (a tunnel's totals over its finished connections). */
void conn_stats_add(struct conn_stats *to, const struct conn_stats *from);

/* Add {tx,rx}_{packets,bytes} and drops {reason: n} for the sum of a and b (b may be NULL). */
void conn_stats_json(const struct conn_stats *a, const struct conn_stats *b, struct json_t *obj);

/* Why the connection ended, from the peer's or our CONNECTION_CLOSE, for logs. */
const char *conn_close_reason(struct conn *c, char *buf, size_t size);

#endif
