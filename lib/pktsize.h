/* SPDX-License-Identifier: MIT */
/*
 * The packet-size invariant of the data path. This is the only place that decides how large an
 * inner packet may be; the config loader, the TUN setup, the send queue and both TUN readers
 * take their numbers from here.
 *
 * The QUIC side is fixed: every packet is at most PKTSIZE_UDP_PAYLOAD bytes of UDP payload on
 * every path (path MTU discovery is off, docs/protocol.md), so one DATAGRAM frame carries an
 * inner packet of at most PKTSIZE_MAX_INNER bytes once the worst-case overhead is taken off:
 * short header (1 + 20-byte DCID + 4-byte packet number), AEAD tag (16), DATAGRAM frame type
 * and length (1 + 2), HTTP Datagram header (quarter stream ID and context ID, at most 4 here).
 *
 * From a tunnel's configured `mtu` (0: PKTSIZE_MTU_DEFAULT) pktsize_init() derives
 *
 *	PKTSIZE_MTU_MIN <= mtu <= PKTSIZE_MAX_INNER,	slot == mtu
 *
 * mtu is the TUN MTU the daemon sets and the largest inner packet it accepts from the TUN;
 * slot is the size of a send-queue slot (lib/fqq.h). A packet that passed pktsize_fits() always
 * fits a slot and one DATAGRAM frame. The TUN's MTU can still be raised behind our back
 * (`ip link set ... mtu 9000`): a reader must never trust the device and must refuse, with ICMP
 * "too big" carrying mtu, every packet for which pktsize_fits() is false.
 */
#ifndef MPQ_PKTSIZE_H
#define MPQ_PKTSIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PKTSIZE_UDP_PAYLOAD 1452 /* 1500 - IPv6 (40) - UDP (8): fits both families */
#define PKTSIZE_OVERHEAD    (1 + 20 + 4 + 16 + 1 + 2 + 4)
#define PKTSIZE_MAX_INNER   (PKTSIZE_UDP_PAYLOAD - PKTSIZE_OVERHEAD) /* 1404 */
#define PKTSIZE_MTU_MIN	    1280 /* the IPv6 minimum: the tunnel carries IPv6 */
#define PKTSIZE_MTU_DEFAULT 1400 /* PKTSIZE_MAX_INNER rounded down, with headroom */

struct pktsize {
	uint32_t mtu;	      /* TUN MTU; the largest inner packet taken from the TUN */
	uint32_t slot;	      /* send-queue slot size: == mtu */
	uint32_t max_inner;   /* the largest inner packet one DATAGRAM frame carries */
	uint32_t udp_payload; /* the largest QUIC packet (UDP payload) we send */
};

/*
 * Derive the sizes for a configured mtu (0: PKTSIZE_MTU_DEFAULT).
 * Returns 0; -ERANGE if conf_mtu is neither 0 nor within PKTSIZE_MTU_MIN..PKTSIZE_MAX_INNER
 * (*ret is not written then).
 */
int pktsize_init(struct pktsize *ret, uint32_t conf_mtu);

/* Whether an inner packet of len bytes may enter the tunnel (go into a queue slot). */
static inline bool pktsize_fits(const struct pktsize *ps, size_t len)
{
	return len <= ps->mtu;
}

#endif
