/*
 * cert.c — one `certificates:` entry in memory: the leaf, its intermediates, its private key, and what
 * an operator wants to see of it (subject, DNS names, not-after).
 *
 * The cert file may hold the leaf alone or the leaf followed by intermediates (a "fullchain" file, as
 * nginx and certbot write it); a chain file adds more intermediates after those. The key must be the
 * leaf's. Nothing here depends on a listener: server.c builds contexts from loaded certificates.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tls/tls.h"

void sk_tls_last_error(char *buf, size_t cap)
{
	unsigned long e = ERR_peek_error();
	if (cap)
		buf[0] = '\0';
	if (e && cap) {
		const char *reason = ERR_reason_error_string(e);
		snprintf(buf, cap, "%s", reason ? reason : "unknown OpenSSL error");
	}
	ERR_clear_error();
}

/* Reads every PEM certificate of path: the first into *leaf, the rest appended to chain. */
static int read_certs(const char *path, X509 **leaf, STACK_OF(X509) *chain, const char *what, struct sk_err *err)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return sk_err_set(err, path, 0, 0, "cannot open %s: %s", what, strerror(errno));
	int n = 0;
	X509 *x;
	while ((x = PEM_read_X509(f, NULL, NULL, NULL))) {
		if (leaf && !*leaf)
			*leaf = x;
		else
			sk_X509_push(chain, x);
		n++;
	}
	unsigned long e = ERR_peek_last_error();
	/* The loop ends with "no start line" at the end of the file: that one is expected. */
	bool eof = ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
	char why[160];
	sk_tls_last_error(why, sizeof(why));
	fclose(f);
	if (n == 0)
		return sk_err_set(err, path, 0, 0, "no valid PEM certificate in this %s file%s%s%s", what,
				  e && !eof ? " (" : "", e && !eof ? why : "", e && !eof ? ")" : "");
	if (e && !eof)
		return sk_err_set(err, path, 0, 0, "bad PEM certificate in this %s file: %s", what, why);
	return 0;
}

static EVP_PKEY *read_key(const char *path, struct sk_err *err)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		sk_err_set(err, path, 0, 0, "cannot open key: %s", strerror(errno));
		return NULL;
	}
	EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, (void *)"");
	fclose(f);
	if (!k) {
		char why[160];
		sk_tls_last_error(why, sizeof(why));
		sk_err_set(err, path, 0, 0, "no usable PEM private key (%s; encrypted keys are not supported)", why);
	}
	return k;
}

static void add_name(struct sk_tls_cert *c, const char *s, size_t n)
{
	if (n == 0 || memchr(s, '\0', n))
		return;
	char *v = sk_malloc(n + 1);
	for (size_t i = 0; i < n; i++)
		v[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] + 32) : s[i];
	v[n] = '\0';
	c->names = sk_realloc(c->names, (c->n_names + 1) * sizeof(*c->names));
	c->names[c->n_names++] = v;
}

static void read_names(struct sk_tls_cert *c)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(c->leaf, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		if (g->type == GEN_DNS)
			add_name(c, (const char *)ASN1_STRING_get0_data(g->d.dNSName),
				 (size_t)ASN1_STRING_length(g->d.dNSName));
	}
	GENERAL_NAMES_free(gens);
	if (c->n_names == 0) { /* no DNS SAN: the subject CN, as old clients did */
		X509_NAME *sn = X509_get_subject_name(c->leaf);
		int idx = X509_NAME_get_index_by_NID(sn, NID_commonName, -1);
		if (idx >= 0) {
			ASN1_STRING *d = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(sn, idx));
			unsigned char *u = NULL;
			int n = ASN1_STRING_to_UTF8(&u, d);
			if (n > 0)
				add_name(c, (const char *)u, (size_t)n);
			OPENSSL_free(u);
		}
	}
}

static int64_t asn1_time_unix(const ASN1_TIME *t)
{
	struct tm tm;
	if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return (int64_t)timegm(&tm);
}

int sk_tls_cert_load(struct sk_tls_cert *c, const char *name, const char *cert_file, const char *key_file,
		     const char *chain_file, struct sk_err *err)
{
	*c = (struct sk_tls_cert){ .name = sk_strdup(name) };
	c->chain = sk_X509_new_null();
	if (read_certs(cert_file, &c->leaf, c->chain, "certificate", err) == -1)
		goto fail;
	if (chain_file && read_certs(chain_file, NULL, c->chain, "chain", err) == -1)
		goto fail;
	if (!(c->key = read_key(key_file, err)))
		goto fail;
	if (X509_check_private_key(c->leaf, c->key) != 1) {
		ERR_clear_error();
		sk_err_set(err, key_file, 0, 0, "this key does not match the certificate %s", cert_file);
		goto fail;
	}
	X509_NAME_oneline(X509_get_subject_name(c->leaf), c->subject, sizeof(c->subject));
	{
		/* RFC 2253 order reads better ("CN=a,O=b") than oneline's "/O=b/CN=a". */
		BIO *b = BIO_new(BIO_s_mem());
		if (b && X509_NAME_print_ex(b, X509_get_subject_name(c->leaf), 0, XN_FLAG_RFC2253) >= 0) {
			int n = BIO_read(b, c->subject, (int)sizeof(c->subject) - 1);
			c->subject[n > 0 ? n : 0] = '\0';
		}
		BIO_free(b);
	}
	read_names(c);
	c->not_after = asn1_time_unix(X509_get0_notAfter(c->leaf));
	return 0;
fail:
	sk_tls_cert_fini(c);
	return -1;
}

void sk_tls_cert_fini(struct sk_tls_cert *c)
{
	X509_free(c->leaf);
	if (c->chain)
		sk_X509_pop_free(c->chain, X509_free);
	EVP_PKEY_free(c->key);
	for (size_t i = 0; i < c->n_names; i++)
		free(c->names[i]);
	free(c->names);
	free(c->name);
	*c = (struct sk_tls_cert){ 0 };
}

int sk_tls_cert_check_chain(const struct sk_tls_cert *c, char *note, size_t cap, struct sk_err *err)
{
	X509 *child = c->leaf;
	int n = sk_X509_num(c->chain);
	for (int i = 0; i < n; i++) {
		X509 *issuer = sk_X509_value(c->chain, i);
		EVP_PKEY *pk = X509_get0_pubkey(issuer);
		if (X509_check_issued(issuer, child) != X509_V_OK || !pk || X509_verify(child, pk) != 1) {
			ERR_clear_error();
			char s[256];
			X509_NAME_oneline(X509_get_subject_name(child), s, sizeof(s));
			return sk_err_set(err, "", 0, 0, "the chain is broken: certificate %d (%s) is not signed by the next one",
					  i, s);
		}
		child = issuer;
	}
	/* Then a full verification against the system trust store (and a root included in the chain). */
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509_STORE_set_default_paths(store);
	for (int i = 0; i < n; i++) {
		X509 *x = sk_X509_value(c->chain, i);
		if (X509_check_issued(x, x) == X509_V_OK)
			X509_STORE_add_cert(store, x);
	}
	X509_STORE_CTX_init(ctx, store, c->leaf, c->chain);
	int ok = X509_verify_cert(ctx);
	int e = X509_STORE_CTX_get_error(ctx);
	if (ok == 1)
		snprintf(note, cap, "the chain verifies up to a trusted root");
	else if (e == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY || e == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
		 e == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN || e == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT)
		snprintf(note, cap, "the chain is consistent; its root is not in the system trust store (a private CA)");
	else if (e == X509_V_ERR_CERT_HAS_EXPIRED || e == X509_V_ERR_CERT_NOT_YET_VALID)
		snprintf(note, cap, "the chain is consistent, but: %s", X509_verify_cert_error_string(e));
	else
		snprintf(note, cap, "the chain is consistent; verification says: %s", X509_verify_cert_error_string(e));
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	ERR_clear_error();
	return 0;
}

int64_t sk_tls_days_left(int64_t not_after, int64_t now)
{
	int64_t d = not_after - now;
	return d >= 0 ? d / 86400 : -((-d + 86399) / 86400);
}

void sk_tls_cert_names(const struct sk_tls_cert *c, char *out, size_t cap)
{
	size_t o = 0;
	if (cap)
		out[0] = '\0';
	for (size_t i = 0; i < c->n_names && o < cap; i++) {
		int k = snprintf(out + o, cap - o, "%s%s", i ? ", " : "", c->names[i]);
		o += k > 0 ? (size_t)k : 0;
	}
}

void sk_tls_format_time(int64_t t, char *out, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, cap, "%Y-%m-%d %H:%M:%S UTC", &tm);
}
