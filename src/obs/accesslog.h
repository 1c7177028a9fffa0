/*
 * accesslog.h — the JSON access log of DESIGN §5: one line per request, buffered per worker thread and
 * flushed after each loop round (one write(2) for many lines), so the hot path takes no lock.
 */
#ifndef SK_ACCESSLOG_H
#define SK_ACCESSLOG_H

#include <stdint.h>

#include "core/core.h"

struct sk_access_entry {
	uint64_t start_wall_ms;
	uint64_t duration_ms;
	const char *client;
	const char *listener;
	const char *distribution; /* NULL = none */
	int behavior;             /* index in the distribution; -1 = none */
	struct sk_slice method, host, path;
	int status;
	uint64_t bytes_in, bytes_out;
	const char *upstream; /* NULL = none */
	const char *user, *auth, *reason; /* NULL = none */
	const char *protocol;   /* "HTTP/1.0", "HTTP/1.1", "HTTP/2"; NULL = unknown (a head that could not be read) */
	const char *policy;     /* "allow", "deny", "would_deny"; NULL = no policy evaluated */
	const char *policy_sid; /* the deciding statement's Sid; NULL = none (implicit deny, no Sid) */
	const char *target;     /* egress: "host:port" as the request named it; NULL = not egress */
	const char *address;    /* egress: the checked address connected to (or refused); NULL = none */
};

struct sk_log_buf {
	int fd; /* -1 = off */
	size_t len;
	char data[64 * 1024];
};

/* Opens path ("-" = stdout, NULL or "off" = disabled) for appending. Returns 0 / -1 (errno set). */
int sk_accesslog_open(struct sk_log_buf *lb, const char *path);
void sk_accesslog_close(struct sk_log_buf *lb);
void sk_accesslog_write(struct sk_log_buf *lb, const struct sk_access_entry *e);
void sk_accesslog_flush(struct sk_log_buf *lb);

/* Appends s as a JSON string body (without quotes), escaping quotes, backslashes and control bytes.
 * Returns the bytes written, never more than cap (a cut never splits an escape). */
size_t sk_json_escape(char *out, size_t cap, const char *s, size_t len);

#endif
