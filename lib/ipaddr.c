/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipaddr.h"

static int parse_len(const char *s, unsigned max, unsigned *ret)
{
	unsigned v = 0;

	if (*s == '\0' || strlen(s) > 3)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(*s - '0');
	}
	if (v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

static bool host_bits_set(const struct mpq_prefix *p)
{
	unsigned n = mpq_family_addrlen(p->family);

	for (unsigned i = 0; i < n; i++) {
		unsigned bit = i * 8;
		uint8_t keep;

		if (bit >= p->len)
			keep = 0;
		else if (bit + 8 <= p->len)
			keep = 0xff;
		else
			keep = (uint8_t)(0xff << (8 - (p->len - bit)));
		if (p->addr[i] & ~keep)
			return true;
	}
	return false;
}

void mpq_prefix_mask(struct mpq_prefix *p)
{
	unsigned n = mpq_family_addrlen(p->family);

	for (unsigned i = 0; i < n; i++) {
		unsigned bit = i * 8;

		if (bit >= p->len)
			p->addr[i] = 0;
		else if (bit + 8 > p->len)
			p->addr[i] &= (uint8_t)(0xff << (8 - (p->len - bit)));
	}
}

int mpq_prefix_parse(const char *s, unsigned flags, struct mpq_prefix *ret)
{
	char buf[INET6_ADDRSTRLEN + 8];
	struct mpq_prefix p = {0};
	char *slash;
	unsigned len;

	if (!s || strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, buf, p.addr) == 1)
		p.family = AF_INET;
	else if (inet_pton(AF_INET6, buf, p.addr) == 1)
		p.family = AF_INET6;
	else
		return -EINVAL;
	len = mpq_family_maxlen(p.family);
	if (slash && parse_len(slash + 1, len, &len) < 0)
		return -EINVAL;
	p.len = (uint8_t)len;
	if (!(flags & MPQ_PREFIX_KEEP_HOST)) {
		if ((flags & MPQ_PREFIX_STRICT) && host_bits_set(&p))
			return -EINVAL;
		mpq_prefix_mask(&p);
	}
	*ret = p;
	return 0;
}

char *mpq_addr_format(int family, const uint8_t *addr, char *buf, size_t size)
{
	if (!inet_ntop(family, addr, buf, (socklen_t)size))
		snprintf(buf, size, "?");
	return buf;
}

char *mpq_prefix_format(const struct mpq_prefix *p, char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN];

	mpq_addr_format(p->family, p->addr, a, sizeof(a));
	snprintf(buf, size, "%s/%u", a, p->len);
	return buf;
}

static bool prefix_match(const uint8_t *a, const uint8_t *b, unsigned len)
{
	unsigned full = len / 8, rest = len % 8;

	if (memcmp(a, b, full) != 0)
		return false;
	if (rest) {
		uint8_t m = (uint8_t)(0xff << (8 - rest));

		return (a[full] & m) == (b[full] & m);
	}
	return true;
}

bool mpq_prefix_contains(const struct mpq_prefix *p, int family, const uint8_t *addr)
{
	return p->family == family && prefix_match(p->addr, addr, p->len);
}

bool mpq_prefix_overlaps(const struct mpq_prefix *a, const struct mpq_prefix *b)
{
	if (a->family != b->family)
		return false;
	return prefix_match(a->addr, b->addr, a->len < b->len ? a->len : b->len);
}

static int parse_port(const char *s, int *ret)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 1 || v > 65535)
		return -EINVAL;
	*ret = (int)v;
	return 0;
}

int mpq_sockaddr_parse(const char *s, int default_port, struct sockaddr_storage *ret,
		       socklen_t *ret_len)
{
	char host[INET6_ADDRSTRLEN + 2];
	struct sockaddr_storage ss = {0};
	const char *port_s = NULL;
	int port = default_port;
	size_t n;

	if (!s)
		return -EINVAL;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || (size_t)(close - s - 1) >= sizeof(host))
			return -EINVAL;
		n = (size_t)(close - s - 1);
		memcpy(host, s + 1, n);
		host[n] = '\0';
		if (close[1] == ':')
			port_s = close + 2;
		else if (close[1] != '\0')
			return -EINVAL;
	} else {
		const char *colon = strchr(s, ':');

		if (colon && strchr(colon + 1, ':'))
			colon = NULL; /* bare IPv6 address */
		n = colon ? (size_t)(colon - s) : strlen(s);
		if (n >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, n);
		host[n] = '\0';
		if (colon)
			port_s = colon + 1;
	}
	if (port_s && parse_port(port_s, &port) < 0)
		return -EINVAL;
	if (port <= 0 || port > 65535)
		return -EINVAL;

	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

	if (s[0] != '[' && inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*ret_len = sizeof(*sin);
	} else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*ret_len = sizeof(*sin6);
	} else {
		return -EINVAL;
	}
	*ret = ss;
	return 0;
}

char *mpq_sockaddr_format(const struct sockaddr *sa, char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &sin->sin_addr, a, sizeof(a));
		snprintf(buf, size, "%s:%u", a, ntohs(sin->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &sin6->sin6_addr, a, sizeof(a));
		snprintf(buf, size, "[%s]:%u", a, ntohs(sin6->sin6_port));
	} else {
		snprintf(buf, size, "(family %d)", sa->sa_family);
	}
	return buf;
}
