/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fqq.h"

#define MS 1000000ULL

/* An IPv4 packet of len bytes (>= 28) from 10.0.0.src port sport to 10.0.0.2 port 80, with a
 * serial number in its payload. */
static void mk4(uint8_t *p, size_t len, uint8_t proto, uint8_t src, uint16_t sport, uint32_t serial)
{
	memset(p, 0, len);
	p[0] = 0x45;
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	p[8] = 64;
	p[9] = proto;
	p[12] = 10, p[15] = src;
	p[16] = 10, p[19] = 2;
	p[20] = (uint8_t)(sport >> 8), p[21] = (uint8_t)sport;
	p[22] = 0, p[23] = 80;
	memcpy(p + 24, &serial, sizeof(serial));
}

static uint32_t serial_of(const uint8_t *p)
{
	uint32_t s;

	memcpy(&s, p + 24, sizeof(s));
	return s;
}

/* Queue a TCP packet of flow (src, sport). Returns the packets dropped to make room. */
static unsigned put(struct fqq *q, size_t len, uint8_t src, uint16_t sport, uint32_t serial,
		    uint64_t now)
{
	uint8_t *s = fqq_reserve(q);

	assert_non_null(s);
	mk4(s, len, 6, src, sport, serial);
	return fqq_commit(q, len, now);
}

/* Pop the next packet; returns its serial, or UINT32_MAX if the queue is empty. */
static uint32_t get(struct fqq *q, uint64_t now, unsigned *dropped)
{
	size_t len;
	unsigned d = 0;
	const uint8_t *p = fqq_peek(q, now, &len, &d);
	uint32_t s;

	if (dropped)
		*dropped += d;
	if (!p)
		return UINT32_MAX;
	s = serial_of(p);
	fqq_pop(q);
	return s;
}

static void init(struct fqq *q, uint32_t cap, uint32_t slot)
{
	struct fqq_params p = {.cap = cap, .slot_size = slot};

	assert_int_equal(fqq_init(q, &p), 0);
}

static void test_init_errors(void **state)
{
	struct fqq q;
	struct fqq_params p = {.cap = 0, .slot_size = 1500};

	(void)state;
	assert_int_equal(fqq_init(&q, &p), -EINVAL);
	p.cap = FQQ_MAX_CAP + 1;
	assert_int_equal(fqq_init(&q, &p), -EINVAL);
	p.cap = 4, p.slot_size = 0;
	assert_int_equal(fqq_init(&q, &p), -EINVAL);
	p.slot_size = FQQ_MAX_SLOT + 1;
	assert_int_equal(fqq_init(&q, &p), -EINVAL);
	fqq_done(&q); /* zeroed by the failed init: harmless */
	p.cap = 1, p.slot_size = FQQ_MAX_SLOT;
	assert_int_equal(fqq_init(&q, &p), 0);
	fqq_done(&q);
	fqq_done(&q);
}

/* One flow is a FIFO; reserving twice without a commit gives the same slot. */
static void test_one_flow_fifo(void **state)
{
	struct fqq q;

	(void)state;
	init(&q, 8, 1500);
	assert_true(fqq_empty(&q));
	assert_ptr_equal(fqq_reserve(&q), fqq_reserve(&q));
	for (uint32_t round = 0; round < 20; round++) {
		for (uint32_t i = 0; i < 5; i++)
			assert_int_equal(put(&q, 100 + i, 1, 1000, round * 10 + i, 0), 0);
		assert_int_equal(fqq_count(&q), 5);
		for (uint32_t i = 0; i < 5; i++)
			assert_int_equal(get(&q, 0, NULL), round * 10 + i);
		assert_true(fqq_empty(&q));
		assert_int_equal(get(&q, 0, NULL), UINT32_MAX);
	}
	fqq_done(&q);
}

/* A packet of a flow that was idle goes before a bulk flow's backlog. */
static void test_sparse_first(void **state)
{
	struct fqq q;

	(void)state;
	init(&q, 256, 1500);
	for (uint32_t i = 0; i < 200; i++)
		put(&q, 1400, 1, 1000, i, 0);
	/* The bulk flow uses up its first quantum and moves to the old list. */
	assert_int_equal(get(&q, 0, NULL), 0);
	assert_int_equal(get(&q, 0, NULL), 1);
	put(&q, 84, 9, 7, 9999, 0); /* a ping-sized packet of another flow */
	{
		size_t len;
		unsigned d = 0;

		assert_non_null(fqq_peek(&q, 0, &len, &d));
		assert_true(fqq_peek_new(&q));
	}
	assert_int_equal(get(&q, 0, NULL), 9999);
	{
		size_t len;
		unsigned d = 0;

		assert_non_null(fqq_peek(&q, 0, &len, &d));
		assert_false(fqq_peek_new(&q)); /* the bulk flow, on the old list */
	}
	assert_int_equal(get(&q, 0, NULL), 2);
	fqq_done(&q);
}

/* Two backlogged flows share by bytes, whatever their packet sizes. */
static void test_drr_fair(void **state)
{
	struct fqq q;
	uint64_t bytes[2] = {0, 0};
	uint32_t sa = 0, sb = 100000;

	(void)state;
	init(&q, 1024, 1500);
	for (int i = 0; i < 150; i++) {
		put(&q, 1500, 1, 1000, sa++, 0);
		put(&q, 500, 2, 2000, sb++, 0);
		put(&q, 500, 2, 2000, sb++, 0);
		put(&q, 500, 2, 2000, sb++, 0);
	}
	for (int i = 0; i < 200; i++) {
		size_t len;
		unsigned d = 0;
		const uint8_t *p = fqq_peek(&q, 0, &len, &d);

		assert_non_null(p);
		assert_int_equal(d, 0);
		bytes[serial_of(p) >= 100000] += len;
		fqq_pop(&q);
	}
	/* within one quantum of each other */
	assert_true(bytes[0] > bytes[1] ? bytes[0] - bytes[1] <= 1500
					: bytes[1] - bytes[0] <= 1500);
	fqq_done(&q);
}

/* A full queue takes the oldest packet of the flow with the most bytes. */
static void test_overflow_drops_fattest(void **state)
{
	struct fqq q;
	unsigned dropped = 0;

	(void)state;
	init(&q, 8, 1500);
	for (uint32_t i = 0; i < 6; i++)
		dropped += put(&q, 1000, 1, 1000, i, 0);
	dropped += put(&q, 100, 2, 2000, 100, 0);
	dropped += put(&q, 100, 2, 2000, 101, 0);
	assert_int_equal(dropped, 0);
	assert_int_equal(fqq_count(&q), 8);
	/* a ninth packet, of the small flow: the big flow's oldest packet goes */
	assert_int_equal(put(&q, 100, 2, 2000, 102, 0), 1);
	assert_int_equal(fqq_count(&q), 8);
	uint32_t seen[16], n = 0, s;

	while ((s = get(&q, 0, NULL)) != UINT32_MAX)
		seen[n++] = s;
	assert_int_equal(n, 8);
	for (uint32_t i = 0; i < n; i++)
		assert_int_not_equal(seen[i], 0); /* serial 0 was dropped */
	assert_int_equal(seen[0], 1);		  /* the big flow's next */
	fqq_done(&q);
}

/* CoDel: a standing queue above target for an interval starts drops, and they come faster while
 * it stays; a queue below target is never dropped from. */
static void test_codel(void **state)
{
	struct fqq q;
	unsigned dropped = 0;
	uint32_t s;

	(void)state;
	init(&q, 1024, 1500);
	for (uint32_t i = 0; i < 1000; i++)
		put(&q, 1400, 1, 1000, i, 0);
	/* 4 ms of sojourn: below the 5 ms target, nothing dropped whatever the backlog */
	for (uint32_t i = 0; i < 10; i++)
		assert_int_equal(get(&q, 4 * MS, &dropped), i);
	assert_int_equal(dropped, 0);
	/* 10 ms: above target, but not yet for an interval */
	assert_int_equal(get(&q, 10 * MS, &dropped), 10);
	assert_int_equal(get(&q, 50 * MS, &dropped), 11);
	assert_int_equal(dropped, 0);
	/* past first_above (10 + 100 ms): one drop, then the dropping state */
	s = get(&q, 111 * MS, &dropped);
	assert_int_equal(dropped, 1);
	assert_int_equal(s, 13);
	/* the next drop at 111 + 100 / sqrt(1) = 211 ms, the one after at 211 + 100 / sqrt(2) = 281.7 ms */
	assert_int_equal(get(&q, 200 * MS, &dropped), 14);
	assert_int_equal(dropped, 1);
	assert_int_equal(get(&q, 212 * MS, &dropped), 16);
	assert_int_equal(dropped, 2);
	assert_int_equal(get(&q, 281 * MS, &dropped), 17);
	assert_int_equal(dropped, 2);
	assert_int_equal(get(&q, 283 * MS, &dropped), 19);
	assert_int_equal(dropped, 3);
	fqq_done(&q);

	/* A short flow (one packet's worth) is never dropped, however old. */
	init(&q, 16, 1500);
	dropped = 0;
	put(&q, 1400, 1, 1000, 1, 0);
	assert_int_equal(get(&q, 10 * MS, &dropped), 1);
	put(&q, 1400, 1, 1000, 2, 0);
	assert_int_equal(get(&q, 500 * MS, &dropped), 2);
	assert_int_equal(dropped, 0);
	fqq_done(&q);
}

/* The flow of a packet depends on addresses, protocol and ports only; short, odd and fragmented
 * packets are hashed from what is there without reading past their end. */
static void test_flow_of(void **state)
{
	struct fqq q;
	uint8_t a[100], b[100];
	uint8_t *x;
	size_t n;

	(void)state;
	init(&q, 4, 1500);
	mk4(a, 100, 6, 1, 1000, 1);
	mk4(b, 100, 6, 1, 1000, 2);
	assert_int_equal(fqq_flow_of(&q, a, 100), fqq_flow_of(&q, b, 100));
	/* 32 source ports: they cannot all share one of 256 flows */
	uint32_t first = fqq_flow_of(&q, a, 100), same = 0;

	for (uint16_t port = 2000; port < 2032; port++) {
		mk4(b, 100, 6, 1, port, 1);
		same += fqq_flow_of(&q, b, 100) == first;
	}
	assert_true(same < 32);
	/* a later fragment: no ports read; the same for any payload */
	mk4(a, 100, 17, 1, 1000, 1);
	a[6] = 0x00, a[7] = 0x10;
	mk4(b, 100, 17, 1, 5555, 9);
	b[6] = 0x00, b[7] = 0x10;
	assert_int_equal(fqq_flow_of(&q, a, 100), fqq_flow_of(&q, b, 100));
	/* truncated and garbage input, on the heap so that ASan sees any overread */
	for (n = 0; n < 48; n++) {
		x = malloc(n ? n : 1);
		assert_non_null(x);
		memset(x, n & 1 ? 0x45 : 0x60, n ? n : 1);
		(void)fqq_flow_of(&q, x, n);
		free(x);
	}
	fqq_done(&q);
}

/* Random traffic: every packet queued is either popped once or counted as dropped. */
static void test_conservation(void **state)
{
	struct fqq q;
	uint64_t now = 0, in = 0, out = 0, dropped = 0;
	unsigned d;

	(void)state;
	srand(7);
	init(&q, 64, 1500);
	for (int step = 0; step < 200000; step++) {
		now += (uint64_t)(rand() % 200) * 1000;
		if (rand() % 3) {
			d = put(&q, (size_t)(28 + rand() % 1400), (uint8_t)(rand() % 5),
				(uint16_t)(rand() % 3), (uint32_t)in, now);
			in++;
			dropped += d;
		} else {
			d = 0;
			if (get(&q, now, &d) != UINT32_MAX)
				out++;
			dropped += d;
		}
		assert_true(fqq_count(&q) <= 64);
		assert_int_equal(in, out + dropped + fqq_count(&q));
	}
	assert_true(dropped > 0);
	fqq_done(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_errors),
		cmocka_unit_test(test_one_flow_fifo),
		cmocka_unit_test(test_sparse_first),
		cmocka_unit_test(test_drr_fair),
		cmocka_unit_test(test_overflow_drops_fattest),
		cmocka_unit_test(test_codel),
		cmocka_unit_test(test_flow_of),
		cmocka_unit_test(test_conservation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
