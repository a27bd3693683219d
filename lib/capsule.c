/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "capsule.h"
#include "mpq.h"
#include "varint.h"

#define CAPSULE_MAX_HEADER (2 * MPQ_VARINT_MAXLEN)

int capsule_parser_init(struct capsule_parser *p, size_t max_value)
{
	if (max_value == 0)
		max_value = CAPSULE_MAX_VALUE;
	p->buf = malloc(max_value + CAPSULE_MAX_HEADER);
	if (!p->buf)
		return -ENOMEM;
	p->len = 0;
	p->cap = max_value + CAPSULE_MAX_HEADER;
	p->max_value = max_value;
	return 0;
}

void capsule_parser_done(struct capsule_parser *p)
{
	free(p->buf);
	p->buf = NULL;
	p->len = 0;
	p->cap = 0;
}

static size_t varint_size(uint8_t first)
{
	return (size_t)1 << (first >> 6);
}

/*
 * How many bytes the capsule starting at b (have bytes known) needs in total, as far as can be
 * told from those bytes: the next milestone while the header is incomplete, the whole capsule
 * once it is complete. Sets *hdr to the header length once known, else 0.
 */
static int capsule_need(const struct capsule_parser *p, const uint8_t *b, size_t have,
			size_t *ret_need, size_t *ret_hdr, uint64_t *ret_type)
{
	size_t n1, n2, k;
	uint64_t type, vlen;

	*ret_hdr = 0;
	if (have == 0) {
		*ret_need = 1;
		return 0;
	}
	n1 = varint_size(b[0]);
	if (have <= n1) {
		*ret_need = n1 + 1;
		return 0;
	}
	n2 = varint_size(b[n1]);
	if (have < n1 + n2) {
		*ret_need = n1 + n2;
		return 0;
	}
	mpq_varint_get(b, n1, &type, &k);
	mpq_varint_get(b + n1, n2, &vlen, &k);
	if (vlen > p->max_value)
		return -EMSGSIZE;
	*ret_hdr = n1 + n2;
	*ret_type = type;
	*ret_need = n1 + n2 + (size_t)vlen;
	return 0;
}

/* Complete the capsule held in p->buf from data; returns bytes consumed or -errno. */
static ssize_t feed_buffered(struct capsule_parser *p, const uint8_t *data, size_t len,
			     capsule_cb cb, void *arg)
{
	size_t used = 0, need, hdr, take;
	uint64_t type = 0;
	int r;

	for (;;) {
		r = capsule_need(p, p->buf, p->len, &need, &hdr, &type);
		if (r < 0)
			return r;
		if (hdr && p->len == need)
			break;
		if (used == len)
			return (ssize_t)used;
		take = MPQ_MIN(need - p->len, len - used);
		memcpy(p->buf + p->len, data + used, take);
		p->len += take;
		used += take;
	}
	p->len = 0;
	r = cb(arg, type, p->buf + hdr, need - hdr);
	if (r < 0)
		return r;
	return (ssize_t)used;
}

int capsule_parser_feed(struct capsule_parser *p, const uint8_t *data, size_t len, capsule_cb cb,
			void *arg)
{
	size_t need, hdr;
	uint64_t type = 0;
	ssize_t used;
	int r;

	if (p->len > 0) {
		used = feed_buffered(p, data, len, cb, arg);
		if (used < 0)
			return (int)used;
		data += used;
		len -= (size_t)used;
	}
	while (len > 0) {
		r = capsule_need(p, data, len, &need, &hdr, &type);
		if (r < 0)
			return r;
		if (!hdr || need > len) {
			/* A partial capsule: len < need <= cap, so it fits. */
			memcpy(p->buf, data, len);
			p->len = len;
			return 0;
		}
		r = cb(arg, type, data + hdr, need - hdr);
		if (r < 0)
			return r;
		data += need;
		len -= need;
	}
	return 0;
}

/* True if every bit of addr after the first plen bits is zero. */
static bool host_bits_zero(const uint8_t *addr, unsigned alen, unsigned plen)
{
	unsigned i = plen / 8;

	if (plen % 8) {
		if (addr[i] & (0xff >> (plen % 8)))
			return false;
		i++;
	}
	for (; i < alen; i++)
		if (addr[i])
			return false;
	return true;
}

static int version_to_family(uint8_t version)
{
	return version == 4 ? AF_INET : version == 6 ? AF_INET6 : 0;
}

static uint8_t family_to_version(int family)
{
	return family == AF_INET ? 4 : 6;
}

int capsule_decode_addresses(const uint8_t *v, size_t len, struct capsule_addr *out, size_t max,
			     size_t *ret_n)
{
	size_t off = 0, n = 0, k;
	uint64_t id;
	unsigned alen;
	int family;

	while (off < len) {
		if (mpq_varint_get(v + off, len - off, &id, &k) < 0)
			return -EPROTO;
		off += k;
		if (off >= len)
			return -EPROTO;
		family = version_to_family(v[off++]);
		if (!family)
			return -EPROTO;
		alen = mpq_family_addrlen(family);
		if (len - off < alen + 1)
			return -EPROTO;
		if (v[off + alen] > mpq_family_maxlen(family))
			return -EPROTO;
		if (!host_bits_zero(v + off, alen, v[off + alen]))
			return -EPROTO;
		if (n == max)
			return -E2BIG;
		memset(&out[n], 0, sizeof(out[n]));
		out[n].request_id = id;
		out[n].prefix.family = (uint8_t)family;
		memcpy(out[n].prefix.addr, v + off, alen);
		out[n].prefix.len = v[off + alen];
		off += alen + 1;
		n++;
	}
	*ret_n = n;
	return 0;
}

int capsule_check_address_request(const struct capsule_addr *a, size_t n)
{
	if (n == 0)
		return -EPROTO;
	for (size_t i = 0; i < n; i++)
		if (a[i].request_id == 0)
			return -EPROTO;
	return 0;
}

static bool prefix_valid(const struct mpq_prefix *p)
{
	return (p->family == AF_INET || p->family == AF_INET6) &&
	       p->len <= mpq_family_maxlen(p->family);
}

ssize_t capsule_encode_addresses(uint8_t *buf, size_t size, uint64_t type,
				 const struct capsule_addr *a, size_t n)
{
	size_t vlen = 0, total;
	uint8_t *q = buf;

	if (type != CAPSULE_ADDRESS_ASSIGN && type != CAPSULE_ADDRESS_REQUEST)
		return -EINVAL;
	if (type == CAPSULE_ADDRESS_REQUEST && capsule_check_address_request(a, n) < 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		const struct mpq_prefix *p = &a[i].prefix;

		if (a[i].request_id > MPQ_VARINT_MAX || !prefix_valid(p) ||
		    !host_bits_zero(p->addr, mpq_family_addrlen(p->family), p->len))
			return -EINVAL;
		vlen += mpq_varint_len(a[i].request_id) + 2 + mpq_family_addrlen(p->family);
	}
	total = mpq_varint_len(type) + mpq_varint_len(vlen) + vlen;
	if (vlen > MPQ_VARINT_MAX || total > size)
		return -ENOBUFS;
	q = mpq_varint_put(q, type);
	q = mpq_varint_put(q, vlen);
	for (size_t i = 0; i < n; i++) {
		const struct mpq_prefix *p = &a[i].prefix;
		unsigned alen = mpq_family_addrlen(p->family);

		q = mpq_varint_put(q, a[i].request_id);
		*q++ = family_to_version(p->family);
		memcpy(q, p->addr, alen);
		q += alen;
		*q++ = p->len;
	}
	return (ssize_t)total;
}

/* -1, 0, 1 as memcmp, over the family's address length. */
static int addr_cmp(int family, const uint8_t *a, const uint8_t *b)
{
	return memcmp(a, b, mpq_family_addrlen(family));
}

/*
 * Check range r[i] against the ranges before it. zero_first is the index of the first
 * protocol-0 range of r[i]'s version, zero_end one past its last (the protocol-0 ranges of a
 * version come first in that version's block, sorted and disjoint).
 */
static bool range_follows(const struct capsule_range *r, size_t i, size_t zero_first,
			  size_t zero_end)
{
	const struct capsule_range *c = &r[i], *prev;
	size_t lo, hi;

	if (c->family != AF_INET && c->family != AF_INET6)
		return false;
	if (addr_cmp(c->family, c->start, c->end) > 0)
		return false;
	if (i > 0) {
		prev = &r[i - 1];
		if (family_to_version(prev->family) > family_to_version(c->family))
			return false;
		if (prev->family == c->family) {
			if (prev->ipproto > c->ipproto)
				return false;
			if (prev->ipproto == c->ipproto &&
			    addr_cmp(c->family, prev->end, c->start) >= 0)
				return false;
		}
	}
	if (c->ipproto == 0 || zero_first == zero_end)
		return true;
	/* Last protocol-0 range starting at or before c->end: the only one that can overlap. */
	lo = zero_first;
	hi = zero_end;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (addr_cmp(c->family, r[mid].start, c->end) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == zero_first)
		return true;
	return addr_cmp(c->family, r[lo - 1].end, c->start) < 0;
}

/* Track the protocol-0 block of the current version while walking the list. */
static void zero_block_update(const struct capsule_range *r, size_t i, size_t *zero_first,
			      size_t *zero_end)
{
	if (i == 0 || r[i - 1].family != r[i].family)
		*zero_first = *zero_end = i;
	if (r[i].ipproto == 0)
		*zero_end = i + 1;
}

int capsule_routes_check(const struct capsule_range *r, size_t n)
{
	size_t zf = 0, ze = 0;

	for (size_t i = 0; i < n; i++) {
		if (i == 0 || r[i - 1].family != r[i].family)
			zf = ze = i;
		if (!range_follows(r, i, zf, ze))
			return -EINVAL;
		zero_block_update(r, i, &zf, &ze);
	}
	return 0;
}

int capsule_decode_routes(const uint8_t *v, size_t len, struct capsule_range *out, size_t max,
			  size_t *ret_n)
{
	size_t off = 0, n = 0, zf = 0, ze = 0;
	unsigned alen;
	int family;

	while (off < len) {
		family = version_to_family(v[off]);
		if (!family)
			return -EPROTO;
		alen = mpq_family_addrlen(family);
		if (len - off < 2 + 2 * (size_t)alen)
			return -EPROTO;
		if (n == max)
			return -E2BIG;
		memset(&out[n], 0, sizeof(out[n]));
		out[n].family = (uint8_t)family;
		memcpy(out[n].start, v + off + 1, alen);
		memcpy(out[n].end, v + off + 1 + alen, alen);
		out[n].ipproto = v[off + 1 + 2 * alen];
		if (n == 0 || out[n - 1].family != out[n].family)
			zf = ze = n;
		if (!range_follows(out, n, zf, ze))
			return -EPROTO;
		zero_block_update(out, n, &zf, &ze);
		off += 2 + 2 * (size_t)alen;
		n++;
	}
	*ret_n = n;
	return 0;
}

ssize_t capsule_encode_routes(uint8_t *buf, size_t size, const struct capsule_range *r, size_t n)
{
	size_t vlen = 0, total;
	uint8_t *q = buf;

	if (capsule_routes_check(r, n) < 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		vlen += 2 + 2 * (size_t)mpq_family_addrlen(r[i].family);
	total = mpq_varint_len(CAPSULE_ROUTE_ADVERTISEMENT) + mpq_varint_len(vlen) + vlen;
	if (vlen > MPQ_VARINT_MAX || total > size)
		return -ENOBUFS;
	q = mpq_varint_put(q, CAPSULE_ROUTE_ADVERTISEMENT);
	q = mpq_varint_put(q, vlen);
	for (size_t i = 0; i < n; i++) {
		unsigned alen = mpq_family_addrlen(r[i].family);

		*q++ = family_to_version(r[i].family);
		memcpy(q, r[i].start, alen);
		q += alen;
		memcpy(q, r[i].end, alen);
		q += alen;
		*q++ = r[i].ipproto;
	}
	return (ssize_t)total;
}

void capsule_range_from_prefix(struct capsule_range *r, const struct mpq_prefix *p, uint8_t ipproto)
{
	unsigned alen = mpq_family_addrlen(p->family);

	memset(r, 0, sizeof(*r));
	r->family = p->family;
	r->ipproto = ipproto;
	for (unsigned i = 0; i < alen; i++) {
		unsigned bits = p->len > i * 8 ? p->len - i * 8 : 0;
		uint8_t mask = bits >= 8 ? 0xff : (uint8_t)(0xff00 >> bits);

		r->start[i] = p->addr[i] & mask;
		r->end[i] = p->addr[i] | (uint8_t)~mask;
	}
}

/* Order by (version, start) for ranges of one protocol. */
static int range_cmp(const struct capsule_range *a, const struct capsule_range *b)
{
	if (a->family != b->family)
		return family_to_version(a->family) < family_to_version(b->family) ? -1 : 1;
	return addr_cmp(a->family, a->start, b->start);
}

/* True if b starts at or before the address right after a's end (overlap or adjacency). */
static bool range_touches(const struct capsule_range *a, const struct capsule_range *b)
{
	unsigned alen = mpq_family_addrlen(a->family);
	uint8_t next[16];
	int i;

	if (addr_cmp(a->family, b->start, a->end) <= 0)
		return true;
	memcpy(next, a->end, alen);
	for (i = (int)alen - 1; i >= 0; i--)
		if (++next[i] != 0)
			break;
	if (i < 0)
		return false; /* a ends at the last address: b cannot start after it */
	return memcmp(next, b->start, alen) == 0;
}

int capsule_ranges_from_prefixes(const struct mpq_prefix *p, size_t n, struct capsule_range *out,
				 size_t max, size_t *ret_n)
{
	size_t cnt = 0;

	for (size_t k = 0; k < n; k++) {
		struct capsule_range r;
		size_t i, j;

		if (!prefix_valid(&p[k]))
			return -EINVAL;
		capsule_range_from_prefix(&r, &p[k], 0);
		/* Skip the ranges wholly before r and not adjacent to it. */
		for (i = 0; i < cnt; i++) {
			if (out[i].family != r.family) {
				if (range_cmp(&out[i], &r) > 0)
					break;
				continue;
			}
			if (addr_cmp(r.family, out[i].start, r.start) >= 0 ||
			    range_touches(&out[i], &r))
				break;
		}
		/* Absorb every range from i on that r touches. */
		for (j = i; j < cnt && out[j].family == r.family; j++) {
			const struct capsule_range *lo = range_cmp(&out[j], &r) <= 0 ? &out[j] : &r;
			const struct capsule_range *hi = lo == &r ? &out[j] : &r;

			if (!range_touches(lo, hi))
				break;
			if (addr_cmp(r.family, out[j].start, r.start) < 0)
				memcpy(r.start, out[j].start, sizeof(r.start));
			if (addr_cmp(r.family, out[j].end, r.end) > 0)
				memcpy(r.end, out[j].end, sizeof(r.end));
		}
		/* Replace out[i..j) by r. */
		if (j == i && cnt == max)
			return -E2BIG;
		memmove(&out[i + 1], &out[j], (cnt - j) * sizeof(out[0]));
		out[i] = r;
		cnt = cnt - (j - i) + 1;
	}
	*ret_n = cnt;
	return 0;
}

ssize_t h3dgram_put_header(uint8_t *buf, size_t size, int64_t stream_id, uint64_t context_id)
{
	uint64_t q;
	size_t need;

	if (stream_id < 0 || stream_id % 4 != 0 || (uint64_t)stream_id > MPQ_VARINT_MAX ||
	    context_id > MPQ_VARINT_MAX)
		return -EINVAL;
	q = (uint64_t)stream_id / 4;
	need = mpq_varint_len(q) + mpq_varint_len(context_id);
	if (need > size)
		return -ENOBUFS;
	mpq_varint_put(mpq_varint_put(buf, q), context_id);
	return (ssize_t)need;
}

int h3dgram_parse(const uint8_t *d, size_t len, int64_t *ret_stream_id, uint64_t *ret_context_id,
		  size_t *ret_payload_off)
{
	uint64_t q, ctx;
	size_t n1, n2;

	if (mpq_varint_get(d, len, &q, &n1) < 0)
		return -EPROTO;
	if (q > (UINT64_C(1) << 60) - 1)
		return -EPROTO;
	if (mpq_varint_get(d + n1, len - n1, &ctx, &n2) < 0)
		return -EBADMSG;
	*ret_stream_id = (int64_t)(q * 4);
	*ret_context_id = ctx;
	*ret_payload_off = n1 + n2;
	return 0;
}
