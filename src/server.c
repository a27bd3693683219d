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
#include "conn.h"
#include "ippkt.h"
#include "log.h"
#include "lpm.h"
#include "mpq.h"
#include "nl.h"
#include "proto.h"
#include "server.h"
#include "tun.h"
#include "udp.h"
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

struct srv_tunnel {
	const struct conf_srv_tunnel *conf; /* borrowed */
	char name[96];
	struct srv_conn *live; /* borrowed: the connection its traffic goes to, or NULL */
	struct conn_stats totals;
	uint64_t sessions;
};

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
	uint64_t tun_too_big;
	uint64_t tun_malformed;
};

struct server {
	struct daemon *d; /* borrowed */
	struct listener listeners[CONF_MAX_LISTEN];
	size_t n_listeners;
	struct tun tun; /* owned */
	ev_io tun_watcher;
	struct cid_table *cids;	    /* owned: our CIDs -> struct srv_conn */
	struct lpm *routes;	    /* owned: inner prefixes -> struct srv_tunnel */
	struct srv_tunnel *tunnels; /* owned, one per conf.srv_tunnels */
	uint32_t *client_conns;	    /* owned: live connections per client identity */
	struct srv_conn *conns;	    /* list of all connections */
	struct srv_conn *dirty;	    /* connections to write after this batch */
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

static void srv_conn_free(struct srv_conn *sc)
{
	struct server *s = sc->s;

	if (sc->tunnel) {
		conn_stats_add(&sc->tunnel->totals, conn_stats(sc->conn));
		if (sc->tunnel->live == sc)
			sc->tunnel->live = NULL;
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

static int srv_request(struct conn *c, const char *path)
{
	struct srv_conn *sc = conn_owner(c);
	struct server *s = sc->s;
	const struct conf *cf = s->d->conf;
	size_t plen = strlen(MPQ_SESSION_PATH_PREFIX);
	struct srv_tunnel *t;
	int idx;

	if (strncmp(path, MPQ_SESSION_PATH_PREFIX, plen) != 0) {
		if (peer_log_ok(s))
			log_warn("%s: CONNECT-IP request for unknown path, refusing (404)",
				 conn_name(c));
		return 404;
	}
	idx = conf_find_srv_tunnel(cf, path + plen);
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
				 path + plen);
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
	t->sessions++;
	return 200;
}

static void srv_session_open(struct conn *c)
{
	struct srv_conn *sc = conn_owner(c);
	const struct conf *cf = sc->s->d->conf;
	const struct conf_srv_tunnel *ct = sc->tunnel->conf;
	struct capsule_addr a[2 * CONF_MAX_PREFIXES];
	struct capsule_range r[CONF_MAX_PREFIXES];
	uint8_t buf[4096];
	size_t n = 0, nr;
	ssize_t len;
	char name[192];

	for (size_t i = 0; i < ct->n_address; i++)
		a[n++] = (struct capsule_addr){.request_id = 0, .prefix = ct->address[i]};
	for (size_t i = 0; i < ct->n_routes; i++)
		a[n++] = (struct capsule_addr){.request_id = 0, .prefix = ct->routes[i]};
	for (size_t i = 0; i < n; i++)
		mpq_prefix_mask(&a[i].prefix);
	len = capsule_encode_addresses(buf, sizeof(buf), CAPSULE_ADDRESS_ASSIGN, a, n);
	if (len < 0 || conn_send_capsule(c, buf, (size_t)len) < 0)
		log_err("%s: cannot send ADDRESS_ASSIGN", sc->tunnel->name);
	if (capsule_ranges_from_prefixes(cf->advertise, cf->n_advertise, r, ARRAY_SIZE(r), &nr) ==
		    0 &&
	    (len = capsule_encode_routes(buf, sizeof(buf), r, nr)) > 0)
		conn_send_capsule(c, buf, (size_t)len);
	else
		log_err("%s: cannot send ROUTE_ADVERTISEMENT", sc->tunnel->name);
	conn_set_delay_target(c, ct->delay_target_us);
	snprintf(name, sizeof(name), "%s (%s)", sc->tunnel->name, sc->peer);
	conn_set_name(c, name);
	log_notice("%s: up for client '%s'", name, cf->clients[sc->client].identity);
}

static void srv_capsule(struct conn *c, uint64_t type, const uint8_t *v, size_t len)
{
	(void)c;
	(void)type;
	(void)v;
	(void)len;
	/* Clients send no capsules we act on (ADDRESS_REQUEST is answered by the assignment). */
}

static void srv_packet(struct conn *c, const uint8_t *pkt, size_t len)
{
	struct srv_conn *sc = conn_owner(c);
	struct server *s = sc->s;
	struct conn_stats *st = conn_stats(c);
	struct ippkt_info ip;

	if (ippkt_parse(pkt, len, &ip) < 0) {
		st->drops[CONN_DROP_MALFORMED]++;
		return;
	}
	/* Anti-spoofing: the source must be one of this tunnel's addresses or routes. */
	if (!sc->tunnel || lpm_lookup(s->routes, ip.family, ip.src) != sc->tunnel) {
		st->drops[CONN_DROP_SPOOFED]++;
		return;
	}
	if (tun_write(&s->tun, pkt, len) < 0) {
		st->drops[CONN_DROP_TUN]++;
		return;
	}
	st->rx_packets++;
	st->rx_bytes += len;
}

static void srv_closed(struct conn *c, const char *why)
{
	struct srv_conn *sc = conn_owner(c);
	char reason[200];

	if (sc->tunnel && sc->tunnel->live == sc)
		log_warn("%s: connection ended: %s%s%s", conn_name(c), why,
			 strcmp(why, "closed by peer") == 0 ? ", " : "",
			 strcmp(why, "closed by peer") == 0
				 ? conn_close_reason(c, reason, sizeof(reason))
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
		.mtu = cf->tun_mtu ? cf->tun_mtu : MPQ_DEFAULT_MTU,
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
	uint8_t out[1280];
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
		t = lpm_lookup(s->routes, ip.family, ip.dst);
		sc = t ? t->live : NULL;
		if (!sc || !conn_session_open(sc->conn)) {
			if (t)
				t->totals.drops[CONN_DROP_NO_ROUTE]++;
			else
				s->stats.tun_no_route++;
			continue;
		}
		if ((size_t)n > conn_max_inner(sc->conn)) {
			conn_stats(sc->conn)->drops[CONN_DROP_TOO_BIG]++;
			send_too_big(s, s->scratch, (size_t)n, conn_max_inner(sc->conn), &ip);
			continue;
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

static int setup_routes(struct server *s)
{
	const struct conf *cf = s->d->conf;
	char p[MPQ_PREFIX_STRLEN];
	int r;

	s->routes = lpm_new();
	if (!s->routes)
		return -ENOMEM;
	for (size_t i = 0; i < cf->n_srv_tunnels; i++) {
		const struct conf_srv_tunnel *ct = &cf->srv_tunnels[i];
		struct srv_tunnel *t = &s->tunnels[i];

		t->conf = ct;
		snprintf(t->name, sizeof(t->name), "tunnel '%s'", ct->name);
		for (size_t j = 0; j < ct->n_address + ct->n_routes; j++) {
			struct mpq_prefix pf =
				j < ct->n_address ? ct->address[j] : ct->routes[j - ct->n_address];

			mpq_prefix_mask(&pf);
			r = lpm_insert(s->routes, &pf, t);
			if (r < 0) {
				log_err("%s: cannot route %s: %s", t->name,
					mpq_prefix_format(&pf, p, sizeof(p)), strerror(-r));
				return r;
			}
		}
	}
	return 0;
}

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
	r = setup_routes(s);
	if (r < 0)
		return r;

	r = tun_open(cf->tun_name, &s->tun);
	if (r < 0) {
		log_err("server: cannot open TUN device '%s': %s", cf->tun_name, strerror(-r));
		return r;
	}
	r = nl_link_set(d->nl, s->tun.ifindex, cf->tun_mtu ? cf->tun_mtu : MPQ_DEFAULT_MTU, true,
			"server TUN");
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
	uint64_t eagain = 0, txerr = 0;

	for (size_t i = 0; i < s->n_listeners; i++) {
		eagain += s->listeners[i].sock.tx_eagain;
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
		json_object_set_new(o, "sessions", json_integer((json_int_t)t->sessions));
		json_object_set_new(o, "reconnects",
				    json_integer((json_int_t)(t->sessions ? t->sessions - 1 : 0)));
		json_array_append_new(arr, o);
	}
	json_object_set_new(root, "tunnels", arr);
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
	struct lpm *nroutes;
	size_t kept = 0, closed = 0;
	const char *why;
	int r;

	why = server_needs_restart(oc, nc);
	if (why) {
		snprintf(d->reload_error, sizeof(d->reload_error),
			 "%s: restart mpquicd to apply the new configuration", why);
		return -EOPNOTSUPP;
	}
	nt = calloc(nc->n_srv_tunnels ? nc->n_srv_tunnels : 1, sizeof(*nt));
	ncounts = calloc(nc->n_clients ? nc->n_clients : 1, sizeof(*ncounts));
	nroutes = lpm_new();
	if (!nt || !ncounts || !nroutes) {
		free(nt);
		free(ncounts);
		lpm_free(nroutes);
		return -ENOMEM;
	}
	for (size_t i = 0; i < nc->n_srv_tunnels; i++) {
		const struct conf_srv_tunnel *ct = &nc->srv_tunnels[i];
		int j = conf_find_srv_tunnel(oc, ct->name);

		nt[i].conf = ct;
		snprintf(nt[i].name, sizeof(nt[i].name), "tunnel '%s'", ct->name);
		for (size_t k = 0; k < ct->n_address + ct->n_routes; k++) {
			struct mpq_prefix pf =
				k < ct->n_address ? ct->address[k] : ct->routes[k - ct->n_address];

			mpq_prefix_mask(&pf);
			r = lpm_insert(nroutes, &pf, &nt[i]);
			if (r < 0) {
				free(nt);
				free(ncounts);
				lpm_free(nroutes);
				return r;
			}
		}
		if (j < 0)
			continue;
		nt[i].totals = s->tunnels[j].totals;
		nt[i].sessions = s->tunnels[j].sessions;
		if (!peer_changed && s->tunnels[j].live &&
		    srv_tunnel_equal(oc, s->tunnels[j].conf, nc, ct)) {
			nt[i].live = s->tunnels[j].live;
			nt[i].live->tunnel = &nt[i];
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
	free(s->tunnels);
	free(s->client_conns);
	s->routes = nroutes;
	s->tunnels = nt;
	s->client_conns = ncounts;
	d->conf = nc;
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
