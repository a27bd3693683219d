/* SPDX-License-Identifier: MIT */
/*
 * The daemon: one libev loop owning every connection, socket and TUN fd of one process.
 */
#ifndef MPQ_DAEMON_H
#define MPQ_DAEMON_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "conf.h"
#include "pktsize.h"

struct client;
struct server;
struct tls_ctx;
struct nl;
struct ctl;

/* Scratch buffers shared by every socket and TUN of the loop (single-threaded). */
#define MPQ_RX_BATCH	    32
#define MPQ_RX_BUFSIZE	    65536 /* one GRO super-datagram */
#define MPQ_TX_GSO_MAX	    40	  /* packets per GSO send: 40 * 1452 (UDP payload) < 64 KiB */
#define MPQ_MAX_UDP_PAYLOAD PKTSIZE_UDP_PAYLOAD /* owned by lib/pktsize.h */
#define MPQ_PKT_MAX	    65536

struct daemon {
	struct ev_loop *loop; /* borrowed (ev_default_loop) */
	struct conf *conf;    /* owned */
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

	/* receive scratch: MPQ_RX_BATCH buffers of MPQ_RX_BUFSIZE */
	uint8_t *rxbuf; /* owned */
	/* transmit scratch for one GSO batch */
	uint8_t *txbuf;		   /* owned */
	uint8_t static_secret[32]; /* stateless reset tokens, Retry tokens */
};

static inline uint64_t mpq_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Set SO_RCVBUF or SO_SNDBUF (opt) of fd to size bytes, past the sysctl maximum when we may
 * (the FORCE variant); best effort. */
void mpq_set_sockbuf(int fd, int opt, int size);

/* Fill buf with cryptographically secure random bytes (getrandom). Never fails. */
void mpq_random(void *buf, size_t len);

/*
 * Re-read the configuration file. Returns 0, or -errno with d->reload_error set; the running
 * configuration stays on any error.
 */
int daemon_reload(struct daemon *d);

/* Hex SHA-256 of a file into out[65]. Returns 0 or -errno. */
int mpq_file_sha256(const char *path, char out[65]);

/* Begin a clean shutdown (CONNECTION_CLOSE to every peer, then leave the loop). */
void daemon_stop(struct daemon *d);

#endif
