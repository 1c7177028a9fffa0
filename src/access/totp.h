/*
 * totp.h — the second factor's mechanics (DESIGN §3 "TOTP", §6 `sekisho totp enroll`): base32, HOTP
 * (RFC 4226) and TOTP (RFC 6238) with HMAC-SHA1, verification with a skew window and replay refusal,
 * the encryption of secrets at rest (AES-256-GCM under the `totp.key_file` key), the otpauth:// URI and
 * its QR code.
 *
 * Invariants:
 * - Everything here is a pure function of its arguments, except the key-file functions (file I/O) and
 *   sk_totp_key_create / sk_totp_secret_new (getrandom). Any thread may call any of them at any time:
 *   the HMAC and the cipher are fetched once, and each call has its own OpenSSL context.
 * - Nothing here prints or logs; no error message ever holds a secret, a code or a key.
 * - A stored secret is "enc:" + base64(nonce(12) || ciphertext || tag(16)), authenticated with the user
 *   name as associated data: a secret copied to another user's entry, or altered in any byte, does not
 *   open.
 */
#ifndef SK_TOTP_H
#define SK_TOTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#define SK_TOTP_PERIOD 30     /* seconds per step (RFC 6238 X) */
#define SK_TOTP_DIGITS 6      /* digits of the codes sekisho accepts */
#define SK_TOTP_SECRET_LEN 20 /* bytes of a new secret (RFC 4226 recommends 160 bits) */
#define SK_TOTP_SECRET_MAX 64 /* the longest secret sk_totp_open hands out */
#define SK_TOTP_KEY_LEN 32    /* AES-256 key in totp.key_file */

/* Base32 (RFC 4648 §6) of in[0..len), upper case, without padding: a heap string (caller frees). */
char *sk_totp_base32_encode(const uint8_t *in, size_t len);
/*
 * Decodes base32 text in[0..len) into out (cap bytes). Accepts either case, and '=' padding only at the
 * end; refuses any other character, a length no encoder produces, and non-zero trailing bits.
 * Returns 0 with *out_len set, or -1 (out may hold partial output then).
 */
int sk_totp_base32_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len);

/* HOTP (RFC 4226) of counter with HMAC-SHA1: digits (6..8) decimal digits and a NUL into out.
 * Returns 0, or -1 when OpenSSL fails or digits is out of range. */
int sk_totp_hotp(const uint8_t *secret, size_t len, uint64_t counter, unsigned digits, char *out);
/* The TOTP step of unix time t (floor(t / 30)); -1 for a time before 1970. */
int64_t sk_totp_step(int64_t t);
/* TOTP (RFC 6238, SHA-1, 30 s steps, T0 = 0) at unix time t >= 0: the HOTP of sk_totp_step(t). */
int sk_totp_code(const uint8_t *secret, size_t len, int64_t t, unsigned digits, char *out);

/*
 * Checks a 6-digit code (code[0..code_len), not NUL-terminated) against the steps of now - skew .. now +
 * skew steps. A step <= last_step is refused, so a code is accepted once (pass -1 when none was accepted
 * yet). Every candidate step is computed and compared in constant time, whatever matches.
 * Returns 1 and *matched_step (the latest matching step) on a match, 0 otherwise, -1 when OpenSSL fails
 * (callers treat anything but 1 as a failure).
 */
int sk_totp_verify(const uint8_t *secret, size_t len, const char *code, size_t code_len, int64_t now, unsigned skew,
		   int64_t last_step, int64_t *matched_step);

/* SK_TOTP_SECRET_LEN random bytes into secret (getrandom). Returns 0 or -1 (errno set). */
int sk_totp_secret_new(uint8_t secret[SK_TOTP_SECRET_LEN]);

/*
 * Encrypts secret[0..len) (1..SK_TOTP_SECRET_MAX bytes) for user: *out is a heap string "enc:..." (caller
 * frees). Returns 0 or -1 (OpenSSL or randomness failure, bad length).
 */
int sk_totp_seal(const uint8_t key[SK_TOTP_KEY_LEN], const char *user, const uint8_t *secret, size_t len, char **out);
/*
 * Decrypts a stored "enc:..." value of user into secret (cap bytes). Returns 0 with *len set, or -1 for
 * anything else: not "enc:", bad base64, too short or too long, another user's or an altered value, a
 * different key. The reason is not told apart, on purpose.
 */
int sk_totp_open(const uint8_t key[SK_TOTP_KEY_LEN], const char *user, const char *stored, uint8_t *secret, size_t cap,
		 size_t *len);

/*
 * Reads the key file: a regular file of exactly SK_TOTP_KEY_LEN bytes, no more open than 0600 (no group
 * or other bits, no execute bit). Returns 0, or -1 with err naming the file and what is wrong with it.
 * This is what the server does: it never creates the key.
 */
int sk_totp_key_load(const char *path, uint8_t key[SK_TOTP_KEY_LEN], struct sk_err *err);
/*
 * The CLI's side: loads the key file, or, when it does not exist, creates it (mode 0600, random bytes,
 * written to a temporary name, fsynced and linked into place so a racing creator's key is never replaced)
 * and sets *created. Returns 0 or -1 with err filled.
 */
int sk_totp_key_create(const char *path, uint8_t key[SK_TOTP_KEY_LEN], bool *created, struct sk_err *err);

/*
 * "otpauth://totp/ISSUER:USER?secret=BASE32&issuer=ISSUER", issuer and user percent-encoded (RFC 3986
 * unreserved characters kept). A heap string (caller frees): it holds the secret.
 */
char *sk_totp_uri(const char *issuer, const char *user, const uint8_t *secret, size_t len);

/*
 * The QR code of text (libqrencode, level M, 8-bit mode), drawn with UTF-8 half blocks, two module rows
 * per line, with a 2-module quiet zone: dark modules are the terminal's foreground (█ ▀ ▄), light ones
 * are blanks. It reads right on a dark-on-light terminal and is byte for byte `qrencode -l M -m 2 -t
 * UTF8i` (qrencode's default UTF8 is the inverse, for light-on-dark terminals). Each line ends with "\n".
 * A heap string, or NULL when text is too long for a QR code.
 */
char *sk_totp_qr_utf8(const char *text);
/*
 * The same QR code as a plain PBM image (P1, 1 = dark), scale pixels per module, 2-module quiet zone:
 * readable by zbarimg and ImageMagick. A heap string, or NULL when text is too long.
 */
char *sk_totp_qr_pbm(const char *text, unsigned scale);

#endif
