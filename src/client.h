/* SPDX-License-Identifier: MIT */
/*
 * Client role (edge box): one tunnel per configured tunnel entry, each with its own TUN
 * device, UDP socket (bound to its WAN) and QUIC connection carrying one CONNECT-IP session.
 */
#ifndef MPQ_CLIENT_H
#define MPQ_CLIENT_H

#include <stdbool.h>

#include "daemon.h"

/* The role the daemon runs through (d->role), defined at the end of client.c. */
extern const struct daemon_role client_role;

/* Create every tunnel's TUN and start connecting. Returns 0 or -errno (logged). */
int client_start(struct daemon *d);
/* Send CONNECTION_CLOSE on every live connection. */
void client_shutdown(struct daemon *d);
void client_free(struct client *cl); /* NULL-safe */

/*
 * Apply a new, valid configuration nc: unchanged tunnels keep their connections, removed ones
 * close, changed and new ones (re)start. peer_changed: the server or TLS settings changed, so
 * every tunnel restarts. Sets d->conf = nc; the caller frees the old one. Returns 0 or -ENOMEM.
 */
int client_reload(struct daemon *d, struct conf *nc, bool peer_changed);

/* The role's part of the status (docs/control.md): "tunnels" and more. */
void client_status(struct daemon *d, json_t *root);

#endif
