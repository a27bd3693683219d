/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "txpend.h"

/* A batch of n packets of seg bytes and a last one of last bytes; byte k of packet i is i. */
static size_t batch(uint8_t *buf, size_t n, size_t seg, size_t last, uint8_t first)
{
	size_t len = 0;

	for (size_t i = 0; i < n; i++, len += seg)
		memset(buf + len, first + (int)i, seg);
	if (last) {
		memset(buf + len, first + (int)n, last);
		len += last;
	}
	return len;
}

/* What one GSO batch left unsent comes back whole, in order, in runs of max_pkts. */
static void test_keep_and_resume(void **state)
{
	static uint8_t in[41 * 1452];
	struct txpend p;
	const uint8_t *d;
	size_t len, seg, n;

	(void)state;
	assert_int_equal(txpend_init(&p, 1452), 0);
	assert_true(txpend_empty(&p));
	assert_null(txpend_next(&p, 40, &len, &seg));
	n = batch(in, 40, 1452, 700, 0);
	assert_int_equal(txpend_add(&p, in, n, 1452), 0);
	assert_false(txpend_empty(&p));

	d = txpend_next(&p, 16, &len, &seg);
	assert_non_null(d);
	assert_int_equal(seg, 1452);
	assert_int_equal(len, 16 * 1452);
	assert_memory_equal(d, in, len);
	txpend_consume(&p, 5 * 1452); /* the socket took 5, then was full again */
	d = txpend_next(&p, 40, &len, &seg);
	assert_int_equal(len, 35 * 1452 + 700); /* the short one ends the run */
	assert_memory_equal(d, in + 5 * 1452, len);
	txpend_consume(&p, len);
	assert_true(txpend_empty(&p));
	assert_null(txpend_next(&p, 40, &len, &seg));
	txpend_done(&p);
	txpend_done(&p); /* twice is safe */
}

/* Batches of different sizes are kept apart: a larger packet starts a new run. */
static void test_runs(void **state)
{
	static uint8_t in[4 * 1452];
	struct txpend p;
	const uint8_t *d;
	size_t len, seg, n;

	(void)state;
	assert_int_equal(txpend_init(&p, 1452), 0);
	n = batch(in, 3, 100, 0, 0);
	assert_int_equal(txpend_add(&p, in, n, 100), 0);
	n = batch(in, 2, 1452, 0, 10);
	assert_int_equal(txpend_add(&p, in, n, 1452), 0);
	d = txpend_next(&p, 40, &len, &seg);
	assert_int_equal(seg, 100);
	assert_int_equal(len, 300);
	assert_int_equal(d[0], 0);
	assert_int_equal(d[299], 2);
	txpend_consume(&p, len);
	d = txpend_next(&p, 40, &len, &seg);
	assert_int_equal(seg, 1452);
	assert_int_equal(len, 2 * 1452);
	assert_int_equal(d[0], 10);
	assert_int_equal(d[1452], 11);
	/* a part of a packet is never taken off */
	txpend_consume(&p, 1000);
	assert_int_equal(txpend_next(&p, 40, &len, &seg), d);
	txpend_consume(&p, len);
	assert_true(txpend_empty(&p));
	txpend_done(&p);
}

/* Bounded: what does not fit is reported as dropped; uninitialized, everything is. */
static void test_bounds(void **state)
{
	static uint8_t in[(TXPEND_MAX + 3) * 100];
	struct txpend p = {0};
	size_t n = batch(in, TXPEND_MAX + 3, 100, 0, 0);

	(void)state;
	assert_int_equal(txpend_add(&p, in, 300, 100), 3);
	assert_int_equal(txpend_init(&p, 0), -EINVAL);
	assert_int_equal(txpend_init(&p, 65536), -EINVAL);
	assert_int_equal(txpend_init(&p, 100), 0);
	assert_int_equal(txpend_add(&p, in, n, 100), 3);
	assert_int_equal(txpend_add(&p, in, 200, 200), 1); /* larger than pkt_max */
	txpend_done(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keep_and_resume),
		cmocka_unit_test(test_runs),
		cmocka_unit_test(test_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
