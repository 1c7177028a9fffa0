/*
 * io.c — non-blocking I/O on one SSL, with results shaped like the syscalls it replaces (see tls.h).
 *
 * Edge-triggered readiness stays sound: SSL_ERROR_WANT_READ means the socket itself returned EAGAIN (a
 * fresh edge will come; also with the viewer side's read-ahead, as OpenSSL asks the socket only when it
 * holds no whole record), and a read that returned data may leave more records in the socket or in
 * OpenSSL's read-ahead buffer, which the caller reads on (it never assumes a short read drained).
 * A read may need to write (and a write to read) during a handshake or a key update: that is reported as
 * SK_TLS_WAIT_OTHER, and the caller keeps its readiness flag and waits for the other direction.
 *
 * Writes: SSL_MODE_ENABLE_PARTIAL_WRITE returns after each record; small slices (a head, chunk framing)
 * are first copied into one buffer so that they leave as one record rather than one record each. A
 * retried write is presented with the same leading bytes and at least the same length, as OpenSSL
 * requires (the caller only retries with its unchanged, or grown, queue).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tls/tls.h"

#define COALESCE 16384 /* one TLS record */
#define DIRECT 4096    /* a first slice at least this big is written in place */

static _Thread_local unsigned char wbuf[COALESCE];

/* After a fatal error OpenSSL must not send close_notify: make later shutdowns silent. */
static int failed(SSL *ssl)
{
	SSL_set_quiet_shutdown(ssl, 1);
	ERR_clear_error();
	return SK_TLS_ERROR;
}

int sk_tls_handshake(struct ssl_st *ssl, char *why, size_t cap)
{
	ERR_clear_error();
	int r = SSL_do_handshake(ssl);
	if (r == 1)
		return 1;
	int e = SSL_get_error(ssl, r);
	if (e == SSL_ERROR_WANT_READ)
		return SK_TLS_WAIT;
	if (e == SSL_ERROR_WANT_WRITE)
		return SK_TLS_WAIT_OTHER;
	long v = SSL_get_verify_result(ssl);
	if (BIO_number_read(SSL_get_rbio(ssl)) == 0 && (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN)) {
		why[0] = '\0'; /* closed before saying anything: a port probe, not a failed handshake */
		failed(ssl);
		return 0;
	}
	if (!SSL_is_server(ssl) && v != X509_V_OK)
		snprintf(why, cap, "certificate verify failed: %s", X509_verify_cert_error_string(v));
	else if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && errno == 0))
		snprintf(why, cap, "connection closed during the handshake");
	else if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
		snprintf(why, cap, "%s", strerror(errno));
	else
		sk_tls_last_error(why, cap);
	if (!why[0])
		snprintf(why, cap, "handshake failed");
	return failed(ssl);
}

ssize_t sk_tls_read(struct ssl_st *ssl, void *buf, size_t n)
{
	size_t got = 0;
	ERR_clear_error();
	if (SSL_read_ex(ssl, buf, n, &got) == 1)
		return (ssize_t)got;
	switch (SSL_get_error(ssl, 0)) {
	case SSL_ERROR_WANT_READ:
		return SK_TLS_WAIT;
	case SSL_ERROR_WANT_WRITE:
		return SK_TLS_WAIT_OTHER;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	default:
		return failed(ssl);
	}
}

ssize_t sk_tls_writev(struct ssl_st *ssl, const struct iovec *iov, int iovcnt)
{
	const void *p;
	size_t len;
	if (iovcnt == 1 || iov[0].iov_len >= DIRECT) {
		p = iov[0].iov_base;
		len = iov[0].iov_len;
	} else {
		len = 0;
		for (int i = 0; i < iovcnt && len < COALESCE; i++) {
			size_t k = SK_MIN(iov[i].iov_len, (size_t)COALESCE - len);
			memcpy(wbuf + len, iov[i].iov_base, k);
			len += k;
		}
		p = wbuf;
	}
	if (len == 0)
		return 0;
	size_t done = 0;
	ERR_clear_error();
	if (SSL_write_ex(ssl, p, len, &done) == 1)
		return (ssize_t)done;
	switch (SSL_get_error(ssl, 0)) {
	case SSL_ERROR_WANT_WRITE:
		return SK_TLS_WAIT;
	case SSL_ERROR_WANT_READ:
		return SK_TLS_WAIT_OTHER;
	default:
		return failed(ssl);
	}
}

void sk_tls_shutdown(struct ssl_st *ssl)
{
	if (!SSL_is_init_finished(ssl))
		return;
	ERR_clear_error();
	SSL_shutdown(ssl);
	ERR_clear_error();
}

void sk_tls_free(struct ssl_st *ssl)
{
	/* OpenSSL makes the session of a connection freed without a shutdown unresumable. A connection that
	 * did not fail (an idle one closed, or one the peer ended) keeps its session good for the next. */
	if (!ssl)
		return;
	if (!SSL_get_quiet_shutdown(ssl) && SSL_is_init_finished(ssl))
		SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_free(ssl);
}

bool sk_tls_resumed(const struct ssl_st *ssl)
{
	return SSL_session_reused((SSL *)ssl) == 1;
}

bool sk_tls_pending(const struct ssl_st *ssl)
{
	return SSL_pending(ssl) > 0;
}

bool sk_tls_buffered(const struct ssl_st *ssl)
{
	return SSL_has_pending(ssl) == 1;
}

/* Appends s (n bytes, no NUL or control characters) as one identity; false when it does not fit. */
static bool put_identity(char *out, size_t cap, size_t *o, const unsigned char *s, int n)
{
	if (n <= 0 || (size_t)n + 2 > cap - *o)
		return false;
	for (int i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] == 0x7f)
			return false;
	memcpy(out + *o, s, (size_t)n);
	*o += (size_t)n;
	out[(*o)++] = '\0';
	return true;
}

enum sk_tls_peer sk_tls_peer_identity(const struct ssl_st *ssl, char *out, size_t cap)
{
	SK_ASSERT(cap >= 2);
	out[0] = out[1] = '\0';
	X509 *peer = SSL_get0_peer_certificate(ssl);
	if (!peer)
		return SK_TLS_PEER_NONE;
	if (SSL_get_verify_result(ssl) != X509_V_OK)
		return SK_TLS_PEER_UNTRUSTED;
	size_t o = 0;
	X509_NAME *sn = X509_get_subject_name(peer);
	int idx = X509_NAME_get_index_by_NID(sn, NID_commonName, -1);
	if (idx >= 0) {
		unsigned char *u = NULL;
		int n = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(sn, idx)));
		put_identity(out, cap, &o, u, n);
		OPENSSL_free(u);
	}
	GENERAL_NAMES *gens = X509_get_ext_d2i(peer, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		if (g->type == GEN_EMAIL)
			put_identity(out, cap, &o, ASN1_STRING_get0_data(g->d.rfc822Name),
				     ASN1_STRING_length(g->d.rfc822Name));
	}
	GENERAL_NAMES_free(gens);
	out[o] = '\0';
	return SK_TLS_PEER_VERIFIED;
}
