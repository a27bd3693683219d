/* SPDX-License-Identifier: MIT */
/*
 * QUIC variable-length integers (RFC 9000 §16): the two high bits of the first byte give the
 * encoded length (00 = 1, 01 = 2, 10 = 4, 11 = 8 bytes), the rest is the value in network byte
 * order. Values range over 0 .. 2^62-1.
 */
#ifndef MPQ_VARINT_H
#define MPQ_VARINT_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#define MPQ_VARINT_MAX	  ((UINT64_C(1) << 62) - 1)
#define MPQ_VARINT_MAXLEN 8

/* Encoded length of v: 1, 2, 4 or 8; 0 if v > MPQ_VARINT_MAX (not encodable). */
static inline size_t mpq_varint_len(uint64_t v)
{
	if (v < 64)
		return 1;
	if (v < 16384)
		return 2;
	if (v < (UINT64_C(1) << 30))
		return 4;
	if (v <= MPQ_VARINT_MAX)
		return 8;
	return 0;
}

/*
 * Write v in its shortest encoding at p and return p advanced past it. The caller has checked
 * that v <= MPQ_VARINT_MAX and that mpq_varint_len(v) bytes are available.
 */
static inline uint8_t *mpq_varint_put(uint8_t *p, uint64_t v)
{
	switch (mpq_varint_len(v)) {
	case 1:
		*p++ = (uint8_t)v;
		break;
	case 2:
		*p++ = (uint8_t)(0x40 | (v >> 8));
		*p++ = (uint8_t)v;
		break;
	case 4:
		*p++ = (uint8_t)(0x80 | (v >> 24));
		*p++ = (uint8_t)(v >> 16);
		*p++ = (uint8_t)(v >> 8);
		*p++ = (uint8_t)v;
		break;
	default:
		*p++ = (uint8_t)(0xc0 | (v >> 56));
		for (int shift = 48; shift >= 0; shift -= 8)
			*p++ = (uint8_t)(v >> shift);
		break;
	}
	return p;
}

/*
 * Decode the varint at p (len bytes available). Any encoding is accepted, including
 * non-minimal ones (RFC 9000 allows them). On success writes the value to *ret_v and its
 * encoded length to *ret_n and returns 0; returns -EAGAIN if len is shorter than the encoding.
 */
static inline int mpq_varint_get(const uint8_t *p, size_t len, uint64_t *ret_v, size_t *ret_n)
{
	size_t n;
	uint64_t v;

	if (len == 0)
		return -EAGAIN;
	n = (size_t)1 << (p[0] >> 6);
	if (len < n)
		return -EAGAIN;
	v = p[0] & 0x3f;
	for (size_t i = 1; i < n; i++)
		v = (v << 8) | p[i];
	*ret_v = v;
	*ret_n = n;
	return 0;
}

#endif
