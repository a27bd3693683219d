/* SPDX-License-Identifier: MIT */
/*
 * mpquicd: command line, configuration check, and (with the data plane) the event loop.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"
#include "ctl.h"
#include "conf.h"
#include "daemon.h"
#include "log.h"
#include "mpq.h"
#include "mpq_build.h"
#include "nl.h"
#include "server.h"
#include "tls.h"

#include <wolfssl/wolfcrypt/sha256.h>

static void print_conf_errors(const struct conf_errors *errs);

/* sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET. */
static void sd_notify_msg(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	socklen_t len;
	int fd;

	if (!path || !path[0] || strlen(path) >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, strlen(path));
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	(void)sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa, len);
	close(fd);
}

int mpq_file_sha256(const char *path, char out[65])
{
	uint8_t buf[8192], dig[WC_SHA256_DIGEST_SIZE];
	wc_Sha256 sha;
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f)
		return -errno;
	wc_InitSha256(&sha);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		wc_Sha256Update(&sha, buf, (word32)n);
	fclose(f);
	wc_Sha256Final(&sha, dig);
	wc_Sha256Free(&sha);
	for (size_t i = 0; i < sizeof(dig); i++)
		snprintf(out + 2 * i, 3, "%02x", dig[i]);
	return 0;
}

/* Hex SHA-256 over the contents of the TLS files of c, into out[65]. */
static void tls_files_sha256(const struct conf *c, char out[65])
{
	const char *files[] = {c->tls.ca, c->tls.cert, c->tls.key, c->tls.client_ca};
	char all[4 * 65 + 1] = "", one[65];
	wc_Sha256 sha;
	uint8_t dig[WC_SHA256_DIGEST_SIZE];

	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		if (files[i] && mpq_file_sha256(files[i], one) == 0)
			strcat(all, one);
		else
			strcat(all, "-");
	}
	wc_InitSha256(&sha);
	wc_Sha256Update(&sha, (const uint8_t *)all, (word32)strlen(all));
	wc_Sha256Final(&sha, dig);
	wc_Sha256Free(&sha);
	for (size_t i = 0; i < sizeof(dig); i++)
		snprintf(out + 2 * i, 3, "%02x", dig[i]);
}

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* What a reload cannot apply without a restart; NULL if nothing. */
static const char *needs_restart(const struct conf *o, const struct conf *n)
{
	if (o->role != n->role)
		return "the role changed";
	if (!str_eq(o->control_socket, n->control_socket))
		return "control_socket changed";
	return NULL;
}

int daemon_reload(struct daemon *d)
{
	struct conf_errors errs = {0};
	struct tls_ctx *tls = NULL, *old_tls = NULL;
	struct conf *c = NULL, *old = d->conf;
	char sha[65] = "", tls_sha[65], err[200];
	const char *why;
	bool peer_changed;
	int r;

	d->reload_error[0] = '\0';
	sd_notify_msg("RELOADING=1");
	r = conf_load(d->conf_path, 0, &c, &errs);
	if (r < 0) {
		for (size_t i = 0; i < errs.n; i++)
			log_err("reload: %s", errs.msg[i]);
		snprintf(d->reload_error, sizeof(d->reload_error), "%s%s",
			 errs.n ? errs.msg[0] : strerror(-r),
			 errs.n > 1 ? " (and more, see the log)" : "");
		conf_errors_done(&errs);
		log_err("reload: the new configuration is invalid; the running one stays");
		r = -EINVAL;
		goto out;
	}
	why = needs_restart(old, c);
	if (why) {
		snprintf(d->reload_error, sizeof(d->reload_error),
			 "%s: restart mpquicd to apply the new configuration", why);
		log_err("reload: %s; the running configuration stays", d->reload_error);
		r = -EOPNOTSUPP;
		goto out;
	}
	mpq_file_sha256(d->conf_path, sha);
	tls_files_sha256(c, tls_sha);
	if (strcmp(sha, d->conf_sha256) == 0 && strcmp(tls_sha, d->tls_sha256) == 0) {
		log_notice("reload: configuration unchanged");
		r = 0;
		goto out;
	}
	peer_changed = strcmp(tls_sha, d->tls_sha256) != 0 || !str_eq(old->tls.ca, c->tls.ca) ||
		       !str_eq(old->tls.cert, c->tls.cert) || !str_eq(old->tls.key, c->tls.key) ||
		       !str_eq(old->tls.client_ca, c->tls.client_ca);
	if (c->role == CONF_ROLE_CLIENT)
		peer_changed =
			peer_changed || old->server_addr_len != c->server_addr_len ||
			memcmp(&old->server_addr, &c->server_addr, c->server_addr_len) != 0 ||
			!str_eq(old->server_name, c->server_name);
	if (peer_changed) {
		r = tls_ctx_new(c, &tls, err, sizeof(err));
		if (r < 0) {
			snprintf(d->reload_error, sizeof(d->reload_error), "TLS: %s", err);
			log_err("reload: %s; the running configuration stays", d->reload_error);
			goto out;
		}
		log_notice("reload: the server or TLS settings changed: every connection restarts");
		old_tls = d->tls;
		d->tls = tls;
		tls = NULL;
	}
	r = c->role == CONF_ROLE_CLIENT ? client_reload(d, c, peer_changed)
					: server_reload(d, c, peer_changed);
	if (d->conf == c) {
		/* applied (even partly): the old configuration and TLS context go */
		c = NULL;
		log_init((int)d->conf->log_level);
		memcpy(d->conf_sha256, sha, sizeof(sha));
		memcpy(d->tls_sha256, tls_sha, sizeof(tls_sha));
		conf_free(old);
		tls_ctx_free(old_tls);
		if (r < 0)
			snprintf(d->reload_error, sizeof(d->reload_error), "reload: %s",
				 strerror(-r));
	} else {
		/* not applied: put the old TLS context back */
		if (old_tls) {
			tls = d->tls;
			d->tls = old_tls;
		}
		if (!d->reload_error[0])
			snprintf(d->reload_error, sizeof(d->reload_error), "reload failed: %s",
				 strerror(-r));
		log_err("reload: %s; the running configuration stays", d->reload_error);
	}
out:
	conf_free(c);
	tls_ctx_free(tls);
	sd_notify_msg("READY=1");
	return r;
}

static void watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	/* Sent from the loop itself: a stuck loop stops the pings and systemd restarts us. */
	sd_notify_msg("WATCHDOG=1");
}

/* Start the watchdog pings when systemd asks for them (and, if set, only for our PID). */
static void watchdog_start(struct daemon *d)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	double interval;

	ev_timer_init(&d->watchdog_timer, watchdog_cb, 0., 0.);
	if (!usec || (pid && strtol(pid, NULL, 10) != getpid()))
		return;
	interval = strtod(usec, NULL) / 1e6 / 2;
	if (interval <= 0)
		return;
	ev_timer_set(&d->watchdog_timer, interval, interval);
	ev_timer_start(d->loop, &d->watchdog_timer);
}

static void stop_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

void daemon_stop(struct daemon *d)
{
	if (d->stopping)
		return;
	d->stopping = true;
	sd_notify_msg("STOPPING=1");
	client_shutdown(d);
	server_shutdown(d);
	/* CONNECTION_CLOSE is already on the wire; leave the loop on the next iteration. */
	ev_timer_init(&d->stop_timer, stop_timer_cb, 0.05, 0.);
	ev_timer_start(d->loop, &d->stop_timer);
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct daemon *d = w->data;

	(void)loop;
	(void)revents;
	if (w->signum == SIGHUP) {
		log_notice("SIGHUP: reloading %s", d->conf_path);
		daemon_reload(d);
		return;
	}
	log_notice("%s: shutting down", strsignal(w->signum));
	daemon_stop(d);
}

/*
 * The secret behind stateless reset and Retry tokens. A server derives it from its private
 * key, so it survives a restart: a client still talking to the old process gets a stateless
 * reset it can verify and reconnects at once instead of waiting for its idle timeout. A
 * client's is random.
 */
static void init_static_secret(struct daemon *d)
{
	static const char label[] = "mpquic stateless reset and retry secret v1";
	uint8_t buf[4096];
	wc_Sha256 sha;
	FILE *f;
	size_t n;

	if (d->conf->role != CONF_ROLE_SERVER || !(f = fopen(d->conf->tls.key, "rb"))) {
		mpq_random(d->static_secret, sizeof(d->static_secret));
		return;
	}
	wc_InitSha256(&sha);
	wc_Sha256Update(&sha, (const uint8_t *)label, sizeof(label));
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		wc_Sha256Update(&sha, buf, (word32)n);
	fclose(f);
	wc_Sha256Final(&sha, d->static_secret);
	wc_Sha256Free(&sha);
	memset(buf, 0, sizeof(buf));
}

static int run(const char *config)
{
	struct conf_errors errs = {0};
	struct daemon d = {0};
	char err[256];
	int r;

	/* Until the config says otherwise: its errors are startup errors, "<3>" under journald. */
	log_init(LOG_LVL_INFO);
	r = conf_load(config, 0, &d.conf, &errs);
	if (r < 0) {
		for (size_t i = 0; i < errs.n; i++)
			log_err("%s", errs.msg[i]);
		if (errs.n == 0)
			log_err("%s: %s", config, strerror(-r));
		conf_errors_done(&errs);
		return 1;
	}
	log_init((int)d.conf->log_level);
	d.conf_path = config;
	if (mpq_file_sha256(config, d.conf_sha256) < 0)
		d.conf_sha256[0] = '\0';
	tls_files_sha256(d.conf, d.tls_sha256);
	d.start_ns = mpq_now_ns();
	init_static_secret(&d);
	d.loop = ev_default_loop(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	d.rxbuf = malloc((size_t)MPQ_RX_BATCH * MPQ_RX_BUFSIZE);
	if (!d.loop || !d.rxbuf) {
		log_err("out of memory");
		r = -ENOMEM;
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	r = tls_ctx_new(d.conf, &d.tls, err, sizeof(err));
	if (r < 0) {
		log_err("TLS: %s", err);
		goto out;
	}
	r = nl_new(d.loop, &d.nl);
	if (r < 0) {
		log_err("rtnetlink: %s", strerror(-r));
		goto out;
	}
	r = d.conf->role == CONF_ROLE_CLIENT ? client_start(&d) : server_start(&d);
	if (r < 0) {
		log_err("startup failed: %s", strerror(-r));
		goto out;
	}
	r = ctl_new(&d, d.conf->control_socket, &d.ctl);
	if (r < 0)
		goto out;
	ev_signal_init(&d.sigint_watcher, signal_cb, SIGINT);
	ev_signal_init(&d.sigterm_watcher, signal_cb, SIGTERM);
	ev_signal_init(&d.sighup_watcher, signal_cb, SIGHUP);
	d.sigint_watcher.data = d.sigterm_watcher.data = d.sighup_watcher.data = &d;
	ev_signal_start(d.loop, &d.sigint_watcher);
	ev_signal_start(d.loop, &d.sigterm_watcher);
	ev_signal_start(d.loop, &d.sighup_watcher);
	log_notice("mpquicd %s started as %s (%s)", MPQ_VERSION,
		   d.conf->role == CONF_ROLE_CLIENT ? "client" : "server", config);
	watchdog_start(&d);
	sd_notify_msg("READY=1");
	ev_run(d.loop, 0);
	ev_timer_stop(d.loop, &d.watchdog_timer);
	r = 0;
	ev_signal_stop(d.loop, &d.sigint_watcher);
	ev_signal_stop(d.loop, &d.sigterm_watcher);
	ev_signal_stop(d.loop, &d.sighup_watcher);
	ev_timer_stop(d.loop, &d.stop_timer);
out:
	ctl_free(d.ctl);
	client_free(d.client);
	server_free(d.server);
	nl_free(d.nl);
	tls_ctx_free(d.tls);
	conf_free(d.conf);
	free(d.rxbuf);
	if (d.loop)
		ev_loop_destroy(d.loop);
	wolfSSL_Cleanup();
	return r < 0 ? 1 : 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: mpquicd -c FILE\n"
		"       mpquicd --check-config FILE\n"
		"\n"
		"  -c, --config FILE        configuration file (JSON)\n"
		"  -n, --check-config FILE  validate FILE, print \"configuration OK\" or the "
		"errors\n"
		"  -f, --foreground         accepted and ignored: mpquicd never forks, it always\n"
		"                           runs in the foreground and logs to stderr\n"
		"  -V, --version            print the version\n"
		"  -h, --help               this help\n");
}

/* Print every error of a failed load, one per line. */
static void print_conf_errors(const struct conf_errors *errs)
{
	for (size_t i = 0; i < errs->n; i++)
		fprintf(stderr, "%s\n", errs->msg[i]);
}

static int check_config(const char *file)
{
	struct conf_errors errs = {0};
	struct conf *c = NULL;
	int r;

	r = conf_load(file, 0, &c, &errs);
	if (r < 0) {
		print_conf_errors(&errs);
		if (errs.n == 0)
			fprintf(stderr, "%s: %s\n", file, strerror(-r));
		conf_errors_done(&errs);
		return 1;
	}
	conf_free(c);
	printf("configuration OK\n");
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"check-config", required_argument, NULL, 'n'},
		{"foreground", no_argument, NULL, 'f'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *config = NULL, *check = NULL;
	int o;

	while ((o = getopt_long(argc, argv, "c:n:fVh", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			config = optarg;
			break;
		case 'n':
			check = optarg;
			break;
		case 'f':
			break;
		case 'V':
			printf("mpquicd %s\n", MPQ_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "mpquicd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (check)
		return check_config(check);
	if (!config) {
		fprintf(stderr, "mpquicd: no configuration file (use -c FILE)\n");
		usage(stderr);
		return 2;
	}
	return run(config);
}
