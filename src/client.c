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
 * Path health (lib/health.h) decides which tunnel each class rides: every tunnel measures its
 * path from QUIC's acknowledgements and losses of datagrams, sending a probe datagram in every
 * probe interval that carried none, and a class leaves a tunnel that went silent, lossy or slow
 * (docs/architecture.md, "Failover"). A tunnel that left its classes keeps its connection and
 * keeps probing, and the class returns once it is healthy again for the hold time.
 *
 * Timers:
 *   retry_timer (per tunnel): the next connection attempt after a failure (backoff with
 *                             jitter, backoff_min_ms doubling up to backoff_max_ms); while
 *                             waiting for the WAN, a slow safety retry (TUNNEL_WAN_RETRY_S) in
 *                             case a WAN event was missed.
 *   health_timer (per tunnel): every probe_interval_ms of its class: probe if the interval
 *                             carried no datagram, judge the path, move classes on a change.
 *   setup_timer (per tunnel): the deadline of the current setup stage while connecting
 *                             (TUNNEL_SETUP_STAGE_S each: handshake, then SETTINGS and the
 *                             answer to the CONNECT-IP request, then ADDRESS_ASSIGN); on
 *                             expiry the attempt fails with the stage as reason and backs off.
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
#include "classrt.h"
#include "client.h"
#include "conn.h"
#include "ctl.h"
#include "dedup.h"
#include "health.h"
#include "ippkt.h"
#include "log.h"
#include "mpq.h"
#include "nl.h"
#include "proto.h"
#include "sysctl.h"
#include "tls.h"
#include "route.h"
#include "tun.h"
#include "udp.h"
#include "varint.h"
#include "util.h"
#include "wan.h"

#define TUN_BATCH    512
#define MAX_ASSIGNED (2 * CONF_MAX_PREFIXES) /* a tunnel's addresses and its routes */
#define MAX_ROUTES   CONF_MAX_PREFIXES

#define TUNNEL_WAN_RETRY_S 30.
/* Each stage of tunnel setup must complete within this time (see setup_timer). */
#define TUNNEL_SETUP_STAGE_S 10

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
	ev_timer setup_timer; /* running while TUNNEL_CONNECTING */
	enum tunnel_state state;
	uint64_t state_since_ns;
	uint32_t backoff_ms;
	struct pktsize size; /* lib/pktsize.h: the TUN MTU and the queue slots */
	uint64_t reconnects;
	bool close_pending;    /* refused or ended session: close after this read */
	uint64_t close_code;   /* the CONNECTION_CLOSE for close_pending: HTTP/3 error code */
	const char *close_why; /* and reason (static) */
	bool wan_warned;
	int wan_err;		  /* the reason last logged while waiting for the WAN */
	uint64_t replaced_log_ns; /* last "taken over" message */
	char last_error[320];

	struct mpq_prefix assigned[MAX_ASSIGNED]; /* from ADDRESS_ASSIGN */
	size_t n_assigned;
	struct capsule_range routes[MAX_ROUTES]; /* from ROUTE_ADVERTISEMENT */
	size_t n_routes;
	bool have_routes;

	struct conn_stats totals; /* of finished connections */
	uint64_t drops_no_session;

	struct health health;
	ev_timer health_timer;
	struct conn_path seen; /* the connection's counters at the last health tick */
	int role_sent;	       /* enum mpq_path_role announced on this session, -1: none */
};

/* What a class rides now (docs/configuration.md, classes[].policy). */
struct class_state {
	struct tunnel *active; /* borrowed: its routing table points at this tunnel's TUN */
	struct tunnel *second; /* borrowed: the duplicate policy's second tunnel, or NULL */
	uint64_t moves;
	uint64_t last_move_ns;
	char last_from[CONF_NAME_MAX + 1], last_to[CONF_NAME_MAX + 1];
	char last_reason[200];
	struct dedup *dedup; /* owned: duplicate policy only */
	uint64_t dup_dropped;
};

struct client {
	struct daemon *d;	 /* borrowed */
	struct tunnel **tunnels; /* owned, each; in conf.tunnels order */
	size_t n_tunnels;
	struct wans *wans;	 /* owned; NULL without WANs */
	struct class_state *cls; /* owned: per class of the configuration */
	struct classrt *classrt; /* owned; NULL without classes */
	uint8_t scratch[MPQ_PKT_MAX];
};

static void tunnel_connect(struct tunnel *t);

/* How good a tunnel is for carrying a class now (health_rank(); 0 without a session). */
static int tunnel_score(const struct tunnel *t)
{
	return t && t->state == TUNNEL_UP ? health_rank(&t->health) : 0;
}

static struct tunnel *class_tunnel(const struct client *cl, const struct conf_class *k, size_t i)
{
	return k->tunnels[i] < cl->n_tunnels ? cl->tunnels[k->tunnels[i]] : NULL;
}

/* The first tunnel of the best score (failover order). */
static struct tunnel *pick_failover(const struct client *cl, const struct conf_class *k)
{
	struct tunnel *best = NULL;

	for (size_t i = 0; i < k->n_tunnels; i++) {
		struct tunnel *t = class_tunnel(cl, k, i);

		if (tunnel_score(t) > tunnel_score(best))
			best = t;
	}
	return best;
}

/*
 * Among the tunnels of the best score, the lowest smoothed RTT; the current one stays unless
 * another is better by more than a fifth of its RTT and 2 ms (no moves on jitter).
 */
static struct tunnel *pick_lowest_rtt(const struct client *cl, const struct conf_class *k,
				      struct tunnel *cur)
{
	struct tunnel *best = pick_failover(cl, k);
	int top = tunnel_score(best);

	for (size_t i = 0; best && i < k->n_tunnels; i++) {
		struct tunnel *t = class_tunnel(cl, k, i);

		if (tunnel_score(t) == top && t->health.have_rtt &&
		    (!best->health.have_rtt || t->health.srtt_us < best->health.srtt_us))
			best = t;
	}
	if (best && cur && cur != best && tunnel_score(cur) == top && cur->health.have_rtt &&
	    best->health.srtt_us + MPQ_MAX(2000u, cur->health.srtt_us / 5) >= cur->health.srtt_us)
		return cur;
	return best;
}

/* The duplicate policy's second tunnel: the best usable one on another WAN than first. */
static struct tunnel *pick_second(const struct client *cl, const struct conf_class *k,
				  const struct tunnel *first)
{
	struct tunnel *best = NULL;

	for (size_t i = 0; first && i < k->n_tunnels; i++) {
		struct tunnel *t = class_tunnel(cl, k, i);

		if (t && t != first && t->conf->wan != first->conf->wan && tunnel_score(t) >= 2 &&
		    tunnel_score(t) > tunnel_score(best))
			best = t;
	}
	return best;
}

/* Why a class leaves old for new, for the log and the status. */
static void move_reason(const struct conf_class *k, const struct tunnel *old,
			const struct tunnel *new, char *buf, size_t size)
{
	char h[160];
	uint64_t now = mpq_now_ns();

	if (!old) {
		snprintf(buf, size, "first tunnel up");
	} else if (old->state != TUNNEL_UP) {
		snprintf(buf, size, "%.96s has no session (%.80s)", old->name,
			 old->last_error[0] ? old->last_error : state_names[old->state]);
	} else if (tunnel_score(old) < tunnel_score(new)) {
		snprintf(buf, size, "%.96s %s: %.90s", old->name,
			 health_state_name(old->health.state),
			 health_describe(&old->health, now, h, sizeof(h)));
	} else if (k->policy == CONF_POLICY_LOWEST_RTT && tunnel_score(old) == tunnel_score(new)) {
		snprintf(buf, size, "lower RTT: %.1f ms against %.1f ms",
			 new->health.srtt_us / 1000., old->health.srtt_us / 1000.);
	} else {
		snprintf(buf, size, "%.96s is %s and comes first", new->name,
			 health_state_name(new->health.state));
	}
}

/* Tell the server what each session of the class is for now (PATH_ROLE capsule). */
static void announce_roles(struct client *cl, const struct conf_class *k,
			   const struct class_state *cs)
{
	for (size_t i = 0; i < k->n_tunnels; i++) {
		struct tunnel *t = class_tunnel(cl, k, i);
		int role = t == cs->active   ? MPQ_ROLE_ACTIVE
			   : t == cs->second ? MPQ_ROLE_DUPLICATE
					     : MPQ_ROLE_STANDBY;
		uint8_t buf[16], *q = buf;

		if (!t || !t->conn || t->state != TUNNEL_UP || t->role_sent == role)
			continue;
		q = mpq_varint_put(q, MPQ_CAPSULE_PATH_ROLE);
		q = mpq_varint_put(q, mpq_varint_len((uint64_t)role));
		q = mpq_varint_put(q, (uint64_t)role);
		if (conn_send_capsule(t->conn, buf, (size_t)(q - buf)) == 0) {
			t->role_sent = role;
			conn_write(t->conn); /* on failure ops->closed tore the tunnel down */
		}
	}
}

/*
 * Choose the tunnel(s) a class rides, by its policy and the tunnels' health (lib/health.h),
 * and point its routing table's default route at the chosen tunnel's TUN (classrt.c keeps it
 * so). With no tunnel that has a session, when_down decides: "drop" leaves the route on the last
 * one (traffic waits there, counted as no_session, rather than leaking out of the main table
 * unencrypted; before any tunnel was up, mpquic-nft's unreachable kill switch answers); "wan"
 * removes it, so the class's traffic falls through to the main table and out of a WAN.
 */
static void class_update(struct client *cl, int class_idx)
{
	const struct conf *cf = cl->d->conf;
	const struct conf_class *k;
	struct class_state *cs;
	struct tunnel *best, *second = NULL;

	if (class_idx < 0 || !cl->cls || cl->d->stopping)
		return;
	k = &cf->classes[class_idx];
	cs = &cl->cls[class_idx];
	best = k->policy == CONF_POLICY_LOWEST_RTT ? pick_lowest_rtt(cl, k, cs->active)
						   : pick_failover(cl, k);
	if ((!best || tunnel_score(best) == 0) && k->when_down == CONF_WHEN_DOWN_WAN &&
	    cs->active) {
		log_warn("class '%s': no tunnel is up, its traffic leaves by the main table "
			 "unencrypted (when_down: wan)",
			 k->name);
		cs->active = NULL;
		cs->second = NULL;
		classrt_set(cl->classrt, (size_t)class_idx, 0, NULL);
	}
	if (!best || tunnel_score(best) == 0) {
		announce_roles(cl, k, cs);
		return;
	}
	if (k->policy == CONF_POLICY_DUPLICATE)
		second = pick_second(cl, k, best);
	if (best != cs->active) {
		char why[200];

		move_reason(k, cs->active, best, why, sizeof(why));
		if (cs->active)
			log_notice("class '%s': moves from %s to %s: %s", k->name, cs->active->name,
				   best->name, why);
		else
			log_info("class '%s': rides %s", k->name, best->name);
		if (cs->active) {
			cs->moves++;
			cs->last_move_ns = mpq_now_ns();
			snprintf(cs->last_from, sizeof(cs->last_from), "%s",
				 cs->active->conf->name);
			snprintf(cs->last_to, sizeof(cs->last_to), "%s", best->conf->name);
			snprintf(cs->last_reason, sizeof(cs->last_reason), "%s", why);
		}
		cs->active = best;
		classrt_set(cl->classrt, (size_t)class_idx, best->tun.ifindex, best->tun.name);
	}
	if (second != cs->second) {
		if (second)
			log_info("class '%s': duplicates on %s", k->name, second->name);
		else if (cs->second)
			log_notice("class '%s': no second tunnel on another WAN to duplicate on",
				   k->name);
		cs->second = second;
	}
	announce_roles(cl, k, cs);
}

static void set_state(struct tunnel *t, enum tunnel_state s)
{
	enum tunnel_state old = t->state;

	if (old == s)
		return;
	log_debug("%s: %s -> %s", t->name, state_names[t->state], state_names[s]);
	t->state = s;
	t->state_since_ns = mpq_now_ns();
	if (s == TUNNEL_UP) {
		t->role_sent = -1;
		health_session_up(&t->health, t->state_since_ns);
	} else if (old == TUNNEL_UP) {
		health_session_down(&t->health, t->state_since_ns);
	}
	if (s != TUNNEL_CONNECTING)
		ev_timer_stop(t->cl->d->loop, &t->setup_timer);
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
	ev_timer_stop(loop, &t->setup_timer);
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
	case -ENETUNREACH:
		return "no gateway (gateway \"auto\" and no default route via its interface in the "
		       "main table)";
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
	if ((!t->wan_warned || t->wan_err != err) && err != -EAGAIN) {
		log_warn("%s: waiting for WAN '%s' (%s): %s", t->name, t->wan->name,
			 t->wan->interface, why);
		t->wan_warned = true;
		t->wan_err = err;
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

/* (Re)start the deadline of the next setup stage. */
static void setup_stage(struct tunnel *t)
{
	struct ev_loop *loop = t->cl->d->loop;

	ev_timer_stop(loop, &t->setup_timer);
	ev_timer_set(&t->setup_timer, TUNNEL_SETUP_STAGE_S, 0.);
	ev_timer_start(loop, &t->setup_timer);
}

/* A setup stage did not complete in time: the attempt failed, back off and retry. */
static void setup_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct tunnel *t = container_of(w, struct tunnel, setup_timer);
	const char *what = t->conn ? conn_waiting_for(t->conn) : NULL;
	char msg[160];

	(void)loop;
	(void)revents;
	if (t->state != TUNNEL_CONNECTING || !t->conn)
		return;
	snprintf(msg, sizeof(msg), "tunnel setup timed out after %d s waiting for %s",
		 TUNNEL_SETUP_STAGE_S, what ? what : "ADDRESS_ASSIGN");
	if (strcmp(msg, t->last_error) != 0 || t->reconnects % 20 == 0)
		log_err("%s: %s", t->name, msg);
	conn_close(t->conn, 0x010c /* H3_REQUEST_CANCELLED */, "tunnel setup timed out");
	tunnel_teardown(t, msg);
}

/* ---- connection events ---- */

static void tunnel_handshake_done(struct conn *c)
{
	struct tunnel *t = conn_owner(c);

	log_debug("%s: QUIC handshake complete", t->name);
	setup_stage(t);
}

/* The session ended (the server aborted or closed its stream): reconnect. */
static void tunnel_session_ended(struct conn *c, const char *why)
{
	struct tunnel *t = conn_owner(c);
	char msg[160];

	snprintf(msg, sizeof(msg), "CONNECT-IP session ended: %s", why);
	log_warn("%s: %s", t->name, msg);
	snprintf(t->last_error, sizeof(t->last_error), "%s", msg);
	t->close_code = 0x0100; /* H3_NO_ERROR */
	t->close_why = "session ended";
	t->close_pending = true; /* we are inside ngtcp2: act after the read */
}

static void tunnel_response(struct conn *c, int status)
{
	struct tunnel *t = conn_owner(c);

	if (status >= 200 && status < 300) {
		log_debug("%s: CONNECT-IP session accepted", t->name);
		setup_stage(t); /* now ADDRESS_ASSIGN */
		return;
	}
	char msg[320];
	const char *id = t->cl->d->tls->identity;

	if (status == 403)
		snprintf(
			msg, sizeof(msg),
			"server refused the tunnel (HTTP status 403): the server does not let "
			"identity '%.64s' open tunnel '%.32s' (see the server's clients[].tunnels)",
			id, t->conf->name);
	else if (status == 409)
		snprintf(msg, sizeof(msg),
			 "server refused the tunnel (HTTP status 409): another connection of "
			 "identity '%.64s' holds tunnel '%.32s' and took it over too often; two "
			 "clients share this identity?",
			 id, t->conf->name);
	else
		snprintf(msg, sizeof(msg), "server refused the tunnel (HTTP status %d)", status);
	/* the other holder keeps it for a while: do not knock again soon */
	if (status == 409)
		t->backoff_ms = t->conf->quic.backoff_max_ms;
	if (strcmp(msg, t->last_error) != 0 || t->reconnects % 20 == 0)
		log_err("%s: %s", t->name, msg);
	snprintf(t->last_error, sizeof(t->last_error), "%s", msg);
	t->close_code = 0x010b; /* H3_REQUEST_REJECTED */
	t->close_why = "tunnel refused";
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
		static const uint8_t zero[16];

		/* The all-zero host form answers a request the server could not serve. */
		if (pf->len == mpq_family_maxlen(pf->family) &&
		    memcmp(pf->addr, zero, mpq_family_addrlen(pf->family)) == 0)
			continue;
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

/*
 * An ADDRESS_REQUEST from the server: RFC 9484 §4.7.2 wants an ADDRESS_ASSIGN with each
 * Request ID. The client assigns nothing to the server, so every entry is the all-zero
 * "cannot assign" form of its family. Empty or with Request ID 0: malformed (-EPROTO).
 */
static int answer_address_request(struct tunnel *t, const uint8_t *v, size_t len)
{
	struct capsule_addr a[32];
	uint8_t buf[16 + 32 * 26]; /* header + entries of at most 8 + 1 + 16 + 1 bytes */
	size_t n;
	ssize_t blen;
	int r;

	r = capsule_decode_addresses(v, len, a, ARRAY_SIZE(a), &n);
	if (r == 0)
		r = capsule_check_address_request(a, n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		memset(a[i].prefix.addr, 0, sizeof(a[i].prefix.addr));
		a[i].prefix.len = (uint8_t)mpq_family_maxlen(a[i].prefix.family);
	}
	blen = capsule_encode_addresses(buf, sizeof(buf), CAPSULE_ADDRESS_ASSIGN, a, n);
	if (blen < 0 || conn_send_capsule(t->conn, buf, (size_t)blen) < 0)
		return -ENOBUFS;
	log_info("%s: declined the server's request for %zu address%s", t->name, n,
		 n == 1 ? "" : "es");
	return 0;
}

static int tunnel_capsule(struct conn *c, uint64_t type, const uint8_t *v, size_t len)
{
	struct tunnel *t = conn_owner(c);

	if (type == CAPSULE_ADDRESS_REQUEST)
		return answer_address_request(t, v, len);

	if (type == CAPSULE_ADDRESS_ASSIGN) {
		struct capsule_addr a[MAX_ASSIGNED];
		size_t n;
		int r = capsule_decode_addresses(v, len, a, ARRAY_SIZE(a), &n);

		if (r < 0) {
			/* Malformed: the session stream is aborted and the tunnel reconnects. */
			log_warn("%s: bad ADDRESS_ASSIGN from the server (%s)", t->name,
				 strerror(-r));
			return r;
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
			log_warn("%s: bad ROUTE_ADVERTISEMENT from the server (%s)", t->name,
				 strerror(-r));
			return r;
		}
		t->n_routes = n;
		t->have_routes = true;
		log_debug("%s: %zu route range(s) advertised", t->name, n);
	}
	return 0;
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
	if (t->conf->class_idx >= 0 && t->cl->cls) {
		struct class_state *cs = &t->cl->cls[t->conf->class_idx];

		if (cs->dedup && dedup_seen(cs->dedup, pkt, len, mpq_now_ns())) {
			st->dup_dropped++;
			cs->dup_dropped++;
			return;
		}
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
	if (t->state == TUNNEL_UP && strstr(msg, "replaced by a new connection")) {
		/* once per minute at most: a storm would otherwise log ten lines a second */
		uint64_t now = mpq_now_ns();

		if (!t->replaced_log_ns || now - t->replaced_log_ns > 60 * 1000000000ull) {
			log_warn("%s: connection lost: %s (another client with identity '%s' "
				 "took tunnel '%s' over; two clients share this identity?)",
				 t->name, msg, t->cl->d->tls->identity, t->conf->name);
			t->replaced_log_ns = now;
		}
	} else if (t->state == TUNNEL_UP) {
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
	.session_ended = tunnel_session_ended,
	.closed = tunnel_closed,
};

/* ---- I/O ---- */

static void after_read(struct tunnel *t)
{
	if (!t->conn)
		return;
	if (t->close_pending) {
		conn_close(t->conn, t->close_code, t->close_why);
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
	uint8_t out[IPPKT_ICMP6_MAX]; /* the larger of the two ICMP error sizes */
	struct ippkt_info ip;
	ssize_t n;

	if (ippkt_parse(pkt, len, &ip) < 0)
		return;
	n = ippkt_make_too_big(out, sizeof(out), pkt, len, (uint32_t)mtu, ip.dst);
	if (n > 0)
		(void)tun_write(tun, out, (size_t)n);
}

/*
 * The duplicate policy's partner of t: the other one of its class's pair, when t is one of
 * them and the partner has a session. NULL otherwise.
 */
static struct tunnel *dup_partner(const struct tunnel *t)
{
	const struct class_state *cs;
	struct tunnel *o;

	if (t->conf->class_idx < 0 || !t->cl->cls)
		return NULL;
	cs = &t->cl->cls[t->conf->class_idx];
	if (!cs->second)
		return NULL;
	o = t == cs->active ? cs->second : t == cs->second ? cs->active : NULL;
	return o && o->conn && o->state == TUNNEL_UP ? o : NULL;
}

static void tun_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tunnel *t = container_of(w, struct tunnel, tun_watcher);
	uint8_t *scratch = t->cl->scratch;
	uint64_t now = mpq_now_ns(); /* the queue's timestamp for the whole batch */
	struct tunnel *dup = dup_partner(t);
	bool dup_used = false;

	(void)loop;
	(void)revents;
	for (int i = 0; i < TUN_BATCH; i++) {
		const struct pktsize *ps;
		uint8_t *slot = NULL;
		ssize_t n;

		if (t->conn && t->state == TUNNEL_UP)
			slot = conn_queue_reserve(t->conn); /* NULL without a session (counted) */
		if (!slot) {
			n = tun_read(&t->tun, scratch, MPQ_PKT_MAX);
			if (n < 0)
				break;
			if (!t->conn || t->state != TUNNEL_UP)
				t->drops_no_session++;
			continue;
		}
		/*
		 * Straight into the slot; whatever does not fit (the TUN's MTU was raised behind
		 * our back) spills into scratch past the slot's size, so that the whole packet is
		 * at hand for the ICMP error.
		 */
		ps = conn_pktsize(t->conn);
		n = tun_read2(&t->tun, slot, ps->slot, scratch + ps->slot, MPQ_PKT_MAX - ps->slot);
		if (n < 0)
			break;
		if (!pktsize_fits(ps, (size_t)n)) {
			size_t len = MPQ_MIN((size_t)n, MPQ_PKT_MAX);

			conn_stats(t->conn)->drops[CONN_DROP_TOO_BIG]++;
			memcpy(scratch, slot, ps->slot);
			send_too_big(&t->tun, scratch, len, ps->mtu);
			continue;
		}
		if (dup && pktsize_fits(conn_pktsize(dup->conn), (size_t)n)) {
			uint8_t *copy = conn_queue_reserve(dup->conn);

			if (copy) {
				memcpy(copy, slot, (size_t)n);
				conn_queue_commit(dup->conn, (size_t)n, now);
				dup_used = true;
			}
		}
		conn_queue_commit(t->conn, (size_t)n, now); /* counts queue-full drops */
	}
	if (dup_used)
		conn_write(dup->conn); /* on failure ops->closed tore that tunnel down */
	if (t->conn && t->state == TUNNEL_UP)
		conn_write(t->conn);
}

/* ---- path health ---- */

static const struct conf_health default_health = {.probe_interval_ms = 100, .loss_pct = 10};

static const struct conf_health *tunnel_health_conf(const struct tunnel *t)
{
	const struct conf *cf = t->cl->d->conf;

	return t->conf->class_idx >= 0 ? &cf->classes[t->conf->class_idx].health : &default_health;
}

static void health_conf_of(const struct conf_health *c, struct health_conf *ret)
{
	*ret = (struct health_conf){
		.probe_interval_ms = c->probe_interval_ms,
		.silence_ms = c->silence_ms,
		.loss_pct = c->loss_pct,
		.max_rtt_ms = c->max_rtt_ms,
		.recover_ms = c->recover_ms,
	};
}

static void health_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct tunnel *t = container_of(w, struct tunnel, health_timer);
	uint64_t now = mpq_now_ns();
	uint64_t interval = (uint64_t)t->health.conf.probe_interval_ms * 1000000;
	bool write = false;
	char h[160];

	(void)revents;
	/*
	 * Acknowledgements may be waiting unread (a loop starved of CPU runs its timers and its
	 * reads in one late round): read them first, or every tunnel would look silent at once.
	 */
	if (t->conn && t->sock.fd >= 0)
		udp_read_cb(loop, &t->udp_watcher, EV_READ);
	if (t->conn && t->state == TUNNEL_UP) {
		struct conn_path p;

		conn_path_info(t->conn, &p);
		health_count(&t->health, (uint32_t)(p.dgram_acked - t->seen.dgram_acked),
			     (uint32_t)(p.dgram_lost - t->seen.dgram_lost));
		t->seen = p;
		if (p.last_ack_ns)
			health_acked_at(&t->health, p.last_ack_ns);
		health_unacked_since(&t->health, p.unacked_since_ns);
		if (p.have_rtt)
			health_set_rtt(&t->health, p.srtt_us);
		/* A quiet interval gets a probe, so that the path is measured all the same. */
		if (now - p.last_dgram_tx_ns >= interval - interval / 8 && conn_probe(t->conn) == 0)
			write = true;
	}
	if (health_tick(&t->health, now)) {
		health_describe(&t->health, now, h, sizeof(h));
		if (t->health.state == HEALTH_UP)
			log_notice("%s: path healthy again", t->name);
		else if (t->state == TUNNEL_UP)
			log_warn("%s: path %s: %s", t->name, health_state_name(t->health.state), h);
		class_update(t->cl, t->conf->class_idx);
	} else if (t->cl->cls && t->conf->class_idx >= 0 &&
		   t->cl->d->conf->classes[t->conf->class_idx].policy == CONF_POLICY_LOWEST_RTT) {
		class_update(t->cl, t->conf->class_idx); /* RTTs move without a state change */
	}
	if (write && t->conn && t->state == TUNNEL_UP)
		conn_write(t->conn); /* on failure ops->closed already tore the tunnel down */
}

/* (Re)start the health timer at the class's probe interval. */
static void health_start(struct tunnel *t)
{
	double iv = t->health.conf.probe_interval_ms / 1000.;

	ev_timer_stop(t->cl->d->loop, &t->health_timer);
	ev_timer_set(&t->health_timer, iv, iv);
	ev_timer_start(t->cl->d->loop, &t->health_timer);
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

/*
 * wan_source(), and the WAN has a way to the server (a gateway, or the server on its link):
 * -ENETUNREACH otherwise. Only new connection attempts ask this: a connection that is up keeps
 * going through a short gap in the main table (a DHCP client replacing its route).
 */
static int wan_usable(const struct tunnel *t, struct mpq_prefix *ret)
{
	int r = wan_source(t, ret);

	if (r < 0)
		return r;
	return wans_reach(t->cl->wans, (size_t)t->conf->wan,
			  (const struct sockaddr *)&t->cl->d->conf->server_addr);
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
		.mtu = t->size.mtu,
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
		r = wan_usable(t, &src);
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
	t->seen = (struct conn_path){0};
	snprintf(path, sizeof(path), "%s%s", MPQ_SESSION_PATH_PREFIX, t->conf->name);
	conn_request_session(t->conn, path);
	ev_io_init(&t->udp_watcher, udp_read_cb, t->sock.fd, EV_READ);
	ev_io_start(d->loop, &t->udp_watcher);
	set_state(t, TUNNEL_CONNECTING);
	setup_stage(t); /* the handshake (ngtcp2 has its own 10 s handshake timeout too) */
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
	if (t->cl) {
		struct health_conf hc;
		uint32_t old = t->health.conf.probe_interval_ms;

		health_conf_of(tunnel_health_conf(t), &hc);
		health_set_conf(&t->health, &hc);
		if (old && old != t->health.conf.probe_interval_ms)
			health_start(t);
	}
}

static int tunnel_init(struct client *cl, struct tunnel *t, const struct conf *cf,
		       const struct conf_tunnel *ct)
{
	struct daemon *d = cl->d;
	int r;

	t->cl = cl;
	t->conf = ct;
	{
		struct health_conf hc;

		health_conf_of(tunnel_health_conf(t), &hc);
		health_init(&t->health, &hc, mpq_now_ns());
	}
	t->role_sent = -1;
	tunnel_set_conf(t, cf, ct);
	ev_timer_init(&t->health_timer, health_timer_cb, 0., 0.);
	health_start(t);
	t->sock.fd = -1;
	t->tun.fd = -1;
	t->backoff_ms = ct->quic.backoff_min_ms ? ct->quic.backoff_min_ms : 100;
	if (t->wan)
		snprintf(t->name, sizeof(t->name), "tunnel '%s' (%s)", ct->name, t->wan->name);
	else
		snprintf(t->name, sizeof(t->name), "tunnel '%s'", ct->name);
	ev_timer_init(&t->retry_timer, retry_cb, 0., 0.);
	ev_timer_init(&t->setup_timer, setup_timeout_cb, 0., 0.);
	r = pktsize_init(&t->size, ct->quic.mtu);
	if (r < 0) {
		log_err("%s: mtu %u out of range", t->name, ct->quic.mtu); /* conf.c checked it */
		return r;
	}
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
	r = nl_link_set(d->nl, t->tun.ifindex, t->size.mtu, true, t->name);
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
			if (r == 0)
				r = wan_usable(t, &src);
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

/* Class states for configuration cf; moves and counters carried over from old by name. */
static struct class_state *classes_new(const struct conf *cf, const struct conf *oc,
				       const struct class_state *old)
{
	struct class_state *cs = calloc(cf->n_classes + 1, sizeof(*cs));

	if (!cs)
		return NULL;
	for (size_t i = 0; i < cf->n_classes; i++) {
		for (size_t j = 0; old && oc && j < oc->n_classes; j++) {
			if (strcmp(oc->classes[j].name, cf->classes[i].name) != 0)
				continue;
			cs[i].moves = old[j].moves;
			cs[i].last_move_ns = old[j].last_move_ns;
			cs[i].dup_dropped = old[j].dup_dropped;
			memcpy(cs[i].last_from, old[j].last_from, sizeof(cs[i].last_from));
			memcpy(cs[i].last_to, old[j].last_to, sizeof(cs[i].last_to));
			memcpy(cs[i].last_reason, old[j].last_reason, sizeof(cs[i].last_reason));
		}
		if (cf->classes[i].policy == CONF_POLICY_DUPLICATE) {
			uint8_t key[16];

			cs[i].dedup = malloc(sizeof(*cs[i].dedup));
			if (!cs[i].dedup)
				continue; /* no suppression: duplicates reach the LAN, nothing is lost */
			mpq_random(key, sizeof(key));
			dedup_init(cs[i].dedup, key);
		}
	}
	return cs;
}

static void classes_free(struct class_state *cs, size_t n)
{
	for (size_t i = 0; cs && i < n; i++)
		free(cs[i].dedup);
	free(cs);
}

static void sysctl_warn_cb(void *arg, const char *msg)
{
	(void)arg;
	log_warn("%s", msg);
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
	cl->cls = classes_new(d->conf, NULL, NULL);
	if (!cl->tunnels || !cl->cls)
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
	if (d->conf->n_classes) {
		r = classrt_new(d->loop, d->nl, d->conf, &cl->classrt);
		if (r < 0) {
			log_err("class routes: cannot open an rtnetlink socket: %s", strerror(-r));
			return r;
		}
	}
	sysctl_check(d->conf, "/proc/sys", false, sysctl_warn_cb, NULL, NULL);
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
	ev_timer_stop(loop, &t->health_timer);
	ev_timer_stop(loop, &t->setup_timer);
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
	classrt_free(cl->classrt);
	free(cl->tunnels);
	classes_free(cl->cls, cl->d->conf ? cl->d->conf->n_classes : 0);
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
	struct tunnel **nt;
	struct class_state *ncs;
	size_t kept = 0, added = 0, removed = 0;
	int r;

	nt = calloc(nc->n_tunnels ? nc->n_tunnels : 1, sizeof(*nt));
	ncs = classes_new(nc, oc, cl->cls);
	if (!nt || !ncs) {
		free(nt);
		classes_free(ncs, nc->n_classes);
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
	/* A class keeps riding a tunnel that stays (its route need not change). */
	for (size_t i = 0; i < nc->n_classes; i++) {
		for (size_t j = 0; j < oc->n_classes; j++) {
			if (strcmp(oc->classes[j].name, nc->classes[i].name) != 0)
				continue;
			for (size_t k = 0; k < nc->n_tunnels; k++) {
				if (!nt[k] || nc->tunnels[k].class_idx != (int)i)
					continue;
				if (nt[k] == cl->cls[j].active)
					ncs[i].active = nt[k];
				if (nt[k] == cl->cls[j].second)
					ncs[i].second = nt[k];
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
	classes_free(cl->cls, oc->n_classes);
	cl->tunnels = nt;
	cl->n_tunnels = nc->n_tunnels;
	cl->cls = ncs;
	d->conf = nc;
	if (cl->classrt && classrt_set_conf(cl->classrt, nc) < 0) {
		log_err("class routes: out of memory, not following the class tables");
		classrt_free(cl->classrt);
		cl->classrt = NULL;
	} else if (!cl->classrt && nc->n_classes &&
		   (r = classrt_new(d->loop, d->nl, nc, &cl->classrt)) < 0) {
		log_err("class routes: cannot open an rtnetlink socket: %s", strerror(-r));
	}
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
	sysctl_check(nc, "/proc/sys", false, sysctl_warn_cb, NULL, NULL);
	for (size_t k = 0; k < nc->n_classes; k++) {
		/* classrt starts from nothing wanted: a class that keeps its tunnel says so again */
		if (ncs[k].active)
			classrt_set(cl->classrt, k, ncs[k].active->tun.ifindex,
				    ncs[k].active->tun.name);
		class_update(cl, (int)k);
	}
	log_notice("reload: %zu tunnel%s kept, %zu started, %zu stopped", kept,
		   kept == 1 ? "" : "s", added, removed);
	return 0;
}

static json_t *health_json(const struct tunnel *t, uint64_t now)
{
	const struct health *h = &t->health;
	int loss = health_loss_permille(h);
	char buf[160];
	json_t *o = json_pack(
		"{s:s, s:f, s:s, s:s, s:I, s:I}", "state", health_state_name(h->state), "since_s",
		(double)(now - h->since_ns) / 1e9, "reason", health_reason_name(h->reason),
		"detail", health_describe(h, now, buf, sizeof(buf)), "probe_interval_ms",
		(json_int_t)h->conf.probe_interval_ms, "silence_ms",
		(json_int_t)health_silence_ms(h));

	json_object_set_new(o, "rtt_ms",
			    h->have_rtt && t->state == TUNNEL_UP ? json_real(h->srtt_us / 1000.)
								 : json_null());
	json_object_set_new(o, "loss_pct", loss >= 0 ? json_real(loss / 10.) : json_null());
	json_object_set_new(o, "falls", json_integer((json_int_t)h->falls));
	json_object_set_new(o, "hold_ms", json_integer(h->hold_ms));
	return o;
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
		json_object_set_new(o, "mtu", json_integer(t->size.mtu));
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
		json_object_set_new(o, "health", health_json(t, now));
		json_array_append_new(arr, o);
	}
	json_object_set_new(root, "tunnels", arr);
	arr = json_array();
	for (size_t i = 0; cl && i < d->conf->n_classes; i++) {
		const struct conf_class *k = &d->conf->classes[i];
		const struct class_state *cs = &cl->cls[i];
		json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I}", "name", k->name,
				      "policy", conf_policy_name(k->policy), "active",
				      cs->active ? cs->active->conf->name : "", "second",
				      cs->second ? cs->second->conf->name : "", "mark",
				      (json_int_t)k->mark, "table", (json_int_t)k->table, "moves",
				      (json_int_t)cs->moves, "dup_dropped",
				      (json_int_t)cs->dup_dropped);

		json_object_set_new(
			o, "when_down",
			json_string(k->when_down == CONF_WHEN_DOWN_WAN ? "wan" : "drop"));
		json_object_set_new(o, "route_repairs",
				    json_integer((json_int_t)classrt_repairs(cl->classrt, i)));
		if (cs->moves)
			json_object_set_new(o, "last_move",
					    json_pack("{s:s, s:s, s:s, s:f}", "from", cs->last_from,
						      "to", cs->last_to, "reason", cs->last_reason,
						      "ago_s",
						      (double)(now - cs->last_move_ns) / 1e9));
		else
			json_object_set_new(o, "last_move", json_null());
		json_array_append_new(arr, o);
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
