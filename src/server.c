/* SPDX-License-Identifier: MIT */
/*
 * Server: listeners, connection-ID demultiplexing, client authorization, the shared TUN.
 *
 * Stateless answers (no connection state is created for them):
 *   - Version Negotiation for a long header of a version we do not speak (ngtcp2 only
 *     reports those in datagrams of at least 1200 bytes, so the answer is always smaller);
 *   - Retry (RFC 9000 §8.1.2) for an Initial without a token when "retry" is "always", or
 *     "auto" with limits.max_handshakes half-open handshakes; the token binds the client's
 *     address and its first DCID and is valid RETRY_TOKEN_TIMEOUT; a token that fails
 *     verification is answered with CONNECTION_CLOSE(INVALID_TOKEN);
 *   - Stateless Reset (RFC 9000 §10.3) for a short header with a DCID we do not know, from
 *     a token bucket, always shorter than the packet that caused it and never for packets of
 *     41 bytes or less, so that two endpoints cannot loop on each other's resets.
 *
 * Timers: none of its own (each connection has its expiry timer in conn.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capsule.h"
#include "cid.h"
#include "cipath.h"
#include "conn.h"
#include "ctl.h"
#include "dedup.h"
#include "ippkt.h"
#include "log.h"
#include "lpm.h"
#include "mpq.h"
#include "nl.h"
#include "proto.h"
#include "server.h"
#include "tun.h"
#include "udp.h"
#include "varint.h"
#include "util.h"

#define TUN_BATCH 512
#define CID_LEN	  16

#define RETRY_TOKEN_TIMEOUT (10 * NGTCP2_SECONDS)
/* Stateless resets: token bucket of RESET_BURST, refilled at RESET_RATE per second. */
#define RESET_RATE  100
#define RESET_BURST 50
/* RFC 9000 §10.3: a reset must look like a short header packet (at least 21 bytes with a
 * 16-byte token); we answer only packets > 41 bytes and at most with RESET_MAX_LEN bytes. */
#define RESET_MIN_TRIGGER 42
#define RESET_MAX_LEN	  42

struct srv_conn;
struct srv_group;

struct srv_tunnel {
	const struct conf_srv_tunnel *conf; /* borrowed */
	char name[96];
	struct srv_conn *live;	 /* borrowed: the connection its traffic goes to, or NULL */
	struct srv_group *group; /* borrowed: the group whose addresses it carries */
	int role;		 /* enum mpq_path_role, as the client last announced it */
	uint64_t last_rx_ns;	 /* last valid inner packet from the client */
	struct conn_stats totals;
	uint64_t sessions;
	/* takeover storm guard: see srv_takeover_ok() */
	uint64_t takeover_since_ns; /* start of the current counting window */
	unsigned takeovers;	    /* in that window */
	uint64_t takeover_block_ns; /* takeovers refused (409) until then */
};

/*
 * The inner addresses of one or more tunnels of a client (conf clients[].groups; a tunnel
 * outside any group is a group of its own): the LPM table maps prefixes to groups. Return
 * traffic goes to `active`, the member the client used last (its latest packet, or a PATH_ROLE
 * capsule naming it active), so it follows a class that moved within one packet; a member
 * that lost its connection is replaced by the live member heard from last. With a duplicate
 * class (a member announced MPQ_ROLE_DUPLICATE), every packet also goes to `second`, and
 * packets from the client pass the group's duplicate filter.
 */
struct srv_group {
	const struct conf_srv_group *conf; /* borrowed, or NULL for a tunnel of its own */
	struct srv_tunnel **members;	   /* owned array of borrowed members */
	size_t n_members;
	struct srv_tunnel *active; /* borrowed, or NULL */
	struct srv_tunnel *second; /* borrowed, or NULL */
	bool dup;		   /* a live member carries duplicates */
	struct dedup *dedup;	   /* owned, allocated when duplicates first arrive */
	uint64_t switches;	   /* changes of the active member */
	uint64_t dup_dropped;
};
#define SRV_TAKEOVER_MAX     10 /* takeovers of one tunnel ... */
#define SRV_TAKEOVER_WIN_S   5	/* ... within this many seconds start a block ... */
#define SRV_TAKEOVER_BLOCK_S 30 /* ... of this many seconds */

struct listener {
	struct server *s; /* borrowed */
	struct udp_sock sock;
	ev_io watcher;
};

struct srv_conn {
	struct server *s;	   /* borrowed */
	struct conn *conn;	   /* owned */
	struct listener *l;	   /* borrowed */
	struct srv_tunnel *tunnel; /* borrowed; set when its session opens */
	int client;		   /* index into conf.clients, or -1 */
	bool counted;		   /* counted in client_conns[client] */
	bool handshaking;
	bool dirty;			  /* on the write list */
	uint8_t odcid[NGTCP2_MAX_CIDLEN]; /* the client's first DCID, also in the CID table */
	size_t odcid_len;
	struct srv_conn *next_dirty;
	struct srv_conn *prev, *next; /* all connections */
	char peer[64];
};

struct server_stats {
	uint64_t rx_datagrams;
	uint64_t garbage;
	uint64_t unknown_cid;
	uint64_t version_negotiations;
	uint64_t retries;
	uint64_t retry_token_invalid;
	uint64_t stateless_resets;
	uint64_t resets_limited; /* resets the token bucket did not allow */
	uint64_t refused_limit;
	uint64_t tun_no_route;
	uint64_t tun_malformed;
};

struct server {
	struct daemon *d; /* borrowed */
	struct listener listeners[CONF_MAX_LISTEN];
	size_t n_listeners;
	struct tun tun;	     /* owned */
	struct pktsize size; /* lib/pktsize.h: the TUN MTU and every connection's queue slots */
	ev_io tun_watcher;
	struct cid_table *cids;	    /* owned: our CIDs -> struct srv_conn */
	struct lpm *routes;	    /* owned: inner prefixes -> struct srv_group */
	struct srv_tunnel *tunnels; /* owned, one per conf.srv_tunnels */
	struct srv_group *groups;   /* owned: conf.srv_groups, then one per ungrouped tunnel */
	size_t n_groups;
	uint32_t *client_conns; /* owned: live connections per client identity */
	struct srv_conn *conns; /* list of all connections */
	struct srv_conn *dirty; /* connections to write after this batch */
	size_t n_conns;
	size_t n_handshaking;
	struct server_stats stats;
	struct ratelimit rl_garbage;
	struct ratelimit rl_peer; /* log lines a client can trigger */
	double reset_tokens;	  /* token bucket for stateless resets */
	uint64_t reset_refill_ns;
	uint8_t scratch[MPQ_PKT_MAX];
};

/* May a log line that a peer can trigger be printed now? Reports what was suppressed. */
static bool peer_log_ok(struct server *s)
{
	uint64_t sup = 0;

	if (!ratelimit_ok(&s->rl_peer, mpq_now_ns() / 1000000, &sup))
		return false;
	if (sup)
		log_warn("(%" PRIu64 " similar messages about clients suppressed)", sup);
	return true;
}

static void mark_dirty(struct srv_conn *sc)
{
	if (sc->dirty)
		return;
	sc->dirty = true;
	sc->next_dirty = sc->s->dirty;
	sc->s->dirty = sc;
}

/* ---- groups ---- */

static struct srv_conn *live_session(const struct srv_tunnel *t)
{
	return t && t->live && conn_session_open(t->live->conn) ? t->live : NULL;
}

/* The member return traffic goes to now, or NULL when no member has a session. */
static struct srv_tunnel *group_target(struct srv_group *g)
{
	struct srv_tunnel *best = NULL;

	if (live_session(g->active))
		return g->active;
	for (size_t i = 0; i < g->n_members; i++) {
		struct srv_tunnel *m = g->members[i];

		if (live_session(m) && (!best || m->last_rx_ns > best->last_rx_ns))
			best = m;
	}
	if (best && g->active && best != g->active)
		g->switches++;
	g->active = best;
	return best;
}

/* Recompute whether the group carries duplicates; the filter comes with the first. */
static void group_refresh(struct srv_group *g)
{
	g->dup = false;
	for (size_t i = 0; i < g->n_members; i++)
		if (live_session(g->members[i]) && g->members[i]->role == MPQ_ROLE_DUPLICATE)
			g->dup = true;
	if (g->second && (!live_session(g->second) || g->second == g->active))
		g->second = NULL;
	if (g->dup && !g->dedup) {
		uint8_t key[16];

		g->dedup = malloc(sizeof(*g->dedup));
		if (g->dedup) { /* without it duplicates reach the TUN: nothing is lost */
			mpq_random(key, sizeof(key));
			dedup_init(g->dedup, key);
		}
	}
}

/* A member sent a valid packet (or named itself active): return traffic follows it. */
static void group_learn(struct srv_group *g, struct srv_tunnel *t)
{
	if (g->active == t)
		return;
	if (g->dup) {
		/* the pair alternates as copies arrive: keep both */
		if (g->active)
			g->second = g->active;
	} else if (g->active) {
		g->switches++;
	}
	g->active = t;
}

static void groups_free(struct srv_group *g, size_t n)
{
	for (size_t i = 0; g && i < n; i++) {
		free(g[i].members);
		free(g[i].dedup);
	}
	free(g);
}

/*
 * Groups and the prefix table for configuration cf over tunnels (one per cf->srv_tunnels):
 * each tunnel joins its group, and each group's prefixes enter the table once. 0 or -errno.
 */
static int groups_build(const struct conf *cf, struct srv_tunnel *tunnels,
			struct srv_group **ret_groups, size_t *ret_n, struct lpm **ret_lpm)
{
	size_t n = cf->n_srv_groups, next;
	struct srv_group *g;
	struct lpm *routes = lpm_new();
	char p[MPQ_PREFIX_STRLEN];
	int r = -ENOMEM;

	for (size_t i = 0; i < cf->n_srv_tunnels; i++)
		n += cf->srv_tunnels[i].group < 0;
	g = calloc(n ? n : 1, sizeof(*g));
	if (!g || !routes)
		goto err;
	next = cf->n_srv_groups;
	for (size_t i = 0; i < cf->n_srv_groups; i++) {
		g[i].conf = &cf->srv_groups[i];
		g[i].members = calloc(cf->srv_groups[i].n_tunnels + 1, sizeof(*g[i].members));
		if (!g[i].members)
			goto err;
	}
	for (size_t i = 0; i < cf->n_srv_tunnels; i++) {
		const struct conf_srv_tunnel *ct = &cf->srv_tunnels[i];
		struct srv_tunnel *t = &tunnels[i];
		struct srv_group *tg = ct->group >= 0 ? &g[ct->group] : &g[next++];

		t->conf = ct;
		t->group = tg;
		snprintf(t->name, sizeof(t->name), "tunnel '%s'", ct->name);
		if (!tg->members) {
			tg->members = calloc(1, sizeof(*tg->members));
			if (!tg->members)
				goto err;
		}
		tg->members[tg->n_members++] = t;
		if (tg->n_members > 1)
			continue; /* the group's prefixes are in already */
		for (size_t j = 0; j < ct->n_address + ct->n_routes; j++) {
			struct mpq_prefix pf =
				j < ct->n_address ? ct->address[j] : ct->routes[j - ct->n_address];

			mpq_prefix_mask(&pf);
			r = lpm_insert(routes, &pf, tg);
			if (r < 0) {
				log_err("%s: cannot route %s: %s", t->name,
					mpq_prefix_format(&pf, p, sizeof(p)), strerror(-r));
				goto err;
			}
		}
	}
	*ret_groups = g;
	*ret_n = n;
	*ret_lpm = routes;
	return 0;
err:
	groups_free(g, n);
	lpm_free(routes);
	return r;
}

static void srv_conn_free(struct srv_conn *sc)
{
	struct server *s = sc->s;

	if (sc->tunnel) {
		conn_stats_add(&sc->tunnel->totals, conn_stats(sc->conn));
		if (sc->tunnel->live == sc) {
			sc->tunnel->live = NULL;
			sc->tunnel->role = MPQ_ROLE_STANDBY;
			if (sc->tunnel->group)
				group_refresh(sc->tunnel->group);
		}
	}
	if (sc->counted && s->client_conns[sc->client])
		s->client_conns[sc->client]--;
	if (sc->handshaking)
		s->n_handshaking--;
	if (sc->dirty) {
		struct srv_conn **pp = &s->dirty;

		while (*pp && *pp != sc)
			pp = &(*pp)->next_dirty;
		if (*pp)
			*pp = sc->next_dirty;
	}
	if (sc->prev)
		sc->prev->next = sc->next;
	else
		s->conns = sc->next;
	if (sc->next)
		sc->next->prev = sc->prev;
	s->n_conns--;
	if (cid_table_lookup(s->cids, sc->odcid, sc->odcid_len) == sc)
		cid_table_remove(s->cids, sc->odcid, sc->odcid_len);
	conn_free(sc->conn); /* retires its CIDs from the table through cid_remove */
	free(sc);
}

/* ---- connection events ---- */

static int srv_cid_add(struct conn *c, const uint8_t *cid, size_t len)
{
	struct srv_conn *sc = conn_owner(c);
	int r = cid_table_insert(sc->s->cids, cid, len, sc);

	return r == -EEXIST ? 0 : r;
}

static void srv_cid_remove(struct conn *c, const uint8_t *cid, size_t len)
{
	struct srv_conn *sc = conn_owner(c);

	if (cid_table_lookup(sc->s->cids, cid, len) == sc)
		cid_table_remove(sc->s->cids, cid, len);
}

struct name_match {
	const struct conf *conf;
	int client;
	char first[CONF_IDENTITY_MAX + 1];
};

static bool match_identity(void *arg, const char *name)
{
	struct name_match *m = arg;

	if (!m->first[0])
		snprintf(m->first, sizeof(m->first), "%s", name);
	m->client = conf_find_client(m->conf, name);
	return m->client >= 0;
}

static void srv_handshake_done(struct conn *c)
{
	struct srv_conn *sc = conn_owner(c);
	struct server *s = sc->s;
	const struct conf *cf = s->d->conf;
	struct name_match m = {.conf = cf, .client = -1};
	char name[192];

	if (sc->handshaking) {
		sc->handshaking = false;
		s->n_handshaking--;
	}
	tls_peer_names(conn_ssl(c), match_identity, &m);
	if (m.client < 0) {
		if (peer_log_ok(s))
			log_warn(
				"client %s: certificate '%s' is valid but not a configured client; "
				"its requests will be refused",
				sc->peer, m.first);
		return;
	}
	sc->client = m.client;
	/*
	 * At the limit the connection may still take over one of the client's own live tunnels
	 * (a reconnect while the old connection has not timed out yet): srv_request decides.
	 */
	if (s->client_conns[m.client] < cf->limits.max_connections_per_client) {
		s->client_conns[m.client]++;
		sc->counted = true;
	}
	snprintf(name, sizeof(name), "client '%s' (%s)", cf->clients[m.client].identity, sc->peer);
	conn_set_name(c, name);
	log_info("%s: authenticated", name);
}

/*
 * A new connection may take a tunnel over from its live one (a client that reconnects before
 * its old connection timed out). Two clients with one identity (an HA standby, a cloned SD
 * card) would take it from each other forever: after SRV_TAKEOVER_MAX takeovers within
 * SRV_TAKEOVER_WIN_S, takeovers are refused (409) for SRV_TAKEOVER_BLOCK_S and the live
 * connection keeps the tunnel. Logged once per block, with the likely cause.
 */
static bool srv_takeover_ok(struct server *s, struct srv_tunnel *t, const struct srv_conn *sc)
{
	const struct conf *cf = s->d->conf;
	uint64_t now = mpq_now_ns();

	if (now < t->takeover_block_ns)
		return false;
	if (!t->takeover_since_ns ||
	    now - t->takeover_since_ns > SRV_TAKEOVER_WIN_S * 1000000000ull) {
		t->takeover_since_ns = now;
		t->takeovers = 0;
	}
	if (++t->takeovers <= SRV_TAKEOVER_MAX)
		return true;
	t->takeover_block_ns = now + SRV_TAKEOVER_BLOCK_S * 1000000000ull;
	log_err("%s: taken over %u times in %.1f s — two clients share identity '%s'? (now %s, "
		"before %s); refusing takeovers for %d s (409)",
		t->name, t->takeovers - 1, (double)(now - t->takeover_since_ns) / 1e9,
		cf->clients[sc->client].identity, sc->peer, t->live->peer, SRV_TAKEOVER_BLOCK_S);
	t->takeover_since_ns = 0;
	return false;
}

static int srv_request(struct conn *c, const char *path)
{
	struct srv_conn *sc = conn_owner(c);
	struct server *s = sc->s;
	const struct conf *cf = s->d->conf;
	static struct cipath cp; /* one loop: scratch */
	struct srv_tunnel *t;
	int idx, r;

	/* RFC 9484's template variables are percent-decoded: "%2A" is "*". */
	r = cipath_parse(path, &cp);
	if (r == -EINVAL) {
		if (peer_log_ok(s))
			log_warn("%s: CONNECT-IP request with a malformed path, refusing (400)",
				 conn_name(c));
		return 400;
	}
	if (r < 0 || strcmp(cp.target, "*") != 0 || strcmp(cp.ipproto, "*") != 0) {
		if (peer_log_ok(s))
			log_warn("%s: CONNECT-IP request for unknown path, refusing (404)",
				 conn_name(c));
		return 404;
	}
	idx = conf_find_srv_tunnel(cf, cp.tunnel);
	if (sc->client < 0) {
		if (peer_log_ok(s))
			log_warn("%s: tunnel request from an unauthorized certificate, refusing "
				 "(403)",
				 conn_name(c));
		return 403;
	}
	if (idx < 0 || s->tunnels[idx].conf->client != (size_t)sc->client) {
		/* Same answer for "unknown" and "someone else's": names are not disclosed. */
		if (peer_log_ok(s))
			log_warn("%s: may not open tunnel '%.32s', refusing (403)", conn_name(c),
				 cp.tunnel);
		return 403;
	}
	t = &s->tunnels[idx];
	if (!sc->counted && (!t->live || t->live == sc)) {
		/* Over the limit and not replacing one of its own connections. */
		if (peer_log_ok(s))
			log_warn("%s: more than %u connections for client '%s', refusing (429)",
				 conn_name(c), cf->limits.max_connections_per_client,
				 cf->clients[sc->client].identity);
		return 429;
	}
	if (t->live && t->live != sc && !srv_takeover_ok(s, t, sc))
		return 409;
	if (t->live && t->live != sc) {
		struct srv_conn *old = t->live;

		/* The tunnel moves to the new authenticated connection; the old one goes. */
		log_info("%s: replaces the previous connection from %s", t->name, old->peer);
		t->live = NULL;
		conn_close(old->conn, 0, "replaced by a new connection");
		srv_conn_free(old);
		if (!sc->counted) {
			/* The old connection's place in the client's count. */
			s->client_conns[sc->client]++;
			sc->counted = true;
		}
	}
	sc->tunnel = t;
	t->live = sc;
	t->role = MPQ_ROLE_STANDBY; /* until the client says (PATH_ROLE) or sends */
	t->sessions++;
	return 200;
}

/*
 * ADDRESS_ASSIGN and ROUTE_ADVERTISEMENT each carry the whole set (a later one replaces it), so
 * neither can be split: buf holds the largest the config allows, and so does the connection's
 * capsule buffer (conn.c). A failure is not ignored: the session would be up and drop
 * everything, so the connection fails and the client retries with its backoff.
 */
static int srv_session_open(struct conn *c)
{
	static uint8_t buf[MPQ_MAX(CAPSULE_ADDRESSES_MAX(2 * CONF_MAX_PREFIXES),
				   CAPSULE_ROUTES_MAX(CONF_MAX_PREFIXES))];
	struct srv_conn *sc = conn_owner(c);
	const struct conf *cf = sc->s->d->conf;
	const struct conf_srv_tunnel *ct = sc->tunnel->conf;
	struct capsule_addr a[2 * CONF_MAX_PREFIXES];
	struct capsule_range r[CONF_MAX_PREFIXES];
	size_t n = 0, nr;
	ssize_t len;
	char name[192];
	int err;

	for (size_t i = 0; i < ct->n_address; i++)
		a[n++] = (struct capsule_addr){.request_id = 0, .prefix = ct->address[i]};
	for (size_t i = 0; i < ct->n_routes; i++)
		a[n++] = (struct capsule_addr){.request_id = 0, .prefix = ct->routes[i]};
	for (size_t i = 0; i < n; i++)
		mpq_prefix_mask(&a[i].prefix);
	len = capsule_encode_addresses(buf, sizeof(buf), CAPSULE_ADDRESS_ASSIGN, a, n);
	err = len < 0 ? (int)len : conn_send_capsule(c, buf, (size_t)len);
	if (err < 0) {
		log_err("%s: cannot send ADDRESS_ASSIGN (%zu entries): %s", sc->tunnel->name, n,
			strerror(-err));
		return err;
	}
	err = capsule_ranges_from_prefixes(cf->advertise, cf->n_advertise, r, ARRAY_SIZE(r), &nr);
	if (err == 0) {
		len = capsule_encode_routes(buf, sizeof(buf), r, nr);
		err = len < 0 ? (int)len : conn_send_capsule(c, buf, (size_t)len);
	}
	if (err < 0) {
		log_err("%s: cannot send ROUTE_ADVERTISEMENT (%zu prefixes): %s", sc->tunnel->name,
			cf->n_advertise, strerror(-err));
		return err;
	}
	conn_set_delay_target(c, ct->delay_target_us);
	snprintf(name, sizeof(name), "%s (%s)", sc->tunnel->name, sc->peer);
	conn_set_name(c, name);
	log_notice("%s: up for client '%s'", name, cf->clients[sc->client].identity);
	return 0;
}

/* PATH_ROLE (docs/protocol.md, Extensions): what the client uses this tunnel for now. */
static void srv_path_role(struct conn *c, const uint8_t *v, size_t len)
{
	struct srv_conn *sc = conn_owner(c);
	struct srv_tunnel *t = sc->tunnel;
	uint64_t role;
	size_t n;

	if (!t || t->live != sc)
		return;
	if (mpq_varint_get(v, len, &role, &n) < 0 || n != len || role > MPQ_ROLE__MAX) {
		if (peer_log_ok(sc->s))
			log_warn("%s: malformed PATH_ROLE capsule, ignoring", conn_name(c));
		return;
	}
	t->role = (int)role;
	if (role == MPQ_ROLE_ACTIVE)
		group_learn(t->group, t);
	else if (role == MPQ_ROLE_DUPLICATE && t->group->active != t)
		t->group->second = t;
	group_refresh(t->group);
	if (role == MPQ_ROLE_DUPLICATE && t->group->active != t)
		t->group->second = t;
}

/* Most Requested Addresses answered from one ADDRESS_REQUEST capsule. */
#define SRV_MAX_REQUESTS 32

/*
 * RFC 9484 §4.7.2: the answer to one Requested Address, with its Request ID. The "any address"
 * form (all-zero address) gets the tunnel's first `address` of that family; a given prefix is
 * assigned as asked when one of the tunnel's `address` or `routes` prefixes contains it; anything
 * else gets the all-zero host prefix of its family: "cannot assign".
 */
static void answer_request(const struct conf_srv_tunnel *ct, const struct capsule_addr *req,
			   struct capsule_addr *ret)
{
	static const uint8_t zero[16];
	const struct mpq_prefix *rq = &req->prefix;
	bool any = memcmp(rq->addr, zero, mpq_family_addrlen(rq->family)) == 0;

	memset(ret, 0, sizeof(*ret));
	ret->request_id = req->request_id;
	ret->prefix.family = rq->family;
	ret->prefix.len = (uint8_t)mpq_family_maxlen(rq->family);
	for (size_t i = 0; i < ct->n_address + ct->n_routes; i++) {
		const struct mpq_prefix *cp =
			i < ct->n_address ? &ct->address[i] : &ct->routes[i - ct->n_address];

		if (cp->family != rq->family)
			continue;
		if (any && i < ct->n_address) {
			ret->prefix = *cp;
			mpq_prefix_mask(&ret->prefix);
			return;
		}
		if (!any && rq->len >= cp->len && mpq_prefix_contains(cp, rq->family, rq->addr)) {
			ret->prefix = *rq;
			return;
		}
	}
}

/* ADDRESS_REQUEST: answer every Requested Address in one ADDRESS_ASSIGN (the full list). */
static int srv_address_request(struct conn *c, const uint8_t *v, size_t len)
{
	struct srv_conn *sc = conn_owner(c);
	const struct conf_srv_tunnel *ct = sc->tunnel->conf;
	static struct capsule_addr req[SRV_MAX_REQUESTS];
	static struct capsule_addr a[2 * CONF_MAX_PREFIXES + SRV_MAX_REQUESTS];
	static uint8_t buf[sizeof(a) / sizeof(a[0]) * 24];
	size_t n_req, n = 0;
	ssize_t blen;
	int r;

	r = capsule_decode_addresses(v, len, req, ARRAY_SIZE(req), &n_req);
	if (r == 0)
		r = capsule_check_address_request(req, n_req); /* empty, or Request ID 0 */
	if (r < 0)
		return r;
	/*
	 * An ADDRESS_ASSIGN carries the whole current list (RFC 9484 §4.7.1): the unsolicited
	 * assignment again (Request ID 0), then one entry per request, carrying its ID.
	 */
	for (size_t i = 0; i < ct->n_address; i++)
		a[n++] = (struct capsule_addr){.request_id = 0, .prefix = ct->address[i]};
	for (size_t i = 0; i < ct->n_routes; i++)
		a[n++] = (struct capsule_addr){.request_id = 0, .prefix = ct->routes[i]};
	for (size_t i = 0; i < n; i++)
		mpq_prefix_mask(&a[i].prefix);
	for (size_t i = 0; i < n_req; i++)
		answer_request(ct, &req[i], &a[n++]);
	blen = capsule_encode_addresses(buf, sizeof(buf), CAPSULE_ADDRESS_ASSIGN, a, n);
	if (blen < 0)
		return -ENOBUFS;
	r = conn_send_capsule(c, buf, (size_t)blen);
	if (r < 0)
		return -ENOBUFS; /* the peer asks faster than it reads: H3_EXCESSIVE_LOAD */
	if (peer_log_ok(sc->s))
		log_info("%s: answered an ADDRESS_REQUEST of %zu address%s", conn_name(c), n_req,
			 n_req == 1 ? "" : "es");
	return 0;
}

/*
 * Capsules from the client. ADDRESS_REQUEST is answered; ADDRESS_ASSIGN and
 * ROUTE_ADVERTISEMENT (addresses and routes the client offers us) are checked and otherwise
 * not used: a malformed one aborts the session (-EPROTO). Unknown types are skipped.
 */
static int srv_capsule(struct conn *c, uint64_t type, const uint8_t *v, size_t len)
{
	/* Room for any capsule the parser passes: Value <= 16 KiB, entries >= 7 / 10 bytes. */
	static struct capsule_addr addrs[CAPSULE_MAX_VALUE / 7 + 1];
	static struct capsule_range ranges[CAPSULE_MAX_VALUE / 10 + 1];
	size_t n;

	switch (type) {
	case CAPSULE_ADDRESS_REQUEST:
		return srv_address_request(c, v, len);
	case CAPSULE_ADDRESS_ASSIGN:
		return capsule_decode_addresses(v, len, addrs, ARRAY_SIZE(addrs), &n);
	case CAPSULE_ROUTE_ADVERTISEMENT:
		return capsule_decode_routes(v, len, ranges, ARRAY_SIZE(ranges), &n);
	case MPQ_CAPSULE_PATH_ROLE:
		srv_path_role(c, v, len);
		return 0;
	default:
		return 0;
	}
}

static void srv_packet(struct conn *c, const uint8_t *pkt, size_t len)
{
	struct srv_conn *sc = conn_owner(c);
	struct server *s = sc->s;
	struct conn_stats *st = conn_stats(c);
	struct srv_group *g;
	struct ippkt_info ip;

	if (ippkt_parse(pkt, len, &ip) < 0) {
		st->drops[CONN_DROP_MALFORMED]++;
		return;
	}
	/* Anti-spoofing: the source must be one of this tunnel's (group's) addresses or routes. */
	if (!sc->tunnel || lpm_lookup(s->routes, ip.family, ip.src) != sc->tunnel->group) {
		st->drops[CONN_DROP_SPOOFED]++;
		return;
	}
	g = sc->tunnel->group;
	if (g->dup && g->dedup && dedup_seen(g->dedup, pkt, len, mpq_now_ns())) {
		st->dup_dropped++;
		g->dup_dropped++;
		return;
	}
	sc->tunnel->last_rx_ns = mpq_now_ns();
	if (sc->tunnel->live == sc)
		group_learn(g, sc->tunnel);
	if (tun_write(&s->tun, pkt, len) < 0) {
		st->drops[CONN_DROP_TUN]++;
		return;
	}
	st->rx_packets++;
	st->rx_bytes += len;
}

/* The peer closed with a TLS alert: *ret its number. */
static bool tls_alert_of(struct conn *c, unsigned *ret)
{
	const ngtcp2_ccerr *e = ngtcp2_conn_get_ccerr(conn_ngtcp2(c));

	if (e->type != NGTCP2_CCERR_TYPE_TRANSPORT || e->error_code < 0x100 ||
	    e->error_code > 0x1ff)
		return false;
	*ret = (unsigned)(e->error_code - 0x100);
	return true;
}

static void srv_closed(struct conn *c, const char *why)
{
	struct srv_conn *sc = conn_owner(c);
	char reason[200];
	unsigned alert = 0;

	if (sc->tunnel && sc->tunnel->live == sc)
		log_warn("%s: connection ended: %s%s%s", conn_name(c), why,
			 strcmp(why, "closed by peer") == 0 ? ", " : "",
			 strcmp(why, "closed by peer") == 0
				 ? conn_close_reason(c, reason, sizeof(reason))
				 : "");
	else if (sc->handshaking && strcmp(why, "closed by peer") == 0 && tls_alert_of(c, &alert) &&
		 peer_log_ok(sc->s))
		log_warn("%s: the client refused our certificate during the handshake (%s)%s",
			 conn_name(c), conn_close_reason(c, reason, sizeof(reason)),
			 alert == 42 || alert == 46
				 ? ": is its server.name one of the names in our tls.cert?"
			 : alert == 48 ? ": does its tls.ca hold the CA that signed our tls.cert?"
				       : "");
	else if (peer_log_ok(sc->s))
		log_info("%s: connection ended: %s", conn_name(c), why);
	srv_conn_free(sc);
}

static const struct conn_ops srv_conn_ops = {
	.request = srv_request,
	.session_open = srv_session_open,
	.capsule = srv_capsule,
	.packet = srv_packet,
	.handshake_done = srv_handshake_done,
	.cid_add = srv_cid_add,
	.cid_remove = srv_cid_remove,
	.closed = srv_closed,
};

/* ---- listener ---- */

static void send_version_negotiation(struct listener *l, const struct udp_rx *rx,
				     const ngtcp2_version_cid *vc)
{
	uint8_t buf[256];
	uint32_t sv[] = {NGTCP2_PROTO_VER_V1};
	uint8_t unused;
	ngtcp2_ssize n;

	mpq_random(&unused, 1);
	n = ngtcp2_pkt_write_version_negotiation(buf, sizeof(buf), unused, vc->scid, vc->scidlen,
						 vc->dcid, vc->dcidlen, sv, ARRAY_SIZE(sv));
	if (n > 0)
		udp_send(&l->sock, (const struct sockaddr *)&rx->peer, rx->peer_len,
			 (const struct sockaddr *)&rx->local, buf, (size_t)n, (size_t)n);
	l->s->stats.version_negotiations++;
}

static void send_stateless(struct listener *l, const struct udp_rx *rx, const uint8_t *buf,
			   size_t len)
{
	udp_send(&l->sock, (const struct sockaddr *)&rx->peer, rx->peer_len,
		 (const struct sockaddr *)&rx->local, buf, len, len);
}

/* Answer an Initial without a (usable) token with a Retry carrying one. */
static void send_retry(struct listener *l, const struct udp_rx *rx, const ngtcp2_pkt_hd *hd)
{
	struct server *s = l->s;
	uint8_t token[NGTCP2_CRYPTO_MAX_RETRY_TOKENLEN2], buf[512], rnd[CID_LEN];
	ngtcp2_cid scid = {.datalen = CID_LEN};
	ngtcp2_ssize tlen, n;

	/* The client's next Initial comes to this CID: give it our layout for load balancers. */
	mpq_random(rnd, sizeof(rnd) - 2);
	cid_build(scid.data, scid.datalen, 0, s->d->conf->server_id, rnd);
	tlen = ngtcp2_crypto_generate_retry_token2(
		token, s->d->static_secret, sizeof(s->d->static_secret), hd->version,
		(const ngtcp2_sockaddr *)&rx->peer, rx->peer_len, &scid, &hd->dcid, mpq_now_ns());
	if (tlen < 0)
		return;
	n = ngtcp2_crypto_write_retry(buf, sizeof(buf), hd->version, &hd->scid, &scid, &hd->dcid,
				      token, (size_t)tlen);
	if (n <= 0)
		return;
	send_stateless(l, rx, buf, (size_t)n);
	s->stats.retries++;
}

/*
 * Check the token of an Initial. Returns 1 with *ret_odcid when it is a valid Retry token of
 * ours, 0 when it is no Retry token (treated as absent), or -1 after answering an invalid
 * or expired one with CONNECTION_CLOSE(INVALID_TOKEN) (RFC 9000 §8.1.2: the client will not
 * take a second Retry, so it should learn at once).
 */
static int check_token(struct listener *l, const struct udp_rx *rx, const ngtcp2_pkt_hd *hd,
		       ngtcp2_cid *ret_odcid)
{
	struct server *s = l->s;
	uint8_t buf[256];
	ngtcp2_ssize n;
	char peer[64];
	int rv;

	if (hd->tokenlen == 0 || hd->token[0] != NGTCP2_CRYPTO_TOKEN_MAGIC_RETRY2)
		return 0;
	rv = ngtcp2_crypto_verify_retry_token2(
		ret_odcid, hd->token, hd->tokenlen, s->d->static_secret,
		sizeof(s->d->static_secret), hd->version, (const ngtcp2_sockaddr *)&rx->peer,
		rx->peer_len, &hd->dcid, RETRY_TOKEN_TIMEOUT, mpq_now_ns());
	if (rv == 0)
		return 1;
	s->stats.retry_token_invalid++;
	if (peer_log_ok(s))
		log_info(
			"client %s: %s Retry token, closing with INVALID_TOKEN",
			mpq_sockaddr_format((const struct sockaddr *)&rx->peer, peer, sizeof(peer)),
			rv == NGTCP2_CRYPTO_ERR_VERIFY_TOKEN ? "expired or misaddressed"
							     : "unreadable");
	n = ngtcp2_crypto_write_connection_close(buf, sizeof(buf), hd->version, &hd->scid,
						 &hd->dcid, NGTCP2_INVALID_TOKEN, NULL, 0);
	if (n > 0)
		send_stateless(l, rx, buf, (size_t)n);
	return -1;
}

/* Token bucket: may one more stateless reset leave now? */
static bool reset_allowed(struct server *s)
{
	uint64_t now = mpq_now_ns();

	s->reset_tokens += (double)(now - s->reset_refill_ns) * RESET_RATE / 1e9;
	s->reset_refill_ns = now;
	if (s->reset_tokens > RESET_BURST)
		s->reset_tokens = RESET_BURST;
	if (s->reset_tokens < 1)
		return false;
	s->reset_tokens -= 1;
	return true;
}

/* A short header for a CID we do not know (a connection we lost or never had). */
static void send_stateless_reset(struct listener *l, const struct udp_rx *rx,
				 const ngtcp2_version_cid *vc, size_t len)
{
	struct server *s = l->s;
	uint8_t buf[RESET_MAX_LEN], rnd[RESET_MAX_LEN], token[NGTCP2_STATELESS_RESET_TOKENLEN];
	size_t out = MPQ_MIN(len - 1, (size_t)RESET_MAX_LEN);
	ngtcp2_cid cid;
	ngtcp2_ssize n;

	if (len < RESET_MIN_TRIGGER)
		return;
	if (!reset_allowed(s)) {
		s->stats.resets_limited++;
		return;
	}
	ngtcp2_cid_init(&cid, vc->dcid, vc->dcidlen);
	if (ngtcp2_crypto_generate_stateless_reset_token(token, s->d->static_secret,
							 sizeof(s->d->static_secret), &cid) != 0)
		return;
	mpq_random(rnd, sizeof(rnd));
	n = ngtcp2_pkt_write_stateless_reset(buf, out, token, rnd,
					     out - NGTCP2_STATELESS_RESET_TOKENLEN);
	if (n <= 0)
		return;
	send_stateless(l, rx, buf, (size_t)n);
	s->stats.stateless_resets++;
}

static void new_connection(struct listener *l, const struct udp_rx *rx, const uint8_t *data,
			   size_t len)
{
	struct server *s = l->s;
	struct daemon *d = s->d;
	const struct conf *cf = d->conf;
	struct conn_params p = {
		.server = true,
		.loop = d->loop,
		.tls = d->tls,
		.sock = &l->sock,
		.local = (const struct sockaddr *)&rx->local,
		.local_len = rx->local_len,
		.remote = (const struct sockaddr *)&rx->peer,
		.remote_len = rx->peer_len,
		.quic = &cf->defaults,
		.static_secret = d->static_secret,
		.server_id = cf->server_id,
		.queue_packets = cf->limits.queue_packets,
		.mtu = s->size.mtu,
		.ops = &srv_conn_ops,
	};
	struct srv_conn *sc;
	ngtcp2_pkt_hd hd;
	ngtcp2_cid odcid;
	char name[96];
	uint64_t now_ms = mpq_now_ns() / 1000000, sup;
	bool busy;
	int r, validated;

	if (ngtcp2_accept(&hd, data, len) != 0 || hd.type != NGTCP2_PKT_INITIAL) {
		s->stats.garbage++;
		return;
	}
	validated = check_token(l, rx, &hd, &odcid);
	if (validated < 0)
		return;
	busy = s->n_handshaking >= cf->limits.max_handshakes;
	if (!validated &&
	    (cf->retry == CONF_RETRY_ALWAYS || (busy && cf->retry == CONF_RETRY_AUTO))) {
		send_retry(l, rx, &hd);
		return;
	}
	/* A validated address may go past max_handshakes: Retry already proved it is real. */
	if (s->n_conns >= cf->limits.max_connections || (busy && !validated)) {
		s->stats.refused_limit++;
		if (ratelimit_ok(&s->rl_garbage, now_ms, &sup))
			log_warn("listener: connection limit reached (%zu connections, %zu "
				 "handshaking), dropping new connections",
				 s->n_conns, s->n_handshaking);
		return;
	}
	if (validated)
		p.retry_odcid = &odcid;
	sc = calloc(1, sizeof(*sc));
	if (!sc)
		return;
	sc->s = s;
	sc->l = l;
	sc->client = -1;
	mpq_sockaddr_format((const struct sockaddr *)&rx->peer, sc->peer, sizeof(sc->peer));
	snprintf(name, sizeof(name), "client %s", sc->peer);
	p.initial_hd = &hd;
	p.owner = sc;
	p.name = name;
	r = conn_new(&p, &sc->conn);
	if (r < 0) {
		if (ratelimit_ok(&s->rl_garbage, now_ms, &sup))
			log_warn("%s: cannot create connection: %s", name, strerror(-r));
		free(sc);
		return;
	}
	sc->handshaking = true;
	s->n_handshaking++;
	sc->next = s->conns;
	if (s->conns)
		s->conns->prev = sc;
	s->conns = sc;
	s->n_conns++;
	/* The client keeps using its chosen DCID until it learns ours. */
	memcpy(sc->odcid, hd.dcid.data, hd.dcid.datalen);
	sc->odcid_len = hd.dcid.datalen;
	cid_table_insert(s->cids, sc->odcid, sc->odcid_len, sc);
	if (conn_read(sc->conn, p.local, p.local_len, p.remote, p.remote_len, data, len) == 0)
		mark_dirty(sc);
}

static void handle_datagram(struct listener *l, const struct udp_rx *rx, const uint8_t *data,
			    size_t len)
{
	struct server *s = l->s;
	ngtcp2_version_cid vc;
	struct srv_conn *sc;
	int rv;

	s->stats.rx_datagrams++;
	rv = ngtcp2_pkt_decode_version_cid(&vc, data, len, CID_LEN);
	if (rv == NGTCP2_ERR_VERSION_NEGOTIATION) {
		send_version_negotiation(l, rx, &vc);
		return;
	}
	if (rv != 0) {
		s->stats.garbage++;
		return;
	}
	sc = cid_table_lookup(s->cids, vc.dcid, vc.dcidlen);
	if (sc) {
		if (conn_read(sc->conn, (const struct sockaddr *)&rx->local, rx->local_len,
			      (const struct sockaddr *)&rx->peer, rx->peer_len, data, len) == 0)
			mark_dirty(sc);
		return;
	}
	if (!(data[0] & 0x80)) {
		/* Short header for a connection we do not know (gone, or forged). */
		s->stats.unknown_cid++;
		send_stateless_reset(l, rx, &vc, len);
		return;
	}
	new_connection(l, rx, data, len);
}

static void flush_dirty(struct server *s)
{
	while (s->dirty) {
		struct srv_conn *sc = s->dirty;

		s->dirty = sc->next_dirty;
		sc->dirty = false;
		sc->next_dirty = NULL;
		conn_write(sc->conn); /* may free sc through srv_closed */
	}
}

static void listener_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct listener *l = container_of(w, struct listener, watcher);
	struct daemon *d = l->s->d;
	struct udp_rx rx[MPQ_RX_BATCH];
	int n;

	(void)loop;
	(void)revents;
	for (int round = 0; round < 4; round++) {
		n = udp_recv_batch(&l->sock, d->rxbuf, MPQ_RX_BUFSIZE, rx, MPQ_RX_BATCH);
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++)
			for (size_t off = 0; off < rx[i].len; off += rx[i].segsize)
				handle_datagram(l, &rx[i], rx[i].data + off,
						MPQ_MIN(rx[i].segsize, rx[i].len - off));
		flush_dirty(l->s);
		if (n < MPQ_RX_BATCH)
			break;
	}
}

/* ---- TUN ---- */

/* ICMP "too big" back into the TUN, from the original destination (see client.c). */
static void send_too_big(struct server *s, const uint8_t *pkt, size_t len, size_t mtu,
			 const struct ippkt_info *ip)
{
	uint8_t out[IPPKT_ICMP6_MAX]; /* the larger of the two ICMP error sizes */
	ssize_t n;

	n = ippkt_make_too_big(out, sizeof(out), pkt, len, (uint32_t)mtu, ip->dst);
	if (n > 0)
		(void)tun_write(&s->tun, out, (size_t)n);
}

static void tun_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct server *s = container_of(w, struct server, tun_watcher);
	uint64_t now = mpq_now_ns(); /* the queues' timestamp for the whole batch */

	(void)loop;
	(void)revents;
	for (int i = 0; i < TUN_BATCH; i++) {
		struct ippkt_info ip;
		struct srv_group *g;
		struct srv_tunnel *t;
		struct srv_conn *sc;
		uint8_t *slot;
		ssize_t n = tun_read(&s->tun, s->scratch, sizeof(s->scratch));

		if (n < 0) {
			uint64_t sup;

			/* Not EAGAIN: say so (rate-limited) rather than spin without a word. */
			if (n != -EAGAIN && ratelimit_ok(&s->rl_garbage, now / 1000000, &sup))
				log_err("server TUN '%s': read failed: %s", s->tun.name,
					strerror((int)-n));
			break;
		}
		if (ippkt_parse(s->scratch, (size_t)n, &ip) < 0) {
			s->stats.tun_malformed++;
			continue;
		}
		g = lpm_lookup(s->routes, ip.family, ip.dst);
		t = g ? group_target(g) : NULL;
		sc = t ? t->live : NULL;
		if (!sc) {
			if (g)
				g->members[0]->totals.drops[CONN_DROP_NO_ROUTE]++;
			else
				s->stats.tun_no_route++;
			continue;
		}
		/* The TUN's MTU may have been raised behind our back: never trust it. */
		if (!pktsize_fits(conn_pktsize(sc->conn), (size_t)n)) {
			conn_stats(sc->conn)->drops[CONN_DROP_TOO_BIG]++;
			send_too_big(s, s->scratch, (size_t)n, conn_pktsize(sc->conn)->mtu, &ip);
			continue;
		}
		/* A duplicate class: the same packet through the second tunnel too. */
		if (g->dup && g->second && g->second != t && live_session(g->second) &&
		    pktsize_fits(conn_pktsize(g->second->live->conn), (size_t)n)) {
			struct srv_conn *sc2 = g->second->live;
			uint8_t *copy = conn_queue_reserve(sc2->conn);

			if (copy) {
				memcpy(copy, s->scratch, (size_t)n);
				conn_queue_commit(sc2->conn, (size_t)n, now);
				mark_dirty(sc2);
			}
		}
		slot = conn_queue_reserve(sc->conn); /* NULL without a session (counted) */
		if (!slot)
			continue;
		memcpy(slot, s->scratch, (size_t)n);
		conn_queue_commit(sc->conn, (size_t)n, now); /* counts queue-full drops */
		mark_dirty(sc);
	}
	flush_dirty(s);
}

/* ---- setup ---- */

int server_start(struct daemon *d)
{
	const struct conf *cf = d->conf;
	struct server *s = calloc(1, sizeof(*s));
	uint8_t key[16];
	char a[80];
	int r;

	if (!s)
		return -ENOMEM;
	d->server = s;
	s->d = d;
	s->tun.fd = -1;
	s->rl_garbage = (struct ratelimit)RATELIMIT_INIT(10000, 5);
	s->rl_peer = (struct ratelimit)RATELIMIT_INIT(10000, 20);
	s->reset_tokens = RESET_BURST;
	s->reset_refill_ns = mpq_now_ns();
	mpq_random(key, sizeof(key));
	s->cids = cid_table_new(key, (size_t)cf->limits.max_connections * 8 + 64);
	s->tunnels = calloc(cf->n_srv_tunnels ? cf->n_srv_tunnels : 1, sizeof(*s->tunnels));
	s->client_conns = calloc(cf->n_clients ? cf->n_clients : 1, sizeof(*s->client_conns));
	if (!s->cids || !s->tunnels || !s->client_conns)
		return -ENOMEM;
	r = groups_build(cf, s->tunnels, &s->groups, &s->n_groups, &s->routes);
	if (r < 0)
		return r;

	r = pktsize_init(&s->size, cf->tun_mtu);
	if (r < 0) {
		log_err("server: tun.mtu %u out of range", cf->tun_mtu); /* conf.c checked it */
		return r;
	}
	r = tun_open(cf->tun_name, &s->tun);
	if (r < 0) {
		log_err("server: cannot open TUN device '%s': %s", cf->tun_name, strerror(-r));
		return r;
	}
	r = nl_link_set(d->nl, s->tun.ifindex, s->size.mtu, true, "server TUN");
	for (size_t i = 0; r == 0 && i < cf->n_tun_address; i++)
		r = nl_addr_add(d->nl, s->tun.ifindex, &cf->tun_address[i], "server TUN");
	if (r < 0)
		return r;
	ev_io_init(&s->tun_watcher, tun_read_cb, s->tun.fd, EV_READ);
	ev_io_start(d->loop, &s->tun_watcher);

	for (size_t i = 0; i < cf->n_listen; i++) {
		struct listener *l = &s->listeners[i];

		l->s = s;
		r = udp_open((const struct sockaddr *)&cf->listen[i], cf->listen_len[i], NULL, true,
			     &l->sock);
		if (r < 0) {
			log_err("listener %s: %s",
				mpq_sockaddr_format((const struct sockaddr *)&cf->listen[i], a,
						    sizeof(a)),
				strerror(-r));
			return r;
		}
		s->n_listeners = i + 1;
		ev_io_init(&l->watcher, listener_read_cb, l->sock.fd, EV_READ);
		ev_io_start(d->loop, &l->watcher);
		log_info(
			"listening on %s",
			mpq_sockaddr_format((const struct sockaddr *)&l->sock.local, a, sizeof(a)));
	}
	return 0;
}

void server_shutdown(struct daemon *d)
{
	struct server *s = d->server;

	if (!s)
		return;
	for (struct srv_conn *sc = s->conns; sc; sc = sc->next)
		conn_close(sc->conn, 0, "server shutting down");
}

void server_free(struct server *s)
{
	if (!s)
		return;
	while (s->conns)
		srv_conn_free(s->conns);
	for (size_t i = 0; i < s->n_listeners; i++) {
		ev_io_stop(s->d->loop, &s->listeners[i].watcher);
		udp_close(&s->listeners[i].sock);
	}
	if (s->tun.fd >= 0)
		ev_io_stop(s->d->loop, &s->tun_watcher);
	tun_close(&s->tun);
	lpm_free(s->routes);
	groups_free(s->groups, s->n_groups);
	cid_table_free(s->cids);
	free(s->tunnels);
	free(s->client_conns);
	free(s);
}

void server_status(struct daemon *d, json_t *root)
{
	struct server *s = d->server;
	const struct conf *cf = d->conf;
	json_t *arr, *clients;
	char p[MPQ_PREFIX_STRLEN];

	if (!s)
		return;
	/* The listener sockets are shared by every tunnel: drops there are nobody's own. */
	uint64_t eagain = 0, blocked = 0, txerr = 0;

	for (size_t i = 0; i < s->n_listeners; i++) {
		eagain += s->listeners[i].sock.tx_eagain;
		blocked += s->listeners[i].sock.tx_blocked;
		txerr += s->listeners[i].sock.tx_errors;
	}
	const struct {
		const char *key;
		uint64_t v;
	} counters[] = {
		{"datagrams", s->stats.rx_datagrams},
		{"garbage", s->stats.garbage},
		{"unknown_cid", s->stats.unknown_cid},
		{"version_negotiations", s->stats.version_negotiations},
		{"retries", s->stats.retries},
		{"retry_token_invalid", s->stats.retry_token_invalid},
		{"stateless_resets", s->stats.stateless_resets},
		{"stateless_resets_limited", s->stats.resets_limited},
		{"refused_limit", s->stats.refused_limit},
		{"connections", s->n_conns},
		{"handshaking", s->n_handshaking},
		{"tun_no_route", s->stats.tun_no_route},
		{"tun_malformed", s->stats.tun_malformed},
		{"tx_eagain", eagain},
		{"tx_blocked", blocked},
		{"tx_errors", txerr},
	};
	json_t *lo = json_object();

	for (size_t i = 0; i < ARRAY_SIZE(counters); i++)
		json_object_set_new(lo, counters[i].key, json_integer((json_int_t)counters[i].v));
	json_object_set_new(root, "listener", lo);
	arr = json_array();
	clients = json_array();
	for (size_t i = 0; i < cf->n_srv_tunnels; i++) {
		struct srv_tunnel *t = &s->tunnels[i];
		const struct conf_srv_tunnel *ct = t->conf;
		json_t *o = json_object(), *addrs = json_array(), *routes = json_array();

		json_object_set_new(o, "name", json_string(ct->name));
		json_object_set_new(o, "client", json_string(cf->clients[ct->client].identity));
		json_object_set_new(o, "state", json_string(t->live ? "up" : "down"));
		json_object_set_new(o, "delay_target_ms", json_real(ct->delay_target_us / 1000.));
		for (size_t j = 0; j < ct->n_address; j++)
			json_array_append_new(addrs, json_string(mpq_prefix_format(&ct->address[j],
										   p, sizeof(p))));
		for (size_t j = 0; j < ct->n_routes; j++)
			json_array_append_new(routes, json_string(mpq_prefix_format(&ct->routes[j],
										    p, sizeof(p))));
		json_object_set_new(o, "inner_addresses", addrs);
		json_object_set_new(o, "routes", routes);
		if (t->live)
			conn_status_json(t->live->conn, o);
		conn_stats_json(&t->totals, t->live ? conn_stats(t->live->conn) : NULL, o);
		json_object_set_new(
			o, "group",
			json_string(t->group && t->group->conf ? t->group->conf->name : ""));
		json_object_set_new(o, "role",
				    json_string(t->role == MPQ_ROLE_ACTIVE	? "active"
						: t->role == MPQ_ROLE_DUPLICATE ? "duplicate"
										: "standby"));
		json_object_set_new(o, "return_path",
				    json_boolean(t->group && t->live && t->group->active == t));
		json_object_set_new(o, "sessions", json_integer((json_int_t)t->sessions));
		json_object_set_new(o, "reconnects",
				    json_integer((json_int_t)(t->sessions ? t->sessions - 1 : 0)));
		json_array_append_new(arr, o);
	}
	json_object_set_new(root, "tunnels", arr);
	arr = json_array();
	for (size_t i = 0; i < s->n_groups; i++) {
		struct srv_group *g = &s->groups[i];
		json_t *members;

		if (!g->conf)
			continue; /* a tunnel of its own: shown with the tunnels */
		members = json_array();
		for (size_t j = 0; j < g->n_members; j++)
			json_array_append_new(members, json_string(g->members[j]->conf->name));
		json_array_append_new(
			arr,
			json_pack("{s:s, s:s, s:o, s:s, s:s, s:b, s:I, s:I}", "name", g->conf->name,
				  "client", cf->clients[g->conf->client].identity, "tunnels",
				  members, "active",
				  live_session(g->active) ? g->active->conf->name : "", "second",
				  g->dup && live_session(g->second) ? g->second->conf->name : "",
				  "duplicate", g->dup, "switches", (json_int_t)g->switches,
				  "dup_dropped", (json_int_t)g->dup_dropped));
	}
	json_object_set_new(root, "groups", arr);
	for (size_t i = 0; i < cf->n_clients; i++) {
		const struct conf_client *cc = &cf->clients[i];
		json_t *names = json_array();

		for (size_t j = 0; j < cc->n_tunnels; j++)
			json_array_append_new(
				names, json_string(cf->srv_tunnels[cc->first_tunnel + j].name));
		json_array_append_new(clients,
				      json_pack("{s:s, s:I, s:o}", "identity", cc->identity,
						"connections", (json_int_t)s->client_conns[i],
						"tunnels", names));
	}
	json_object_set_new(root, "clients", clients);
}

static bool prefixes_equal(const struct mpq_prefix *a, size_t na, const struct mpq_prefix *b,
			   size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (a[i].family != b[i].family || a[i].len != b[i].len ||
		    memcmp(a[i].addr, b[i].addr, mpq_family_addrlen(a[i].family)) != 0)
			return false;
	return true;
}

static bool srv_tunnel_equal(const struct conf *oc, const struct conf_srv_tunnel *a,
			     const struct conf *nc, const struct conf_srv_tunnel *b)
{
	return strcmp(oc->clients[a->client].identity, nc->clients[b->client].identity) == 0 &&
	       prefixes_equal(a->address, a->n_address, b->address, b->n_address) &&
	       prefixes_equal(a->routes, a->n_routes, b->routes, b->n_routes);
}

/* What the server cannot change without a restart; NULL if nothing. */
static const char *server_needs_restart(const struct conf *o, const struct conf *n)
{
	if (o->n_listen != n->n_listen)
		return "listen changed";
	for (size_t i = 0; i < o->n_listen; i++)
		if (o->listen_len[i] != n->listen_len[i] ||
		    memcmp(&o->listen[i], &n->listen[i], o->listen_len[i]) != 0)
			return "listen changed";
	if (strcmp(o->tun_name, n->tun_name) != 0 || o->tun_mtu != n->tun_mtu ||
	    !prefixes_equal(o->tun_address, o->n_tun_address, n->tun_address, n->n_tun_address))
		return "tun changed";
	if (o->server_id != n->server_id)
		return "server_id changed";
	if (o->limits.max_connections != n->limits.max_connections)
		return "limits.max_connections changed";
	return NULL;
}

/*
 * Server reload: a tunnel whose owner, addresses and routes did not change keeps its live
 * connection; a changed or removed tunnel's connection is closed (the client reconnects and
 * gets the new addresses, or is refused); connections of removed clients close; new tunnels
 * and clients are accepted from now on. New TLS files close every connection. Listen
 * addresses, the TUN, server_id and limits.max_connections need a restart.
 */
int server_reload(struct daemon *d, struct conf *nc, bool peer_changed)
{
	struct server *s = d->server;
	struct conf *oc = d->conf;
	struct srv_tunnel *nt;
	uint32_t *ncounts;
	struct lpm *nroutes = NULL;
	struct srv_group *ngroups = NULL;
	size_t kept = 0, closed = 0, n_ngroups = 0;
	const char *why;
	int r;

	why = server_needs_restart(oc, nc);
	if (why) {
		snprintf(d->reload_error, sizeof(d->reload_error),
			 "%s: restart mpquicd to apply the new configuration", why);
		return -EOPNOTSUPP;
	}
	/*
	 * Everything that can fail comes first, before any connection moves: a reload that runs
	 * out of memory halfway must leave the running tunnels exactly as they were.
	 */
	nt = calloc(nc->n_srv_tunnels ? nc->n_srv_tunnels : 1, sizeof(*nt));
	ncounts = calloc(nc->n_clients ? nc->n_clients : 1, sizeof(*ncounts));
	r = nt && ncounts ? groups_build(nc, nt, &ngroups, &n_ngroups, &nroutes) : -ENOMEM;
	if (r < 0) {
		free(nt);
		free(ncounts);
		snprintf(d->reload_error, sizeof(d->reload_error),
			 "cannot build the route table: %s", strerror(-r));
		return r;
	}
	/* Nothing below fails: connections move to the new tunnels. */
	for (size_t i = 0; i < nc->n_srv_tunnels; i++) {
		const struct conf_srv_tunnel *ct = &nc->srv_tunnels[i];
		int j = conf_find_srv_tunnel(oc, ct->name);

		if (j < 0)
			continue;
		nt[i].totals = s->tunnels[j].totals;
		nt[i].sessions = s->tunnels[j].sessions;
		if (!peer_changed && s->tunnels[j].live &&
		    srv_tunnel_equal(oc, s->tunnels[j].conf, nc, ct)) {
			nt[i].live = s->tunnels[j].live;
			nt[i].live->tunnel = &nt[i];
			nt[i].role = s->tunnels[j].role;
			nt[i].last_rx_ns = s->tunnels[j].last_rx_ns;
			if (s->tunnels[j].group->active == &s->tunnels[j])
				nt[i].group->active = &nt[i];
			/* applied live: no reconnect for a new delay target */
			conn_set_delay_target(nt[i].live->conn, ct->delay_target_us);
			s->tunnels[j].live = NULL;
			kept++;
		}
	}
	/* Close what the new configuration no longer allows, with the old arrays in place. */
	for (struct srv_conn *sc = s->conns, *next; sc; sc = next) {
		bool moved = sc->tunnel && sc->tunnel >= nt && sc->tunnel < nt + nc->n_srv_tunnels;
		int client = sc->client >= 0
				     ? conf_find_client(nc, oc->clients[sc->client].identity)
				     : -1;

		next = sc->next;
		if (!peer_changed && (moved || (!sc->tunnel && (sc->client < 0 || client >= 0))))
			continue;
		if (sc->tunnel && !moved && sc->tunnel->live == sc)
			sc->tunnel->live = NULL;
		if (!moved)
			sc->tunnel = NULL;
		log_info("%s: closed by the new configuration", conn_name(sc->conn));
		conn_close(sc->conn, 0, "configuration changed");
		srv_conn_free(sc);
		closed++;
	}
	/* The survivors' client indexes and counts, in the new configuration's terms. */
	for (struct srv_conn *sc = s->conns; sc; sc = sc->next) {
		if (sc->client < 0)
			continue;
		sc->client = conf_find_client(nc, oc->clients[sc->client].identity);
		if (sc->client >= 0 && sc->counted)
			ncounts[sc->client]++;
		else
			sc->counted = false;
	}
	lpm_free(s->routes);
	groups_free(s->groups, s->n_groups);
	free(s->tunnels);
	free(s->client_conns);
	s->routes = nroutes;
	s->groups = ngroups;
	s->n_groups = n_ngroups;
	s->tunnels = nt;
	s->client_conns = ncounts;
	d->conf = nc;
	for (size_t i = 0; i < s->n_groups; i++)
		group_refresh(&s->groups[i]);
	log_notice("reload: %zu tunnel connection%s kept, %zu closed; %zu tunnels, %zu clients",
		   kept, kept == 1 ? "" : "s", closed, nc->n_srv_tunnels, nc->n_clients);
	return 0;
}

const struct daemon_role server_role = {
	.name = "server",
	.start = server_start,
	.shutdown = server_shutdown,
	.reload = server_reload,
	.status = server_status,
};
