/* SPDX-License-Identifier: MIT */
/*
 * The server's receive path from an authenticated connection: src/conn.c (ngtcp2, wolfSSL,
 * nghttp3, the CONNECT-IP session) as the server, against a fake peer built here from ngtcp2
 * and wolfSSL alone, which completes a real mutual-TLS handshake with the lab certificates and
 * then sends whatever the input says as raw HTTP/3: bytes on its request streams and on its
 * unidirectional streams (control, QPACK), stream resets, and QUIC DATAGRAM frames. Packets
 * travel in memory: this file replaces src/udp.c's udp_send().
 *
 * The server's conn_ops stand in for src/server.c's: tunnel 't1' of identity 'edge1' is
 * accepted, other paths get 403/404; an open session gets ADDRESS_ASSIGN and
 * ROUTE_ADVERTISEMENT, and every inner packet that parses is echoed back through the send
 * queue. Checked: no callback after ops->closed, packets and capsules only in an open session,
 * inner packets no larger than the datagram that carried them, and (ASan) no memory errors or
 * leaks.
 *
 * Input: records of [op][length: 2 bytes, big endian][data]:
 *   op & 7 = 0/1: data on request stream (op >> 3) & 3 (client bidi streams 0, 4, 8, 12,
 *                 opened in order), 1 with FIN
 *            2:   data on unidirectional stream (op >> 3) & 3 (2, 6, 10, 14, in order; the
 *                 first one is by convention the control stream)
 *            3:   a DATAGRAM frame carrying data as is
 *            4:   a DATAGRAM frame: the session's HTTP Datagram header (request stream 0,
 *                 context (op >> 3) & 3), then data
 *            5:   RESET_STREAM on request stream (op >> 3) & 3
 *            6:   STOP_SENDING on request stream (op >> 3) & 3
 *            7:   let the packets in flight arrive
 * The certificates are made once per process by tools/mpquic-certs in a temporary directory.
 */
#include <dirent.h>
#include <errno.h>
#include <ev.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>

#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_wolfssl.h>

#include "capsule.h"
#include "conn.h"
#include "util.h"
#include "pktsize.h"
#include "daemon.h"
#include "fuzz.h"
#include "ippkt.h"
#include "log.h"
#include "proto.h"
#include "tls.h"
#include "udp.h"

#define SERVER_NAME "vps.mpquic.test"
#define MAX_QUEUED  512
#define INNER_MTU   1400

/* ---- packets in flight: what the server sent, for the peer to read ---- */

static uint8_t queued[MAX_QUEUED][MPQ_MAX_UDP_PAYLOAD];
static size_t queued_len[MAX_QUEUED];
static size_t n_queued;

int udp_send(struct udp_sock *s, const struct sockaddr *peer, socklen_t peer_len,
	     const struct sockaddr *local, const uint8_t *data, size_t len, size_t segsize)
{
	(void)s;
	(void)peer;
	(void)peer_len;
	(void)local;
	FUZZ_CHECK(segsize > 0 && segsize <= MPQ_MAX_UDP_PAYLOAD);
	for (size_t off = 0; off < len; off += segsize) {
		size_t n = len - off < segsize ? len - off : segsize;

		if (n_queued == MAX_QUEUED)
			return -EAGAIN; /* a full socket buffer: the packets are lost */
		memcpy(queued[n_queued], data + off, n);
		queued_len[n_queued++] = n;
	}
	return 0;
}

int udp_send_batch(struct udp_sock *s, const struct sockaddr *peer, socklen_t peer_len,
		   const struct sockaddr *local, const uint8_t *data, size_t len, size_t segsize,
		   size_t *ret_sent)
{
	(void)s;
	(void)peer;
	(void)peer_len;
	(void)local;
	FUZZ_CHECK(segsize > 0 && segsize <= MPQ_MAX_UDP_PAYLOAD);
	*ret_sent = 0;
	for (size_t off = 0; off < len; off += segsize) {
		size_t n = len - off < segsize ? len - off : segsize;

		if (n_queued == MAX_QUEUED)
			return -EAGAIN; /* a full socket buffer: conn.c keeps the rest */
		memcpy(queued[n_queued], data + off, n);
		queued_len[n_queued++] = n;
		*ret_sent += n;
	}
	return 0;
}

/* ---- the server side: src/conn.c with stand-in ops ---- */

static struct sockaddr_in srv_addr = {.sin_family = AF_INET, .sin_port = 0xbb01};
static struct sockaddr_in peer_addr = {.sin_family = AF_INET, .sin_port = 0x409c};

struct srv {
	struct conn *conn; /* owned */
	bool closed;	   /* ops->closed was called */
	bool authenticated;
	bool session_seen;
	unsigned cids;
};

static struct srv srv;

static bool is_edge1(void *arg, const char *name)
{
	(void)arg;
	return strcmp(name, "edge1") == 0;
}

static void srv_handshake_done(struct conn *c)
{
	FUZZ_CHECK(!srv.closed);
	srv.authenticated = tls_peer_names(conn_ssl(c), is_edge1, NULL);
}

static int srv_request(struct conn *c, const char *path)
{
	size_t plen = strlen(MPQ_SESSION_PATH_PREFIX);

	(void)c;
	FUZZ_CHECK(!srv.closed && strlen(path) < 4096);
	if (strncmp(path, MPQ_SESSION_PATH_PREFIX, plen) != 0)
		return 404;
	if (!srv.authenticated || strcmp(path + plen, "t1") != 0)
		return 403;
	return 200;
}

static int srv_session_open(struct conn *c)
{
	struct capsule_addr a = {.prefix = {.family = AF_INET, .len = 32, .addr = {10, 200, 1, 1}}};
	struct capsule_range r = {.family = AF_INET,
				  .ipproto = 0,
				  .start = {0, 0, 0, 0},
				  .end = {255, 255, 255, 255}};
	uint8_t buf[256];
	ssize_t len;

	FUZZ_CHECK(!srv.closed && conn_session_open(c));
	srv.session_seen = true;
	len = capsule_encode_addresses(buf, sizeof(buf), CAPSULE_ADDRESS_ASSIGN, &a, 1);
	FUZZ_CHECK(len > 0 && conn_send_capsule(c, buf, (size_t)len) == 0);
	len = capsule_encode_routes(buf, sizeof(buf), &r, 1);
	FUZZ_CHECK(len > 0 && conn_send_capsule(c, buf, (size_t)len) == 0);
	return 0;
}

/* A malformed capsule makes the connection abort the session (< 0), as the daemon's does. */
static int srv_capsule(struct conn *c, uint64_t type, const uint8_t *v, size_t len)
{
	struct capsule_addr a[16];
	struct capsule_range r[16];
	size_t n;

	FUZZ_CHECK(!srv.closed && conn_session_open(c));
	if (type == CAPSULE_ADDRESS_REQUEST || type == CAPSULE_ADDRESS_ASSIGN)
		return capsule_decode_addresses(v, len, a, 16, &n) < 0 ? -EPROTO : 0;
	if (type == CAPSULE_ROUTE_ADVERTISEMENT)
		return capsule_decode_routes(v, len, r, 16, &n) < 0 ? -EPROTO : 0;
	return 0;
}

static void srv_packet(struct conn *c, const uint8_t *pkt, size_t len)
{
	struct ippkt_info ip;
	uint8_t *slot;

	FUZZ_CHECK(!srv.closed && conn_session_open(c));
	FUZZ_CHECK(len <= 65535);
	if (ippkt_parse(pkt, len, &ip) < 0 || len > INNER_MTU ||
	    !pktsize_fits(conn_pktsize(c), len))
		return;
	/* Echo it: the reply path (send queue, DATAGRAM frames) runs too. */
	slot = conn_queue_reserve(c);
	if (!slot)
		return;
	memcpy(slot, pkt, len);
	conn_queue_commit(c, len, mpq_now_ns());
}

static int srv_cid_add(struct conn *c, const uint8_t *cid, size_t len)
{
	(void)c;
	FUZZ_CHECK(len > 0 && len <= NGTCP2_MAX_CIDLEN && cid != NULL);
	srv.cids++;
	return 0;
}

static void srv_cid_remove(struct conn *c, const uint8_t *cid, size_t len)
{
	(void)c;
	(void)cid;
	(void)len;
	FUZZ_CHECK(srv.cids > 0);
	srv.cids--;
}

static void srv_closed(struct conn *c, const char *why)
{
	(void)c;
	FUZZ_CHECK(!srv.closed && why != NULL);
	srv.closed = true;
}

static const struct conn_ops srv_ops = {
	.request = srv_request,
	.session_open = srv_session_open,
	.capsule = srv_capsule,
	.packet = srv_packet,
	.handshake_done = srv_handshake_done,
	.cid_add = srv_cid_add,
	.cid_remove = srv_cid_remove,
	.closed = srv_closed,
};

/* ---- the fake peer: ngtcp2 + wolfSSL, no HTTP/3 library ---- */

struct peer {
	ngtcp2_conn *qc; /* owned */
	WOLFSSL *ssl;	 /* owned */
	ngtcp2_crypto_conn_ref ref;
	ngtcp2_path_storage ps;
	bool handshake_done;
	bool dead;
	int64_t bidi[4];
	size_t n_bidi;
	int64_t uni[4];
	size_t n_uni;
};

static struct peer peer;

static ngtcp2_conn *peer_get_conn(ngtcp2_crypto_conn_ref *ref)
{
	(void)ref;
	return peer.qc;
}

static void peer_rand(uint8_t *dest, size_t len, const ngtcp2_rand_ctx *ctx)
{
	(void)ctx;
	mpq_random(dest, len);
}

static int peer_new_cid(ngtcp2_conn *qc, ngtcp2_cid *cid, uint8_t *token, size_t cidlen,
			void *user_data)
{
	(void)qc;
	(void)user_data;
	mpq_random(cid->data, cidlen);
	cid->datalen = cidlen;
	mpq_random(token, NGTCP2_STATELESS_RESET_TOKENLEN);
	return 0;
}

static int peer_handshake_completed(ngtcp2_conn *qc, void *user_data)
{
	(void)qc;
	(void)user_data;
	peer.handshake_done = true;
	return 0;
}

static int peer_recv_stream_data(ngtcp2_conn *qc, uint32_t flags, int64_t stream_id,
				 uint64_t offset, const uint8_t *data, size_t datalen,
				 void *user_data, void *stream_user_data)
{
	(void)flags;
	(void)offset;
	(void)data;
	(void)user_data;
	(void)stream_user_data;
	ngtcp2_conn_extend_max_stream_offset(qc, stream_id, datalen);
	ngtcp2_conn_extend_max_offset(qc, datalen);
	return 0;
}

static struct tls_ctx *srv_tls, *peer_tls;
static struct ev_loop *loop;
static char certdir[64];

static int peer_new(void)
{
	ngtcp2_callbacks cb = {
		.client_initial = ngtcp2_crypto_client_initial_cb,
		.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb,
		.encrypt = ngtcp2_crypto_encrypt_cb,
		.decrypt = ngtcp2_crypto_decrypt_cb,
		.hp_mask = ngtcp2_crypto_hp_mask_cb,
		.recv_retry = ngtcp2_crypto_recv_retry_cb,
		.rand = peer_rand,
		.get_new_connection_id = peer_new_cid,
		.update_key = ngtcp2_crypto_update_key_cb,
		.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb,
		.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb,
		.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb,
		.version_negotiation = ngtcp2_crypto_version_negotiation_cb,
		.handshake_completed = peer_handshake_completed,
		.recv_stream_data = peer_recv_stream_data,
	};
	ngtcp2_settings settings;
	ngtcp2_transport_params params;
	ngtcp2_cid dcid = {.datalen = 16}, scid = {.datalen = 16};

	memset(&peer, 0, sizeof(peer));
	ngtcp2_settings_default(&settings);
	settings.initial_ts = mpq_now_ns();
	settings.no_pmtud = 1;
	settings.max_tx_udp_payload_size = MPQ_MAX_UDP_PAYLOAD;
	ngtcp2_transport_params_default(&params);
	params.initial_max_stream_data_bidi_local = 1 << 24;
	params.initial_max_stream_data_uni = 1 << 24;
	params.initial_max_data = 1 << 26;
	params.initial_max_streams_uni = 8;
	params.max_idle_timeout = 30 * NGTCP2_SECONDS;
	params.max_datagram_frame_size = 65535;
	mpq_random(dcid.data, dcid.datalen);
	mpq_random(scid.data, scid.datalen);
	ngtcp2_path_storage_init(&peer.ps, (struct sockaddr *)&peer_addr, sizeof(peer_addr),
				 (struct sockaddr *)&srv_addr, sizeof(srv_addr), NULL);
	if (ngtcp2_conn_client_new(&peer.qc, &dcid, &scid, &peer.ps.path, NGTCP2_PROTO_VER_V1, &cb,
				   &settings, &params, NULL, &peer) != 0)
		return -ENOMEM;
	peer.ref.get_conn = peer_get_conn;
	peer.ssl = tls_session_new(peer_tls, &peer.ref, SERVER_NAME);
	if (!peer.ssl) {
		ngtcp2_conn_del(peer.qc);
		return -ENOMEM;
	}
	ngtcp2_conn_set_tls_native_handle(peer.qc, peer.ssl);
	return 0;
}

static void peer_free(void)
{
	ngtcp2_conn_del(peer.qc);
	wolfSSL_free(peer.ssl);
	memset(&peer, 0, sizeof(peer));
}

/* ---- moving packets ---- */

/* One packet from the peer to the server (created by the first one, as the listener does). */
static void to_server(const uint8_t *pkt, size_t len)
{
	static const uint8_t secret[32] = {1, 2, 3};
	static const struct conf_quic quic = {.idle_timeout_ms = 30000, .cc = CONF_CC_CUBIC};

	if (srv.closed)
		return;
	if (!srv.conn) {
		ngtcp2_pkt_hd hd;
		struct conn_params p = {
			.server = true,
			.loop = loop,
			.tls = srv_tls,
			.local = (struct sockaddr *)&srv_addr,
			.local_len = sizeof(srv_addr),
			.remote = (struct sockaddr *)&peer_addr,
			.remote_len = sizeof(peer_addr),
			.quic = &quic,
			.static_secret = secret,
			.server_id = 1,
			.queue_packets = 64,
			.mtu = INNER_MTU,
			.ops = &srv_ops,
			.initial_hd = &hd,
			.name = "fuzz peer",
		};

		FUZZ_CHECK(ngtcp2_accept(&hd, pkt, len) == 0);
		FUZZ_CHECK(conn_new(&p, &srv.conn) == 0);
	}
	if (conn_read(srv.conn, (struct sockaddr *)&srv_addr, sizeof(srv_addr),
		      (struct sockaddr *)&peer_addr, sizeof(peer_addr), pkt, len) < 0)
		FUZZ_CHECK(srv.closed);
}

static void peer_read_all(void)
{
	ngtcp2_pkt_info pi = {0};

	for (size_t i = 0; i < n_queued; i++) {
		int rv;

		if (peer.dead)
			break;
		rv = ngtcp2_conn_read_pkt(peer.qc, &peer.ps.path, &pi, queued[i], queued_len[i],
					  mpq_now_ns());
		if (rv != 0 && ngtcp2_err_is_fatal(rv))
			peer.dead = true;
	}
	n_queued = 0;
}

/* Write what the peer has pending (ACKs, handshake, flow control). */
static void peer_flush(void)
{
	uint8_t buf[MPQ_MAX_UDP_PAYLOAD];
	ngtcp2_pkt_info pi;

	for (int i = 0; i < 64 && !peer.dead; i++) {
		ngtcp2_ssize n = ngtcp2_conn_write_pkt(peer.qc, &peer.ps.path, &pi, buf,
						       sizeof(buf), mpq_now_ns());

		if (n < 0)
			peer.dead = true;
		if (n <= 0)
			break;
		to_server(buf, (size_t)n);
	}
}

/* Exchange packets until neither side has anything to say (bounded). */
static void settle(void)
{
	for (int round = 0; round < 16; round++) {
		peer_flush();
		if (srv.conn && !srv.closed && conn_write(srv.conn) < 0)
			FUZZ_CHECK(srv.closed);
		/* Timers that are due (conn.c's expiry timer: losses, pacing). */
		ev_run(loop, EVRUN_NOWAIT);
		if (!n_queued)
			break;
		peer_read_all();
	}
}

static void peer_stream(int64_t sid, const uint8_t *data, size_t len, bool fin)
{
	uint8_t buf[MPQ_MAX_UDP_PAYLOAD];
	ngtcp2_pkt_info pi;

	for (int tries = 0; tries < 64 && !peer.dead; tries++) {
		ngtcp2_vec v = {.base = (uint8_t *)data, .len = len};
		ngtcp2_ssize ndata = -1, n;

		n = ngtcp2_conn_writev_stream(peer.qc, &peer.ps.path, &pi, buf, sizeof(buf), &ndata,
					      fin ? NGTCP2_WRITE_STREAM_FLAG_FIN : 0, sid, &v, 1,
					      mpq_now_ns());
		if (n < 0) {
			if (ngtcp2_err_is_fatal((int)n))
				peer.dead = true;
			return; /* blocked or closed stream: the rest is lost */
		}
		if (n == 0) {
			settle(); /* flow control or congestion: let the server catch up */
			continue;
		}
		to_server(buf, (size_t)n);
		if (ndata >= 0) {
			data += ndata;
			len -= (size_t)ndata;
			if (len == 0 && (!fin || ndata >= 0))
				return;
		}
	}
}

static void peer_datagram(const uint8_t *hdr, size_t hlen, const uint8_t *data, size_t len)
{
	uint8_t buf[MPQ_MAX_UDP_PAYLOAD];
	ngtcp2_vec v[2];
	ngtcp2_pkt_info pi;
	ngtcp2_ssize n;
	size_t nv = 0;
	int accepted = 0;

	/* ngtcp2 wants no empty pieces. */
	if (hlen)
		v[nv++] = (ngtcp2_vec){.base = (uint8_t *)hdr, .len = hlen};
	if (len)
		v[nv++] = (ngtcp2_vec){.base = (uint8_t *)data, .len = len};
	n = ngtcp2_conn_writev_datagram(peer.qc, &peer.ps.path, &pi, buf, sizeof(buf), &accepted, 0,
					0, v, nv, mpq_now_ns());
	if (n < 0 && ngtcp2_err_is_fatal((int)n))
		peer.dead = true;
	if (n > 0)
		to_server(buf, (size_t)n);
}

static int64_t peer_open(int64_t *ids, size_t *n, size_t want, bool bidi)
{
	while (*n <= want) {
		int64_t sid;

		if ((bidi ? ngtcp2_conn_open_bidi_stream(peer.qc, &sid, NULL)
			  : ngtcp2_conn_open_uni_stream(peer.qc, &sid, NULL)) != 0)
			return -1;
		ids[(*n)++] = sid;
	}
	return ids[want];
}

/* ---- setup ---- */

static void rm_certdir(void)
{
	DIR *d = opendir(certdir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	rmdir(certdir);
}

static struct tls_ctx *make_tls(bool server)
{
	char ca[96], cert[96], key[96], err[256];
	struct conf c = {.role = server ? CONF_ROLE_SERVER : CONF_ROLE_CLIENT};
	struct tls_ctx *t = NULL;

	snprintf(ca, sizeof(ca), "%s/ca.crt", certdir);
	snprintf(cert, sizeof(cert), "%s/%s.crt", certdir, server ? "server" : "edge1");
	snprintf(key, sizeof(key), "%s/%s.key", certdir, server ? "server" : "edge1");
	c.tls.ca = ca;
	c.tls.client_ca = ca;
	c.tls.cert = cert;
	c.tls.key = key;
	if (tls_ctx_new(&c, &t, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_h3rx: %s\n", err);
		abort();
	}
	return t;
}

static void setup(void)
{
	char cmd[512];

	snprintf(certdir, sizeof(certdir), "%s/mpq-fuzz-h3rx.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (strlen(certdir) >= sizeof(certdir) - 1 || !mkdtemp(certdir)) {
		perror("mkdtemp");
		abort();
	}
	atexit(rm_certdir);
	snprintf(cmd, sizeof(cmd), "'%s/tools/mpquic-certs' '%s' lab >/dev/null 2>&1",
		 MPQ_SOURCE_ROOT, certdir);
	if (system(cmd) != 0) {
		fprintf(stderr, "fuzz_h3rx: %s failed\n", cmd);
		abort();
	}
	log_init(getenv("MPQ_FUZZ_LOG") ? LOG_LVL_DEBUG : LOG_LVL_ERR - 1);
	srv_tls = make_tls(true);
	peer_tls = make_tls(false);
	loop = ev_loop_new(EVFLAG_AUTO);
	FUZZ_CHECK(loop != NULL);
	srv_addr.sin_addr.s_addr = htonl(0xc0000201);  /* 192.0.2.1 */
	peer_addr.sin_addr.s_addr = htonl(0xc0000202); /* 192.0.2.2 */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	size_t off = 0;

	if (!ready) {
		setup();
		ready = true;
	}
	memset(&srv, 0, sizeof(srv));
	n_queued = 0;
	FUZZ_CHECK(peer_new() == 0);
	for (int i = 0; i < 16 && !(peer.handshake_done && srv.authenticated); i++)
		settle();
	/* Not the input's doing: the handshake must work. */
	FUZZ_CHECK(peer.handshake_done && srv.authenticated && !srv.closed);

	while (off + 3 <= size && !srv.closed && !peer.dead) {
		unsigned op = data[off] & 7, k = (data[off] >> 3) & 3;
		size_t len = (size_t)data[off + 1] << 8 | data[off + 2];
		const uint8_t *d = data + off + 3;
		int64_t sid;
		uint8_t hdr[H3DGRAM_MAX_HEADER];
		ssize_t hlen;

		off += 3;
		if (len > size - off)
			len = size - off;
		off += len;
		switch (op) {
		case 0:
		case 1:
			sid = peer_open(peer.bidi, &peer.n_bidi, k, true);
			if (sid >= 0)
				peer_stream(sid, d, len, op == 1);
			break;
		case 2:
			sid = peer_open(peer.uni, &peer.n_uni, k, false);
			if (sid >= 0)
				peer_stream(sid, d, len, false);
			break;
		case 3:
			peer_datagram(NULL, 0, d, len);
			break;
		case 4:
			hlen = h3dgram_put_header(hdr, sizeof(hdr), 0, k);
			FUZZ_CHECK(hlen > 0);
			peer_datagram(hdr, (size_t)hlen, d, len);
			break;
		case 5:
		case 6:
			sid = peer_open(peer.bidi, &peer.n_bidi, k, true);
			if (sid < 0)
				break;
			if (op == 5)
				ngtcp2_conn_shutdown_stream_write(peer.qc, 0, sid, 0x10c);
			else
				ngtcp2_conn_shutdown_stream_read(peer.qc, 0, sid, 0x10c);
			peer_flush();
			break;
		default:
			settle();
			break;
		}
	}
	settle();
	if (getenv("MPQ_FUZZ_LOG") && srv.conn) {
		struct conn_stats *st = conn_stats(srv.conn);

		fprintf(stderr,
			"fuzz_h3rx: session %s, closed %d, rx %" PRIu64 " tx %" PRIu64
			" malformed %" PRIu64 " no_session %" PRIu64 "\n",
			srv.session_seen ? "opened" : "never", srv.closed, st->rx_packets,
			st->tx_packets, st->drops[CONN_DROP_MALFORMED],
			st->drops[CONN_DROP_NO_SESSION]);
	}
	if (srv.conn && !srv.closed)
		conn_close(srv.conn, 0, NULL);
	conn_free(srv.conn);
	peer_free();
	return 0;
}

/* ---- seeds: HTTP/3 by hand ---- */

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
	if (v < 64) {
		*p++ = (uint8_t)v;
	} else {
		*p++ = (uint8_t)(0x40 | v >> 8);
		*p++ = (uint8_t)v;
	}
	return p;
}

/* QPACK prefixed integer (RFC 7541 §5.1) with first-byte flags. */
static uint8_t *put_qint(uint8_t *p, uint8_t flags, unsigned bits, size_t v)
{
	size_t max = (1u << bits) - 1;

	if (v < max) {
		*p++ = (uint8_t)(flags | v);
		return p;
	}
	*p++ = (uint8_t)(flags | max);
	for (v -= max; v >= 128; v >>= 7)
		*p++ = (uint8_t)(0x80 | (v & 0x7f));
	*p++ = (uint8_t)v;
	return p;
}

/* A HEADERS frame of literal field lines with literal names (no dynamic table). */
static uint8_t *put_headers(uint8_t *p, const char *const *nv)
{
	uint8_t block[1024], *q = block;

	*q++ = 0; /* Required Insert Count */
	*q++ = 0; /* Delta Base */
	for (; *nv; nv += 2) {
		q = put_qint(q, 0x20, 3, strlen(nv[0]));
		memcpy(q, nv[0], strlen(nv[0]));
		q += strlen(nv[0]);
		q = put_qint(q, 0x00, 7, strlen(nv[1]));
		memcpy(q, nv[1], strlen(nv[1]));
		q += strlen(nv[1]);
	}
	p = put_varint(p, 0x01);
	p = put_varint(p, (uint64_t)(q - block));
	memcpy(p, block, (size_t)(q - block));
	return p + (q - block);
}

static uint8_t *record(uint8_t *p, uint8_t op, const uint8_t *d, size_t len)
{
	*p++ = op;
	*p++ = (uint8_t)(len >> 8);
	*p++ = (uint8_t)len;
	if (len)
		memcpy(p, d, len);
	return p + len;
}

/* The control stream: type 0, SETTINGS (H3_DATAGRAM = 1 unless told otherwise). */
static uint8_t *control(uint8_t *p, bool h3_datagram)
{
	uint8_t s[16], *q = s;

	*q++ = 0x00;
	*q++ = 0x04;
	*q++ = h3_datagram ? 7 : 0;
	if (h3_datagram) {
		*q++ = 0x40;
		*q++ = 0x33; /* SETTINGS_H3_DATAGRAM */
		*q++ = 1;
		*q++ = 0x08; /* SETTINGS_ENABLE_CONNECT_PROTOCOL */
		*q++ = 1;
		*q++ = 0x21; /* a reserved (GREASE) setting */
	}
	if (h3_datagram)
		*q++ = 0;
	p = record(p, 2 | 0 << 3, s, (size_t)(q - s));
	s[0] = 0x02; /* QPACK encoder stream */
	p = record(p, 2 | 1 << 3, s, 1);
	s[0] = 0x03; /* QPACK decoder stream */
	return record(p, 2 | 2 << 3, s, 1);
}

/* Header lists: name, value, ..., NULL. */
/* clang-format off */
static const char *const health[] = {
	":method", "GET",
	":scheme", "https",
	":authority", SERVER_NAME,
	":path", "/.well-known/mpquic/health",
	NULL,
};
static const char *const connect_ip[] = {
	":method", "CONNECT",
	":protocol", "connect-ip",
	":scheme", "https",
	":authority", SERVER_NAME,
	":path", MPQ_SESSION_PATH_PREFIX "t1",
	"capsule-protocol", "?1",
	NULL,
};
static const char *const connect_other[] = {
	":method", "CONNECT",
	":protocol", "connect-ip",
	":scheme", "https",
	":authority", SERVER_NAME,
	":path", MPQ_SESSION_PATH_PREFIX "t2",
	"capsule-protocol", "?1",
	NULL,
};
static const char *const post[] = {
	":method", "POST",
	":scheme", "https",
	":authority", SERVER_NAME,
	":path", "/",
	NULL,
};
/* clang-format on */

/* IPv4 ICMP echo request 10.200.1.1 -> 10.200.0.1 (checksums are not checked). */
static const uint8_t ping[28] = {
	0x45, 0, 0,  28,  0, 1, 0x40, 0, 64,   1,    0, 0, 10, 200,
	1,    1, 10, 200, 0, 1, 8,    0, 0xf7, 0xfe, 0, 1, 0,  0,
};

size_t fuzz_seed(unsigned i, uint8_t *buf, size_t size)
{
	uint8_t f[1024], *p = buf, *q;
	/* DATA frame with an ADDRESS_REQUEST capsule (request 1: any IPv4 /32). */
	static const uint8_t data_cap[] = {0x00, 0x0b, 0x02, 0x09, 0x01, 0x04, 0,
					   0,	 0,    0,    32,   0x00, 0x00};

	if (size < 2048)
		return 0;
	switch (i) {
	case 0: /* health GET, then a datagram without a session */
		p = control(p, true);
		q = put_headers(f, health);
		p = record(p, 1 | 0 << 3, f, (size_t)(q - f));
		p = record(p, 7, NULL, 0);
		p = record(p, 4 | 0 << 3, ping, sizeof(ping));
		break;
	case 1: /* CONNECT-IP session, a capsule, datagrams both ways */
		p = control(p, true);
		q = put_headers(f, connect_ip);
		p = record(p, 0 | 0 << 3, f, (size_t)(q - f));
		p = record(p, 7, NULL, 0);
		p = record(p, 0 | 0 << 3, data_cap, sizeof(data_cap));
		p = record(p, 4 | 0 << 3, ping, sizeof(ping));
		p = record(p, 4 | 1 << 3, ping, sizeof(ping));
		f[0] = 0x00; /* quarter stream ID 0, context 0, by hand */
		f[1] = 0x00;
		memcpy(f + 2, ping, sizeof(ping));
		p = record(p, 3, f, 2 + sizeof(ping));
		p = record(p, 7, NULL, 0);
		p = record(p, 5 | 0 << 3, NULL, 0);
		break;
	case 2: /* no H3_DATAGRAM setting; a refused tunnel, a second CONNECT, a POST */
		p = control(p, false);
		q = put_headers(f, connect_other);
		p = record(p, 1 | 0 << 3, f, (size_t)(q - f));
		q = put_headers(f, connect_ip);
		p = record(p, 0 | 1 << 3, f, (size_t)(q - f));
		q = put_headers(f, connect_ip);
		p = record(p, 0 | 2 << 3, f, (size_t)(q - f));
		q = put_headers(f, post);
		p = record(p, 1 | 3 << 3, f, (size_t)(q - f));
		p = record(p, 4 | 0 << 3, ping, sizeof(ping));
		p = record(p, 6 | 1 << 3, NULL, 0);
		break;
	default:
		return 0;
	}
	return (size_t)(p - buf);
}
