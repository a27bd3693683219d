/* SPDX-License-Identifier: MIT */
/*
 * mpquicctl: talk to mpquicd's control socket (docs/control.md).
 *
 *   mpquicctl [-s SOCKET] status [--json]
 *   mpquicctl [-s SOCKET] metrics
 *   mpquicctl [-s SOCKET] reload
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "mpq_build.h"

#define DEFAULT_SOCKET "/run/mpquic/mpquicd.sock"
#define TIMEOUT_MS     5000
#define MAX_RESPONSE   (16u << 20)

static void usage(FILE *f)
{
	fprintf(f, "Usage: mpquicctl [-s SOCKET] status [--json]\n"
		   "       mpquicctl [-s SOCKET] metrics\n"
		   "       mpquicctl [-s SOCKET] reload\n"
		   "\n"
		   "  -s, --socket PATH  control socket (default " DEFAULT_SOCKET ")\n"
		   "  -j, --json         status: print the raw JSON\n"
		   "  -V, --version      print the version\n"
		   "  -h, --help         this help\n");
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One request, one response line. Returns the parsed response or NULL (message printed). */
static json_t *call(const char *path, const char *command)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	long long deadline = now_ms() + TIMEOUT_MS;
	char req[128], *buf = NULL;
	size_t len = 0, cap = 0;
	json_error_t err;
	json_t *resp;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "mpquicctl: socket path '%s' is too long\n", path);
		return NULL;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		if (e == ENOENT || e == ECONNREFUSED)
			fprintf(stderr,
				"mpquicctl: cannot connect to '%s': %s (is mpquicd running?)\n",
				path, strerror(e));
		else if (e == EACCES)
			fprintf(stderr,
				"mpquicctl: cannot connect to '%s': %s (run as root or as a member "
				"of the socket's group)\n",
				path, strerror(e));
		else
			fprintf(stderr, "mpquicctl: cannot connect to '%s': %s\n", path,
				strerror(e));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	snprintf(req, sizeof(req), "{\"command\":\"%s\"}\n", command);
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) < 0) {
		fprintf(stderr, "mpquicctl: send: %s\n", strerror(errno));
		close(fd);
		return NULL;
	}
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		long long left = deadline - now_ms();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
			fprintf(stderr, "mpquicctl: no answer from '%s' within %d ms\n", path,
				TIMEOUT_MS);
			goto fail;
		}
		if (len + 65536 > cap) {
			char *nb;

			if (cap >= MAX_RESPONSE) {
				fprintf(stderr, "mpquicctl: response too large\n");
				goto fail;
			}
			cap = cap ? cap * 2 : 65536;
			nb = realloc(buf, cap);
			if (!nb)
				goto fail;
			buf = nb;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n <= 0) {
			fprintf(stderr, "mpquicctl: connection closed by mpquicd\n");
			goto fail;
		}
		len += (size_t)n;
		if (memchr(buf + len - (size_t)n, '\n', (size_t)n))
			break;
	}
	close(fd);
	resp = json_loadb(buf, len, 0, &err);
	free(buf);
	if (!resp)
		fprintf(stderr, "mpquicctl: malformed response: %s\n", err.text);
	return resp;
fail:
	free(buf);
	close(fd);
	return NULL;
}

static const char *s(const json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v && v[0] ? v : "-";
}

static double n(const json_t *o, const char *k)
{
	return json_number_value(json_object_get(o, k));
}

/*
 * Throughput since the previous call: the last counters are kept per socket in a small file
 * under $XDG_RUNTIME_DIR or /tmp, keyed by tunnel name.
 */
static void rate_file(const char *sock, char *out, size_t size)
{
	const char *dir = getenv("XDG_RUNTIME_DIR");
	unsigned long h = 5381;

	for (const char *p = sock; *p; p++)
		h = h * 33 + (unsigned char)*p;
	snprintf(out, size, "%s/mpquicctl-%u-%lx.json", dir && dir[0] ? dir : "/tmp",
		 (unsigned)getuid(), h);
}

/*
 * The rate file may live in /tmp: never follow a symlink there (someone else's link would make
 * root overwrite its target) and only trust a file of our own.
 */
static json_t *rate_load(const char *path)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	json_t *j = NULL;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == getuid())
		j = json_loadfd(fd, 0, NULL);
	close(fd);
	return j;
}

static void rate_save(const char *path, const json_t *j)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	struct stat st;

	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == getuid() &&
	    ftruncate(fd, 0) == 0)
		json_dumpfd(j, fd, JSON_COMPACT);
	close(fd);
}

static void human_rate(double bps, char *out, size_t size)
{
	if (bps < 0)
		snprintf(out, size, "-");
	else if (bps >= 1e9)
		snprintf(out, size, "%.2fG", bps / 1e9);
	else if (bps >= 1e6)
		snprintf(out, size, "%.1fM", bps / 1e6);
	else if (bps >= 1e3)
		snprintf(out, size, "%.1fk", bps / 1e3);
	else
		snprintf(out, size, "%.0f", bps);
}

static int max_int(int a, int b)
{
	return a > b ? a : b;
}

/* The client's classes and the tunnel each one rides now (failover moves it). */
static void print_classes(const json_t *classes)
{
	const json_t *k;
	size_t i;

	if (json_array_size(classes) == 0)
		return;
	printf("\n%-14s %-14s %6s %10s\n", "CLASS", "RIDES", "TABLE", "MARK");
	json_array_foreach (classes, i, k)
		printf("%-14s %-14s %6.0f %#10lx\n", s(k, "name"), s(k, "active"), n(k, "table"),
		       (unsigned long)n(k, "mark"));
}

/* The client's WANs: what the kernel says about each uplink (src/wan.c). */
static void print_wans(const json_t *wans)
{
	const json_t *w, *a;
	size_t i, j;

	if (json_array_size(wans) == 0)
		return;
	printf("\n%-10s %-15s %-10s %-16s %-26s %6s  %s\n", "WAN", "INTERFACE", "STATE",
	       "GATEWAY IPv4", "GATEWAY IPv6", "TABLE", "ADDRESSES");
	json_array_foreach (wans, i, w) {
		printf("%-10s %-15s %-10s %-16s %-26s %6.0f ", s(w, "name"), s(w, "interface"),
		       s(w, "state"), s(w, "gateway4"), s(w, "gateway6"), n(w, "table"));
		json_array_foreach (json_object_get(w, "addresses"), j, a)
			printf(" %s", json_string_value(a));
		printf("%s\n", json_array_size(json_object_get(w, "addresses")) ? "" : " -");
	}
}

static void print_table(const json_t *st, const char *sock)
{
	const json_t *d = json_object_get(st, "daemon");
	const json_t *tunnels = json_object_get(st, "tunnels");
	bool server = strcmp(s(d, "role"), "server") == 0;
	char rf[256];
	json_t *prev, *next = json_object();
	double prev_t, now_t = n(d, "uptime_s");
	const json_t *t;
	size_t i;

	rate_file(sock, rf, sizeof(rf));
	prev = rate_load(rf);
	prev_t = n(prev, "uptime_s");
	if (prev_t <= 0 || prev_t >= now_t)
		prev_t = 0;
	printf("mpquicd %s (%s), up %.0f s, config %s\n", s(d, "version"), s(d, "role"),
	       n(d, "uptime_s"), s(d, "config"));
	if (server) {
		const json_t *l = json_object_get(st, "listener");

		printf("listener: %.0f datagrams, %.0f garbage, %.0f unknown CID, %.0f version "
		       "negotiations, %.0f retries (%.0f bad tokens), %.0f stateless resets, "
		       "%.0f connections (%.0f handshaking)\n",
		       n(l, "datagrams"), n(l, "garbage"), n(l, "unknown_cid"),
		       n(l, "version_negotiations"), n(l, "retries"), n(l, "retry_token_invalid"),
		       n(l, "stateless_resets"), n(l, "connections"), n(l, "handshaking"));
	}
	/* columns as wide as their longest value: identities can be long host names */
	int wname = 14, wclient = 10, wwan = 8, wpeer = 22;

	json_array_foreach (tunnels, i, t) {
		wname = max_int(wname, (int)strlen(s(t, "name")));
		wclient = max_int(wclient, (int)strlen(server ? s(t, "client") : s(t, "class")));
		wwan = max_int(wwan, server ? 0 : (int)strlen(s(t, "wan")));
		wpeer = max_int(wpeer, (int)strlen(s(t, "peer")));
	}
	printf("%-*s %-*s %-*s %-11s %-*s %9s %9s %9s %9s %8s %5s\n", wname, "TUNNEL", wclient,
	       server ? "CLIENT" : "CLASS", wwan, server ? "" : "WAN", "STATE", wpeer, "PEER",
	       "RTT ms", "TX bit/s", "RX bit/s", "TX bytes", "DROPS", "RECON");
	json_array_foreach (tunnels, i, t) {
		const json_t *drops = json_object_get(t, "drops");
		const json_t *rtt = json_object_get(t, "rtt_ms");
		const json_t *pv = json_object_get(json_object_get(prev, "tunnels"), s(t, "name"));
		double dropsum = 0, tx_rate = -1, rx_rate = -1;
		char txr[16], rxr[16], rtts[16];
		const char *k;
		json_t *v;

		json_object_foreach ((json_t *)drops, k, v)
			dropsum += json_number_value(v);
		if (pv && prev_t > 0) {
			double dt = now_t - prev_t;

			tx_rate = (n(t, "tx_bytes") - n(pv, "tx_bytes")) * 8 / dt;
			rx_rate = (n(t, "rx_bytes") - n(pv, "rx_bytes")) * 8 / dt;
		}
		json_object_set_new(next, s(t, "name"),
				    json_pack("{s:f, s:f}", "tx_bytes", n(t, "tx_bytes"),
					      "rx_bytes", n(t, "rx_bytes")));
		human_rate(tx_rate, txr, sizeof(txr));
		human_rate(rx_rate, rxr, sizeof(rxr));
		if (json_is_object(rtt))
			snprintf(rtts, sizeof(rtts), "%.2f", n(rtt, "smoothed"));
		else
			snprintf(rtts, sizeof(rtts), "-");
		printf("%-*s %-*s %-*s %-11s %-*s %9s %9s %9s %9.0f %8.0f %5.0f\n", wname,
		       s(t, "name"), wclient, server ? s(t, "client") : s(t, "class"), wwan,
		       server ? "" : s(t, "wan"), s(t, "state"), wpeer, s(t, "peer"), rtts, txr,
		       rxr, n(t, "tx_bytes"), dropsum, n(t, "reconnects"));
		if (!server && strcmp(s(t, "last_error"), "-") != 0 &&
		    strcmp(s(t, "state"), "up") != 0)
			printf("    last error: %s\n", s(t, "last_error"));
	}
	print_classes(json_object_get(st, "classes"));
	print_wans(json_object_get(st, "wans"));
	json_decref(prev);
	prev = json_pack("{s:f, s:o}", "uptime_s", now_t, "tunnels", next);
	if (prev) {
		rate_save(rf, prev);
	}
	json_decref(prev);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *sock = getenv("MPQUICCTL_SOCKET");
	const char *cmd;
	bool json = false;
	json_t *resp;
	int o, rc;

	if (!sock || !sock[0])
		sock = DEFAULT_SOCKET;
	while ((o = getopt_long(argc, argv, "+s:jVh", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			sock = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'V':
			printf("mpquicctl %s\n", MPQ_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "mpquicctl: no command given\n");
		usage(stderr);
		return 2;
	}
	cmd = argv[optind++];
	for (; optind < argc; optind++) {
		if (strcmp(argv[optind], "--json") == 0 || strcmp(argv[optind], "-j") == 0) {
			json = true;
			continue;
		}
		fprintf(stderr, "mpquicctl: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (strcmp(cmd, "status") != 0 && strcmp(cmd, "metrics") != 0 &&
	    strcmp(cmd, "reload") != 0) {
		fprintf(stderr, "mpquicctl: unknown command '%s' (status, metrics, reload)\n", cmd);
		return 2;
	}
	if (json && strcmp(cmd, "status") != 0) {
		fprintf(stderr, "mpquicctl: --json goes with 'status'\n");
		return 2;
	}
	resp = call(sock, cmd);
	if (!resp)
		return 1;
	if (!json_is_true(json_object_get(resp, "ok"))) {
		fprintf(stderr, "mpquicctl: %s: %s\n", cmd, s(resp, "error"));
		json_decref(resp);
		return 1;
	}
	rc = 0;
	if (strcmp(cmd, "status") == 0) {
		const json_t *st = json_object_get(resp, "status");

		if (json) {
			json_dumpf(st, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
			putchar('\n');
		} else {
			print_table(st, sock);
		}
	} else if (strcmp(cmd, "metrics") == 0) {
		fputs(s(resp, "metrics"), stdout);
	} else {
		printf("reloaded\n");
	}
	json_decref(resp);
	return rc;
}
