/*
 * jwksfetch.h — key sets fetched from a `jwks_url` (jwksfetch.c): shared by every snapshot that names the
 * same URL, refreshed by one background thread, read lock-free by the workers.
 */
#ifndef SK_JWKSFETCH_H
#define SK_JWKSFETCH_H

#include "access/jwt.h"

struct sk_jwks_source;

/* The source for url (with ca for https, or NULL), created on first use and fetched at once; each call
 * takes a reference that sk_jwks_source_put drops (snapshot builds and frees, off the workers). */
struct sk_jwks_source *sk_jwks_source_get(const char *url, const char *ca);
void sk_jwks_source_put(struct sk_jwks_source *s);
/* The current key set, or NULL before the first successful fetch. Valid for one verification: a set
 * replaced by a refresh is freed a minute later. Any thread. */
const struct sk_jwks *sk_jwks_source_keys(const struct sk_jwks_source *s);
/* A token named a kid the set lacks: refetch, at most once a minute. Any thread, lock-free. */
void sk_jwks_source_poke(struct sk_jwks_source *s);
const char *sk_jwks_source_url(const struct sk_jwks_source *s);
/* Lets sources be fetched (the server, once it runs; check-config never fetches). */
void sk_jwks_sources_start(void);
/* Stops the fetcher thread (at exit, after the last snapshot is gone). */
void sk_jwks_sources_shutdown(void);

#endif
