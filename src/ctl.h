/* SPDX-License-Identifier: MIT */
/*
 * Control socket: a UNIX stream socket speaking newline-delimited JSON (docs/control.md).
 * Requests: {"command":"status"}, {"command":"metrics"}, {"command":"reload"}.
 * Never stalls the data plane: non-blocking, bounded request and output sizes, a bounded
 * number of clients, idle clients dropped.
 */
#ifndef MPQ_CTL_H
#define MPQ_CTL_H

#include <jansson.h>

#include "daemon.h"

struct ctl;

/* Listen on path (mode 0660). Returns 0 or -errno (logged). */
int ctl_new(struct daemon *d, const char *path, struct ctl **ret);
void ctl_free(struct ctl *c); /* NULL-safe; removes the socket file */

/* Builders used by ctl.c, implemented by the roles. */
void client_status(struct daemon *d, json_t *root);
void server_status(struct daemon *d, json_t *root);

#endif
