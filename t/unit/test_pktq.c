/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pktq.h"

static void test_init_errors(void **state)
{
	struct pktq q;

	(void)state;
	assert_int_equal(pktq_init(&q, 0, 1500), -EINVAL);
	assert_int_equal(pktq_init(&q, 4, 0), -EINVAL);
	assert_int_equal(pktq_init(&q, 4, 65536), -EINVAL);
	pktq_done(&q); /* zeroed by the failed init: harmless */
	assert_int_equal(pktq_init(&q, 1, 65535), 0);
	pktq_done(&q);
	pktq_done(&q);
}

static void test_fifo_wrap(void **state)
{
	struct pktq q;
	uint8_t pkt[100];
	const uint8_t *p;
	size_t len;

	(void)state;
	assert_int_equal(pktq_init(&q, 3, 100), 0);
	assert_true(pktq_empty(&q));
	assert_null(pktq_peek(&q, &len));
	/* Push and pop across the wrap several times, lengths 0..100. */
	unsigned next_in = 0, next_out = 0;
	for (int round = 0; round < 50; round++) {
		while (!pktq_full(&q)) {
			memset(pkt, (int)next_in, sizeof(pkt));
			assert_int_equal(pktq_push(&q, pkt, next_in % 101), 0);
			next_in++;
		}
		assert_int_equal(pktq_count(&q), 3);
		assert_int_equal(pktq_push(&q, pkt, 1), -ENOBUFS);
		assert_null(pktq_reserve(&q));
		unsigned pops = 1 + (unsigned)round % 3;
		for (unsigned i = 0; i < pops; i++) {
			p = pktq_peek(&q, &len);
			assert_non_null(p);
			assert_int_equal(len, next_out % 101);
			for (size_t k = 0; k < len; k++)
				assert_int_equal(p[k], (uint8_t)next_out);
			pktq_pop(&q);
			next_out++;
		}
	}
	assert_int_equal(pktq_push(&q, pkt, 101), -EMSGSIZE);
	pktq_clear(&q);
	assert_true(pktq_empty(&q));
	pktq_done(&q);
}

static void test_reserve_commit(void **state)
{
	struct pktq q;
	uint8_t *slot, *again;
	const uint8_t *p;
	size_t len;

	(void)state;
	assert_int_equal(pktq_init(&q, 2, 64), 0);
	slot = pktq_reserve(&q);
	assert_non_null(slot);
	again = pktq_reserve(&q);
	assert_ptr_equal(slot, again); /* nothing queued until commit */
	assert_true(pktq_empty(&q));
	memcpy(slot, "hello", 5);
	pktq_commit(&q, 5);
	slot = pktq_reserve(&q);
	assert_ptr_not_equal(slot, again);
	memset(slot, 'x', 64);
	pktq_commit(&q, 64);
	assert_true(pktq_full(&q));
	assert_null(pktq_reserve(&q));
	p = pktq_peek(&q, &len);
	assert_int_equal(len, 5);
	assert_memory_equal(p, "hello", 5);
	pktq_pop(&q);
	p = pktq_peek(&q, &len);
	assert_int_equal(len, 64);
	assert_int_equal(p[63], 'x');
	/* The freed slot is reused after wrapping. */
	slot = pktq_reserve(&q);
	assert_ptr_equal(slot, again);
	pktq_done(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_errors),
		cmocka_unit_test(test_fifo_wrap),
		cmocka_unit_test(test_reserve_commit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
