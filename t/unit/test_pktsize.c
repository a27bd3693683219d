/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "fqq.h"
#include "pktsize.h"

/* The overhead adds up to the worst case docs/protocol.md derives: 1452 - 48 = 1404. */
static void test_constants(void **state)
{
	(void)state;
	assert_int_equal(PKTSIZE_MAX_INNER, 1404);
	assert_true(PKTSIZE_MAX_INNER <= FQQ_MAX_SLOT);
}

/* 0 is the default; the range is exactly what the data path carries. */
static void test_init(void **state)
{
	struct pktsize ps = {0};

	(void)state;
	assert_int_equal(pktsize_init(&ps, 0), 0);
	assert_int_equal(ps.mtu, PKTSIZE_MTU_DEFAULT);
	assert_int_equal(ps.slot, ps.mtu);
	assert_int_equal(ps.max_inner, PKTSIZE_MAX_INNER);
	assert_int_equal(ps.udp_payload, PKTSIZE_UDP_PAYLOAD);
	assert_int_equal(pktsize_init(&ps, 1280), 0);
	assert_int_equal(ps.mtu, 1280);
	assert_int_equal(ps.slot, 1280);
	assert_int_equal(pktsize_init(&ps, PKTSIZE_MAX_INNER), 0);
	assert_int_equal(ps.slot, PKTSIZE_MAX_INNER);

	ps.mtu = 7;
	assert_int_equal(pktsize_init(&ps, 1279), -ERANGE);
	assert_int_equal(pktsize_init(&ps, PKTSIZE_MAX_INNER + 1), -ERANGE);
	assert_int_equal(pktsize_init(&ps, 1500), -ERANGE);
	assert_int_equal(pktsize_init(&ps, 9000), -ERANGE);
	assert_int_equal(pktsize_init(&ps, 1), -ERANGE);
	assert_int_equal(ps.mtu, 7); /* not written on error */
}

/*
 * Whatever mtu: a packet that fits is no larger than a slot and than one DATAGRAM frame's
 * payload, and one byte more does not fit.
 */
static void test_fits(void **state)
{
	struct pktsize ps;

	(void)state;
	for (uint32_t m = PKTSIZE_MTU_MIN; m <= PKTSIZE_MAX_INNER; m++) {
		assert_int_equal(pktsize_init(&ps, m), 0);
		assert_true(pktsize_fits(&ps, 1));
		assert_true(pktsize_fits(&ps, m));
		assert_false(pktsize_fits(&ps, (size_t)m + 1));
		assert_false(pktsize_fits(&ps, 65535));
		assert_true(ps.slot >= ps.mtu);
		assert_true(ps.mtu <= ps.max_inner);
		assert_true(ps.max_inner + PKTSIZE_OVERHEAD <= ps.udp_payload);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_constants),
		cmocka_unit_test(test_init),
		cmocka_unit_test(test_fits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
