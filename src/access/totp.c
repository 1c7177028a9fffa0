/*
 * totp.c — base32, HOTP/TOTP with HMAC-SHA1, verification, secrets sealed with AES-256-GCM, the key
 * file, otpauth:// URIs and QR drawings (see totp.h).
 *
 * Invariants:
 * - OpenSSL algorithms are fetched once per process (pthread_once) and only read afterwards; every call
 *   makes and frees its own EVP_MAC_CTX / EVP_CIPHER_CTX, so any thread may call at any time.
 * - Buffers that held a secret, a code, a key or a plaintext are wiped (explicit_bzero) before they are
 *   freed or go out of scope; nothing is printed or logged here.
 * - A verification costs the same whatever the code: all 2*skew+1 candidates are computed and compared
 *   with sk_ct_eq, and the result is chosen without a branch on the comparison.
 */
#include "access/totp.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define GCM_NONCE 12
#define GCM_TAG 16
#define ENC_PREFIX "enc:"
/* Base64 of the longest sealed value: nonce + SK_TOTP_SECRET_MAX + tag bytes. */
#define SEALED_MAX (GCM_NONCE + SK_TOTP_SECRET_MAX + GCM_TAG)
#define SEALED_B64_MAX (4 * ((SEALED_MAX + 2) / 3))
#define QR_MARGIN 2

static const char B32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

static pthread_once_t algos_once = PTHREAD_ONCE_INIT;
static EVP_MAC *hmac;        /* "HMAC", process lifetime */
static EVP_CIPHER *aes_gcm;  /* "AES-256-GCM", process lifetime */

static void fetch_algos(void)
{
	hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	aes_gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
}

/* True when both algorithms are available (false means a broken OpenSSL install: callers fail closed). */
static bool algos(void)
{
	pthread_once(&algos_once, fetch_algos);
	return hmac && aes_gcm;
}

/* ---- base32 ---------------------------------------------------------------------------------------- */

char *sk_totp_base32_encode(const uint8_t *in, size_t len)
{
	char *out = sk_malloc((len * 8 + 4) / 5 + 1);
	size_t o = 0;
	uint32_t acc = 0;
	unsigned bits = 0;
	for (size_t i = 0; i < len; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			out[o++] = B32[(acc >> bits) & 31];
		}
	}
	if (bits)
		out[o++] = B32[(acc << (5 - bits)) & 31];
	out[o] = '\0';
	return out;
}

/* The 5-bit value of a base32 character (either case), or -1. */
static int b32_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a';
	if (c >= '2' && c <= '7')
		return c - '2' + 26;
	return -1;
}

int sk_totp_base32_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
	size_t data = len;
	while (data > 0 && in[data - 1] == '=')
		data--;
	/* Padding is optional, but when present it completes the last 8-character group. */
	if (data != len && len % 8 != 0)
		return -1;
	/* 8 characters carry 5 bytes; a final group of 1, 3 or 6 characters is no whole number of bytes. */
	size_t rem = data % 8;
	if (rem == 1 || rem == 3 || rem == 6)
		return -1;
	if (data != len && len - data != (size_t[]){ 0, 0, 6, 0, 4, 3, 0, 1 }[rem])
		return -1;
	size_t o = 0;
	uint32_t acc = 0;
	unsigned bits = 0;
	for (size_t i = 0; i < data; i++) {
		int v = b32_value(in[i]);
		if (v < 0)
			return -1;
		acc = (acc << 5) | (uint32_t)v;
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			if (o >= cap)
				return -1;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* The leftover bits must be zero, or two texts would decode to the same bytes. */
	if (bits && (acc & ((1u << bits) - 1)))
		return -1;
	*out_len = o;
	return 0;
}

/* ---- HOTP / TOTP ----------------------------------------------------------------------------------- */

int sk_totp_hotp(const uint8_t *secret, size_t len, uint64_t counter, unsigned digits, char *out)
{
	static const uint32_t pow10[] = { 1000000, 10000000, 100000000 };
	if (digits < 6 || digits > 8 || len == 0 || !algos())
		return -1;
	uint8_t msg[8], mac[EVP_MAX_MD_SIZE];
	for (int i = 7; i >= 0; i--) {
		msg[i] = (uint8_t)counter;
		counter >>= 8;
	}
	size_t mac_len = 0;
	int rc = -1;
	char digest[] = "SHA1";
	OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
				OSSL_PARAM_construct_end() };
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac);
	if (!ctx || EVP_MAC_init(ctx, secret, len, params) != 1 || EVP_MAC_update(ctx, msg, sizeof(msg)) != 1 ||
	    EVP_MAC_final(ctx, mac, &mac_len, sizeof(mac)) != 1 || mac_len != 20)
		goto out;
	/* RFC 4226 §5.3: dynamic truncation. */
	unsigned off = mac[19] & 0x0f;
	uint32_t bin = ((uint32_t)(mac[off] & 0x7f) << 24) | ((uint32_t)mac[off + 1] << 16) |
		       ((uint32_t)mac[off + 2] << 8) | mac[off + 3];
	uint32_t v = bin % pow10[digits - 6];
	for (int i = (int)digits - 1; i >= 0; i--) {
		out[i] = (char)('0' + v % 10);
		v /= 10;
	}
	out[digits] = '\0';
	rc = 0;
out:
	EVP_MAC_CTX_free(ctx);
	explicit_bzero(mac, sizeof(mac));
	return rc;
}

int64_t sk_totp_step(int64_t t)
{
	return t < 0 ? -1 : t / SK_TOTP_PERIOD;
}

int sk_totp_code(const uint8_t *secret, size_t len, int64_t t, unsigned digits, char *out)
{
	if (t < 0)
		return -1;
	return sk_totp_hotp(secret, len, (uint64_t)sk_totp_step(t), digits, out);
}

int sk_totp_verify(const uint8_t *secret, size_t len, const char *code, size_t code_len, int64_t now, unsigned skew,
		   int64_t last_step, int64_t *matched_step)
{
	/* The length and the digit-ness of a presented code are no secret: refuse those early. */
	if (code_len != SK_TOTP_DIGITS || now < 0)
		return 0;
	for (size_t i = 0; i < code_len; i++)
		if (code[i] < '0' || code[i] > '9')
			return 0;
	int64_t step = sk_totp_step(now);
	int64_t best = -1;
	int failed = 0;
	for (int64_t s = step - (int64_t)skew; s <= step + (int64_t)skew; s++) {
		if (s < 0)
			continue;
		char cand[SK_TOTP_DIGITS + 1] = { 0 }; /* zeros never equal a digit, should OpenSSL fail */
		failed |= sk_totp_hotp(secret, len, (uint64_t)s, SK_TOTP_DIGITS, cand);
		int64_t ok = (int64_t)(sk_ct_eq(cand, code, SK_TOTP_DIGITS) & (s > last_step));
		/* best = ok ? s : best, without a branch on the comparison (s only grows, so the latest wins). */
		best = (best & (ok - 1)) | (s & -ok);
		explicit_bzero(cand, sizeof(cand));
	}
	if (failed)
		return -1;
	if (best < 0)
		return 0;
	*matched_step = best;
	return 1;
}

int sk_totp_secret_new(uint8_t secret[SK_TOTP_SECRET_LEN])
{
	size_t got = 0;
	while (got < SK_TOTP_SECRET_LEN) {
		ssize_t n = getrandom(secret + got, SK_TOTP_SECRET_LEN - got, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

/* ---- sealing --------------------------------------------------------------------------------------- */

int sk_totp_seal(const uint8_t key[SK_TOTP_KEY_LEN], const char *user, const uint8_t *secret, size_t len, char **out)
{
	if (len == 0 || len > SK_TOTP_SECRET_MAX || !algos())
		return -1;
	uint8_t raw[SEALED_MAX];
	int rc = -1, n = 0, fin = 0;
	EVP_CIPHER_CTX *ctx = NULL;
	char *text = NULL;
	uint8_t *nonce = raw, *ct = raw + GCM_NONCE;
	/* A random 96-bit nonce per seal: a key seals few secrets (one per enrollment), far from the 2^32
	 * messages where random GCM nonces start to risk a collision. */
	size_t got = 0;
	while (got < GCM_NONCE) {
		ssize_t r = getrandom(nonce + got, GCM_NONCE - got, 0);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			goto out;
		got += (size_t)r;
	}
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx || EVP_EncryptInit_ex2(ctx, aes_gcm, key, nonce, NULL) != 1 ||
	    EVP_EncryptUpdate(ctx, NULL, &n, (const uint8_t *)user, (int)strlen(user)) != 1 ||
	    EVP_EncryptUpdate(ctx, ct, &n, secret, (int)len) != 1 || EVP_EncryptFinal_ex(ctx, ct + n, &fin) != 1 ||
	    (size_t)(n + fin) != len ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, GCM_TAG, ct + len) != 1)
		goto out;
	size_t raw_len = GCM_NONCE + len + GCM_TAG;
	text = sk_malloc(sizeof(ENC_PREFIX) - 1 + 4 * ((raw_len + 2) / 3) + 1);
	memcpy(text, ENC_PREFIX, sizeof(ENC_PREFIX) - 1);
	EVP_EncodeBlock((unsigned char *)text + sizeof(ENC_PREFIX) - 1, raw, (int)raw_len);
	*out = text;
	text = NULL;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	free(text);
	explicit_bzero(raw, sizeof(raw));
	return rc;
}

int sk_totp_open(const uint8_t key[SK_TOTP_KEY_LEN], const char *user, const char *stored, uint8_t *secret, size_t cap,
		 size_t *len)
{
	if (strncmp(stored, ENC_PREFIX, sizeof(ENC_PREFIX) - 1) != 0 || !algos())
		return -1;
	const char *b64 = stored + sizeof(ENC_PREFIX) - 1;
	size_t b64_len = strlen(b64);
	if (b64_len == 0 || b64_len % 4 != 0 || b64_len > SEALED_B64_MAX)
		return -1;
	/* EVP_DecodeBlock skips surrounding blanks; a stored value has none, so they are tampering. */
	for (size_t i = 0; i < b64_len; i++)
		if (b64[i] == ' ' || b64[i] == '\t' || b64[i] == '\r' || b64[i] == '\n')
			return -1;
	uint8_t raw[3 * (SEALED_B64_MAX / 4)], plain[SK_TOTP_SECRET_MAX];
	int rc = -1, n = 0, fin = 0;
	EVP_CIPHER_CTX *ctx = NULL;
	int dec = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)b64_len);
	if (dec < 0)
		goto out;
	/* EVP_DecodeBlock counts the bytes the padding stands for; take them back off. */
	size_t raw_len = (size_t)dec - (b64[b64_len - 1] == '=') - (b64[b64_len - 2] == '=');
	if (raw_len <= GCM_NONCE + GCM_TAG || raw_len > SEALED_MAX)
		goto out;
	size_t ct_len = raw_len - GCM_NONCE - GCM_TAG;
	if (ct_len > cap)
		goto out;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx || EVP_DecryptInit_ex2(ctx, aes_gcm, key, raw, NULL) != 1 ||
	    EVP_DecryptUpdate(ctx, NULL, &n, (const uint8_t *)user, (int)strlen(user)) != 1 ||
	    EVP_DecryptUpdate(ctx, plain, &n, raw + GCM_NONCE, (int)ct_len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, GCM_TAG, raw + GCM_NONCE + ct_len) != 1 ||
	    EVP_DecryptFinal_ex(ctx, plain + n, &fin) != 1 || (size_t)(n + fin) != ct_len)
		goto out;
	memcpy(secret, plain, ct_len);
	*len = ct_len;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	explicit_bzero(raw, sizeof(raw));
	explicit_bzero(plain, sizeof(plain));
	return rc;
}

/* ---- the key file ---------------------------------------------------------------------------------- */

/* Reads exactly n bytes from fd. Returns 0, or -1 (errno set; 0 bytes more than EOF gives EMSGSIZE). */
static int read_all(int fd, uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t r = read(fd, p, n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return -1;
		if (r == 0) {
			errno = EMSGSIZE;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int sk_totp_key_load(const char *path, uint8_t key[SK_TOTP_KEY_LEN], struct sk_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd == -1)
		return sk_err_set(err, path, 0, 0, "cannot open the TOTP key file: %s", strerror(errno));
	int rc = -1;
	struct stat st;
	if (fstat(fd, &st) == -1) {
		sk_err_set(err, path, 0, 0, "cannot stat the TOTP key file: %s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		sk_err_set(err, path, 0, 0, "the TOTP key file is not a regular file");
		goto out;
	}
	if (st.st_mode & 0177) {
		sk_err_set(err, path, 0, 0, "the TOTP key file has mode %04o: it must be 0600 or stricter (chmod 600 %s)",
			   (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	if (st.st_size != SK_TOTP_KEY_LEN) {
		sk_err_set(err, path, 0, 0, "the TOTP key file holds %lld bytes: it must hold exactly %d random bytes",
			   (long long)st.st_size, SK_TOTP_KEY_LEN);
		goto out;
	}
	if (read_all(fd, key, SK_TOTP_KEY_LEN) == -1) {
		sk_err_set(err, path, 0, 0, "cannot read the TOTP key file: %s", strerror(errno));
		explicit_bzero(key, SK_TOTP_KEY_LEN);
		goto out;
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

/* fsyncs the directory holding path, so a new name in it survives a crash. Best effort. */
static void sync_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? sk_slice_dup((struct sk_slice){ .ptr = path, .len = slash == path ? 1 : (size_t)(slash - path) })
			  : sk_strdup(".");
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd != -1) {
		fsync(fd);
		close(fd);
	}
	free(dir);
}

int sk_totp_key_create(const char *path, uint8_t key[SK_TOTP_KEY_LEN], bool *created, struct sk_err *err)
{
	*created = false;
	struct stat st;
	if (stat(path, &st) == 0 || errno != ENOENT)
		return sk_totp_key_load(path, key, err);

	int rc = -1, fd = -1;
	size_t tl = strlen(path) + sizeof(".tmp.XXXXXX");
	char *tmp = sk_malloc(tl);
	snprintf(tmp, tl, "%s.tmp.XXXXXX", path);
	/* mkstemp creates the file 0600, exclusively. */
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd == -1) {
		sk_err_set(err, path, 0, 0, "cannot create the TOTP key file: %s", strerror(errno));
		free(tmp);
		return -1;
	}
	size_t got = 0;
	while (got < SK_TOTP_KEY_LEN) {
		ssize_t r = getrandom(key + got, SK_TOTP_KEY_LEN - got, 0);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			sk_err_set(err, path, 0, 0, "getrandom: %s", strerror(errno));
			goto out;
		}
		got += (size_t)r;
	}
	size_t put = 0;
	while (put < SK_TOTP_KEY_LEN) {
		ssize_t w = write(fd, key + put, SK_TOTP_KEY_LEN - put);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1) {
			sk_err_set(err, path, 0, 0, "cannot write the TOTP key file: %s", strerror(errno));
			goto out;
		}
		put += (size_t)w;
	}
	if (fchmod(fd, 0600) == -1 || fsync(fd) == -1) {
		sk_err_set(err, path, 0, 0, "cannot write the TOTP key file: %s", strerror(errno));
		goto out;
	}
	/* link, not rename: when another enroll created the key meanwhile, theirs stays and is used. */
	if (link(tmp, path) == -1) {
		if (errno != EEXIST) {
			sk_err_set(err, path, 0, 0, "cannot create the TOTP key file: %s", strerror(errno));
			goto out;
		}
		rc = sk_totp_key_load(path, key, err);
		goto out;
	}
	sync_dir(path);
	*created = true;
	rc = 0;
out:
	if (rc != 0)
		explicit_bzero(key, SK_TOTP_KEY_LEN);
	close(fd);
	unlink(tmp);
	free(tmp);
	return rc;
}

/* ---- otpauth:// ------------------------------------------------------------------------------------ */

/* Appends s percent-encoded (RFC 3986: unreserved characters kept) at p; returns the new end. */
static char *pct(char *p, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~') {
			*p++ = (char)c;
		} else {
			*p++ = '%';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		}
	}
	return p;
}

char *sk_totp_uri(const char *issuer, const char *user, const uint8_t *secret, size_t len)
{
	static const char scheme[] = "otpauth://totp/", q_secret[] = "?secret=", q_issuer[] = "&issuer=";
	char *b32 = sk_totp_base32_encode(secret, len);
	size_t b32_len = strlen(b32);
	size_t cap = sizeof(scheme) + 6 * strlen(issuer) + 1 + 3 * strlen(user) + sizeof(q_secret) + b32_len +
		     sizeof(q_issuer) + 1;
	char *uri = sk_malloc(cap), *p = uri;
	memcpy(p, scheme, sizeof(scheme) - 1);
	p = pct(p + sizeof(scheme) - 1, issuer);
	*p++ = ':';
	p = pct(p, user);
	memcpy(p, q_secret, sizeof(q_secret) - 1);
	p += sizeof(q_secret) - 1;
	memcpy(p, b32, b32_len);
	p += b32_len;
	memcpy(p, q_issuer, sizeof(q_issuer) - 1);
	p = pct(p + sizeof(q_issuer) - 1, issuer);
	*p = '\0';
	SK_ASSERT((size_t)(p - uri) < cap);
	explicit_bzero(b32, b32_len);
	free(b32);
	return uri;
}

/* ---- QR codes -------------------------------------------------------------------------------------- */

/* Whether module (x, y) is dark; anything outside the symbol is the (light) quiet zone. */
static bool dark(const QRcode *qr, int x, int y)
{
	return x >= 0 && y >= 0 && x < qr->width && y < qr->width && (qr->data[y * qr->width + x] & 1);
}

static QRcode *encode(const char *text)
{
	return QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
}

char *sk_totp_qr_utf8(const char *text)
{
	QRcode *qr = encode(text);
	if (!qr)
		return NULL;
	int w = qr->width;
	int cols = w + 2 * QR_MARGIN;
	/* Lines: one per two module rows from -QR_MARGIN up to w + QR_MARGIN, rounded up (w is odd), which is
	 * how qrencode's UTF8 writer lays them out; each character takes at most 3 bytes. */
	int lines = (w + 2 * QR_MARGIN + 1) / 2;
	size_t cap = (size_t)lines * ((size_t)cols * 3 + 1) + 1;
	char *out = sk_malloc(cap), *p = out;
	for (int y = -QR_MARGIN; y < w + QR_MARGIN; y += 2) {
		for (int x = -QR_MARGIN; x < w + QR_MARGIN; x++) {
			bool top = dark(qr, x, y), bottom = dark(qr, x, y + 1);
			const char *c = top && bottom ? "\u2588" : top ? "\u2580" : bottom ? "\u2584" : " ";
			size_t n = strlen(c);
			memcpy(p, c, n);
			p += n;
		}
		*p++ = '\n';
	}
	*p = '\0';
	SK_ASSERT((size_t)(p - out) < cap);
	QRcode_free(qr);
	return out;
}

char *sk_totp_qr_pbm(const char *text, unsigned scale)
{
	QRcode *qr = encode(text);
	if (!qr)
		return NULL;
	if (scale == 0)
		scale = 1;
	unsigned side = ((unsigned)qr->width + 2 * QR_MARGIN) * scale;
	size_t cap = 32 + (size_t)side * (side + 1) + 1;
	char *out = sk_malloc(cap);
	int p = snprintf(out, cap, "P1\n%u %u\n", side, side);
	for (unsigned py = 0; py < side; py++) {
		int y = (int)(py / scale) - QR_MARGIN;
		for (unsigned px = 0; px < side; px++)
			out[p++] = dark(qr, (int)(px / scale) - QR_MARGIN, y) ? '1' : '0';
		out[p++] = '\n';
	}
	out[p] = '\0';
	SK_ASSERT((size_t)p < cap);
	QRcode_free(qr);
	return out;
}
