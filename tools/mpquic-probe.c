/* SPDX-License-Identifier: MIT */
/*
 * mpquic-probe: an HTTP/3 client for checking an mpquicd server from outside.
 *
 *   mpquic-probe [OPTIONS] health          GET /.well-known/mpquic/health, print the body
 *   mpquic-probe [OPTIONS] open TUNNEL     open CONNECT-IP sessions and report the answers
 *
 * "open" with --count N opens N connections at once (TUNNEL may contain one %d, replaced by
 * 0..N-1) and reports how many were accepted, refused (with status) or failed, and the time
 * until all were answered; --hold S keeps the accepted sessions open S seconds. It is the
 * load generator of the scale tests, and with no --cert it shows what the server does to a
 * client without a certificate. It counts the inner packets the server sends into the
 * sessions ("received P packets on C connections"), so a test can tell which connections the
 * server's return traffic reaches.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "ipaddr.h"
#include "log.h"
#include "mpq.h"
#include "mpq_build.h"
#include "proto.h"
#include "tls.h"
#include "udp.h"
#include "util.h"

struct probe;

struct pconn {
	struct probe *p;
	struct conn *conn;
	struct udp_sock sock;
	ev_io watcher;
	int status; /* 0 = no answer yet, -1 = failed */
	bool done;
	uint64_t rx_packets; /* inner packets received on the session */
	char why[160];
};

struct probe {
	struct ev_loop *loop;
	struct tls_ctx *tls;
	struct conf conf;
	struct conf_quic quic;
	uint8_t secret[32];
	uint8_t *rxbuf;
	bool health;
	const char *tunnel;
	unsigned count, answered;
	double hold_s;
	uint64_t t0;
	struct pconn *c;
	ev_timer deadline;
	ev_timer hold_timer;
	char body[4096];
	size_t body_len;
};

static void check_finished(struct probe *p)
{
	if (p->answered < p->count)
		return;
	if (p->hold_s > 0 && !ev_is_active(&p->hold_timer)) {
		ev_timer_set(&p->hold_timer, p->hold_s, 0.);
		ev_timer_start(p->loop, &p->hold_timer);
		return;
	}
	if (p->hold_s <= 0)
		ev_break(p->loop, EVBREAK_ALL);
}

static void answer(struct pconn *pc, int status, const char *why)
{
	if (pc->done)
		return;
	pc->done = true;
	pc->status = status;
	if (why)
		snprintf(pc->why, sizeof(pc->why), "%s", why);
	pc->p->answered++;
	check_finished(pc->p);
}

static void p_response(struct conn *c, int status)
{
	answer(conn_owner(c), status, NULL);
}

static void p_body(struct conn *c, const uint8_t *data, size_t len)
{
	struct pconn *pc = conn_owner(c);
	struct probe *p = pc->p;

	len = MPQ_MIN(len, sizeof(p->body) - 1 - p->body_len);
	memcpy(p->body + p->body_len, data, len);
	p->body_len += len;
	p->body[p->body_len] = '\0';
}

static int p_capsule(struct conn *c, uint64_t type, const uint8_t *v, size_t len)
{
	(void)c, (void)type, (void)v, (void)len;
	return 0;
}

static void p_packet(struct conn *c, const uint8_t *pkt, size_t len)
{
	struct pconn *pc = conn_owner(c);

	(void)pkt, (void)len;
	pc->rx_packets++;
}

static void p_handshake(struct conn *c)
{
	(void)c;
}

static void p_closed(struct conn *c, const char *why)
{
	struct pconn *pc = conn_owner(c);
	char reason[200];

	if (strcmp(why, "closed by peer") == 0) {
		snprintf(reason, sizeof(reason), "closed by server (");
		conn_close_reason(c, reason + strlen(reason), sizeof(reason) - strlen(reason) - 1);
		strcat(reason, ")");
		why = reason;
	}
	answer(pc, -1, why);
	ev_io_stop(pc->p->loop, &pc->watcher);
	conn_free(pc->conn);
	pc->conn = NULL;
}

static const struct conn_ops probe_ops = {
	.response = p_response,
	.body = p_body,
	.capsule = p_capsule,
	.packet = p_packet,
	.handshake_done = p_handshake,
	.closed = p_closed,
};

static void read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct pconn *pc = container_of(w, struct pconn, watcher);
	struct udp_rx rx[MPQ_RX_BATCH];
	int n;

	(void)loop, (void)revents;
	n = udp_recv_batch(&pc->sock, pc->p->rxbuf, MPQ_RX_BUFSIZE, rx, MPQ_RX_BATCH);
	for (int i = 0; i < n && pc->conn; i++)
		for (size_t off = 0; off < rx[i].len && pc->conn; off += rx[i].segsize)
			conn_read(pc->conn, (struct sockaddr *)&rx[i].local, rx[i].local_len,
				  (struct sockaddr *)&rx[i].peer, rx[i].peer_len, rx[i].data + off,
				  MPQ_MIN(rx[i].segsize, rx[i].len - off));
	if (pc->conn)
		conn_write(pc->conn);
}

static void deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w, (void)revents;
	ev_break(loop, EVBREAK_ALL);
}

static int start_one(struct probe *p, struct pconn *pc, unsigned idx)
{
	struct sockaddr_storage any = {.ss_family = p->conf.server_addr.ss_family};
	struct conn_params cp = {
		.loop = p->loop,
		.tls = p->tls,
		.sock = &pc->sock,
		.remote = (struct sockaddr *)&p->conf.server_addr,
		.remote_len = p->conf.server_addr_len,
		.quic = &p->quic,
		.server_name = p->conf.server_name,
		.static_secret = p->secret,
		.queue_packets = 16,
		.mtu = 0, /* the default (lib/pktsize.h) */
		.ops = &probe_ops,
		.owner = pc,
		.name = "probe",
	};
	char path[256], name[CONF_NAME_MAX + 16];
	int r;

	pc->p = p;
	r = udp_open((struct sockaddr *)&any,
		     any.ss_family == AF_INET ? sizeof(struct sockaddr_in)
					      : sizeof(struct sockaddr_in6),
		     NULL, false, &pc->sock);
	if (r < 0)
		return r;
	cp.local = (struct sockaddr *)&pc->sock.local;
	cp.local_len = pc->sock.local_len;
	r = conn_new(&cp, &pc->conn);
	if (r < 0)
		return r;
	if (p->health) {
		conn_request_get(pc->conn, "/.well-known/mpquic/health");
	} else {
		const char *pct = strstr(p->tunnel, "%d");

		if (pct)
			snprintf(name, sizeof(name), "%.*s%u%s", (int)(pct - p->tunnel), p->tunnel,
				 idx, pct + 2);
		else
			snprintf(name, sizeof(name), "%s", p->tunnel);
		snprintf(path, sizeof(path), "%s%s", MPQ_SESSION_PATH_PREFIX, name);
		conn_request_session(pc->conn, path);
	}
	ev_io_init(&pc->watcher, read_cb, pc->sock.fd, EV_READ);
	ev_io_start(p->loop, &pc->watcher);
	conn_write(pc->conn);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: mpquic-probe --server ADDR[:PORT] --name NAME --ca FILE [--cert FILE --key "
		"FILE]\n"
		"                    [--count N] [--hold S] [--timeout S] health|open TUNNEL\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"server", required_argument, NULL, 's'}, {"name", required_argument, NULL, 'n'},
		{"ca", required_argument, NULL, 'a'},	  {"cert", required_argument, NULL, 'c'},
		{"key", required_argument, NULL, 'k'},	  {"count", required_argument, NULL, 'N'},
		{"hold", required_argument, NULL, 'H'},	  {"timeout", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},	  {0},
	};
	struct probe p = {.count = 1};
	double timeout = 10;
	unsigned accepted = 0, refused = 0, failed = 0, rx_conns = 0;
	uint64_t rx_packets = 0;
	char err[256];
	int o, rc;

	log_init(getenv("MPQ_PROBE_DEBUG") ? LOG_LVL_DEBUG : LOG_LVL_WARNING);
	p.conf.role = CONF_ROLE_CLIENT;
	while ((o = getopt_long(argc, argv, "s:n:a:c:k:N:H:t:h", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			if (mpq_sockaddr_parse(optarg, 443, &p.conf.server_addr,
					       &p.conf.server_addr_len) < 0) {
				fprintf(stderr, "mpquic-probe: bad server address '%s'\n", optarg);
				return 2;
			}
			break;
		case 'n':
			p.conf.server_name = optarg;
			break;
		case 'a':
			p.conf.tls.ca = optarg;
			break;
		case 'c':
			p.conf.tls.cert = optarg;
			break;
		case 'k':
			p.conf.tls.key = optarg;
			break;
		case 'N':
			p.count = (unsigned)strtoul(optarg, NULL, 10);
			if (p.count < 1 || p.count > 10000) {
				fprintf(stderr, "mpquic-probe: --count must be 1..10000\n");
				return 2;
			}
			break;
		case 'H':
			p.hold_s = strtod(optarg, NULL);
			break;
		case 't':
			timeout = strtod(optarg, NULL);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc || !p.conf.server_addr_len || !p.conf.server_name || !p.conf.tls.ca ||
	    (!p.conf.tls.cert != !p.conf.tls.key)) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[optind], "health") == 0) {
		p.health = true;
	} else if (strcmp(argv[optind], "open") == 0 && optind + 1 < argc) {
		p.tunnel = argv[optind + 1];
	} else {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	p.quic = (struct conf_quic){
		.keepalive_ms = 5000, .idle_timeout_ms = 30000, .cc = CONF_CC_CUBIC};
	mpq_random(p.secret, sizeof(p.secret));
	if (tls_ctx_new(&p.conf, &p.tls, err, sizeof(err)) < 0) {
		fprintf(stderr, "mpquic-probe: TLS: %s\n", err);
		return 1;
	}
	p.loop = ev_default_loop(0);
	p.rxbuf = malloc((size_t)MPQ_RX_BATCH * MPQ_RX_BUFSIZE);
	p.c = calloc(p.count, sizeof(*p.c));
	if (!p.rxbuf || !p.c)
		return 1;
	ev_timer_init(&p.deadline, deadline_cb, timeout + p.hold_s, 0.);
	ev_timer_init(&p.hold_timer, deadline_cb, 0., 0.);
	ev_timer_start(p.loop, &p.deadline);
	p.t0 = mpq_now_ns();
	for (unsigned i = 0; i < p.count; i++) {
		int r = start_one(&p, &p.c[i], i);

		if (r < 0) {
			fprintf(stderr, "mpquic-probe: connection %u: %s\n", i, strerror(-r));
			p.c[i].done = true;
			p.c[i].status = -1;
			p.answered++;
		}
	}
	ev_run(p.loop, 0);
	for (unsigned i = 0; i < p.count; i++) {
		struct pconn *pc = &p.c[i];

		if (pc->status >= 200 && pc->status < 300)
			accepted++;
		else if (pc->status >= 300)
			refused++;
		else
			failed++;
		rx_packets += pc->rx_packets;
		rx_conns += pc->rx_packets > 0;
		if (pc->status >= 300 || pc->status <= 0)
			printf("connection %u: %s%s\n", i,
			       pc->status > 0 ? "refused with status "
			       : pc->done     ? "failed: "
					      : "no answer",
			       pc->status > 0 ? (snprintf(err, sizeof(err), "%d", pc->status), err)
					      : pc->why);
		if (pc->conn) {
			conn_close(pc->conn, 0, "probe done");
			ev_io_stop(p.loop, &pc->watcher);
			conn_free(pc->conn);
		}
		udp_close(&pc->sock);
	}
	if (p.health && p.body_len)
		printf("%s", p.body);
	else if (rx_packets)
		printf("received %llu packets on %u connections\n", (unsigned long long)rx_packets,
		       rx_conns);
	printf("accepted %u refused %u failed %u in %.3f s\n", accepted, refused, failed,
	       (double)(mpq_now_ns() - p.t0) / 1e9 - (accepted ? p.hold_s : 0));
	rc = accepted == p.count ? 0 : 1;
	free(p.c);
	free(p.rxbuf);
	tls_ctx_free(p.tls);
	ev_loop_destroy(p.loop);
	wolfSSL_Cleanup();
	return rc;
}
