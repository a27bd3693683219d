/* SPDX-License-Identifier: MIT */
/*
 * Control socket requests (docs/control.md): the parsing of one request line, apart from the
 * socket handling in src/ctl.c so that it can be tested and fuzzed on its own.
 */
#ifndef MPQ_CTLREQ_H
#define MPQ_CTLREQ_H

#include <stddef.h>

enum ctl_cmd {
	CTL_CMD_STATUS = 0,
	CTL_CMD_METRICS,
	CTL_CMD_RELOAD,
};

/*
 * Parse one request line of len bytes (without its newline; it need not be NUL-terminated):
 * {"command": "status"|"metrics"|"reload"}. Returns 0 and *ret_cmd, or -EINVAL with the
 * answer for the client in err (errsize > 0 bytes, always NUL-terminated).
 */
int ctl_parse_request(const char *line, size_t len, enum ctl_cmd *ret_cmd, char *err,
		      size_t errsize);

#endif
