/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <ngtcp2/ngtcp2_crypto_wolfssl.h>
#include <wolfssl/wolfcrypt/asn.h>

#include "tls.h"

static const unsigned char alpn_h3[] = {2, 'h', '3'};

static int alpn_select_cb(WOLFSSL *ssl, const unsigned char **out, unsigned char *outlen,
			  const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	for (unsigned i = 0; i < inlen;) {
		unsigned len = in[i];

		if (i + 1 + len > inlen)
			break;
		if (len == 2 && memcmp(in + i + 1, "h3", 2) == 0) {
			*out = in + i + 1;
			*outlen = (unsigned char)len;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + len;
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static int verify_cb(int preverify, WOLFSSL_X509_STORE_CTX *store)
{
	(void)store;
	return preverify;
}

static int fail(char *err, size_t errlen, const char *what, const char *file)
{
	unsigned long e = wolfSSL_ERR_get_error();
	char buf[120] = "";

	if (e)
		wolfSSL_ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(err, errlen, "%s '%s'%s%s", what, file ? file : "", buf[0] ? ": " : "", buf);
	return -EINVAL;
}

int tls_ctx_new(const struct conf *c, struct tls_ctx **ret, char *err, size_t errlen)
{
	bool server = c->role == CONF_ROLE_SERVER;
	const char *ca = server ? c->tls.client_ca : c->tls.ca;
	struct tls_ctx *t;
	int r;

	wolfSSL_Init();
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->server = server;
	t->ctx =
		wolfSSL_CTX_new(server ? wolfTLSv1_3_server_method() : wolfTLSv1_3_client_method());
	if (!t->ctx) {
		r = -ENOMEM;
		goto err_free;
	}
	if ((server ? ngtcp2_crypto_wolfssl_configure_server_context(t->ctx)
		    : ngtcp2_crypto_wolfssl_configure_client_context(t->ctx)) != 0) {
		r = fail(err, errlen, "configuring QUIC TLS", NULL);
		goto err_ctx;
	}
	if (!c->tls.cert && !server)
		goto no_cert; /* only the test probe does this: the server will refuse it */
	if (wolfSSL_CTX_use_certificate_chain_file(t->ctx, c->tls.cert) != WOLFSSL_SUCCESS) {
		r = fail(err, errlen, "cannot load certificate", c->tls.cert);
		goto err_ctx;
	}
	if (wolfSSL_CTX_use_PrivateKey_file(t->ctx, c->tls.key, WOLFSSL_FILETYPE_PEM) !=
	    WOLFSSL_SUCCESS) {
		r = fail(err, errlen, "cannot load private key", c->tls.key);
		goto err_ctx;
	}
	if (wolfSSL_CTX_check_private_key(t->ctx) != WOLFSSL_SUCCESS) {
		r = fail(err, errlen, "private key does not match certificate", c->tls.key);
		goto err_ctx;
	}
	{
		/* our identity, for messages (a 403 names it) */
		WOLFSSL_X509 *x =
			wolfSSL_X509_load_certificate_file(c->tls.cert, WOLFSSL_FILETYPE_PEM);
		WOLFSSL_X509_NAME *subj = x ? wolfSSL_X509_get_subject_name(x) : NULL;

		if (!subj || wolfSSL_X509_NAME_get_text_by_NID(subj, NID_commonName, t->identity,
							       sizeof(t->identity)) <= 0)
			t->identity[0] = '\0';
		wolfSSL_X509_free(x);
	}
no_cert:
	if (wolfSSL_CTX_load_verify_locations(t->ctx, ca, NULL) != WOLFSSL_SUCCESS) {
		r = fail(err, errlen, "cannot load CA", ca);
		goto err_ctx;
	}
	/* the callback only makes wolfSSL keep the refused certificate: its names for messages */
	wolfSSL_CTX_set_verify(
		t->ctx, WOLFSSL_VERIFY_PEER | (server ? WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
		verify_cb);
	if (server) {
		wolfSSL_CTX_set_alpn_select_cb(t->ctx, alpn_select_cb, NULL);
		/* No resumption: every connection proves its certificate again. */
		wolfSSL_CTX_no_ticket_TLSv13(t->ctx);
	}
	*ret = t;
	return 0;

err_ctx:
	wolfSSL_CTX_free(t->ctx);
err_free:
	free(t);
	return r;
}

void tls_ctx_free(struct tls_ctx *t)
{
	if (!t)
		return;
	wolfSSL_CTX_free(t->ctx);
	free(t);
}

WOLFSSL *tls_session_new(struct tls_ctx *t, ngtcp2_crypto_conn_ref *ref, const char *server_name)
{
	WOLFSSL *ssl = wolfSSL_new(t->ctx);

	if (!ssl)
		return NULL;
	wolfSSL_set_app_data(ssl, ref);
	if (t->server) {
		wolfSSL_set_accept_state(ssl);
		return ssl;
	}
	wolfSSL_set_connect_state(ssl);
	if (wolfSSL_UseALPN(ssl, (char *)"h3", 2, WOLFSSL_ALPN_FAILED_ON_MISMATCH) !=
		    WOLFSSL_SUCCESS ||
	    wolfSSL_UseSNI(ssl, WOLFSSL_SNI_HOST_NAME, server_name,
			   (unsigned short)strlen(server_name)) != WOLFSSL_SUCCESS ||
	    wolfSSL_check_domain_name(ssl, server_name) != WOLFSSL_SUCCESS) {
		wolfSSL_free(ssl);
		return NULL;
	}
	(void)alpn_h3;
	return ssl;
}

bool tls_peer_names(WOLFSSL *ssl, bool (*cb)(void *arg, const char *name), void *arg)
{
	WOLFSSL_X509 *x = wolfSSL_get_peer_certificate(ssl);
	WOLFSSL_X509_NAME *subj;
	char cn[256];
	bool found = false;
	char *alt;

	if (!x)
		return false;
	subj = wolfSSL_X509_get_subject_name(x);
	if (subj && wolfSSL_X509_NAME_get_text_by_NID(subj, NID_commonName, cn, sizeof(cn)) > 0)
		found = cb(arg, cn);
	while (!found && (alt = wolfSSL_X509_get_next_altname(x)) != NULL)
		found = cb(arg, alt);
	wolfSSL_X509_free(x);
	return found;
}

struct names_buf {
	char *buf;
	size_t size, off;
	unsigned n;
};

static bool collect_name(void *arg, const char *name)
{
	struct names_buf *b = arg;
	size_t len = strlen(b->buf);
	int n;

	/* the CN is usually also the first SAN: name it once */
	for (const char *p = b->buf; (p = strstr(p, name)) != NULL; p++)
		if (p > b->buf && p[-1] == '\'' && p[strlen(name)] == '\'')
			return false;
	if (b->n >= 8 || len + 4 >= b->size)
		return false;
	n = snprintf(b->buf + len, b->size - len, "%s'%s'", b->n ? ", " : "", name);
	if (n < 0 || (size_t)n >= b->size - len)
		b->buf[len] = '\0';
	else
		b->n++;
	return false;
}

bool tls_peer_names_str(WOLFSSL *ssl, char *buf, size_t size)
{
	struct names_buf b = {.buf = buf, .size = size};
	WOLFSSL_X509 *x = wolfSSL_get_peer_certificate(ssl);

	if (!size)
		return false;
	buf[0] = '\0';
	if (!x)
		return false;
	wolfSSL_X509_free(x);
	tls_peer_names(ssl, collect_name, &b);
	return true;
}

bool tls_name_mismatch(WOLFSSL *ssl)
{
	int e = wolfSSL_get_error(ssl, 0);

	return e == DOMAIN_NAME_MISMATCH || e == IPADDR_MISMATCH;
}

const char *tls_verify_error(WOLFSSL *ssl)
{
	long v = wolfSSL_get_verify_result(ssl);

	return v ? wolfSSL_X509_verify_cert_error_string(v) : NULL;
}
