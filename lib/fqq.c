/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cid.h" /* mpq_siphash24 */
#include "fqq.h"

#define FQQ_NONE   UINT32_MAX
#define FQQ_NOFLOW UINT16_MAX

enum { FQQ_ON_NONE, FQQ_ON_NEW, FQQ_ON_OLD };

_Static_assert((FQQ_FLOWS & (FQQ_FLOWS - 1)) == 0, "FQQ_FLOWS is a power of two");
_Static_assert(FQQ_FLOWS < FQQ_NOFLOW, "flow indices fit in 16 bits");

int fqq_init(struct fqq *q, const struct fqq_params *p)
{
	uint32_t n;

	memset(q, 0, sizeof(*q));
	if (p->cap == 0 || p->cap > FQQ_MAX_CAP || p->slot_size == 0 || p->slot_size > FQQ_MAX_SLOT)
		return -EINVAL;
	n = p->cap + 1; /* the spare slot fqq_reserve() always has */
	q->slots = malloc((size_t)n * p->slot_size);
	q->lens = calloc(n, sizeof(q->lens[0]));
	q->next = calloc(n, sizeof(q->next[0]));
	q->enq_ns = calloc(n, sizeof(q->enq_ns[0]));
	if (!q->slots || !q->lens || !q->next || !q->enq_ns) {
		fqq_done(q);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < n; i++)
		q->next[i] = i + 1 < n ? i + 1 : FQQ_NONE;
	q->free = 0;
	q->cap = p->cap;
	q->slot_size = p->slot_size;
	q->target_ns = p->target_ns ? p->target_ns : FQQ_TARGET_NS;
	q->interval_ns = p->interval_ns ? p->interval_ns : FQQ_INTERVAL_NS;
	if (p->key)
		memcpy(q->key, p->key, sizeof(q->key));
	q->cur = FQQ_NOFLOW;
	q->new_flows.head = q->new_flows.tail = FQQ_NOFLOW;
	q->old_flows.head = q->old_flows.tail = FQQ_NOFLOW;
	for (uint32_t i = 0; i < FQQ_FLOWS; i++) {
		q->flows[i].head = q->flows[i].tail = FQQ_NONE;
		q->flows[i].next = FQQ_NOFLOW;
	}
	return 0;
}

void fqq_done(struct fqq *q)
{
	free(q->slots);
	free(q->lens);
	free(q->next);
	free(q->enq_ns);
	memset(q, 0, sizeof(*q));
}

/* ---- flow lists ---- */

static void list_push(struct fqq *q, struct fqq_list *l, uint16_t fi, uint8_t which)
{
	q->flows[fi].next = FQQ_NOFLOW;
	q->flows[fi].on = which;
	if (l->tail == FQQ_NOFLOW)
		l->head = fi;
	else
		q->flows[l->tail].next = fi;
	l->tail = fi;
}

static uint16_t list_pop(struct fqq *q, struct fqq_list *l)
{
	uint16_t fi = l->head;

	l->head = q->flows[fi].next;
	if (l->head == FQQ_NOFLOW)
		l->tail = FQQ_NOFLOW;
	q->flows[fi].next = FQQ_NOFLOW;
	q->flows[fi].on = FQQ_ON_NONE;
	return fi;
}

/* ---- packets ---- */

uint32_t fqq_flow_of(const struct fqq *q, const uint8_t *pkt, size_t len)
{
	/* addresses, protocol and ports (or the ICMP echo identifier's place), when present */
	uint8_t k[40] = {0};
	size_t l4 = 0, n = 0;
	uint8_t proto = 0;

	if (len >= 20 && pkt[0] >> 4 == 4) {
		proto = pkt[9];
		memcpy(k, pkt + 12, 8);
		n = 8;
		/* not a later fragment: the transport header is there */
		if (((pkt[6] & 0x1f) | pkt[7]) == 0)
			l4 = (size_t)(pkt[0] & 0x0f) * 4;
	} else if (len >= 40 && pkt[0] >> 4 == 6) {
		proto = pkt[6];
		memcpy(k, pkt + 8, 32);
		k[32] = pkt[1] & 0x0f; /* flow label */
		k[33] = pkt[2];
		k[34] = pkt[3];
		n = 35;
		l4 = 40;
	}
	k[n++] = proto;
	switch (proto) {
	case 1:	  /* ICMP: identifier of echo messages (bytes 4..5) */
	case 58:  /* ICMPv6 */
	case 6:	  /* TCP */
	case 17:  /* UDP */
	case 33:  /* DCCP */
	case 132: /* SCTP */
	case 136: /* UDP-Lite */
		if (l4 && l4 + 8 <= len) {
			size_t off = proto == 1 || proto == 58 ? 4 : 0;

			memcpy(k + n, pkt + l4 + off, 4);
			n += 4;
		}
		break;
	default:
		break;
	}
	return (uint32_t)mpq_siphash24(q->key, k, n) & (FQQ_FLOWS - 1);
}

static uint8_t *slot(const struct fqq *q, uint32_t i)
{
	return q->slots + (size_t)i * q->slot_size;
}

uint8_t *fqq_reserve(struct fqq *q)
{
	assert(q->free != FQQ_NONE);
	return slot(q, q->free);
}

/* Unlink the oldest packet of flow f and return its slot to the free list. */
static void drop_head(struct fqq *q, struct fqq_flow *f)
{
	uint32_t i = f->head;

	f->head = q->next[i];
	if (f->head == FQQ_NONE)
		f->tail = FQQ_NONE;
	f->bytes -= q->lens[i];
	q->count--;
	q->next[i] = q->free;
	q->free = i;
}

unsigned fqq_commit(struct fqq *q, size_t len, uint64_t now_ns)
{
	uint32_t i = q->free;
	uint16_t fi;
	struct fqq_flow *f;

	assert(i != FQQ_NONE && len > 0 && len <= q->slot_size);
	fi = (uint16_t)fqq_flow_of(q, slot(q, i), len);
	f = &q->flows[fi];
	q->free = q->next[i];
	q->lens[i] = (uint16_t)len;
	q->enq_ns[i] = now_ns;
	q->next[i] = FQQ_NONE;
	if (f->tail == FQQ_NONE)
		f->head = i;
	else
		q->next[f->tail] = i;
	f->tail = i;
	f->bytes += (uint32_t)len;
	q->count++;
	q->cur = FQQ_NOFLOW;
	if (f->on == FQQ_ON_NONE) {
		f->deficit = (int32_t)q->slot_size;
		list_push(q, &q->new_flows, fi, FQQ_ON_NEW);
	}
	if (q->count <= q->cap)
		return 0;
	/* Full: the fattest flow (by bytes) pays, at its head. */
	uint16_t fat = 0;

	for (uint16_t j = 1; j < FQQ_FLOWS; j++)
		if (q->flows[j].bytes > q->flows[fat].bytes)
			fat = j;
	drop_head(q, &q->flows[fat]);
	return 1;
}

/* ---- CoDel (RFC 8289), per flow ---- */

/* Integer square root of x, rounded down. */
static uint64_t isqrt64(uint64_t x)
{
	uint64_t r = 0, bit = 1ULL << 62;

	while (bit > x)
		bit >>= 2;
	while (bit) {
		if (x >= r + bit) {
			x -= r + bit;
			r = (r >> 1) + bit;
		} else {
			r >>= 1;
		}
		bit >>= 2;
	}
	return r;
}

/* t + interval / sqrt(count) */
static uint64_t control_law(const struct fqq *q, uint64_t t, uint32_t count)
{
	/* sqrt(count << 32) = sqrt(count) * 2^16 */
	return t + (q->interval_ns << 16) / isqrt64((uint64_t)count << 32);
}

/* Whether the head packet may be dropped: its sojourn time has been above target for at least
 * an interval and the flow holds more than one packet's worth. */
static bool ok_to_drop(struct fqq *q, struct fqq_flow *f, uint64_t now)
{
	uint64_t sojourn = now - q->enq_ns[f->head];

	if (now < q->enq_ns[f->head] || sojourn < q->target_ns || f->bytes <= q->slot_size) {
		f->first_above = 0;
		return false;
	}
	if (f->first_above == 0) {
		f->first_above = now + q->interval_ns;
		return false;
	}
	return now >= f->first_above;
}

/* The flow's head after CoDel's drops (counted into *dropped), or FQQ_NONE if it is empty. */
static uint32_t codel_head(struct fqq *q, struct fqq_flow *f, uint64_t now, unsigned *dropped)
{
	for (;;) {
		bool ok;

		if (f->head == FQQ_NONE) {
			f->dropping = false;
			f->first_above = 0;
			return FQQ_NONE;
		}
		ok = ok_to_drop(q, f, now);
		if (f->dropping) {
			if (!ok) {
				f->dropping = false;
				return f->head;
			}
			if (now < f->drop_next)
				return f->head;
			drop_head(q, f);
			(*dropped)++;
			f->count++;
			f->drop_next = control_law(q, f->drop_next, f->count);
			continue;
		}
		if (!ok)
			return f->head;
		/* Enter the dropping state; start from the previous drop rate if it ended
		 * recently (RFC 8289 §5.5). */
		drop_head(q, f);
		(*dropped)++;
		f->dropping = true;
		uint32_t delta = f->count - f->lastcount;

		f->count = delta > 1 && (int64_t)(now - f->drop_next) < 16 * (int64_t)q->interval_ns
				   ? delta
				   : 1;
		f->lastcount = f->count;
		f->drop_next = control_law(q, now, f->count);
	}
}

/* ---- scheduling (RFC 8290 §4.2) ---- */

const uint8_t *fqq_peek(struct fqq *q, uint64_t now_ns, size_t *ret_len, unsigned *dropped)
{
	for (;;) {
		struct fqq_list *l;
		struct fqq_flow *f;
		uint16_t fi;
		uint32_t i;

		if (q->new_flows.head != FQQ_NOFLOW)
			l = &q->new_flows;
		else if (q->old_flows.head != FQQ_NOFLOW)
			l = &q->old_flows;
		else
			return NULL;
		fi = l->head;
		f = &q->flows[fi];
		if (f->deficit <= 0) {
			/* used up its quantum: back of the old list with a new one */
			f->deficit += (int32_t)q->slot_size;
			list_pop(q, l);
			list_push(q, &q->old_flows, fi, FQQ_ON_OLD);
			continue;
		}
		i = codel_head(q, f, now_ns, dropped);
		if (i == FQQ_NONE) {
			/* An emptied new flow goes to the old list once, so that a flow that
			 * empties its queue each round cannot keep the new list's priority. */
			list_pop(q, l);
			if (l == &q->new_flows && q->old_flows.head != FQQ_NOFLOW)
				list_push(q, &q->old_flows, fi, FQQ_ON_OLD);
			continue;
		}
		q->cur = fi;
		*ret_len = q->lens[i];
		return slot(q, i);
	}
}

bool fqq_peek_new(const struct fqq *q)
{
	return q->cur != FQQ_NOFLOW && q->flows[q->cur].on == FQQ_ON_NEW;
}

void fqq_pop(struct fqq *q)
{
	struct fqq_flow *f;

	assert(q->cur != FQQ_NOFLOW);
	f = &q->flows[q->cur];
	assert(f->head != FQQ_NONE);
	f->deficit -= q->lens[f->head];
	drop_head(q, f);
	q->cur = FQQ_NOFLOW;
}
