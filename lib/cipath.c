/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "cipath.h"

#define CIPATH_PREFIX "/.well-known/masque/ip/"
#define CIPATH_QUERY  "?tunnel="

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int cipath_decode(const char *src, size_t len, char *dst, size_t size)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		char ch = src[i];

		if (ch == '%') {
			int hi, lo;

			if (len - i < 3)
				return -EINVAL;
			hi = hexval(src[i + 1]);
			lo = hexval(src[i + 2]);
			if (hi < 0 || lo < 0)
				return -EINVAL;
			ch = (char)(hi << 4 | lo);
			i += 2;
		}
		if (ch == '\0')
			return -EINVAL;
		if (n + 1 >= size)
			return -ENAMETOOLONG;
		dst[n++] = ch;
	}
	if (size == 0)
		return -ENAMETOOLONG;
	dst[n] = '\0';
	return (int)n;
}

/* The segment of s up to the first of the characters in stop (or the end). */
static size_t segment(const char *s, const char *stop)
{
	return strcspn(s, stop);
}

int cipath_parse(const char *path, struct cipath *ret)
{
	size_t plen = strlen(CIPATH_PREFIX), n;
	const char *p;
	int r;

	if (strncmp(path, CIPATH_PREFIX, plen) != 0)
		return -ENOENT;
	p = path + plen;
	n = segment(p, "/?#");
	if (p[n] != '/')
		return -ENOENT;
	r = cipath_decode(p, n, ret->target, sizeof(ret->target));
	if (r < 0)
		return r;
	p += n + 1;
	n = segment(p, "/?#");
	if (p[n] != '/')
		return -ENOENT;
	r = cipath_decode(p, n, ret->ipproto, sizeof(ret->ipproto));
	if (r < 0)
		return r;
	p += n + 1;
	if (strncmp(p, CIPATH_QUERY, strlen(CIPATH_QUERY)) != 0)
		return -ENOENT;
	p += strlen(CIPATH_QUERY);
	n = segment(p, "&#/?");
	if (p[n] != '\0')
		return -ENOENT;
	r = cipath_decode(p, n, ret->tunnel, sizeof(ret->tunnel));
	if (r < 0)
		return r;
	if (!ret->target[0] || !ret->ipproto[0] || !ret->tunnel[0])
		return -EINVAL;
	return 0;
}
