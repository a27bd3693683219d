/* SPDX-License-Identifier: MIT */
/*
 * Inner IP packets: header parsing for routing and anti-spoofing, and the ICMP "too big" errors
 * a tunnel sends back when an inner packet does not fit in a QUIC DATAGRAM frame.
 */
#ifndef MPQ_IPPKT_H
#define MPQ_IPPKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define IPPKT_ICMP4_MAX 576  /* RFC 1812 §4.3.2.3: an ICMPv4 error stays within 576 bytes */
#define IPPKT_ICMP6_MAX 1280 /* RFC 4443 §2.4 (c): within the IPv6 minimum MTU */

/* What ippkt_parse() found. Pointers borrow from the parsed packet. */
struct ippkt_info {
	uint8_t family;	    /* AF_INET or AF_INET6 */
	uint8_t proto;	    /* IPv4 Protocol; IPv6: the Next Header after the walked extensions */
	const uint8_t *src; /* borrowed: 4 or 16 bytes, network order */
	const uint8_t *dst; /* borrowed */
	size_t hdr_len;	    /* IPv4: IHL * 4; IPv6: 40 + the extension headers walked */
	size_t total_len;   /* IPv4: Total Length; IPv6: 40 + Payload Length. <= the buffer */
	bool df; /* IPv4: Don't Fragment set; IPv6: always true (routers never fragment) */
	bool first_fragment; /* fragment offset 0: true for unfragmented packets too */
};

/*
 * Parse the IP header of pkt (len bytes; trailing bytes beyond total_len are ignored). IPv6
 * extension headers Hop-by-Hop (0), Routing (43), Fragment (44), Destination Options (60) and
 * AH (51) are walked, at most 8 of them, so that proto is the upper-layer protocol (RFC 9484
 * §4.8); the walk stops at a non-first fragment. The IPv4 header checksum is not verified.
 * Returns 0, or -EINVAL: version not 4 or 6, header truncated, IHL < 5, Total Length beyond len
 * or shorter than the header, an extension header running past the packet.
 */
int ippkt_parse(const uint8_t *pkt, size_t len, struct ippkt_info *ret);

/*
 * Build into out an ICMPv4 Destination Unreachable / Fragmentation Needed (type 3 code 4, with
 * the next-hop MTU, RFC 1191) or an ICMPv6 Packet Too Big (type 2 code 0, RFC 4443 §3.2) in
 * reply to pkt, from address `from` (our address of pkt's family, 4 or 16 bytes) to pkt's
 * source. The reply quotes as much of pkt (up to its total length) as fits within 576 bytes
 * (IPv4) or 1280 bytes (IPv6) and within size. TTL / Hop Limit 64, IPv4 TOS 0xc0 (network
 * control, as Linux sends ICMP errors). Checksums are complete. An IPv4 MTU above 65535 is sent
 * as 65535.
 * Returns the reply's length; -EINVAL if pkt does not parse; -EPERM where RFC 1122 §3.2.2 /
 * RFC 4443 §2.4 (e) forbid an error: pkt is an ICMP error (or an ICMPv6 Redirect, or ICMP
 * whose type is not in pkt), an IPv4 non-first fragment or an IPv6 non-first fragment of ICMPv6,
 * a source that is unspecified, multicast, IPv4 0/8, loopback or 240/4 (broadcast included),
 * an IPv4 multicast or broadcast destination, or IPv4 without DF (fragment instead);
 * -ENOBUFS if size cannot hold the headers, pkt's IP header and 8 bytes of its payload.
 * IPv6 non-first fragments of other protocols get their error: the sender needs it to shrink
 * its fragments.
 */
ssize_t ippkt_make_too_big(uint8_t *out, size_t size, const uint8_t *pkt, size_t len, uint32_t mtu,
			   const uint8_t *from);

/*
 * Internet checksum (RFC 1071) of data, added to initial (a partial sum of 16-bit big-endian
 * words, e.g. of a pseudo-header). Returns the value to store in a checksum field, in host
 * order (store it big-endian). Over data that includes a correct checksum field it returns 0.
 * To chain an even-length part: initial = (uint16_t)~ippkt_checksum(part, n, 0).
 */
uint16_t ippkt_checksum(const void *data, size_t len, uint32_t initial);

#endif
