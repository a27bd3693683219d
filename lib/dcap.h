/* SPDX-License-Identifier: MIT */
/*
 * The delay target of a tunnel (defaults.delay_target_ms): how many bytes of datagrams a
 * connection may keep in flight so that its own traffic adds at most about target_ns of queueing
 * delay on its path.
 *
 * The congestion controller (BBR by default) keeps its window a BDP or two above the path's;
 * where the bottleneck is the peer's CPU or a buffer in front of it, that window sits in a FIFO
 * and every packet of the tunnel, however urgent, waits behind it. The cap follows the queueing
 * delay the tunnel causes: the smoothed RTT minus the base RTT (the lowest sample of the last
 * 10 to 20 s, so that a longer path is learned). Once per smoothed RTT (at least 1 ms) it
 * shrinks by the share of the RTT that is excess queue (at most half) when the delay is above
 * the target, and grows while it was what held datagrams back: doubling below half the target,
 * in proportion to the headroom up to it. The backlog then waits in the tunnel's own queue
 * (lib/fqq.h), where new flows go first and CoDel acts. Times are in nanoseconds.
 */
#ifndef MPQ_DCAP_H
#define MPQ_DCAP_H

#include <stdbool.h>
#include <stdint.h>

#define DCAP_MSS      1452ULL	     /* bytes per step (the largest UDP payload) */
#define DCAP_MIN      (4 * DCAP_MSS) /* never below four packets */
#define DCAP_MAX      (64ULL << 20)  /* nor above 64 MiB */
#define DCAP_BASE_WIN 10000000000ULL /* base RTT windows of 10 s */
#define DCAP_PERIOD   1000000ULL     /* at most one update per 1 ms */

struct dcap {
	uint64_t target;    /* ns; 0: no target */
	uint64_t cap;	    /* bytes; 0 until the first RTT sample */
	bool limited;	    /* the cap held datagrams back since the last update */
	uint64_t next;	    /* next update */
	uint64_t rotate;    /* next rotation of the base-RTT windows */
	uint64_t base_cur;  /* lowest RTT sample in the current window */
	uint64_t base_prev; /* in the previous one */
};

/* A controller for target_ns (0: none). */
void dcap_init(struct dcap *d, uint64_t target_ns);

/*
 * The bytes of datagrams allowed in flight at now, given the connection's latest and smoothed
 * RTT and its congestion window; UINT64_MAX when there is no target or no RTT sample yet.
 */
uint64_t dcap_update(struct dcap *d, uint64_t now, uint64_t latest_rtt, uint64_t smoothed_rtt,
		     uint64_t cwnd);

/* The cap held datagrams back (call when it did). */
static inline void dcap_limited(struct dcap *d)
{
	d->limited = true;
}

#endif
