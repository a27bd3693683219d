/* SPDX-License-Identifier: MIT */
/*
 * IP addresses and prefixes (IPv4 and IPv6) as plain values, and socket address parsing.
 *
 * A prefix stores its address in network byte order in addr[] (4 bytes used for IPv4) with
 * every bit after the prefix length cleared by mpq_prefix_parse() unless the caller asks to keep
 * the host part (an interface address such as 10.0.0.1/24 keeps it).
 */
#ifndef MPQ_IPADDR_H
#define MPQ_IPADDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>

#define MPQ_PREFIX_STRLEN 64 /* "ffff:...:ffff/128" with room to spare */

struct mpq_prefix {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t len;	/* prefix length: 0..32 or 0..128 */
	uint8_t addr[16];
};

/* Address length in bytes for a family: 4, 16, or 0 for anything else. */
static inline unsigned mpq_family_addrlen(int family)
{
	return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

static inline unsigned mpq_family_maxlen(int family)
{
	return family == AF_INET ? 32 : family == AF_INET6 ? 128 : 0;
}

/*
 * Parse "A.B.C.D[/len]" or "X:X::X[/len]". Without "/len" the prefix is a host prefix (/32 or
 * /128). Flags: MPQ_PREFIX_KEEP_HOST keeps host bits (interface addresses); without it, host
 * bits must be zero (MPQ_PREFIX_STRICT) or are cleared.
 * Returns 0, or -EINVAL on any syntax error or out-of-range length.
 */
#define MPQ_PREFIX_KEEP_HOST 0x1
#define MPQ_PREFIX_STRICT    0x2 /* -EINVAL if host bits are set ("10.0.0.1/8") */
int mpq_prefix_parse(const char *s, unsigned flags, struct mpq_prefix *ret);

/* Format as "addr/len" into buf (at least MPQ_PREFIX_STRLEN bytes). Returns buf. */
char *mpq_prefix_format(const struct mpq_prefix *p, char *buf, size_t size);

/* Format only the address. Returns buf. */
char *mpq_addr_format(int family, const uint8_t *addr, char *buf, size_t size);

/* True if address addr (of p's family, network order) lies within p. */
bool mpq_prefix_contains(const struct mpq_prefix *p, int family, const uint8_t *addr);

/* True if the two prefixes share at least one address (same family only). */
bool mpq_prefix_overlaps(const struct mpq_prefix *a, const struct mpq_prefix *b);

/* Clear the host bits of p. */
void mpq_prefix_mask(struct mpq_prefix *p);

/*
 * Parse "1.2.3.4:443", "[2001:db8::1]:443", or, when default_port > 0, also a bare address
 * "1.2.3.4" / "2001:db8::1" / "[2001:db8::1]". Port 0 is rejected. No name resolution.
 * Returns 0 or -EINVAL.
 */
int mpq_sockaddr_parse(const char *s, int default_port, struct sockaddr_storage *ret,
		       socklen_t *ret_len);

/* Format a socket address as "1.2.3.4:443" or "[2001:db8::1]:443". Returns buf. */
char *mpq_sockaddr_format(const struct sockaddr *sa, char *buf, size_t size);

#endif
