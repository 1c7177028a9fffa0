/*
 * reply.c — building sekisho's own responses (reply.h).
 */
#include <string.h>

#include "proxy/reply.h"

void sk_reply_init(struct sk_reply *r, struct sk_http_response *resp, struct sk_http_field *fields, unsigned max_fields,
		   char *buf, size_t cap, int status)
{
	*r = (struct sk_reply){ .resp = resp, .fields = fields, .max_fields = max_fields, .buf = buf, .cap = cap };
	*resp = (struct sk_http_response){ .status = status, .fields = fields, .body = SK_BODY_LENGTH };
}

static const char *keep(struct sk_reply *r, const char *p, size_t n)
{
	if (r->cap - r->used < n) {
		r->overflow = true;
		return NULL;
	}
	char *d = r->buf + r->used;
	if (n)
		memcpy(d, p, n);
	r->used += n;
	return d;
}

static void add(struct sk_reply *r, struct sk_slice name, const char *value, size_t vlen)
{
	const char *v = keep(r, value, vlen);
	if (!v || r->resp->n_fields == r->max_fields) {
		r->overflow = true;
		return;
	}
	r->fields[r->resp->n_fields++] = (struct sk_http_field){ .name = name, .value = { .ptr = v, .len = vlen } };
}

void sk_reply_field(struct sk_reply *r, const char *name, const char *value, size_t vlen)
{
	add(r, (struct sk_slice){ .ptr = name, .len = strlen(name) }, value, vlen);
}

void sk_reply_field_str(struct sk_reply *r, const char *name, const char *value)
{
	sk_reply_field(r, name, value, strlen(value));
}

void sk_reply_lines(struct sk_reply *r, const char *lines)
{
	const char *p = lines;
	while (p && *p) {
		const char *eol = strstr(p, "\r\n");
		const char *colon = memchr(p, ':', eol ? (size_t)(eol - p) : strlen(p));
		if (!eol || !colon) {
			r->overflow = true; /* sekisho's own lines are always complete */
			return;
		}
		const char *name = keep(r, p, (size_t)(colon - p));
		const char *v = colon + 1;
		while (*v == ' ')
			v++;
		if (name)
			add(r, (struct sk_slice){ .ptr = name, .len = (size_t)(colon - p) }, v, (size_t)(eol - v));
		p = eol + 2;
	}
}

void sk_reply_body(struct sk_reply *r, const char *body, size_t n)
{
	r->body = keep(r, body, n);
	r->resp->length = r->body ? n : 0;
}
