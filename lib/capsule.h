/* SPDX-License-Identifier: MIT */
/*
 * Capsules (RFC 9297 §3.2) and the CONNECT-IP capsules (RFC 9484 §4.7), and the HTTP/3
 * Datagram header (RFC 9297 §2.1 with RFC 9484 §6's Context ID). Wire layouts are drawn in
 * docs/protocol.md.
 *
 * A capsule on the request stream is Type (varint), Length (varint), Value (Length bytes).
 * Addresses in struct capsule_addr and struct capsule_range are in network byte order; for
 * IPv4 only the first 4 bytes are used and the others are zero.
 *
 * Every decoder checks everything RFC 9484 says makes a capsule malformed and returns -EPROTO;
 * the caller then aborts the request stream with H3_DATAGRAM_ERROR (RFC 9297 §3.3).
 */
#ifndef MPQ_CAPSULE_H
#define MPQ_CAPSULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ipaddr.h"

#define CAPSULE_DATAGRAM	    0x00
#define CAPSULE_ADDRESS_ASSIGN	    0x01
#define CAPSULE_ADDRESS_REQUEST	    0x02
#define CAPSULE_ROUTE_ADVERTISEMENT 0x03

#define CAPSULE_MAX_VALUE 16384 /* default cap on one capsule's Value length */

/*
 * Worst-case encoded sizes, for sizing buffers: a whole capsule (Type and Length varints, at
 * most 8 bytes each) of n Assigned/Requested Addresses (Request ID varint up to 8 bytes, IP
 * Version, IPv6 address, Prefix Length) or of n IP Address Ranges (IP Version, two IPv6
 * addresses, IP Protocol).
 */
#define CAPSULE_HDR_MAX		 16
#define CAPSULE_ADDR_ENTRY_MAX	 (8 + 1 + 16 + 1)
#define CAPSULE_RANGE_ENTRY_MAX	 (1 + 16 + 16 + 1)
#define CAPSULE_ADDRESSES_MAX(n) (CAPSULE_HDR_MAX + (size_t)(n)*CAPSULE_ADDR_ENTRY_MAX)
#define CAPSULE_ROUTES_MAX(n)	 (CAPSULE_HDR_MAX + (size_t)(n)*CAPSULE_RANGE_ENTRY_MAX)

/* One Assigned Address (ADDRESS_ASSIGN) or Requested Address (ADDRESS_REQUEST). */
struct capsule_addr {
	uint64_t request_id;	  /* 0 in unsolicited assignments; never 0 in a request */
	struct mpq_prefix prefix; /* host bits beyond prefix.len are zero on the wire */
};

/* One IP Address Range of a ROUTE_ADVERTISEMENT. */
struct capsule_range {
	uint8_t family;	   /* AF_INET or AF_INET6 */
	uint8_t start[16]; /* inclusive */
	uint8_t end[16];   /* inclusive */
	uint8_t ipproto;   /* 0 = all protocols (ICMP is always allowed) */
};

/*
 * Incremental parser of the capsule stream that follows the 2xx response on a CONNECT-IP
 * request stream. It buffers at most one partial capsule.
 */
struct capsule_parser {
	uint8_t *buf; /* owned: max_value + 16 bytes, allocated once by capsule_parser_init() */
	size_t len;   /* bytes of a partial capsule held in buf */
	size_t cap;
	size_t max_value; /* larger declared Length: -EMSGSIZE */
};

/*
 * Prepare p for a new stream. max_value caps one capsule's Value length (0 selects
 * CAPSULE_MAX_VALUE); the buffer is allocated here, never while parsing.
 * Returns 0 or -ENOMEM.
 */
int capsule_parser_init(struct capsule_parser *p, size_t max_value);

/* Free p's buffer. Safe on a zeroed or already finished parser. */
void capsule_parser_done(struct capsule_parser *p);

/* True if p holds part of a capsule: a stream that ends now is malformed (RFC 9297 §3.3). */
static inline bool capsule_parser_pending(const struct capsule_parser *p)
{
	return p->len > 0;
}

/*
 * Called once per complete capsule, known type or not (RFC 9297 says to skip unknown ones:
 * return 0). value is borrowed: valid only during the call. A negative return stops parsing and
 * is returned by capsule_parser_feed().
 */
typedef int (*capsule_cb)(void *arg, uint64_t type, const uint8_t *value, size_t len);

/*
 * Feed stream bytes, split anywhere. Complete capsules are passed to cb in order; a trailing
 * partial capsule is kept for the next call. Capsules wholly inside data are not copied.
 * Returns 0, -EMSGSIZE if a capsule's declared Length exceeds max_value (reset the stream), or
 * cb's negative return. After a negative return the parser must not be fed again.
 */
int capsule_parser_feed(struct capsule_parser *p, const uint8_t *data, size_t len, capsule_cb cb,
			void *arg);

/*
 * Decode the Value of an ADDRESS_ASSIGN or ADDRESS_REQUEST capsule (same layout) into out[0..].
 * *ret_n receives the entry count (0 is valid for ADDRESS_ASSIGN: "all addresses removed").
 * Returns 0; -EPROTO if malformed (truncated entry, IP Version not 4 or 6, Prefix Length longer
 * than the address, address bits beyond the prefix not zero: RFC 9484 §4.7.1/§4.7.2 say they
 * MUST be zero); -E2BIG if there are more than max entries. out is clobbered on error.
 */
int capsule_decode_addresses(const uint8_t *v, size_t len, struct capsule_addr *out, size_t max,
			     size_t *ret_n);

/*
 * The extra rules for a received ADDRESS_REQUEST (RFC 9484 §4.7.2): at least one entry and no
 * Request ID 0. Returns 0 or -EPROTO (abort the stream).
 */
int capsule_check_address_request(const struct capsule_addr *a, size_t n);

/*
 * Decode the Value of a ROUTE_ADVERTISEMENT into out[0..], *ret_n entries (0 is valid: "no
 * routes"). Enforces RFC 9484 §4.7.3: IP Version 4 or 6, Start <= End, ranges ordered by
 * (version, IP protocol) and, for equal version and protocol, End of one < Start of the next;
 * and also the optional check that no range with a non-zero protocol overlaps a protocol-0
 * range of the same version.
 * Returns 0, -EPROTO, or -E2BIG (more than max entries). out is clobbered on error.
 */
int capsule_decode_routes(const uint8_t *v, size_t len, struct capsule_range *out, size_t max,
			  size_t *ret_n);

/* The rules above on a list we want to send. Returns 0 or -EINVAL. */
int capsule_routes_check(const struct capsule_range *r, size_t n);

/*
 * Encode a whole ADDRESS_ASSIGN or ADDRESS_REQUEST capsule (Type, Length, Value) into buf.
 * Returns its length; -EINVAL for another type, a bad family or prefix length, a prefix with
 * host bits set, a request_id > 2^62-1, or (ADDRESS_REQUEST) n == 0 or a request_id of 0;
 * -ENOBUFS if size is too small.
 */
ssize_t capsule_encode_addresses(uint8_t *buf, size_t size, uint64_t type,
				 const struct capsule_addr *a, size_t n);

/*
 * Encode a whole ROUTE_ADVERTISEMENT capsule. The caller passes a list that already obeys the
 * ordering rules (see capsule_ranges_from_prefixes()). Returns its length, -EINVAL if the list
 * breaks capsule_routes_check(), or -ENOBUFS.
 */
ssize_t capsule_encode_routes(uint8_t *buf, size_t size, const struct capsule_range *r, size_t n);

/* The range covering prefix p (host bits ignored). p must have a valid family and length. */
void capsule_range_from_prefix(struct capsule_range *r, const struct mpq_prefix *p,
			       uint8_t ipproto);

/*
 * Build a valid ROUTE_ADVERTISEMENT list (IP protocol 0) covering the prefixes p[0..n-1]:
 * sorted, with overlapping and adjacent ranges merged. Host bits are ignored.
 * Returns 0 and *ret_n; -EINVAL for a bad family or prefix length; -E2BIG if the list outgrows
 * max while being built (max >= n always suffices).
 */
int capsule_ranges_from_prefixes(const struct mpq_prefix *p, size_t n, struct capsule_range *out,
				 size_t max, size_t *ret_n);

/*
 * HTTP/3 Datagram (RFC 9297 §2.1) for CONNECT-IP: Quarter Stream ID (varint, the request
 * stream ID / 4), Context ID (varint, RFC 9484 §6; 0 = a full IP packet), payload.
 */
#define H3DGRAM_MAX_HEADER 16

/*
 * Write the header for request stream stream_id and context_id into buf. Returns the header
 * length; -EINVAL if stream_id is not a client-initiated bidirectional stream (negative,
 * stream_id % 4 != 0, or > 2^62-1) or context_id > 2^62-1; -ENOBUFS if size is too small.
 */
ssize_t h3dgram_put_header(uint8_t *buf, size_t size, int64_t stream_id, uint64_t context_id);

/*
 * Parse a received HTTP/3 Datagram: the payload is d[*ret_payload_off .. len) (may be empty).
 * Returns 0; -EPROTO if the Quarter Stream ID is truncated or exceeds 2^60-1 (a connection
 * error H3_DATAGRAM_ERROR per RFC 9297 §2.1); -EBADMSG if the Context ID is missing or
 * truncated (a malformed datagram, dropped).
 */
int h3dgram_parse(const uint8_t *d, size_t len, int64_t *ret_stream_id, uint64_t *ret_context_id,
		  size_t *ret_payload_off);

#endif
