/* SPDX-License-Identifier: MIT */
/*
 * Control socket server.
 *
 * Timers:
 *   idle_timer (per client): drops a client when nothing moved either way (no request read,
 *   no answer byte sent) for CTL_IDLE_S seconds.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "ctlreq.h"
#include "log.h"
#include "mpq.h"

#define CTL_MAX_CLIENTS 32
#define CTL_MAX_REQUEST 65536	    /* one request line */
#define CTL_MAX_OUTPUT	(8u << 20)  /* queued response bytes per client */
#define CTL_OUT_PAUSE	(64u << 10) /* stop handling requests while this much waits */
#define CTL_IDLE_S	30.0

struct ctl_client {
	struct ctl *ctl; /* borrowed */
	int fd;		 /* owned */
	ev_io read_watcher;
	ev_io write_watcher;
	ev_timer idle_timer;
	char in[CTL_MAX_REQUEST];
	size_t in_len;
	char *out; /* owned */
	size_t out_len, out_off;
	bool closing; /* close once out is flushed */
	bool eof;     /* the client half-closed: answer what it sent, then close */
	struct ctl_client *prev, *next;
};

struct ctl {
	struct ev_loop *loop;	   /* borrowed */
	const struct ctl_ops *ops; /* borrowed */
	void *arg;		   /* borrowed: the ops' argument */
	int fd;			   /* owned */
	ev_io watcher;
	char path[108];
	struct ctl_client *clients;
	size_t n_clients;
	uint64_t requests, errors, rejected;
};

static void client_free(struct ctl_client *cc)
{
	struct ctl *c = cc->ctl;
	struct ev_loop *loop = c->loop;

	ev_io_stop(loop, &cc->read_watcher);
	ev_io_stop(loop, &cc->write_watcher);
	ev_timer_stop(loop, &cc->idle_timer);
	close(cc->fd);
	if (cc->prev)
		cc->prev->next = cc->next;
	else
		c->clients = cc->next;
	if (cc->next)
		cc->next->prev = cc->prev;
	c->n_clients--;
	free(cc->out);
	free(cc);
}

static void queue_output(struct ctl_client *cc, const char *s, size_t len)
{
	char *n;

	/* Nothing is queued after the last answer (or after an overflow: a partial stream). */
	if (cc->closing)
		return;
	if (cc->out_len - cc->out_off + len > CTL_MAX_OUTPUT) {
		/* A client that does not read its answers loses its connection. */
		cc->closing = true;
		cc->out_len = cc->out_off = 0;
		return;
	}
	if (cc->out_off) {
		memmove(cc->out, cc->out + cc->out_off, cc->out_len - cc->out_off);
		cc->out_len -= cc->out_off;
		cc->out_off = 0;
	}
	n = realloc(cc->out, cc->out_len + len);
	if (!n) {
		cc->closing = true;
		return;
	}
	cc->out = n;
	memcpy(cc->out + cc->out_len, s, len);
	cc->out_len += len;
	ev_io_start(cc->ctl->loop, &cc->write_watcher);
}

static void reply(struct ctl_client *cc, json_t *resp)
{
	char *s = json_dumps(resp, JSON_COMPACT);

	json_decref(resp);
	if (!s) {
		cc->closing = true;
		return;
	}
	queue_output(cc, s, strlen(s));
	queue_output(cc, "\n", 1);
	free(s);
}

static void reply_error(struct ctl_client *cc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void reply_error(struct ctl_client *cc, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cc->ctl->errors++;
	reply(cc, json_pack("{s:b, s:s}", "ok", 0, "error", msg));
}

static void handle_request(struct ctl_client *cc, const char *line, size_t len)
{
	struct ctl *c = cc->ctl;
	enum ctl_cmd cmd;
	char err[256];
	json_t *st;

	c->requests++;
	if (ctl_parse_request(line, len, &cmd, err, sizeof(err)) < 0) {
		reply_error(cc, "%s", err);
		return;
	}
	switch (cmd) {
	case CTL_CMD_STATUS:
		st = c->ops->status(c->arg);
		if (st)
			reply(cc, json_pack("{s:b, s:o}", "ok", 1, "status", st));
		else
			reply_error(cc, "%s", "out of memory");
		break;
	case CTL_CMD_METRICS: {
		char *text = c->ops->metrics(c->arg);

		if (text)
			reply(cc, json_pack("{s:b, s:s}", "ok", 1, "metrics", text));
		else
			reply_error(cc, "%s", "out of memory");
		free(text);
		break;
	}
	case CTL_CMD_RELOAD: {
		char why[256] = "";
		int r = c->ops->reload(c->arg, why, sizeof(why));

		if (r == 0)
			reply(cc, json_pack("{s:b}", "ok", 1));
		else
			reply_error(cc, "reload failed: %s", why[0] ? why : strerror(-r));
		break;
	}
	}
}

static size_t pending(const struct ctl_client *cc)
{
	return cc->out_len - cc->out_off;
}

/*
 * Answer the complete lines in cc->in while less than CTL_OUT_PAUSE bytes of answers wait:
 * one call builds at most that much output, so a client that pipelines requests cannot hold
 * the loop (and the tunnels) for longer than that takes. Reading resumes once the client has
 * read its answers; one that never does is dropped by the idle timer.
 */
static void process_input(struct ctl_client *cc)
{
	struct ev_loop *loop = cc->ctl->loop;

	for (;;) {
		char *nl = memchr(cc->in, '\n', cc->in_len);
		size_t used;

		if (!nl || cc->closing || pending(cc) >= CTL_OUT_PAUSE)
			break;
		used = (size_t)(nl - cc->in) + 1;
		if (used > 1)
			handle_request(cc, cc->in, used - 1);
		memmove(cc->in, cc->in + used, cc->in_len - used);
		cc->in_len -= used;
	}
	if (cc->in_len == sizeof(cc->in) && !memchr(cc->in, '\n', cc->in_len) && !cc->closing) {
		/* A line longer than any request: answer once and hang up. */
		reply_error(cc, "request longer than %d bytes", CTL_MAX_REQUEST);
		cc->closing = true;
		cc->in_len = 0;
	}
	if (cc->closing || cc->eof || pending(cc) >= CTL_OUT_PAUSE || cc->in_len == sizeof(cc->in))
		ev_io_stop(loop, &cc->read_watcher);
	else
		ev_io_start(loop, &cc->read_watcher);
}

/* Nothing left to do for this client: everything answered and flushed, or hanging up. */
static bool finished(const struct ctl_client *cc)
{
	return !pending(cc) && (cc->closing || (cc->eof && !memchr(cc->in, '\n', cc->in_len)));
}

static void client_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ctl_client *cc = container_of(w, struct ctl_client, read_watcher);
	ssize_t n;

	(void)revents;
	n = read(cc->fd, cc->in + cc->in_len, sizeof(cc->in) - cc->in_len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		client_free(cc);
		return;
	}
	if (n == 0) {
		/* Half-closed after its requests (nc -N, socat): answer them, then hang up. */
		cc->eof = true;
	} else {
		ev_timer_again(loop, &cc->idle_timer);
		cc->in_len += (size_t)n;
	}
	process_input(cc);
	if (finished(cc))
		client_free(cc);
}

static void client_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ctl_client *cc = container_of(w, struct ctl_client, write_watcher);
	ssize_t n;

	(void)revents;
	n = send(cc->fd, cc->out + cc->out_off, pending(cc), MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		client_free(cc);
		return;
	}
	if (n > 0) {
		cc->out_off += (size_t)n;
		ev_timer_again(loop, &cc->idle_timer); /* idle: no progress either way */
	}
	if (!pending(cc)) {
		cc->out_off = cc->out_len = 0;
		ev_io_stop(loop, &cc->write_watcher);
	}
	/* Answers were read: handle the requests that waited for that. */
	if (!cc->closing && pending(cc) < CTL_OUT_PAUSE)
		process_input(cc);
	if (finished(cc))
		client_free(cc);
}

static void client_idle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ctl_client *cc = container_of(w, struct ctl_client, idle_timer);

	(void)loop;
	(void)revents;
	client_free(cc);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ctl *c = container_of(w, struct ctl, watcher);

	(void)revents;
	for (int i = 0; i < 16; i++) {
		struct ctl_client *cc;
		int fd = accept4(c->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		if (c->n_clients >= CTL_MAX_CLIENTS) {
			static const char busy[] =
				"{\"ok\":false,\"error\":\"too many clients\"}\n";

			c->rejected++;
			(void)!send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			close(fd);
			continue;
		}
		cc = calloc(1, sizeof(*cc));
		if (!cc) {
			close(fd);
			return;
		}
		cc->ctl = c;
		cc->fd = fd;
		ev_io_init(&cc->read_watcher, client_read_cb, fd, EV_READ);
		ev_io_init(&cc->write_watcher, client_write_cb, fd, EV_WRITE);
		ev_init(&cc->idle_timer, client_idle_cb);
		cc->idle_timer.repeat = CTL_IDLE_S;
		ev_io_start(loop, &cc->read_watcher);
		ev_timer_again(loop, &cc->idle_timer);
		cc->next = c->clients;
		if (c->clients)
			c->clients->prev = cc;
		c->clients = cc;
		c->n_clients++;
	}
}

/* Remove a stale socket file left by a crashed daemon, never a live one. */
static int remove_stale(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (r == 0)
		return -EADDRINUSE;
	return unlink(path) < 0 ? -errno : 0;
}

int ctl_new(struct ev_loop *loop, const char *path, const struct ctl_ops *ops, void *arg,
	    struct ctl **ret)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct ctl *c;
	char dir[sizeof(sa.sun_path)];
	char *slash;
	int r;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_err("control socket '%s': path too long", path);
		return -ENAMETOOLONG;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			r = -errno;
			log_err("control socket '%s': cannot create %s: %s", path, dir,
				strerror(-r));
			return r;
		}
	}
	r = remove_stale(path);
	if (r < 0) {
		log_err("control socket '%s': %s", path,
			r == -EADDRINUSE ? "another daemon is listening on it" : strerror(-r));
		return r;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->loop = loop;
	c->ops = ops;
	c->arg = arg;
	snprintf(c->path, sizeof(c->path), "%s", path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		r = -errno;
		goto err_free;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (bind(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0660) < 0 ||
	    listen(c->fd, 64) < 0) {
		r = -errno;
		goto err_close;
	}
	ev_io_init(&c->watcher, accept_cb, c->fd, EV_READ);
	ev_io_start(loop, &c->watcher);
	*ret = c;
	return 0;

err_close:
	close(c->fd);
	unlink(path);
err_free:
	free(c);
	log_err("control socket '%s': %s", path, strerror(-r));
	return r;
}

void ctl_free(struct ctl *c)
{
	if (!c)
		return;
	while (c->clients)
		client_free(c->clients);
	ev_io_stop(c->loop, &c->watcher);
	close(c->fd);
	unlink(c->path);
	free(c);
}
