/* SPDX-License-Identifier: MIT */
/*
 * ippkt_parse() on anything, and ippkt_make_too_big() whose replies must parse, carry correct
 * checksums, and fit the limits. Input: bytes 0-1 choose the MTU and the output size, the rest
 * is the packet.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "fuzz.h"
#include "ippkt.h"

static void check_reply(const uint8_t *r, ssize_t n, size_t size)
{
	struct ippkt_info in;
	uint8_t pseudo[40] = {0};

	FUZZ_CHECK(n > 0 && (size_t)n <= size);
	FUZZ_CHECK(ippkt_parse(r, (size_t)n, &in) == 0);
	FUZZ_CHECK(in.total_len == (size_t)n);
	if (in.family == AF_INET) {
		FUZZ_CHECK(n <= IPPKT_ICMP4_MAX && in.proto == IPPROTO_ICMP);
		FUZZ_CHECK(ippkt_checksum(r, 20, 0) == 0);
		FUZZ_CHECK(ippkt_checksum(r + 20, (size_t)n - 20, 0) == 0);
		FUZZ_CHECK(r[20] == 3 && r[21] == 4);
	} else {
		FUZZ_CHECK(n <= IPPKT_ICMP6_MAX && in.proto == IPPROTO_ICMPV6);
		memcpy(pseudo, r + 8, 32);
		pseudo[34] = (uint8_t)((n - 40) >> 8);
		pseudo[35] = (uint8_t)(n - 40);
		pseudo[39] = IPPROTO_ICMPV6;
		FUZZ_CHECK(ippkt_checksum(r + 40, (size_t)n - 40,
					  (uint16_t)~ippkt_checksum(pseudo, 40, 0)) == 0);
		FUZZ_CHECK(r[40] == 2 && r[41] == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t from[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
	static uint8_t out[1500];
	struct ippkt_info in;
	size_t osize;
	uint32_t mtu;
	ssize_t n;

	if (size < 2)
		return 0;
	mtu = 1200u + data[0] * 4u;
	osize = data[1] & 0x80 ? sizeof(out) : (size_t)data[1] * 4;
	data += 2;
	size -= 2;

	if (ippkt_parse(data, size, &in) == 0) {
		FUZZ_CHECK(in.family == AF_INET || in.family == AF_INET6);
		FUZZ_CHECK(in.hdr_len <= in.total_len && in.total_len <= size);
		FUZZ_CHECK(in.src >= data && in.dst >= data);
		FUZZ_CHECK(in.dst + (in.family == AF_INET ? 4 : 16) <= data + size);
	}
	n = ippkt_make_too_big(out, osize, data, size, mtu, from);
	FUZZ_CHECK(n > 0 || n == -EINVAL || n == -EPERM || n == -ENOBUFS);
	if (n > 0)
		check_reply(out, n, osize);
	return 0;
}

static size_t put_v4(uint8_t *b, uint8_t proto, size_t payload)
{
	memset(b, 0, 20 + payload);
	b[0] = 0x45;
	b[2] = (uint8_t)((20 + payload) >> 8);
	b[3] = (uint8_t)(20 + payload);
	b[6] = 0x40;
	b[8] = 64;
	b[9] = proto;
	b[12] = 192, b[13] = 0, b[14] = 2, b[15] = 1;
	b[16] = 198, b[17] = 51, b[18] = 100, b[19] = 2;
	return 20 + payload;
}

static size_t put_v6(uint8_t *b, uint8_t nh, size_t payload)
{
	memset(b, 0, 40 + payload);
	b[0] = 0x60;
	b[4] = (uint8_t)(payload >> 8);
	b[5] = (uint8_t)payload;
	b[6] = nh;
	b[7] = 64;
	b[8] = 0x20, b[9] = 0x01, b[10] = 0x0d, b[11] = 0xb8, b[23] = 1;
	b[24] = 0x20, b[25] = 0x01, b[26] = 0x0d, b[27] = 0xb8, b[39] = 2;
	return 40 + payload;
}

size_t fuzz_seed(unsigned i, uint8_t *buf, size_t size)
{
	uint8_t *b = buf + 2;
	size_t len;

	if (size < 2 + 40 + 1400)
		return 0;
	buf[0] = (uint8_t)(i * 37);
	buf[1] = 0x80;
	switch (i) {
	case 0:
		len = put_v4(b, IPPROTO_UDP, 1400);
		break;
	case 1:
		len = put_v4(b, IPPROTO_ICMP, 64);
		b[20] = 8;
		break;
	case 2:
		len = put_v6(b, IPPROTO_TCP, 1400);
		break;
	case 3: /* Hop-by-Hop -> Fragment -> ICMPv6 echo */
		len = put_v6(b, IPPROTO_HOPOPTS, 8 + 8 + 64);
		b[40] = IPPROTO_FRAGMENT;
		b[48] = IPPROTO_ICMPV6;
		b[51] = 1;
		b[56] = 128;
		break;
	case 4: /* short output buffer */
		len = put_v4(b, IPPROTO_TCP, 100);
		buf[1] = 14;
		break;
	default:
		return 0;
	}
	return 2 + len;
}
