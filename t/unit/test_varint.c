/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "varint.h"

/* RFC 9000 §A.1's examples plus the boundaries of each length. */
static const struct {
	uint64_t v;
	size_t n;
	uint8_t enc[8];
} vectors[] = {
	{0, 1, {0x00}},
	{37, 1, {0x25}},
	{63, 1, {0x3f}},
	{64, 2, {0x40, 0x40}},
	{15293, 2, {0x7b, 0xbd}},
	{16383, 2, {0x7f, 0xff}},
	{16384, 4, {0x80, 0x00, 0x40, 0x00}},
	{494878333, 4, {0x9d, 0x7f, 0x3e, 0x7d}},
	{(1u << 30) - 1, 4, {0xbf, 0xff, 0xff, 0xff}},
	{1u << 30, 8, {0xc0, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00}},
	{151288809941952652ull, 8, {0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c}},
	{MPQ_VARINT_MAX, 8, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
};

static void test_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		uint8_t buf[9];
		uint64_t v;
		size_t n;

		memset(buf, 0xaa, sizeof(buf));
		assert_int_equal(mpq_varint_len(vectors[i].v), vectors[i].n);
		assert_ptr_equal(mpq_varint_put(buf, vectors[i].v), buf + vectors[i].n);
		assert_memory_equal(buf, vectors[i].enc, vectors[i].n);
		assert_int_equal(buf[vectors[i].n], 0xaa); /* nothing written past the end */
		assert_int_equal(mpq_varint_get(buf, vectors[i].n, &v, &n), 0);
		assert_true(v == vectors[i].v);
		assert_int_equal(n, vectors[i].n);
		for (size_t short_len = 0; short_len < vectors[i].n; short_len++) {
			v = 12345;
			assert_int_equal(mpq_varint_get(buf, short_len, &v, &n), -EAGAIN);
			assert_true(v == 12345); /* untouched on error */
		}
	}
}

static void test_too_large_and_nonminimal(void **state)
{
	static const uint8_t nonminimal[] = {0x40, 0x25}; /* 37 on two bytes (RFC 9000 §A.1) */
	uint64_t v;
	size_t n;

	(void)state;
	assert_int_equal(mpq_varint_len(MPQ_VARINT_MAX + 1), 0);
	assert_int_equal(mpq_varint_len(UINT64_MAX), 0);
	assert_int_equal(mpq_varint_get(nonminimal, sizeof(nonminimal), &v, &n), 0);
	assert_true(v == 37);
	assert_int_equal(n, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_too_large_and_nonminimal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
