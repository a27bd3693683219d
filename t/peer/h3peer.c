/* SPDX-License-Identifier: MIT */
/*
 * h3peer: a misbehaving HTTP/3 CONNECT-IP peer for the conformance tests (t/netns/26-conform.t).
 * Built on src/'s connection code with struct conn_quirks, it does what a foreign or broken
 * implementation may do and prints what it sees, one event per line, for the test to match.
 *
 *   h3peer client --server ADDR:PORT --name NAME --ca F --cert F --key F [--path PATH]
 *                 [--no-h3-datagram] [--late-settings] [--wait S] ACTION...
 *       Opens one CONNECT-IP session at PATH (default: tunnel t1) (--late-settings: sends its
 *       SETTINGS only after a packet carrying the request), and once it is open runs
 *       the ACTIONs in order, then waits S seconds (default 2) for answers:
 *         capsule:HEX            a raw capsule (type, length, value) on the request stream
 *         datagram:HEX           a raw QUIC DATAGRAM frame payload (no header added)
 *         ping-capsule:SRC,DST,N an ICMP echo of N bytes in a DATAGRAM capsule (context 0)
 *         ping-datagram:SRC,DST,N the same in a QUIC DATAGRAM frame (stream 0, context 0)
 *       Prints "response STATUS", "assign ID PREFIX" per ADDRESS_ASSIGN entry, "routes N",
 *       "session ended: WHY", "closed: WHY", and at the end "received N packets".
 *
 *   h3peer server --listen ADDR:PORT --ca F --cert F --key F --mode MODE [--wait S]
 *       Accepts connections (mutual TLS) for S seconds (default 60) and serves them badly:
 *         no-h3-datagram  SETTINGS without SETTINGS_H3_DATAGRAM
 *         no-answer       never answers the CONNECT-IP request
 *         no-assign       answers 200 and then sends no ADDRESS_ASSIGN
 *         bad-assign      answers 200 and sends an ADDRESS_ASSIGN with IP version 7
 *         request-address answers 200, assigns 10.200.1.1/32 and sends an ADDRESS_REQUEST
 *       ("assign ID PREFIX" lines show the client's answers).
 *       Prints "connection", "request PATH" and "closed: WHY" lines.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capsule.h"
#include "conn.h"
#include "util.h"
#include "daemon.h"
#include "ipaddr.h"
#include "ippkt.h"
#include "log.h"
#include "mpq.h"
#include "proto.h"
#include "tls.h"
#include "udp.h"
#include "varint.h"

#define PEER_MAX_CONNS 16

struct peer;

struct pconn {
	struct peer *p;
	struct conn *conn; /* owned, or NULL */
	struct sockaddr_storage remote;
	socklen_t remote_len;
};

struct peer {
	struct ev_loop *loop;
	struct tls_ctx *tls;
	struct conf conf;
	struct conf_quic quic;
	struct conn_quirks quirks;
	uint8_t secret[32];
	uint8_t *rxbuf;
	bool server;
	const char *mode;
	const char *path;
	char **actions;
	int n_actions;
	bool actions_done;
	double wait_s;
	struct udp_sock sock;
	ev_io watcher;
	ev_timer deadline;
	ev_signal sigterm; /* a clean exit, so that the sanitizer build checks for leaks */
	struct pconn c[PEER_MAX_CONNS];
	uint64_t rx_packets;
};

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void stop_after(struct peer *p, double s)
{
	ev_timer_stop(p->loop, &p->deadline);
	ev_timer_set(&p->deadline, s, 0.);
	ev_timer_start(p->loop, &p->deadline);
}

/* ---- actions (client) ---- */

static int hex_decode(const char *s, uint8_t *out, size_t size)
{
	size_t n = 0;

	while (s[0] && s[1]) {
		unsigned v;

		if (n == size || sscanf(s, "%2x", &v) != 1)
			return -1;
		out[n++] = (uint8_t)v;
		s += 2;
	}
	return s[0] ? -1 : (int)n;
}

/* An IPv4 ICMP echo request of len bytes from src to dst into out. */
static int make_ping(const char *spec, uint8_t *out, size_t size)
{
	char src[64], dst[64];
	struct mpq_prefix a, b;
	unsigned len;
	uint16_t ck;

	if (sscanf(spec, "%63[^,],%63[^,],%u", src, dst, &len) != 3 || len < 28 || len > size ||
	    mpq_prefix_parse(src, 0, &a) < 0 || mpq_prefix_parse(dst, 0, &b) < 0 ||
	    a.family != AF_INET || b.family != AF_INET)
		return -1;
	memset(out, 0, len);
	out[0] = 0x45;
	out[2] = (uint8_t)(len >> 8);
	out[3] = (uint8_t)len;
	out[6] = 0x40; /* DF */
	out[8] = 64;
	out[9] = 1; /* ICMP */
	memcpy(out + 12, a.addr, 4);
	memcpy(out + 16, b.addr, 4);
	ck = ippkt_checksum(out, 20, 0);
	out[10] = (uint8_t)(ck >> 8);
	out[11] = (uint8_t)ck;
	out[20] = 8;	/* echo request */
	out[24] = 0x12; /* identifier */
	out[27] = 1;	/* sequence */
	ck = ippkt_checksum(out + 20, len - 20, 0);
	out[22] = (uint8_t)(ck >> 8);
	out[23] = (uint8_t)ck;
	return (int)len;
}

static int queue_datagram(struct conn *c, const uint8_t *d, size_t len)
{
	uint8_t *slot = len ? conn_queue_reserve(c) : NULL;

	if (!slot)
		return -1;
	memcpy(slot, d, len);
	conn_queue_commit(c, len, mpq_now_ns());
	return 0;
}

static int run_action(struct conn *c, const char *a)
{
	static uint8_t buf[20000], pkt[16000];
	int n;

	if (strncmp(a, "capsule:", 8) == 0) {
		n = hex_decode(a + 8, buf, sizeof(buf));
		return n < 0 ? -1 : conn_send_capsule(c, buf, (size_t)n);
	}
	if (strncmp(a, "datagram:", 9) == 0) {
		n = hex_decode(a + 9, buf, sizeof(buf));
		return n < 0 ? -1 : queue_datagram(c, buf, (size_t)n);
	}
	if (strncmp(a, "ping-capsule:", 13) == 0) {
		uint8_t *q = buf;

		n = make_ping(a + 13, pkt, sizeof(pkt));
		if (n < 0)
			return -1;
		q = mpq_varint_put(q, CAPSULE_DATAGRAM);
		q = mpq_varint_put(q, (uint64_t)n + 1);
		*q++ = 0; /* context ID 0 */
		memcpy(q, pkt, (size_t)n);
		return conn_send_capsule(c, buf, (size_t)(q - buf) + (size_t)n);
	}
	if (strncmp(a, "ping-datagram:", 14) == 0) {
		n = make_ping(a + 14, buf + 2, sizeof(buf) - 2);
		if (n < 0)
			return -1;
		buf[0] = 0; /* quarter stream ID 0: our only request stream */
		buf[1] = 0; /* context ID 0 */
		return queue_datagram(c, buf, (size_t)n + 2);
	}
	return -1;
}

static void run_actions(struct peer *p, struct conn *c)
{
	if (p->actions_done)
		return;
	p->actions_done = true;
	for (int i = 0; i < p->n_actions; i++) {
		if (run_action(c, p->actions[i]) < 0)
			say("action failed: %s", p->actions[i]);
		else
			say("sent %.40s", p->actions[i]);
	}
	stop_after(p, p->wait_s);
}

/* ---- connection events ---- */

static void p_response(struct conn *c, int status)
{
	struct pconn *pc = conn_owner(c);

	say("response %d", status);
	if (status >= 200 && status < 300)
		run_actions(pc->p, c);
	else
		stop_after(pc->p, 0.2);
}

static int p_capsule(struct conn *c, uint64_t type, const uint8_t *v, size_t len)
{
	char buf[MPQ_PREFIX_STRLEN];

	(void)c;
	if (type == CAPSULE_ADDRESS_ASSIGN) {
		struct capsule_addr a[64];
		size_t n;

		if (capsule_decode_addresses(v, len, a, ARRAY_SIZE(a), &n) < 0) {
			say("bad ADDRESS_ASSIGN");
			return 0;
		}
		say("assign capsule of %zu", n);
		for (size_t i = 0; i < n; i++)
			say("assign %llu %s", (unsigned long long)a[i].request_id,
			    mpq_prefix_format(&a[i].prefix, buf, sizeof(buf)));
	} else if (type == CAPSULE_ROUTE_ADVERTISEMENT) {
		say("routes %zu bytes", len);
	} else {
		say("capsule 0x%llx", (unsigned long long)type);
	}
	return 0;
}

static void p_packet(struct conn *c, const uint8_t *pkt, size_t len)
{
	struct pconn *pc = conn_owner(c);

	(void)pkt, (void)len;
	pc->p->rx_packets++;
}

static void p_handshake(struct conn *c)
{
	(void)c;
	say("handshake done");
}

static void p_session_ended(struct conn *c, const char *why)
{
	(void)c;
	say("session ended: %s", why);
}

static int p_request(struct conn *c, const char *path)
{
	(void)c;
	say("request %s", path);
	return 200;
}

static int p_session_open(struct conn *c)
{
	struct pconn *pc = conn_owner(c);
	/* ADDRESS_ASSIGN of one entry with IP version 7: malformed (RFC 9484 §4.7.1) */
	static const uint8_t bad[] = {0x01, 0x07, 0x01, 0x07, 0x0a, 0x00, 0x00, 0x01, 0x20};

	/* ADDRESS_ASSIGN of 10.200.1.1/32, then ADDRESS_REQUEST 5: any IPv4 address */
	static const uint8_t req[] = {0x01, 0x07, 0x00, 0x04, 0x0a, 0xc8, 0x01, 0x01, 0x20,
				      0x02, 0x07, 0x05, 0x04, 0x00, 0x00, 0x00, 0x00, 0x20};

	if (strcmp(pc->p->mode, "bad-assign") == 0) {
		conn_send_capsule(c, bad, sizeof(bad));
		say("session open, malformed ADDRESS_ASSIGN sent");
		return 0;
	}
	if (strcmp(pc->p->mode, "request-address") == 0) {
		conn_send_capsule(c, req, sizeof(req));
		say("session open, ADDRESS_ASSIGN and ADDRESS_REQUEST sent");
		return 0;
	}
	say("session open (no ADDRESS_ASSIGN sent)");
	return 0;
}

static void p_closed(struct conn *c, const char *why)
{
	struct pconn *pc = conn_owner(c);
	char reason[200];

	say("closed: %s (%s)", why, conn_close_reason(c, reason, sizeof(reason)));
	conn_free(pc->conn);
	pc->conn = NULL;
	if (!pc->p->server)
		stop_after(pc->p, 0.1);
}

static const struct conn_ops peer_ops = {
	.request = p_request,
	.session_open = p_session_open,
	.response = p_response,
	.capsule = p_capsule,
	.packet = p_packet,
	.handshake_done = p_handshake,
	.session_ended = p_session_ended,
	.closed = p_closed,
};

/* ---- I/O ---- */

static struct conn_params base_params(struct peer *p, struct pconn *pc)
{
	struct conn_params cp = {
		.server = p->server,
		.loop = p->loop,
		.tls = p->tls,
		.sock = &p->sock,
		.local = (struct sockaddr *)&p->sock.local,
		.local_len = p->sock.local_len,
		.quic = &p->quic,
		.server_name = p->server ? NULL : p->conf.server_name,
		.static_secret = p->secret,
		.queue_packets = 64,
		.mtu = 0, /* lib/pktsize.h default; raw test datagrams are small */
		.ops = &peer_ops,
		.owner = pc,
		.name = "h3peer",
		.quirks = &p->quirks,
	};
	return cp;
}

static struct pconn *find_conn(struct peer *p, const struct udp_rx *rx, const uint8_t *d,
			       size_t len)
{
	struct pconn *free_pc = NULL;
	struct conn_params cp;
	ngtcp2_pkt_hd hd;

	for (int i = 0; i < PEER_MAX_CONNS; i++) {
		struct pconn *pc = &p->c[i];

		if (pc->conn && pc->remote_len == rx->peer_len &&
		    memcmp(&pc->remote, &rx->peer, rx->peer_len) == 0)
			return pc;
		if (!pc->conn && !free_pc)
			free_pc = pc;
	}
	if (!p->server || !free_pc || ngtcp2_accept(&hd, d, len) != 0 ||
	    hd.type != NGTCP2_PKT_INITIAL)
		return NULL;
	memcpy(&free_pc->remote, &rx->peer, rx->peer_len);
	free_pc->remote_len = rx->peer_len;
	free_pc->p = p;
	cp = base_params(p, free_pc);
	cp.remote = (struct sockaddr *)&free_pc->remote;
	cp.remote_len = free_pc->remote_len;
	cp.initial_hd = &hd;
	if (conn_new(&cp, &free_pc->conn) < 0)
		return NULL;
	say("connection");
	return free_pc;
}

static void read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct peer *p = container_of(w, struct peer, watcher);
	struct udp_rx rx[MPQ_RX_BATCH];
	int n;

	(void)loop, (void)revents;
	n = udp_recv_batch(&p->sock, p->rxbuf, MPQ_RX_BUFSIZE, rx, MPQ_RX_BATCH);
	for (int i = 0; i < n; i++) {
		for (size_t off = 0; off < rx[i].len; off += rx[i].segsize) {
			size_t len = MPQ_MIN(rx[i].segsize, rx[i].len - off);
			struct pconn *pc = find_conn(p, &rx[i], rx[i].data + off, len);

			if (pc && pc->conn)
				conn_read(pc->conn, (struct sockaddr *)&rx[i].local,
					  rx[i].local_len, (struct sockaddr *)&rx[i].peer,
					  rx[i].peer_len, rx[i].data + off, len);
		}
	}
	for (int i = 0; i < PEER_MAX_CONNS; i++) {
		struct conn *c = p->c[i].conn;

		const char *wait;

		if (!c || conn_write(c) < 0)
			continue;
		/* --late-settings: our SETTINGS only after a packet with the request went out */
		wait = conn_waiting_for(c);
		if (p->quirks.late_settings && wait && strstr(wait, "CONNECT-IP") &&
		    conn_quirk_send_settings(c) == 0) {
			say("SETTINGS sent after the request");
			conn_write(c);
		}
	}
}

static void deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w, (void)revents;
	ev_break(loop, EVBREAK_ALL);
}

static void sigterm_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)w, (void)revents;
	ev_break(loop, EVBREAK_ALL);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: h3peer client --server ADDR:PORT --name NAME --ca F --cert F --key F\n"
		"                     [--path P] [--no-h3-datagram] [--late-settings] [--wait S]\n"
		"                     ACTION...\n"
		"       h3peer server --listen ADDR:PORT --ca F --cert F --key F --mode MODE\n"
		"                     [--wait S]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"server", required_argument, NULL, 's'},
		{"listen", required_argument, NULL, 'l'},
		{"name", required_argument, NULL, 'n'},
		{"ca", required_argument, NULL, 'a'},
		{"cert", required_argument, NULL, 'c'},
		{"key", required_argument, NULL, 'k'},
		{"path", required_argument, NULL, 'p'},
		{"mode", required_argument, NULL, 'm'},
		{"wait", required_argument, NULL, 'w'},
		{"no-h3-datagram", no_argument, NULL, 'D'},
		{"late-settings", no_argument, NULL, 'L'},
		{0},
	};
	struct peer p = {.wait_s = -1};
	struct sockaddr_storage addr = {0};
	socklen_t addr_len = 0;
	char err[256];
	int o, r;

	if (argc < 2 || (strcmp(argv[1], "client") != 0 && strcmp(argv[1], "server") != 0)) {
		usage(stderr);
		return 2;
	}
	p.server = strcmp(argv[1], "server") == 0;
	log_init(getenv("MPQ_PEER_DEBUG") ? LOG_LVL_DEBUG : LOG_LVL_WARNING);
	p.conf.role = p.server ? CONF_ROLE_SERVER : CONF_ROLE_CLIENT;
	optind = 2;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 's':
		case 'l':
			if (mpq_sockaddr_parse(optarg, 443, &addr, &addr_len) < 0) {
				fprintf(stderr, "h3peer: bad address '%s'\n", optarg);
				return 2;
			}
			break;
		case 'n':
			p.conf.server_name = optarg;
			break;
		case 'a':
			p.conf.tls.ca = optarg;
			p.conf.tls.client_ca = optarg;
			break;
		case 'c':
			p.conf.tls.cert = optarg;
			break;
		case 'k':
			p.conf.tls.key = optarg;
			break;
		case 'p':
			p.path = optarg;
			break;
		case 'm':
			p.mode = optarg;
			break;
		case 'w':
			p.wait_s = strtod(optarg, NULL);
			break;
		case 'D':
			p.quirks.no_h3_datagram = true;
			break;
		case 'L':
			p.quirks.late_settings = true;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	p.actions = argv + optind;
	p.n_actions = argc - optind;
	if (!addr_len || !p.conf.tls.ca || !p.conf.tls.cert || !p.conf.tls.key ||
	    (!p.server && !p.conf.server_name) || (p.server && !p.mode)) {
		usage(stderr);
		return 2;
	}
	if (p.server) {
		if (strcmp(p.mode, "no-h3-datagram") == 0)
			p.quirks.no_h3_datagram = true;
		else if (strcmp(p.mode, "no-answer") == 0)
			p.quirks.hold_requests = true;
		else if (strcmp(p.mode, "no-assign") != 0 && strcmp(p.mode, "bad-assign") != 0 &&
			 strcmp(p.mode, "request-address") != 0) {
			fprintf(stderr, "h3peer: unknown mode '%s'\n", p.mode);
			return 2;
		}
		if (p.wait_s < 0)
			p.wait_s = 60;
	} else {
		p.quirks.raw_datagrams = true; /* actions build their own HTTP Datagram headers */
		if (p.wait_s < 0)
			p.wait_s = 2;
	}
	signal(SIGPIPE, SIG_IGN);
	p.quic = (struct conf_quic){
		.keepalive_ms = 1000, .idle_timeout_ms = 30000, .cc = CONF_CC_CUBIC};
	mpq_random(p.secret, sizeof(p.secret));
	if (tls_ctx_new(&p.conf, &p.tls, err, sizeof(err)) < 0) {
		fprintf(stderr, "h3peer: TLS: %s\n", err);
		return 1;
	}
	p.loop = ev_default_loop(0);
	p.rxbuf = malloc((size_t)MPQ_RX_BATCH * MPQ_RX_BUFSIZE);
	if (!p.rxbuf)
		return 1;
	if (p.server) {
		r = udp_open((struct sockaddr *)&addr, addr_len, NULL, false, &p.sock);
	} else {
		struct sockaddr_storage any = {.ss_family = addr.ss_family};

		r = udp_open((struct sockaddr *)&any,
			     any.ss_family == AF_INET ? sizeof(struct sockaddr_in)
						      : sizeof(struct sockaddr_in6),
			     NULL, false, &p.sock);
	}
	if (r < 0) {
		fprintf(stderr, "h3peer: UDP socket: %s\n", strerror(-r));
		return 1;
	}
	ev_io_init(&p.watcher, read_cb, p.sock.fd, EV_READ);
	ev_io_start(p.loop, &p.watcher);
	ev_timer_init(&p.deadline, deadline_cb, 0., 0.);
	ev_signal_init(&p.sigterm, sigterm_cb, SIGTERM);
	ev_signal_start(p.loop, &p.sigterm);
	/* client: until the session opens (then wait_s more); server: wait_s in all */
	stop_after(&p, p.server ? p.wait_s : 10);
	if (!p.server) {
		struct pconn *pc = &p.c[0];
		struct conn_params cp;
		char path[256];

		pc->p = &p;
		memcpy(&pc->remote, &addr, addr_len);
		pc->remote_len = addr_len;
		cp = base_params(&p, pc);
		cp.remote = (struct sockaddr *)&pc->remote;
		cp.remote_len = pc->remote_len;
		r = conn_new(&cp, &pc->conn);
		if (r < 0) {
			fprintf(stderr, "h3peer: connection: %s\n", strerror(-r));
			return 1;
		}
		snprintf(path, sizeof(path), "%s", p.path ? p.path : MPQ_SESSION_PATH_PREFIX "t1");
		conn_request_session(pc->conn, path);
		conn_write(pc->conn);
	}
	ev_run(p.loop, 0);
	say("received %llu packets", (unsigned long long)p.rx_packets);
	for (int i = 0; i < PEER_MAX_CONNS; i++) {
		if (p.c[i].conn) {
			conn_close(p.c[i].conn, 0, "h3peer done");
			conn_free(p.c[i].conn);
		}
	}
	ev_io_stop(p.loop, &p.watcher);
	ev_signal_stop(p.loop, &p.sigterm);
	ev_timer_stop(p.loop, &p.deadline);
	udp_close(&p.sock);
	free(p.rxbuf);
	tls_ctx_free(p.tls);
	ev_loop_destroy(p.loop);
	wolfSSL_Cleanup();
	return 0;
}
