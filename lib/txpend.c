/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "txpend.h"

int txpend_init(struct txpend *p, size_t pkt_max)
{
	if (pkt_max == 0 || pkt_max > UINT16_MAX)
		return -EINVAL;
	memset(p, 0, sizeof(*p));
	p->buf = malloc(TXPEND_MAX * pkt_max);
	if (!p->buf)
		return -ENOMEM;
	p->pkt_max = pkt_max;
	return 0;
}

void txpend_done(struct txpend *p)
{
	free(p->buf);
	memset(p, 0, sizeof(*p));
}

size_t txpend_add(struct txpend *p, const uint8_t *data, size_t len, size_t segsize)
{
	size_t dropped = 0;

	if (segsize == 0)
		return 0;
	for (size_t off = 0; off < len; off += segsize) {
		size_t n = len - off < segsize ? len - off : segsize;

		if (!p->buf || p->n == TXPEND_MAX || n > p->pkt_max) {
			dropped++;
			continue;
		}
		memcpy(p->buf + p->used, data + off, n);
		p->lens[p->n++] = (uint16_t)n;
		p->used += n;
	}
	return dropped;
}

const uint8_t *txpend_next(const struct txpend *p, size_t max_pkts, size_t *ret_len,
			   size_t *ret_seg)
{
	size_t seg, len = 0, i;

	if (txpend_empty(p))
		return NULL;
	seg = p->lens[p->head];
	for (i = p->head; i < p->n && i - p->head < max_pkts; i++) {
		if (p->lens[i] > seg)
			break;
		len += p->lens[i];
		if (p->lens[i] < seg) {
			i++; /* a shorter packet ends the run */
			break;
		}
	}
	*ret_len = len;
	*ret_seg = seg;
	return p->buf + p->head_off;
}

void txpend_consume(struct txpend *p, size_t bytes)
{
	while (bytes && !txpend_empty(p)) {
		size_t n = p->lens[p->head];

		if (n > bytes)
			break; /* not a whole packet: the caller's error, keep it */
		bytes -= n;
		p->head_off += n;
		p->head++;
	}
	if (txpend_empty(p))
		p->n = p->head = p->head_off = p->used = 0;
}
