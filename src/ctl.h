/* SPDX-License-Identifier: MIT */
/*
 * Control socket: a UNIX stream socket speaking newline-delimited JSON (docs/control.md).
 * Requests: {"command":"status"}, {"command":"metrics"}, {"command":"reload"}.
 * Never stalls the data plane: non-blocking, bounded request and output sizes, a bounded
 * number of clients, idle clients dropped.
 *
 * The socket knows nothing of the daemon: it answers through the ops table its owner gives
 * (the daemon's is daemon_ctl_ops in daemon.c; the unit test gives its own).
 */
#ifndef MPQ_CTL_H
#define MPQ_CTL_H

#include <ev.h>
#include <jansson.h>
#include <stddef.h>

struct ctl;

struct ctl_ops {
	/* The status object (docs/control.md), a new reference; NULL when out of memory. */
	json_t *(*status)(void *arg);
	/* Prometheus text exposition, malloc'ed (freed by ctl); NULL when out of memory. */
	char *(*metrics)(void *arg);
	/* Re-read the configuration: 0, or -errno with a one-line reason in err. */
	int (*reload)(void *arg, char *err, size_t errlen);
};

/*
 * Listen on path (mode 0660; the parent directory is created) and answer requests through
 * ops (borrowed, with arg) from loop. Returns 0 or -errno (logged).
 */
int ctl_new(struct ev_loop *loop, const char *path, const struct ctl_ops *ops, void *arg,
	    struct ctl **ret);
void ctl_free(struct ctl *c); /* NULL-safe; removes the socket file */

#endif
