/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cid.h"

static const uint8_t key0[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

static void test_siphash_vectors(void **state)
{
	uint8_t msg[64];

	(void)state;
	for (int i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	/* The reference implementation's vectors: key 00..0f, message 00..(n-1). */
	assert_true(mpq_siphash24(key0, msg, 0) == UINT64_C(0x726fdb47dd0e0e31));
	assert_true(mpq_siphash24(key0, msg, 1) == UINT64_C(0x74f839c593dc67fd));
	assert_true(mpq_siphash24(key0, msg, 15) == UINT64_C(0xa129ca6149be45e5));
	/* The key matters. */
	uint8_t key1[16];
	memcpy(key1, key0, 16);
	key1[15] ^= 1;
	assert_true(mpq_siphash24(key1, msg, 15) != mpq_siphash24(key0, msg, 15));
}

static void test_layout(void **state)
{
	uint8_t rnd[18], cid[20];

	(void)state;
	for (int i = 0; i < 18; i++)
		rnd[i] = (uint8_t)(0xa0 + i);
	cid_build(cid, MPQ_CID_LEN, 0, 0x42, rnd);
	assert_int_equal(cid[0], 0x0f); /* rotation 0, length 16 - 1 */
	assert_int_equal(cid[1], 0x42);
	assert_memory_equal(cid + 2, rnd, MPQ_CID_LEN - 2);
	assert_int_equal(cid_server_id(cid, MPQ_CID_LEN), 0x42);
	/* The self-described length must match. */
	assert_int_equal(cid_server_id(cid, MPQ_CID_LEN - 1), -EINVAL);
	assert_int_equal(cid_server_id(cid, 1), -EINVAL);
	assert_int_equal(cid_server_id(cid, 21), -EINVAL);

	cid_build(cid, 20, 6, 0xff, rnd);
	assert_int_equal(cid[0], 6 << 5 | 19);
	assert_int_equal(cid_server_id(cid, 20), 0xff);
	cid_build(cid, 2, 1, 7, rnd);
	assert_int_equal(cid[0], 1 << 5 | 1);
	assert_int_equal(cid_server_id(cid, 2), 7);
	/* Rotation 0b111 is "unroutable". */
	cid[0] = 7 << 5 | 1;
	assert_int_equal(cid_server_id(cid, 2), -EINVAL);
}

static void test_table_basic(void **state)
{
	struct cid_table *t = cid_table_new(key0, 3);
	uint8_t a[16] = {1}, b[16] = {2}, c[20] = {3}, d[8] = {4};
	int va, vb, vc;

	(void)state;
	assert_non_null(t);
	assert_int_equal(cid_table_insert(t, a, 16, &va), 0);
	assert_int_equal(cid_table_insert(t, a, 16, &vb), -EEXIST);
	assert_int_equal(cid_table_insert(t, a, 15, &vb), 0); /* a prefix is another CID */
	assert_int_equal(cid_table_insert(t, c, 20, &vc), 0);
	assert_int_equal(cid_table_insert(t, d, 8, &vc), -ENOSPC);
	assert_int_equal(cid_table_insert(t, a, 16, &vb), -EEXIST); /* reported before the cap */
	assert_int_equal(cid_table_insert(t, d, 0, &vc), -EINVAL);
	assert_int_equal(cid_table_insert(t, c, 21, &vc), -EINVAL);
	assert_int_equal(cid_table_count(t), 3);
	assert_ptr_equal(cid_table_lookup(t, a, 16), &va);
	assert_ptr_equal(cid_table_lookup(t, a, 15), &vb);
	assert_ptr_equal(cid_table_lookup(t, c, 20), &vc);
	assert_null(cid_table_lookup(t, b, 16));
	assert_null(cid_table_lookup(t, c, 0));
	assert_null(cid_table_lookup(t, c, 21));
	assert_int_equal(cid_table_remove(t, b, 16), -ENOENT);
	assert_int_equal(cid_table_remove(t, a, 16), 0);
	assert_int_equal(cid_table_remove(t, a, 16), -ENOENT);
	assert_int_equal(cid_table_remove(t, a, 0), -ENOENT);
	assert_null(cid_table_lookup(t, a, 16));
	assert_ptr_equal(cid_table_lookup(t, a, 15), &vb);
	assert_int_equal(cid_table_insert(t, d, 8, &vc), 0); /* room again */
	assert_int_equal(cid_table_count(t), 3);
	cid_table_free(t);
	cid_table_free(NULL);
}

/* Random CIDs against a plain array: growth, long probe runs, and backward-shift deletion. */
static void test_table_random(void **state)
{
	enum { N = 20000 };
	static uint8_t cids[N][20];
	static uint8_t lens[N];
	static int present[N], tags[N];
	struct cid_table *t;
	uint8_t key[16];
	size_t count = 0;

	(void)state;
	srandom(99);
	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)random();
	t = cid_table_new(key, 0);
	assert_non_null(t);
	for (int i = 0; i < N; i++) {
		lens[i] = (uint8_t)(random() % 5 == 0 ? 1 + random() % 20 : MPQ_CID_LEN);
		for (int k = 0; k < 20; k++)
			cids[i][k] = (uint8_t)random();
		/* Some short CIDs collide by value: the table must say so. */
		int e = cid_table_insert(t, cids[i], lens[i], &tags[i]);
		if (e == -EEXIST) {
			lens[i] = 0;
			continue;
		}
		assert_int_equal(e, 0);
		present[i] = 1;
		count++;
	}
	assert_int_equal(cid_table_count(t), count);
	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < N; i++) {
			if (!lens[i])
				continue;
			if (present[i] && random() % 2) {
				assert_int_equal(cid_table_remove(t, cids[i], lens[i]), 0);
				present[i] = 0;
				count--;
			} else if (!present[i] && random() % 2) {
				assert_int_equal(cid_table_insert(t, cids[i], lens[i], &tags[i]),
						 0);
				present[i] = 1;
				count++;
			}
		}
		assert_int_equal(cid_table_count(t), count);
		for (int i = 0; i < N; i++) {
			if (!lens[i])
				continue;
			if (present[i])
				assert_ptr_equal(cid_table_lookup(t, cids[i], lens[i]), &tags[i]);
			else
				assert_null(cid_table_lookup(t, cids[i], lens[i]));
		}
	}
	cid_table_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_siphash_vectors),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_table_basic),
		cmocka_unit_test(test_table_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
