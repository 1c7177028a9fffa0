/*
 * exchange_test.c — the protocol-neutral exchange (src/proxy/exchange.c) driven by a test front: routing,
 * the refusals with their statuses and reasons, sekisho's own replies, a static file, the access pipeline's
 * deny, and a whole origin exchange (connect, request head and body pulled from the front, response head,
 * body pulled decoded) against a socket this test plays the origin on. No HTTP/1.1 front is involved: what
 * the exchange answers is read from ex->resp, as any protocol's writer would.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "obs/metrics.h"
#include "proxy/exchange.h"

/* ---------------------------------------------------------------------------------------------- */
/* The test front: a request body from a string, wake-ups counted. */

struct front {
	const char *body;
	size_t len, off;
	int wakes;
};

static enum sk_body_step t_peek(struct sk_exchange *ex, struct sk_slice *out)
{
	struct front *f = ex->front_ctx;
	if (f->off == f->len)
		return SK_BODY_END;
	/* two bytes at a time: the exchange must cope with a body that comes in pieces */
	*out = (struct sk_slice){ .ptr = f->body + f->off, .len = SK_MIN((size_t)2, f->len - f->off) };
	return SK_BODY_DATA;
}

static void t_consume(struct sk_exchange *ex, size_t n)
{
	struct front *f = ex->front_ctx;
	f->off += n;
}

static void t_wake(struct sk_exchange *ex)
{
	struct front *f = ex->front_ctx;
	f->wakes++;
}

static const struct sk_front_ops test_front = { .body_peek = t_peek, .body_consume = t_consume, .wake = t_wake };

/* ---------------------------------------------------------------------------------------------- */
/* Fixture: a snapshot, a worker (its loop only), an origin socket, a static root. */

static char dir[] = "/tmp/sk-exchange-XXXXXX";
static struct sk_runtime *rt;
static struct sk_worker w;
static struct sk_log_buf log_off = { .fd = -1 };
static int origin_fd = -1;
static uint16_t origin_port, dead_port;
static struct sk_timer timer;
static int timer_fired;
static struct sockaddr_in peer;

static void on_timer(struct sk_timer *t)
{
	timer_fired++;
}

static uint16_t bound_port(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	return ntohs(a.sin_port);
}

static int listen_any(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 8), 0);
	return fd;
}

static int setup(void **state)
{
	assert_non_null(mkdtemp(dir));
	origin_fd = listen_any();
	origin_port = bound_port(origin_fd);
	int dead = listen_any(); /* a port nothing listens on once closed */
	dead_port = bound_port(dead);
	close(dead);

	char path[256];
	snprintf(path, sizeof(path), "%s/www", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/www/static", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/www/static/hello.txt", dir);
	FILE *f = fopen(path, "w");
	fputs("hello", f);
	fclose(f);

	char cfgpath[256];
	snprintf(cfgpath, sizeof(cfgpath), "%s/sekisho.yaml", dir);
	f = fopen(cfgpath, "w");
	fprintf(f,
		"ip_sets:\n"
		"  office: [10.0.0.0/8]\n"
		"listeners:\n"
		"  - { name: web, listen: \"127.0.0.1:1\" }\n"
		"origins:\n"
		"  up: { servers: [\"127.0.0.1:%u\"], connect_timeout: 2s, response_timeout: 2s }\n"
		"  gone: { servers: [\"127.0.0.1:%u\"] }\n"
		"  files: { root: %s/www }\n"
		"distributions:\n"
		"  - name: app\n"
		"    aliases: [app.test]\n"
		"    behaviors:\n"
		"      - { path: \"/static/*\", origin: files }\n"
		"      - { path: \"/api/*\", origin: up }\n"
		"      - { path: \"/gone/*\", origin: gone }\n"
		"      - { path: \"/office/*\", origin: up, access: { ip: { allow: [office] } } }\n",
		origin_port, dead_port, dir);
	fclose(f);
	struct sk_err err = { 0 };
	struct sk_config *cfg = sk_config_load(cfgpath, &err);
	if (!cfg)
		fail_msg("%s", err.msg);
	sk_metrics_set_workers(1);
	rt = sk_runtime_build(cfg, 1, &err);
	if (!rt)
		fail_msg("%s", err.msg);
	w.loop = sk_loop_new();
	w.rt = rt;
	w.access_log = &log_off;
	peer = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(40000),
				     .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	timer.cb = on_timer;
	sk_loop_run_once(w.loop, 0); /* the loop's clock starts with its first round, as a worker's does */
	return 0;
}

static int teardown(void **state)
{
	sk_freelist_clear(&w.exchanges);
	sk_freelist_clear(&w.bufs);
	close(origin_fd);
	sk_runtime_unref(rt);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* A request as a front would hand it over. */
static struct sk_exchange *request(struct front *f, const char *method, const char *target, const char *host,
				   const char *body)
{
	struct sk_exchange *ex = sk_exchange_get(&w);
	*f = (struct front){ .body = body, .len = body ? strlen(body) : 0 };
	ex->front = &test_front;
	ex->front_ctx = f;
	ex->rt = rt;
	ex->timer = &timer;
	ex->peer = (const struct sockaddr_in6 *)&peer;
	ex->listener = 0;
	ex->hreq = (struct sk_http_request){
		.method = { .ptr = method, .len = strlen(method) },
		.target = { .ptr = target, .len = strlen(target) },
		.version = SK_HTTP_11,
		.host = { .ptr = host, .len = strlen(host) },
		.headers = ex->headers,
		.body = body ? SK_BODY_LENGTH : SK_BODY_NONE,
		.content_length = body ? strlen(body) : 0,
		.flags = SK_HF_HAS_HOST,
	};
	return ex;
}

static const char *field(const struct sk_exchange *ex, const char *name)
{
	static char v[256];
	const struct sk_http_field *h = sk_http_find(ex->resp.fields, ex->resp.n_fields, name);
	if (!h)
		return NULL;
	snprintf(v, sizeof(v), "%.*s", (int)h->value.len, h->value.ptr);
	return v;
}

/* Begins ex and runs it to its answer (no origin involved). */
static void answer(struct sk_exchange *ex)
{
	sk_exchange_begin(ex);
	assert_int_equal(sk_exchange_run(ex), SK_EXS_RESPOND);
	assert_int_equal(ex->state, SK_EX_RESPOND);
}

static void done(struct sk_exchange *ex)
{
	sk_exchange_finish(ex, true);
	sk_exchange_put(ex);
}

/* ---------------------------------------------------------------------------------------------- */
/* Routing and sekisho's own answers. */

static void test_unknown_host_is_421(void **state)
{
	struct front f;
	struct sk_exchange *ex = request(&f, "GET", "/api/x", "other.test", NULL);
	answer(ex);
	assert_int_equal(ex->resp.status, 421);
	assert_int_equal(ex->reason, SK_R_UNKNOWN_HOST);
	assert_false(ex->resp.from_origin);
	assert_int_equal(ex->resp_src, SK_SRC_MEM);
	assert_int_equal(ex->resp.body, SK_BODY_LENGTH);
	assert_true(ex->resp.length > 0);
	assert_memory_equal(ex->body_mem, "<!doctype html>", 15);
	assert_string_equal(field(ex, "Cache-Control"), "no-store");
	assert_false(ex->close_after); /* the request was whole: the connection may stay */
	done(ex);
}

static void test_bad_paths_are_400_and_close(void **state)
{
	const char *bad[] = { "/api/%2Fetc", "/../etc/passwd", "/api/a/../../..", "api/x", "*" };
	for (size_t i = 0; i < SK_ARRAY_LEN(bad); i++) {
		struct front f;
		struct sk_exchange *ex = request(&f, "GET", bad[i], "app.test", NULL);
		answer(ex);
		assert_int_equal(ex->resp.status, 400);
		assert_int_equal(ex->reason, SK_R_BAD_REQUEST);
		assert_true(ex->close_after);
		done(ex);
	}
}

static void test_no_behavior_is_404_and_json_when_asked(void **state)
{
	struct front f;
	struct sk_exchange *ex = request(&f, "GET", "/nowhere", "APP.test.:8080", NULL);
	ex->headers[0] = (struct sk_http_field){ .name = SK_SLICE("Accept"), .value = SK_SLICE("application/json") };
	ex->hreq.n_headers = 1;
	answer(ex);
	assert_int_equal(ex->resp.status, 404);
	assert_int_equal(ex->reason, SK_R_NOT_FOUND);
	assert_string_equal(field(ex, "Content-Type"), "application/json");
	assert_memory_equal(ex->body_mem, "{\"error\": \"not_found\"}\n", ex->resp.length);
	done(ex);
}

static void test_body_on_get_is_400(void **state)
{
	struct front f;
	struct sk_exchange *ex = request(&f, "GET", "/api/x", "app.test", "abc");
	answer(ex);
	assert_int_equal(ex->resp.status, 400);
	assert_true(ex->close_after);
	done(ex);
}

static void test_refusals_before_a_head(void **state)
{
	static const struct { enum sk_reason reason; int status; } cases[] = {
		{ SK_R_BAD_REQUEST, 400 },      { SK_R_URI_TOO_LONG, 414 },  { SK_R_HEADERS_TOO_LARGE, 431 },
		{ SK_R_NOT_IMPLEMENTED, 501 }, { SK_R_REQUEST_TIMEOUT, 408 },
	};
	for (size_t i = 0; i < SK_ARRAY_LEN(cases); i++) {
		struct front f;
		struct sk_exchange *ex = request(&f, "", "", "", NULL);
		sk_exchange_refuse(ex, cases[i].reason);
		assert_int_equal(ex->state, SK_EX_RESPOND);
		assert_int_equal(ex->resp.status, cases[i].status);
		assert_int_equal(ex->status, cases[i].status);
		assert_int_equal(ex->reason, cases[i].reason);
		assert_true(ex->close_after);
		assert_null(ex->hreq.headers); /* nothing of an unparsed head is read */
		done(ex);
	}
}

static void test_access_deny_is_403(void **state)
{
	struct front f;
	struct sk_exchange *ex = request(&f, "GET", "/office/x", "app.test", NULL);
	answer(ex);
	assert_int_equal(ex->resp.status, 403);
	assert_int_equal(ex->reason, SK_R_IP_DENIED);
	assert_non_null(ex->brt);
	assert_string_equal(ex->brt->cfg->path, "/office/*");
	done(ex);
}

static void test_static_file(void **state)
{
	struct front f;
	struct sk_exchange *ex = request(&f, "GET", "/static/hello.txt?x=1", "app.test", NULL);
	answer(ex);
	assert_int_equal(ex->resp.status, 200);
	assert_int_equal(ex->resp_src, SK_SRC_FILE);
	assert_int_equal(ex->resp.body, SK_BODY_LENGTH);
	assert_int_equal(ex->resp.length, 5);
	assert_true(ex->file_fd >= 0);
	assert_string_equal(field(ex, "Content-Type"), "text/plain; charset=utf-8");
	assert_non_null(field(ex, "ETag"));
	char buf[8];
	assert_int_equal(pread(ex->file_fd, buf, sizeof(buf), ex->file_off), 5);
	assert_memory_equal(buf, "hello", 5);
	done(ex);

	/* HEAD: the same description, no file to send. */
	ex = request(&f, "HEAD", "/static/hello.txt", "app.test", NULL);
	answer(ex);
	assert_int_equal(ex->resp.status, 200);
	assert_int_equal(ex->resp.length, 5);
	assert_int_equal(ex->resp_src, SK_SRC_NONE);
	assert_int_equal(ex->file_fd, -1);
	done(ex);

	ex = request(&f, "GET", "/static/missing", "app.test", NULL);
	answer(ex);
	assert_int_equal(ex->resp.status, 404);
	assert_int_equal(ex->reason, SK_R_NOT_FOUND);
	done(ex);
}

/* ---------------------------------------------------------------------------------------------- */
/* The origin. */

/* Runs the worker's loop (and the exchange when woken) until ex answers something other than WAIT. */
static enum sk_ex_step run_until_answer(struct sk_exchange *ex, struct front *f)
{
	enum sk_ex_step s = SK_EXS_WAIT;
	for (int i = 0; i < 200 && s == SK_EXS_WAIT; i++) {
		int wakes = f->wakes;
		sk_loop_run_once(w.loop, 20);
		if (f->wakes != wakes)
			s = sk_exchange_run(ex);
	}
	return s;
}

/* One round of the worker's loop, and of the exchange when it was woken (what a front does). */
static void round_of(struct sk_exchange *ex, struct front *f)
{
	int wakes = f->wakes;
	sk_loop_run_once(w.loop, 20);
	if (f->wakes != wakes)
		assert_int_equal(sk_exchange_run(ex), SK_EXS_WAIT);
}

/* Reads from the origin side until the request head and n body bytes are in. */
static size_t read_request(struct sk_exchange *ex, struct front *f, int fd, char *buf, size_t cap, size_t body)
{
	size_t len = 0;
	for (int i = 0; i < 500; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 0) == 0) {
			round_of(ex, f); /* the exchange writes as its socket allows */
			continue;
		}
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		assert_true(n > 0);
		len += (size_t)n;
		buf[len] = '\0';
		const char *end = strstr(buf, "\r\n\r\n");
		if (end && len - (size_t)(end + 4 - buf) >= body)
			return len;
	}
	fail_msg("no request reached the origin");
	return 0;
}

static int accept_origin(struct sk_exchange *ex, struct front *f)
{
	struct pollfd p = { .fd = origin_fd, .events = POLLIN };
	for (int i = 0; i < 100 && poll(&p, 1, 0) == 0; i++)
		round_of(ex, f);
	int fd = accept(origin_fd, NULL, NULL);
	assert_true(fd >= 0);
	return fd;
}

static void test_origin_exchange(void **state)
{
	struct front f;
	struct sk_exchange *ex = request(&f, "POST", "/api/a/./b?q=1", "app.test", "hello body");
	sk_exchange_begin(ex);
	assert_int_equal(sk_exchange_run(ex), SK_EXS_WAIT); /* connecting */
	assert_int_equal(ex->state, SK_EX_ORIGIN);

	int ofd = accept_origin(ex, &f);
	char req[4096];
	read_request(ex, &f, ofd, req, sizeof(req), strlen("hello body"));
	assert_memory_equal(req, "POST /api/a/b?q=1 HTTP/1.1\r\n", 28);
	assert_non_null(strstr(req, "\r\nContent-Length: 10\r\n"));
	assert_non_null(strstr(req, "\r\nX-Forwarded-For: 127.0.0.1\r\n"));
	assert_non_null(strstr(req, "\r\n\r\nhello body"));
	assert_int_equal(f.off, f.len); /* the whole body was pulled from the front */

	const char resp[] = "HTTP/1.1 201 Made\r\nContent-Type: text/plain\r\nConnection: x-hop\r\nX-Hop: 1\r\n"
			    "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
	assert_int_equal(write(ofd, resp, sizeof(resp) - 1), (ssize_t)(sizeof(resp) - 1));
	assert_int_equal(run_until_answer(ex, &f), SK_EXS_RESPOND);
	assert_int_equal(ex->state, SK_EX_RESPOND);
	assert_int_equal(ex->resp.status, 201);
	assert_int_equal(ex->status, 201);
	assert_true(ex->resp.from_origin);
	assert_int_equal(ex->resp.body, SK_BODY_CHUNKED);
	assert_int_equal(ex->resp_src, SK_SRC_ORIGIN);
	assert_memory_equal(ex->resp.reason.ptr, "Made", 4);

	/* The body comes out decoded, whatever the pieces. */
	char got[16];
	size_t n = 0;
	for (int i = 0; i < 200; i++) {
		struct sk_slice d;
		enum sk_body_step st = sk_exchange_body_peek(ex, &d);
		if (st == SK_BODY_END)
			break;
		if (st == SK_BODY_WAIT) {
			sk_loop_run_once(w.loop, 20);
			continue;
		}
		assert_int_equal(st, SK_BODY_DATA);
		assert_true(n + d.len <= sizeof(got));
		memcpy(got + n, d.ptr, d.len);
		n += d.len;
		sk_exchange_body_consume(ex, d.len);
	}
	assert_int_equal(n, 5);
	assert_memory_equal(got, "abcde", 5);
	assert_int_equal(timer_fired, 0);
	done(ex); /* the origin connection goes back to its pool: the next request reuses it */

	ex = request(&f, "GET", "/api/again", "app.test", NULL);
	sk_exchange_begin(ex);
	enum sk_ex_step s = sk_exchange_run(ex);
	assert_true(s == SK_EXS_WAIT);
	assert_true(ex->client.up_reused);
	read_request(ex, &f, ofd, req, sizeof(req), 0);
	assert_memory_equal(req, "GET /api/again HTTP/1.1\r\n", 25);
	const char r204[] = "HTTP/1.1 204 No Content\r\n\r\n";
	assert_int_equal(write(ofd, r204, sizeof(r204) - 1), (ssize_t)(sizeof(r204) - 1));
	assert_int_equal(run_until_answer(ex, &f), SK_EXS_RESPOND);
	assert_int_equal(ex->resp.status, 204);
	assert_int_equal(ex->resp.body, SK_BODY_NONE);
	struct sk_slice d;
	assert_int_equal(sk_exchange_body_peek(ex, &d), SK_BODY_END);
	done(ex);
	close(ofd);
}

static void test_origin_unreachable_is_502(void **state)
{
	struct front f;
	struct sk_exchange *ex = request(&f, "GET", "/gone/x", "app.test", NULL);
	sk_exchange_begin(ex);
	enum sk_ex_step s = sk_exchange_run(ex);
	if (s == SK_EXS_WAIT)
		s = run_until_answer(ex, &f);
	assert_int_equal(s, SK_EXS_RESPOND);
	assert_int_equal(ex->resp.status, 502);
	assert_int_equal(ex->reason, SK_R_UPSTREAM_UNAVAILABLE);
	assert_false(ex->resp.from_origin);
	done(ex);
}

static void test_unasked_101_is_502(void **state)
{
	struct front f;
	struct sk_exchange *ex = request(&f, "GET", "/api/ws", "app.test", NULL);
	sk_exchange_begin(ex);
	assert_int_equal(sk_exchange_run(ex), SK_EXS_WAIT);
	int ofd = accept_origin(ex, &f);
	char req[4096];
	read_request(ex, &f, ofd, req, sizeof(req), 0);
	const char r101[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n";
	assert_int_equal(write(ofd, r101, sizeof(r101) - 1), (ssize_t)(sizeof(r101) - 1));
	assert_int_equal(run_until_answer(ex, &f), SK_EXS_RESPOND);
	assert_int_equal(ex->state, SK_EX_RESPOND); /* not a tunnel */
	assert_int_equal(ex->resp.status, 502);
	done(ex);
	close(ofd);
}

static void test_origin_timeout_is_504(void **state)
{
	struct front f;
	struct sk_exchange *ex = request(&f, "GET", "/api/slow", "app.test", NULL);
	sk_exchange_begin(ex);
	assert_int_equal(sk_exchange_run(ex), SK_EXS_WAIT);
	int ofd = accept_origin(ex, &f);
	char req[4096];
	read_request(ex, &f, ofd, req, sizeof(req), 0);
	/* The deadline is the front's timer: firing it is the front's call to sk_exchange_timeout. */
	assert_true(sk_timer_armed(&timer));
	sk_timer_cancel(w.loop, &timer);
	assert_int_equal(sk_exchange_timeout(ex), SK_EXS_RESPOND);
	assert_int_equal(ex->resp.status, 504);
	assert_int_equal(ex->reason, SK_R_UPSTREAM_TIMEOUT);
	done(ex);
	close(ofd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unknown_host_is_421),
		cmocka_unit_test(test_bad_paths_are_400_and_close),
		cmocka_unit_test(test_no_behavior_is_404_and_json_when_asked),
		cmocka_unit_test(test_body_on_get_is_400),
		cmocka_unit_test(test_refusals_before_a_head),
		cmocka_unit_test(test_access_deny_is_403),
		cmocka_unit_test(test_static_file),
		cmocka_unit_test(test_origin_exchange),
		cmocka_unit_test(test_origin_unreachable_is_502),
		cmocka_unit_test(test_unasked_101_is_502),
		cmocka_unit_test(test_origin_timeout_is_504),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
