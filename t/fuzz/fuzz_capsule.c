/* SPDX-License-Identifier: MIT */
/*
 * The capsule stream parser fed in pieces, every capsule decoded by type, and every decoded
 * list re-encoded and decoded again to the same values. Also the HTTP/3 Datagram header.
 * Input: byte 0 chooses the piece size, the rest is the stream.
 */
#include <errno.h>
#include <string.h>

#include "capsule.h"
#include "fuzz.h"
#include "varint.h"

#define MAX_ENTRIES 64

static uint8_t enc[4096];

static void roundtrip_addresses(uint64_t type, const uint8_t *v, size_t len)
{
	struct capsule_addr a[MAX_ENTRIES], b[MAX_ENTRIES];
	struct capsule_range r[MAX_ENTRIES];
	struct mpq_prefix p[MAX_ENTRIES];
	size_t n, m, nr;
	ssize_t elen;
	uint64_t t, l;
	size_t k1, k2;

	if (capsule_decode_addresses(v, len, a, MAX_ENTRIES, &n) < 0)
		return;
	if (type == CAPSULE_ADDRESS_REQUEST && capsule_check_address_request(a, n) < 0)
		return;
	elen = capsule_encode_addresses(enc, sizeof(enc), type, a, n);
	FUZZ_CHECK(elen > 0);
	FUZZ_CHECK(mpq_varint_get(enc, (size_t)elen, &t, &k1) == 0 && t == type);
	FUZZ_CHECK(mpq_varint_get(enc + k1, (size_t)elen - k1, &l, &k2) == 0);
	FUZZ_CHECK(k1 + k2 + l == (size_t)elen && l <= len);
	FUZZ_CHECK(capsule_decode_addresses(enc + k1 + k2, l, b, MAX_ENTRIES, &m) == 0);
	FUZZ_CHECK(m == n && memcmp(a, b, n * sizeof(a[0])) == 0);

	/* Whatever was assigned can be advertised as a valid route list. */
	for (size_t i = 0; i < n; i++)
		p[i] = a[i].prefix;
	FUZZ_CHECK(capsule_ranges_from_prefixes(p, n, r, MAX_ENTRIES, &nr) == 0);
	FUZZ_CHECK(nr <= n && capsule_routes_check(r, nr) == 0);
	FUZZ_CHECK(capsule_encode_routes(enc, sizeof(enc), r, nr) > 0);
}

static void roundtrip_routes(const uint8_t *v, size_t len)
{
	struct capsule_range a[MAX_ENTRIES], b[MAX_ENTRIES];
	size_t n, m, k1, k2;
	ssize_t elen;
	uint64_t t, l;

	if (capsule_decode_routes(v, len, a, MAX_ENTRIES, &n) < 0)
		return;
	FUZZ_CHECK(capsule_routes_check(a, n) == 0);
	elen = capsule_encode_routes(enc, sizeof(enc), a, n);
	FUZZ_CHECK(elen > 0);
	FUZZ_CHECK(mpq_varint_get(enc, (size_t)elen, &t, &k1) == 0 &&
		   t == CAPSULE_ROUTE_ADVERTISEMENT);
	FUZZ_CHECK(mpq_varint_get(enc + k1, (size_t)elen - k1, &l, &k2) == 0 && l == len);
	FUZZ_CHECK(memcmp(enc + k1 + k2, v, len) == 0); /* the route layout has one encoding */
	FUZZ_CHECK(capsule_decode_routes(enc + k1 + k2, l, b, MAX_ENTRIES, &m) == 0);
	FUZZ_CHECK(m == n && memcmp(a, b, n * sizeof(a[0])) == 0);
}

static void check_h3dgram(const uint8_t *d, size_t len)
{
	int64_t sid;
	uint64_t ctx;
	size_t off;
	uint8_t hdr[H3DGRAM_MAX_HEADER];
	ssize_t hlen;

	if (h3dgram_parse(d, len, &sid, &ctx, &off) < 0)
		return;
	FUZZ_CHECK(off <= len && sid >= 0 && sid % 4 == 0);
	hlen = h3dgram_put_header(hdr, sizeof(hdr), sid, ctx);
	FUZZ_CHECK(hlen > 0 && (size_t)hlen <= off);
}

static int capsule_fuzz_cb(void *arg, uint64_t type, const uint8_t *value, size_t len)
{
	size_t *count = arg;

	(*count)++;
	switch (type) {
	case CAPSULE_ADDRESS_ASSIGN:
	case CAPSULE_ADDRESS_REQUEST:
		roundtrip_addresses(type, value, len);
		break;
	case CAPSULE_ROUTE_ADVERTISEMENT:
		roundtrip_routes(value, len);
		break;
	case CAPSULE_DATAGRAM:
		check_h3dgram(value, len);
		break;
	default:
		break;
	}
	return *count == 50 ? -ECANCELED : 0; /* exercise the callback's error path */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct capsule_parser p;
	size_t piece, count = 0;
	int r = 0;

	if (size < 1)
		return 0;
	piece = 1 + data[0] % 32;
	data++;
	size--;
	check_h3dgram(data, size);
	roundtrip_addresses(CAPSULE_ADDRESS_ASSIGN, data, size);
	roundtrip_routes(data, size);

	if (capsule_parser_init(&p, 256) < 0)
		return 0;
	for (size_t off = 0; off < size && r == 0; off += piece) {
		size_t n = size - off < piece ? size - off : piece;

		r = capsule_parser_feed(&p, data + off, n, capsule_fuzz_cb, &count);
		FUZZ_CHECK(r == 0 || r == -EMSGSIZE || r == -ECANCELED);
		FUZZ_CHECK(p.len <= p.cap);
	}
	capsule_parser_done(&p);
	return 0;
}

/* Piece size, then the stream. */
static const uint8_t seed_assign[] = {
	7,    0x01, 0x1a, 0x00, 0x04, 10,   0, 0, 2, 32, /* 10.0.0.2/32 */
	0x01, 0x06, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,	 0, 0, 0, 0, 0, 0, 0, 0, 64,
};
static const uint8_t seed_request[] = {
	3,    0x02, 0x1a, 0x01, 0x04, 0, 0, 0, 0, 32, /* any IPv4 /32, any IPv6 /64 */
	0x02, 0x06, 0,	  0,	0,    0, 0, 0, 0, 0,  0, 0, 0, 0, 0, 0, 0, 0, 64,
};
static const uint8_t seed_routes[] = {
	31, 0x03, 0x36, 0x04, 10, 0, 0, 0,  10,	  0,	0,    255,  0x00, 0x04, 192,
	0,  2,	  0,	192,  0,  2, 7, 17, 0x06, 0x20, 0x01, 0x0d, 0xb8, 0,	0,
	0,  0,	  0,	0,    0,  0, 0, 0,  0,	  0,	0x20, 0x01, 0x0d, 0xb8, 0,
	0,  0,	  0,	0,    0,  0, 0, 0,  0,	  0xff, 0xff, 0x00,
};
/* DATAGRAM capsule (context 0, 3 bytes), unknown type 0x1234, empty ADDRESS_ASSIGN. */
static const uint8_t seed_mixed[] = {
	1, 0x00, 0x04, 0x00, 0x45, 0x00, 0x00, 0x52, 0x34, 0x02, 0xaa, 0xbb, 0x01, 0x00,
};
static const struct {
	const uint8_t *data;
	size_t len;
} seeds[] = {
	{seed_assign, sizeof(seed_assign)},
	{seed_request, sizeof(seed_request)},
	{seed_routes, sizeof(seed_routes)},
	{seed_mixed, sizeof(seed_mixed)},
};

size_t fuzz_seed(unsigned i, uint8_t *buf, size_t size)
{
	if (i >= sizeof(seeds) / sizeof(seeds[0]) || seeds[i].len > size)
		return 0;
	memcpy(buf, seeds[i].data, seeds[i].len);
	return seeds[i].len;
}
