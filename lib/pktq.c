/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pktq.h"

int pktq_init(struct pktq *q, uint32_t cap, uint32_t slot_size)
{
	memset(q, 0, sizeof(*q));
	if (cap == 0 || slot_size == 0 || slot_size > PKTQ_MAX_SLOT)
		return -EINVAL;
	q->slots = malloc((size_t)cap * slot_size);
	if (!q->slots)
		return -ENOMEM;
	q->lens = calloc(cap, sizeof(q->lens[0]));
	if (!q->lens) {
		free(q->slots);
		q->slots = NULL;
		return -ENOMEM;
	}
	q->cap = cap;
	q->slot_size = slot_size;
	return 0;
}

void pktq_done(struct pktq *q)
{
	free(q->slots);
	free(q->lens);
	memset(q, 0, sizeof(*q));
}

static uint32_t tail_index(const struct pktq *q)
{
	uint32_t i = q->head + q->count;

	return i >= q->cap ? i - q->cap : i;
}

uint8_t *pktq_reserve(struct pktq *q)
{
	if (q->count == q->cap)
		return NULL;
	return q->slots + (size_t)tail_index(q) * q->slot_size;
}

void pktq_commit(struct pktq *q, size_t len)
{
	assert(q->count < q->cap && len <= q->slot_size);
	q->lens[tail_index(q)] = (uint16_t)len;
	q->count++;
}

int pktq_push(struct pktq *q, const uint8_t *pkt, size_t len)
{
	uint8_t *slot;

	if (len > q->slot_size)
		return -EMSGSIZE;
	slot = pktq_reserve(q);
	if (!slot)
		return -ENOBUFS;
	memcpy(slot, pkt, len);
	pktq_commit(q, len);
	return 0;
}

const uint8_t *pktq_peek(const struct pktq *q, size_t *ret_len)
{
	if (q->count == 0)
		return NULL;
	*ret_len = q->lens[q->head];
	return q->slots + (size_t)q->head * q->slot_size;
}

void pktq_pop(struct pktq *q)
{
	assert(q->count > 0);
	q->head = q->head + 1 == q->cap ? 0 : q->head + 1;
	q->count--;
}
