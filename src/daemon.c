/* SPDX-License-Identifier: MIT */
/*
 * The daemon's lifecycle around its role: reload, status, shutdown, and the systemd
 * notifications (READY, RELOADING, STOPPING, WATCHDOG). main.c parses arguments and runs the
 * loop; client.c and server.c are reached only through d->role.
 *
 * Timers:
 *   watchdog_timer: WATCHDOG=1 at half of $WATCHDOG_USEC, sent from the loop itself.
 *   stop_timer: leaves the loop 50 ms after CONNECTION_CLOSE went out on shutdown.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "mpq.h"
#include "mpq_build.h"
#include "tls.h"
#include "util.h"

#include <wolfssl/wolfcrypt/sha256.h>

void daemon_notify(const char *msg)
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

void daemon_tls_sha256(const struct conf *c, char out[65])
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

const char *daemon_needs_restart(const struct conf *o, const struct conf *n)
{
	if (o->role != n->role)
		return "the role changed";
	if (!str_eq(o->control_socket, n->control_socket))
		return "control_socket changed";
	return NULL;
}

bool daemon_peer_changed(const struct conf *o, const struct conf *n)
{
	if (!str_eq(o->tls.ca, n->tls.ca) || !str_eq(o->tls.cert, n->tls.cert) ||
	    !str_eq(o->tls.key, n->tls.key) || !str_eq(o->tls.client_ca, n->tls.client_ca))
		return true;
	if (n->role != CONF_ROLE_CLIENT)
		return false;
	return o->server_addr_len != n->server_addr_len ||
	       memcmp(&o->server_addr, &n->server_addr, n->server_addr_len) != 0 ||
	       !str_eq(o->server_name, n->server_name);
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
	daemon_notify("RELOADING=1");
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
	why = daemon_needs_restart(old, c);
	if (why) {
		snprintf(d->reload_error, sizeof(d->reload_error),
			 "%s: restart mpquicd to apply the new configuration", why);
		log_err("reload: %s; the running configuration stays", d->reload_error);
		r = -EOPNOTSUPP;
		goto out;
	}
	mpq_file_sha256(d->conf_path, sha);
	daemon_tls_sha256(c, tls_sha);
	if (strcmp(sha, d->conf_sha256) == 0 && strcmp(tls_sha, d->tls_sha256) == 0) {
		log_notice("reload: configuration unchanged");
		r = 0;
		goto out;
	}
	peer_changed = strcmp(tls_sha, d->tls_sha256) != 0 || daemon_peer_changed(old, c);
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
	r = d->role->reload(d, c, peer_changed);
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
	daemon_notify("READY=1");
	return r;
}

json_t *daemon_status(struct daemon *d)
{
	json_t *root = json_object();
	json_t *daemon = json_pack(
		"{s:s, s:s, s:s, s:s, s:f, s:I}", "version", MPQ_VERSION, "role", d->role->name,
		"config", d->conf_path, "config_sha256", d->conf_sha256, "uptime_s",
		(double)(mpq_now_ns() - d->start_ns) / 1e9, "pid", (json_int_t)getpid());

	if (!root || !daemon) {
		json_decref(root);
		json_decref(daemon);
		return NULL;
	}
	json_object_set_new(root, "daemon", daemon);
	d->role->status(d, root);
	return root;
}

static json_t *ctl_status(void *arg)
{
	return daemon_status(arg);
}

/* The metrics are made from the status, so the two can never disagree. */
static char *ctl_metrics(void *arg)
{
	json_t *st = daemon_status(arg);
	char *text;

	if (!st)
		return NULL;
	text = metrics_from_status(st);
	json_decref(st);
	return text;
}

static int ctl_reload(void *arg, char *err, size_t errlen)
{
	struct daemon *d = arg;
	int r = daemon_reload(d);

	if (r < 0)
		snprintf(err, errlen, "%s", d->reload_error);
	return r;
}

const struct ctl_ops daemon_ctl_ops = {
	.status = ctl_status,
	.metrics = ctl_metrics,
	.reload = ctl_reload,
};

static void watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	/* Sent from the loop itself: a stuck loop stops the pings and systemd restarts us. */
	daemon_notify("WATCHDOG=1");
}

void daemon_watchdog_start(struct daemon *d)
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
	daemon_notify("STOPPING=1");
	d->role->shutdown(d);
	/* CONNECTION_CLOSE is already on the wire; leave the loop on the next iteration. */
	ev_timer_init(&d->stop_timer, stop_timer_cb, 0.05, 0.);
	ev_timer_start(d->loop, &d->stop_timer);
}

/*
 * A server derives the secret from its private key, so it survives a restart: a client still
 * talking to the old process gets a stateless reset it can verify and reconnects at once
 * instead of waiting for its idle timeout. A client's is random.
 */
void daemon_init_secret(struct daemon *d)
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
