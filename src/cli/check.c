/*
 * check.c — `sekisho check`, a Nagios plugin (DESIGN §5/§6) following the monitoring-plugins development
 * guidelines: one line "SEKISHO OK|WARNING|CRITICAL|UNKNOWN - text | perfdata", exit 0/1/2/3.
 *
 * It reads the admin listener's /status.json (found from -c FILE, or given as --admin URL), and checks
 * certificates (days left against --cert-days WARN,CRIT, default 30,14 as check_http -C), upstream servers
 * per distribution (--upstreams) and, with --url, one request through the gateway (5xx or no answer:
 * CRITICAL, 4xx: WARNING, as check_http). Everything runs under one 10 s deadline; an admin listener that
 * does not answer is CRITICAL. Bad usage and --help exit 3 (UNKNOWN), as the guidelines ask.
 */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <libfyaml.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "core/core.h"

#define DEADLINE_MS 10000
#define MAX_RESPONSE (4 * 1024 * 1024)

enum { OK = 0, WARNING = 1, CRITICAL = 2, UNKNOWN = 3 };
static const char *const state_name[] = { "OK", "WARNING", "CRITICAL", "UNKNOWN" };

static const char USAGE[] =
	"usage: sekisho check [-c FILE | --admin URL] [--cert-days WARN,CRIT] [--upstreams] [--url URL]\n"
	"  -c FILE             find the admin listener in this configuration (admin.listen)\n"
	"  --admin URL         the admin listener, e.g. http://127.0.0.1:9901\n"
	"  --cert-days W,C     WARNING under W days left on a certificate, CRITICAL under C (default 30,14)\n"
	"  --upstreams         CRITICAL when a distribution has no upstream server up, WARNING when some are down\n"
	"  --url URL           also request URL (http://) through the gateway: 5xx or no answer CRITICAL, 4xx WARNING\n"
	"Exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; everything within 10 s.\n";

struct result {
	int state;
	char text[2048];
	char perf[4096];
};

static void say(struct result *r, int state, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(struct result *r, int state, const char *fmt, ...)
{
	if (state > r->state && state != UNKNOWN)
		r->state = state;
	size_t n = strlen(r->text);
	if (n && n < sizeof(r->text) - 2) {
		strcat(r->text, "; ");
		n += 2;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->text + n, sizeof(r->text) - n, fmt, ap);
	va_end(ap);
}

/* 'label'=value[UOM];warn;crit;min;max — the label quoted, a quote inside it doubled. */
static void perf(struct result *r, const char *label, const char *rest_fmt, ...) __attribute__((format(printf, 3, 4)));
static void perf(struct result *r, const char *label, const char *rest_fmt, ...)
{
	size_t n = strlen(r->perf);
	char q[300];
	size_t o = 0;
	for (const char *p = label; *p && o + 3 < sizeof(q); p++) {
		if (*p == '\'')
			q[o++] = '\'';
		q[o++] = *p == '=' || *p == ' ' ? '_' : *p;
	}
	q[o] = '\0';
	n += (size_t)snprintf(r->perf + n, sizeof(r->perf) - SK_MIN(n, sizeof(r->perf)), "%s'%s'=", n ? " " : "", q);
	if (n >= sizeof(r->perf))
		return;
	va_list ap;
	va_start(ap, rest_fmt);
	vsnprintf(r->perf + n, sizeof(r->perf) - n, rest_fmt, ap);
	va_end(ap);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int left_ms(int64_t deadline)
{
	int64_t l = deadline - now_ms();
	return l > 0 ? (int)l : 0;
}

/* A URL http://host[:port][/path]. 0, or -1 when it is not one. */
static int parse_url(const char *url, char *host, size_t hcap, char *port, size_t pcap, const char **path)
{
	if (strncmp(url, "http://", 7) != 0)
		return -1;
	const char *h = url + 7, *end = h + strcspn(h, "/?#");
	*path = *end ? end : "/";
	const char *colon = NULL;
	if (*h == '[') {
		const char *rb = memchr(h, ']', (size_t)(end - h));
		if (!rb)
			return -1;
		if ((size_t)(rb - h - 1) >= hcap)
			return -1;
		memcpy(host, h + 1, (size_t)(rb - h - 1));
		host[rb - h - 1] = '\0';
		colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
	} else {
		colon = memchr(h, ':', (size_t)(end - h));
		const char *he = colon ? colon : end;
		if (he == h || (size_t)(he - h) >= hcap)
			return -1;
		memcpy(host, h, (size_t)(he - h));
		host[he - h] = '\0';
	}
	if (colon) {
		size_t pl = (size_t)(end - colon - 1);
		if (pl == 0 || pl >= pcap || strspn(colon + 1, "0123456789") < pl)
			return -1;
		memcpy(port, colon + 1, pl);
		port[pl] = '\0';
	} else {
		snprintf(port, pcap, "80");
	}
	return 0;
}

struct response {
	int status;
	char *data; /* the whole response */
	size_t len;
	const char *body;
	size_t body_len;
};

/* GET path from host:port before deadline. 0, or -1 with why filled. */
static int http_get(const char *host, const char *port, const char *path, int64_t deadline, struct response *out,
		    char *why, size_t wcap)
{
	*out = (struct response){ 0 };
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	int rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0) {
		snprintf(why, wcap, "%s: %s", host, gai_strerror(rc));
		return -1;
	}
	int fd = -1;
	int result = -1;
	snprintf(why, wcap, "no address");
	for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
		if (fd == -1)
			continue;
		if (connect(fd, a->ai_addr, a->ai_addrlen) == -1 && errno != EINPROGRESS) {
			snprintf(why, wcap, "%s", strerror(errno));
			close(fd);
			fd = -1;
			continue;
		}
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int err = 0;
		socklen_t el = sizeof(err);
		if (poll(&p, 1, left_ms(deadline)) != 1) {
			snprintf(why, wcap, "connection timed out");
			close(fd);
			fd = -1;
			continue;
		}
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err) {
			snprintf(why, wcap, "%s", strerror(err));
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(ai);
	if (fd < 0)
		return -1;
	char req[2048];
	int n = snprintf(req, sizeof(req),
			 "GET %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: sekisho-check\r\nAccept: application/json\r\n"
			 "Connection: close\r\n\r\n",
			 path, host, port);
	if (n < 0 || (size_t)n >= sizeof(req)) {
		snprintf(why, wcap, "URL too long");
		goto out;
	}
	for (size_t off = 0; off < (size_t)n;) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		if (poll(&p, 1, left_ms(deadline)) != 1) {
			snprintf(why, wcap, "timed out sending the request");
			goto out;
		}
		ssize_t w = send(fd, req + off, (size_t)n - off, MSG_NOSIGNAL);
		if (w == -1 && errno != EAGAIN && errno != EINTR) {
			snprintf(why, wcap, "%s", strerror(errno));
			goto out;
		}
		off += w > 0 ? (size_t)w : 0;
	}
	size_t cap = 65536;
	out->data = sk_malloc(cap);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, left_ms(deadline)) != 1) {
			snprintf(why, wcap, "timed out reading the response");
			goto out;
		}
		if (out->len + 1 >= cap) {
			if (cap >= MAX_RESPONSE) {
				snprintf(why, wcap, "response larger than %d bytes", MAX_RESPONSE);
				goto out;
			}
			cap *= 2;
			out->data = sk_realloc(out->data, cap);
		}
		ssize_t r = recv(fd, out->data + out->len, cap - out->len - 1, 0);
		if (r == 0)
			break;
		if (r == -1) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			snprintf(why, wcap, "%s", strerror(errno));
			goto out;
		}
		out->len += (size_t)r;
	}
	out->data[out->len] = '\0';
	char *sep = strstr(out->data, "\r\n\r\n");
	if (!sep || sscanf(out->data, "HTTP/1.%*d %d", &out->status) != 1) {
		snprintf(why, wcap, "not an HTTP response");
		goto out;
	}
	out->body = sep + 4;
	out->body_len = out->len - (size_t)(out->body - out->data);
	result = 0;
out:
	close(fd);
	return result;
}

static struct fy_node *get(struct fy_node *n, const char *key)
{
	return n && fy_node_is_mapping(n) ? fy_node_mapping_lookup_by_string(n, key, FY_NT) : NULL;
}

static const char *str(struct fy_node *n)
{
	return n && fy_node_is_scalar(n) ? fy_node_get_scalar0(n) : NULL;
}

static long long num(struct fy_node *n, long long dflt)
{
	const char *s = str(n);
	char *end;
	if (!s)
		return dflt;
	long long v = strtoll(s, &end, 10);
	return *end ? dflt : v;
}

static void check_certs(struct result *r, struct fy_node *root, long warn, long crit)
{
	struct fy_node *certs = get(root, "certificates");
	void *it = NULL;
	struct fy_node *c;
	int n = 0;
	long long least = 0;
	const char *least_name = NULL;
	while (certs && fy_node_is_sequence(certs) && (c = fy_node_sequence_iterate(certs, &it))) {
		const char *name = str(get(c, "name"));
		long long days = num(get(c, "days_left"), 0);
		if (!name)
			continue;
		n++;
		char label[200];
		snprintf(label, sizeof(label), "cert_%s_days", name);
		perf(r, label, "%lld;%ld;%ld;;", days, warn, crit);
		if (days < 0)
			say(r, CRITICAL, "certificate %s has expired", name);
		else if (days < crit)
			say(r, CRITICAL, "certificate %s expires in %lld days", name, days);
		else if (days < warn)
			say(r, WARNING, "certificate %s expires in %lld days", name, days);
		if (!least_name || days < least) {
			least = days;
			least_name = name;
		}
	}
	if (n && r->state == OK)
		say(r, OK, "%d certificate%s, fewest days left %lld (%s)", n, n == 1 ? "" : "s", least, least_name);
}

/* Servers of origin name: how many, how many up. */
static void servers_of(struct fy_node *root, const char *origin, int *total, int *up)
{
	void *it = NULL;
	struct fy_node *o, *origins = get(root, "origins");
	while (origins && fy_node_is_sequence(origins) && (o = fy_node_sequence_iterate(origins, &it))) {
		const char *name = str(get(o, "name"));
		if (!name || strcmp(name, origin) != 0)
			continue;
		void *it2 = NULL;
		struct fy_node *s, *servers = get(o, "servers");
		while (servers && fy_node_is_sequence(servers) && (s = fy_node_sequence_iterate(servers, &it2))) {
			(*total)++;
			const char *u = str(get(s, "up"));
			if (u && strcmp(u, "true") == 0)
				(*up)++;
		}
	}
}

static void check_upstreams(struct result *r, struct fy_node *root)
{
	void *it = NULL;
	struct fy_node *d, *dists = get(root, "distributions");
	int all = 0, all_up = 0;
	while (dists && fy_node_is_sequence(dists) && (d = fy_node_sequence_iterate(dists, &it))) {
		const char *name = str(get(d, "name"));
		int total = 0, up = 0;
		void *it2 = NULL;
		struct fy_node *o, *origins = get(d, "origins");
		while (origins && fy_node_is_sequence(origins) && (o = fy_node_sequence_iterate(origins, &it2)))
			if (str(o))
				servers_of(root, str(o), &total, &up);
		if (!total || !name)
			continue; /* only static origins */
		all += total;
		all_up += up;
		if (up == 0)
			say(r, CRITICAL, "distribution %s has no upstream server up", name);
		else if (up < total)
			say(r, WARNING, "distribution %s: %d of %d upstream servers down", name, total - up, total);
	}
	perf(r, "upstreams_up", "%d;;;0;%d", all_up, all);
	if (all_up == all)
		say(r, OK, "%d/%d upstream servers up", all_up, all);
}

static void check_url(struct result *r, const char *url, int64_t deadline)
{
	char host[256], port[8], why[300];
	const char *path;
	if (parse_url(url, host, sizeof(host), port, sizeof(port), &path) == -1) {
		say(r, UNKNOWN, "--url must be http://host[:port]/path");
		return;
	}
	int64_t t0 = now_ms();
	struct response resp;
	if (http_get(host, port, path, deadline, &resp, why, sizeof(why)) == -1) {
		say(r, CRITICAL, "%s: %s", url, why);
		free(resp.data);
		return;
	}
	int64_t ms = now_ms() - t0;
	perf(r, "time", "%lld.%03llds;;;0", (long long)(ms / 1000), (long long)(ms % 1000));
	int st = resp.status >= 500 ? CRITICAL : resp.status >= 400 ? WARNING : OK;
	say(r, st, "%s answered %d in %lld ms", url, resp.status, (long long)ms);
	free(resp.data);
}

static int finish(struct result *r, int unknown)
{
	int st = unknown ? UNKNOWN : r->state;
	printf("SEKISHO %s - %s%s%s\n", state_name[st], r->text[0] ? r->text : "ok", r->perf[0] ? " | " : "", r->perf);
	return st;
}

static int usage_error(const char *fmt, const char *arg)
{
	printf("SEKISHO UNKNOWN - ");
	printf(fmt, arg);
	printf("\n%s", USAGE);
	return UNKNOWN;
}

int sk_cli_check(int argc, char **argv)
{
	const char *file = NULL, *admin = NULL, *url = NULL;
	long warn = 30, crit = 14;
	bool upstreams = false;
	int64_t deadline = now_ms() + DEADLINE_MS;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		bool has_next = i + 1 < argc;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			printf("%s", USAGE);
			return UNKNOWN;
		} else if ((strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) && has_next) {
			file = argv[++i];
		} else if (strcmp(a, "--admin") == 0 && has_next) {
			admin = argv[++i];
		} else if (strcmp(a, "--url") == 0 && has_next) {
			url = argv[++i];
		} else if (strcmp(a, "--upstreams") == 0) {
			upstreams = true;
		} else if (strcmp(a, "--cert-days") == 0 && has_next) {
			const char *v = argv[++i];
			char *end;
			warn = strtol(v, &end, 10);
			if (end == v || *end != ',')
				return usage_error("--cert-days wants WARN,CRIT (two whole numbers), not '%s'", v);
			const char *c = end + 1;
			crit = strtol(c, &end, 10);
			if (end == c || *end || warn < 0 || crit < 0 || crit > warn)
				return usage_error("--cert-days wants WARN,CRIT with WARN >= CRIT >= 0, not '%s'", v);
		} else {
			return usage_error("unknown or incomplete argument '%s'", a);
		}
	}
	if (!!file == !!admin)
		return usage_error("%s", "give exactly one of -c FILE and --admin URL");
	if (url && strncmp(url, "http://", 7) != 0)
		return usage_error("--url must be an http:// URL, not '%s'", url);

	char host[256], port[8], where[300];
	const char *path;
	if (file) {
		struct sk_err err = { 0 };
		struct sk_config *cfg = sk_config_load(file, &err);
		if (!cfg) {
			char line[sizeof(err.file) + sizeof(err.msg) + 32];
			sk_err_format(&err, line, sizeof(line));
			printf("SEKISHO UNKNOWN - %s\n", line);
			return UNKNOWN;
		}
		if (!cfg->admin.present) {
			sk_config_free(cfg);
			printf("SEKISHO UNKNOWN - %s has no admin listener (admin: { listen: … })\n", file);
			return UNKNOWN;
		}
		/* A wildcard admin address is reached on the loopback of the same family. */
		char url_from_cfg[128];
		const char *t = cfg->admin.listen.text;
		const char *colon = strrchr(t, ':');
		bool any4 = strncmp(t, "0.0.0.0:", 8) == 0 || t[0] == ':' || t[0] == '*';
		bool any6 = strncmp(t, "[::]:", 5) == 0;
		snprintf(url_from_cfg, sizeof(url_from_cfg), "http://%s%s", any4 ? "127.0.0.1" : any6 ? "[::1]" : "",
			 any4 || any6 ? colon : t);
		sk_config_free(cfg);
		if (parse_url(url_from_cfg, host, sizeof(host), port, sizeof(port), &path) == -1) {
			printf("SEKISHO UNKNOWN - cannot use admin.listen of %s\n", file);
			return UNKNOWN;
		}
	} else if (parse_url(admin, host, sizeof(host), port, sizeof(port), &path) == -1) {
		return usage_error("--admin must be http://host:port, not '%s'", admin);
	}
	snprintf(where, sizeof(where), "%s:%s", host, port);

	struct result r = { 0 };
	struct response resp;
	char why[300];
	if (http_get(host, port, "/status.json", deadline, &resp, why, sizeof(why)) == -1) {
		free(resp.data);
		printf("SEKISHO CRITICAL - admin listener %s unreachable: %s\n", where, why);
		return CRITICAL;
	}
	if (resp.status != 200) {
		free(resp.data);
		printf("SEKISHO CRITICAL - admin listener %s answered %d to /status.json\n", where, resp.status);
		return CRITICAL;
	}
	struct fy_document *doc = fy_document_build_from_string(NULL, resp.body, resp.body_len);
	struct fy_node *root = doc ? fy_document_root(doc) : NULL;
	if (!root || !fy_node_is_mapping(root)) {
		if (doc)
			fy_document_destroy(doc);
		free(resp.data);
		printf("SEKISHO UNKNOWN - admin listener %s: /status.json is not a JSON object\n", where);
		return UNKNOWN;
	}
	check_certs(&r, root, warn, crit);
	if (upstreams)
		check_upstreams(&r, root);
	void *it = NULL;
	struct fy_node *d, *dists = get(root, "distributions");
	while (dists && fy_node_is_sequence(dists) && (d = fy_node_sequence_iterate(dists, &it))) {
		char label[200];
		snprintf(label, sizeof(label), "requests_%s", str(get(d, "name")) ? str(get(d, "name")) : "?");
		perf(&r, label, "%lldc;;;0;", num(get(d, "requests"), 0));
	}
	int unknown = 0;
	if (url) {
		check_url(&r, url, deadline);
		unknown = strstr(r.text, "--url must") != NULL;
	}
	fy_document_destroy(doc);
	free(resp.data);
	return finish(&r, unknown);
}
