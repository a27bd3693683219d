/* SPDX-License-Identifier: MIT */
/*
 * Server role (concentrator): one UDP listener per configured address for every client and
 * tunnel, demultiplexed by QUIC connection ID; one shared TUN with exactly one reader, whose
 * packets are routed by longest-prefix match to the live connection of the right tunnel.
 */
#ifndef MPQ_SERVER_H
#define MPQ_SERVER_H

#include <stdbool.h>

#include "daemon.h"

/* The role the daemon runs through (d->role), defined at the end of server.c. */
extern const struct daemon_role server_role;

int server_start(struct daemon *d);
void server_shutdown(struct daemon *d);
void server_free(struct server *s); /* NULL-safe */

/* Like client_reload() for the server role (see server.c for what it applies). */
int server_reload(struct daemon *d, struct conf *nc, bool peer_changed);

/* The role's part of the status (docs/control.md): "tunnels" and more. */
void server_status(struct daemon *d, json_t *root);

#endif
