/* SPDX-License-Identifier: MIT */
/*
 * The CONNECT-IP request path (RFC 9484 §3): the default URI template
 * /.well-known/masque/ip/{target}/{ipproto}/ with mpquic's query ?tunnel={name}. The template
 * variables are percent-decoded (RFC 6570 expansion percent-encodes reserved characters, so
 * "*" may arrive as "%2A"; RFC 3986 §2.1), and so is the tunnel name.
 */
#ifndef MPQ_CIPATH_H
#define MPQ_CIPATH_H

#include <stddef.h>

#define CIPATH_VALUE_MAX 255 /* longest decoded value */

struct cipath {
	char target[CIPATH_VALUE_MAX + 1];  /* "*", a host name or an IP prefix */
	char ipproto[CIPATH_VALUE_MAX + 1]; /* "*" or an IP protocol number */
	char tunnel[CIPATH_VALUE_MAX + 1];  /* the tunnel name from the query */
};

/*
 * Split and decode path into ret. Returns 0; -ENOENT if path does not follow the template
 * (other prefix, missing segment, other query); -EINVAL if a value has a broken
 * percent-encoding (a '%' not followed by two hex digits) or decodes to a NUL byte, or a
 * variable is empty (a malformed request: 400); -ENAMETOOLONG if a decoded value exceeds
 * CIPATH_VALUE_MAX. ret is clobbered on error.
 */
int cipath_parse(const char *path, struct cipath *ret);

/*
 * Percent-decode src[0..len) into dst (size bytes, NUL-terminated). Returns the decoded
 * length, -EINVAL for a broken escape or a decoded NUL, -ENAMETOOLONG if it does not fit.
 */
int cipath_decode(const char *src, size_t len, char *dst, size_t size);

#endif
