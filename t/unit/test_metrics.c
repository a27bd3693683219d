/* SPDX-License-Identifier: MIT */
/*
 * lib/metrics.c: the Prometheus text made from a status object (docs/control.md) — metric
 * names and types, labels and their escaping, units, what is left out, and the growth of the
 * output buffer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static json_t *status(const char *text)
{
	json_error_t err;
	json_t *j = json_loads(text, 0, &err);

	if (!j)
		print_error("bad test JSON: %s\n", err.text);
	assert_non_null(j);
	return j;
}

/* The metrics of text; the caller frees. */
static char *metrics(const char *text)
{
	json_t *st = status(text);
	char *m = metrics_from_status(st);

	json_decref(st);
	assert_non_null(m);
	return m;
}

static void has(const char *m, const char *line)
{
	char *want;

	assert_true(asprintf(&want, "\n%s\n", line) > 0);
	if (!strstr(m, want) && strncmp(m, want + 1, strlen(want + 1)) != 0) {
		print_error("missing line: %s\n--- in ---\n%s\n", line, m);
		fail();
	}
	free(want);
}

static void lacks(const char *m, const char *part)
{
	if (strstr(m, part)) {
		print_error("unexpected: %s\n--- in ---\n%s\n", part, m);
		fail();
	}
}

/* The value of the sample whose name and labels are series (it must be there). */
static double value(const char *m, const char *series)
{
	char *want;
	const char *p;

	assert_true(asprintf(&want, "\n%s ", series) > 0);
	p = strstr(m, want);
	if (!p) {
		print_error("missing sample: %s\n--- in ---\n%s\n", series, m);
		fail();
	}
	p += strlen(want);
	free(want);
	return strtod(p, NULL);
}

static size_t count(const char *m, const char *part)
{
	size_t n = 0;

	for (const char *p = m; (p = strstr(p, part)); p += strlen(part))
		n++;
	return n;
}

static void test_daemon_info(void **state)
{
	char *m = metrics("{\"daemon\": {\"version\": \"1.2.3\", \"role\": \"server\", "
			  "\"uptime_s\": 12.5}, \"tunnels\": []}");

	(void)state;
	has(m, "# HELP mpquic_info Daemon version and role");
	has(m, "# TYPE mpquic_info gauge");
	has(m, "mpquic_info{version=\"1.2.3\",role=\"server\"} 1");
	has(m, "# TYPE mpquic_uptime_seconds gauge");
	has(m, "mpquic_uptime_seconds 12.500");
	/* No tunnels: the families are declared, no sample. */
	has(m, "# TYPE mpquic_tunnel_up gauge");
	lacks(m, "mpquic_tunnel_up{");
	free(m);
}

static void test_tunnel_samples(void **state)
{
	char *m = metrics("{\"daemon\": {\"version\": \"v\", \"role\": \"client\"}, \"tunnels\": ["
			  "{\"name\": \"t1\", \"class\": \"critical\", \"wan\": \"wan0\", "
			  " \"state\": \"up\", \"tx_packets\": 10, \"tx_bytes\": 1500, "
			  " \"rx_packets\": 7, \"rx_bytes\": 700, \"reconnects\": 2, "
			  " \"rtt_ms\": {\"smoothed\": 25, \"min\": 20.5, \"var\": 3}, "
			  " \"cwnd\": 14720, \"bytes_in_flight\": 0, "
			  " \"drops\": {\"queue_full\": 3, \"aqm\": 0}},"
			  "{\"name\": \"t2\", \"state\": \"connecting\", \"tx_packets\": 0}]}");
	const char *l1 = "{tunnel=\"t1\",class=\"critical\",wan=\"wan0\",client=\"\"}";
	const char *l2 = "{tunnel=\"t2\",class=\"\",wan=\"\",client=\"\"}";
	char line[256];

	(void)state;
	snprintf(line, sizeof(line), "mpquic_tunnel_up%s 1", l1);
	has(m, line);
	snprintf(line, sizeof(line), "mpquic_tunnel_up%s 0", l2);
	has(m, line);
	has(m, "# TYPE mpquic_tunnel_tx_packets_total counter");
	snprintf(line, sizeof(line), "mpquic_tunnel_tx_packets_total%s 10", l1);
	has(m, line);
	snprintf(line, sizeof(line), "mpquic_tunnel_tx_packets_total%s 0", l2);
	has(m, line);
	snprintf(line, sizeof(line), "mpquic_tunnel_rx_bytes_total%s 700", l1);
	has(m, line);
	snprintf(line, sizeof(line), "mpquic_tunnel_reconnects_total%s 2", l1);
	has(m, line);
	/* Milliseconds in the status, seconds in the metrics. */
	snprintf(line, sizeof(line), "mpquic_tunnel_rtt_seconds%s", l1);
	assert_float_equal(value(m, line), 0.025, 1e-12);
	snprintf(line, sizeof(line), "mpquic_tunnel_min_rtt_seconds%s", l1);
	assert_float_equal(value(m, line), 0.0205, 1e-12);
	snprintf(line, sizeof(line), "mpquic_tunnel_rtt_variance_seconds%s", l1);
	assert_float_equal(value(m, line), 0.003, 1e-12);
	has(m, "# TYPE mpquic_tunnel_cwnd_bytes gauge");
	snprintf(line, sizeof(line), "mpquic_tunnel_bytes_in_flight%s 0", l1);
	has(m, line);
	/* A value the status does not have is left out, not reported as 0. */
	snprintf(line, sizeof(line), "mpquic_tunnel_rx_bytes_total%s", l2);
	lacks(m, line);
	snprintf(line, sizeof(line), "mpquic_tunnel_rtt_seconds%s", l2);
	lacks(m, line);
	/* Drops by reason: one sample per key, the reason as a label. */
	has(m, "# TYPE mpquic_tunnel_drops_total counter");
	has(m, "mpquic_tunnel_drops_total{tunnel=\"t1\",class=\"critical\",wan=\"wan0\","
	       "client=\"\",reason=\"queue_full\"} 3");
	has(m, "mpquic_tunnel_drops_total{tunnel=\"t1\",class=\"critical\",wan=\"wan0\","
	       "client=\"\",reason=\"aqm\"} 0");
	assert_int_equal(count(m, "mpquic_tunnel_drops_total{"), 2);
	/* Every family is declared exactly once. */
	assert_int_equal(count(m, "# TYPE mpquic_tunnel_up "), 1);
	assert_int_equal(count(m, "# TYPE mpquic_tunnel_drops_total "), 1);
	free(m);
}

/* Label values are escaped as the exposition format says: \\, \" and \n. */
static void test_label_escaping(void **state)
{
	char *m = metrics("{\"daemon\": {\"version\": \"a\\\"b\", \"role\": \"c\\\\d\"}, "
			  "\"tunnels\": [{\"name\": \"x\\ny\", \"client\": \"e\\\"1\", "
			  "\"state\": \"up\"}]}");

	(void)state;
	has(m, "mpquic_info{version=\"a\\\"b\",role=\"c\\\\d\"} 1");
	has(m, "mpquic_tunnel_up{tunnel=\"x\\ny\",class=\"\",wan=\"\",client=\"e\\\"1\"} 1");
	free(m);
}

/* Listener counters: connections and handshaking are gauges, the rest counters (_total);
 * what is not a number is left out. */
static void test_listener(void **state)
{
	char *m = metrics("{\"daemon\": {}, \"listener\": {\"connections\": 3, "
			  "\"handshaking\": 1, \"garbage\": 42, \"address\": \"0.0.0.0:443\"}}");

	(void)state;
	has(m, "# TYPE mpquic_listener_connections gauge");
	has(m, "mpquic_listener_connections 3");
	has(m, "# TYPE mpquic_listener_handshaking gauge");
	has(m, "mpquic_listener_handshaking 1");
	has(m, "# TYPE mpquic_listener_garbage_total counter");
	has(m, "mpquic_listener_garbage_total 42");
	lacks(m, "address");
	lacks(m, "mpquic_listener_connections_total");
	free(m);
}

/* Nothing the status lacks (or a status that is not an object) crashes it. */
static void test_missing_sections(void **state)
{
	json_t *j = json_array();
	char *m;

	(void)state;
	m = metrics_from_status(j);
	assert_non_null(m);
	has(m, "mpquic_info{version=\"\",role=\"\"} 1");
	has(m, "mpquic_uptime_seconds 0.000");
	lacks(m, "mpquic_listener_");
	free(m);
	json_decref(j);
	m = metrics_from_status(NULL);
	assert_non_null(m);
	free(m);
	/* tunnels and drops of the wrong type are ignored */
	m = metrics("{\"tunnels\": {\"t1\": 1}}");
	lacks(m, "tunnel=");
	free(m);
	m = metrics("{\"tunnels\": [{\"name\": \"t\", \"drops\": [1, 2]}]}");
	lacks(m, "reason=");
	free(m);
}

/* Far past the first 4 KiB buffer: every sample is there, in order, nothing cut. */
static void test_large_output(void **state)
{
	enum { N = 2000 };
	json_t *st = json_pack("{s:{s:s, s:s}, s:[]}", "daemon", "version", "v", "role", "server",
			       "tunnels");
	json_t *tunnels = json_object_get(st, "tunnels");
	char name[32], want[128], *m;

	(void)state;
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "tunnel-%04d", i);
		json_array_append_new(tunnels,
				      json_pack("{s:s, s:s, s:i, s:{s:i}}", "name", name, "state",
						"up", "tx_packets", i, "drops", "spoofed", i));
	}
	m = metrics_from_status(st);
	assert_non_null(m);
	assert_true(strlen(m) > 100 * N);
	assert_int_equal(count(m, "mpquic_tunnel_up{"), N);
	assert_int_equal(count(m, "mpquic_tunnel_drops_total{"), N);
	snprintf(want, sizeof(want),
		 "mpquic_tunnel_tx_packets_total{tunnel=\"tunnel-%04d\",class=\"\",wan=\"\","
		 "client=\"\"} %d",
		 N - 1, N - 1);
	has(m, want);
	assert_int_equal(m[strlen(m) - 1], '\n');
	free(m);
	json_decref(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_daemon_info),	 cmocka_unit_test(test_tunnel_samples),
		cmocka_unit_test(test_label_escaping),	 cmocka_unit_test(test_listener),
		cmocka_unit_test(test_missing_sections), cmocka_unit_test(test_large_output),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
