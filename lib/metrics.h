/* SPDX-License-Identifier: MIT */
/*
 * Prometheus text exposition (version 0.0.4) from the daemon's status JSON (docs/control.md),
 * so the two outputs can never disagree.
 */
#ifndef MPQ_METRICS_H
#define MPQ_METRICS_H

#include <jansson.h>

/* Returns a malloc'ed string (caller frees), or NULL on allocation failure. */
char *metrics_from_status(const json_t *status);

#endif
