/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "dedup.h"

#define MS 1000000ULL

static const uint8_t key[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static void test_pairs(void **state)
{
	static struct dedup d;
	uint8_t p[200];
	uint64_t t = 5000 * MS;

	(void)state;
	dedup_init(&d, key);
	for (int i = 0; i < 1000; i++) {
		memset(p, 0, sizeof(p));
		memcpy(p, &i, sizeof(i));
		assert_false(dedup_seen(&d, p, sizeof(p), t));
		assert_true(dedup_seen(&d, p, sizeof(p), t + 30 * MS));
		/* a third copy is no new packet either */
		assert_true(dedup_seen(&d, p, sizeof(p), t + 40 * MS));
		t += 10 * MS;
	}
	assert_int_equal(d.passed, 1000);
	assert_int_equal(d.dropped, 2000);
	/* the same bytes with another length are another packet */
	assert_false(dedup_seen(&d, p, sizeof(p) - 1, t));
}

/* Outside the window a packet is new again. */
static void test_window(void **state)
{
	static struct dedup d;
	uint8_t p[64] = {0x45};

	(void)state;
	dedup_init(&d, key);
	assert_false(dedup_seen(&d, p, sizeof(p), 1 * MS));
	assert_true(dedup_seen(&d, p, sizeof(p), (1 + DEDUP_WINDOW_MS) * MS));
	assert_false(dedup_seen(&d, p, sizeof(p), (2 + 2 * DEDUP_WINDOW_MS) * MS));
}

/* Far more packets than slots: memory stays fixed, no first copy is ever dropped. */
static void test_overload(void **state)
{
	static struct dedup d;
	uint8_t p[40];
	uint64_t t = 1 * MS;

	(void)state;
	dedup_init(&d, key);
	for (uint32_t i = 0; i < 20 * DEDUP_SLOTS; i++) {
		memset(p, 0x11, sizeof(p));
		memcpy(p + 4, &i, sizeof(i));
		assert_false(dedup_seen(&d, p, sizeof(p), t));
		t += 1000; /* 1 us apart: the whole run fits in one window */
	}
	assert_int_equal(d.dropped, 0);
	assert_int_equal(d.passed, 20 * DEDUP_SLOTS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pairs),
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_overload),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
