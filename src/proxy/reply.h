/*
 * reply.h — a response that sekisho composes itself (error pages, redirects, the login pages, the admin
 * endpoints), described for the viewer's writer: status, fields and a body kept in one buffer.
 */
#ifndef SK_REPLY_H
#define SK_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "http/msg.h"

struct sk_reply {
	struct sk_http_response *resp;
	struct sk_http_field *fields;
	unsigned max_fields;
	char *buf;          /* field values and the body */
	size_t cap, used;
	bool overflow;      /* something did not fit: the reply is incomplete (a bug: callers size for the worst) */
	const char *body;   /* resp->length bytes in buf, or NULL */
};

/* Starts a reply of status into resp, with fields[0..max_fields) and buf[0..cap) to keep its text. */
void sk_reply_init(struct sk_reply *r, struct sk_http_response *resp, struct sk_http_field *fields, unsigned max_fields,
		   char *buf, size_t cap, int status);
/* Adds a field; name must outlive the reply (a literal), value is copied. */
void sk_reply_field(struct sk_reply *r, const char *name, const char *value, size_t vlen);
void sk_reply_field_str(struct sk_reply *r, const char *name, const char *value);
/* Adds the fields of "Name: value\r\n" lines that sekisho wrote itself (never a peer's bytes). */
void sk_reply_lines(struct sk_reply *r, const char *lines);
/* Sets the body (copied); its length frames the reply. */
void sk_reply_body(struct sk_reply *r, const char *body, size_t n);

#endif
