/* SPDX-License-Identifier: MIT */
/*
 * Bounded FIFO of packets: a ring of cap fixed-size slots allocated once, so queuing a packet
 * never allocates. A full queue refuses (the caller drops and counts); it never blocks.
 */
#ifndef MPQ_PKTQ_H
#define MPQ_PKTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PKTQ_MAX_SLOT 65535 /* lens[] are 16 bits */

struct pktq {
	uint8_t *slots; /* owned: cap * slot_size bytes */
	uint16_t *lens; /* owned: cap lengths */
	uint32_t head;	/* index of the oldest packet */
	uint32_t count; /* packets queued */
	uint32_t cap;	/* slots */
	uint32_t slot_size;
};

/*
 * Allocate cap slots of slot_size bytes. Returns 0; -EINVAL if cap is 0 or slot_size is 0 or
 * above PKTQ_MAX_SLOT; -ENOMEM.
 */
int pktq_init(struct pktq *q, uint32_t cap, uint32_t slot_size);

/* Free the slots; queued packets are discarded. Safe on a zeroed or finished queue. */
void pktq_done(struct pktq *q);

/* The next free slot (slot_size bytes) to fill in place, or NULL if the queue is full. Nothing
 * is queued until pktq_commit(); reserving again without committing returns the same slot. */
uint8_t *pktq_reserve(struct pktq *q);

/* Queue the slot returned by the last pktq_reserve() with len bytes (<= slot_size). */
void pktq_commit(struct pktq *q, size_t len);

/* Copy a packet in. Returns 0, -ENOBUFS if full, -EMSGSIZE if len > slot_size. */
int pktq_push(struct pktq *q, const uint8_t *pkt, size_t len);

/* The oldest packet and its length, or NULL if empty. Valid until pktq_pop() or pktq_done(). */
const uint8_t *pktq_peek(const struct pktq *q, size_t *ret_len);

/* Drop the oldest packet (the queue must not be empty). */
void pktq_pop(struct pktq *q);

/* Drop every packet. */
static inline void pktq_clear(struct pktq *q)
{
	q->head = 0;
	q->count = 0;
}

static inline uint32_t pktq_count(const struct pktq *q)
{
	return q->count;
}

static inline bool pktq_full(const struct pktq *q)
{
	return q->count == q->cap;
}

static inline bool pktq_empty(const struct pktq *q)
{
	return q->count == 0;
}

#endif
