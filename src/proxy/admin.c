/*
 * admin.c — what the admin listener answers (DESIGN §5): /healthz, /readyz, /metrics (Prometheus text, or
 * OpenMetrics when the Accept header asks for it) and POST /reload. Pure with respect to the connection:
 * it fills a struct sk_admin_reply that conn.c writes, so the connection code keeps one writer.
 *
 * State changes are POST only: a GET to them is 405 with Allow: POST, so that a link, a prefetch or a
 * crawler never reloads the gateway.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "obs/metrics.h"
#include "proxy/admin.h"

static void text(struct sk_admin_reply *out, int status, const char *body)
{
	out->status = status;
	out->ctype = "text/plain; charset=utf-8";
	out->len = strlen(body);
	out->body = sk_malloc(out->len + 1);
	memcpy(out->body, body, out->len + 1);
}

/* True when the Accept header names OpenMetrics (Prometheus sends it first, with a q-value). */
static bool wants_openmetrics(const struct sk_h1_request *h)
{
	const struct sk_h1_header *a = h->headers ? sk_h1_find(h->headers, h->n_headers, "Accept") : NULL;
	static const char om[] = "application/openmetrics-text";
	return a && memmem(a->value.ptr, a->value.len, om, sizeof(om) - 1);
}

/* Why the gateway is not ready, or NULL when it is. Listeners need no check here: workers, and so this
 * admin listener, start only once every listening socket of the configuration is bound. */
static const char *not_ready(const struct sk_runtime *rt)
{
	if (!rt || !rt->cfg)
		return "config: no configuration loaded";
	if (!sk_statesvc_reachable())
		return "state: the state store is unreachable";
	return NULL;
}

void sk_admin_handle(const struct sk_runtime *rt, const struct sk_h1_request *h, struct sk_slice path,
		     struct sk_admin_reply *out)
{
	*out = (struct sk_admin_reply){ 0 };
	bool get = sk_slice_eq(h->method, "GET") || sk_slice_eq(h->method, "HEAD");
	bool post = sk_slice_eq(h->method, "POST");
	if (sk_slice_eq(path, "/reload")) {
		if (!post) {
			out->allow = "POST";
			text(out, 405, "method not allowed: use POST\n");
			return;
		}
		/* The main thread reloads on SIGHUP, exactly as for `kill -HUP`; its result is logged. */
		kill(getpid(), SIGHUP);
		text(out, 202, "reload requested\n");
		return;
	}
	if (!get) {
		out->allow = "GET, HEAD";
		text(out, 405, "method not allowed\n");
		return;
	}
	if (sk_slice_eq(path, "/metrics")) {
		bool om = wants_openmetrics(h);
		out->status = 200;
		out->body = sk_metrics_render_alloc(om ? SK_METRICS_OPENMETRICS : SK_METRICS_PROMETHEUS, &out->len);
		out->ctype = om ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
				: "text/plain; version=0.0.4; charset=utf-8";
	} else if (sk_slice_eq(path, "/healthz")) {
		text(out, 200, "ok\n");
	} else if (sk_slice_eq(path, "/readyz")) {
		const char *why = not_ready(rt);
		char msg[200];
		snprintf(msg, sizeof(msg), "%s\n", why ? why : "ready");
		text(out, why ? 503 : 200, msg);
	} else {
		text(out, 404, "not found\n");
	}
}
