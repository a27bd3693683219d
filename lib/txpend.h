/* SPDX-License-Identifier: MIT */
/*
 * QUIC packets the UDP socket refused because its buffer was full (EAGAIN), kept in order until
 * it is writable again instead of dropped: congestion control would read a dropped batch as
 * loss, and ngtcp2 already counts it as sent. ngtcp2's examples do the same.
 *
 * Packets are stored back to back with their lengths; txpend_next() hands out the longest run
 * one GSO send can carry (equal-sized packets, the last one may be shorter), and
 * txpend_consume() takes off what the socket accepted. The store is bounded (TXPEND_MAX
 * packets): a connection stops producing packets as soon as one batch is refused, so one GSO
 * batch and the packet being built when it happened always fit.
 */
#ifndef MPQ_TXPEND_H
#define MPQ_TXPEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TXPEND_MAX 64 /* packets held at most */

struct txpend {
	uint8_t *buf;		   /* owned: TXPEND_MAX * pkt_max bytes; NULL until txpend_init() */
	size_t pkt_max;		   /* largest packet */
	uint16_t lens[TXPEND_MAX]; /* per packet held */
	size_t n;		   /* packets held */
	size_t head;		   /* the first one not sent yet */
	size_t head_off;	   /* its offset in buf */
	size_t used;		   /* bytes held */
};

/* Allocate for packets of at most pkt_max bytes (1..65535). Returns 0, -EINVAL or -ENOMEM. */
int txpend_init(struct txpend *p, size_t pkt_max);

/* Free. Safe on a zeroed or finished store. */
void txpend_done(struct txpend *p);

static inline bool txpend_empty(const struct txpend *p)
{
	return p->head == p->n;
}

/*
 * Keep len bytes made of segsize-byte packets (the last may be shorter), after those already
 * held. Returns the number of packets that did not fit and were dropped (0 unless more than
 * TXPEND_MAX are held; all of them if the store was never initialized).
 */
size_t txpend_add(struct txpend *p, const uint8_t *data, size_t len, size_t segsize);

/*
 * The next run to send: *ret_len bytes of *ret_seg-byte packets, the last possibly shorter, at
 * most max_pkts of them (>= 1). NULL when nothing is held.
 */
const uint8_t *txpend_next(const struct txpend *p, size_t max_pkts, size_t *ret_len,
			   size_t *ret_seg);

/*
 * The socket took bytes of the run txpend_next() returned (whole packets from its start: a
 * multiple of the segment size, or the whole run). Once everything is taken the store is empty
 * and reusable.
 */
void txpend_consume(struct txpend *p, size_t bytes);

#endif
