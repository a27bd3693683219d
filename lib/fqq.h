/* SPDX-License-Identifier: MIT */
/*
 * A tunnel's send queue: flow queuing with CoDel, the FQ-CoDel scheme of RFC 8290.
 *
 * Inner packets are hashed by their 5-tuple (under a per-queue random key) into FQQ_FLOWS flow
 * queues served by deficit round robin, one MTU-sized quantum per round. A flow that becomes
 * active goes on the "new" list, which is served first: a ping, a DNS query or a voice packet
 * waits behind at most one quantum of bulk traffic instead of behind the whole queue. Each flow
 * runs CoDel (RFC 8289) on its own packets, dropping at the head once their sojourn time has
 * stayed above target for an interval, so a loss-based TCP inside the tunnel backs off before
 * the queue grows to its capacity.
 *
 * Storage is cap fixed-size slots allocated once (plus one spare): queuing never allocates.
 * When every slot is taken, the flow with the most bytes queued loses its oldest packet, so a
 * sparse flow's packet still gets in. The queue only drops; it never blocks the reader.
 */
#ifndef MPQ_FQQ_H
#define MPQ_FQQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FQQ_MAX_SLOT	65535 /* lens[] are 16 bits */
#define FQQ_MAX_CAP	65536
#define FQQ_FLOWS	256	   /* flow queues; a power of two */
#define FQQ_TARGET_NS	5000000ULL /* RFC 8289 defaults */
#define FQQ_INTERVAL_NS 100000000ULL

struct fqq_params {
	uint32_t cap;	      /* packets queued at most, 1..FQQ_MAX_CAP */
	uint32_t slot_size;   /* bytes per packet at most (the MTU), 1..FQQ_MAX_SLOT */
	uint64_t target_ns;   /* CoDel target sojourn time; 0: FQQ_TARGET_NS */
	uint64_t interval_ns; /* CoDel interval; 0: FQQ_INTERVAL_NS */
	const uint8_t *key;   /* 16 bytes keying the flow hash (borrowed); NULL: all zero */
};

struct fqq_flow {
	uint32_t head, tail;  /* slot indices, FQQ_NONE when empty */
	uint32_t bytes;	      /* queued */
	int32_t deficit;      /* DRR credit in bytes */
	uint16_t next;	      /* next flow on the list this one is on */
	uint8_t on;	      /* which list: FQQ_ON_NONE, FQQ_ON_NEW, FQQ_ON_OLD */
	bool dropping;	      /* CoDel: in the dropping state */
	uint32_t count;	      /* CoDel: drops since entering the dropping state */
	uint32_t lastcount;   /* CoDel: count when the last dropping state began */
	uint64_t first_above; /* CoDel: when sojourn times above target become a drop; 0 none */
	uint64_t drop_next;   /* CoDel: time of the next drop in the dropping state */
};

struct fqq_list {
	uint16_t head, tail; /* FQQ_NOFLOW when empty */
};

struct fqq {
	uint8_t *slots;	  /* owned: (cap + 1) * slot_size bytes */
	uint16_t *lens;	  /* owned: per slot */
	uint32_t *next;	  /* owned: per slot, the next packet of its flow or the next free slot */
	uint64_t *enq_ns; /* owned: per slot, when it was queued */
	uint32_t free;	  /* first free slot; there is always one */
	uint32_t count;	  /* packets queued */
	uint32_t cap;
	uint32_t slot_size;
	uint64_t target_ns, interval_ns;
	uint8_t key[16];
	uint16_t cur; /* the flow fqq_peek() chose, FQQ_NOFLOW after fqq_pop() or a commit */
	struct fqq_list new_flows, old_flows;
	struct fqq_flow flows[FQQ_FLOWS];
};

/* Allocate. Returns 0; -EINVAL for out-of-range parameters; -ENOMEM. */
int fqq_init(struct fqq *q, const struct fqq_params *p);

/* Free the storage; queued packets are discarded. Safe on a zeroed or finished queue. */
void fqq_done(struct fqq *q);

/*
 * The slot (slot_size bytes) to fill in place with the next packet. Never NULL: there is always
 * a free slot. Nothing is queued until fqq_commit(); reserving again returns the same slot.
 */
uint8_t *fqq_reserve(struct fqq *q);

/*
 * Queue the reserved slot holding len bytes (1..slot_size) of an IP packet, stamped now_ns.
 * Returns the number of packets dropped to make room (0 or 1: the oldest packet of the flow
 * with the most bytes queued, possibly the new packet's own flow).
 */
unsigned fqq_commit(struct fqq *q, size_t len, uint64_t now_ns);

/*
 * The packet to send next and its length, or NULL if the queue is empty. CoDel may drop packets
 * first; their number is added to *dropped. The packet stays queued until fqq_pop(); nothing may
 * be committed between the two.
 */
const uint8_t *fqq_peek(struct fqq *q, uint64_t now_ns, size_t *ret_len, unsigned *dropped);

/* Whether the packet the last fqq_peek() returned belongs to a new flow: one that was idle
 * and has not used its first quantum yet (a ping, a DNS query, a voice packet). */
bool fqq_peek_new(const struct fqq *q);

/* Remove the packet the last fqq_peek() returned (it was sent or given up). */
void fqq_pop(struct fqq *q);

static inline uint32_t fqq_count(const struct fqq *q)
{
	return q->count;
}

static inline bool fqq_empty(const struct fqq *q)
{
	return q->count == 0;
}

/* The flow queue an IP packet belongs to (exposed for tests). */
uint32_t fqq_flow_of(const struct fqq *q, const uint8_t *pkt, size_t len);

#endif
