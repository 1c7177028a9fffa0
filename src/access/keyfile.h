/*
 * keyfile.h — what the users file and the API-key file share (DESIGN §7): both are YAML mappings of a
 * name to a small flow mapping, read whole, parsed with libfyaml's document API and walked once into an
 * immutable store. Internal to src/access/ (users.c, apikeys.c) and their tests.
 *
 * Invariants: libfyaml never prints (its first error becomes the sk_err); aliases are refused, so no
 * node is shared and an edit of one entry's text cannot change another; positions are reported 1-based.
 */
#ifndef SK_KEYFILE_H
#define SK_KEYFILE_H

#include <libfyaml.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* A users or API-key file larger than this is a mistake, not a file to hold in memory. */
#define SK_KEYFILE_MAX_BYTES (64u << 20)

/* One parsed document; its nodes point into it until sk_keyfile_close. */
struct sk_keyfile {
	const char *file;   /* for messages */
	struct sk_err *err;
	struct fy_diag *diag;
	struct fy_document *fyd;
};

/* Reads a whole regular file (at most SK_KEYFILE_MAX_BYTES). Returns 0 with *buf (heap, NUL-terminated,
 * caller frees) and *len, or -1 with err filled; errno is kept from the failing call. */
int sk_keyfile_read(const char *path, char **buf, size_t *len, struct sk_err *err);

/* Parses buf[0..len) (which must outlive kf) as one YAML document. *root is the root mapping, or NULL
 * for an empty document (nothing, comments only, or a null). Anything else than a mapping is an error.
 * Returns 0 or -1 with err filled; call sk_keyfile_close in both cases. */
int sk_keyfile_open(struct sk_keyfile *kf, const char *file, const char *buf, size_t len, struct fy_node **root,
		    struct sk_err *err);
void sk_keyfile_close(struct sk_keyfile *kf);

/* 1-based line and column of a scalar node (0, 0 for collections: libfyaml keeps no mark for them). */
void sk_keyfile_pos(struct fy_node *n, int *line, int *col);
/* Fills kf->err at node at (or the file alone when at is NULL or has no position); returns -1. */
int sk_keyfile_fail(struct sk_keyfile *kf, struct fy_node *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* True for a plain empty, "~" or "null" scalar. */
bool sk_keyfile_is_null(struct fy_node *n);
/* A scalar's text (not NUL-terminated by libfyaml: *len says how long), refusing collections, aliases and
 * NUL bytes. what names the value in the message ("user 'alice': 'totp'"). Returns 0 or -1. */
int sk_keyfile_scalar(struct sk_keyfile *kf, struct fy_node *n, const char *what, const char **s, size_t *len);
/* A heap copy of a non-empty scalar (same checks). */
int sk_keyfile_string(struct sk_keyfile *kf, struct fy_node *n, const char *what, char **out);
/* A list of non-empty strings (a null is an empty list). *out holds *n heap strings. */
int sk_keyfile_strlist(struct sk_keyfile *kf, struct fy_node *n, const char *what, char ***out, size_t *count);
/* A YYYY-MM-DD date into unix seconds at UTC midnight. */
int sk_keyfile_date(struct sk_keyfile *kf, struct fy_node *n, const char *what, int64_t *out);

/* Parses "YYYY-MM-DD" (a real calendar date, years 1970-9999). Returns 0 or -1. */
int sk_keyfile_parse_date(const char *s, size_t len, int64_t *out);
/* Writes unix seconds as "YYYY-MM-DD" (UTC) into out (at least 11 bytes). */
void sk_keyfile_format_date(int64_t t, char out[11]);

void sk_keyfile_strlist_free(char **list, size_t n);

/* A 64-bit keyed hash of bytes for the stores' tables (FNV-1a mixed with a per-store random seed, so
 * that names an attacker can guess do not line up in one chain). */
uint64_t sk_keyfile_hash(uint64_t seed, const void *p, size_t n);
/* A random seed from getrandom (falls back to the clock: a seed is not a secret, only a spreader). */
uint64_t sk_keyfile_seed(void);

#endif
