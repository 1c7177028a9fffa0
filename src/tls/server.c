/*
 * server.c — the TLS side of one listener: one SSL_CTX per listed certificate, all configured alike
 * (protocols, ciphers, ALPN, tickets, client certificates), the first being the default.
 *
 * Every connection starts on the first context; the server-name callback then switches it to the
 * context of the certificate that sk_tls_sni_pick chooses. OpenSSL keeps the protocol versions, cipher
 * list, ticket keys and session id context of the first context, and takes the certificate, ALPN
 * callback, trust store and client-CA list from the switched one, which is why every context carries
 * the same settings.
 *
 * Client certificates (`tls.client_ca`): requested, never required, and never a reason to fail the
 * handshake: the HTTP layer decides (behaviors without client_cert still serve these viewers, and an
 * untrusted certificate gets a 401 rather than a TLS alert the browser shows as a broken site).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "core/log.h"
#include "tls/tls.h"
#include "tls/tls_int.h"

/* Modern TLS 1.2 suites (forward secrecy, AEAD only); TLS 1.3 keeps OpenSSL's default suites. */
#define DEFAULT_CIPHERS                                                                            \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"  \
	"ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/* ALPN protocols offered, in preference order (wire format): h2 first unless the listener says
 * `http2: false` (DESIGN §2 "HTTP/2"). The select callback's argument is the list. */
static const unsigned char alpn_h2[] = "\x02h2\x08http/1.1";
static const unsigned char alpn_h1[] = "\x08http/1.1";

struct sk_tls_server {
	size_t n;
	SSL_CTX **ctx;         /* parallel to the listener's certificates */
	char ***names;         /* copies of each certificate's names, for SNI */
	size_t *n_names;
};

static int alpn_cb(SSL *s, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
		   unsigned int inlen, void *arg)
{
	unsigned char *sel = NULL;
	const unsigned char *protos = arg;
	unsigned int plen = protos == alpn_h2 ? sizeof(alpn_h2) - 1 : sizeof(alpn_h1) - 1;
	if (SSL_select_next_proto(&sel, outlen, protos, plen, in, inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK; /* no common protocol: go on without ALPN, like nginx */
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

static int sni_cb(SSL *ssl, int *alert, void *arg)
{
	const struct sk_tls_server *s = arg;
	const char *host = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	size_t i = sk_tls_sni_pick((const char *const *const *)s->names, s->n_names, s->n, host);
	if (i != 0 && !SSL_set_SSL_CTX(ssl, s->ctx[i]))
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	return SSL_TLSEXT_ERR_OK;
}

/* Client certificates are judged by the HTTP layer (see the file comment): record, never abort. */
static int verify_keep_going(int ok, X509_STORE_CTX *x)
{
	return 1;
}

/* A session id context that changes when what a resumed session vouches for changes: the listener and
 * the client CAs (a ticket must not carry a client certificate past a change of trusted CAs). */
static void session_context(const struct sk_listener *l, unsigned char out[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	EVP_DigestUpdate(md, l->name, strlen(l->name) + 1);
	if (l->tls.client_ca) {
		FILE *f = fopen(l->tls.client_ca, "rb");
		char buf[4096];
		size_t k;
		while (f && (k = fread(buf, 1, sizeof(buf), f)) > 0)
			EVP_DigestUpdate(md, buf, k);
		if (f)
			fclose(f);
	}
	unsigned int n = 32;
	EVP_DigestFinal_ex(md, out, &n);
	EVP_MD_CTX_free(md);
}

static SSL_CTX *make_ctx(const struct sk_config *cfg, const struct sk_listener *l, const struct sk_tls_cert *c,
			 X509_STORE *client_store, const unsigned char sid[32], struct sk_err *err)
{
	char why[200];
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		sk_tls_last_error(why, sizeof(why));
		sk_err_set(err, cfg->path, l->pos.line, l->pos.col, "listener '%s': SSL_CTX_new: %s", l->name, why);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, l->tls.min_tls13 ? TLS1_3_VERSION : TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION |
					 SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SK_TLS_MODES);
	/* Read-ahead: one read(2) takes every record the socket holds (a resumed handshake's client flight
	 * and the request arrive together) instead of two per record, 5-byte header then body (12 reads per
	 * Connection: close request without it, 7 with it). Edge-triggered readiness stays sound: a
	 * WANT_READ still means the socket itself said EAGAIN, and the connection keeps reading until one. */
	SSL_CTX_set_read_ahead(ctx, 1);
	if (SSL_CTX_set_cipher_list(ctx, l->tls.ciphers ? l->tls.ciphers : DEFAULT_CIPHERS) != 1) {
		sk_tls_last_error(why, sizeof(why));
		sk_err_set(err, cfg->path, l->pos.line, l->pos.col, "listener '%s': 'ciphers' %s selects no cipher (%s)",
			   l->name, l->tls.ciphers ? l->tls.ciphers : DEFAULT_CIPHERS, why);
		goto fail;
	}
	if (SSL_CTX_use_certificate(ctx, c->leaf) != 1 || SSL_CTX_use_PrivateKey(ctx, c->key) != 1) {
		sk_tls_last_error(why, sizeof(why));
		sk_err_set(err, cfg->path, l->pos.line, l->pos.col, "listener '%s': certificate '%s': %s", l->name,
			   c->name, why);
		goto fail;
	}
	for (int i = 0; i < sk_X509_num(c->chain); i++) {
		if (SSL_CTX_add1_chain_cert(ctx, sk_X509_value(c->chain, i)) != 1) {
			sk_tls_last_error(why, sizeof(why));
			sk_err_set(err, cfg->path, l->pos.line, l->pos.col, "listener '%s': chain of '%s': %s", l->name,
				   c->name, why);
			goto fail;
		}
	}
	SSL_CTX_set_session_id_context(ctx, sid, 32);
	/* Resumption is stateless (tickets); no per-context session cache to grow. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 1);
	sk_tls_tickets_attach(ctx);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, (void *)(l->http2 ? alpn_h2 : alpn_h1));
	if (client_store) {
		SSL_CTX_set1_cert_store(ctx, client_store);
		STACK_OF(X509_NAME) *cas = SSL_load_client_CA_file(l->tls.client_ca);
		if (!cas) {
			sk_tls_last_error(why, sizeof(why));
			sk_err_set(err, l->tls.client_ca, 0, 0, "listener '%s': no CA certificate in client_ca (%s)",
				   l->name, why);
			goto fail;
		}
		SSL_CTX_set_client_CA_list(ctx, cas);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_keep_going);
		SSL_CTX_set_verify_depth(ctx, 8);
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

struct sk_tls_server *sk_tls_server_new(const struct sk_config *cfg, const struct sk_listener *l,
					const struct sk_tls_cert *certs, struct sk_err *err)
{
	struct sk_tls_server *s = sk_calloc(1, sizeof(*s));
	size_t n = l->tls.certificates.n;
	s->ctx = sk_calloc(n, sizeof(*s->ctx));
	s->names = sk_calloc(n, sizeof(*s->names));
	s->n_names = sk_calloc(n, sizeof(*s->n_names));
	X509_STORE *store = NULL;
	unsigned char sid[32];
	session_context(l, sid);
	if (l->tls.client_ca) {
		store = X509_STORE_new();
		if (X509_STORE_load_file(store, l->tls.client_ca) != 1) {
			char why[200];
			sk_tls_last_error(why, sizeof(why));
			sk_err_set(err, l->tls.client_ca, 0, 0, "listener '%s': cannot load client_ca: %s", l->name, why);
			goto fail;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const struct sk_certificate *cc = sk_config_certificate(cfg, l->tls.certificates.items[i]);
		SK_ASSERT(cc); /* the config loader checked the name */
		const struct sk_tls_cert *c = &certs[cc - cfg->certificates];
		s->ctx[i] = make_ctx(cfg, l, c, store, sid, err);
		if (!s->ctx[i]) {
			s->n = i;
			goto fail;
		}
		s->names[i] = sk_calloc(c->n_names ? c->n_names : 1, sizeof(char *));
		for (size_t k = 0; k < c->n_names; k++)
			s->names[i][k] = sk_strdup(c->names[k]);
		s->n_names[i] = c->n_names;
		s->n = i + 1;
	}
	SSL_CTX_set_tlsext_servername_callback(s->ctx[0], sni_cb);
	SSL_CTX_set_tlsext_servername_arg(s->ctx[0], s);
	X509_STORE_free(store);
	return s;
fail:
	X509_STORE_free(store);
	sk_tls_server_free(s);
	return NULL;
}

void sk_tls_server_free(struct sk_tls_server *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		SSL_CTX_free(s->ctx[i]);
		for (size_t k = 0; k < s->n_names[i]; k++)
			free(s->names[i][k]);
		free(s->names[i]);
	}
	free(s->ctx);
	free(s->names);
	free(s->n_names);
	free(s);
}

struct ssl_st *sk_tls_server_ssl(const struct sk_tls_server *s, int fd)
{
	SSL *ssl = SSL_new(s->ctx[0]);
	if (!ssl || SSL_set_fd(ssl, fd) != 1) {
		char why[200];
		sk_tls_last_error(why, sizeof(why));
		sk_error("TLS: cannot set up a connection: %s", why);
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_accept_state(ssl);
	return ssl;
}

bool sk_tls_alpn_h2(const struct ssl_st *ssl)
{
	const unsigned char *p = NULL;
	unsigned int n = 0;
	SSL_get0_alpn_selected(ssl, &p, &n);
	return n == 2 && p[0] == 'h' && p[1] == '2';
}
