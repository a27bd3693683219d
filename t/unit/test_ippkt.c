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

#include "ippkt.h"

/* An independent, byte-at-a-time one's-complement sum for cross-checking. */
static uint32_t naive_sum(const uint8_t *p, size_t len, uint32_t sum)
{
	for (size_t i = 0; i < len; i++)
		sum += (i % 2 == 0) ? (uint32_t)p[i] << 8 : p[i];
	return sum;
}

static uint16_t naive_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* IPv4 header, DF set, protocol proto, payload_len bytes of pattern; correct checksum. */
static size_t make4(uint8_t *b, const char *src, const char *dst, uint8_t proto, size_t payload_len)
{
	memset(b, 0, 20);
	b[0] = 0x45;
	b[2] = (uint8_t)((20 + payload_len) >> 8);
	b[3] = (uint8_t)(20 + payload_len);
	b[4] = 0x12;
	b[5] = 0x34;
	b[6] = 0x40; /* DF */
	b[8] = 63;
	b[9] = proto;
	assert_int_equal(inet_pton(AF_INET, src, b + 12), 1);
	assert_int_equal(inet_pton(AF_INET, dst, b + 16), 1);
	uint16_t c = ippkt_checksum(b, 20, 0);
	b[10] = (uint8_t)(c >> 8);
	b[11] = (uint8_t)c;
	for (size_t i = 0; i < payload_len; i++)
		b[20 + i] = (uint8_t)(i * 7 + 1);
	return 20 + payload_len;
}

static size_t make6(uint8_t *b, const char *src, const char *dst, uint8_t nh, size_t payload_len)
{
	memset(b, 0, 40);
	b[0] = 0x60;
	b[4] = (uint8_t)(payload_len >> 8);
	b[5] = (uint8_t)payload_len;
	b[6] = nh;
	b[7] = 63;
	assert_int_equal(inet_pton(AF_INET6, src, b + 8), 1);
	assert_int_equal(inet_pton(AF_INET6, dst, b + 24), 1);
	for (size_t i = 0; i < payload_len; i++)
		b[40 + i] = (uint8_t)(i * 7 + 1);
	return 40 + payload_len;
}

static void test_checksum(void **state)
{
	/* RFC 1071 §3's example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2. */
	static const uint8_t ex[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
	uint8_t buf[301];

	(void)state;
	assert_int_equal(ippkt_checksum(ex, sizeof(ex), 0), (uint16_t)~0xddf2);
	assert_int_equal(ippkt_checksum(ex, 0, 0), 0xffff);
	/* Random data, odd and even lengths, with an initial partial sum. */
	srandom(7);
	for (int round = 0; round < 200; round++) {
		size_t len = (size_t)random() % sizeof(buf);
		uint32_t init = (uint32_t)random() & 0xfffff;

		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)random();
		assert_int_equal(ippkt_checksum(buf, len, init),
				 (uint16_t)~naive_fold(naive_sum(buf, len, init)));
	}
	/* Chaining two even parts equals one pass. */
	for (size_t i = 0; i < 100; i++)
		buf[i] = (uint8_t)(i * 13);
	assert_int_equal(ippkt_checksum(buf + 40, 60, (uint16_t)~ippkt_checksum(buf, 40, 0)),
			 ippkt_checksum(buf, 100, 0));
}

static void test_parse_v4(void **state)
{
	uint8_t b[100];
	struct ippkt_info in;
	size_t len = make4(b, "192.0.2.1", "198.51.100.2", IPPROTO_UDP, 30);

	(void)state;
	assert_int_equal(ippkt_parse(b, len, &in), 0);
	assert_int_equal(in.family, AF_INET);
	assert_int_equal(in.proto, IPPROTO_UDP);
	assert_ptr_equal(in.src, b + 12);
	assert_ptr_equal(in.dst, b + 16);
	assert_int_equal(in.hdr_len, 20);
	assert_int_equal(in.total_len, 50);
	assert_true(in.df);
	assert_true(in.first_fragment);
	/* Trailing bytes beyond Total Length are fine. */
	assert_int_equal(ippkt_parse(b, len + 10, &in), 0);
	assert_int_equal(in.total_len, 50);
	/* Truncated anywhere. */
	for (size_t l = 0; l < len; l++)
		assert_int_equal(ippkt_parse(b, l, &in), -EINVAL);
	/* Options: IHL 6. */
	b[0] = 0x46;
	assert_int_equal(ippkt_parse(b, len, &in), 0);
	assert_int_equal(in.hdr_len, 24);
	/* IHL < 5, IHL beyond Total Length. */
	b[0] = 0x44;
	assert_int_equal(ippkt_parse(b, len, &in), -EINVAL);
	b[0] = 0x4f;
	b[2] = 0;
	b[3] = 40;
	assert_int_equal(ippkt_parse(b, len, &in), -EINVAL);
	b[0] = 0x45;
	b[3] = 19;
	assert_int_equal(ippkt_parse(b, len, &in), -EINVAL);
	b[3] = 20; /* header only */
	assert_int_equal(ippkt_parse(b, len, &in), 0);
	/* Fragments: MF alone is first; an offset is not; DF clear. */
	b[6] = 0x20;
	b[7] = 0x00;
	assert_int_equal(ippkt_parse(b, len, &in), 0);
	assert_true(in.first_fragment);
	assert_false(in.df);
	b[7] = 0x01;
	assert_int_equal(ippkt_parse(b, len, &in), 0);
	assert_false(in.first_fragment);
	/* Bad versions. */
	for (int v = 0; v < 16; v++) {
		if (v == 4 || v == 6)
			continue;
		b[0] = (uint8_t)(v << 4 | 5);
		assert_int_equal(ippkt_parse(b, len, &in), -EINVAL);
	}
}

static void test_parse_v6(void **state)
{
	uint8_t b[200];
	struct ippkt_info in;
	size_t len = make6(b, "2001:db8::1", "2001:db8::2", IPPROTO_TCP, 20);

	(void)state;
	assert_int_equal(ippkt_parse(b, len, &in), 0);
	assert_int_equal(in.family, AF_INET6);
	assert_int_equal(in.proto, IPPROTO_TCP);
	assert_ptr_equal(in.src, b + 8);
	assert_ptr_equal(in.dst, b + 24);
	assert_int_equal(in.hdr_len, 40);
	assert_int_equal(in.total_len, 60);
	assert_true(in.df);
	assert_true(in.first_fragment);
	for (size_t l = 0; l < len; l++)
		assert_int_equal(ippkt_parse(b, l, &in), -EINVAL);

	/* Hop-by-Hop (8 bytes) -> Destination Options (16 bytes) -> Fragment (first) -> UDP. */
	len = make6(b, "2001:db8::1", "2001:db8::2", IPPROTO_HOPOPTS, 8 + 16 + 8 + 8);
	b[40] = IPPROTO_DSTOPTS;
	b[41] = 0;
	b[48] = IPPROTO_FRAGMENT;
	b[49] = 1;
	b[64] = IPPROTO_UDP;
	b[65] = 0;
	b[66] = 0x00;
	b[67] = 0x01; /* offset 0, M = 1 */
	assert_int_equal(ippkt_parse(b, len, &in), 0);
	assert_int_equal(in.proto, IPPROTO_UDP);
	assert_int_equal(in.hdr_len, 72);
	assert_true(in.first_fragment);
	/* Non-first fragment: the walk stops after the Fragment header. */
	b[66] = 0x05;
	b[67] = 0x08; /* offset 161 * 8 */
	assert_int_equal(ippkt_parse(b, len, &in), 0);
	assert_int_equal(in.proto, IPPROTO_UDP);
	assert_false(in.first_fragment);
	/* An extension header that runs past the payload. */
	b[49] = 4; /* 40 bytes from offset 48: past 80 */
	assert_int_equal(ippkt_parse(b, len, &in), -EINVAL);
	b[49] = 1;
	b[4] = 0;
	b[5] = 8 + 4; /* payload ends inside the Destination Options header */
	assert_int_equal(ippkt_parse(b, len, &in), -EINVAL);
	/* AH: length in 4-byte units + 2. */
	len = make6(b, "2001:db8::1", "2001:db8::2", 51, 12 + 8);
	b[40] = IPPROTO_ICMPV6;
	b[41] = 1;
	assert_int_equal(ippkt_parse(b, len, &in), 0);
	assert_int_equal(in.proto, IPPROTO_ICMPV6);
	assert_int_equal(in.hdr_len, 52);
	/* Payload Length beyond the buffer. */
	b[5] = 100;
	assert_int_equal(ippkt_parse(b, len, &in), -EINVAL);
}

/* Check an ICMPv4 reply byte by byte against the packet it answers. */
static void check_reply4(const uint8_t *r, ssize_t rlen, const uint8_t *pkt, size_t plen,
			 const uint8_t *from, uint16_t mtu)
{
	size_t quote = plen < 576 - 28 ? plen : 576 - 28;

	assert_int_equal(rlen, 28 + quote);
	assert_int_equal(r[0], 0x45);
	assert_int_equal(r[1], 0xc0);
	assert_int_equal(be16(r + 2), rlen);
	assert_int_equal(be16(r + 4), 0);     /* identification */
	assert_int_equal(be16(r + 6), 0);     /* flags, offset */
	assert_int_equal(r[8], 64);	      /* TTL */
	assert_int_equal(r[9], IPPROTO_ICMP); /* protocol */
	assert_memory_equal(r + 12, from, 4);
	assert_memory_equal(r + 16, pkt + 12, 4);
	assert_int_equal(naive_fold(naive_sum(r, 20, 0)), 0xffff); /* header checksum */
	assert_int_equal(r[20], 3);
	assert_int_equal(r[21], 4);
	assert_int_equal(be16(r + 24), 0); /* unused */
	assert_int_equal(be16(r + 26), mtu);
	assert_memory_equal(r + 28, pkt, quote);
	assert_int_equal(naive_fold(naive_sum(r + 20, (size_t)rlen - 20, 0)), 0xffff);
}

static void check_reply6(const uint8_t *r, ssize_t rlen, const uint8_t *pkt, size_t plen,
			 const uint8_t *from, uint32_t mtu)
{
	size_t quote = plen < 1280 - 48 ? plen : 1280 - 48;
	uint8_t pseudo[40] = {0};
	uint32_t sum;

	assert_int_equal(rlen, 48 + quote);
	assert_int_equal(be32(r), 0x60000000); /* version, class, flow label */
	assert_int_equal(be16(r + 4), 8 + quote);
	assert_int_equal(r[6], IPPROTO_ICMPV6);
	assert_int_equal(r[7], 64);
	assert_memory_equal(r + 8, from, 16);
	assert_memory_equal(r + 24, pkt + 8, 16);
	assert_int_equal(r[40], 2);
	assert_int_equal(r[41], 0);
	assert_int_equal(be32(r + 44), mtu);
	assert_memory_equal(r + 48, pkt, quote);
	memcpy(pseudo, r + 8, 32);
	pseudo[34] = (uint8_t)((8 + quote) >> 8);
	pseudo[35] = (uint8_t)(8 + quote);
	pseudo[39] = IPPROTO_ICMPV6;
	sum = naive_sum(pseudo, 40, 0);
	sum = naive_sum(r + 40, (size_t)rlen - 40, naive_fold(sum));
	assert_int_equal(naive_fold(sum), 0xffff);
}

static void test_too_big_v4(void **state)
{
	uint8_t pkt[1500], out[1500], from[4];
	ssize_t r;
	size_t len;

	(void)state;
	inet_pton(AF_INET, "10.200.0.1", from);
	/* Small packet: quoted whole. */
	len = make4(pkt, "192.0.2.1", "198.51.100.2", IPPROTO_UDP, 30);
	r = ippkt_make_too_big(out, sizeof(out), pkt, len, 1280, from);
	check_reply4(out, r, pkt, len, from, 1280);
	/* Big packet: quoted up to 576 bytes in all. */
	len = make4(pkt, "192.0.2.1", "198.51.100.2", IPPROTO_TCP, 1400);
	r = ippkt_make_too_big(out, sizeof(out), pkt, len, 1400, from);
	check_reply4(out, r, pkt, len, from, 1400);
	assert_int_equal(r, 576);
	/* Trailing garbage past Total Length is not quoted. */
	len = make4(pkt, "192.0.2.1", "198.51.100.2", IPPROTO_UDP, 10);
	r = ippkt_make_too_big(out, sizeof(out), pkt, len + 50, 1300, from);
	check_reply4(out, r, pkt, len, from, 1300);
	/* MTU clamped to 16 bits. */
	r = ippkt_make_too_big(out, sizeof(out), pkt, len, 100000, from);
	check_reply4(out, r, pkt, len, from, 0xffff);

	/* A small output buffer: as much as fits, down to IP header + 8 bytes. */
	len = make4(pkt, "192.0.2.1", "198.51.100.2", IPPROTO_TCP, 200);
	r = ippkt_make_too_big(out, 28 + 28, pkt, len, 1280, from);
	assert_int_equal(r, 56);
	assert_memory_equal(out + 28, pkt, 28);
	assert_int_equal(naive_fold(naive_sum(out + 20, 36, 0)), 0xffff);
	assert_int_equal(be16(out + 2), 56);
	assert_int_equal(ippkt_make_too_big(out, 55, pkt, len, 1280, from), -ENOBUFS);
	assert_int_equal(ippkt_make_too_big(out, 0, pkt, len, 1280, from), -ENOBUFS);
	/* A header-only packet needs no 8 payload bytes. */
	len = make4(pkt, "192.0.2.1", "198.51.100.2", IPPROTO_TCP, 0);
	assert_int_equal(ippkt_make_too_big(out, 48, pkt, len, 1280, from), 48);

	/* ICMP queries get an answer; ICMP errors do not. */
	len = make4(pkt, "192.0.2.1", "198.51.100.2", IPPROTO_ICMP, 64);
	pkt[20] = 8; /* echo request */
	r = ippkt_make_too_big(out, sizeof(out), pkt, len, 1280, from);
	check_reply4(out, r, pkt, len, from, 1280);
	static const uint8_t errors[] = {3, 4, 5, 11, 12};
	for (size_t i = 0; i < sizeof(errors); i++) {
		pkt[20] = errors[i];
		assert_int_equal(ippkt_make_too_big(out, sizeof(out), pkt, len, 1280, from),
				 -EPERM);
	}
	len = make4(pkt, "192.0.2.1", "198.51.100.2", IPPROTO_ICMP, 0); /* type not present */
	assert_int_equal(ippkt_make_too_big(out, sizeof(out), pkt, len, 1280, from), -EPERM);
}

static void test_too_big_v4_forbidden(void **state)
{
	static const char *const bad_src[] = {"0.0.0.0",	"0.1.2.3",   "127.0.0.1",
					      "224.0.0.1",	"239.1.1.1", "240.0.0.1",
					      "255.255.255.255"};
	static const char *const bad_dst[] = {"224.0.0.5", "239.255.255.250", "255.255.255.255"};
	uint8_t pkt[200], out[600], from[4];
	size_t len;

	(void)state;
	inet_pton(AF_INET, "10.200.0.1", from);
	for (size_t i = 0; i < sizeof(bad_src) / sizeof(bad_src[0]); i++) {
		len = make4(pkt, bad_src[i], "198.51.100.2", IPPROTO_UDP, 30);
		assert_int_equal(ippkt_make_too_big(out, sizeof(out), pkt, len, 1280, from),
				 -EPERM);
	}
	for (size_t i = 0; i < sizeof(bad_dst) / sizeof(bad_dst[0]); i++) {
		len = make4(pkt, "192.0.2.1", bad_dst[i], IPPROTO_UDP, 30);
		assert_int_equal(ippkt_make_too_big(out, sizeof(out), pkt, len, 1280, from),
				 -EPERM);
	}
	/* Without DF: the sender allowed fragmentation. */
	len = make4(pkt, "192.0.2.1", "198.51.100.2", IPPROTO_UDP, 30);
	pkt[6] = 0;
	assert_int_equal(ippkt_make_too_big(out, sizeof(out), pkt, len, 1280, from), -EPERM);
	/* Non-first fragment (DF with an offset cannot happen, but MF + offset can). */
	pkt[6] = 0x40;
	pkt[7] = 0x10;
	assert_int_equal(ippkt_make_too_big(out, sizeof(out), pkt, len, 1280, from), -EPERM);
	/* Unparsable. */
	assert_int_equal(ippkt_make_too_big(out, sizeof(out), pkt, 10, 1280, from), -EINVAL);
}

static void test_too_big_v6(void **state)
{
	uint8_t pkt[1500], out[1500], from[16];
	ssize_t r;
	size_t len;

	(void)state;
	inet_pton(AF_INET6, "fd00:200::1", from);
	len = make6(pkt, "2001:db8::1", "2001:db8::2", IPPROTO_UDP, 100);
	r = ippkt_make_too_big(out, sizeof(out), pkt, len, 1280, from);
	check_reply6(out, r, pkt, len, from, 1280);
	len = make6(pkt, "2001:db8::1", "2001:db8::2", IPPROTO_TCP, 1400);
	r = ippkt_make_too_big(out, sizeof(out), pkt, len, 1400, from);
	check_reply6(out, r, pkt, len, from, 1400);
	assert_int_equal(r, 1280);
	/* A 32-bit MTU is carried as is. */
	r = ippkt_make_too_big(out, sizeof(out), pkt, len, 70000, from);
	check_reply6(out, r, pkt, len, from, 70000);
	/* Multicast destination: Packet Too Big is the exception that is sent. */
	len = make6(pkt, "2001:db8::1", "ff0e::1", IPPROTO_UDP, 100);
	r = ippkt_make_too_big(out, sizeof(out), pkt, len, 1280, from);
	check_reply6(out, r, pkt, len, from, 1280);
	/* Buffer limits. */
	assert_int_equal(ippkt_make_too_big(out, 48 + 47, pkt, len, 1280, from), -ENOBUFS);
	assert_int_equal(ippkt_make_too_big(out, 48 + 48, pkt, len, 1280, from), 96);

	/* Sources that are not one node. */
	len = make6(pkt, "::", "2001:db8::2", IPPROTO_UDP, 100);
	assert_int_equal(ippkt_make_too_big(out, sizeof(out), pkt, len, 1280, from), -EPERM);
	len = make6(pkt, "ff02::1", "2001:db8::2", IPPROTO_UDP, 100);
	assert_int_equal(ippkt_make_too_big(out, sizeof(out), pkt, len, 1280, from), -EPERM);

	/* ICMPv6: errors (type < 128) and Redirect get none; echo gets one. */
	len = make6(pkt, "2001:db8::1", "2001:db8::2", IPPROTO_ICMPV6, 64);
	for (int type = 0; type < 256; type++) {
		pkt[40] = (uint8_t)type;
		r = ippkt_make_too_big(out, sizeof(out), pkt, len, 1280, from);
		if (type < 128 || type == 137)
			assert_int_equal(r, -EPERM);
		else
			check_reply6(out, r, pkt, len, from, 1280);
	}
	/* ICMPv6 behind a Destination Options header is still recognized. */
	len = make6(pkt, "2001:db8::1", "2001:db8::2", IPPROTO_DSTOPTS, 8 + 64);
	pkt[40] = IPPROTO_ICMPV6;
	pkt[41] = 0;
	pkt[48] = 1; /* destination unreachable */
	assert_int_equal(ippkt_make_too_big(out, sizeof(out), pkt, len, 1280, from), -EPERM);
	pkt[48] = 128;
	r = ippkt_make_too_big(out, sizeof(out), pkt, len, 1280, from);
	check_reply6(out, r, pkt, len, from, 1280);

	/* Non-first fragments: ICMPv6 ones cannot be classified, others are answered. */
	len = make6(pkt, "2001:db8::1", "2001:db8::2", IPPROTO_FRAGMENT, 8 + 64);
	pkt[40] = IPPROTO_ICMPV6;
	pkt[42] = 0x01;
	pkt[43] = 0x00;
	assert_int_equal(ippkt_make_too_big(out, sizeof(out), pkt, len, 1280, from), -EPERM);
	pkt[40] = IPPROTO_UDP;
	r = ippkt_make_too_big(out, sizeof(out), pkt, len, 1280, from);
	check_reply6(out, r, pkt, len, from, 1280);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checksum),
		cmocka_unit_test(test_parse_v4),
		cmocka_unit_test(test_parse_v6),
		cmocka_unit_test(test_too_big_v4),
		cmocka_unit_test(test_too_big_v4_forbidden),
		cmocka_unit_test(test_too_big_v6),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
