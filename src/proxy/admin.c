/*
 * admin.c — what the admin listener answers (DESIGN §5): /healthz, /readyz, /metrics (Prometheus text, or
 * OpenMetrics when the Accept header asks for it), /status.json, /status (HTML), and the state changes
 * POST /reload, /bans/<ip>/delete and /lockouts/<user>/delete. Pure with respect to the connection:
 * it fills a struct sk_admin_reply that the exchange describes as a response, so each protocol keeps one
 * writer.
 *
 * State changes are POST only: a GET to them is 405 with Allow: POST, so that a link, a prefetch or a
 * crawler never reloads the gateway.
 */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "access/guard.h"
#include "obs/metrics.h"
#include "obs/status.h"
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
static bool wants_openmetrics(const struct sk_http_request *h)
{
	const struct sk_http_field *a = h->headers ? sk_http_find(h->headers, h->n_headers, "Accept") : NULL;
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

/* The names of the distinct origins of a distribution's behaviors, as a JSON array. */
static void json_dist_origins(struct sk_strbuf *b, const struct sk_distribution *d)
{
	sk_strbuf_printf(b, "[");
	bool any = false;
	for (size_t i = 0; i < d->n_behaviors; i++) {
		bool seen = false;
		for (size_t k = 0; k < i; k++)
			seen = seen || strcmp(d->behaviors[k].origin, d->behaviors[i].origin) == 0;
		if (seen)
			continue;
		sk_strbuf_printf(b, "%s", any ? ", " : "");
		sk_strbuf_json(b, d->behaviors[i].origin);
		any = true;
	}
	sk_strbuf_printf(b, "]");
}

/* /status.json: the keys DESIGN §5 lists; distributions also name their origins (for `sekisho check
 * --upstreams`), and static origins have no servers. */
static char *status_json(const struct sk_runtime *rt, size_t *len)
{
	const struct sk_config *cfg = rt->cfg;
	struct sk_strbuf b = { 0 };
	int64_t now = (int64_t)time(NULL);
	sk_strbuf_printf(&b, "{");
	sk_status_json_reload(&b);
	sk_strbuf_printf(&b, ",\n\"distributions\": [");
	for (size_t i = 0; i < cfg->n_distributions; i++) {
		const struct sk_distribution *d = &cfg->distributions[i];
		uint16_t slot = rt->dist_mslot[i];
		sk_strbuf_printf(&b, "%s\n  {\"name\": ", i ? "," : "");
		sk_strbuf_json(&b, d->name);
		sk_strbuf_printf(&b, ", \"requests\": %llu, \"refusals\": %llu, \"origins\": ",
				 (unsigned long long)sk_metrics_dist_requests(slot),
				 (unsigned long long)sk_metrics_dist_refusals(slot));
		json_dist_origins(&b, d);
		sk_strbuf_printf(&b, ", \"rates\": ");
		sk_status_json_rates(&b, slot);
		sk_strbuf_printf(&b, "}");
	}
	sk_strbuf_printf(&b, "],\n\"origins\": [");
	for (size_t i = 0; i < cfg->n_origins; i++) {
		const struct sk_origin *o = &cfg->origins[i];
		sk_strbuf_printf(&b, "%s\n  {\"name\": ", i ? "," : "");
		sk_strbuf_json(&b, o->name);
		sk_strbuf_printf(&b, ", \"servers\": [");
		for (size_t k = 0; k < o->n_servers; k++) {
			int64_t failed;
			bool up = sk_metrics_server_state(sk_metrics_slot(SK_MK_SERVER, o->servers[k].text), &failed);
			sk_strbuf_printf(&b, "%s{\"address\": ", k ? ", " : "");
			sk_strbuf_json(&b, o->servers[k].text);
			sk_strbuf_printf(&b, ", \"up\": %s, \"last_failure\": ", up ? "true" : "false");
			if (failed)
				sk_strbuf_printf(&b, "%lld}", (long long)failed);
			else
				sk_strbuf_printf(&b, "null}");
		}
		sk_strbuf_printf(&b, "]}");
	}
	sk_strbuf_printf(&b, "],\n\"certificates\": [");
	for (size_t i = 0; i < cfg->n_certificates; i++) {
		const struct sk_tls_cert *c = &rt->certs[i];
		sk_strbuf_printf(&b, "%s\n  {\"name\": ", i ? "," : "");
		sk_strbuf_json(&b, c->name);
		sk_strbuf_printf(&b, ", \"subject\": ");
		sk_strbuf_json(&b, c->subject);
		sk_strbuf_printf(&b, ", \"not_after\": %lld, \"days_left\": %lld}", (long long)c->not_after,
				 (long long)sk_tls_days_left(c->not_after, now));
	}
	sk_strbuf_printf(&b, "],\n\"bans\": ");
	sk_status_json_bans(&b);
	sk_strbuf_printf(&b, ",\n\"lockouts\": ");
	sk_status_json_lockouts(&b);
	sk_strbuf_printf(&b, "}\n");
	*len = b.len;
	return b.p;
}

/* POST /bans/<ip>/delete and /lockouts/<user>/delete: true when path is one (out answered). */
static bool state_change(struct sk_slice path, bool post, struct sk_admin_reply *out)
{
	static const char bans[] = "/bans/", locks[] = "/lockouts/", del[] = "/delete";
	bool lockout = path.len > sizeof(locks) - 1 && memcmp(path.ptr, locks, sizeof(locks) - 1) == 0;
	bool ban = path.len > sizeof(bans) - 1 && memcmp(path.ptr, bans, sizeof(bans) - 1) == 0;
	size_t skip = lockout ? sizeof(locks) - 1 : sizeof(bans) - 1;
	if ((!lockout && !ban) || path.len < skip + sizeof(del) ||
	    memcmp(path.ptr + path.len - (sizeof(del) - 1), del, sizeof(del) - 1) != 0)
		return false;
	size_t n = path.len - skip - (sizeof(del) - 1);
	char name[129], canon[64];
	if (n == 0 || n >= sizeof(name) || memchr(path.ptr + skip, '/', n))
		return false;
	if (!post) {
		out->allow = "POST";
		text(out, 405, "method not allowed: use POST\n");
		return true;
	}
	memcpy(name, path.ptr + skip, n);
	name[n] = '\0';
	if (ban && sk_ban_canonical_ip(name, canon) == -1) {
		text(out, 400, "not an IP address\n");
		return true;
	}
	if (sk_statesvc_request_delete(lockout, ban ? canon : name) == -1) {
		text(out, 409, "no state store: nothing is banned or locked\n");
		return true;
	}
	/* Done by the state store's thread within a second, off this loop. */
	text(out, 202, lockout ? "unlock requested\n" : "ban removal requested\n");
	return true;
}

void sk_admin_handle(const struct sk_runtime *rt, const struct sk_http_request *h, struct sk_slice path,
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
	if (state_change(path, post, out))
		return;
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
	} else if (sk_slice_eq(path, "/status.json")) {
		out->status = 200;
		out->body = status_json(rt, &out->len);
		out->ctype = "application/json";
	} else if (sk_slice_eq(path, "/status")) {
		out->status = 200;
		out->body = sk_admin_status_page(rt, &out->len);
		out->ctype = "text/html; charset=utf-8";
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
