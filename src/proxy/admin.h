/*
 * admin.h — the admin listener's answers (admin.c), described as a response by the exchange (exchange.c) for the viewer's writer.
 */
#ifndef SK_ADMIN_H
#define SK_ADMIN_H

#include "proxy/proxy.h"

struct sk_admin_reply {
	int status;
	const char *ctype;
	const char *allow; /* an Allow header for 405, or NULL */
	char *body;        /* heap, owned by the caller once returned */
	size_t len;
};

/* Answers the admin request h (path normalised) under snapshot rt. */
void sk_admin_handle(const struct sk_runtime *rt, const struct sk_http_request *h, struct sk_slice path,
		     struct sk_admin_reply *out);

/* The /status HTML page (status_page.c); *len gets its length; the caller frees it. */
char *sk_admin_status_page(const struct sk_runtime *rt, size_t *len);

#endif
