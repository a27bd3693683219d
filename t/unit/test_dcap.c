/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "dcap.h"

#define US 1000ULL
#define MS 1000000ULL
#define S  1000000000ULL

/* No target, or no RTT sample yet: no cap. */
static void test_off(void **state)
{
	struct dcap d;

	(void)state;
	dcap_init(&d, 0);
	assert_true(dcap_update(&d, 1 * S, 300 * US, 300 * US, 100000) == UINT64_MAX);
	dcap_init(&d, 500 * US);
	assert_true(dcap_update(&d, 1 * S, 0, 0, 100000) == UINT64_MAX);
	assert_int_equal(d.cap, 0);
}

/* The cap starts at the congestion window (at least DCAP_MIN) and holds until one RTT has
 * passed. */
static void test_start(void **state)
{
	struct dcap d;

	(void)state;
	dcap_init(&d, 500 * US);
	assert_int_equal(dcap_update(&d, 1 * S, 300 * US, 300 * US, 200000), 200000);
	assert_int_equal(dcap_update(&d, 1 * S + 200 * US, 5 * MS, 5 * MS, 900000), 200000);
	dcap_init(&d, 500 * US);
	assert_int_equal(dcap_update(&d, 1 * S, 300 * US, 300 * US, 1000), DCAP_MIN);
}

/* Queueing delay above the target shrinks the cap by the excess share of the RTT, at most by
 * half per update, down to DCAP_MIN. */
static void test_shrink(void **state)
{
	struct dcap d;
	uint64_t t = 1 * S, cap;

	(void)state;
	dcap_init(&d, 1 * MS);
	dcap_update(&d, t, 200 * US, 200 * US, 400000); /* base 0.2 ms */
	/* smoothed 2.2 ms: queueing 2 ms, 1 ms over the target: cut 1/2.2 of the cap */
	t += 2 * MS;
	cap = dcap_update(&d, t, 2200 * US, 2200 * US, 400000);
	assert_int_equal(cap, 400000 - 400000 * 1000 / 2200);
	/* 10 ms of queue: the cut is capped at half */
	t += 20 * MS;
	assert_int_equal(dcap_update(&d, t, 10 * MS, 10 * MS, 400000), cap - cap / 2);
	for (int i = 0; i < 50; i++) {
		t += 20 * MS;
		cap = dcap_update(&d, t, 10 * MS, 10 * MS, 400000);
	}
	assert_int_equal(cap, DCAP_MIN);
}

/* Below the target the cap grows only while it was what held datagrams back: doubling under
 * half the target, in proportion to the headroom above that, never past DCAP_MAX. */
static void test_grow(void **state)
{
	struct dcap d;
	uint64_t t = 1 * S, cap;

	(void)state;
	dcap_init(&d, 1 * MS);
	dcap_update(&d, t, 200 * US, 200 * US, 100000);
	t += 1 * MS;
	assert_int_equal(dcap_update(&d, t, 300 * US, 300 * US, 100000), 100000); /* not limited */
	dcap_limited(&d);
	t += 1 * MS;
	assert_int_equal(dcap_update(&d, t, 300 * US, 300 * US, 100000), 200000); /* 0.1 ms: x2 */
	dcap_limited(&d);
	t += 1 * MS;
	/* 0.8 ms of queue: + MSS + cap * (1 - 0.8) / (1 + 0.2) */
	cap = dcap_update(&d, t, 1000 * US, 1000 * US, 100000);
	assert_int_equal(cap, 200000 + DCAP_MSS + 200000 * 200 / 1200);
	for (int i = 0; i < 40; i++) {
		dcap_limited(&d);
		t += 1 * MS;
		cap = dcap_update(&d, t, 200 * US, 200 * US, 100000);
	}
	assert_int_equal(cap, DCAP_MAX);
}

/* A path that becomes longer for good is learned within two base windows: the cap stops
 * shrinking instead of collapsing for ever. */
static void test_base_follows_path(void **state)
{
	struct dcap d;
	uint64_t t = 1 * S, cap = 0;

	(void)state;
	dcap_init(&d, 1 * MS);
	dcap_update(&d, t, 1 * MS, 1 * MS, 500000);
	/* the path's RTT goes from 1 to 30 ms (a reroute); the cap limits all along */
	for (int i = 0; i < 25 * 1000 / 30; i++) {
		dcap_limited(&d);
		t += 30 * MS;
		cap = dcap_update(&d, t, 30 * MS, 30 * MS, 500000);
	}
	assert_true(d.base_cur >= 30 * MS && d.base_prev >= 30 * MS);
	/* no queueing over the new base: the cap has grown back from the minimum */
	assert_true(cap > DCAP_MIN * 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_off),
		cmocka_unit_test(test_start),
		cmocka_unit_test(test_shrink),
		cmocka_unit_test(test_grow),
		cmocka_unit_test(test_base_follows_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
