/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "ippkt.h"
#include "mpq.h"

#define IP4_HDR	    20
#define IP6_HDR	    40
#define ICMP_HDR    8
#define IPPROTO_AH_ 51
#define MAX_EXTHDRS 8

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

uint16_t ippkt_checksum(const void *data, size_t len, uint32_t initial)
{
	const uint8_t *p = data;
	uint64_t sum = initial;

	for (; len >= 2; p += 2, len -= 2)
		sum += get16(p);
	if (len)
		sum += (uint32_t)p[0] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static int parse4(const uint8_t *pkt, size_t len, struct ippkt_info *ret)
{
	size_t ihl, total;
	uint16_t frag;

	if (len < IP4_HDR)
		return -EINVAL;
	ihl = (size_t)(pkt[0] & 0x0f) * 4;
	total = get16(pkt + 2);
	if (ihl < IP4_HDR || ihl > len || total > len || total < ihl)
		return -EINVAL;
	frag = get16(pkt + 6);
	ret->family = AF_INET;
	ret->proto = pkt[9];
	ret->src = pkt + 12;
	ret->dst = pkt + 16;
	ret->hdr_len = ihl;
	ret->total_len = total;
	ret->df = frag & 0x4000;
	ret->first_fragment = (frag & 0x1fff) == 0;
	return 0;
}

static int parse6(const uint8_t *pkt, size_t len, struct ippkt_info *ret)
{
	size_t total, off = IP6_HDR, ext;
	uint8_t nh;
	bool first = true;

	if (len < IP6_HDR)
		return -EINVAL;
	total = IP6_HDR + (size_t)get16(pkt + 4);
	if (total > len)
		return -EINVAL;
	nh = pkt[6];
	for (int i = 0; i < MAX_EXTHDRS && first; i++) {
		switch (nh) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
			if (total - off < 8)
				return -EINVAL;
			ext = ((size_t)pkt[off + 1] + 1) * 8;
			break;
		case IPPROTO_FRAGMENT:
			if (total - off < 8)
				return -EINVAL;
			ext = 8;
			first = (get16(pkt + off + 2) & 0xfff8) == 0;
			break;
		case IPPROTO_AH_:
			if (total - off < 8)
				return -EINVAL;
			ext = ((size_t)pkt[off + 1] + 2) * 4;
			break;
		default:
			goto done;
		}
		if (total - off < ext)
			return -EINVAL;
		nh = pkt[off];
		off += ext;
	}
done:
	ret->family = AF_INET6;
	ret->proto = nh;
	ret->src = pkt + 8;
	ret->dst = pkt + 24;
	ret->hdr_len = off;
	ret->total_len = total;
	ret->df = true;
	ret->first_fragment = first;
	return 0;
}

int ippkt_parse(const uint8_t *pkt, size_t len, struct ippkt_info *ret)
{
	if (len < 1)
		return -EINVAL;
	switch (pkt[0] >> 4) {
	case 4:
		return parse4(pkt, len, ret);
	case 6:
		return parse6(pkt, len, ret);
	default:
		return -EINVAL;
	}
}

/* RFC 1122 §3.2.2 and §3.2.1.3: may pkt (IPv4) draw an ICMP error? */
static bool icmp4_allowed(const uint8_t *pkt, const struct ippkt_info *info)
{
	uint8_t type;

	if (!info->df || !info->first_fragment)
		return false;
	/* Source 0/8, 127/8, multicast, 240/4 (limited broadcast included): not one host. */
	if (info->src[0] == 0 || info->src[0] == 127 || info->src[0] >= 224)
		return false;
	if (info->dst[0] >= 224)
		return false;
	if (info->proto == IPPROTO_ICMP) {
		if (info->total_len <= info->hdr_len)
			return false;
		type = pkt[info->hdr_len];
		/* Unreachable, Source Quench, Redirect, Time Exceeded, Parameter Problem. */
		if (type == 3 || type == 4 || type == 5 || type == 11 || type == 12)
			return false;
	}
	return true;
}

/* RFC 4443 §2.4 (e); a Packet Too Big may answer a multicast destination. */
static bool icmp6_allowed(const uint8_t *pkt, const struct ippkt_info *info)
{
	static const uint8_t unspecified[16];
	uint8_t type;

	if (info->src[0] == 0xff || memcmp(info->src, unspecified, 16) == 0)
		return false;
	if (info->proto == IPPROTO_ICMPV6) {
		if (!info->first_fragment || info->total_len <= info->hdr_len)
			return false;
		type = pkt[info->hdr_len];
		if (type < 128 || type == 137) /* errors, Redirect */
			return false;
	}
	return true;
}

ssize_t ippkt_make_too_big(uint8_t *out, size_t size, const uint8_t *pkt, size_t len, uint32_t mtu,
			   const uint8_t *from)
{
	struct ippkt_info info;
	size_t hdr, limit, quote, total;
	uint16_t sum;
	uint8_t *icmp;

	if (ippkt_parse(pkt, len, &info) < 0)
		return -EINVAL;
	if (info.family == AF_INET) {
		if (!icmp4_allowed(pkt, &info))
			return -EPERM;
		hdr = IP4_HDR + ICMP_HDR;
		limit = IPPKT_ICMP4_MAX;
	} else {
		if (!icmp6_allowed(pkt, &info))
			return -EPERM;
		hdr = IP6_HDR + ICMP_HDR;
		limit = IPPKT_ICMP6_MAX;
	}
	limit = MPQ_MIN(limit, size);
	/* At least pkt's IP header and 8 bytes of payload (RFC 792), or all of a shorter pkt. */
	quote = MPQ_MIN(info.total_len, (info.family == AF_INET ? info.hdr_len : IP6_HDR) + 8);
	if (limit < hdr + quote)
		return -ENOBUFS;
	quote = MPQ_MIN(info.total_len, limit - hdr);
	total = hdr + quote;
	/* pkt may not overlap out; memmove keeps an in-place reply well defined anyway. */
	memmove(out + hdr, pkt, quote);

	if (info.family == AF_INET) {
		memset(out, 0, hdr);
		out[0] = 0x45;
		out[1] = 0xc0;
		put16(out + 2, (uint16_t)total);
		out[8] = 64;
		out[9] = IPPROTO_ICMP;
		memcpy(out + 12, from, 4);
		memcpy(out + 16, out + hdr + 12, 4); /* the quoted packet's source */
		put16(out + 10, ippkt_checksum(out, IP4_HDR, 0));
		icmp = out + IP4_HDR;
		icmp[0] = 3;
		icmp[1] = 4;
		put16(icmp + 6, (uint16_t)MPQ_MIN(mtu, 0xffffu));
		put16(icmp + 2, ippkt_checksum(icmp, ICMP_HDR + quote, 0));
	} else {
		uint8_t pseudo[40];

		memset(out, 0, hdr);
		out[0] = 0x60;
		put16(out + 4, (uint16_t)(ICMP_HDR + quote));
		out[6] = IPPROTO_ICMPV6;
		out[7] = 64;
		memcpy(out + 8, from, 16);
		memcpy(out + 24, out + hdr + 8, 16);
		icmp = out + IP6_HDR;
		icmp[0] = 2;
		icmp[4] = (uint8_t)(mtu >> 24);
		icmp[5] = (uint8_t)(mtu >> 16);
		icmp[6] = (uint8_t)(mtu >> 8);
		icmp[7] = (uint8_t)mtu;
		/* Pseudo-header (RFC 8200 §8.1): source, destination, length, next header. */
		memcpy(pseudo, out + 8, 32);
		memset(pseudo + 32, 0, 8);
		put16(pseudo + 34, (uint16_t)(ICMP_HDR + quote));
		pseudo[39] = IPPROTO_ICMPV6;
		sum = (uint16_t)~ippkt_checksum(pseudo, sizeof(pseudo), 0);
		put16(icmp + 2, ippkt_checksum(icmp, ICMP_HDR + quote, sum));
	}
	return (ssize_t)total;
}
