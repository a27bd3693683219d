/* SPDX-License-Identifier: MIT */
/*
 * src/daemon.c's reload comparisons, without a loop or root: what a reload refuses to apply
 * without a restart, and which changes restart every connection (daemon_needs_restart(),
 * daemon_peer_changed()). The per-tunnel comparisons of client.c and server.c are static
 * there and covered by the netns reload tests (40-reload, 44-reload-server).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"

static char tmpdir[] = "/tmp/mpq-test-daemon-XXXXXX";

#define CLIENT(tls, server, extra)                                                    \
	"{\"role\": \"client\", \"tls\": {" tls "}, \"server\": {" server "}, " extra \
	"\"tunnels\": [{\"name\": \"t1\"}]}"
#define CTLS "\"ca\": \"ca.pem\", \"cert\": \"c.pem\", \"key\": \"k.pem\""
#define CSRV "\"address\": \"192.0.2.1\", \"name\": \"vpn.example\""
#define SERVER(tls, extra)                                                                  \
	"{\"role\": \"server\", \"tls\": {" tls "}, " extra "\"clients\": [{\"identity\": " \
	"\"edge1\", \"tunnels\": [{\"name\": \"t1\", \"address\": [\"10.200.1.1/32\"]}]}]}"
#define STLS "\"cert\": \"c.pem\", \"key\": \"k.pem\", \"client_ca\": \"ca.pem\""

static struct conf *load(const char *text)
{
	struct conf_errors errs = {0};
	struct conf *c = NULL;
	char *path;
	FILE *f;
	int r;

	assert_true(asprintf(&path, "%s/c.json", tmpdir) > 0);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
	r = conf_load(path, CONF_NO_FILE_CHECKS, &c, &errs);
	for (size_t i = 0; i < errs.n; i++)
		print_error("unexpected: %s\n", errs.msg[i]);
	assert_int_equal(r, 0);
	conf_errors_done(&errs);
	free(path);
	return c;
}

/* The verdicts for the change from a to b. */
static void diff(const char *a, const char *b, const char *restart, bool peer)
{
	struct conf *o = load(a), *n = load(b);
	const char *why = daemon_needs_restart(o, n);

	if (restart) {
		assert_non_null(why);
		assert_string_equal(why, restart);
	} else {
		assert_null(why);
		assert_int_equal(daemon_peer_changed(o, n), peer);
	}
	conf_free(o);
	conf_free(n);
}

static void test_unchanged(void **state)
{
	(void)state;
	diff(CLIENT(CTLS, CSRV, ""), CLIENT(CTLS, CSRV, ""), NULL, false);
	diff(SERVER(STLS, ""), SERVER(STLS, ""), NULL, false);
}

static void test_needs_restart(void **state)
{
	(void)state;
	diff(CLIENT(CTLS, CSRV, ""), SERVER(STLS, ""), "the role changed", false);
	diff(SERVER(STLS, ""), CLIENT(CTLS, CSRV, ""), "the role changed", false);
	diff(CLIENT(CTLS, CSRV, ""), CLIENT(CTLS, CSRV, "\"control_socket\": \"/run/x.sock\", "),
	     "control_socket changed", false);
	diff(SERVER(STLS, "\"control_socket\": \"/run/a.sock\", "),
	     SERVER(STLS, "\"control_socket\": \"/run/b.sock\", "), "control_socket changed",
	     false);
}

static void test_peer_changed_client(void **state)
{
	(void)state;
	/* the server's address, port or name: every tunnel reconnects */
	diff(CLIENT(CTLS, CSRV, ""),
	     CLIENT(CTLS, "\"address\": \"192.0.2.2\", \"name\": \"vpn.example\"", ""), NULL, true);
	diff(CLIENT(CTLS, CSRV, ""), CLIENT(CTLS, CSRV ", \"port\": 8443", ""), NULL, true);
	diff(CLIENT(CTLS, CSRV, ""),
	     CLIENT(CTLS, "\"address\": \"192.0.2.1\", \"name\": \"other.example\"", ""), NULL,
	     true);
	diff(CLIENT(CTLS, CSRV, ""),
	     CLIENT(CTLS, "\"address\": \"2001:db8::1\", \"name\": \"vpn.example\"", ""), NULL,
	     true);
	/* any TLS file name */
	diff(CLIENT(CTLS, CSRV, ""),
	     CLIENT("\"ca\": \"ca2.pem\", \"cert\": \"c.pem\", \"key\": \"k.pem\"", CSRV, ""), NULL,
	     true);
	diff(CLIENT(CTLS, CSRV, ""),
	     CLIENT("\"ca\": \"ca.pem\", \"cert\": \"c2.pem\", \"key\": \"k.pem\"", CSRV, ""), NULL,
	     true);
	diff(CLIENT(CTLS, CSRV, ""),
	     CLIENT("\"ca\": \"ca.pem\", \"cert\": \"c.pem\", \"key\": \"k2.pem\"", CSRV, ""), NULL,
	     true);
	/* what is not about the peer does not restart everything */
	diff(CLIENT(CTLS, CSRV, ""), CLIENT(CTLS, CSRV, "\"log_level\": \"debug\", "), NULL, false);
}

static void test_peer_changed_server(void **state)
{
	(void)state;
	diff(SERVER(STLS, ""),
	     SERVER("\"cert\": \"c.pem\", \"key\": \"k.pem\", \"client_ca\": "
		    "\"other.pem\"",
		    ""),
	     NULL, true);
	diff(SERVER(STLS, ""),
	     SERVER("\"cert\": \"c2.pem\", \"key\": \"k2.pem\", \"client_ca\": \"ca.pem\"", ""),
	     NULL, true);
	diff(SERVER(STLS, ""), SERVER(STLS, "\"log_level\": \"debug\", "), NULL, false);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char *path;

	(void)state;
	if (asprintf(&path, "%s/c.json", tmpdir) > 0) {
		unlink(path);
		free(path);
	}
	return rmdir(tmpdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unchanged),
		cmocka_unit_test(test_needs_restart),
		cmocka_unit_test(test_peer_changed_client),
		cmocka_unit_test(test_peer_changed_server),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
