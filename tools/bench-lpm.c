/* SPDX-License-Identifier: MIT */
/*
 * bench-lpm: nanoseconds per longest-prefix lookup (lib/lpm.c) in a table of 10 000 random
 * prefixes of both families, over 1 000 000 lookups of addresses under the same roots. A
 * timing figure for the commit log, not a test (t/unit/test_lpm.c checks the same table's
 * answers). Usage: bench-lpm [PREFIXES [LOOKUPS]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "lpm.h"

static void rand_bytes(uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)random();
}

/* The unit test's prefixes: clustered under a few roots, nesting at many depths. */
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
			memset(p->addr + 8, 0, 8);
		p->len = (uint8_t)(random() % 5 == 0 ? random() % 129 : 16 + random() % 113);
	}
	mpq_prefix_mask(p);
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 10000;
	long l = argc > 2 ? strtol(argv[2], NULL, 10) : 1000000;
	static uint8_t addrs[1024][16];
	struct lpm *t = lpm_new();
	struct timespec a, b;
	uintptr_t sink = 0;
	int v = 0;

	if (!t || n < 1 || l < 1) {
		fprintf(stderr, "usage: bench-lpm [PREFIXES [LOOKUPS]] (both > 0)\n");
		return 2;
	}
	srandom(1);
	for (long i = 0; i < n; i++) {
		struct mpq_prefix p;

		rand_prefix(&p, i % 2 ? AF_INET6 : AF_INET);
		(void)lpm_insert(t, &p, &v); /* duplicates are refused: fine for a timing */
	}
	for (int i = 0; i < 1024; i++) {
		rand_bytes(addrs[i], 16);
		addrs[i][0] = i % 2 ? 0x20 : 10;
		addrs[i][1] = i % 2 ? 0x01 : (uint8_t)(i % 4);
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < l; i++)
		sink += (uintptr_t)lpm_lookup(t, i % 2 ? AF_INET6 : AF_INET, addrs[i % 1024]);
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("lpm: %zu prefixes, %.1f ns/lookup (sink %lu)\n", lpm_count(t),
	       ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / (double)l,
	       (unsigned long)(sink & 1));
	lpm_free(t);
	return 0;
}
