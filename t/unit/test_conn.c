/* SPDX-License-Identifier: MIT */
/*
 * conn_new()'s unwinding (src/conn.c) on the server side: whatever step fails, no CID it
 * registered stays in the owner's table (a dangling pointer once the connection is freed).
 * tls_session_new() is replaced at link time (-Wl,--wrap) so that TLS setup can fail on demand;
 * nothing in the daemon knows about it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "conn.h"

static bool tls_fails;
static WOLFSSL_CTX *tls_ctx;

WOLFSSL *__wrap_tls_session_new(struct tls_ctx *t, ngtcp2_crypto_conn_ref *ref,
				const char *server_name);

WOLFSSL *__wrap_tls_session_new(struct tls_ctx *t, ngtcp2_crypto_conn_ref *ref,
				const char *server_name)
{
	(void)t;
	(void)ref;
	(void)server_name;
	return tls_fails ? NULL : wolfSSL_new(tls_ctx);
}

/* The owner's CID table: how many CIDs it holds, and whether it refuses the next one. */
static int cids_held;
static bool cid_refuse;

static int cid_add(struct conn *c, const uint8_t *cid, size_t len)
{
	(void)c;
	(void)cid;
	(void)len;
	if (cid_refuse)
		return -ENOSPC;
	cids_held++;
	return 0;
}

static void cid_remove(struct conn *c, const uint8_t *cid, size_t len)
{
	(void)c;
	(void)cid;
	(void)len;
	cids_held--;
}

static const struct conn_ops ops = {.cid_add = cid_add, .cid_remove = cid_remove};

static int try_new(struct conn **ret)
{
	static const uint8_t secret[32] = {1};
	static struct conf_quic quic = {.idle_timeout_ms = 30000};
	ngtcp2_pkt_hd hd = {.version = NGTCP2_PROTO_VER_V1};
	struct sockaddr_in local = {.sin_family = AF_INET, .sin_port = htons(443)};
	struct sockaddr_in remote = {.sin_family = AF_INET, .sin_port = htons(5000)};
	struct udp_sock sock = {.fd = -1, .family = AF_INET};
	struct conn_params p = {
		.server = true,
		.loop = EV_DEFAULT,
		.sock = &sock,
		.local = (struct sockaddr *)&local,
		.local_len = sizeof(local),
		.remote = (struct sockaddr *)&remote,
		.remote_len = sizeof(remote),
		.quic = &quic,
		.static_secret = secret,
		.queue_packets = 16,
		.ops = &ops,
		.initial_hd = &hd,
		.name = "test",
	};

	hd.dcid.datalen = 8;
	memset(hd.dcid.data, 0xd, 8);
	hd.scid.datalen = 8;
	memset(hd.scid.data, 0x5, 8);
	return conn_new(&p, ret);
}

static void test_tls_fails(void **state)
{
	struct conn *c = NULL;

	(void)state;
	tls_fails = true;
	cid_refuse = false;
	cids_held = 0;
	assert_int_equal(try_new(&c), -EINVAL);
	assert_null(c);
	assert_int_equal(cids_held, 0); /* the old code left its CID in the table */
}

static void test_cid_refused(void **state)
{
	struct conn *c = NULL;

	(void)state;
	tls_fails = false;
	cid_refuse = true;
	cids_held = 0;
	assert_int_equal(try_new(&c), -ENOSPC);
	assert_null(c);
	assert_int_equal(cids_held, 0);
}

/* And when nothing fails, conn_free() takes back what conn_new() registered. */
static void test_ok(void **state)
{
	struct conn *c = NULL;

	(void)state;
	tls_fails = false;
	cid_refuse = false;
	cids_held = 0;
	assert_int_equal(try_new(&c), 0);
	assert_non_null(c);
	assert_int_equal(cids_held, 1);
	conn_free(c);
	assert_int_equal(cids_held, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tls_fails),
		cmocka_unit_test(test_cid_refused),
		cmocka_unit_test(test_ok),
	};
	int r;

	wolfSSL_Init();
	tls_ctx = wolfSSL_CTX_new(wolfTLSv1_3_client_method() /* needs no key */);
	if (!tls_ctx)
		return 1;
	r = cmocka_run_group_tests(tests, NULL, NULL);
	wolfSSL_CTX_free(tls_ctx);
	wolfSSL_Cleanup();
	return r;
}
