/* SPDX-License-Identifier: MIT */
/*
 * Duplicate suppression for classes whose packets are sent over two tunnels at once.
 *
 * The receiver of a "duplicate" class gets every packet twice, through two tunnels on two
 * WANs, and must pass each one on once. Nothing on the wire numbers the copies (a plain
 * CONNECT-IP peer sees ordinary IP packets), so a packet is recognised by a keyed 64-bit hash
 * of its bytes: two copies are byte-identical, and two different packets of one flow differ in
 * their IPv4 ID, TCP sequence numbers or payload. A packet seen within the window (DEDUP_WINDOW_MS)
 * is a duplicate. Two genuinely identical packets within the window (an IPv6 datagram sent
 * twice by its application) are collapsed into one: documented in docs/protocol.md.
 *
 * Memory and CPU are bounded: a fixed table of DEDUP_SLOTS entries, 4-way set associative,
 * the oldest entry of a set replaced; one hash and at most 4 compares per packet. When more
 * than DEDUP_SLOTS packets arrive per window an old entry can be overwritten early, and a late
 * copy of it then passes: a duplicate delivered, never a packet lost.
 *
 * Pure code, no I/O; times in CLOCK_MONOTONIC nanoseconds from the caller.
 */
#ifndef MPQ_DEDUP_H
#define MPQ_DEDUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DEDUP_SLOTS	2048 /* power of two */
#define DEDUP_WAYS	4
#define DEDUP_WINDOW_MS 1000

struct dedup {
	uint8_t key[16];
	struct {
		uint64_t hash;
		uint64_t seen_ns; /* 0 = empty */
	} slot[DEDUP_SLOTS];
	uint64_t passed, dropped;
};

/* Empty table with a random key (the caller's 16 random bytes). */
void dedup_init(struct dedup *d, const uint8_t key[16]);

/*
 * Has this packet been seen within the window? Returns true for a duplicate (counted in
 * d->dropped; drop it), false for a first copy (remembered, counted in d->passed).
 */
bool dedup_seen(struct dedup *d, const uint8_t *pkt, size_t len, uint64_t now_ns);

#endif
