/*
 * json.h — a strict, allocation-free JSON tokenizer (RFC 8259) for small documents read on the request
 * path (JWS headers and claims) and for key sets. It fills a caller's token array in document order; each
 * token is a slice of the input, so nothing is copied until a caller asks for a decoded string.
 *
 * Strict: one value and nothing after it but whitespace; strings with valid escapes and no raw control
 * characters or invalid UTF-8; numbers in the JSON grammar; a depth cap; duplicate member names in one
 * object are refused (RFC 7515 §5.2 lets a JWS parser refuse them, and a parser that kept the first or
 * the last is how two verifiers come to disagree about one token).
 */
#ifndef SK_JSON_H
#define SK_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sk_json_type { SK_JSON_OBJECT, SK_JSON_ARRAY, SK_JSON_STRING, SK_JSON_NUMBER, SK_JSON_TRUE,
		    SK_JSON_FALSE, SK_JSON_NULL };

struct sk_json_tok {
	uint8_t type;      /* enum sk_json_type */
	uint32_t start;    /* strings: after the opening quote; others: first byte */
	uint32_t len;      /* strings: up to the closing quote (still escaped) */
	uint32_t size;     /* objects: members; arrays: elements */
	uint32_t next;     /* index of the token after this value and everything inside it */
};

#define SK_JSON_MAX_DEPTH 16

/* Tokenizes s[0..n) into toks (cap entries). Returns the number of tokens, or -1 when the text is not
 * strict JSON or needs more than cap tokens. toks[0] is the document's value. */
int sk_json_parse(const char *s, size_t n, struct sk_json_tok *toks, size_t cap);

/* The token index of member key in the object at obj, or -1. */
int sk_json_get(const char *s, const struct sk_json_tok *toks, int obj, const char *key);

/* Decodes the string token t (escapes resolved, UTF-8 out) into out (cap bytes, NUL-terminated).
 * Returns the length, or -1 when t is not a string or it does not fit. */
long sk_json_str(const char *s, const struct sk_json_tok *t, char *out, size_t cap);

/* True when the string token t equals lit exactly (escapes resolved). */
bool sk_json_str_eq(const char *s, const struct sk_json_tok *t, const char *lit);

/* Reads a number token as a whole int64 (JWT NumericDate: a fraction is truncated toward zero; an
 * exponent, or a value out of range, is refused). Returns 0, or -1. */
int sk_json_int(const char *s, const struct sk_json_tok *t, int64_t *out);

#endif
