/*
 * status_page.c — /status on the admin listener (DESIGN §5): one HTML page with no external assets.
 * Everything is rendered on the server, so the page reads the same with JavaScript off; with it on, a
 * small inline script polls /status.json every few seconds and redraws the same tables and charts from
 * it. Charts are inline SVG polylines of the rate points (requests and refusals per 10 s).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "obs/metrics.h"
#include "obs/status.h"
#include "proxy/admin.h"

/* s with &, <, >, " escaped. */
static void html(struct sk_strbuf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': sk_strbuf_printf(b, "&amp;"); break;
		case '<': sk_strbuf_printf(b, "&lt;"); break;
		case '>': sk_strbuf_printf(b, "&gt;"); break;
		case '"': sk_strbuf_printf(b, "&quot;"); break;
		default: sk_strbuf_printf(b, "%c", *s);
		}
	}
}

static void utc(struct sk_strbuf *b, int64_t t)
{
	if (!t) {
		sk_strbuf_printf(b, "never");
		return;
	}
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	char s[40];
	strftime(s, sizeof(s), "%Y-%m-%d %H:%M:%S UTC", &tm);
	sk_strbuf_printf(b, "%s", s);
}

static const char STYLE[] =
	"<style>body{font:15px/1.4 system-ui,sans-serif;margin:0 auto;max-width:60em;padding:.5em;color:#222}"
	"h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.2em}"
	".t{overflow-x:auto}table{border-collapse:collapse;width:100%}"
	"td,th{text-align:left;padding:.2em .5em;border-bottom:1px solid #ddd;white-space:nowrap}"
	".up{color:#070}.down{color:#b00;font-weight:bold}.warn{color:#a60}svg{vertical-align:middle}"
	"#live{color:#666;font-size:.9em}</style>";

/* The chart of a distribution from its rate points (the same drawing as the script's chart()). */
static void chart(struct sk_strbuf *b, uint16_t slot)
{
	uint64_t req[SK_STATUS_SAMPLES], ref[SK_STATUS_SAMPLES], max = 1;
	unsigned n = sk_status_rates(slot, req, ref, SK_STATUS_SAMPLES);
	for (unsigned i = 0; i < n; i++)
		max = req[i] > max ? req[i] : max;
	sk_strbuf_printf(b, "<svg width=\"150\" height=\"30\" viewBox=\"0 0 150 30\" role=\"img\" "
			    "aria-label=\"requests and refusals per 10 s\">");
	for (int s = 0; s < 2; s++) {
		sk_strbuf_printf(b, "<polyline fill=\"none\" stroke=\"%s\" points=\"", s ? "#b00" : "#06c");
		for (unsigned i = 0; i < n; i++)
			sk_strbuf_printf(b, "%s%u,%llu", i ? " " : "", i * 150 / SK_STATUS_SAMPLES,
					 (unsigned long long)(30 - ((s ? ref[i] : req[i]) * 28 / max) - 1));
		sk_strbuf_printf(b, "\"/>");
	}
	sk_strbuf_printf(b, "</svg>");
}

struct rows {
	struct sk_strbuf *b;
	const char *forever;
};

static void row(void *arg, const char *name, int64_t until)
{
	struct rows *r = arg;
	sk_strbuf_printf(r->b, "<tr><td>");
	html(r->b, name);
	sk_strbuf_printf(r->b, "</td><td>");
	if (until)
		utc(r->b, until);
	else
		sk_strbuf_printf(r->b, "%s", r->forever);
	sk_strbuf_printf(r->b, "</td></tr>");
}

static const char SCRIPT[] =
	"<script>(function(){"
	"function e(s){return String(s).replace(/[&<>\"]/g,function(c){return{'&':'&amp;','<':'&lt;','>':'&gt;','\"':'&quot;'}[c]})}"
	"function t(s){return s?new Date(s*1000).toISOString().replace('T',' ').replace(/\\.\\d+Z/,' UTC'):'never'}"
	"function chart(r){var m=1;r.forEach(function(p){m=Math.max(m,p.requests)});"
	"var o='<svg width=\"150\" height=\"30\" viewBox=\"0 0 150 30\" role=\"img\" aria-label=\"requests and refusals per 10 s\">';"
	"['requests','refusals'].forEach(function(k,s){o+='<polyline fill=\"none\" stroke=\"'+(s?'#b00':'#06c')+'\" points=\"'+"
	"r.map(function(p,i){return Math.floor(i*150/30)+','+(30-Math.floor(p[k]*28/m)-1)}).join(' ')+'\"/>'});return o+'</svg>'}"
	"function rows(id,h){document.getElementById(id).innerHTML=h}"
	"function draw(d){"
	"rows('reload',d.last_reload?'generation '+d.generation+', last reload <b class=\"'+(d.last_reload.result=='ok'?'up':'down')+'\">'+"
	"d.last_reload.result+'</b> at '+t(d.last_reload.time)+(d.last_reload.error?': '+e(d.last_reload.error):''):'generation '+d.generation);"
	"rows('dists',d.distributions.map(function(x){return '<tr data-name=\"'+e(x.name)+'\"><td>'+e(x.name)+'</td><td class=\"req\">'+x.requests+"
	"'</td><td class=\"ref\">'+x.refusals+'</td><td>'+chart(x.rates)+'</td></tr>'}).join(''));"
	"var u='';d.origins.forEach(function(o){o.servers.forEach(function(s){u+='<tr data-name=\"'+e(o.name)+'\"><td>'+e(o.name)+'</td><td>'+"
	"e(s.address)+'</td><td class=\"'+(s.up?'up':'down')+'\">'+(s.up?'up':'down')+'</td><td>'+t(s.last_failure)+'</td></tr>'})});rows('servers',u);"
	"rows('certs',d.certificates.map(function(c){return '<tr data-name=\"'+e(c.name)+'\"><td>'+e(c.name)+'</td><td>'+e(c.subject)+'</td><td>'+"
	"t(c.not_after)+'</td><td class=\"days'+(c.days_left<14?' down':c.days_left<30?' warn':'')+'\">'+c.days_left+'</td></tr>'}).join(''));"
	"rows('bans',d.bans.map(function(b){return '<tr><td>'+e(b.ip)+'</td><td>'+(b.until?t(b.until):'until removed')+'</td></tr>'}).join(''));"
	"rows('lockouts',d.lockouts.map(function(b){return '<tr><td>'+e(b.user)+'</td><td>'+(b.until?t(b.until):'until reset')+'</td></tr>'}).join(''));"
	"document.getElementById('live').textContent='live, updated '+new Date().toISOString().replace('T',' ').replace(/\\.\\d+Z/,' UTC')}"
	"function poll(){fetch('status.json',{cache:'no-store'}).then(function(r){return r.json()}).then(draw)"
	".catch(function(){document.getElementById('live').textContent='not updating: /status.json unreachable'})}"
	"poll();setInterval(poll,3000)})();</script>";

char *sk_admin_status_page(const struct sk_runtime *rt, size_t *len)
{
	const struct sk_config *cfg = rt->cfg;
	struct sk_strbuf b = { 0 };
	int64_t now = (int64_t)time(NULL);
	sk_strbuf_printf(&b, "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
			     "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
			     "<title>sekisho status</title>%s</head><body><h1>sekisho status</h1>"
			     "<p id=\"live\">static page (JavaScript off): reload to update</p><p id=\"reload\">",
			 STYLE);
	struct sk_status_reload rl;
	sk_status_reload_get(&rl);
	sk_strbuf_printf(&b, "generation %llu", (unsigned long long)rl.generation);
	if (rl.time) {
		sk_strbuf_printf(&b, ", last reload <b class=\"%s\">%s</b> at ", rl.ok ? "up" : "down",
				 rl.ok ? "ok" : "error");
		utc(&b, rl.time);
		if (rl.error[0]) {
			sk_strbuf_printf(&b, ": ");
			html(&b, rl.error);
		}
	}
	sk_strbuf_printf(&b, "</p><h2>Distributions</h2><p>Requests (blue) and refusals (red) per 10 s, last 5 minutes."
			     "</p><div class=\"t\"><table><thead><tr><th>Name</th><th>Requests</th><th>Refusals</th>"
			     "<th>Rate</th></tr></thead><tbody id=\"dists\">");
	for (size_t i = 0; i < cfg->n_distributions; i++) {
		uint16_t slot = rt->dist_mslot[i];
		sk_strbuf_printf(&b, "<tr data-name=\"");
		html(&b, cfg->distributions[i].name);
		sk_strbuf_printf(&b, "\"><td>");
		html(&b, cfg->distributions[i].name);
		sk_strbuf_printf(&b, "</td><td class=\"req\">%llu</td><td class=\"ref\">%llu</td><td>",
				 (unsigned long long)sk_metrics_dist_requests(slot),
				 (unsigned long long)sk_metrics_dist_refusals(slot));
		chart(&b, slot);
		sk_strbuf_printf(&b, "</td></tr>");
	}
	sk_strbuf_printf(&b, "</tbody></table></div><h2>Upstream servers</h2><div class=\"t\"><table><thead><tr>"
			     "<th>Origin</th><th>Server</th><th>State</th><th>Last failure</th></tr></thead>"
			     "<tbody id=\"servers\">");
	for (size_t i = 0; i < cfg->n_origins; i++) {
		const struct sk_origin *o = &cfg->origins[i];
		for (size_t k = 0; k < o->n_servers; k++) {
			int64_t failed;
			bool up = sk_metrics_server_state(sk_metrics_slot(SK_MK_SERVER, o->servers[k].text), &failed);
			sk_strbuf_printf(&b, "<tr data-name=\"");
			html(&b, o->name);
			sk_strbuf_printf(&b, "\"><td>");
			html(&b, o->name);
			sk_strbuf_printf(&b, "</td><td>");
			html(&b, o->servers[k].text);
			sk_strbuf_printf(&b, "</td><td class=\"%s\">%s</td><td>", up ? "up" : "down", up ? "up" : "down");
			utc(&b, failed);
			sk_strbuf_printf(&b, "</td></tr>");
		}
	}
	sk_strbuf_printf(&b, "</tbody></table></div><h2>Certificates</h2><div class=\"t\"><table><thead><tr>"
			     "<th>Name</th><th>Subject</th><th>Not after</th><th>Days left</th></tr></thead>"
			     "<tbody id=\"certs\">");
	for (size_t i = 0; i < cfg->n_certificates; i++) {
		const struct sk_tls_cert *c = &rt->certs[i];
		int64_t days = sk_tls_days_left(c->not_after, now);
		sk_strbuf_printf(&b, "<tr data-name=\"");
		html(&b, c->name);
		sk_strbuf_printf(&b, "\"><td>");
		html(&b, c->name);
		sk_strbuf_printf(&b, "</td><td>");
		html(&b, c->subject);
		sk_strbuf_printf(&b, "</td><td>");
		utc(&b, c->not_after);
		sk_strbuf_printf(&b, "</td><td class=\"days%s\">%lld</td></tr>", days < 14 ? " down" : days < 30 ? " warn" : "",
				 (long long)days);
	}
	sk_strbuf_printf(&b, "</tbody></table></div><h2>Active bans</h2><div class=\"t\"><table><thead><tr><th>Address"
			     "</th><th>Until</th></tr></thead><tbody id=\"bans\">");
	sk_status_each(0, row, &(struct rows){ .b = &b, .forever = "until removed" });
	sk_strbuf_printf(&b, "</tbody></table></div><h2>Locked accounts</h2><div class=\"t\"><table><thead><tr>"
			     "<th>User</th><th>Until</th></tr></thead><tbody id=\"lockouts\">");
	sk_status_each(1, row, &(struct rows){ .b = &b, .forever = "until reset" });
	sk_strbuf_printf(&b, "</tbody></table></div>%s</body></html>\n", SCRIPT);
	*len = b.len;
	return b.p;
}
