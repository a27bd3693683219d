/* SPDX-License-Identifier: MIT */
/*
 * Connection IDs as a peer sends them: cid_server_id() on the whole input (a DCID of any
 * length), then the input as a script of insert/remove/lookup operations on a CID table, each
 * checked against a plain list of what the table must hold. Input: byte 0 sets the table's
 * cap (0: none), then per operation one byte (bits 0-1: operation, bits 2-7: CID length, 0..63,
 * so lengths beyond 20 are tried) followed by the CID bytes.
 */
#include <errno.h>
#include <string.h>

#include "cid.h"
#include "fuzz.h"

#define MODEL_MAX 128

struct model {
	uint8_t cid[CID_MAX_LEN];
	size_t len;
};

static struct model model[MODEL_MAX];
static size_t n_model;
static int tags[MODEL_MAX];

static int find(const uint8_t *cid, size_t len)
{
	for (size_t i = 0; i < n_model; i++)
		if (model[i].len == len && memcmp(model[i].cid, cid, len) == 0)
			return (int)i;
	return -1;
}

static void check_server_id(const uint8_t *cid, size_t len)
{
	uint8_t again[CID_MAX_LEN];
	int sid = cid_server_id(cid, len);

	if (sid < 0) {
		FUZZ_CHECK(sid == -EINVAL);
		FUZZ_CHECK(len < 2 || len > CID_MAX_LEN || cid[0] >> 5 == CID_ROTATION_NONE ||
			   (cid[0] & 0x1f) != len - 1);
		return;
	}
	FUZZ_CHECK(len >= 2 && len <= CID_MAX_LEN && sid == cid[1]);
	cid_build(again, len, cid[0] >> 5, (uint8_t)sid, cid + 2);
	FUZZ_CHECK(memcmp(again, cid, len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[16] = {0x6d, 0x70, 0x71, 0x75, 0x69, 0x63};
	struct cid_table *t;
	size_t max, i = 1;

	check_server_id(data, size);
	if (size < 1)
		return 0;
	max = data[0] % 64;
	t = cid_table_new(key, max);
	FUZZ_CHECK(t != NULL);
	n_model = 0;
	while (i < size) {
		unsigned op = data[i] & 3;
		size_t len = data[i] >> 2;
		const uint8_t *cid = data + i + 1;
		int k, r;

		i++;
		if (len > size - i)
			len = size - i;
		i += len;
		check_server_id(cid, len);
		k = len <= CID_MAX_LEN ? find(cid, len) : -1;
		switch (op) {
		case 0:
		case 1:
			if (n_model == MODEL_MAX)
				break;
			r = cid_table_insert(t, cid, len, &tags[n_model]);
			if (len == 0 || len > CID_MAX_LEN) {
				FUZZ_CHECK(r == -EINVAL);
			} else if (k >= 0) {
				FUZZ_CHECK(r == -EEXIST);
			} else if (max && n_model >= max) {
				FUZZ_CHECK(r == -ENOSPC);
			} else {
				FUZZ_CHECK(r == 0);
				memcpy(model[n_model].cid, cid, len);
				model[n_model++].len = len;
			}
			break;
		case 2:
			r = cid_table_remove(t, cid, len);
			FUZZ_CHECK(r == (k >= 0 ? 0 : -ENOENT));
			if (k >= 0) {
				/* Keep model[i] <-> tags[i]: move the last entry into the hole. */
				n_model--;
				if ((size_t)k != n_model) {
					model[k] = model[n_model];
					cid_table_remove(t, model[k].cid, model[k].len);
					FUZZ_CHECK(cid_table_insert(t, model[k].cid, model[k].len,
								    &tags[k]) == 0);
				}
			}
			break;
		default:
			FUZZ_CHECK(cid_table_lookup(t, cid, len) == (k >= 0 ? &tags[k] : NULL));
			break;
		}
		FUZZ_CHECK(cid_table_count(t) == n_model);
	}
	for (size_t j = 0; j < n_model; j++)
		FUZZ_CHECK(cid_table_lookup(t, model[j].cid, model[j].len) == &tags[j]);
	cid_table_free(t);
	return 0;
}

size_t fuzz_seed(unsigned i, uint8_t *buf, size_t size)
{
	uint8_t *p = buf;

	if (size < 256)
		return 0;
	switch (i) {
	case 0: /* a valid 16-byte server CID: server ID 0x42 */
		*p++ = 0x0f;
		*p++ = 0x42;
		for (int k = 0; k < 14; k++)
			*p++ = (uint8_t)(k * 17);
		break;
	case 1: /* cap 3: insert 4 CIDs of length 16, look up, remove, look up */
		*p++ = 3;
		for (int n = 0; n < 4; n++) {
			*p++ = 16 << 2 | 0;
			*p++ = 0x0f;
			for (int k = 1; k < 16; k++)
				*p++ = (uint8_t)(n + k);
		}
		*p++ = 16 << 2 | 3;
		*p++ = 0x0f;
		for (int k = 1; k < 16; k++)
			*p++ = (uint8_t)(1 + k);
		*p++ = 16 << 2 | 2;
		*p++ = 0x0f;
		for (int k = 1; k < 16; k++)
			*p++ = (uint8_t)k;
		*p++ = 16 << 2 | 3;
		*p++ = 0x0f;
		for (int k = 1; k < 16; k++)
			*p++ = (uint8_t)k;
		break;
	case 2: /* no cap, mixed lengths including 0, 1, 20 and 21 */
		*p++ = 0;
		for (int len = 0; len <= 21; len += 3) {
			*p++ = (uint8_t)(len << 2 | 1);
			for (int k = 0; k < len; k++)
				*p++ = (uint8_t)(len - 1 + k * 0x20);
		}
		*p++ = 20 << 2 | 3;
		for (int k = 0; k < 20; k++)
			*p++ = (uint8_t)(19 + k * 0x20);
		break;
	default:
		return 0;
	}
	return (size_t)(p - buf);
}
