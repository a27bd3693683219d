/* SPDX-License-Identifier: MIT */
/*
 * The daemon: one libev loop owning every connection, socket and TUN fd of one process, and
 * its lifecycle (reload, status, shutdown, systemd notifications). The role (client or server)
 * plugs in through struct daemon_role; the control socket reaches the daemon only through
 * daemon_ctl_ops (ctl.h), so neither depends on the other's code.
 */
#ifndef MPQ_DAEMON_H
#define MPQ_DAEMON_H

#include <ev.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf.h"
#include "pktsize.h"

struct client;
struct server;
struct tls_ctx;
struct nl;
struct ctl;
struct ctl_ops;
struct daemon;

/* What a role (client.c, server.c) plugs into the daemon. */
struct daemon_role {
	const char *name; /* "client" or "server", as in the status */
	/* Start every tunnel or listener. Returns 0 or -errno (logged). */
	int (*start)(struct daemon *d);
	/* Send CONNECTION_CLOSE on every live connection. */
	void (*shutdown)(struct daemon *d);
	/*
	 * Apply a new, valid configuration nc; peer_changed: the server or TLS settings changed.
	 * Sets d->conf = nc when applied (the caller frees the old one). Returns 0 or -errno.
	 */
	int (*reload)(struct daemon *d, struct conf *nc, bool peer_changed);
	/* Add the role's sections ("tunnels", ...) to the status object root. */
	void (*status)(struct daemon *d, json_t *root);
};

struct daemon {
	struct ev_loop *loop;		/* borrowed (ev_default_loop) */
	struct conf *conf;		/* owned */
	const struct daemon_role *role; /* borrowed: client_role or server_role */
	const char *conf_path;
	char conf_sha256[65]; /* hex digest of the file the running config came from */
	char tls_sha256[65];  /* over the TLS files' contents: a reload notices new certificates */
	char reload_error[256];
	struct ctl *ctl;       /* owned: control socket */
	struct tls_ctx *tls;   /* owned */
	struct nl *nl;	       /* owned: non-blocking rtnetlink */
	struct client *client; /* owned, role client */
	struct server *server; /* owned, role server */
	uint64_t start_ns;
	bool stopping;
	ev_signal sigint_watcher;
	ev_signal sigterm_watcher;
	ev_signal sighup_watcher;
	ev_timer stop_timer;	 /* bounds the wait for CONNECTION_CLOSE to leave on shutdown */
	ev_timer watchdog_timer; /* WATCHDOG=1 at half of $WATCHDOG_USEC, from the loop */

	/* receive scratch: MPQ_RX_BATCH buffers of MPQ_RX_BUFSIZE (udp.h) */
	uint8_t *rxbuf;		   /* owned */
	uint8_t static_secret[32]; /* stateless reset tokens, Retry tokens */
};

/* The control socket's view of the daemon (ctl_new(..., &daemon_ctl_ops, d, ...)). */
extern const struct ctl_ops daemon_ctl_ops;

/*
 * Re-read the configuration file. Returns 0, or -errno with d->reload_error set; the running
 * configuration stays on any error.
 */
int daemon_reload(struct daemon *d);

/* The status object of docs/control.md: "daemon" and the role's sections. NULL: no memory. */
json_t *daemon_status(struct daemon *d);

/* Begin a clean shutdown (CONNECTION_CLOSE to every peer, then leave the loop). */
void daemon_stop(struct daemon *d);

/* sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET, if set. */
void daemon_notify(const char *msg);

/* Start the watchdog pings when systemd asks for them ($WATCHDOG_USEC, $WATCHDOG_PID). */
void daemon_watchdog_start(struct daemon *d);

/*
 * Fill d->static_secret, the secret behind stateless reset and Retry tokens: a server's is
 * derived from its private key (it survives a restart), a client's is random.
 */
void daemon_init_secret(struct daemon *d);

/* Hex SHA-256 over the contents of the TLS files of c, into out[65]. */
void daemon_tls_sha256(const struct conf *c, char out[65]);

/*
 * Reload comparisons (pure; unit-tested): what a reload cannot apply without a restart (a
 * reason, or NULL), and whether the peer settings changed so that every connection restarts
 * (the TLS file names and, for a client, the server address and name; the files' contents are
 * compared by the caller through daemon_tls_sha256()).
 */
const char *daemon_needs_restart(const struct conf *o, const struct conf *n);
bool daemon_peer_changed(const struct conf *o, const struct conf *n);

#endif
