/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "capsule.h"
#include "varint.h"

static struct mpq_prefix pfx(const char *s)
{
	struct mpq_prefix p;

	assert_int_equal(mpq_prefix_parse(s, MPQ_PREFIX_STRICT, &p), 0);
	return p;
}

/* ---- stream parser ---- */

struct seen {
	unsigned n;
	uint64_t type[16];
	size_t len[16];
	uint8_t value[16][64];
	int fail_at; /* return -ECANCELED on this capsule (1-based), 0: never */
};

static int record_cb(void *arg, uint64_t type, const uint8_t *value, size_t len)
{
	struct seen *s = arg;

	assert_true(s->n < 16);
	s->type[s->n] = type;
	s->len[s->n] = len;
	assert_true(len <= sizeof(s->value[0]));
	if (len)
		memcpy(s->value[s->n], value, len);
	s->n++;
	if (s->fail_at && s->n == (unsigned)s->fail_at)
		return -ECANCELED;
	return 0;
}

/*
 * ADDRESS_ASSIGN(10.0.0.2/32, id 0); an unknown type 0x1234 (2-byte type) with 3 bytes; an
 * empty DATAGRAM capsule; a 40-byte capsule of type 2^30 (8-byte type, 2-byte length).
 */
static size_t build_stream(uint8_t *b)
{
	uint8_t *q = b;

	static const uint8_t assign[] = {0x01, 0x07, 0x00, 0x04, 10, 0, 0, 2, 32};
	memcpy(q, assign, sizeof(assign));
	q += sizeof(assign);
	q = mpq_varint_put(q, 0x1234);
	q = mpq_varint_put(q, 3);
	*q++ = 'a';
	*q++ = 'b';
	*q++ = 'c';
	*q++ = 0x00;
	*q++ = 0x00;
	q = mpq_varint_put(q, UINT64_C(1) << 30);
	*q++ = 0x40; /* length 40 as a non-minimal 2-byte varint */
	*q++ = 40;
	for (int i = 0; i < 40; i++)
		*q++ = (uint8_t)i;
	return (size_t)(q - b);
}

static void check_stream(const struct seen *s)
{
	assert_int_equal(s->n, 4);
	assert_true(s->type[0] == CAPSULE_ADDRESS_ASSIGN);
	assert_int_equal(s->len[0], 7);
	assert_int_equal(s->value[0][6], 32);
	assert_true(s->type[1] == 0x1234);
	assert_int_equal(s->len[1], 3);
	assert_memory_equal(s->value[1], "abc", 3);
	assert_true(s->type[2] == CAPSULE_DATAGRAM);
	assert_int_equal(s->len[2], 0);
	assert_true(s->type[3] == UINT64_C(1) << 30);
	assert_int_equal(s->len[3], 40);
	for (int i = 0; i < 40; i++)
		assert_int_equal(s->value[3][i], i);
}

static void test_parser_whole_and_splits(void **state)
{
	struct capsule_parser p;
	uint8_t stream[128];
	size_t len = build_stream(stream);

	(void)state;
	assert_int_equal(capsule_parser_init(&p, 0), 0);
	assert_int_equal(p.max_value, CAPSULE_MAX_VALUE);

	/* In one piece. */
	struct seen s = {0};
	assert_int_equal(capsule_parser_feed(&p, stream, len, record_cb, &s), 0);
	check_stream(&s);
	assert_false(capsule_parser_pending(&p));

	/* Split in two at every point. */
	for (size_t cut = 0; cut <= len; cut++) {
		memset(&s, 0, sizeof(s));
		assert_int_equal(capsule_parser_feed(&p, stream, cut, record_cb, &s), 0);
		assert_int_equal(capsule_parser_feed(&p, stream + cut, len - cut, record_cb, &s),
				 0);
		check_stream(&s);
		assert_false(capsule_parser_pending(&p));
	}

	/* Byte by byte, and in three pieces at every pair of points. */
	memset(&s, 0, sizeof(s));
	for (size_t i = 0; i < len; i++)
		assert_int_equal(capsule_parser_feed(&p, stream + i, 1, record_cb, &s), 0);
	check_stream(&s);
	for (size_t a = 0; a <= len; a++) {
		for (size_t b = a; b <= len; b++) {
			memset(&s, 0, sizeof(s));
			assert_int_equal(capsule_parser_feed(&p, stream, a, record_cb, &s), 0);
			assert_int_equal(capsule_parser_feed(&p, stream + a, b - a, record_cb, &s),
					 0);
			assert_int_equal(
				capsule_parser_feed(&p, stream + b, len - b, record_cb, &s), 0);
			check_stream(&s);
		}
	}

	/* A stream that stops inside a capsule leaves it pending. */
	memset(&s, 0, sizeof(s));
	assert_int_equal(capsule_parser_feed(&p, stream, len - 1, record_cb, &s), 0);
	assert_int_equal(s.n, 3);
	assert_true(capsule_parser_pending(&p));
	capsule_parser_done(&p);
	capsule_parser_done(&p); /* twice is harmless */
}

static void test_parser_limits_and_cb_error(void **state)
{
	struct capsule_parser p;
	struct seen s = {0};
	uint8_t b[64], *q;

	(void)state;
	assert_int_equal(capsule_parser_init(&p, 20), 0);

	/* Exactly max_value is fine, split or not. */
	q = mpq_varint_put(b, 0x03);
	q = mpq_varint_put(q, 20);
	memset(q, 7, 20);
	assert_int_equal(capsule_parser_feed(&p, b, 22, record_cb, &s), 0);
	assert_int_equal(capsule_parser_feed(&p, b, 5, record_cb, &s), 0);
	assert_int_equal(capsule_parser_feed(&p, b + 5, 17, record_cb, &s), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.len[1], 20);

	/* One more byte declared: -EMSGSIZE as soon as the Length is known, in both paths. */
	b[1] = 21;
	assert_int_equal(capsule_parser_feed(&p, b, 2, record_cb, &s), -EMSGSIZE);
	capsule_parser_done(&p);
	assert_int_equal(capsule_parser_init(&p, 20), 0);
	assert_int_equal(capsule_parser_feed(&p, b, 1, record_cb, &s), 0);
	assert_int_equal(capsule_parser_feed(&p, b + 1, 1, record_cb, &s), -EMSGSIZE);
	capsule_parser_done(&p);

	/* A huge declared length on 8 bytes, split inside the Length varint. */
	assert_int_equal(capsule_parser_init(&p, 20), 0);
	q = mpq_varint_put(b, 0x00);
	q = mpq_varint_put(q, MPQ_VARINT_MAX);
	assert_int_equal(capsule_parser_feed(&p, b, 4, record_cb, &s), 0);
	assert_int_equal(capsule_parser_feed(&p, b + 4, 5, record_cb, &s), -EMSGSIZE);
	capsule_parser_done(&p);

	/* The callback's error stops parsing at once, in the fast path and the buffered one. */
	assert_int_equal(capsule_parser_init(&p, 0), 0);
	uint8_t two[] = {0x00, 0x01, 0xaa, 0x00, 0x01, 0xbb};
	memset(&s, 0, sizeof(s));
	s.fail_at = 1;
	assert_int_equal(capsule_parser_feed(&p, two, sizeof(two), record_cb, &s), -ECANCELED);
	assert_int_equal(s.n, 1);
	capsule_parser_done(&p);
	assert_int_equal(capsule_parser_init(&p, 0), 0);
	memset(&s, 0, sizeof(s));
	s.fail_at = 1;
	assert_int_equal(capsule_parser_feed(&p, two, 2, record_cb, &s), 0);
	assert_int_equal(capsule_parser_feed(&p, two + 2, 4, record_cb, &s), -ECANCELED);
	assert_int_equal(s.n, 1);
	capsule_parser_done(&p);
}

/* ---- addresses ---- */

static void test_addresses_encode_exact(void **state)
{
	struct capsule_addr a[2] = {
		{.request_id = 0, .prefix = pfx("192.0.2.0/24")},
		{.request_id = 100, .prefix = pfx("2001:db8::/64")},
	};
	static const uint8_t want[] = {
		0x01, 0x1b,			  /* type, length 27 */
		0x00, 0x04, 192,  0,	2, 0, 24, /* id 0, v4, 192.0.2.0, /24 */
		0x40, 0x64, 0x06,		  /* id 100 (2 bytes), v6 */
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0,  0, 0, 0, 0, 0, 0, 0, 0, 0, 64,
	};
	uint8_t buf[64];
	struct capsule_addr out[2];
	size_t n;

	(void)state;
	assert_int_equal(capsule_encode_addresses(buf, sizeof(buf), CAPSULE_ADDRESS_ASSIGN, a, 2),
			 sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	for (size_t size = 0; size < sizeof(want); size++)
		assert_int_equal(capsule_encode_addresses(buf, size, CAPSULE_ADDRESS_ASSIGN, a, 2),
				 -ENOBUFS);

	assert_int_equal(capsule_decode_addresses(want + 2, sizeof(want) - 2, out, 2, &n), 0);
	assert_int_equal(n, 2);
	assert_true(out[0].request_id == 0);
	assert_memory_equal(&out[0].prefix, &a[0].prefix, sizeof(a[0].prefix));
	assert_true(out[1].request_id == 100);
	assert_memory_equal(&out[1].prefix, &a[1].prefix, sizeof(a[1].prefix));
	assert_int_equal(capsule_decode_addresses(want + 2, sizeof(want) - 2, out, 1, &n), -E2BIG);

	/* Empty ADDRESS_ASSIGN: "all addresses removed". */
	assert_int_equal(capsule_encode_addresses(buf, sizeof(buf), CAPSULE_ADDRESS_ASSIGN, a, 0),
			 2);
	assert_int_equal(buf[0], 0x01);
	assert_int_equal(buf[1], 0x00);
	n = 99;
	assert_int_equal(capsule_decode_addresses(buf + 2, 0, out, 2, &n), 0);
	assert_int_equal(n, 0);
}

static void test_addresses_request_rules(void **state)
{
	struct capsule_addr a = {.request_id = 0, .prefix = pfx("0.0.0.0/32")};
	uint8_t buf[32];

	(void)state;
	/* Request IDs MUST NOT be zero; a request has at least one entry. */
	assert_int_equal(capsule_encode_addresses(buf, sizeof(buf), CAPSULE_ADDRESS_REQUEST, &a, 1),
			 -EINVAL);
	assert_int_equal(capsule_encode_addresses(buf, sizeof(buf), CAPSULE_ADDRESS_REQUEST, &a, 0),
			 -EINVAL);
	assert_int_equal(capsule_check_address_request(&a, 1), -EPROTO);
	assert_int_equal(capsule_check_address_request(&a, 0), -EPROTO);
	a.request_id = 1;
	assert_int_equal(capsule_check_address_request(&a, 1), 0);
	assert_int_equal(capsule_encode_addresses(buf, sizeof(buf), CAPSULE_ADDRESS_REQUEST, &a, 1),
			 9);
	static const uint8_t want[] = {0x02, 0x07, 0x01, 0x04, 0, 0, 0, 0, 32};
	assert_memory_equal(buf, want, sizeof(want));

	/* Other types, host bits, bad family/length, unencodable IDs. */
	assert_int_equal(capsule_encode_addresses(buf, sizeof(buf), CAPSULE_DATAGRAM, &a, 1),
			 -EINVAL);
	assert_int_equal(mpq_prefix_parse("10.0.0.1/24", MPQ_PREFIX_KEEP_HOST, &a.prefix), 0);
	assert_int_equal(capsule_encode_addresses(buf, sizeof(buf), CAPSULE_ADDRESS_ASSIGN, &a, 1),
			 -EINVAL);
	a.prefix = pfx("10.0.0.0/24");
	a.prefix.len = 33;
	assert_int_equal(capsule_encode_addresses(buf, sizeof(buf), CAPSULE_ADDRESS_ASSIGN, &a, 1),
			 -EINVAL);
	a.prefix.len = 24;
	a.prefix.family = 99;
	assert_int_equal(capsule_encode_addresses(buf, sizeof(buf), CAPSULE_ADDRESS_ASSIGN, &a, 1),
			 -EINVAL);
	a.prefix = pfx("10.0.0.0/24");
	a.request_id = MPQ_VARINT_MAX + 1;
	assert_int_equal(capsule_encode_addresses(buf, sizeof(buf), CAPSULE_ADDRESS_ASSIGN, &a, 1),
			 -EINVAL);
	a.request_id = MPQ_VARINT_MAX;
	assert_int_equal(capsule_encode_addresses(buf, sizeof(buf), CAPSULE_ADDRESS_ASSIGN, &a, 1),
			 2 + 8 + 1 + 4 + 1);
}

static void test_addresses_malformed(void **state)
{
	static const struct {
		uint8_t len;
		uint8_t v[24];
	} bad[] = {
		{1, {0x00}},				    /* no version */
		{2, {0x00, 0x04}},			    /* no address */
		{6, {0x00, 0x04, 10, 0, 0, 0}},		    /* no prefix length */
		{7, {0x00, 0x05, 10, 0, 0, 0, 8}},	    /* version 5 */
		{7, {0x00, 0x00, 10, 0, 0, 0, 8}},	    /* version 0 */
		{7, {0x00, 0x04, 10, 0, 0, 0, 33}},	    /* /33 */
		{7, {0x00, 0x04, 10, 0, 0, 1, 24}},	    /* host bits set */
		{7, {0x00, 0x04, 10, 0x80, 0, 0, 8}},	    /* host bit in the next byte */
		{7, {0x00, 0x04, 10, 1, 0, 0, 15}},	    /* host bit in the same byte */
		{2, {0x40, 0x01}},			    /* truncated 2-byte request ID */
		{18, {0x00, 0x06, 0x20, 0x01, 0x0d, 0xb8}}, /* truncated IPv6 */
		{19, {0x00, 0x06, 0x20, 0x01, [18] = 129}}, /* /129 */
		{8, {0x00, 0x04, 10, 0, 0, 0, 8, 0x00}},    /* trailing partial entry */
	};
	struct capsule_addr out[4];
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(capsule_decode_addresses(bad[i].v, bad[i].len, out, 4, &n),
				 -EPROTO);

	/* Boundaries that are valid: /0 with zero address, /32 with any address, /15. */
	static const uint8_t good[] = {0x00, 0x04, 0,  0,    0,	   0,  0, 0x00, 0x04, 1, 2,
				       3,    4,	   32, 0x00, 0x04, 10, 0, 0,	0,    15};
	assert_int_equal(capsule_decode_addresses(good, sizeof(good), out, 4, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(out[0].prefix.len, 0);
	assert_int_equal(out[1].prefix.addr[3], 4);
	assert_int_equal(out[2].prefix.len, 15);
}

/* ---- routes ---- */

static struct capsule_range rng(const char *start, const char *end, uint8_t proto)
{
	struct capsule_range r;

	memset(&r, 0, sizeof(r));
	r.family = strchr(start, ':') ? AF_INET6 : AF_INET;
	assert_int_equal(inet_pton(r.family, start, r.start), 1);
	assert_int_equal(inet_pton(r.family, end, r.end), 1);
	r.ipproto = proto;
	return r;
}

static void test_routes_encode_exact(void **state)
{
	struct capsule_range r[3] = {
		rng("10.0.0.0", "10.0.0.255", 0),
		rng("192.0.2.0", "192.0.2.7", 17),
		rng("2001:db8::", "2001:db8::ffff", 0),
	};
	static const uint8_t want[] = {
		0x03, 0x36,					    /* type, length 54 */
		0x04, 10,   0,	  0,	0,    10,  0, 0, 255, 0x00, /* v4 all protocols */
		0x04, 192,  0,	  2,	0,    192, 0, 2, 7,   17,   /* v4 UDP */
		0x06, 0x20, 0x01, 0x0d, 0xb8, 0,   0, 0, 0,   0,    0, 0, 0, 0, 0,    0,    0,
		0x20, 0x01, 0x0d, 0xb8, 0,    0,   0, 0, 0,   0,    0, 0, 0, 0, 0xff, 0xff, 0x00,
	};
	uint8_t buf[64];
	struct capsule_range out[3];
	size_t n;

	(void)state;
	assert_int_equal(capsule_encode_routes(buf, sizeof(buf), r, 3), sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	for (size_t size = 0; size < sizeof(want); size++)
		assert_int_equal(capsule_encode_routes(buf, size, r, 3), -ENOBUFS);
	assert_int_equal(capsule_decode_routes(want + 2, sizeof(want) - 2, out, 3, &n), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(out, r, sizeof(r));
	assert_int_equal(capsule_decode_routes(want + 2, sizeof(want) - 2, out, 2, &n), -E2BIG);
	assert_int_equal(capsule_decode_routes(want + 2, 0, out, 2, &n), 0);
	assert_int_equal(n, 0);
	for (size_t len = 1; len < sizeof(want) - 2; len++) {
		int r2 = capsule_decode_routes(want + 2, len, out, 3, &n);

		/* Only the entry boundaries (10 and 20 bytes) decode. */
		if (len == 10 || len == 20)
			assert_int_equal(r2, 0);
		else
			assert_int_equal(r2, -EPROTO);
	}
}

static void test_routes_order_rules(void **state)
{
	static const struct {
		const char *s[4][2];
		uint8_t proto[4];
		size_t n;
		int ok;
	} cases[] = {
		/* start <= end */
		{{{"10.0.0.1", "10.0.0.0"}}, {0}, 1, 0},
		{{{"10.0.0.1", "10.0.0.1"}}, {0}, 1, 1},
		/* version order */
		{{{"::", "::1"}, {"10.0.0.0", "10.0.0.1"}}, {0, 0}, 2, 0},
		/* protocol order within a version */
		{{{"10.0.0.0", "10.0.0.1"}, {"9.0.0.0", "9.0.0.1"}}, {17, 6}, 2, 0},
		{{{"10.0.0.0", "10.0.0.1"}, {"9.0.0.0", "9.0.0.1"}}, {6, 17}, 2, 1},
		/* same version and protocol: end of A < start of B */
		{{{"10.0.0.0", "10.0.0.9"}, {"10.0.0.9", "10.0.0.20"}}, {6, 6}, 2, 0},
		{{{"10.0.0.0", "10.0.0.9"}, {"10.0.0.10", "10.0.0.20"}}, {6, 6}, 2, 1},
		{{{"10.0.0.10", "10.0.0.20"}, {"10.0.0.0", "10.0.0.9"}}, {6, 6}, 2, 0},
		/* a protocol-0 range must not overlap a protocol-specific one */
		{{{"10.0.0.0", "10.0.0.9"}, {"10.0.0.5", "10.0.0.5"}}, {0, 6}, 2, 0},
		{{{"10.0.0.0", "10.0.0.9"}, {"10.0.0.10", "10.0.0.12"}}, {0, 6}, 2, 1},
		{{{"10.0.0.0", "10.0.0.9"}, {"10.0.0.20", "10.0.0.29"}, {"10.0.0.15", "10.0.0.25"}},
		 {0, 0, 6},
		 3,
		 0},
		{{{"10.0.0.0", "10.0.0.9"}, {"10.0.0.20", "10.0.0.29"}, {"10.0.0.10", "10.0.0.19"}},
		 {0, 0, 6},
		 3,
		 1},
		{{{"10.0.0.10", "10.0.0.19"}, {"10.0.0.0", "10.0.0.9"}, {"10.0.0.20", "10.0.0.29"}},
		 {0, 6, 17},
		 3,
		 1},
		{{{"10.0.0.10", "10.0.0.19"}, {"10.0.0.0", "10.0.0.10"}}, {0, 6}, 2, 0},
		/* the overlap rule applies per version only */
		{{{"10.0.0.0", "10.0.0.9"}, {"::", "::ffff:ffff"}, {"::a00:0", "::a00:9"}},
		 {0, 17, 17},
		 3,
		 0},
		{{{"10.0.0.0", "10.0.0.9"}, {"::a00:0", "::a00:9"}}, {0, 17}, 2, 1},
	};
	uint8_t buf[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct capsule_range r[4], out[4];
		ssize_t len;
		size_t n;

		for (size_t k = 0; k < cases[i].n; k++)
			r[k] = rng(cases[i].s[k][0], cases[i].s[k][1], cases[i].proto[k]);
		print_message("case %zu\n", i);
		assert_int_equal(capsule_routes_check(r, cases[i].n), cases[i].ok ? 0 : -EINVAL);
		len = capsule_encode_routes(buf, sizeof(buf), r, cases[i].n);
		if (cases[i].ok) {
			assert_true(len > 0);
			assert_int_equal(
				capsule_decode_routes(buf + 2, (size_t)len - 2, out, 4, &n), 0);
			assert_int_equal(n, cases[i].n);
			continue;
		}
		assert_int_equal(len, -EINVAL);
		/* Build the bad list by hand and check the decoder rejects it too. */
		uint8_t *q = buf;
		for (size_t k = 0; k < cases[i].n; k++) {
			unsigned alen = r[k].family == AF_INET ? 4 : 16;

			*q++ = r[k].family == AF_INET ? 4 : 6;
			memcpy(q, r[k].start, alen);
			q += alen;
			memcpy(q, r[k].end, alen);
			q += alen;
			*q++ = r[k].ipproto;
		}
		assert_int_equal(capsule_decode_routes(buf, (size_t)(q - buf), out, 4, &n),
				 -EPROTO);
	}

	static const uint8_t bad_version[] = {0x05, 10, 0, 0, 0, 10, 0, 0, 1, 0};
	struct capsule_range out[1];
	size_t n;
	assert_int_equal(capsule_decode_routes(bad_version, sizeof(bad_version), out, 1, &n),
			 -EPROTO);
}

static void test_range_from_prefix(void **state)
{
	struct mpq_prefix p;
	struct capsule_range r, want;

	(void)state;
	assert_int_equal(mpq_prefix_parse("10.1.2.3/20", MPQ_PREFIX_KEEP_HOST, &p), 0);
	capsule_range_from_prefix(&r, &p, 6);
	want = rng("10.1.0.0", "10.1.15.255", 6);
	assert_memory_equal(&r, &want, sizeof(r));
	p = pfx("0.0.0.0/0");
	capsule_range_from_prefix(&r, &p, 0);
	want = rng("0.0.0.0", "255.255.255.255", 0);
	assert_memory_equal(&r, &want, sizeof(r));
	p = pfx("2001:db8::/33");
	capsule_range_from_prefix(&r, &p, 0);
	want = rng("2001:db8::", "2001:db8:7fff:ffff:ffff:ffff:ffff:ffff", 0);
	assert_memory_equal(&r, &want, sizeof(r));
	p = pfx("2001:db8::1/128");
	capsule_range_from_prefix(&r, &p, 0);
	want = rng("2001:db8::1", "2001:db8::1", 0);
	assert_memory_equal(&r, &want, sizeof(r));
}

static void test_ranges_from_prefixes(void **state)
{
	struct mpq_prefix p[6] = {
		pfx("2001:db8::/48"), pfx("10.0.1.0/24"),  pfx("10.0.0.0/24"),
		pfx("10.0.0.0/16"),   pfx("192.0.2.0/25"), pfx("2001:db8:1::/48"),
	};
	struct capsule_range out[6], want[3];
	size_t n;

	(void)state;
	assert_int_equal(capsule_ranges_from_prefixes(p, 6, out, 6, &n), 0);
	assert_int_equal(n, 3);
	want[0] = rng("10.0.0.0", "10.0.255.255", 0);
	want[1] = rng("192.0.2.0", "192.0.2.127", 0);
	want[2] = rng("2001:db8::", "2001:db8:1:ffff:ffff:ffff:ffff:ffff", 0);
	assert_memory_equal(out, want, sizeof(want));
	assert_int_equal(capsule_routes_check(out, n), 0);
	assert_int_equal(capsule_ranges_from_prefixes(p, 6, out, 2, &n), -E2BIG);
	p[0].family = 0;
	assert_int_equal(capsule_ranges_from_prefixes(p, 6, out, 6, &n), -EINVAL);

	/* The whole space, and the last address (no successor to compare with). */
	struct mpq_prefix q[3] = {pfx("255.255.255.255/32"), pfx("0.0.0.0/1"), pfx("128.0.0.0/1")};
	assert_int_equal(capsule_ranges_from_prefixes(q, 3, out, 6, &n), 0);
	assert_int_equal(n, 1);
	want[0] = rng("0.0.0.0", "255.255.255.255", 0);
	assert_memory_equal(out, want, sizeof(want[0]));
}

/*
 * Random prefixes inside 10.0.0.0/22 against a bitmap of the covered addresses: the result
 * must be valid, cover exactly the same addresses, and have no two adjacent ranges.
 */
static void test_ranges_from_prefixes_random(void **state)
{
	enum { SPACE = 1024, N = 40 };
	uint8_t covered[SPACE], got[SPACE];
	struct mpq_prefix p[N];
	struct capsule_range out[N];
	size_t n;

	(void)state;
	srandom(42);
	for (int round = 0; round < 500; round++) {
		size_t cnt = 1 + (size_t)random() % N;

		memset(covered, 0, sizeof(covered));
		for (size_t i = 0; i < cnt; i++) {
			uint32_t len = 22 + (uint32_t)random() % 11;
			uint32_t off = (uint32_t)random() % SPACE;
			uint32_t a = 0x0a000000 | off;

			a &= ~(uint32_t)0 << (32 - len);
			memset(&p[i], 0, sizeof(p[i]));
			p[i].family = AF_INET;
			p[i].len = (uint8_t)len;
			a = htonl(a);
			memcpy(p[i].addr, &a, 4);
			uint32_t first = ntohl(a) & (SPACE - 1);
			memset(covered + first, 1, (size_t)1 << (32 - len));
		}
		assert_int_equal(capsule_ranges_from_prefixes(p, cnt, out, N, &n), 0);
		assert_int_equal(capsule_routes_check(out, n), 0);
		memset(got, 0, sizeof(got));
		for (size_t i = 0; i < n; i++) {
			uint32_t s, e;

			memcpy(&s, out[i].start, 4);
			memcpy(&e, out[i].end, 4);
			s = ntohl(s);
			e = ntohl(e);
			assert_true((s >> 10) == 0x0a000000 >> 10 && (e >> 10) == 0x0a000000 >> 10);
			memset(got + (s & (SPACE - 1)), 1, e - s + 1);
			if (i > 0) {
				uint32_t pe;

				memcpy(&pe, out[i - 1].end, 4);
				assert_true(ntohl(pe) + 1 < s); /* merged when adjacent */
			}
		}
		assert_memory_equal(got, covered, SPACE);
	}
}

/* ---- HTTP Datagram header ---- */

/*
 * The worst cases the size macros promise: IPv6 entries with the largest Request IDs, and
 * ranges of IPv6 /127s; one byte less than the macro still holds them (the header estimate is
 * generous) but the exact encoding must never exceed it.
 */
static void test_worst_case_sizes(void **state)
{
	enum { N = 512 };
	static struct capsule_addr a[N];
	static struct capsule_range r[N];
	static uint8_t buf[CAPSULE_ADDRESSES_MAX(N) + CAPSULE_ROUTES_MAX(N)];
	ssize_t len;

	(void)state;
	for (int i = 0; i < N; i++) {
		a[i].request_id = (1ULL << 62) - 1 - (uint64_t)i;
		a[i].prefix.family = AF_INET6;
		a[i].prefix.len = 128;
		memset(a[i].prefix.addr, 0xfd, 16);
		a[i].prefix.addr[14] = (uint8_t)(i >> 8);
		a[i].prefix.addr[15] = (uint8_t)i;
		r[i].family = AF_INET6;
		memset(r[i].start, 0xfd, 16);
		r[i].start[14] = (uint8_t)(i >> 7);
		r[i].start[15] = (uint8_t)(i << 1);
		memcpy(r[i].end, r[i].start, 16);
		r[i].end[15] |= 1;
	}
	len = capsule_encode_addresses(buf, sizeof(buf), CAPSULE_ADDRESS_REQUEST, a, N);
	assert_true(len > 0);
	assert_true((size_t)len <= CAPSULE_ADDRESSES_MAX(N));
	assert_true((size_t)len > CAPSULE_ADDRESSES_MAX(N) - CAPSULE_HDR_MAX);
	assert_int_equal(
		capsule_encode_addresses(buf, (size_t)len - 1, CAPSULE_ADDRESS_REQUEST, a, N),
		-ENOBUFS);
	len = capsule_encode_routes(buf, sizeof(buf), r, N);
	assert_true(len > 0);
	assert_true((size_t)len <= CAPSULE_ROUTES_MAX(N));
	assert_true((size_t)len > CAPSULE_ROUTES_MAX(N) - CAPSULE_HDR_MAX);
}

static void test_h3dgram(void **state)
{
	uint8_t buf[32];
	int64_t sid;
	uint64_t ctx;
	size_t off;

	(void)state;
	assert_int_equal(h3dgram_put_header(buf, sizeof(buf), 0, 0), 2);
	assert_int_equal(buf[0], 0x00);
	assert_int_equal(buf[1], 0x00);
	assert_int_equal(h3dgram_put_header(buf, sizeof(buf), 4, 0), 2);
	assert_int_equal(buf[0], 0x01);
	/* stream 256 -> quarter 64: two bytes. */
	assert_int_equal(h3dgram_put_header(buf, sizeof(buf), 256, 2), 3);
	assert_int_equal(buf[0], 0x40);
	assert_int_equal(buf[1], 0x40);
	assert_int_equal(buf[2], 0x02);
	buf[3] = 0x45;
	assert_int_equal(h3dgram_parse(buf, 4, &sid, &ctx, &off), 0);
	assert_true(sid == 256);
	assert_true(ctx == 2);
	assert_int_equal(off, 3);
	assert_int_equal(h3dgram_parse(buf, 3, &sid, &ctx, &off), 0); /* empty payload */
	assert_int_equal(off, 3);

	for (int64_t s = 1; s < 4; s++)
		assert_int_equal(h3dgram_put_header(buf, sizeof(buf), s, 0), -EINVAL);
	assert_int_equal(h3dgram_put_header(buf, sizeof(buf), -4, 0), -EINVAL);
	assert_int_equal(h3dgram_put_header(buf, sizeof(buf), INT64_C(1) << 62, 0), -EINVAL);
	assert_int_equal(h3dgram_put_header(buf, sizeof(buf), 0, MPQ_VARINT_MAX + 1), -EINVAL);
	assert_int_equal(h3dgram_put_header(buf, 1, 0, 0), -ENOBUFS);
	assert_int_equal(h3dgram_put_header(buf, 0, 0, 0), -ENOBUFS);

	/* The largest stream ID: quarter 2^60-1 on 8 bytes. */
	int64_t big = (INT64_C(1) << 62) - 4;
	assert_int_equal(h3dgram_put_header(buf, sizeof(buf), big, MPQ_VARINT_MAX), 16);
	assert_int_equal(h3dgram_parse(buf, 16, &sid, &ctx, &off), 0);
	assert_true(sid == big);
	assert_true(ctx == MPQ_VARINT_MAX);

	/*
	 * A Quarter Stream ID of 2^60 or one too short to parse is a connection error
	 * (-EPROTO); a missing or truncated Context ID only makes the datagram malformed.
	 */
	mpq_varint_put(buf, UINT64_C(1) << 60);
	buf[8] = 0;
	assert_int_equal(h3dgram_parse(buf, 9, &sid, &ctx, &off), -EPROTO);
	assert_int_equal(h3dgram_parse(buf, 0, &sid, &ctx, &off), -EPROTO);
	buf[0] = 0x40; /* 2-byte varint cut after 1 byte */
	assert_int_equal(h3dgram_parse(buf, 1, &sid, &ctx, &off), -EPROTO);
	buf[0] = 0x00;
	assert_int_equal(h3dgram_parse(buf, 1, &sid, &ctx, &off), -EBADMSG);
	buf[1] = 0x40;
	assert_int_equal(h3dgram_parse(buf, 2, &sid, &ctx, &off), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parser_whole_and_splits),
		cmocka_unit_test(test_parser_limits_and_cb_error),
		cmocka_unit_test(test_addresses_encode_exact),
		cmocka_unit_test(test_addresses_request_rules),
		cmocka_unit_test(test_addresses_malformed),
		cmocka_unit_test(test_routes_encode_exact),
		cmocka_unit_test(test_routes_order_rules),
		cmocka_unit_test(test_range_from_prefix),
		cmocka_unit_test(test_ranges_from_prefixes),
		cmocka_unit_test(test_ranges_from_prefixes_random),
		cmocka_unit_test(test_worst_case_sizes),
		cmocka_unit_test(test_h3dgram),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
