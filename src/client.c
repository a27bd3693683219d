/* SPDX-License-Identifier: MIT */
/*
 * Client tunnels: TUN <-> CONNECT-IP session, reconnecting with exponential backoff.
 *
 * A tunnel with a WAN connects only while its WAN is usable (wan.c: the interface exists, is up
 * and has an address of the server's family); it binds its socket to that WAN's device and
 * address. It waits otherwise, and WAN changes reported by wan.c start, stop or move it on a
 * new socket at once, without waiting for a timer. Each tunnel acts alone: one WAN's trouble
 * never touches the tunnels of another.
 *
 * Timers:
 *   retry_timer (per tunnel): the next connection attempt after a failure (backoff with
 *                             jitter, backoff_min_ms doubling up to backoff_max_ms); while
 *                             waiting for the WAN, a slow safety retry (TUNNEL_WAN_RETRY_S) in
 *                             case a WAN event was missed.
 */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <inttypes.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capsule.h"
#include "client.h"
#include "conn.h"
#include "ippkt.h"
#include "log.h"
#include "mpq.h"
#include "nl.h"
#include "proto.h"
#include "route.h"
#include "tun.h"
#include "udp.h"
#include "util.h"
#include "wan.h"

#define TUN_BATCH    512
#define MAX_ASSIGNED CONF_MAX_PREFIXES
#define MAX_ROUTES   CONF_MAX_PREFIXES

#define TUNNEL_WAN_RETRY_S 30.

enum tunnel_state {
	TUNNEL_IDLE = 0,
	TUNNEL_WAITING_WAN, /* its WAN interface is missing or has no usable address */
	TUNNEL_CONNECTING,  /* QUIC handshake and CONNECT-IP request */
	TUNNEL_UP,	    /* session open, addresses assigned */
	TUNNEL_BACKOFF,	    /* waiting for retry_timer */
};

static const char *const state_names[] = {
	[TUNNEL_IDLE] = "idle",
	[TUNNEL_WAITING_WAN] = "waiting-wan",
	[TUNNEL_CONNECTING] = "connecting",
	[TUNNEL_UP] = "up",
	[TUNNEL_BACKOFF] = "backoff",
};

struct tunnel {
	struct client *cl;		/* borrowed */
	const struct conf_tunnel *conf; /* borrowed from daemon.conf */
	const struct conf_wan *wan;	/* borrowed, or NULL */
	struct conf_quic quic;		/* conf->quic with the WAN's keepalive_ms applied */
	char name[96];			/* "tunnel 'cr1'" or "tunnel 'cr1' (wan4)" */
	struct tun tun;			/* owned */
	ev_io tun_watcher;
	struct udp_sock sock; /* owned; fd -1 between connections */
	ev_io udp_watcher;
	struct conn *conn; /* owned, or NULL */
	ev_timer retry_timer;
	enum tunnel_state state;
	uint64_t state_since_ns;
	uint32_t backoff_ms;
	uint32_t mtu;
	uint64_t reconnects;
	bool close_pending; /* the server refused the session: close after this read */
	bool wan_warned;
	char last_error[160];

	struct mpq_prefix assigned[MAX_ASSIGNED]; /* from ADDRESS_ASSIGN */
	size_t n_assigned;
	struct capsule_range routes[MAX_ROUTES]; /* from ROUTE_ADVERTISEMENT */
	size_t n_routes;
	bool have_routes;

	struct conn_stats totals; /* of finished connections */
	uint64_t drops_no_session;
};

struct client {
	struct daemon *d;	 /* borrowed */
	struct tunnel **tunnels; /* owned, each; in conf.tunnels order */
	size_t n_tunnels;
	struct wans *wans;	      /* owned; NULL without WANs */
	struct tunnel **class_active; /* per class: the tunnel its routing table points at */
	uint8_t scratch[MPQ_PKT_MAX];
};

static void tunnel_connect(struct tunnel *t);

/* Point a class's routing table (both families) at a tunnel's TUN. */
static void class_route(struct client *cl, const struct conf_class *k, const struct tunnel *t)
{
	char what[96];

	snprintf(what, sizeof(what), "class '%s' (table %u)", k->name, k->table);
	for (int i = 0; i < 2; i++) {
		char buf[NL_ROUTE_MSG_SIZE] __attribute__((aligned(4)));
		struct nlmsghdr *h = route_default_msg(buf, i == 0 ? AF_INET : AF_INET6, k->table,
						       (unsigned)t->tun.ifindex);

		nl_request(cl->d->nl, h, 0, what,
			   i == 0 ? "default route (IPv4)" : "default route (IPv6)");
	}
}

/*
 * A class rides the first of its tunnels (primary first) that is up: its routing table's
 * default route points at that tunnel's TUN. When that tunnel goes down the class moves to the
 * next one that is up (failover to another WAN), and back when a better one returns. With no
 * tunnel up the route stays on the last one: traffic waits there rather than leaking out of the
 * main table unencrypted.
 */
static void class_update(struct client *cl, int class_idx)
{
	const struct conf *cf = cl->d->conf;
	const struct conf_class *k;
	struct tunnel *best = NULL;

	if (class_idx < 0 || !cl->class_active || cl->d->stopping)
		return;
	k = &cf->classes[class_idx];
	for (size_t i = 0; i < k->n_tunnels && !best; i++) {
		struct tunnel *t =
			k->tunnels[i] < cl->n_tunnels ? cl->tunnels[k->tunnels[i]] : NULL;

		if (t && t->state == TUNNEL_UP)
			best = t;
	}
	if (!best || best == cl->class_active[class_idx])
		return;
	if (cl->class_active[class_idx])
		log_notice("class '%s': moves from %s to %s", k->name,
			   cl->class_active[class_idx]->name, best->name);
	else
		log_info("class '%s': rides %s", k->name, best->name);
	cl->class_active[class_idx] = best;
	class_route(cl, k, best);
}

static void set_state(struct tunnel *t, enum tunnel_state s)
{
	enum tunnel_state old = t->state;

	if (old == s)
		return;
	log_debug("%s: %s -> %s", t->name, state_names[t->state], state_names[s]);
	t->state = s;
	t->state_since_ns = mpq_now_ns();
	if (old == TUNNEL_UP || s == TUNNEL_UP)
		class_update(t->cl, t->conf->class_idx);
}

/* Drop the connection and its socket, keep the TUN. */
static void tunnel_drop(struct tunnel *t)
{
	struct ev_loop *loop = t->cl->d->loop;

	if (t->conn) {
		conn_stats_add(&t->totals, conn_stats(t->conn));
		conn_free(t->conn);
		t->conn = NULL;
	}
	if (t->sock.fd >= 0) {
		ev_io_stop(loop, &t->udp_watcher);
		udp_close(&t->sock);
	}
	t->close_pending = false;
}

/* Drop the connection and schedule the next attempt. */
static void tunnel_teardown(struct tunnel *t, const char *why)
{
	struct ev_loop *loop = t->cl->d->loop;
	uint32_t delay;

	tunnel_drop(t);
	if (why && why != t->last_error)
		snprintf(t->last_error, sizeof(t->last_error), "%s", why);
	if (t->cl->d->stopping)
		return;
	/* Jitter of +-25% so that many tunnels do not retry in lockstep. */
	delay = t->backoff_ms;
	{
		uint32_t r;

		mpq_random(&r, sizeof(r));
		delay = delay - delay / 4 + (uint32_t)(r % (delay / 2 + 1));
	}
	t->backoff_ms = MPQ_MIN(t->backoff_ms * 2, t->conf->quic.backoff_max_ms);
	set_state(t, TUNNEL_BACKOFF);
	log_debug("%s: next attempt in %u ms", t->name, delay);
	ev_timer_stop(loop, &t->retry_timer);
	ev_timer_set(&t->retry_timer, delay / 1000.0, 0.);
	ev_timer_start(loop, &t->retry_timer);
}

static const char *wan_problem(int err)
{
	switch (err) {
	case -ENODEV:
		return "its interface does not exist";
	case -ENETDOWN:
		return "its interface is down or has no carrier";
	case -EADDRNOTAVAIL:
		return "no usable address";
	case -EAGAIN:
		return "its state is not known yet";
	default:
		return strerror(-err);
	}
}

/* The WAN cannot carry the tunnel now (err from wans_source()): wait for it to change. */
static void tunnel_wait_wan(struct tunnel *t, int err)
{
	struct ev_loop *loop = t->cl->d->loop;
	const char *why = wan_problem(err);

	tunnel_drop(t);
	snprintf(t->last_error, sizeof(t->last_error), "WAN '%s': %s", t->wan->name, why);
	/* once per wait; the first dump is not worth a message */
	if (!t->wan_warned && err != -EAGAIN) {
		log_warn("%s: waiting for WAN '%s' (%s): %s", t->name, t->wan->name,
			 t->wan->interface, why);
		t->wan_warned = true;
	}
	set_state(t, TUNNEL_WAITING_WAN);
	if (t->cl->d->stopping)
		return;
	ev_timer_stop(loop, &t->retry_timer);
	ev_timer_set(&t->retry_timer, TUNNEL_WAN_RETRY_S, 0.);
	ev_timer_start(loop, &t->retry_timer);
}

static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct tunnel *t = container_of(w, struct tunnel, retry_timer);

	(void)loop;
	(void)revents;
	if (t->state == TUNNEL_BACKOFF)
		t->reconnects++;
	tunnel_connect(t);
}

/* ---- connection events ---- */

static void tunnel_handshake_done(struct conn *c)
{
	struct tunnel *t = conn_owner(c);

	log_debug("%s: QUIC handshake complete", t->name);
}

static void tunnel_response(struct conn *c, int status)
{
	struct tunnel *t = conn_owner(c);

	if (status >= 200 && status < 300) {
		log_debug("%s: CONNECT-IP session accepted", t->name);
		return;
	}
	char msg[96];

	snprintf(msg, sizeof(msg), "server refused the tunnel (HTTP status %d)", status);
	if (strcmp(msg, t->last_error) != 0 || t->reconnects % 20 == 0)
		log_err("%s: %s", t->name, msg);
	snprintf(t->last_error, sizeof(t->last_error), "%s", msg);
	t->close_pending = true; /* we are inside ngtcp2: act after the read */
}

static bool prefix_in_ranges(const struct tunnel *t, int family, const uint8_t *addr)
{
	unsigned n = mpq_family_addrlen(family);

	if (!t->have_routes)
		return false;
	for (size_t i = 0; i < t->n_routes; i++) {
		const struct capsule_range *r = &t->routes[i];

		if (r->family == family && memcmp(addr, r->start, n) >= 0 &&
		    memcmp(addr, r->end, n) <= 0)
			return true;
	}
	return false;
}

static void apply_addresses(struct tunnel *t, const struct capsule_addr *a, size_t n)
{
	struct nl *nl = t->cl->d->nl;
	char p[MPQ_PREFIX_STRLEN];
	bool first4 = true, first6 = true;

	/* Remove what the server no longer assigns, then add the new set. */
	for (size_t i = 0; i < t->n_assigned; i++) {
		bool keep = false;

		for (size_t j = 0; j < n && !keep; j++)
			keep = memcmp(&t->assigned[i], &a[j].prefix, sizeof(a[j].prefix)) == 0;
		if (!keep && t->assigned[i].len == mpq_family_maxlen(t->assigned[i].family))
			nl_addr_del(nl, t->tun.ifindex, &t->assigned[i], t->name);
	}
	t->n_assigned = 0;
	for (size_t i = 0; i < n && t->n_assigned < MAX_ASSIGNED; i++) {
		const struct mpq_prefix *pf = &a[i].prefix;

		t->assigned[t->n_assigned++] = *pf;
		/* Host prefixes become TUN addresses; wider ones are routed LAN prefixes. */
		if (pf->len != mpq_family_maxlen(pf->family))
			continue;
		nl_addr_add(nl, t->tun.ifindex, pf, t->name);
		if ((pf->family == AF_INET && first4) || (pf->family == AF_INET6 && first6))
			log_info("%s: inner address %s", t->name,
				 mpq_prefix_format(pf, p, sizeof(p)));
		if (pf->family == AF_INET)
			first4 = false;
		else
			first6 = false;
	}
}

static void tunnel_capsule(struct conn *c, uint64_t type, const uint8_t *v, size_t len)
{
	struct tunnel *t = conn_owner(c);

	if (type == CAPSULE_ADDRESS_ASSIGN) {
		struct capsule_addr a[MAX_ASSIGNED];
		size_t n;
		int r = capsule_decode_addresses(v, len, a, ARRAY_SIZE(a), &n);

		if (r < 0) {
			log_warn("%s: malformed ADDRESS_ASSIGN (%s), ignoring", t->name,
				 strerror(-r));
			return;
		}
		apply_addresses(t, a, n);
		if (t->state != TUNNEL_UP) {
			set_state(t, TUNNEL_UP);
			t->backoff_ms = t->conf->quic.backoff_min_ms;
			t->last_error[0] = '\0';
			log_notice("%s: up (%zu address%s assigned)", t->name, n,
				   n == 1 ? "" : "es");
		}
	} else if (type == CAPSULE_ROUTE_ADVERTISEMENT) {
		size_t n;
		int r = capsule_decode_routes(v, len, t->routes, ARRAY_SIZE(t->routes), &n);

		if (r < 0) {
			log_warn("%s: malformed ROUTE_ADVERTISEMENT (%s), ignoring", t->name,
				 strerror(-r));
			return;
		}
		t->n_routes = n;
		t->have_routes = true;
		log_debug("%s: %zu route range(s) advertised", t->name, n);
	}
}

static bool dst_assigned(const struct tunnel *t, int family, const uint8_t *dst)
{
	for (size_t i = 0; i < t->n_assigned; i++)
		if (mpq_prefix_contains(&t->assigned[i], family, dst))
			return true;
	return false;
}

static void tunnel_packet(struct conn *c, const uint8_t *pkt, size_t len)
{
	struct tunnel *t = conn_owner(c);
	struct conn_stats *st = conn_stats(c);
	struct ippkt_info ip;
	int r;

	if (ippkt_parse(pkt, len, &ip) < 0) {
		st->drops[CONN_DROP_MALFORMED]++;
		return;
	}
	/* Only what the server routes to us: our addresses, from advertised ranges. */
	if (!dst_assigned(t, ip.family, ip.dst) || !prefix_in_ranges(t, ip.family, ip.src)) {
		st->drops[CONN_DROP_SPOOFED]++;
		return;
	}
	r = tun_write(&t->tun, pkt, len);
	if (r < 0) {
		st->drops[CONN_DROP_TUN]++;
		return;
	}
	st->rx_packets++;
	st->rx_bytes += len;
}

static void tunnel_closed(struct conn *c, const char *why)
{
	struct tunnel *t = conn_owner(c);
	char msg[256], reason[200];
	bool repeat;

	if (strcmp(why, "closed by peer") == 0)
		snprintf(msg, sizeof(msg), "server closed the connection: %s",
			 conn_close_reason(c, reason, sizeof(reason)));
	else
		snprintf(msg, sizeof(msg), "%s", why);
	if (t->state == TUNNEL_UP) {
		log_warn("%s: connection lost: %s", t->name, msg);
	} else {
		/* The same failure on every retry is logged once, then every 20th attempt. */
		repeat = strcmp(msg, t->last_error) == 0;
		if (!repeat)
			log_err("%s: connection failed: %s", t->name, msg);
		else if (t->reconnects % 20 == 0)
			log_err("%s: still failing after %" PRIu64 " attempts: %s", t->name,
				t->reconnects, msg);
		else
			log_debug("%s: connection failed again: %s", t->name, msg);
	}
	tunnel_teardown(t, msg);
}

static const struct conn_ops tunnel_conn_ops = {
	.response = tunnel_response,
	.capsule = tunnel_capsule,
	.packet = tunnel_packet,
	.handshake_done = tunnel_handshake_done,
	.closed = tunnel_closed,
};

/* ---- I/O ---- */

static void after_read(struct tunnel *t)
{
	if (!t->conn)
		return;
	if (t->close_pending) {
		conn_close(t->conn, 0x010b /* H3_REQUEST_REJECTED */, "tunnel refused");
		tunnel_teardown(t, t->last_error);
		return;
	}
	conn_write(t->conn); /* on failure ops->closed already tore the tunnel down */
}

static void udp_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tunnel *t = container_of(w, struct tunnel, udp_watcher);
	struct daemon *d = t->cl->d;
	struct udp_rx rx[MPQ_RX_BATCH];
	int n;

	(void)loop;
	(void)revents;
	n = udp_recv_batch(&t->sock, d->rxbuf, MPQ_RX_BUFSIZE, rx, MPQ_RX_BATCH);
	if (n <= 0)
		return;
	for (int i = 0; i < n && t->conn; i++) {
		for (size_t off = 0; off < rx[i].len && t->conn; off += rx[i].segsize) {
			size_t len = MPQ_MIN(rx[i].segsize, rx[i].len - off);

			conn_read(t->conn, (struct sockaddr *)&rx[i].local, rx[i].local_len,
				  (struct sockaddr *)&rx[i].peer, rx[i].peer_len, rx[i].data + off,
				  len);
		}
	}
	after_read(t);
}

/*
 * ICMP "too big" back into the TUN. Its source is the original packet's destination: a
 * local address would be dropped by the kernel as a martian source (IPv4), and the sender
 * only needs the quoted header to find the flow.
 */
static void send_too_big(struct tun *tun, const uint8_t *pkt, size_t len, size_t mtu)
{
	uint8_t out[1280];
	struct ippkt_info ip;
	ssize_t n;

	if (ippkt_parse(pkt, len, &ip) < 0)
		return;
	n = ippkt_make_too_big(out, sizeof(out), pkt, len, (uint32_t)mtu, ip.dst);
	if (n > 0)
		(void)tun_write(tun, out, (size_t)n);
}

static void tun_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tunnel *t = container_of(w, struct tunnel, tun_watcher);
	uint8_t *scratch = t->cl->scratch;
	uint64_t now = mpq_now_ns(); /* the queue's timestamp for the whole batch */

	(void)loop;
	(void)revents;
	for (int i = 0; i < TUN_BATCH; i++) {
		uint8_t *slot = NULL;
		ssize_t n;

		if (t->conn && t->state == TUNNEL_UP)
			slot = conn_queue_reserve(t->conn); /* NULL without a session (counted) */
		n = tun_read(&t->tun, slot ? slot : scratch, slot ? t->mtu : MPQ_PKT_MAX);
		if (n < 0)
			break;
		if (!slot) {
			if (!t->conn || t->state != TUNNEL_UP)
				t->drops_no_session++;
			continue;
		}
		if ((size_t)n > conn_max_inner(t->conn)) {
			conn_stats(t->conn)->drops[CONN_DROP_TOO_BIG]++;
			send_too_big(&t->tun, slot, (size_t)n, conn_max_inner(t->conn));
			continue;
		}
		conn_queue_commit(t->conn, (size_t)n, now); /* counts queue-full drops */
	}
	if (t->conn && t->state == TUNNEL_UP)
		conn_write(t->conn);
}

/* ---- connecting ---- */

/* The WAN's current source address for the server's family, or -errno (see wans_source()). */
static int wan_source(const struct tunnel *t, struct mpq_prefix *ret)
{
	const struct client *cl = t->cl;

	if (!cl->wans || !wans_synced(cl->wans))
		return -EAGAIN;
	return wans_source(cl->wans, (size_t)t->conf->wan, cl->d->conf->server_addr.ss_family, ret);
}

/* The address the tunnel's socket is bound to is still src. */
static bool bound_to(const struct tunnel *t, const struct mpq_prefix *src)
{
	const struct sockaddr_storage *l = &t->sock.local;

	if (l->ss_family == AF_INET)
		return memcmp(&((const struct sockaddr_in *)l)->sin_addr, src->addr, 4) == 0;
	return memcmp(&((const struct sockaddr_in6 *)l)->sin6_addr, src->addr, 16) == 0;
}

/*
 * A tunnel with a WAN binds to the WAN's device (SO_BINDTODEVICE: the kernel routes it with
 * the device as oif, through the WAN's rule and table) and to the WAN's address src, so its
 * packets carry that address and a changed address means a new socket.
 */
static int open_socket(struct tunnel *t, const struct mpq_prefix *src)
{
	const struct conf *cf = t->cl->d->conf;
	struct sockaddr_storage bind_addr = {0};
	socklen_t bind_len;

	bind_addr.ss_family = cf->server_addr.ss_family;
	bind_len = bind_addr.ss_family == AF_INET ? sizeof(struct sockaddr_in)
						  : sizeof(struct sockaddr_in6);
	if (src && bind_addr.ss_family == AF_INET)
		memcpy(&((struct sockaddr_in *)&bind_addr)->sin_addr, src->addr, 4);
	else if (src)
		memcpy(&((struct sockaddr_in6 *)&bind_addr)->sin6_addr, src->addr, 16);
	return udp_open((struct sockaddr *)&bind_addr, bind_len, t->wan ? t->wan->interface : NULL,
			false, &t->sock);
}

static void tunnel_connect(struct tunnel *t)
{
	struct daemon *d = t->cl->d;
	const struct conf *cf = d->conf;
	struct conn_params p = {
		.server = false,
		.loop = d->loop,
		.tls = d->tls,
		.sock = &t->sock,
		.remote = (const struct sockaddr *)&cf->server_addr,
		.remote_len = cf->server_addr_len,
		.quic = &t->quic,
		.server_name = cf->server_name,
		.static_secret = d->static_secret,
		.queue_packets = 256,
		.mtu = t->mtu,
		.ops = &tunnel_conn_ops,
		.owner = t,
		.name = t->name,
	};
	struct mpq_prefix src;
	char path[256], a[MPQ_PREFIX_STRLEN];
	int r;

	ev_timer_stop(d->loop, &t->retry_timer);
	if (t->tun.fd < 0)
		return; /* its TUN could not be opened: logged, shown in the status */
	if (t->wan) {
		r = wan_source(t, &src);
		if (r < 0) {
			tunnel_wait_wan(t, r);
			return;
		}
	}
	r = open_socket(t, t->wan ? &src : NULL);
	if (r < 0) {
		/* the WAN changed under us; its event follows */
		if (t->wan && (r == -ENODEV || r == -EADDRNOTAVAIL)) {
			tunnel_wait_wan(t, r);
			return;
		}
		log_err("%s: cannot open UDP socket: %s", t->name, strerror(-r));
		tunnel_teardown(t, strerror(-r));
		return;
	}
	if (t->wan && t->wan_warned) {
		log_notice("%s: WAN '%s' usable again (source %s)", t->name, t->wan->name,
			   mpq_addr_format(src.family, src.addr, a, sizeof(a)));
		t->wan_warned = false;
	}
	p.local = (const struct sockaddr *)&t->sock.local;
	p.local_len = t->sock.local_len;
	r = conn_new(&p, &t->conn);
	if (r < 0) {
		log_err("%s: cannot create QUIC connection: %s", t->name, strerror(-r));
		tunnel_teardown(t, strerror(-r));
		return;
	}
	snprintf(path, sizeof(path), "%s%s", MPQ_SESSION_PATH_PREFIX, t->conf->name);
	conn_request_session(t->conn, path);
	ev_io_init(&t->udp_watcher, udp_read_cb, t->sock.fd, EV_READ);
	ev_io_start(d->loop, &t->udp_watcher);
	set_state(t, TUNNEL_CONNECTING);
	log_debug("%s: connecting", t->name);
	conn_write(t->conn);
}

/* Point t at its entry in configuration cf (at start, and when a reload keeps it). */
static void tunnel_set_conf(struct tunnel *t, const struct conf *cf, const struct conf_tunnel *ct)
{
	t->conf = ct;
	t->wan = ct->wan >= 0 ? &cf->wans[ct->wan] : NULL;
	t->quic = ct->quic;
	if (t->wan && t->wan->keepalive_ms)
		t->quic.keepalive_ms = t->wan->keepalive_ms;
}

static int tunnel_init(struct client *cl, struct tunnel *t, const struct conf *cf,
		       const struct conf_tunnel *ct)
{
	struct daemon *d = cl->d;
	int r;

	t->cl = cl;
	tunnel_set_conf(t, cf, ct);
	t->sock.fd = -1;
	t->tun.fd = -1;
	t->backoff_ms = ct->quic.backoff_min_ms ? ct->quic.backoff_min_ms : 100;
	t->mtu = ct->quic.mtu ? ct->quic.mtu : MPQ_DEFAULT_MTU;
	if (t->wan)
		snprintf(t->name, sizeof(t->name), "tunnel '%s' (%s)", ct->name, t->wan->name);
	else
		snprintf(t->name, sizeof(t->name), "tunnel '%s'", ct->name);
	ev_timer_init(&t->retry_timer, retry_cb, 0., 0.);
	if (t->quic.keepalive_ms && t->quic.idle_timeout_ms &&
	    t->quic.keepalive_ms >= t->quic.idle_timeout_ms)
		log_warn("%s: keepalive_ms %u of WAN '%s' is not below the tunnel's "
			 "idle_timeout_ms %u: the connection will time out when idle",
			 t->name, t->quic.keepalive_ms, t->wan->name, t->quic.idle_timeout_ms);
	r = tun_open(ct->tun, &t->tun);
	if (r < 0) {
		log_err("%s: cannot open TUN device '%s': %s", t->name, ct->tun, strerror(-r));
		snprintf(t->last_error, sizeof(t->last_error), "cannot open TUN device '%s': %s",
			 ct->tun, strerror(-r));
		return r;
	}
	r = nl_link_set(d->nl, t->tun.ifindex, t->mtu, true, t->name);
	if (r < 0)
		return r;
	ev_io_init(&t->tun_watcher, tun_read_cb, t->tun.fd, EV_READ);
	ev_io_start(d->loop, &t->tun_watcher);
	return 0;
}

/* wan.c: WAN wan_idx changed (or its first state is known). Act on its tunnels only. */
static void client_wan_changed(void *arg, size_t wan_idx)
{
	struct client *cl = arg;
	char a[MPQ_PREFIX_STRLEN];

	if (cl->d->stopping)
		return;
	for (size_t i = 0; i < cl->n_tunnels; i++) {
		struct tunnel *t = cl->tunnels[i];
		struct mpq_prefix src;
		int r;

		if (t->conf->wan != (int)wan_idx)
			continue;
		r = wan_source(t, &src);
		switch (t->state) {
		case TUNNEL_IDLE:
		case TUNNEL_WAITING_WAN:
			tunnel_connect(t); /* connects, or waits (logged once) */
			break;
		case TUNNEL_BACKOFF:
			if (r < 0)
				tunnel_wait_wan(t, r);
			break;
		case TUNNEL_CONNECTING:
		case TUNNEL_UP:
			if (r < 0) {
				log_warn("%s: lost its WAN, closing the connection", t->name);
				tunnel_wait_wan(t, r);
			} else if (!bound_to(t, &src)) {
				log_notice("%s: WAN '%s' source address is now %s, reconnecting",
					   t->name, t->wan->name,
					   mpq_addr_format(src.family, src.addr, a, sizeof(a)));
				if (t->conn)
					conn_close(t->conn, 0, "source address changed");
				tunnel_drop(t);
				t->reconnects++;
				tunnel_connect(t);
			}
			break;
		}
	}
}

int client_start(struct daemon *d)
{
	struct client *cl = calloc(1, sizeof(*cl));
	int r;

	if (!cl)
		return -ENOMEM;
	d->client = cl;
	cl->d = d;
	cl->tunnels = calloc(d->conf->n_tunnels, sizeof(*cl->tunnels));
	cl->class_active = calloc(d->conf->n_classes + 1, sizeof(*cl->class_active));
	if (!cl->tunnels || !cl->class_active)
		return -ENOMEM;
	for (size_t i = 0; i < d->conf->n_tunnels; i++) {
		cl->tunnels[i] = calloc(1, sizeof(**cl->tunnels));
		if (!cl->tunnels[i])
			return -ENOMEM;
		cl->n_tunnels = i + 1;
		r = tunnel_init(cl, cl->tunnels[i], d->conf, &d->conf->tunnels[i]);
		if (r < 0)
			return r;
	}
	if (d->conf->n_wans) {
		r = wans_new(d->loop, d->nl, d->conf, client_wan_changed, cl, &cl->wans);
		if (r < 0) {
			log_err("WAN monitor: cannot open an rtnetlink socket: %s", strerror(-r));
			return r;
		}
	}
	/* Tunnels with a WAN wait (quietly) for its first state: client_wan_changed(). */
	for (size_t i = 0; i < cl->n_tunnels; i++)
		tunnel_connect(cl->tunnels[i]);
	return 0;
}

void client_shutdown(struct daemon *d)
{
	struct client *cl = d->client;

	if (!cl)
		return;
	for (size_t i = 0; i < cl->n_tunnels; i++) {
		struct tunnel *t = cl->tunnels[i];

		if (t->conn)
			conn_close(t->conn, 0, "shutdown");
	}
}

/* Stop and free one tunnel: its connection (CONNECTION_CLOSE if close), socket and TUN. */
static void tunnel_free(struct tunnel *t, bool close)
{
	struct ev_loop *loop;

	if (!t)
		return;
	loop = t->cl->d->loop;
	if (close && t->conn)
		conn_close(t->conn, 0, "tunnel removed from the configuration");
	ev_timer_stop(loop, &t->retry_timer);
	if (t->sock.fd >= 0)
		ev_io_stop(loop, &t->udp_watcher);
	conn_free(t->conn);
	udp_close(&t->sock);
	if (t->tun.fd >= 0)
		ev_io_stop(loop, &t->tun_watcher);
	tun_close(&t->tun);
	free(t);
}

void client_free(struct client *cl)
{
	if (!cl)
		return;
	for (size_t i = 0; i < cl->n_tunnels; i++)
		tunnel_free(cl->tunnels[i], false);
	wans_free(cl->wans); /* removes the WAN rules and routes */
	free(cl->tunnels);
	free(cl->class_active);
	free(cl);
}

static bool quic_equal(const struct conf_quic *a, const struct conf_quic *b)
{
	return a->keepalive_ms == b->keepalive_ms && a->idle_timeout_ms == b->idle_timeout_ms &&
	       a->backoff_min_ms == b->backoff_min_ms && a->backoff_max_ms == b->backoff_max_ms &&
	       a->mtu == b->mtu && a->cc == b->cc && a->delay_target_us == b->delay_target_us;
}

static bool wan_equal(const struct conf_wan *a, const struct conf_wan *b)
{
	return strcmp(a->name, b->name) == 0 && strcmp(a->interface, b->interface) == 0 &&
	       a->has_source == b->has_source &&
	       (!a->has_source || memcmp(&a->source, &b->source, sizeof(a->source)) == 0) &&
	       a->gw_mode == b->gw_mode &&
	       (a->gw_mode != CONF_GW_STATIC ||
		memcmp(&a->gateway, &b->gateway, sizeof(a->gateway)) == 0) &&
	       a->table == b->table && a->keepalive_ms == b->keepalive_ms;
}

static bool wans_equal(const struct conf *a, const struct conf *b)
{
	if (a->n_wans != b->n_wans || wans_rule_priority(a) != wans_rule_priority(b))
		return false;
	for (size_t i = 0; i < a->n_wans; i++)
		if (!wan_equal(&a->wans[i], &b->wans[i]))
			return false;
	return true;
}

static const char *class_name(const struct conf *c, int idx)
{
	return idx >= 0 ? c->classes[idx].name : "";
}

static bool tunnel_equal(const struct conf *a, const struct conf_tunnel *ta, const struct conf *b,
			 const struct conf_tunnel *tb)
{
	if (strcmp(ta->tun, tb->tun) != 0 || !quic_equal(&ta->quic, &tb->quic) ||
	    strcmp(class_name(a, ta->class_idx), class_name(b, tb->class_idx)) != 0 ||
	    (ta->wan < 0) != (tb->wan < 0))
		return false;
	return ta->wan < 0 || wan_equal(&a->wans[ta->wan], &b->wans[tb->wan]);
}

int client_reload(struct daemon *d, struct conf *nc, bool peer_changed)
{
	struct client *cl = d->client;
	struct conf *oc = d->conf;
	bool wans_changed = !wans_equal(oc, nc);
	struct tunnel **nt, **active;
	size_t kept = 0, added = 0, removed = 0;
	int r;

	nt = calloc(nc->n_tunnels ? nc->n_tunnels : 1, sizeof(*nt));
	active = calloc(nc->n_classes + 1, sizeof(*active));
	if (!nt || !active) {
		free(nt);
		free(active);
		return -ENOMEM;
	}
	/* Unchanged tunnels move to the new configuration with their connections. */
	for (size_t i = 0; i < nc->n_tunnels; i++) {
		for (size_t j = 0; j < cl->n_tunnels; j++) {
			struct tunnel *t = cl->tunnels[j];

			if (t && strcmp(t->conf->name, nc->tunnels[i].name) == 0 && !peer_changed &&
			    !(wans_changed && (t->wan || nc->tunnels[i].wan >= 0)) &&
			    tunnel_equal(oc, t->conf, nc, &nc->tunnels[i])) {
				nt[i] = t;
				cl->tunnels[j] = NULL;
				kept++;
				break;
			}
		}
	}
	/* Removed and changed ones go (a changed one comes back below, as new). */
	for (size_t j = 0; j < cl->n_tunnels; j++) {
		if (!cl->tunnels[j])
			continue;
		log_info("%s: %s by the new configuration", cl->tunnels[j]->name,
			 conf_find_tunnel(nc, cl->tunnels[j]->conf->name) >= 0 ? "changed"
									       : "removed");
		tunnel_free(cl->tunnels[j], true);
		removed++;
	}
	if (wans_changed) {
		wans_free(cl->wans);
		cl->wans = NULL;
	}
	free(cl->tunnels);
	free(cl->class_active);
	cl->tunnels = nt;
	cl->n_tunnels = nc->n_tunnels;
	cl->class_active = active;
	d->conf = nc;
	for (size_t i = 0; i < nc->n_tunnels; i++) {
		if (nt[i]) {
			tunnel_set_conf(nt[i], nc, &nc->tunnels[i]);
			continue;
		}
		nt[i] = calloc(1, sizeof(**nt));
		if (!nt[i])
			return -ENOMEM; /* the configuration is in place; this tunnel is missing */
		added++;
		r = tunnel_init(cl, nt[i], nc, &nc->tunnels[i]);
		if (r < 0)
			continue; /* logged; it stays idle with its error in the status */
	}
	if (wans_changed && nc->n_wans) {
		r = wans_new(d->loop, d->nl, nc, client_wan_changed, cl, &cl->wans);
		if (r < 0)
			log_err("WAN monitor: cannot open an rtnetlink socket: %s", strerror(-r));
	} else if (cl->wans) {
		wans_set_conf(cl->wans, nc);
	}
	for (size_t i = 0; i < nc->n_tunnels; i++)
		if (nt[i]->state == TUNNEL_IDLE && nt[i]->tun.fd >= 0)
			tunnel_connect(nt[i]);
	for (size_t k = 0; k < nc->n_classes; k++)
		class_update(cl, (int)k);
	log_notice("reload: %zu tunnel%s kept, %zu started, %zu stopped", kept,
		   kept == 1 ? "" : "s", added, removed);
	return 0;
}

void client_status(struct daemon *d, json_t *root)
{
	struct client *cl = d->client;
	json_t *arr = json_array();
	uint64_t now = mpq_now_ns();
	char p[MPQ_PREFIX_STRLEN];

	for (size_t i = 0; cl && i < cl->n_tunnels; i++) {
		struct tunnel *t = cl->tunnels[i];
		const struct conf_tunnel *ct = t->conf;
		json_t *o = json_object(), *addrs = json_array();

		json_object_set_new(o, "name", json_string(ct->name));
		json_object_set_new(o, "class",
				    json_string(ct->class_idx >= 0
							? d->conf->classes[ct->class_idx].name
							: ""));
		json_object_set_new(o, "wan", json_string(t->wan ? t->wan->name : ""));
		json_object_set_new(o, "tun", json_string(t->tun.name));
		json_object_set_new(o, "state", json_string(state_names[t->state]));
		json_object_set_new(o, "state_for_s",
				    json_real((double)(now - t->state_since_ns) / 1e9));
		json_object_set_new(o, "congestion", json_string(conf_cc_name(ct->quic.cc)));
		json_object_set_new(o, "delay_target_ms",
				    json_real(ct->quic.delay_target_us / 1000.));
		json_object_set_new(o, "mtu", json_integer(t->mtu));
		for (size_t j = 0; j < t->n_assigned; j++)
			json_array_append_new(addrs, json_string(mpq_prefix_format(&t->assigned[j],
										   p, sizeof(p))));
		json_object_set_new(o, "inner_addresses", addrs);
		if (t->conn)
			conn_status_json(t->conn, o);
		conn_stats_json(&t->totals, t->conn ? conn_stats(t->conn) : NULL, o);
		json_object_set_new(
			json_object_get(o, "drops"), "no_session",
			json_integer((json_int_t)(t->drops_no_session +
						  t->totals.drops[CONN_DROP_NO_SESSION] +
						  (t->conn ? conn_stats(t->conn)
								     ->drops[CONN_DROP_NO_SESSION]
							   : 0))));
		json_object_set_new(o, "reconnects", json_integer((json_int_t)t->reconnects));
		json_object_set_new(o, "last_error", json_string(t->last_error));
		json_array_append_new(arr, o);
	}
	json_object_set_new(root, "tunnels", arr);
	arr = json_array();
	for (size_t i = 0; cl && i < d->conf->n_classes; i++) {
		const struct conf_class *k = &d->conf->classes[i];
		const struct tunnel *a = cl->class_active ? cl->class_active[i] : NULL;

		json_array_append_new(arr,
				      json_pack("{s:s, s:s, s:I, s:I}", "name", k->name, "active",
						a ? a->conf->name : "", "mark", (json_int_t)k->mark,
						"table", (json_int_t)k->table));
	}
	json_object_set_new(root, "classes", arr);
	arr = json_array();
	if (cl)
		wans_status(cl->wans, arr);
	json_object_set_new(root, "wans", arr);
}

const struct daemon_role client_role = {
	.name = "client",
	.start = client_start,
	.shutdown = client_shutdown,
	.reload = client_reload,
	.status = client_status,
};
