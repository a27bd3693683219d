/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lpm.h"

static struct mpq_prefix pfx(const char *s)
{
	struct mpq_prefix p;

	assert_int_equal(mpq_prefix_parse(s, MPQ_PREFIX_KEEP_HOST, &p), 0);
	return p;
}

static void *lookup(struct lpm *t, const char *addr)
{
	uint8_t a[16];
	int family = strchr(addr, ':') ? AF_INET6 : AF_INET;

	assert_int_equal(inet_pton(family, addr, a), 1);
	return lpm_lookup(t, family, a);
}

static void test_basic(void **state)
{
	struct lpm *t = lpm_new();
	int v[8];
	struct mpq_prefix p;

	(void)state;
	assert_non_null(t);
	assert_null(lookup(t, "10.0.0.1"));
	assert_null(lookup(t, "::1"));
	p = pfx("10.0.0.0/8");
	assert_int_equal(lpm_insert(t, &p, &v[0]), 0);
	p = pfx("10.1.0.0/16");
	assert_int_equal(lpm_insert(t, &p, &v[1]), 0);
	p = pfx("10.1.2.3/32");
	assert_int_equal(lpm_insert(t, &p, &v[2]), 0);
	p = pfx("0.0.0.0/0");
	assert_int_equal(lpm_insert(t, &p, &v[3]), 0);
	p = pfx("2001:db8::/32");
	assert_int_equal(lpm_insert(t, &p, &v[4]), 0);
	p = pfx("2001:db8::1/128");
	assert_int_equal(lpm_insert(t, &p, &v[5]), 0);
	assert_int_equal(lpm_count(t), 6);

	assert_ptr_equal(lookup(t, "10.1.2.3"), &v[2]);
	assert_ptr_equal(lookup(t, "10.1.2.4"), &v[1]);
	assert_ptr_equal(lookup(t, "10.2.0.0"), &v[0]);
	assert_ptr_equal(lookup(t, "192.0.2.1"), &v[3]);
	assert_ptr_equal(lookup(t, "2001:db8::1"), &v[5]);
	assert_ptr_equal(lookup(t, "2001:db8::2"), &v[4]);
	assert_null(lookup(t, "2001:db9::1")); /* no ::/0 for IPv6 */
	assert_null(lpm_lookup(t, AF_UNIX, (const uint8_t *)"abcd"));

	/* Host bits are ignored: 10.9.9.9/8 is 10.0.0.0/8. */
	p = pfx("10.9.9.9/8");
	assert_int_equal(lpm_insert(t, &p, &v[6]), -EEXIST);
	assert_ptr_equal(lpm_get(t, &p), &v[0]);
	assert_int_equal(lpm_replace(t, &p, &v[6]), 0);
	assert_ptr_equal(lookup(t, "10.2.0.0"), &v[6]);
	assert_int_equal(lpm_replace(t, &p, NULL), -EINVAL);

	/* Exact get does not do longest match. */
	p = pfx("10.1.2.0/24");
	assert_null(lpm_get(t, &p));
	assert_int_equal(lpm_replace(t, &p, &v[7]), -ENOENT);
	assert_int_equal(lpm_remove(t, &p), -ENOENT);

	/* Bad input. */
	p = pfx("10.0.0.0/8");
	assert_int_equal(lpm_insert(t, &p, NULL), -EINVAL);
	p.len = 33;
	assert_int_equal(lpm_insert(t, &p, &v[7]), -EINVAL);
	assert_int_equal(lpm_remove(t, &p), -EINVAL);
	assert_null(lpm_get(t, &p));
	p.len = 8;
	p.family = 0;
	assert_int_equal(lpm_insert(t, &p, &v[7]), -EINVAL);

	/* Remove the middle of a chain, then the rest. */
	p = pfx("10.1.0.0/16");
	assert_int_equal(lpm_remove(t, &p), 0);
	assert_int_equal(lpm_remove(t, &p), -ENOENT);
	assert_ptr_equal(lookup(t, "10.1.2.4"), &v[6]);
	assert_ptr_equal(lookup(t, "10.1.2.3"), &v[2]);
	p = pfx("0.0.0.0/0");
	assert_int_equal(lpm_remove(t, &p), 0);
	assert_null(lookup(t, "192.0.2.1"));
	assert_int_equal(lpm_count(t), 4);
	lpm_free(t);
	lpm_free(NULL);
}

/* Glue nodes: two siblings create one; removing one must collapse it. */
static void test_glue(void **state)
{
	struct lpm *t = lpm_new();
	int a, b, c;
	struct mpq_prefix pa = pfx("10.0.0.0/24"), pb = pfx("10.0.1.0/24"), pc = pfx("10.0.0.0/23");

	(void)state;
	assert_int_equal(lpm_insert(t, &pa, &a), 0);
	assert_int_equal(lpm_insert(t, &pb, &b), 0);
	/* The glue node is 10.0.0.0/23: not a prefix until inserted. */
	assert_null(lpm_get(t, &pc));
	assert_int_equal(lpm_remove(t, &pc), -ENOENT);
	assert_int_equal(lpm_replace(t, &pc, &c), -ENOENT);
	assert_null(lookup(t, "10.0.2.0"));
	assert_int_equal(lpm_insert(t, &pc, &c), 0);
	assert_ptr_equal(lpm_get(t, &pc), &c);
	assert_int_equal(lpm_count(t), 3);
	assert_int_equal(lpm_remove(t, &pc), 0); /* back to glue */
	assert_null(lpm_get(t, &pc));
	assert_ptr_equal(lookup(t, "10.0.1.9"), &b);
	assert_int_equal(lpm_remove(t, &pa), 0);
	assert_null(lookup(t, "10.0.0.9"));
	assert_ptr_equal(lookup(t, "10.0.1.9"), &b);
	assert_int_equal(lpm_remove(t, &pb), 0);
	assert_int_equal(lpm_count(t), 0);
	assert_null(lookup(t, "10.0.1.9"));
	lpm_free(t);
}

struct walk_state {
	struct mpq_prefix seen[8];
	size_t n;
};

static int walk_cb(void *arg, const struct mpq_prefix *p, void *value)
{
	struct walk_state *w = arg;

	(void)value;
	w->seen[w->n++] = *p;
	return w->n == 4 ? 42 : 0;
}

static void test_walk(void **state)
{
	static const char *const in[] = {"2001:db8::/32", "10.1.0.0/16", "10.0.0.0/8",
					 "192.0.2.0/24", "::/0"};
	static const char *const order[] = {"10.0.0.0/8", "10.1.0.0/16", "192.0.2.0/24", "::/0",
					    "2001:db8::/32"};
	struct lpm *t = lpm_new();
	struct walk_state w = {.n = 0};
	int v;

	(void)state;
	for (size_t i = 0; i < 5; i++) {
		struct mpq_prefix p = pfx(in[i]);

		assert_int_equal(lpm_insert(t, &p, &v), 0);
	}
	assert_int_equal(lpm_walk(t, walk_cb, &w), 42); /* stopped by the callback */
	assert_int_equal(w.n, 4);
	for (size_t i = 0; i < 4; i++) {
		struct mpq_prefix p = pfx(order[i]);

		assert_memory_equal(&w.seen[i], &p, sizeof(p));
	}
	lpm_free(t);
}

/* ---- random prefixes against a linear scan ---- */

#define NPFX 3000

struct ref {
	struct mpq_prefix p[NPFX];
	int present[NPFX];
	int tag[NPFX];
};

static void rand_bytes(uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)random();
}

/* Prefixes clustered under a few roots so that they nest and diverge at many depths. */
static void rand_prefix(struct mpq_prefix *p, int family)
{
	memset(p, 0, sizeof(*p));
	p->family = (uint8_t)family;
	if (family == AF_INET) {
		p->addr[0] = 10;
		p->addr[1] = (uint8_t)(random() % 4);
		rand_bytes(p->addr + 2, 2);
		p->len = (uint8_t)(random() % 5 == 0 ? random() % 33 : 14 + random() % 19);
	} else {
		p->addr[0] = 0x20;
		p->addr[1] = 0x01;
		p->addr[2] = (uint8_t)(random() % 2);
		rand_bytes(p->addr + 3, 13);
		if (random() % 3 == 0)
			memset(p->addr + 8, 0, 8); /* share the interface-ID half */
		p->len = (uint8_t)(random() % 5 == 0 ? random() % 129 : 16 + random() % 113);
	}
	mpq_prefix_mask(p);
}

static void *ref_lookup(const struct ref *r, int family, const uint8_t *addr)
{
	int best = -1;

	for (int i = 0; i < NPFX; i++) {
		if (!r->present[i] || !mpq_prefix_contains(&r->p[i], family, addr))
			continue;
		if (best < 0 || r->p[i].len > r->p[best].len)
			best = i;
	}
	return best < 0 ? NULL : (void *)&r->tag[best];
}

static void rand_addr(const struct ref *r, int family, uint8_t *a)
{
	if (random() % 4 == 0) {
		rand_bytes(a, 16);
		return;
	}
	/* An address inside (or right next to) a random prefix. */
	int i = (int)(random() % NPFX);
	unsigned alen = mpq_family_addrlen(family);

	while (r->p[i].family != family)
		i = (i + 1) % NPFX;
	memcpy(a, r->p[i].addr, 16);
	for (unsigned bit = r->p[i].len; bit < alen * 8; bit++)
		if (random() & 1)
			a[bit / 8] |= (uint8_t)(0x80 >> (bit % 8));
	if (random() % 8 == 0 && r->p[i].len > 0) {
		unsigned bit = (unsigned)random() % r->p[i].len;

		a[bit / 8] ^= (uint8_t)(0x80 >> (bit % 8));
	}
}

static void check_all(struct lpm *t, const struct ref *r, int lookups)
{
	size_t count = 0;

	for (int i = 0; i < NPFX; i++) {
		count += r->present[i] ? 1 : 0;
		if (r->present[i])
			assert_ptr_equal(lpm_get(t, &r->p[i]), &r->tag[i]);
	}
	assert_int_equal(lpm_count(t), count);
	for (int k = 0; k < lookups; k++) {
		int family = k % 2 ? AF_INET6 : AF_INET;
		uint8_t a[16];

		rand_addr(r, family, a);
		assert_ptr_equal(lpm_lookup(t, family, a), ref_lookup(r, family, a));
	}
}

static void test_random_vs_reference(void **state)
{
	struct ref *r = calloc(1, sizeof(*r));
	struct lpm *t = lpm_new();

	(void)state;
	assert_non_null(r);
	srandom(20240601);
	for (int i = 0; i < NPFX; i++) {
		rand_prefix(&r->p[i], i % 2 ? AF_INET6 : AF_INET);
		int e = lpm_insert(t, &r->p[i], &r->tag[i]);

		if (e == -EEXIST) {
			/* A duplicate of an earlier prefix: keep it out of the reference. */
			r->p[i].family = (uint8_t)(i % 2 ? AF_INET6 : AF_INET);
			r->present[i] = 0;
			continue;
		}
		assert_int_equal(e, 0);
		r->present[i] = 1;
	}
	check_all(t, r, 4000);

	/* Remove a random half, check, re-insert some, replace some, check again. */
	for (int i = 0; i < NPFX; i++) {
		if (!r->present[i] || random() % 2)
			continue;
		assert_int_equal(lpm_remove(t, &r->p[i]), 0);
		assert_int_equal(lpm_remove(t, &r->p[i]), -ENOENT);
		r->present[i] = 0;
	}
	check_all(t, r, 4000);
	for (int i = 0; i < NPFX; i++) {
		if (r->present[i] || random() % 3)
			continue;
		if (lpm_insert(t, &r->p[i], &r->tag[i]) == 0)
			r->present[i] = 1;
	}
	check_all(t, r, 4000);

	/* Remove everything: the trie must end empty (ASan checks nothing leaks). */
	for (int i = 0; i < NPFX; i++)
		if (r->present[i])
			assert_int_equal(lpm_remove(t, &r->p[i]), 0);
	assert_int_equal(lpm_count(t), 0);
	memset(r->present, 0, sizeof(r->present));
	check_all(t, r, 200);
	lpm_free(t);
	free(r);
}

/*
 * The benchmark's table (tools/bench-lpm: 10 000 prefixes of both families, lookups of
 * addresses under the same roots), every prefix with its own value: each lookup must return
 * the longest match a linear scan finds. The timing itself lives in tools/bench-lpm.
 */
static void test_large_table(void **state)
{
	enum { N = 10000, L = 1024 };
	struct mpq_prefix *p = calloc(N, sizeof(*p));
	int *tag = calloc(N, sizeof(*tag));
	bool *in = calloc(N, sizeof(*in));
	struct lpm *t = lpm_new();
	size_t count = 0, hits = 0;

	(void)state;
	assert_non_null(p);
	assert_non_null(tag);
	assert_non_null(in);
	srandom(1);
	for (int i = 0; i < N; i++) {
		int e;

		rand_prefix(&p[i], i % 2 ? AF_INET6 : AF_INET);
		e = lpm_insert(t, &p[i], &tag[i]);
		assert_true(e == 0 || e == -EEXIST);
		in[i] = e == 0;
		count += in[i];
	}
	assert_int_equal(lpm_count(t), count);
	for (int k = 0; k < L; k++) {
		int family = k % 2 ? AF_INET6 : AF_INET, best = -1;
		uint8_t a[16];

		rand_bytes(a, 16);
		a[0] = k % 2 ? 0x20 : 10;
		a[1] = k % 2 ? 0x01 : (uint8_t)(k % 4);
		for (int i = 0; i < N; i++)
			if (in[i] && mpq_prefix_contains(&p[i], family, a) &&
			    (best < 0 || p[i].len > p[best].len))
				best = i;
		assert_ptr_equal(lpm_lookup(t, family, a), best < 0 ? NULL : &tag[best]);
		hits += best >= 0;
	}
	/* The addresses are drawn where the prefixes are: most lookups must find one. */
	assert_true(hits > L / 2);
	lpm_free(t);
	free(in);
	free(tag);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),	    cmocka_unit_test(test_glue),
		cmocka_unit_test(test_walk),	    cmocka_unit_test(test_random_vs_reference),
		cmocka_unit_test(test_large_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
