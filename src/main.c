/* SPDX-License-Identifier: MIT */
/*
 * mpquicd: command line, configuration check, signals, and the event loop of the daemon
 * (daemon.c) in the role the configuration names (client.c or server.c).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "ctl.h"
#include "conf.h"
#include "daemon.h"
#include "log.h"
#include "mpq_build.h"
#include "nl.h"
#include "server.h"
#include "tls.h"
#include "udp.h"
#include "util.h"

static void print_conf_errors(const struct conf_errors *errs);

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
	daemon_tls_sha256(d.conf, d.tls_sha256);
	d.role = d.conf->role == CONF_ROLE_CLIENT ? &client_role : &server_role;
	d.start_ns = mpq_now_ns();
	daemon_init_secret(&d);
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
	r = d.role->start(&d);
	if (r < 0) {
		log_err("startup failed: %s", strerror(-r));
		goto out;
	}
	r = ctl_new(d.loop, d.conf->control_socket, &daemon_ctl_ops, &d, &d.ctl);
	if (r < 0)
		goto out;
	ev_signal_init(&d.sigint_watcher, signal_cb, SIGINT);
	ev_signal_init(&d.sigterm_watcher, signal_cb, SIGTERM);
	ev_signal_init(&d.sighup_watcher, signal_cb, SIGHUP);
	d.sigint_watcher.data = d.sigterm_watcher.data = d.sighup_watcher.data = &d;
	ev_signal_start(d.loop, &d.sigint_watcher);
	ev_signal_start(d.loop, &d.sigterm_watcher);
	ev_signal_start(d.loop, &d.sighup_watcher);
	log_notice("mpquicd %s started as %s (%s)", MPQ_VERSION, d.role->name, config);
	daemon_watchdog_start(&d);
	daemon_notify("READY=1");
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
