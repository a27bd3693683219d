/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cid.h"

void cid_build(uint8_t *out, size_t len, uint8_t config_rotation, uint8_t server_id,
	       const uint8_t *random)
{
	assert(len >= 2 && len <= CID_MAX_LEN && config_rotation < CID_ROTATION_NONE);
	out[0] = (uint8_t)(config_rotation << 5 | (len - 1));
	out[1] = server_id;
	memcpy(out + 2, random, len - 2);
}

int cid_server_id(const uint8_t *cid, size_t len)
{
	if (len < 2 || len > CID_MAX_LEN)
		return -EINVAL;
	if (cid[0] >> 5 == CID_ROTATION_NONE || (cid[0] & 0x1f) != len - 1)
		return -EINVAL;
	return cid[1];
}

/* ---- SipHash-2-4 ---- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND                   \
	do {                       \
		v0 += v1;          \
		v1 = ROTL(v1, 13); \
		v1 ^= v0;          \
		v0 = ROTL(v0, 32); \
		v2 += v3;          \
		v3 = ROTL(v3, 16); \
		v3 ^= v2;          \
		v0 += v3;          \
		v3 = ROTL(v3, 21); \
		v3 ^= v0;          \
		v2 += v1;          \
		v1 = ROTL(v1, 17); \
		v1 ^= v2;          \
		v2 = ROTL(v2, 32); \
	} while (0)

static uint64_t load_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

uint64_t mpq_siphash24(const uint8_t key[16], const void *data, size_t len)
{
	const uint8_t *in = data;
	uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
	uint64_t v0 = UINT64_C(0x736f6d6570736575) ^ k0;
	uint64_t v1 = UINT64_C(0x646f72616e646f6d) ^ k1;
	uint64_t v2 = UINT64_C(0x6c7967656e657261) ^ k0;
	uint64_t v3 = UINT64_C(0x7465646279746573) ^ k1;
	uint64_t m, b = (uint64_t)len << 56;
	size_t left = len & 7;
	const uint8_t *end = in + len - left;

	for (; in != end; in += 8) {
		m = load_le64(in);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (size_t i = 0; i < left; i++)
		b |= (uint64_t)in[i] << (8 * i);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- table ---- */

struct cid_entry {
	uint64_t hash;
	void *value; /* borrowed */
	uint8_t len; /* 0: empty slot */
	uint8_t cid[CID_MAX_LEN];
};

struct cid_table {
	struct cid_entry *slots; /* owned: mask + 1 entries, a power of two */
	size_t mask;
	size_t count;
	size_t max_entries;
	uint8_t key[16];
};

#define CID_TABLE_MIN 16

struct cid_table *cid_table_new(const uint8_t key[16], size_t max_entries)
{
	struct cid_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->slots = calloc(CID_TABLE_MIN, sizeof(t->slots[0]));
	if (!t->slots) {
		free(t);
		return NULL;
	}
	t->mask = CID_TABLE_MIN - 1;
	t->max_entries = max_entries;
	memcpy(t->key, key, 16);
	return t;
}

void cid_table_free(struct cid_table *t)
{
	if (!t)
		return;
	free(t->slots);
	free(t);
}

/* Index of cid's slot, or of the empty slot where it would go. */
static size_t probe(const struct cid_table *t, uint64_t hash, const uint8_t *cid, size_t len)
{
	size_t i = hash & t->mask;

	while (t->slots[i].len) {
		const struct cid_entry *e = &t->slots[i];

		if (e->hash == hash && e->len == len && memcmp(e->cid, cid, len) == 0)
			break;
		i = (i + 1) & t->mask;
	}
	return i;
}

/* Keep the load factor at or below 3/4. */
static int grow(struct cid_table *t)
{
	size_t nsize = (t->mask + 1) * 2;
	struct cid_entry *old = t->slots, *slots;
	size_t omask = t->mask;

	slots = calloc(nsize, sizeof(slots[0]));
	if (!slots)
		return -ENOMEM;
	t->slots = slots;
	t->mask = nsize - 1;
	for (size_t i = 0; i <= omask; i++) {
		size_t j;

		if (!old[i].len)
			continue;
		for (j = old[i].hash & t->mask; slots[j].len; j = (j + 1) & t->mask)
			;
		slots[j] = old[i];
	}
	free(old);
	return 0;
}

int cid_table_insert(struct cid_table *t, const uint8_t *cid, size_t len, void *value)
{
	uint64_t hash;
	size_t i;
	int r;

	if (len == 0 || len > CID_MAX_LEN)
		return -EINVAL;
	hash = mpq_siphash24(t->key, cid, len);
	i = probe(t, hash, cid, len);
	if (t->slots[i].len)
		return -EEXIST;
	if (t->max_entries && t->count >= t->max_entries)
		return -ENOSPC;
	if ((t->count + 1) * 4 > (t->mask + 1) * 3) {
		r = grow(t);
		if (r < 0)
			return r;
		i = probe(t, hash, cid, len);
	}
	t->slots[i].hash = hash;
	t->slots[i].value = value;
	t->slots[i].len = (uint8_t)len;
	memcpy(t->slots[i].cid, cid, len);
	t->count++;
	return 0;
}

int cid_table_remove(struct cid_table *t, const uint8_t *cid, size_t len)
{
	size_t i, j;

	if (len == 0 || len > CID_MAX_LEN)
		return -ENOENT;
	i = probe(t, mpq_siphash24(t->key, cid, len), cid, len);
	if (!t->slots[i].len)
		return -ENOENT;
	/* Backward-shift deletion: pull later entries of the run into the hole when their home
	 * slot does not lie between the hole and them, so no tombstones are needed. */
	for (j = i;;) {
		size_t home;

		j = (j + 1) & t->mask;
		if (!t->slots[j].len)
			break;
		home = t->slots[j].hash & t->mask;
		if (((j - home) & t->mask) >= ((j - i) & t->mask)) {
			t->slots[i] = t->slots[j];
			i = j;
		}
	}
	t->slots[i].len = 0;
	t->slots[i].value = NULL;
	t->count--;
	return 0;
}

void *cid_table_lookup(const struct cid_table *t, const uint8_t *cid, size_t len)
{
	size_t i;

	if (len == 0 || len > CID_MAX_LEN)
		return NULL;
	i = probe(t, mpq_siphash24(t->key, cid, len), cid, len);
	return t->slots[i].len ? t->slots[i].value : NULL;
}

size_t cid_table_count(const struct cid_table *t)
{
	return t->count;
}
