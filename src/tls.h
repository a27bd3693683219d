/* SPDX-License-Identifier: MIT */
/*
 * TLS 1.3 for QUIC with wolfSSL: one context per daemon. The server requires a client
 * certificate signed by its client CA (mutual TLS); the client verifies the server's chain
 * against its CA and the configured server name. ALPN is "h3".
 */
#ifndef MPQ_TLS_H
#define MPQ_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include "conf.h"

struct tls_ctx {
	WOLFSSL_CTX *ctx; /* owned */
	bool server;
	char identity[128]; /* our certificate's subject CN ("" without one): for messages */
};

/* Returns 0, or -EINVAL with a message in err (files, keys, CA). */
int tls_ctx_new(const struct conf *c, struct tls_ctx **ret, char *err, size_t errlen);
void tls_ctx_free(struct tls_ctx *t); /* NULL-safe */

/*
 * A TLS object for one QUIC connection; ref must outlive it (wolfSSL app data).
 * server_name: client only (SNI and certificate name check). NULL on failure.
 */
WOLFSSL *tls_session_new(struct tls_ctx *t, ngtcp2_crypto_conn_ref *ref, const char *server_name);

/*
 * The authenticated peer's names after the handshake: its certificate's subject CN and its
 * DNS subjectAltNames, each passed to cb until cb returns true. Returns true if one matched.
 */
bool tls_peer_names(WOLFSSL *ssl, bool (*cb)(void *arg, const char *name), void *arg);

/*
 * The names of the peer's certificate as a list for messages ("'a', 'b', IP 192.0.2.1"),
 * also after a failed verification; false when no certificate was received.
 */
bool tls_peer_names_str(WOLFSSL *ssl, char *buf, size_t size);

/* The handshake failed because the peer's certificate does not carry the expected name. */
bool tls_name_mismatch(WOLFSSL *ssl);

/* Why verification of the peer certificate failed, or NULL if no reason is recorded. */
const char *tls_verify_error(WOLFSSL *ssl);

#endif
