/* SPDX-License-Identifier: MIT */
/*
 * The configuration loader: parsed values and defaults, lookups, class marks, exact error
 * messages, and the examples in conf/ (found through MPQ_SOURCE_ROOT, set by meson).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"

static char tmpdir[] = "/tmp/mpq-test-conf-XXXXXX";

static char *write_file(const char *name, const char *text)
{
	char *path = NULL;
	FILE *f;

	assert_true(asprintf(&path, "%s/%s", tmpdir, name) > 0);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	return path;
}

/* Load text as NAME; returns the conf (or NULL with *errs filled). */
static struct conf *load(const char *name, const char *text, unsigned flags,
			 struct conf_errors *errs)
{
	struct conf *c = NULL;
	char *path = write_file(name, text);
	int r = conf_load(path, flags, &c, errs);

	free(path);
	if (r == 0) {
		assert_non_null(c);
		assert_int_equal(errs->n, 0);
		return c;
	}
	assert_int_equal(r, -EINVAL);
	assert_null(c);
	return NULL;
}

static struct conf *load_ok(const char *text)
{
	struct conf_errors errs = {0};
	struct conf *c = load("ok.json", text, CONF_NO_FILE_CHECKS, &errs);

	for (size_t i = 0; i < errs.n; i++)
		print_error("unexpected: %s\n", errs.msg[i]);
	assert_non_null(c);
	return c;
}

/* Every expected line (after "DIR/NAME: ") must be among the errors, and no others. */
static void expect_errors(const char *text, const char *const *want, size_t n_want)
{
	struct conf_errors errs = {0};
	size_t prefix = strlen(tmpdir) + strlen("/bad.json");

	assert_null(load("bad.json", text, CONF_NO_FILE_CHECKS, &errs));
	for (size_t i = 0; i < errs.n; i++) {
		bool found = false;

		assert_true(strncmp(errs.msg[i], tmpdir, strlen(tmpdir)) == 0);
		for (size_t k = 0; k < n_want && !found; k++)
			found = strcmp(errs.msg[i] + prefix, want[k]) == 0;
		if (!found)
			print_error("unexpected error: %s\n", errs.msg[i]);
		assert_true(found);
	}
	assert_int_equal(errs.n, n_want);
	conf_errors_done(&errs);
}

#define EXPECT_ERRORS(text, ...)                                     \
	do {                                                         \
		static const char *const w_[] = {__VA_ARGS__};       \
		expect_errors(text, w_, sizeof(w_) / sizeof(w_[0])); \
	} while (0)

#define CLIENT_TLS                                                                   \
	"{\"role\": \"client\", \"tls\": {\"ca\": \"ca.pem\", \"cert\": \"c.pem\", " \
	"\"key\": \"k.pem\"}, "
#define CLIENT_HEAD \
	CLIENT_TLS "\"server\": {\"address\": \"192.0.2.1\", \"name\": \"vpn.example\"}, "
#define SERVER_HEAD                                                                  \
	"{\"role\": \"server\", \"tls\": {\"cert\": \"c.pem\", \"key\": \"k.pem\", " \
	"\"client_ca\": \"ca.pem\"}, "

static const char *sa_str(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	return mpq_sockaddr_format((const struct sockaddr *)ss, buf, size);
}

static const char *pfx_str(const struct mpq_prefix *p, char *buf)
{
	return mpq_prefix_format(p, buf, MPQ_PREFIX_STRLEN);
}

static void test_client_defaults(void **state)
{
	struct conf *c;
	char buf[80];

	(void)state;
	c = load_ok(CLIENT_HEAD "\"tunnels\": [{\"name\": \"t1\"}]}");
	assert_int_equal(c->role, CONF_ROLE_CLIENT);
	assert_int_equal(c->log_level, CONF_LOG_INFO);
	assert_string_equal(c->control_socket, "/run/mpquic/mpquicd.sock");
	assert_string_equal(sa_str(&c->server_addr, buf, sizeof(buf)), "192.0.2.1:443");
	assert_int_equal(c->server_addr_len, sizeof(struct sockaddr_in));
	assert_string_equal(c->server_name, "vpn.example");
	assert_int_equal(c->defaults.keepalive_ms, 15000);
	assert_int_equal(c->defaults.idle_timeout_ms, 30000);
	assert_int_equal(c->defaults.backoff_min_ms, 100);
	assert_int_equal(c->defaults.backoff_max_ms, 10000);
	assert_int_equal(c->defaults.mtu, 0);
	assert_int_equal(c->defaults.cc, CONF_CC_BBR);
	assert_int_equal(c->n_wans, 0);
	assert_int_equal(c->n_classes, 0);
	assert_int_equal(c->n_tunnels, 1);
	assert_string_equal(c->tunnels[0].name, "t1");
	assert_string_equal(c->tunnels[0].tun, "mpq-t1");
	assert_int_equal(c->tunnels[0].wan, -1);
	assert_int_equal(c->tunnels[0].class_idx, -1);
	assert_memory_equal(&c->tunnels[0].quic, &c->defaults, sizeof(c->defaults));
	assert_string_equal(c->classifier.table, "mpquic");
	assert_int_equal(c->classifier.mark_mask, 0x00ff0000);
	assert_int_equal(c->classifier.rule_priority, 1000);
	assert_int_equal(c->classifier.table_base, 100);
	assert_true(c->classifier.snat);
	assert_true(c->classifier.mss_clamp);
	/* relative TLS paths name the configuration's directory */
	snprintf(buf, sizeof(buf), "%s/ca.pem", tmpdir);
	assert_string_equal(c->tls.ca, buf);
	assert_null(c->tls.client_ca);
	assert_int_equal(c->n_clients, 0);
	assert_int_equal(c->n_srv_tunnels, 0);
	conf_free(c);
}

static void test_client_full(void **state)
{
	struct conf *c;
	char buf[80];

	(void)state;
	c = load_ok(
		CLIENT_TLS
		"\"log_level\": \"debug\", \"control_socket\": \"/run/x.sock\","
		"\"server\": {\"address\": \"[2001:db8::1]:8443\", \"port\": 8443, \"name\": "
		"\"vpn.example\"},"
		"\"defaults\": {\"keepalive_ms\": 0, \"congestion\": \"cubic\", \"mtu\": 1400, "
		"  \"delay_target_ms\": 0.5},"
		"\"wans\": [{\"name\": \"w0\", \"interface\": \"eth1\"},"
		"  {\"name\": \"w1\", \"interface\": \"wwan0\", \"source\": \"198.51.100.2\","
		"   \"gateway\": \"198.51.100.1\", \"table\": 77, \"keepalive_ms\": 3000},"
		"  {\"name\": \"w2\", \"interface\": \"ppp0\", \"gateway\": \"none\"}],"
		"\"classifier\": {\"mark_mask\": \"0x0000f000\", \"table_base\": 300,"
		"  \"rule_priority\": 500, \"snat\": false, \"mss_clamp\": false, \"table\": "
		"\"t\", \"set_sysctls\": true},"
		"\"classes\": [{\"name\": \"voice\", \"match\": {\"proto\": \"udp\", \"dport\": "
		"  [5060, \"10000-20000\"], \"dscp\": [\"ef\", \"AF41\", 7], \"src\": "
		"  [\"192.168.1.0/24\", \"fd00::/8\"], \"iif\": [\"br0\"]}, \"tunnels\": [\"b\"]},"
		"  {\"name\": \"rest\", \"default\": true, \"when_down\": \"wan\"}],"
		"\"tunnels\": [{\"name\": \"a\", \"wan\": \"w1\", \"class\": \"voice\", "
		"  \"keepalive_ms\": 5000, \"idle_timeout_ms\": 15000, \"congestion\": \"reno\","
		"  \"delay_target_ms\": 0},"
		"  {\"name\": \"b\", \"wan\": \"w0\", \"tun\": \"tb\"},"
		"  {\"name\": \"c\", \"class\": \"rest\", \"backoff_min_ms\": 50}]}");
	assert_int_equal(c->log_level, CONF_LOG_DEBUG);
	assert_string_equal(c->control_socket, "/run/x.sock");
	assert_string_equal(sa_str(&c->server_addr, buf, sizeof(buf)), "[2001:db8::1]:8443");
	assert_int_equal(c->defaults.keepalive_ms, 0);
	assert_int_equal(c->defaults.cc, CONF_CC_CUBIC);

	assert_int_equal(c->n_wans, 3);
	assert_int_equal(c->wans[0].table, 200);
	assert_int_equal(c->wans[0].gw_mode, CONF_GW_AUTO);
	assert_false(c->wans[0].has_source);
	assert_int_equal(c->wans[1].table, 77);
	assert_true(c->wans[1].has_source);
	assert_string_equal(pfx_str(&c->wans[1].source, buf), "198.51.100.2/32");
	assert_int_equal(c->wans[1].gw_mode, CONF_GW_STATIC);
	assert_string_equal(pfx_str(&c->wans[1].gateway, buf), "198.51.100.1/32");
	assert_int_equal(c->wans[1].keepalive_ms, 3000);
	assert_int_equal(c->wans[2].table, 202);
	assert_int_equal(c->wans[2].gw_mode, CONF_GW_NONE);

	assert_int_equal(c->classifier.mark_mask, 0xf000);
	assert_int_equal(c->classifier.rule_priority, 500);
	assert_false(c->classifier.snat);
	assert_false(c->classifier.mss_clamp);
	assert_string_equal(c->classifier.table, "t");

	assert_int_equal(c->n_classes, 2);
	/* marks: (i + 1) in the mask's lowest bit; tables: table_base + i */
	assert_int_equal(c->classes[0].mark, 0x1000);
	assert_int_equal(c->classes[1].mark, 0x2000);
	assert_int_equal(c->classes[0].table, 300);
	assert_int_equal(c->classes[1].table, 301);
	assert_false(c->classes[0].is_default);
	assert_true(c->classes[1].is_default);
	assert_true(c->classifier.set_sysctls);
	assert_int_equal(c->classes[0].when_down, CONF_WHEN_DOWN_DROP); /* the safe default */
	assert_int_equal(c->classes[1].when_down, CONF_WHEN_DOWN_WAN);
	{
		const struct conf_match *m = &c->classes[0].match;

		assert_int_equal(m->proto, IPPROTO_UDP);
		assert_int_equal(m->n_dport, 2);
		assert_int_equal(m->dport[0].lo, 5060);
		assert_int_equal(m->dport[0].hi, 5060);
		assert_int_equal(m->dport[1].lo, 10000);
		assert_int_equal(m->dport[1].hi, 20000);
		assert_int_equal(m->n_sport, 0);
		assert_int_equal(m->n_dscp, 3);
		assert_int_equal(m->dscp[0], 46);
		assert_int_equal(m->dscp[1], 34);
		assert_int_equal(m->dscp[2], 7);
		assert_int_equal(m->n_src, 2);
		assert_string_equal(pfx_str(&m->src[1], buf), "fd00::/8");
		assert_int_equal(m->n_iif, 1);
		assert_string_equal(m->iif[0], "br0");
		assert_int_equal(c->classes[1].match.proto, -1);
	}
	/* listed tunnels first, then those that name the class */
	assert_int_equal(c->classes[0].n_tunnels, 2);
	assert_int_equal(c->classes[0].tunnels[0], 1);
	assert_int_equal(c->classes[0].tunnels[1], 0);
	assert_int_equal(c->classes[1].n_tunnels, 1);
	assert_int_equal(c->classes[1].tunnels[0], 2);

	assert_int_equal(c->n_tunnels, 3);
	assert_int_equal(c->tunnels[0].wan, 1);
	assert_int_equal(c->tunnels[0].class_idx, 0);
	assert_int_equal(c->tunnels[0].quic.keepalive_ms, 5000);
	assert_int_equal(c->tunnels[0].quic.idle_timeout_ms, 15000);
	assert_int_equal(c->tunnels[0].quic.cc, CONF_CC_RENO);
	assert_int_equal(c->tunnels[0].quic.delay_target_us, 0);   /* overridden */
	assert_int_equal(c->tunnels[1].quic.delay_target_us, 500); /* inherited */
	assert_int_equal(c->tunnels[0].quic.mtu, 1400);
	assert_string_equal(c->tunnels[1].tun, "tb");
	assert_int_equal(c->tunnels[1].wan, 0);
	assert_int_equal(c->tunnels[1].class_idx, 0);
	assert_int_equal(c->tunnels[1].quic.cc, CONF_CC_CUBIC);
	assert_int_equal(c->tunnels[2].wan, -1);
	assert_int_equal(c->tunnels[2].class_idx, 1);
	assert_int_equal(c->tunnels[2].quic.backoff_min_ms, 50);
	assert_int_equal(c->tunnels[2].quic.keepalive_ms, 0);

	assert_int_equal(conf_find_tunnel(c, "c"), 2);
	assert_int_equal(conf_find_tunnel(c, "a"), 0);
	assert_int_equal(conf_find_tunnel(c, "zz"), -1);
	assert_int_equal(conf_find_tunnel(c, ""), -1);
	assert_int_equal(conf_find_tunnel(c, NULL), -1);
	assert_int_equal(conf_find_srv_tunnel(c, "a"), -1);
	assert_int_equal(conf_find_client(c, "a"), -1);
	conf_free(c);
}

static void test_server(void **state)
{
	struct conf *c;
	char buf[80];

	(void)state;
	c = load_ok(SERVER_HEAD "\"clients\": [{\"identity\": \"edge1\", \"tunnels\": ["
				"{\"name\": \"a\", \"address\": [\"10.200.4.2/30\"], \"routes\": "
				"[\"192.168.1.0/24\"]}]}]}");
	assert_int_equal(c->role, CONF_ROLE_SERVER);
	assert_int_equal(c->n_listen, 1);
	assert_string_equal(sa_str(&c->listen[0], buf, sizeof(buf)), "0.0.0.0:443");
	assert_int_equal(c->server_id, 0);
	assert_int_equal(c->retry, CONF_RETRY_AUTO);
	assert_string_equal(c->tun_name, "mpq0");
	assert_int_equal(c->n_tun_address, 0);
	assert_int_equal(c->tun_mtu, 0);
	assert_int_equal(c->n_advertise, 2);
	assert_string_equal(pfx_str(&c->advertise[0], buf), "0.0.0.0/0");
	assert_string_equal(pfx_str(&c->advertise[1], buf), "::/0");
	assert_int_equal(c->limits.max_connections, 4096);
	assert_int_equal(c->limits.max_connections_per_client, 64);
	assert_int_equal(c->limits.max_handshakes, 256);
	assert_int_equal(c->limits.queue_packets, 256);
	assert_null(c->tls.ca);
	assert_non_null(c->tls.client_ca);
	assert_int_equal(c->n_srv_tunnels, 1);
	/* interface addresses keep their host bits */
	assert_string_equal(pfx_str(&c->srv_tunnels[0].address[0], buf), "10.200.4.2/30");
	assert_int_equal(c->n_tunnels, 0);
	conf_free(c);

	c = load_ok(SERVER_HEAD
		    "\"listen\": [\"192.0.2.1\", \"[2001:db8::1]:8443\", \"::\"], \"server_id\": 9,"
		    "\"retry\": \"never\", \"tun\": {\"name\": \"srv0\", \"address\": "
		    "[\"10.200.0.1/16\"], \"mtu\": 1404}, \"advertise\": [\"10.0.0.0/8\"],"
		    "\"limits\": {\"max_connections\": 10, \"max_connections_per_client\": 2,"
		    " \"max_handshakes\": 3, \"queue_packets\": 4},"
		    "\"defaults\": {\"delay_target_ms\": 2},"
		    "\"clients\": [{\"identity\": \"edge1\", \"tunnels\": [{\"name\": \"a\", "
		    "\"address\": [\"10.200.1.1\"], \"delay_target_ms\": 0.75}, {\"name\": \"b\", "
		    "\"address\": "
		    "[\"10.200.1.2\", \"fd00::2/64\"]}]},"
		    "{\"identity\": \"CN=edge2\", \"tunnels\": [{\"name\": \"c\", \"address\": "
		    "[\"10.200.2.1\"], \"routes\": [\"2001:db8::/32\"]}]}]}");
	assert_int_equal(c->n_listen, 3);
	assert_string_equal(sa_str(&c->listen[0], buf, sizeof(buf)), "192.0.2.1:443");
	assert_string_equal(sa_str(&c->listen[1], buf, sizeof(buf)), "[2001:db8::1]:8443");
	assert_string_equal(sa_str(&c->listen[2], buf, sizeof(buf)), "[::]:443");
	assert_int_equal(c->server_id, 9);
	assert_int_equal(c->retry, CONF_RETRY_NEVER);
	assert_string_equal(c->tun_name, "srv0");
	assert_int_equal(c->tun_mtu, 1404);
	assert_string_equal(pfx_str(&c->tun_address[0], buf), "10.200.0.1/16");
	assert_int_equal(c->n_advertise, 1);
	assert_int_equal(c->limits.max_connections, 10);
	assert_int_equal(c->limits.queue_packets, 4);
	assert_int_equal(c->n_clients, 2);
	assert_int_equal(c->clients[0].first_tunnel, 0);
	assert_int_equal(c->clients[0].n_tunnels, 2);
	assert_int_equal(c->clients[1].first_tunnel, 2);
	assert_int_equal(c->clients[1].n_tunnels, 1);
	assert_int_equal(c->n_srv_tunnels, 3);
	assert_int_equal(c->srv_tunnels[2].client, 1);
	assert_int_equal(c->srv_tunnels[0].delay_target_us, 750);  /* its own */
	assert_int_equal(c->srv_tunnels[1].delay_target_us, 2000); /* the defaults' */
	assert_int_equal(c->srv_tunnels[1].n_address, 2);
	assert_string_equal(pfx_str(&c->srv_tunnels[1].address[1], buf), "fd00::2/64");
	assert_string_equal(pfx_str(&c->srv_tunnels[2].routes[0], buf), "2001:db8::/32");
	assert_int_equal(conf_find_client(c, "CN=edge2"), 1);
	assert_int_equal(conf_find_client(c, "edge3"), -1);
	assert_int_equal(conf_find_srv_tunnel(c, "c"), 2);
	assert_int_equal(conf_find_srv_tunnel(c, "d"), -1);
	conf_free(c);
}

static void test_errors_client(void **state)
{
	(void)state;
	EXPECT_ERRORS(CLIENT_HEAD "\"wans\": [{\"name\": \"wan4\", \"interface\": \"e4\"},"
				  "{\"name\": \"wan5\", \"interface\": \"e5\"},"
				  "{\"name\": \"wan6\", \"interface\": \"e6\"}],"
				  "\"tunnels\": [{\"name\": \"a\"}, {\"name\": \"b\"},"
				  "{\"name\": \"c\", \"wan\": \"wan7\", \"foo\": 1}],"
				  "\"classes\": [{\"name\": \"k\", \"match\": {\"dscp\": [\"ef\", "
				  "\"fast\"]}, \"tunnels\": [\"a\"]}]}",
		      ": tunnels[2].foo: unknown key",
		      ": tunnels[2].wan: unknown WAN 'wan7' (known: wan4, wan5, wan6)",
		      ": classes[0].match.dscp[1]: expected a DSCP name or 0..63, got \"fast\"");
	EXPECT_ERRORS("{\"tunnels\": [{\"name\": \"a\"}], \"bogus\": {}}",
		      ": role: required (\"client\" or \"server\")", ": bogus: unknown key");
	EXPECT_ERRORS(
		CLIENT_HEAD "\"tunnels\": [{\"name\": 7, \"keepalive_ms\": -1, "
			    "\"mtu\": 1279}], \"retry\": \"auto\"}",
		": retry: not allowed for role client",
		": tunnels[0].name: expected a name (string), got 7",
		": tunnels[0].keepalive_ms: -1 out of range 0..3600000",
		": tunnels[0].mtu: 1279 out of range: 0 (1400) or 1280..1404 (the largest inner "
		"packet one QUIC DATAGRAM frame carries)");
	/* a second default class (mask 0x6 has room for the three classes) */
	EXPECT_ERRORS(CLIENT_HEAD
		      "\"classifier\": {\"mark_mask\": 6},"
		      "\"tunnels\": [{\"name\": \"a\", \"class\": \"x\"}, {\"name\": "
		      "\"b\", \"class\": \"y\"}, {\"name\": \"c\", \"class\": \"z\"}],"
		      "\"classes\": [{\"name\": \"x\", \"default\": true},"
		      "{\"name\": \"y\", \"default\": true}, {\"name\": \"z\", \"match\": "
		      "{\"proto\": 47}}]}",
		      ": classes[1].default: classes[0] is already the default class");
}

static void test_errors_client_mask(void **state)
{
	struct conf *c;

	(void)state;
	/* mask 0x6 holds marks 2, 4, 6 but not a fourth class */
	c = load_ok(CLIENT_HEAD "\"classifier\": {\"mark_mask\": 6},"
				"\"tunnels\": [{\"name\": \"a\", \"class\": \"x\"}, {\"name\": "
				"\"b\", \"class\": \"y\"}, {\"name\": \"c\", \"class\": \"z\"}],"
				"\"classes\": [{\"name\": \"x\", \"default\": true},"
				"{\"name\": \"y\", \"match\": {\"proto\": 47}}, {\"name\": \"z\", "
				"\"match\": {\"proto\": \"sctp\", \"sport\": [9]}}]}");
	assert_int_equal(c->classes[0].mark, 2);
	assert_int_equal(c->classes[1].mark, 4);
	assert_int_equal(c->classes[2].mark, 6);
	assert_int_equal(c->classes[2].match.proto, IPPROTO_SCTP);
	conf_free(c);
	EXPECT_ERRORS(CLIENT_HEAD
		      "\"classifier\": {\"mark_mask\": \"0x6\"},"
		      "\"tunnels\": [{\"name\": \"a\"}],"
		      "\"classes\": [{\"name\": \"w\", \"default\": true, \"tunnels\": "
		      "[\"a\"]}, {\"name\": \"x\", \"match\": {\"proto\": 1}, \"tunnels\": "
		      "[\"a\"]}, {\"name\": \"y\", \"match\": {\"proto\": 1}, \"tunnels\": "
		      "[\"a\"]}, {\"name\": \"z\", \"match\": {\"proto\": 1}}]}",
		      ": classes[1].tunnels[0]: tunnel 'a' already belongs to classes[0]",
		      ": classes[2].tunnels[0]: tunnel 'a' already belongs to classes[0]",
		      ": classes[1]: no tunnel carries class 'x' (list them in \"tunnels\" or set "
		      "\"class\" on a tunnel)",
		      ": classes[2]: no tunnel carries class 'y' (list them in \"tunnels\" or set "
		      "\"class\" on a tunnel)",
		      ": classes[3]: no tunnel carries class 'z' (list them in \"tunnels\" or set "
		      "\"class\" on a tunnel)",
		      ": classifier.mark_mask: 0x00000006 has room for 3 class marks, but there "
		      "are 4 classes");
}

static void test_errors_server(void **state)
{
	(void)state;
	EXPECT_ERRORS(
		SERVER_HEAD
		"\"wans\": [], \"clients\": ["
		"{\"identity\": \"e0\", \"tunnels\": [{\"name\": \"a\", \"address\": "
		"[\"10.200.3.1\"]}, {\"name\": \"b\", \"address\": "
		"[\"10.200.4.0/30\"]}]},"
		"{\"identity\": \"e1\", \"tunnels\": [{\"name\": \"c\", \"address\": "
		"[\"10.200.4.2/30\"], \"routes\": [\"10.1.0.0/16\", \"10.2.0.1/16\"]}]},"
		"{\"identity\": \"e0\", \"tunnels\": [{\"name\": \"a\", \"address\": "
		"[\"fd00::1/64\"], \"routes\": [\"10.1.2.0/24\"]}]}]}",
		": wans: not allowed for role server",
		": clients[1].tunnels[0].routes[1]: \"10.2.0.1/16\" has host bits set (did you "
		"mean 10.2.0.0/16?)",
		": clients[2].identity: 'e0' is already used by clients[0]",
		": clients[2].tunnels[0].name: 'a' is already used by clients[0].tunnels[0]",
		": clients[1].tunnels[0].address[0]: 10.200.4.2/30 overlaps "
		"clients[0].tunnels[1].address[0] 10.200.4.0/30",
		": clients[2].tunnels[0].routes[0]: 10.1.2.0/24 overlaps "
		"clients[1].tunnels[0].routes[0] 10.1.0.0/16");
	EXPECT_ERRORS(SERVER_HEAD "\"server_id\": 256, \"listen\": [\"1.2.3.4:0\", \"::\", "
				  "\"[::]:443\"], \"clients\": []}",
		      ": server_id: 256 out of range 0..255",
		      ": listen[0]: expected an IP address with an optional port (\"0.0.0.0:443\", "
		      "\"[::]:443\"), got \"1.2.3.4:0\"",
		      ": listen[2]: \"[::]:443\" is the same address as listen[1]",
		      ": clients: must not be empty");
}

static void test_errors_json(void **state)
{
	(void)state;
	EXPECT_ERRORS("{\n\t\"role\": \"client\"\n\t\"tunnels\": []\n}\n",
		      ":3:10: '}' expected near '\"tunnels\"'");
	EXPECT_ERRORS("{\"role\": \"client\", \"role\": \"server\"}",
		      ":1:25: duplicate object key near '\"role\"'");
	EXPECT_ERRORS("[]", ": (top level): expected an object, got an array");
}

static void test_missing_file(void **state)
{
	struct conf_errors errs = {0};
	struct conf *c = NULL;
	char *path = NULL;

	(void)state;
	assert_true(asprintf(&path, "%s/does-not-exist.json", tmpdir) > 0);
	assert_int_equal(conf_load(path, 0, &c, &errs), -EINVAL);
	assert_null(c);
	assert_int_equal(errs.n, 1);
	assert_true(strstr(errs.msg[0], "does-not-exist.json: cannot open: No such file") != NULL);
	conf_errors_done(&errs);
	assert_int_equal(errs.n, 0);
	assert_null(errs.msg);
	free(path);
}

/* Without CONF_NO_FILE_CHECKS the TLS files must exist, relative to the config's directory. */
static void test_tls_files(void **state)
{
	struct conf_errors errs = {0};
	struct conf *c = NULL;
	char *path, *ca, *cert;
	char want[512];

	(void)state;
	ca = write_file("ca.pem", "x\n");
	cert = write_file("c.pem", "x\n");
	path = write_file("tls.json", CLIENT_HEAD "\"tunnels\": [{\"name\": \"a\"}]}");
	assert_int_equal(conf_load(path, 0, &c, &errs), -EINVAL);
	assert_int_equal(errs.n, 1);
	snprintf(want, sizeof(want),
		 "%s: tls.key: cannot read '%s/k.pem': No such file or directory", path, tmpdir);
	assert_string_equal(errs.msg[0], want);
	conf_errors_done(&errs);
	free(path);
	path = write_file("k.pem", "x\n");
	free(path);
	path = write_file("tls.json", CLIENT_HEAD "\"tunnels\": [{\"name\": \"a\"}]}");
	assert_int_equal(conf_load(path, 0, &c, &errs), 0);
	assert_string_equal(c->tls.cert, cert);
	conf_free(c);
	free(path);

	/* file names in messages are never cut, however long */
	path = write_file("long.json",
			  "{\"role\": \"client\", \"tls\": {\"ca\": \"ca.pem\", "
			  "\"cert\": \"c.pem\", \"key\": \"a-key-file-name-well-over-"
			  "the-eighty-characters-that-values-are-cut-at-in-messages.pem\"},"
			  "\"server\": {\"address\": \"192.0.2.1\", \"name\": "
			  "\"vpn.example\"}, \"tunnels\": [{\"name\": \"a\"}]}");
	assert_int_equal(conf_load(path, 0, &c, &errs), -EINVAL);
	assert_int_equal(errs.n, 1);
	snprintf(want, sizeof(want),
		 "%s: tls.key: cannot read '%s/a-key-file-name-well-over-the-eighty-characters-"
		 "that-values-are-cut-at-in-messages.pem': No such file or directory",
		 path, tmpdir);
	assert_string_equal(errs.msg[0], want);
	conf_errors_done(&errs);
	free(path);
	free(ca);
	free(cert);
}

/* Thousands of bad entries: every one counted, the list capped with a last summary line. */
static void test_error_cap(void **state)
{
	struct conf_errors errs = {0};
	size_t size = 1 << 20, o = 0;
	char *text = malloc(size);

	(void)state;
	assert_non_null(text);
	o += (size_t)snprintf(text + o, size - o, "%s\"tunnels\": [", CLIENT_HEAD);
	for (int i = 0; i < 1500; i++)
		o += (size_t)snprintf(text + o, size - o, "%s{\"name\": \"t%d\", \"mtu\": 1}",
				      i ? "," : "", i);
	snprintf(text + o, size - o, "]}");
	assert_null(load("cap.json", text, CONF_NO_FILE_CHECKS, &errs));
	assert_int_equal(errs.n, 1001);
	assert_non_null(strstr(errs.msg[1000], ": 500 more errors not shown"));
	conf_errors_done(&errs);
	free(text);
}

static void test_examples(void **state)
{
	static const char *const names[] = {"client.json", "client-3wan.json", "server.json"};
	const char *top = getenv("MPQ_SOURCE_ROOT");
	struct conf *cs[3] = {0};

	(void)state;
	assert_non_null(top);
	for (size_t i = 0; i < 3; i++) {
		struct conf_errors errs = {0};
		char *path = NULL;

		assert_true(asprintf(&path, "%s/conf/%s", top, names[i]) > 0);
		if (conf_load(path, CONF_NO_FILE_CHECKS, &cs[i], &errs) < 0)
			for (size_t k = 0; k < errs.n; k++)
				print_error("%s\n", errs.msg[k]);
		assert_int_equal(errs.n, 0);
		assert_non_null(cs[i]);
		free(path);
	}
	assert_int_equal(cs[0]->role, CONF_ROLE_CLIENT);
	/* 3 WANs x 3 classes = 9 tunnels, each class on every WAN */
	assert_int_equal(cs[1]->n_wans, 3);
	assert_int_equal(cs[1]->n_classes, 3);
	assert_int_equal(cs[1]->n_tunnels, 9);
	for (size_t k = 0; k < 3; k++) {
		const struct conf_class *cl = &cs[1]->classes[k];
		bool wan_seen[3] = {false};

		assert_int_equal(cl->n_tunnels, 3);
		assert_int_equal(cl->mark, (uint32_t)(k + 1) << 16);
		for (size_t j = 0; j < 3; j++) {
			const struct conf_tunnel *t = &cs[1]->tunnels[cl->tunnels[j]];

			assert_int_equal(t->class_idx, (int)k);
			assert_true(t->wan >= 0 && t->wan < 3);
			wan_seen[t->wan] = true;
		}
		assert_true(wan_seen[0] && wan_seen[1] && wan_seen[2]);
	}
	assert_int_equal(cs[1]->tunnels[conf_find_tunnel(cs[1], "bk5")].quic.cc, CONF_CC_BBR);
	assert_int_equal(cs[1]->classes[1].tunnels[0], conf_find_tunnel(cs[1], "bk5"));
	/* the server knows every tunnel of both example clients */
	assert_int_equal(cs[2]->role, CONF_ROLE_SERVER);
	for (size_t i = 0; i < 2; i++) {
		for (size_t j = 0; j < cs[i]->n_tunnels; j++) {
			int t = conf_find_srv_tunnel(cs[2], cs[i]->tunnels[j].name);

			assert_true(t >= 0);
			assert_int_equal(cs[2]->srv_tunnels[t].client, i == 0 ? 1 : 0);
		}
	}
	for (size_t i = 0; i < 3; i++)
		conf_free(cs[i]);
}

static void test_misc(void **state)
{
	struct conf_errors errs = {0};

	(void)state;
	conf_free(NULL);
	conf_errors_done(&errs);
	conf_errors_done(NULL);
	assert_string_equal(conf_cc_name(CONF_CC_CUBIC), "cubic");
	assert_string_equal(conf_cc_name(CONF_CC_BBR), "bbr");
	assert_string_equal(conf_cc_name(CONF_CC_RENO), "reno");
	assert_string_equal(conf_cc_name((enum conf_cc)42), "unknown");
	assert_int_equal(conf_find_tunnel(NULL, "a"), -1);
	assert_int_equal(conf_find_srv_tunnel(NULL, "a"), -1);
	assert_int_equal(conf_find_client(NULL, "a"), -1);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char *cmd = NULL;
	int r;

	(void)state;
	if (asprintf(&cmd, "rm -rf '%s'", tmpdir) < 0)
		return -1;
	r = system(cmd);
	free(cmd);
	return r == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_defaults),
		cmocka_unit_test(test_client_full),
		cmocka_unit_test(test_server),
		cmocka_unit_test(test_errors_client),
		cmocka_unit_test(test_errors_client_mask),
		cmocka_unit_test(test_errors_server),
		cmocka_unit_test(test_errors_json),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_tls_files),
		cmocka_unit_test(test_error_cap),
		cmocka_unit_test(test_examples),
		cmocka_unit_test(test_misc),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
