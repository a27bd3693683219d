/* SPDX-License-Identifier: MIT */
/* Duplicate suppression: see dedup.h. */
#include <string.h>

#include "cid.h" /* mpq_siphash24 */
#include "dedup.h"

#define WINDOW_NS ((uint64_t)DEDUP_WINDOW_MS * 1000000ULL)

void dedup_init(struct dedup *d, const uint8_t key[16])
{
	memset(d, 0, sizeof(*d));
	memcpy(d->key, key, sizeof(d->key));
}

bool dedup_seen(struct dedup *d, const uint8_t *pkt, size_t len, uint64_t now_ns)
{
	uint64_t h = mpq_siphash24(d->key, pkt, len);
	size_t set = (size_t)(h % (DEDUP_SLOTS / DEDUP_WAYS)) * DEDUP_WAYS;
	size_t victim = set;

	/* now_ns 0 would read as an empty slot */
	if (!now_ns)
		now_ns = 1;
	for (size_t i = set; i < set + DEDUP_WAYS; i++) {
		if (d->slot[i].seen_ns && d->slot[i].hash == h &&
		    now_ns - d->slot[i].seen_ns <= WINDOW_NS) {
			/* One duplicate per original: a third copy passes no more than a second. */
			d->dropped++;
			return true;
		}
		if (d->slot[i].seen_ns < d->slot[victim].seen_ns)
			victim = i;
	}
	d->slot[victim].hash = h;
	d->slot[victim].seen_ns = now_ns;
	d->passed++;
	return false;
}
