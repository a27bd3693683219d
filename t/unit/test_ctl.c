/* SPDX-License-Identifier: MIT */
/*
 * src/ctl.c without root and without a daemon: the control socket answers status, metrics and
 * reload through the ops table it is given (here a fake one that counts its calls), reports
 * the ops' failures, refuses bad requests, and removes its socket file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"

struct fake {
	int status_calls, metrics_calls, reload_calls;
	bool oom;	/* status and metrics fail */
	int reload_ret; /* 0 or -errno */
};

static json_t *fake_status(void *arg)
{
	struct fake *f = arg;

	f->status_calls++;
	return f->oom ? NULL : json_pack("{s:{s:s}, s:[]}", "daemon", "role", "test", "tunnels");
}

static char *fake_metrics(void *arg)
{
	struct fake *f = arg;

	f->metrics_calls++;
	return f->oom ? NULL : strdup("# TYPE m gauge\nm 1\n");
}

static int fake_reload(void *arg, char *err, size_t errlen)
{
	struct fake *f = arg;

	f->reload_calls++;
	if (f->reload_ret < 0)
		snprintf(err, errlen, "%s", "tls.key: cannot read 'k.pem'");
	return f->reload_ret;
}

static const struct ctl_ops fake_ops = {
	.status = fake_status,
	.metrics = fake_metrics,
	.reload = fake_reload,
};

struct env {
	char dir[64], path[108];
	struct ev_loop *loop;
	struct ctl *ctl;
	struct fake fake;
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	if (!e)
		return -1;
	snprintf(e->dir, sizeof(e->dir), "/tmp/mpq-test-ctl-XXXXXX");
	if (!mkdtemp(e->dir))
		return -1;
	snprintf(e->path, sizeof(e->path), "%s/run/ctl.sock", e->dir);
	e->loop = ev_loop_new(EVFLAG_AUTO);
	if (!e->loop || ctl_new(e->loop, e->path, &fake_ops, &e->fake, &e->ctl) < 0)
		return -1;
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	char run[80];
	struct stat st;
	int r;

	ctl_free(e->ctl);
	/* the socket file goes with the socket */
	r = stat(e->path, &st) < 0 && errno == ENOENT ? 0 : -1;
	ev_loop_destroy(e->loop);
	snprintf(run, sizeof(run), "%s/run", e->dir);
	rmdir(run);
	rmdir(e->dir);
	free(e);
	return r;
}

/* Send req (one line) on a new connection and return the parsed answer line. */
static json_t *ask(struct env *e, const char *req)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char buf[65536];
	size_t len = 0;
	json_error_t err;
	json_t *j;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memcpy(sa.sun_path, e->path, strlen(e->path) + 1);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	/* Run the loop until the whole answer line is back (bounded: 2000 rounds of 5 ms). */
	for (int i = 0; i < 2000 && !memchr(buf, '\n', len); i++) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		ev_run(e->loop, EVRUN_NOWAIT);
		if (poll(&p, 1, 5) <= 0)
			continue;
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		assert_true(n > 0);
		len += (size_t)n;
	}
	close(fd);
	assert_non_null(memchr(buf, '\n', len));
	j = json_loadb(buf, (size_t)((char *)memchr(buf, '\n', len) - buf), 0, &err);
	if (!j)
		print_error("not JSON: %.*s\n", (int)len, buf);
	assert_non_null(j);
	return j;
}

static bool answer_ok(const json_t *j)
{
	return json_is_true(json_object_get(j, "ok"));
}

static const char *answer_error(const json_t *j)
{
	const char *s = json_string_value(json_object_get(j, "error"));

	return s ? s : "";
}

static void test_status(void **state)
{
	struct env *e = *state;
	json_t *j = ask(e, "{\"command\": \"status\"}\n");

	assert_true(answer_ok(j));
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(json_object_get(j, "status"), "daemon"), "role")),
		"test");
	assert_int_equal(e->fake.status_calls, 1);
	assert_int_equal(e->fake.metrics_calls + e->fake.reload_calls, 0);
	json_decref(j);
}

static void test_metrics(void **state)
{
	struct env *e = *state;
	json_t *j = ask(e, "{\"command\": \"metrics\"}\n");

	assert_true(answer_ok(j));
	assert_string_equal(json_string_value(json_object_get(j, "metrics")),
			    "# TYPE m gauge\nm 1\n");
	assert_int_equal(e->fake.metrics_calls, 1);
	json_decref(j);
}

static void test_out_of_memory(void **state)
{
	struct env *e = *state;
	json_t *j;

	e->fake.oom = true;
	j = ask(e, "{\"command\": \"status\"}\n");
	assert_false(answer_ok(j));
	assert_string_equal(answer_error(j), "out of memory");
	json_decref(j);
	j = ask(e, "{\"command\": \"metrics\"}\n");
	assert_false(answer_ok(j));
	assert_string_equal(answer_error(j), "out of memory");
	json_decref(j);
	e->fake.oom = false;
}

static void test_reload(void **state)
{
	struct env *e = *state;
	json_t *j = ask(e, "{\"command\": \"reload\"}\n");

	assert_true(answer_ok(j));
	assert_int_equal(e->fake.reload_calls, 1);
	json_decref(j);
	e->fake.reload_ret = -EINVAL;
	j = ask(e, "{\"command\": \"reload\"}\n");
	assert_false(answer_ok(j));
	assert_string_equal(answer_error(j), "reload failed: tls.key: cannot read 'k.pem'");
	assert_int_equal(e->fake.reload_calls, 2);
	json_decref(j);
	e->fake.reload_ret = 0;
}

static void test_bad_requests(void **state)
{
	struct env *e = *state;
	json_t *j;

	j = ask(e, "{\"command\": \"explode\"}\n");
	assert_false(answer_ok(j));
	assert_string_equal(answer_error(j), "unknown command 'explode'");
	json_decref(j);
	j = ask(e, "{\"command\": 5}\n");
	assert_false(answer_ok(j));
	assert_non_null(strstr(answer_error(j), "expected {\"command\""));
	json_decref(j);
	j = ask(e, "not json\n");
	assert_false(answer_ok(j));
	assert_non_null(strstr(answer_error(j), "malformed request"));
	json_decref(j);
	/* none of them reached the daemon */
	assert_int_equal(e->fake.status_calls + e->fake.metrics_calls + e->fake.reload_calls, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
