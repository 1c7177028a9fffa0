/*
 * fetch.h — a blocking HTTP(S) GET for small documents read at run time (fetch.c). Call it only from a
 * thread that may block.
 */
#ifndef SK_FETCH_H
#define SK_FETCH_H

#include <stddef.h>
#include <stdint.h>

#define SK_MAX_FETCH_HEAD 16384

/*
 * GETs url (http:// or https://; https verifies the certificate against ca, or the system store when ca
 * is NULL, and the host name). The whole exchange must end within timeout_ms; a body over max bytes, a
 * status other than 200 or a malformed response is an error. Returns 0 with *body (NUL-terminated,
 * caller frees) and *body_len, or -1 with why filled.
 */
int sk_http_fetch(const char *url, const char *ca, uint32_t timeout_ms, size_t max, char **body, size_t *body_len,
		  char *why, size_t cap);

#endif
