/*
 * client.c — TLS toward an origin (`origins.X.tls: { ca, server_name, verify }`).
 *
 * The origin's certificate is checked against the system trust store, or against `ca` alone when it
 * is given (a private root), and must name server_name (default: the origin's host without its port);
 * the same name goes in SNI unless it is an IP address (RFC 6066 forbids those there; it is then
 * checked against the certificate's IP SANs). `verify: false` turns checking off, with a warning.
 *
 * Sessions: the last session an origin server gave is kept by the caller (one slot per upstream pool,
 * per worker) and offered on the next new connection, so a pool that opens connections again resumes
 * instead of paying a full handshake.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/log.h"
#include "tls/tls.h"
#include "tls/tls_int.h"

struct sk_tls_client {
	SSL_CTX *ctx;
	char *name;   /* checked in the certificate, and sent in SNI unless it is an IP address */
	bool name_is_ip;
	bool verify;
	uint64_t id;
};

static int slot_idx = -1;
static pthread_once_t slot_once = PTHREAD_ONCE_INIT;

static void slot_init(void)
{
	slot_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* A new session from the origin: keep it in the connection's pool slot (we take the reference). */
static int new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
	SSL_SESSION **slot = SSL_get_ex_data(ssl, slot_idx);
	if (!slot)
		return 0;
	if (*slot)
		SSL_SESSION_free(*slot);
	*slot = sess;
	return 1;
}

static uint64_t fnv(uint64_t h, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	return (h ^ 0xff) * 0x100000001b3ULL;
}

/* The host part of "host", "host:port", "[v6]" or "[v6]:port". */
static char *host_only(const char *hostport)
{
	if (hostport[0] == '[') {
		const char *end = strchr(hostport, ']');
		size_t n = end ? (size_t)(end - hostport - 1) : strlen(hostport + 1);
		char *s = sk_malloc(n + 1);
		memcpy(s, hostport + 1, n);
		s[n] = '\0';
		return s;
	}
	const char *colon = strchr(hostport, ':');
	if (colon && !strchr(colon + 1, ':')) {
		size_t n = (size_t)(colon - hostport);
		char *s = sk_malloc(n + 1);
		memcpy(s, hostport, n);
		s[n] = '\0';
		return s;
	}
	return sk_strdup(hostport);
}

struct sk_tls_client *sk_tls_client_new(const struct sk_config *cfg, const struct sk_origin *o, struct sk_err *err)
{
	pthread_once(&slot_once, slot_init);
	char why[200];
	struct sk_tls_client *t = sk_calloc(1, sizeof(*t));
	t->verify = o->tls.verify;
	t->name = o->tls.server_name ? sk_strdup(o->tls.server_name)
				     : host_only(o->host ? o->host : o->servers[0].text);
	unsigned char tmp[16];
	t->name_is_ip = inet_pton(AF_INET, t->name, tmp) == 1 || inet_pton(AF_INET6, t->name, tmp) == 1;
	t->ctx = SSL_CTX_new(TLS_client_method());
	if (!t->ctx)
		goto ssl_fail;
	SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(t->ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(t->ctx, SK_TLS_MODES);
	SSL_CTX_set_alpn_protos(t->ctx, (const unsigned char *)"\x08http/1.1", 9);
	SSL_CTX_set_session_cache_mode(t->ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(t->ctx, new_session_cb);
	if (t->verify) {
		SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
		if (o->tls.ca) {
			if (SSL_CTX_load_verify_locations(t->ctx, o->tls.ca, NULL) != 1) {
				sk_tls_last_error(why, sizeof(why));
				sk_err_set(err, o->tls.ca, 0, 0, "origin '%s': cannot load 'ca': %s", o->name, why);
				goto fail;
			}
		} else if (SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
			goto ssl_fail;
		}
	} else {
		SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
		sk_warn("origin '%s': tls.verify is false: its certificate is not checked (anyone on the path can "
			"impersonate it)",
			o->name);
	}
	t->id = fnv(fnv(fnv(0xcbf29ce484222325ULL, t->name), o->tls.ca), t->verify ? "v" : "n") | 1;
	return t;
ssl_fail:
	sk_tls_last_error(why, sizeof(why));
	sk_err_set(err, cfg->path, o->pos.line, o->pos.col, "origin '%s': TLS set-up: %s", o->name, why);
fail:
	sk_tls_client_free(t);
	return NULL;
}

void sk_tls_client_free(struct sk_tls_client *t)
{
	if (!t)
		return;
	SSL_CTX_free(t->ctx);
	free(t->name);
	free(t);
}

uint64_t sk_tls_client_id(const struct sk_tls_client *t)
{
	return t->id;
}

struct ssl_st *sk_tls_client_ssl(const struct sk_tls_client *t, int fd, struct ssl_session_st **session_slot)
{
	SSL *ssl = SSL_new(t->ctx);
	if (!ssl || SSL_set_fd(ssl, fd) != 1)
		goto fail;
	SSL_set_connect_state(ssl);
	if (!t->name_is_ip && SSL_set_tlsext_host_name(ssl, t->name) != 1)
		goto fail;
	if (t->verify) {
		int ok = t->name_is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), t->name)
				       : SSL_set1_host(ssl, t->name);
		if (ok != 1)
			goto fail;
	}
	if (session_slot) {
		SSL_set_ex_data(ssl, slot_idx, session_slot);
		if (*session_slot)
			SSL_set_session(ssl, *session_slot);
	}
	return ssl;
fail: {
	char why[200];
	sk_tls_last_error(why, sizeof(why));
	sk_error("TLS: cannot set up a connection to an origin: %s", why);
	SSL_free(ssl);
	return NULL;
}
}

void sk_tls_session_free(struct ssl_session_st *s)
{
	SSL_SESSION_free(s);
}
