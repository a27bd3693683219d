/* SPDX-License-Identifier: MIT */
/*
 * QUIC (ngtcp2 + wolfSSL) + HTTP/3 (nghttp3) + one CONNECT-IP session per connection.
 *
 * Timers:
 *   expiry_timer: ngtcp2's loss detection, ACK delay, idle, keepalive and pacing deadline;
 *                 re-armed from ngtcp2_conn_get_expiry() after every read and write.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <ngtcp2/ngtcp2_crypto_wolfssl.h>

#include "capsule.h"
#include "cid.h"
#include "conn.h"
#include "ipaddr.h"
#include "log.h"
#include "mpq.h"
#include "mpq_build.h"
#include "proto.h"
#include "varint.h"
#include "txpend.h"
#include "util.h"

#define H3_NO_ERROR	       0x0100
#define H3_INTERNAL_ERROR      0x0102
#define H3_EXCESSIVE_LOAD      0x0107
#define H3_REQUEST_REJECTED    0x010b
#define H3_DATAGRAM_ERROR      0x33 /* RFC 9297 §5.2: datagram or capsule parse error */
#define CONN_MAX_STREAMS_BIDI  8    /* CONNECT-IP session + a few health checks */
#define CONN_HDR_MAX	       256
#define CONN_CAPSULE_MAX_VALUE CAPSULE_MAX_VALUE
#define CONN_CID_LEN	       16

/*
 * The session stream's send buffer: what the server sends when a session opens, for the largest
 * tunnel the config allows (ADDRESS_ASSIGN with every address and route, ROUTE_ADVERTISEMENT with
 * every advertised prefix), both unacknowledged at once, plus room for later capsules.
 */
#define CONN_CAPBUF                                                                             \
	(CAPSULE_ADDRESSES_MAX(2 * CONF_MAX_PREFIXES) + CAPSULE_ROUTES_MAX(CONF_MAX_PREFIXES) + \
	 4096)

enum session_state {
	SESSION_NONE = 0,
	SESSION_REQUESTED, /* client: CONNECT sent */
	SESSION_OPEN,
	SESSION_CLOSED,
};

/* One HTTP/3 request stream. */
struct h3_stream {
	struct h3_stream *prev, *next; /* conn.streams: freed with the connection */
	int64_t id;
	char method[16];
	char protocol[32];
	char scheme[16];
	char path[CONN_HDR_MAX];
	char authority[CONN_HDR_MAX];
	bool capsule_protocol;
	bool bad_header;
	int status;
	/* response body for plain requests (health) */
	char body[256];
	size_t body_len;
	bool body_sent;
};

struct conn {
	ngtcp2_conn *qc;  /* owned */
	nghttp3_conn *h3; /* owned */
	WOLFSSL *ssl;	  /* owned */
	ngtcp2_crypto_conn_ref conn_ref;
	ngtcp2_path_storage ps;
	ngtcp2_ccerr ccerr;
	struct ev_loop *loop;  /* borrowed */
	struct udp_sock *sock; /* borrowed */
	ev_timer expiry_timer;
	ev_io write_watcher;  /* on sock's fd while txpend holds packets the socket refused */
	struct txpend txpend; /* allocated the first time the socket buffer is full */
	const struct conn_ops *ops;
	void *owner; /* borrowed */
	bool server;
	bool handshake_done;
	bool closed;	   /* ops->closed was called or must not be */
	bool want_session; /* client: request once SETTINGS arrive */
	bool want_get;
	int64_t get_stream;
	char get_path[CONN_HDR_MAX];
	bool settings_ok;
	bool peer_settings;		  /* the peer's SETTINGS arrived */
	bool peer_h3_datagram;		  /* ... with SETTINGS_H3_DATAGRAM = 1 */
	struct h3_stream *deferred;	  /* server: CONNECT-IP waiting for the peer's SETTINGS */
	const struct conn_quirks *quirks; /* borrowed, or NULL (t/peer only) */
	int64_t late_ctrl;		  /* late_settings quirk: control stream not bound yet */
	char fail_why[160];		  /* connection error found in a callback (conn_fail) */
	char name[192];
	char server_name[256];
	char session_path[CONN_HDR_MAX];
	const uint8_t *static_secret; /* borrowed, 32 bytes */
	uint8_t server_id;

	enum session_state session;
	int64_t session_stream;
	uint8_t dgram_hdr[16];
	size_t dgram_hdr_len;

	struct h3_stream *streams; /* owned: open request streams */
	struct capsule_parser cap_rx;
	uint8_t *cap_tx; /* owned: CONN_CAPBUF bytes, allocated by the first capsule sent */
	size_t cap_tx_len, cap_tx_read, cap_tx_acked;

	struct fqq *txq; /* allocated when the session opens: a handshake costs no queue */
	uint32_t txq_cap;
	struct pktsize size; /* the packet-size invariant: queue slot, largest inner packet */

	struct dcap dcap; /* the delay target (lib/dcap.h) */
	struct conn_stats stats;
	struct conn_path path; /* acknowledgements and losses of datagrams */
	bool probe_pending;
	uint8_t probe_hdr[16];
	size_t probe_hdr_len;
};

static const char *tls_alert_name(unsigned a);

/* Log lines a peer can trigger (one process, one loop: one limiter for all connections). */
static struct ratelimit rl_peer = RATELIMIT_INIT(10000, 20);

static bool peer_log_ok(void)
{
	uint64_t sup = 0;

	if (!ratelimit_ok(&rl_peer, mpq_now_ns() / 1000000, &sup))
		return false;
	if (sup)
		log_warn("(%" PRIu64 " similar messages about peers suppressed)", sup);
	return true;
}

/*
 * A connection error found inside an ngtcp2 or nghttp3 callback: CONNECTION_CLOSE carries the
 * HTTP/3 error code app_error and why as its reason. The callback then returns its library's
 * CALLBACK_FAILURE, and conn_read() finishes the connection with why (the first error wins).
 */
static void conn_fail(struct conn *c, uint64_t app_error, const char *why)
{
	if (c->fail_why[0])
		return;
	snprintf(c->fail_why, sizeof(c->fail_why), "%s", why);
	ngtcp2_ccerr_set_application_error(&c->ccerr, app_error, (const uint8_t *)c->fail_why,
					   strlen(c->fail_why));
}

static ngtcp2_tstamp now_ts(void)
{
	return mpq_now_ns();
}

static void conn_finish(struct conn *c, const char *why)
{
	if (c->closed)
		return;
	c->closed = true;
	c->ops->closed(c, why);
}

/* ---- timer ---- */

static void conn_arm_timer(struct conn *c)
{
	ngtcp2_tstamp expiry = ngtcp2_conn_get_expiry(c->qc);
	ngtcp2_tstamp now = now_ts();
	double after;

	if (expiry == UINT64_MAX) {
		ev_timer_stop(c->loop, &c->expiry_timer);
		return;
	}
	after = expiry <= now ? 0 : (double)(expiry - now) / 1e9;
	ev_timer_stop(c->loop, &c->expiry_timer);
	ev_timer_set(&c->expiry_timer, after, 0.);
	ev_timer_start(c->loop, &c->expiry_timer);
}

static void conn_expiry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn *c = container_of(w, struct conn, expiry_timer);
	int rv;

	(void)loop;
	(void)revents;
	rv = ngtcp2_conn_handle_expiry(c->qc, now_ts());
	if (rv == NGTCP2_ERR_IDLE_CLOSE) {
		conn_finish(c, "idle timeout");
		return; /* c may be freed */
	}
	if (rv != 0) {
		ngtcp2_ccerr_set_liberr(&c->ccerr, rv, NULL, 0);
		conn_close(c, 0, NULL);
		conn_finish(c, ngtcp2_strerror(rv));
		return;
	}
	if (conn_write(c) < 0)
		return; /* finished: conn_write called ops->closed */
}

/* ---- sending ---- */

struct tx_batch {
	uint8_t *buf;
	size_t len;
	size_t segsize;
	size_t npkts;
};

/*
 * A full socket buffer (EAGAIN) does not drop the batch: what did not go waits in txpend, the
 * connection writes nothing more, and the write watcher resumes once the socket is writable
 * (conn_writable_cb). Packets are kept in order: a batch behind a kept one is kept too.
 */
static void keep_unsent(struct conn *c, const uint8_t *data, size_t len, size_t segsize)
{
	size_t dropped;

	if (!c->txpend.buf && txpend_init(&c->txpend, MPQ_MAX_UDP_PAYLOAD) < 0)
		log_debug("%s: out of memory for a blocked batch", c->name);
	dropped = txpend_add(&c->txpend, data, len, segsize); /* all of them without memory */
	c->sock->tx_eagain += dropped;
	if (!txpend_empty(&c->txpend) && !ev_is_active(&c->write_watcher)) {
		ev_io_set(&c->write_watcher, c->sock->fd, EV_WRITE);
		ev_io_start(c->loop, &c->write_watcher);
	}
}

static int flush_batch(struct conn *c, struct tx_batch *b)
{
	size_t sent;
	int r = 0;

	if (b->len && !txpend_empty(&c->txpend)) {
		keep_unsent(c, b->buf, b->len, b->segsize);
	} else if (b->len) {
		r = udp_send_batch(c->sock, c->ps.path.remote.addr, c->ps.path.remote.addrlen,
				   c->ps.path.local.addr, b->buf, b->len, b->segsize, &sent);
		if (r == -EAGAIN) {
			keep_unsent(c, b->buf + sent, b->len - sent, b->segsize);
			r = 0;
		} else if (r < 0) {
			log_debug("%s: send failed: %s", c->name, strerror(-r));
		}
	}
	b->len = 0;
	b->segsize = 0;
	b->npkts = 0;
	return r;
}

static int write_close_packet(struct conn *c)
{
	static uint8_t buf[MPQ_MAX_UDP_PAYLOAD];
	ngtcp2_pkt_info pi;
	ngtcp2_ssize n;

	if (!c->qc || ngtcp2_conn_in_closing_period(c->qc) || ngtcp2_conn_in_draining_period(c->qc))
		return 0;
	n = ngtcp2_conn_write_connection_close(c->qc, &c->ps.path, &pi, buf, sizeof(buf), &c->ccerr,
					       now_ts());
	if (n <= 0)
		return 0;
	return udp_send(c->sock, c->ps.path.remote.addr, c->ps.path.remote.addrlen,
			c->ps.path.local.addr, buf, (size_t)n, (size_t)n);
}

void conn_close(struct conn *c, uint64_t app_error, const char *reason)
{
	if (reason || app_error)
		ngtcp2_ccerr_set_application_error(&c->ccerr, app_error ? app_error : H3_NO_ERROR,
						   (const uint8_t *)reason,
						   reason ? strlen(reason) : 0);
	write_close_packet(c);
	ev_timer_stop(c->loop, &c->expiry_timer);
}

static int fatal(struct conn *c, int liberr, const char *what)
{
	char why[160];

	if (liberr)
		ngtcp2_ccerr_set_liberr(&c->ccerr, liberr, NULL, 0);
	write_close_packet(c);
	snprintf(why, sizeof(why), "%s: %s", what, liberr ? ngtcp2_strerror(liberr) : "error");
	conn_finish(c, why);
	return -1;
}

/* Send what the socket refused before: 0 once all went (or failed), -EAGAIN if full again. */
static int send_kept(struct conn *c)
{
	const uint8_t *p;
	size_t len, seg, sent;

	while ((p = txpend_next(&c->txpend, MPQ_TX_GSO_MAX, &len, &seg))) {
		int r = udp_send_batch(c->sock, c->ps.path.remote.addr, c->ps.path.remote.addrlen,
				       c->ps.path.local.addr, p, len, seg, &sent);

		/* Another error gives the run up (counted in tx_errors): QUIC recovers it. */
		txpend_consume(&c->txpend, r == -EAGAIN ? sent : len);
		if (r == -EAGAIN)
			return -EAGAIN;
	}
	return 0;
}

static void conn_writable_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = container_of(w, struct conn, write_watcher);

	(void)revents;
	if (send_kept(c) == -EAGAIN)
		return; /* still full: keep waiting */
	ev_io_stop(loop, w);
	if (conn_write(c) < 0)
		return; /* finished: conn_write called ops->closed */
}

/* Datagram bytes allowed in flight under the delay target (lib/dcap.h); UINT64_MAX if none. */
static uint64_t delay_cap(struct conn *c, ngtcp2_tstamp ts, uint64_t *ret_inflight)
{
	ngtcp2_conn_info ci;

	*ret_inflight = 0;
	if (!c->dcap.target)
		return UINT64_MAX;
	ngtcp2_conn_get_conn_info(c->qc, &ci);
	*ret_inflight = ci.bytes_in_flight;
	return dcap_update(&c->dcap, ts, ci.latest_rtt, ci.smoothed_rtt, ci.cwnd);
}

/*
 * One probe datagram (docs/protocol.md, Extensions) into dst: > 0 written, 0 when the
 * congestion window or pacing holds it back (it stays pending), < 0 a fatal ngtcp2 error.
 */
static ngtcp2_ssize write_probe(struct conn *c, ngtcp2_pkt_info *pi, uint8_t *dst, ngtcp2_tstamp ts)
{
	uint8_t body[MPQ_PROBE_LEN];
	uint64_t stamp = ts;
	int accepted = 0;
	ngtcp2_ssize n;

	if (!c->probe_hdr_len) {
		ssize_t h = h3dgram_put_header(c->probe_hdr, sizeof(c->probe_hdr),
					       c->session_stream, MPQ_PROBE_CONTEXT);

		if (h <= 0) {
			c->probe_pending = false;
			return 0;
		}
		c->probe_hdr_len = (size_t)h;
	}
	memcpy(body, &stamp, sizeof(body));
	ngtcp2_vec dv[2] = {
		{.base = c->probe_hdr, .len = c->probe_hdr_len},
		{.base = body, .len = sizeof(body)},
	};
	n = ngtcp2_conn_writev_datagram(c->qc, &c->ps.path, pi, dst, MPQ_MAX_UDP_PAYLOAD, &accepted,
					NGTCP2_WRITE_DATAGRAM_FLAG_NONE, 0, dv, 2, ts);
	if (accepted) {
		c->probe_pending = false;
		c->path.last_dgram_tx_ns = ts;
		if (!c->path.unacked_since_ns)
			c->path.unacked_since_ns = ts;
		c->stats.probes++;
		if (n > 0)
			c->stats.probe_bytes += (uint64_t)n;
	}
	if (n == NGTCP2_ERR_WRITE_MORE || n == NGTCP2_ERR_INVALID_ARGUMENT) {
		c->probe_pending = false;
		return 0;
	}
	return n;
}

int conn_probe(struct conn *c)
{
	if (c->closed || c->session != SESSION_OPEN)
		return -ENOTCONN;
	c->probe_pending = true;
	return 0;
}

void conn_path_info(struct conn *c, struct conn_path *ret)
{
	ngtcp2_conn_info ci;

	*ret = c->path;
	ngtcp2_conn_get_conn_info(c->qc, &ci);
	/* ngtcp2 reports its initial 333 ms before any sample: only measured values count. */
	ret->have_rtt = c->path.dgram_acked > 0 || c->handshake_done;
	ret->srtt_us = (uint32_t)MPQ_MIN(ci.smoothed_rtt / 1000, UINT32_MAX);
}

int conn_write(struct conn *c)
{
	struct daemon_tx {
		uint8_t buf[MPQ_TX_GSO_MAX * MPQ_MAX_UDP_PAYLOAD];
	};
	static struct daemon_tx tx; /* one loop per process: shared scratch */
	struct tx_batch b = {.buf = tx.buf};
	ngtcp2_tstamp ts = now_ts();
	size_t max_pkts, quantum;
	size_t total = 0;
	ngtcp2_pkt_info pi;
	/*
	 * Once nghttp3 has no stream data, nothing in this loop gives it more (new data and
	 * flow control arrive on the read path), so it is not asked again for every datagram:
	 * those calls were ~1,000 instructions per packet (callgrind, docs/benchmarks.md).
	 */
	bool h3_idle = false;
	uint64_t inflight = 0, dcap, wrote = 0;

	if (c->closed)
		return -1;
	/*
	 * Blocked on a full socket buffer: nothing new until the kept packets went. The expiry
	 * timer is not re-armed meanwhile (ngtcp2 would ask to send at once, again and again);
	 * conn_writable_cb() writes, and so re-arms it, once the socket drains.
	 */
	if (!txpend_empty(&c->txpend))
		return 0;
	dcap = c->session == SESSION_OPEN ? delay_cap(c, ts, &inflight) : UINT64_MAX;
	quantum = ngtcp2_conn_get_send_quantum(c->qc);
	max_pkts = MPQ_MAX(1, MPQ_MIN(MPQ_TX_GSO_MAX, quantum / MPQ_MAX_UDP_PAYLOAD));

	for (;;) {
		int64_t stream_id = -1;
		int fin = 0;
		nghttp3_vec vec[16];
		nghttp3_ssize sveccnt = 0;
		ngtcp2_ssize nwrite, ndatalen = -1;
		uint8_t *dst = b.buf + b.len;
		const uint8_t *pkt;
		size_t plen = 0;
		bool dgram;

		if (c->h3 && !h3_idle && ngtcp2_conn_get_max_data_left(c->qc)) {
			sveccnt = nghttp3_conn_writev_stream(c->h3, &stream_id, &fin, vec,
							     ARRAY_SIZE(vec));
			if (sveccnt < 0)
				return fatal(c, NGTCP2_ERR_INTERNAL, "HTTP/3 write");
			h3_idle = stream_id < 0;
		}
		pkt = NULL;
		if (stream_id < 0 && c->session == SESSION_OPEN && c->probe_pending) {
			nwrite = write_probe(c, &pi, dst, ts);
			if (nwrite < 0) {
				flush_batch(c, &b);
				return fatal(c, (int)nwrite, "probe write");
			}
			if (nwrite > 0)
				goto written;
		}
		if (stream_id < 0 && c->session == SESSION_OPEN && !fqq_empty(c->txq)) {
			unsigned aqm = 0;

			pkt = fqq_peek(c->txq, ts, &plen, &aqm);
			c->stats.drops[CONN_DROP_AQM] += aqm;
			/* Past the delay cap only a new flow's first quantum goes (a ping,
			 * a DNS query); the backlogged flows wait. */
			if (pkt && inflight + wrote >= dcap && !fqq_peek_new(c->txq)) {
				dcap_limited(&c->dcap);
				pkt = NULL;
			}
		}
		dgram = pkt != NULL;
		if (!dgram) {
			uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE;

			if (fin)
				flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
			nwrite = ngtcp2_conn_writev_stream(
				c->qc, &c->ps.path, &pi, dst, MPQ_MAX_UDP_PAYLOAD, &ndatalen, flags,
				stream_id, (const ngtcp2_vec *)vec, (size_t)sveccnt, ts);
			if (nwrite < 0) {
				switch (nwrite) {
				case NGTCP2_ERR_STREAM_DATA_BLOCKED:
					nghttp3_conn_block_stream(c->h3, stream_id);
					continue;
				case NGTCP2_ERR_STREAM_SHUT_WR:
					nghttp3_conn_shutdown_stream_write(c->h3, stream_id);
					continue;
				case NGTCP2_ERR_WRITE_MORE:
					if (nghttp3_conn_add_write_offset(c->h3, stream_id,
									  (size_t)ndatalen) != 0)
						return fatal(c, NGTCP2_ERR_INTERNAL, "HTTP/3");
					continue;
				default:
					flush_batch(c, &b);
					return fatal(c, (int)nwrite, "write");
				}
			}
			if (ndatalen >= 0 && stream_id >= 0 &&
			    nghttp3_conn_add_write_offset(c->h3, stream_id, (size_t)ndatalen) != 0)
				return fatal(c, NGTCP2_ERR_INTERNAL, "HTTP/3");
		} else {
			ngtcp2_vec dv[2] = {
				{.base = c->dgram_hdr, .len = c->dgram_hdr_len},
				{.base = (uint8_t *)pkt, .len = plen},
			};
			int accepted = 0;

			nwrite = ngtcp2_conn_writev_datagram(
				c->qc, &c->ps.path, &pi, dst, MPQ_MAX_UDP_PAYLOAD, &accepted,
				NGTCP2_WRITE_DATAGRAM_FLAG_MORE, 0, c->dgram_hdr_len ? dv : dv + 1,
				c->dgram_hdr_len ? 2 : 1, ts); /* no empty iovec (raw_datagrams) */
			if (accepted) {
				c->path.last_dgram_tx_ns = ts;
				if (!c->path.unacked_since_ns)
					c->path.unacked_since_ns = ts;
				c->stats.tx_packets++;
				c->stats.tx_bytes += plen;
				fqq_pop(c->txq);
			}
			if (nwrite < 0) {
				switch (nwrite) {
				case NGTCP2_ERR_WRITE_MORE:
					continue;
				case NGTCP2_ERR_INVALID_ARGUMENT:
					/* Larger than the peer's max_datagram_frame_size. */
					c->stats.drops[CONN_DROP_TOO_BIG]++;
					fqq_pop(c->txq);
					continue;
				default:
					flush_batch(c, &b);
					return fatal(c, (int)nwrite, "datagram write");
				}
			}
		}
		if (nwrite == 0) {
			/* Congestion window, pacing, or nothing left: queued packets wait. */
			break;
		}
	written:
		/* GSO: equal-sized packets; only the last of a batch may be shorter. */
		if (b.npkts && (size_t)nwrite > b.segsize) {
			flush_batch(c, &b);
			memmove(b.buf, dst, (size_t)nwrite);
		}
		if (b.npkts == 0)
			b.segsize = (size_t)nwrite;
		b.len += (size_t)nwrite;
		wrote += (uint64_t)nwrite;
		b.npkts++;
		if (++total >= max_pkts) {
			flush_batch(c, &b);
			break;
		}
		if ((size_t)nwrite < b.segsize)
			flush_batch(c, &b);
		if (!txpend_empty(&c->txpend))
			break; /* the socket is full: what is in b joins the kept packets */
	}
	flush_batch(c, &b);
	ngtcp2_conn_update_pkt_tx_time(c->qc, ts);
	if (txpend_empty(&c->txpend))
		conn_arm_timer(c);
	return 0;
}

/* ---- receiving ---- */

int conn_read(struct conn *c, const struct sockaddr *local, socklen_t local_len,
	      const struct sockaddr *remote, socklen_t remote_len, const uint8_t *data, size_t len)
{
	ngtcp2_path path = {
		.local = {.addr = (struct sockaddr *)local, .addrlen = local_len},
		.remote = {.addr = (struct sockaddr *)remote, .addrlen = remote_len},
	};
	ngtcp2_pkt_info pi = {0};
	int rv;

	if (c->closed)
		return -1;
	rv = ngtcp2_conn_read_pkt(c->qc, &path, &pi, data, len, now_ts());
	if (rv == 0)
		return 0;
	if (c->fail_why[0]) {
		/* A callback found a connection error: ccerr holds its code and reason. */
		write_close_packet(c);
		conn_finish(c, c->fail_why);
		return -1;
	}
	switch (rv) {
	case NGTCP2_ERR_DRAINING:
		conn_finish(c, "closed by peer");
		return -1;
	case NGTCP2_ERR_DROP_CONN:
		conn_finish(c, "dropped");
		return -1;
	case NGTCP2_ERR_CRYPTO: {
		char why[384];

		ngtcp2_ccerr_set_tls_alert(&c->ccerr, ngtcp2_conn_get_tls_alert(c->qc), NULL, 0);
		write_close_packet(c);
		const char *verr = tls_verify_error(c->ssl);
		unsigned alert = ngtcp2_conn_get_tls_alert(c->qc);

		char names[160];

		if (!c->server && tls_name_mismatch(c->ssl) &&
		    tls_peer_names_str(c->ssl, names, sizeof(names)))
			snprintf(
				why, sizeof(why),
				"TLS handshake failed: the server's certificate is for %s, not for "
				"server.name '%.100s' (alert %u: %s)",
				names[0] ? names : "no name", c->server_name, alert,
				tls_alert_name(alert));
		else
			snprintf(why, sizeof(why), "TLS handshake failed (%s%salert %u: %s)",
				 verr ? verr : "", verr ? "; " : "", alert, tls_alert_name(alert));
		conn_finish(c, why);
		return -1;
	}
	default:
		if (!ngtcp2_err_is_fatal(rv) && rv != NGTCP2_ERR_CALLBACK_FAILURE) {
			/* A bad packet, not a bad connection. */
			return 0;
		}
		return fatal(c, rv, "receive");
	}
}

/* ---- HTTP/3 ---- */

static struct h3_stream *h3_stream_new(struct conn *c, int64_t id)
{
	struct h3_stream *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->id = id;
	s->next = c->streams;
	if (c->streams)
		c->streams->prev = s;
	c->streams = s;
	return s;
}

static void h3_stream_free(struct conn *c, struct h3_stream *s)
{
	if (!s)
		return;
	if (c->deferred == s)
		c->deferred = NULL;
	if (s->prev)
		s->prev->next = s->next;
	else
		c->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	free(s);
}

static int h3_begin_headers_cb(nghttp3_conn *h3, int64_t stream_id, void *user_data,
			       void *stream_user_data)
{
	struct conn *c = user_data;
	struct h3_stream *s;

	(void)h3;
	if (stream_user_data || !c->server)
		return 0;
	s = h3_stream_new(c, stream_id);
	if (!s)
		return NGHTTP3_ERR_CALLBACK_FAILURE;
	nghttp3_conn_set_stream_user_data(c->h3, stream_id, s);
	return 0;
}

static void copy_hdr(char *dst, size_t size, nghttp3_rcbuf *v, struct h3_stream *s)
{
	nghttp3_vec vv = nghttp3_rcbuf_get_buf(v);

	if (vv.len >= size || memchr(vv.base, '\0', vv.len)) {
		s->bad_header = true;
		return;
	}
	memcpy(dst, vv.base, vv.len);
	dst[vv.len] = '\0';
}

static int h3_recv_header_cb(nghttp3_conn *h3, int64_t stream_id, int32_t token,
			     nghttp3_rcbuf *name, nghttp3_rcbuf *value, uint8_t flags,
			     void *user_data, void *stream_user_data)
{
	struct h3_stream *s = stream_user_data;

	(void)h3;
	(void)stream_id;
	(void)flags;
	(void)user_data;
	if (!s)
		return 0;
	switch (token) {
	case NGHTTP3_QPACK_TOKEN__METHOD:
		copy_hdr(s->method, sizeof(s->method), value, s);
		break;
	case NGHTTP3_QPACK_TOKEN__PROTOCOL:
		copy_hdr(s->protocol, sizeof(s->protocol), value, s);
		break;
	case NGHTTP3_QPACK_TOKEN__SCHEME:
		copy_hdr(s->scheme, sizeof(s->scheme), value, s);
		break;
	case NGHTTP3_QPACK_TOKEN__PATH:
		copy_hdr(s->path, sizeof(s->path), value, s);
		break;
	case NGHTTP3_QPACK_TOKEN__AUTHORITY:
		copy_hdr(s->authority, sizeof(s->authority), value, s);
		break;
	case NGHTTP3_QPACK_TOKEN__STATUS: {
		char st[8] = "";

		copy_hdr(st, sizeof(st), value, s);
		s->status = atoi(st);
		break;
	}
	default: {
		nghttp3_vec n = nghttp3_rcbuf_get_buf(name);
		nghttp3_vec v = nghttp3_rcbuf_get_buf(value);

		if (n.len == 16 && memcmp(n.base, "capsule-protocol", 16) == 0)
			s->capsule_protocol = v.len == 2 && memcmp(v.base, "?1", 2) == 0;
		break;
	}
	}
	return 0;
}

static nghttp3_nv make_nv(const char *name, const char *value)
{
	nghttp3_nv nv = {
		.name = (uint8_t *)name,
		.value = (uint8_t *)value,
		.namelen = strlen(name),
		.valuelen = strlen(value),
		.flags = NGHTTP3_NV_FLAG_NONE,
	};
	return nv;
}

/* Data reader of the session stream: the capsule buffer, never ending. */
static nghttp3_ssize capsule_read_cb(nghttp3_conn *h3, int64_t stream_id, nghttp3_vec *vec,
				     size_t veccnt, uint32_t *pflags, void *user_data,
				     void *stream_user_data)
{
	struct conn *c = user_data;

	(void)h3;
	(void)stream_id;
	(void)veccnt;
	(void)stream_user_data;
	if (c->session == SESSION_CLOSED) {
		*pflags |= NGHTTP3_DATA_FLAG_EOF;
		return 0;
	}
	if (c->cap_tx_read == c->cap_tx_len)
		return NGHTTP3_ERR_WOULDBLOCK;
	vec[0].base = c->cap_tx + c->cap_tx_read;
	vec[0].len = c->cap_tx_len - c->cap_tx_read;
	c->cap_tx_read = c->cap_tx_len;
	return 1;
}

static nghttp3_ssize body_read_cb(nghttp3_conn *h3, int64_t stream_id, nghttp3_vec *vec,
				  size_t veccnt, uint32_t *pflags, void *user_data,
				  void *stream_user_data)
{
	struct h3_stream *s = stream_user_data;

	(void)h3;
	(void)stream_id;
	(void)veccnt;
	(void)user_data;
	*pflags |= NGHTTP3_DATA_FLAG_EOF;
	if (!s || s->body_sent)
		return 0;
	s->body_sent = true;
	vec[0].base = (uint8_t *)s->body;
	vec[0].len = s->body_len;
	return 1;
}

static int respond_plain(struct conn *c, struct h3_stream *s, int status, const char *ctype,
			 const char *body)
{
	nghttp3_data_reader dr = {.read_data = body_read_cb};
	char st[8], len[24];
	nghttp3_nv nva[3];
	size_t n = 0;

	snprintf(st, sizeof(st), "%d", status);
	s->body_len = (size_t)snprintf(s->body, sizeof(s->body), "%s", body);
	if (s->body_len >= sizeof(s->body))
		s->body_len = sizeof(s->body) - 1;
	snprintf(len, sizeof(len), "%zu", s->body_len);
	nva[n++] = make_nv(":status", st);
	nva[n++] = make_nv("content-type", ctype);
	nva[n++] = make_nv("content-length", len);
	return nghttp3_conn_submit_response(c->h3, s->id, nva, n, &dr);
}

static bool is_connect_ip(const struct h3_stream *s)
{
	return strcmp(s->method, "CONNECT") == 0 && strcmp(s->protocol, "connect-ip") == 0;
}

/*
 * The datagram send queue (queue_packets slots of mtu bytes, about 350 KiB by default) is
 * allocated when the CONNECT-IP session opens, not in conn_new(): before that a peer, even an
 * unauthenticated one, could make the server hold one per half-open handshake.
 */
static int open_queue(struct conn *c)
{
	uint8_t key[16];
	struct fqq_params p = {.cap = c->txq_cap, .slot_size = c->size.slot, .key = key};
	int r;

	if (c->txq)
		return 0;
	c->txq = malloc(sizeof(*c->txq));
	if (!c->txq)
		return -ENOMEM;
	mpq_random(key, sizeof(key)); /* flow hashing a peer cannot aim at one queue */
	r = fqq_init(c->txq, &p);
	if (r < 0) {
		free(c->txq);
		c->txq = NULL;
	}
	return r;
}

/* The HTTP Datagram header of the session on stream_id (none for the raw_datagrams quirk). */
static void set_dgram_header(struct conn *c, int64_t stream_id)
{
	ssize_t n = h3dgram_put_header(c->dgram_hdr, sizeof(c->dgram_hdr), stream_id, 0);

	c->dgram_hdr_len = n > 0 && !(c->quirks && c->quirks->raw_datagrams) ? (size_t)n : 0;
}

static int server_request(struct conn *c, struct h3_stream *s)
{
	nghttp3_data_reader dr = {.read_data = capsule_read_cb};
	nghttp3_nv nva[2];
	int status;

	if (s->bad_header)
		return respond_plain(c, s, 431, "text/plain", "header too large\n");
	if (strcmp(s->method, "GET") == 0 || strcmp(s->method, "HEAD") == 0) {
		if (strcmp(s->path, "/.well-known/mpquic/health") == 0) {
			char body[160];

			snprintf(body, sizeof(body),
				 "{\"status\":\"ok\",\"service\":\"mpquicd\",\"version\":\"%s\"}\n",
				 MPQ_VERSION);
			return respond_plain(c, s, 200, "application/json", body);
		}
		return respond_plain(c, s, 404, "text/plain", "not found\n");
	}
	if (strcmp(s->method, "CONNECT") != 0)
		return respond_plain(c, s, 405, "text/plain", "method not allowed\n");
	if (!is_connect_ip(s))
		return respond_plain(c, s, 501, "text/plain", "only connect-ip is supported\n");
	if (strcmp(s->scheme, "https") != 0 || !s->path[0] || !s->authority[0] ||
	    !s->capsule_protocol)
		return respond_plain(c, s, 400, "text/plain", "malformed connect-ip request\n");
	if (c->session != SESSION_NONE || (c->deferred && c->deferred != s))
		return respond_plain(c, s, 409, "text/plain",
				     "one connect-ip session per connection\n");
	if (c->quirks && c->quirks->hold_requests)
		return 0;
	/*
	 * RFC 9297 §2.1.1: no HTTP Datagrams before SETTINGS_H3_DATAGRAM = 1 was both sent and
	 * received. The client's SETTINGS (control stream) may arrive after its request: the
	 * request then waits for them (h3_recv_settings_cb).
	 */
	if (!c->peer_settings) {
		log_debug("%s: CONNECT-IP request before the client's SETTINGS, waiting for them",
			  c->name);
		c->deferred = s;
		return 0;
	}
	c->deferred = NULL;
	if (!c->peer_h3_datagram) {
		if (peer_log_ok())
			log_warn("%s: CONNECT-IP request without SETTINGS_H3_DATAGRAM = 1, "
				 "refusing (400)",
				 c->name);
		return respond_plain(
			c, s, 400, "text/plain",
			"HTTP Datagrams not enabled: SETTINGS_H3_DATAGRAM = 1 required\n");
	}
	/* Before ops->request: an accepted request may replace another connection's session. */
	if (open_queue(c) < 0)
		return respond_plain(c, s, 503, "text/plain", "out of memory\n");
	status = c->ops->request(c, s->path);
	if (status != 200) {
		const char *why = status == 403	  ? "forbidden\n"
				  : status == 400 ? "malformed path\n"
						  : "refused\n";

		return respond_plain(c, s, status, "text/plain", why);
	}
	nva[0] = make_nv(":status", "200");
	nva[1] = make_nv("capsule-protocol", "?1");
	c->session = SESSION_OPEN;
	c->session_stream = s->id;
	set_dgram_header(c, s->id);
	if (nghttp3_conn_submit_response(c->h3, s->id, nva, 2, &dr) != 0)
		return -1;
	if (c->ops->session_open(c) < 0)
		return -1; /* a session without its addresses and routes would only drop packets */
	return 0;
}

static int h3_end_headers_cb(nghttp3_conn *h3, int64_t stream_id, int fin, void *user_data,
			     void *stream_user_data)
{
	struct conn *c = user_data;
	struct h3_stream *s = stream_user_data;

	(void)h3;
	(void)fin;
	if (!s)
		return 0;
	if (c->server) {
		if (server_request(c, s) != 0)
			return NGHTTP3_ERR_CALLBACK_FAILURE;
		return 0;
	}
	if (stream_id == c->get_stream) {
		if (s->status >= 200)
			c->ops->response(c, s->status);
		return 0;
	}
	if (stream_id != c->session_stream)
		return 0;
	if (s->status >= 200 && s->status < 300) {
		if (open_queue(c) < 0)
			return NGHTTP3_ERR_CALLBACK_FAILURE;
		c->session = SESSION_OPEN;
		set_dgram_header(c, stream_id);
	} else if (s->status >= 200) {
		c->session = SESSION_CLOSED;
	}
	if (s->status >= 200)
		c->ops->response(c, s->status);
	return 0;
}

/*
 * A DATAGRAM capsule (RFC 9297 §3.5) carries an HTTP Datagram Payload on the stream: handled
 * like a DATAGRAM frame's, and bounded like one: an inner packet larger than the tunnel MTU
 * is dropped (too_big), as is a payload of another context or one without a context ID.
 */
static void datagram_capsule(struct conn *c, const uint8_t *v, size_t len)
{
	uint64_t ctx;
	size_t k;

	if (mpq_varint_get(v, len, &ctx, &k) < 0 || ctx != 0) {
		c->stats.drops[CONN_DROP_MALFORMED]++;
		return;
	}
	if (!pktsize_fits(&c->size, len - k)) {
		c->stats.drops[CONN_DROP_TOO_BIG]++;
		return;
	}
	c->ops->packet(c, v + k, len - k);
}

static int session_capsule_cb(void *arg, uint64_t type, const uint8_t *value, size_t len)
{
	struct conn *c = arg;

	if (type == CAPSULE_DATAGRAM) {
		datagram_capsule(c, value, len);
		return 0;
	}
	return c->ops->capsule(c, type, value, len);
}

/* The open session ended (why: for the log and ops->session_ended). */
static void session_end(struct conn *c, const char *why)
{
	if (c->session != SESSION_OPEN)
		return;
	c->session = SESSION_CLOSED;
	log_info("%s: CONNECT-IP session ended (%s)", c->name, why);
	if (c->ops->session_ended)
		c->ops->session_ended(c, why);
}

/*
 * Abort the session stream in both directions (RESET_STREAM and STOP_SENDING with app_error):
 * a malformed capsule makes the message malformed (RFC 9297 §3.3, RFC 9484 §4.7).
 */
static void session_abort(struct conn *c, uint64_t app_error, const char *why)
{
	int64_t sid = c->session_stream;

	nghttp3_conn_shutdown_stream_read(c->h3, sid);
	ngtcp2_conn_shutdown_stream(c->qc, 0, sid, app_error);
	session_end(c, why);
}

static int h3_recv_data_cb(nghttp3_conn *h3, int64_t stream_id, const uint8_t *data, size_t datalen,
			   void *user_data, void *stream_user_data)
{
	struct conn *c = user_data;
	int r;

	(void)h3;
	(void)stream_user_data;
	ngtcp2_conn_extend_max_stream_offset(c->qc, stream_id, datalen);
	ngtcp2_conn_extend_max_offset(c->qc, datalen);
	if (!c->server && stream_id == c->get_stream && c->ops->body) {
		c->ops->body(c, data, datalen);
		return 0;
	}
	if (stream_id != c->session_stream || c->session != SESSION_OPEN)
		return 0; /* request bodies we do not use */
	r = capsule_parser_feed(&c->cap_rx, data, datalen, session_capsule_cb, c);
	if (r < 0) {
		bool parse = r == -EPROTO || r == -EMSGSIZE;
		char why[160];

		snprintf(why, sizeof(why), "%s capsule from the peer (%s): stream aborted with %s",
			 parse ? "malformed" : "unserviceable", strerror(-r),
			 parse ? "H3_DATAGRAM_ERROR" : "H3_EXCESSIVE_LOAD");
		if (peer_log_ok())
			log_warn("%s: %s", c->name, why);
		session_abort(c, parse ? H3_DATAGRAM_ERROR : H3_EXCESSIVE_LOAD, why);
	}
	return 0;
}

static int h3_deferred_consume_cb(nghttp3_conn *h3, int64_t stream_id, size_t consumed,
				  void *user_data, void *stream_user_data)
{
	struct conn *c = user_data;

	(void)h3;
	(void)stream_user_data;
	ngtcp2_conn_extend_max_stream_offset(c->qc, stream_id, consumed);
	ngtcp2_conn_extend_max_offset(c->qc, consumed);
	return 0;
}

static int h3_acked_stream_data_cb(nghttp3_conn *h3, int64_t stream_id, uint64_t datalen,
				   void *user_data, void *stream_user_data)
{
	struct conn *c = user_data;

	(void)h3;
	(void)stream_user_data;
	if (stream_id == c->session_stream) {
		c->cap_tx_acked += datalen;
		if (c->cap_tx_acked >= c->cap_tx_len) {
			c->cap_tx_acked = c->cap_tx_len = c->cap_tx_read = 0;
		}
	}
	return 0;
}

static void session_ended(struct conn *c, int64_t stream_id, const char *why)
{
	if (stream_id == c->session_stream)
		session_end(c, why);
}

static int h3_stream_close_cb(nghttp3_conn *h3, int64_t stream_id, uint64_t app_error_code,
			      void *user_data, void *stream_user_data)
{
	struct conn *c = user_data;

	(void)h3;
	(void)app_error_code;
	session_ended(c, stream_id, "stream closed");
	h3_stream_free(c, stream_user_data);
	return 0;
}

static int h3_end_stream_cb(nghttp3_conn *h3, int64_t stream_id, void *user_data,
			    void *stream_user_data)
{
	(void)h3;
	(void)stream_user_data;
	session_ended(user_data, stream_id, "peer ended the stream");
	return 0;
}

static int h3_stop_sending_cb(nghttp3_conn *h3, int64_t stream_id, uint64_t app_error_code,
			      void *user_data, void *stream_user_data)
{
	struct conn *c = user_data;

	(void)h3;
	(void)stream_user_data;
	ngtcp2_conn_shutdown_stream_read(c->qc, 0, stream_id, app_error_code);
	return 0;
}

static int h3_reset_stream_cb(nghttp3_conn *h3, int64_t stream_id, uint64_t app_error_code,
			      void *user_data, void *stream_user_data)
{
	struct conn *c = user_data;

	(void)h3;
	(void)stream_user_data;
	ngtcp2_conn_shutdown_stream_write(c->qc, 0, stream_id, app_error_code);
	return 0;
}

static int submit_session_request(struct conn *c);
static int submit_get_request(struct conn *c);
static int server_request(struct conn *c, struct h3_stream *s);

static int h3_recv_settings_cb(nghttp3_conn *h3, const nghttp3_settings *settings, void *user_data)
{
	struct conn *c = user_data;

	(void)h3;
	c->peer_settings = true;
	c->peer_h3_datagram = settings->h3_datagram;
	if (c->server) {
		struct h3_stream *s = c->deferred;

		/* A CONNECT-IP request that came before these SETTINGS is answered now. */
		if (s && server_request(c, s) != 0)
			return NGHTTP3_ERR_CALLBACK_FAILURE;
		return 0;
	}
	if (!settings->h3_datagram && c->want_session) {
		/* No CONNECT-IP without HTTP Datagrams: an error with a reason, not a wait. */
		conn_fail(c, H3_NO_ERROR,
			  "the server does not offer HTTP Datagrams (no SETTINGS_H3_DATAGRAM = 1)");
		return NGHTTP3_ERR_CALLBACK_FAILURE;
	}
	/*
	 * SETTINGS_ENABLE_CONNECT_PROTOCOL is not checked: nghttp3 1.8's client drops that
	 * entry when it parses the server's SETTINGS (it only records it on the server side),
	 * so the field always reads 0 here. We still wait for the server's SETTINGS before
	 * sending the extended CONNECT, as RFC 9220 asks; a server without extended CONNECT
	 * answers the request with an error status, which is logged.
	 */
	c->settings_ok = true;
	if (c->want_session && submit_session_request(c) != 0)
		return NGHTTP3_ERR_CALLBACK_FAILURE;
	if (c->want_get && submit_get_request(c) != 0)
		return NGHTTP3_ERR_CALLBACK_FAILURE;
	return 0;
}

static int setup_h3(struct conn *c)
{
	nghttp3_callbacks cb = {
		.acked_stream_data = h3_acked_stream_data_cb,
		.stream_close = h3_stream_close_cb,
		.recv_data = h3_recv_data_cb,
		.deferred_consume = h3_deferred_consume_cb,
		.begin_headers = h3_begin_headers_cb,
		.recv_header = h3_recv_header_cb,
		.end_headers = h3_end_headers_cb,
		.stop_sending = h3_stop_sending_cb,
		.end_stream = h3_end_stream_cb,
		.reset_stream = h3_reset_stream_cb,
		.recv_settings = h3_recv_settings_cb,
	};
	nghttp3_settings s;
	int64_t ctrl, enc, dec;
	int rv;

	nghttp3_settings_default(&s);
	s.h3_datagram = c->quirks && c->quirks->no_h3_datagram ? 0 : 1;
	s.enable_connect_protocol = c->server ? 1 : 0;
	s.max_field_section_size = 16384;
	if (c->server)
		rv = nghttp3_conn_server_new(&c->h3, &cb, &s, NULL, c);
	else
		rv = nghttp3_conn_client_new(&c->h3, &cb, &s, NULL, c);
	if (rv != 0)
		return -ENOMEM;
	if (c->server)
		nghttp3_conn_set_max_client_streams_bidi(c->h3, CONN_MAX_STREAMS_BIDI);
	c->late_ctrl = -1;
	if (ngtcp2_conn_open_uni_stream(c->qc, &ctrl, NULL) != 0)
		return -EPROTO;
	if (c->quirks && c->quirks->late_settings)
		c->late_ctrl = ctrl; /* bound by conn_quirk_send_settings() */
	else if (nghttp3_conn_bind_control_stream(c->h3, ctrl) != 0)
		return -EPROTO;
	if (ngtcp2_conn_open_uni_stream(c->qc, &enc, NULL) != 0 ||
	    ngtcp2_conn_open_uni_stream(c->qc, &dec, NULL) != 0 ||
	    nghttp3_conn_bind_qpack_streams(c->h3, enc, dec) != 0)
		return -EPROTO;
	return 0;
}

static int submit_session_request(struct conn *c)
{
	nghttp3_data_reader dr = {.read_data = capsule_read_cb};
	struct h3_stream *s;
	nghttp3_nv nva[6];
	int64_t sid;

	c->want_session = false;
	if (ngtcp2_conn_open_bidi_stream(c->qc, &sid, NULL) != 0)
		return -1;
	s = h3_stream_new(c, sid);
	if (!s)
		return -1;
	nva[0] = make_nv(":method", "CONNECT");
	nva[1] = make_nv(":protocol", "connect-ip");
	nva[2] = make_nv(":scheme", "https");
	nva[3] = make_nv(":path", c->session_path);
	nva[4] = make_nv(":authority", c->server_name);
	nva[5] = make_nv("capsule-protocol", "?1");
	if (nghttp3_conn_submit_request(c->h3, sid, nva, 6, &dr, s) != 0) {
		h3_stream_free(c, s);
		return -1;
	}
	c->session = SESSION_REQUESTED;
	c->session_stream = sid;
	return 0;
}

static int submit_get_request(struct conn *c)
{
	struct h3_stream *s;
	nghttp3_nv nva[4];
	int64_t sid;

	c->want_get = false;
	if (ngtcp2_conn_open_bidi_stream(c->qc, &sid, NULL) != 0)
		return -1;
	s = h3_stream_new(c, sid);
	if (!s)
		return -1;
	nva[0] = make_nv(":method", "GET");
	nva[1] = make_nv(":scheme", "https");
	nva[2] = make_nv(":path", c->get_path);
	nva[3] = make_nv(":authority", c->server_name);
	if (nghttp3_conn_submit_request(c->h3, sid, nva, 4, NULL, s) != 0) {
		h3_stream_free(c, s);
		return -1;
	}
	c->get_stream = sid;
	return 0;
}

int conn_request_get(struct conn *c, const char *path)
{
	snprintf(c->get_path, sizeof(c->get_path), "%s", path);
	if (!c->settings_ok) {
		c->want_get = true;
		return 0;
	}
	return submit_get_request(c);
}

int conn_request_session(struct conn *c, const char *path)
{
	snprintf(c->session_path, sizeof(c->session_path), "%s", path);
	if (!c->settings_ok) {
		c->want_session = true;
		return 0;
	}
	return submit_session_request(c);
}

int conn_send_capsule(struct conn *c, const uint8_t *capsule, size_t len)
{
	if (c->session != SESSION_OPEN)
		return -ENOTCONN;
	if (len > CONN_CAPBUF - c->cap_tx_len)
		return -ENOBUFS;
	if (!c->cap_tx) {
		c->cap_tx = malloc(CONN_CAPBUF);
		if (!c->cap_tx)
			return -ENOMEM;
	}
	memcpy(c->cap_tx + c->cap_tx_len, capsule, len);
	c->cap_tx_len += len;
	nghttp3_conn_resume_stream(c->h3, c->session_stream);
	return 0;
}

/* ---- ngtcp2 callbacks ---- */

static int recv_stream_data_cb(ngtcp2_conn *qc, uint32_t flags, int64_t stream_id, uint64_t offset,
			       const uint8_t *data, size_t datalen, void *user_data,
			       void *stream_user_data)
{
	struct conn *c = user_data;
	nghttp3_ssize n;

	(void)qc;
	(void)offset;
	(void)stream_user_data;
	if (!c->h3)
		return 0;
	n = nghttp3_conn_read_stream(c->h3, stream_id, data, datalen,
				     flags & NGTCP2_STREAM_DATA_FLAG_FIN);
	if (n < 0) {
		if (c->fail_why[0])
			return NGTCP2_ERR_CALLBACK_FAILURE; /* conn_fail() set code and reason */
		log_info("%s: HTTP/3 error on stream %" PRId64 ": %s", c->name, stream_id,
			 nghttp3_strerror((int)n));
		ngtcp2_ccerr_set_application_error(
			&c->ccerr, nghttp3_err_infer_quic_app_error_code((int)n), NULL, 0);
		return NGTCP2_ERR_CALLBACK_FAILURE;
	}
	ngtcp2_conn_extend_max_stream_offset(c->qc, stream_id, (uint64_t)n);
	ngtcp2_conn_extend_max_offset(c->qc, (uint64_t)n);
	return 0;
}

static int acked_stream_data_offset_cb(ngtcp2_conn *qc, int64_t stream_id, uint64_t offset,
				       uint64_t datalen, void *user_data, void *stream_user_data)
{
	struct conn *c = user_data;

	(void)qc;
	(void)offset;
	(void)stream_user_data;
	if (c->h3 && nghttp3_conn_add_ack_offset(c->h3, stream_id, datalen) != 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	return 0;
}

static int stream_close_cb(ngtcp2_conn *qc, uint32_t flags, int64_t stream_id,
			   uint64_t app_error_code, void *user_data, void *stream_user_data)
{
	struct conn *c = user_data;
	int rv;

	(void)qc;
	(void)stream_user_data;
	if (!(flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET))
		app_error_code = NGHTTP3_H3_NO_ERROR;
	if (!c->h3)
		return 0;
	rv = nghttp3_conn_close_stream(c->h3, stream_id, app_error_code);
	if (rv != 0 && rv != NGHTTP3_ERR_STREAM_NOT_FOUND) {
		ngtcp2_ccerr_set_application_error(
			&c->ccerr, nghttp3_err_infer_quic_app_error_code(rv), NULL, 0);
		return NGTCP2_ERR_CALLBACK_FAILURE;
	}
	if (c->server && ngtcp2_is_bidi_stream(stream_id))
		ngtcp2_conn_extend_max_streams_bidi(c->qc, 1);
	return 0;
}

static int stream_reset_cb(ngtcp2_conn *qc, int64_t stream_id, uint64_t final_size,
			   uint64_t app_error_code, void *user_data, void *stream_user_data)
{
	struct conn *c = user_data;

	(void)qc;
	(void)final_size;
	(void)stream_user_data;
	if (stream_id == c->session_stream && c->session == SESSION_OPEN) {
		char why[64];

		snprintf(why, sizeof(why), "stream reset by the peer with error 0x%" PRIx64,
			 app_error_code);
		session_end(c, why);
	}
	if (c->h3 && nghttp3_conn_shutdown_stream_read(c->h3, stream_id) != 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	return 0;
}

static int stream_stop_sending_cb(ngtcp2_conn *qc, int64_t stream_id, uint64_t app_error_code,
				  void *user_data, void *stream_user_data)
{
	return stream_reset_cb(qc, stream_id, 0, app_error_code, user_data, stream_user_data);
}

static int extend_max_remote_streams_bidi_cb(ngtcp2_conn *qc, uint64_t max_streams, void *user_data)
{
	struct conn *c = user_data;

	(void)qc;
	if (c->h3)
		nghttp3_conn_set_max_client_streams_bidi(c->h3, max_streams);
	return 0;
}

static int extend_max_stream_data_cb(ngtcp2_conn *qc, int64_t stream_id, uint64_t max_data,
				     void *user_data, void *stream_user_data)
{
	struct conn *c = user_data;

	(void)qc;
	(void)max_data;
	(void)stream_user_data;
	if (c->h3 && nghttp3_conn_unblock_stream(c->h3, stream_id) != 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	return 0;
}

static int handshake_completed_cb(ngtcp2_conn *qc, void *user_data)
{
	struct conn *c = user_data;

	(void)qc;
	c->handshake_done = true;
	if (setup_h3(c) != 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	c->ops->handshake_done(c);
	return 0;
}

static int recv_datagram_cb(ngtcp2_conn *qc, uint32_t flags, const uint8_t *data, size_t datalen,
			    void *user_data)
{
	struct conn *c = user_data;
	int64_t sid;
	uint64_t ctx;
	size_t off;
	int r;

	(void)qc;
	(void)flags;
	r = h3dgram_parse(data, datalen, &sid, &ctx, &off);
	if (r == -EPROTO) {
		/* RFC 9297 §2.1: a Quarter Stream ID too large or too short to parse. */
		if (peer_log_ok())
			log_warn("%s: HTTP Datagram with an invalid Quarter Stream ID, closing the "
				 "connection (H3_DATAGRAM_ERROR)",
				 c->name);
		conn_fail(c, H3_DATAGRAM_ERROR, "HTTP Datagram with an invalid Quarter Stream ID");
		return NGTCP2_ERR_CALLBACK_FAILURE;
	}
	if (r < 0) {
		c->stats.drops[CONN_DROP_MALFORMED]++; /* no Context ID (RFC 9484 §6) */
		return 0;
	}
	if (c->session != SESSION_OPEN || sid != c->session_stream) {
		c->stats.drops[CONN_DROP_NO_SESSION]++;
		return 0;
	}
	if (ctx == MPQ_PROBE_CONTEXT) {
		/* A peer's probe: its only job was to be acknowledged. */
		return 0;
	}
	if (ctx != 0) {
		/* RFC 9484: unknown context IDs are dropped. */
		c->stats.drops[CONN_DROP_MALFORMED]++;
		return 0;
	}
	c->ops->packet(c, data + off, datalen - off);
	return 0;
}

static int ack_datagram_cb(ngtcp2_conn *qc, uint64_t dgram_id, void *user_data)
{
	struct conn *c = user_data;

	(void)qc;
	(void)dgram_id;
	c->path.dgram_acked++;
	c->path.last_ack_ns = mpq_now_ns();
	c->path.unacked_since_ns = 0;
	return 0;
}

static int lost_datagram_cb(ngtcp2_conn *qc, uint64_t dgram_id, void *user_data)
{
	struct conn *c = user_data;

	(void)qc;
	(void)dgram_id;
	c->path.dgram_lost++;
	return 0;
}

static void rand_cb(uint8_t *dest, size_t destlen, const ngtcp2_rand_ctx *rand_ctx)
{
	(void)rand_ctx;
	mpq_random(dest, destlen);
}

static int get_new_connection_id_cb(ngtcp2_conn *qc, ngtcp2_cid *cid, uint8_t *token, size_t cidlen,
				    void *user_data)
{
	struct conn *c = user_data;

	(void)qc;
	if (c->server) {
		uint8_t rnd[NGTCP2_MAX_CIDLEN];

		mpq_random(rnd, cidlen - 2);
		cid_build(cid->data, cidlen, 0, c->server_id, rnd);
	} else {
		mpq_random(cid->data, cidlen);
	}
	cid->datalen = cidlen;
	if (ngtcp2_crypto_generate_stateless_reset_token(token, c->static_secret, 32, cid) != 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	if (c->ops->cid_add && c->ops->cid_add(c, cid->data, cid->datalen) != 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	return 0;
}

static int remove_connection_id_cb(ngtcp2_conn *qc, const ngtcp2_cid *cid, void *user_data)
{
	struct conn *c = user_data;

	(void)qc;
	if (c->ops->cid_remove)
		c->ops->cid_remove(c, cid->data, cid->datalen);
	return 0;
}

static ngtcp2_conn *get_conn_cb(ngtcp2_crypto_conn_ref *ref)
{
	struct conn *c = ref->user_data;

	return c->qc;
}

static void ngtcp2_log_cb(void *user_data, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void ngtcp2_log_cb(void *user_data, const char *fmt, ...)
{
	struct conn *c = user_data;
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_debug("%s: ngtcp2: %s", c->name, buf);
}

int conn_new(const struct conn_params *p, struct conn **ret)
{
	ngtcp2_callbacks cb = {
		.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb,
		.encrypt = ngtcp2_crypto_encrypt_cb,
		.decrypt = ngtcp2_crypto_decrypt_cb,
		.hp_mask = ngtcp2_crypto_hp_mask_cb,
		.recv_stream_data = recv_stream_data_cb,
		.acked_stream_data_offset = acked_stream_data_offset_cb,
		.stream_close = stream_close_cb,
		.stream_reset = stream_reset_cb,
		.stream_stop_sending = stream_stop_sending_cb,
		.extend_max_remote_streams_bidi = extend_max_remote_streams_bidi_cb,
		.extend_max_stream_data = extend_max_stream_data_cb,
		.handshake_completed = handshake_completed_cb,
		.recv_datagram = recv_datagram_cb,
		.ack_datagram = ack_datagram_cb,
		.lost_datagram = lost_datagram_cb,
		.rand = rand_cb,
		.get_new_connection_id = get_new_connection_id_cb,
		.remove_connection_id = remove_connection_id_cb,
		.update_key = ngtcp2_crypto_update_key_cb,
		.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb,
		.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb,
		.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb,
		.version_negotiation = ngtcp2_crypto_version_negotiation_cb,
	};
	ngtcp2_settings settings;
	ngtcp2_transport_params params;
	ngtcp2_cid dcid, scid;
	struct conn *c;
	int rv;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->server = p->server;
	c->loop = p->loop;
	c->sock = p->sock;
	c->ops = p->ops;
	c->owner = p->owner;
	c->static_secret = p->static_secret;
	c->server_id = p->server_id;
	c->quirks = p->quirks;
	c->session_stream = -1;
	c->get_stream = -1;
	snprintf(c->name, sizeof(c->name), "%s", p->name ? p->name : "connection");
	if (p->server_name)
		snprintf(c->server_name, sizeof(c->server_name), "%s", p->server_name);
	ngtcp2_ccerr_default(&c->ccerr);
	ev_timer_init(&c->expiry_timer, conn_expiry_cb, 0., 0.);
	ev_io_init(&c->write_watcher, conn_writable_cb, -1, EV_WRITE);
	c->txq_cap = p->queue_packets ? p->queue_packets : 256;
	dcap_init(&c->dcap, (uint64_t)p->quic->delay_target_us * NGTCP2_MICROSECONDS);
	if (pktsize_init(&c->size, p->mtu) < 0) {
		rv = -EINVAL;
		goto err_free;
	}
	rv = capsule_parser_init(&c->cap_rx, CONN_CAPSULE_MAX_VALUE);
	if (rv < 0)
		goto err_free;

	if (p->server) {
		cb.recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
	} else {
		cb.client_initial = ngtcp2_crypto_client_initial_cb;
		cb.recv_retry = ngtcp2_crypto_recv_retry_cb;
	}

	ngtcp2_settings_default(&settings);
	settings.initial_ts = now_ts();
	settings.max_tx_udp_payload_size = c->size.udp_payload;
	settings.no_tx_udp_payload_size_shaping = 1;
	settings.no_pmtud = 1;
	settings.handshake_timeout = 10 * NGTCP2_SECONDS;
	settings.cc_algo = p->quic->cc == CONF_CC_BBR	 ? NGTCP2_CC_ALGO_BBR
			   : p->quic->cc == CONF_CC_RENO ? NGTCP2_CC_ALGO_RENO
							 : NGTCP2_CC_ALGO_CUBIC;
	if (getenv("MPQ_NGTCP2_DEBUG"))
		settings.log_printf = ngtcp2_log_cb;

	ngtcp2_transport_params_default(&params);
	params.initial_max_stream_data_bidi_local = 256 * 1024;
	params.initial_max_stream_data_bidi_remote = 256 * 1024;
	params.initial_max_stream_data_uni = 64 * 1024;
	params.initial_max_data = 1024 * 1024;
	params.initial_max_streams_bidi = p->server ? CONN_MAX_STREAMS_BIDI : 0;
	params.initial_max_streams_uni = 3;
	params.max_idle_timeout = (ngtcp2_duration)p->quic->idle_timeout_ms * NGTCP2_MILLISECONDS;
	params.max_datagram_frame_size = 65535;
	params.active_connection_id_limit = 4;

	scid.datalen = CONN_CID_LEN;
	if (p->server) {
		uint8_t rnd[CONN_CID_LEN];

		mpq_random(rnd, sizeof(rnd) - 2);
		cid_build(scid.data, scid.datalen, 0, p->server_id, rnd);
		params.original_dcid = p->initial_hd->dcid;
		params.original_dcid_present = 1;
		if (p->retry_odcid) {
			/* RFC 9000 §7.3: after a Retry, the first Initial's DCID (from the token)
			 * and the DCID the client uses now, which our Retry gave it. */
			params.original_dcid = *p->retry_odcid;
			params.retry_scid = p->initial_hd->dcid;
			params.retry_scid_present = 1;
			settings.token = p->initial_hd->token;
			settings.tokenlen = p->initial_hd->tokenlen;
			settings.token_type = NGTCP2_TOKEN_TYPE_RETRY;
		}
		params.stateless_reset_token_present = 1;
		if (ngtcp2_crypto_generate_stateless_reset_token(
			    params.stateless_reset_token, p->static_secret, 32, &scid) != 0) {
			rv = -EINVAL;
			goto err_cap;
		}
		dcid = p->initial_hd->scid;
	} else {
		mpq_random(scid.data, scid.datalen);
		dcid.datalen = CONN_CID_LEN;
		mpq_random(dcid.data, dcid.datalen);
	}

	ngtcp2_path_storage_init(&c->ps, p->local, p->local_len, p->remote, p->remote_len, NULL);
	if (p->server)
		rv = ngtcp2_conn_server_new(&c->qc, &dcid, &scid, &c->ps.path,
					    p->initial_hd->version, &cb, &settings, &params, NULL,
					    c);
	else
		rv = ngtcp2_conn_client_new(&c->qc, &dcid, &scid, &c->ps.path, NGTCP2_PROTO_VER_V1,
					    &cb, &settings, &params, NULL, c);
	if (rv != 0) {
		rv = rv == NGTCP2_ERR_NOMEM ? -ENOMEM : -EINVAL;
		goto err_cap;
	}
	c->conn_ref.get_conn = get_conn_cb;
	c->conn_ref.user_data = c;
	c->ssl = tls_session_new(p->tls, &c->conn_ref, p->server_name);
	if (!c->ssl) {
		rv = -EINVAL;
		goto err_qc;
	}
	ngtcp2_conn_set_tls_native_handle(c->qc, c->ssl);
	if (p->quic->keepalive_ms)
		ngtcp2_conn_set_keep_alive_timeout(c->qc, (ngtcp2_duration)p->quic->keepalive_ms *
								  NGTCP2_MILLISECONDS);
	/*
	 * The CID table learns about c last, once nothing can fail any more: a connection that
	 * was never created must not stay reachable from the table.
	 */
	if (p->server && c->ops->cid_add && c->ops->cid_add(c, scid.data, scid.datalen) != 0) {
		rv = -ENOSPC;
		goto err_ssl;
	}
	*ret = c;
	return 0;

err_ssl:
	wolfSSL_free(c->ssl);
err_qc:
	ngtcp2_conn_del(c->qc);
err_cap:
	capsule_parser_done(&c->cap_rx);
err_free:
	free(c);
	return rv;
}

void conn_free(struct conn *c)
{
	if (!c)
		return;
	ev_timer_stop(c->loop, &c->expiry_timer);
	ev_io_stop(c->loop, &c->write_watcher);
	txpend_done(&c->txpend);
	if (c->server && c->ops->cid_remove && c->qc) {
		ngtcp2_cid cids[16];
		size_t n = ngtcp2_conn_get_scid(c->qc, NULL);

		if (n <= ARRAY_SIZE(cids)) {
			n = ngtcp2_conn_get_scid(c->qc, cids);
			for (size_t i = 0; i < n; i++)
				c->ops->cid_remove(c, cids[i].data, cids[i].datalen);
		}
	}
	nghttp3_conn_del(c->h3);
	while (c->streams)
		h3_stream_free(c, c->streams);
	ngtcp2_conn_del(c->qc);
	if (c->ssl)
		wolfSSL_free(c->ssl);
	capsule_parser_done(&c->cap_rx);
	free(c->cap_tx);
	if (c->txq)
		fqq_done(c->txq);
	free(c->txq);
	free(c);
}

uint8_t *conn_queue_reserve(struct conn *c)
{
	if (c->session != SESSION_OPEN) {
		c->stats.drops[CONN_DROP_NO_SESSION]++;
		return NULL;
	}
	return fqq_reserve(c->txq);
}

void conn_queue_commit(struct conn *c, size_t len, uint64_t now_ns)
{
	if (MPQ_UNLIKELY(len == 0 || !pktsize_fits(&c->size, len))) {
		c->stats.drops[CONN_DROP_TOO_BIG]++;
		return;
	}
	c->stats.drops[CONN_DROP_QUEUE_FULL] += fqq_commit(c->txq, len, now_ns);
}

const struct pktsize *conn_pktsize(const struct conn *c)
{
	return &c->size;
}

void conn_set_delay_target(struct conn *c, uint32_t us)
{
	uint64_t ns = (uint64_t)us * NGTCP2_MICROSECONDS;

	if (ns != c->dcap.target)
		dcap_init(&c->dcap, ns);
}

bool conn_session_open(const struct conn *c)
{
	return c->session == SESSION_OPEN;
}

int conn_quirk_send_settings(struct conn *c)
{
	int64_t ctrl = c->late_ctrl;

	if (!c->h3 || ctrl < 0)
		return -EALREADY;
	c->late_ctrl = -1;
	return nghttp3_conn_bind_control_stream(c->h3, ctrl) == 0 ? 0 : -EPROTO;
}

const char *conn_waiting_for(const struct conn *c)
{
	if (!c->handshake_done)
		return "the QUIC handshake";
	if (!c->peer_settings)
		return "the server's HTTP/3 SETTINGS";
	if (c->session != SESSION_OPEN)
		return "the answer to the CONNECT-IP request";
	return NULL;
}

bool conn_handshake_done(const struct conn *c)
{
	return c->handshake_done;
}

void *conn_owner(const struct conn *c)
{
	return c->owner;
}

void conn_set_owner(struct conn *c, void *owner)
{
	c->owner = owner;
}

const char *conn_name(const struct conn *c)
{
	return c->name;
}

void conn_set_name(struct conn *c, const char *name)
{
	snprintf(c->name, sizeof(c->name), "%s", name);
}

struct conn_stats *conn_stats(struct conn *c)
{
	return &c->stats;
}

WOLFSSL *conn_ssl(const struct conn *c)
{
	return c->ssl;
}

ngtcp2_conn *conn_ngtcp2(const struct conn *c)
{
	return c->qc;
}

const struct sockaddr *conn_remote(const struct conn *c)
{
	return c->ps.path.remote.addr;
}

static const char *tls_alert_name(unsigned a)
{
	switch (a) {
	case 40:
		return "handshake failure";
	case 42:
		return "bad certificate";
	case 43:
		return "unsupported certificate";
	case 44:
		return "certificate revoked";
	case 45:
		return "certificate expired";
	case 46:
		return "certificate unknown";
	case 48:
		return "unknown CA";
	case 49:
		return "access denied";
	case 50:
		return "decode error";
	case 51:
		return "decrypt error";
	case 70:
		return "protocol version";
	case 80:
		return "internal error";
	case 112:
		return "unrecognized name";
	case 116:
		return "certificate required";
	case 120:
		return "no application protocol";
	default:
		return "alert";
	}
}

const char *conn_close_reason(struct conn *c, char *buf, size_t size)
{
	const ngtcp2_ccerr *e = ngtcp2_conn_get_ccerr(c->qc);
	int n;

	if (e->type == NGTCP2_CCERR_TYPE_TRANSPORT && e->error_code >= 0x100 &&
	    e->error_code <= 0x1ff)
		n = snprintf(buf, size, "TLS alert %u (%s)", (unsigned)(e->error_code - 0x100),
			     tls_alert_name((unsigned)(e->error_code - 0x100)));
	else
		n = snprintf(buf, size, "%s error 0x%" PRIx64,
			     e->type == NGTCP2_CCERR_TYPE_APPLICATION ? "application" : "transport",
			     e->error_code);
	if (e->reasonlen && n > 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, ": %.*s", (int)e->reasonlen,
			 (const char *)e->reason);
	return buf;
}
void conn_status_json(struct conn *c, json_t *obj)
{
	ngtcp2_conn_info ci;
	char a[80];

	ngtcp2_conn_get_conn_info(c->qc, &ci);
	/* before the first sample ngtcp2 reports its initial guess (333 ms): show none */
	if (ci.latest_rtt == 0 || ci.min_rtt == UINT64_MAX)
		json_object_set_new(obj, "rtt_ms", json_null());
	else
		json_object_set_new(obj, "rtt_ms",
				    json_pack("{s:f, s:f, s:f, s:f}", "smoothed",
					      (double)ci.smoothed_rtt / NGTCP2_MILLISECONDS, "min",
					      (double)ci.min_rtt / NGTCP2_MILLISECONDS, "var",
					      (double)ci.rttvar / NGTCP2_MILLISECONDS, "latest",
					      (double)ci.latest_rtt / NGTCP2_MILLISECONDS));
	json_object_set_new(obj, "cwnd", json_integer((json_int_t)ci.cwnd));
	json_object_set_new(obj, "bytes_in_flight", json_integer((json_int_t)ci.bytes_in_flight));
	json_object_set_new(obj, "local",
			    json_string(mpq_sockaddr_format(c->ps.path.local.addr, a, sizeof(a))));
	json_object_set_new(obj, "peer",
			    json_string(mpq_sockaddr_format(c->ps.path.remote.addr, a, sizeof(a))));
	if (c->dcap.target)
		json_object_set_new(obj, "delay_cap", json_integer((json_int_t)c->dcap.cap));
	json_object_set_new(obj, "queued",
			    json_integer(c->txq ? (json_int_t)fqq_count(c->txq) : 0));
}

static const char *const drop_names[CONN_DROP__N] = {
	[CONN_DROP_QUEUE_FULL] = "queue_full", [CONN_DROP_TOO_BIG] = "too_big",
	[CONN_DROP_SPOOFED] = "spoofed",       [CONN_DROP_NO_ROUTE] = "no_route",
	[CONN_DROP_NO_SESSION] = "no_session", [CONN_DROP_MALFORMED] = "malformed",
	[CONN_DROP_TUN] = "tun_write",	       [CONN_DROP_AQM] = "aqm",
};

void conn_stats_add(struct conn_stats *to, const struct conn_stats *from)
{
	to->tx_packets += from->tx_packets;
	to->tx_bytes += from->tx_bytes;
	to->rx_packets += from->rx_packets;
	to->rx_bytes += from->rx_bytes;
	for (int i = 0; i < CONN_DROP__N; i++)
		to->drops[i] += from->drops[i];
	to->probes += from->probes;
	to->probe_bytes += from->probe_bytes;
	to->dup_dropped += from->dup_dropped;
}

void conn_stats_json(const struct conn_stats *a, const struct conn_stats *b, json_t *obj)
{
	static const struct conn_stats zero;
	json_t *drops = json_object();

	if (!b)
		b = &zero;
	json_object_set_new(obj, "tx_packets",
			    json_integer((json_int_t)(a->tx_packets + b->tx_packets)));
	json_object_set_new(obj, "tx_bytes", json_integer((json_int_t)(a->tx_bytes + b->tx_bytes)));
	json_object_set_new(obj, "rx_packets",
			    json_integer((json_int_t)(a->rx_packets + b->rx_packets)));
	json_object_set_new(obj, "rx_bytes", json_integer((json_int_t)(a->rx_bytes + b->rx_bytes)));
	for (int i = 0; i < CONN_DROP__N; i++)
		json_object_set_new(drops, drop_names[i],
				    json_integer((json_int_t)(a->drops[i] + b->drops[i])));
	json_object_set_new(obj, "drops", drops);
	json_object_set_new(obj, "probes", json_integer((json_int_t)(a->probes + b->probes)));
	json_object_set_new(obj, "probe_bytes",
			    json_integer((json_int_t)(a->probe_bytes + b->probe_bytes)));
	json_object_set_new(obj, "dup_dropped",
			    json_integer((json_int_t)(a->dup_dropped + b->dup_dropped)));
}
