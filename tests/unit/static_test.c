/*
 * static_test.c — static origins (src/proxy/static.c) against a real directory tree made in a temporary
 * folder: files, folder index pages, redirects, symbolic links inside and outside the root, conditional
 * requests, HEAD and MIME types. Requests are built by hand (no parser involved).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "http/h1.h"
#include "proxy/static.h"

#define MTIME 1700000000 /* Tue, 14 Nov 2023 22:13:20 GMT */
#define MTIME_TEXT "Tue, 14 Nov 2023 22:13:20 GMT"

static char base[64]; /* the temporary folder; root is base/root */
static char root[128];
static int root_fd = -1;

/* ---------------------------------------------------------------------------------------------- */
/* Tree. */

static void write_file(const char *rel, const char *content)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	struct timespec ts[2] = { { .tv_sec = MTIME }, { .tv_sec = MTIME } };
	assert_int_equal(futimens(fd, ts), 0);
	close(fd);
}

static void make_dir(const char *rel)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	assert_int_equal(mkdir(p, 0755), 0);
}

static void make_link(const char *target, const char *rel)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	assert_int_equal(symlink(target, p), 0);
}

static int setup(void **state)
{
	snprintf(base, sizeof(base), "/tmp/sk-static-XXXXXX");
	if (!mkdtemp(base))
		return -1;
	snprintf(root, sizeof(root), "%s/root", base);
	if (mkdir(root, 0755) == -1)
		return -1;

	write_file("index.html", "<h1>home</h1>\n");
	write_file("a.txt", "hello");
	write_file("a b.txt", "spaced");
	make_dir("sub");
	write_file("sub/index.html", "sub index");
	write_file("sub/page.css", "body{}");
	make_dir("empty");
	make_dir("weird");
	make_dir("weird/index.html");
	make_link("a.txt", "link-in");
	make_link("../a.txt", "sub/link-up-in");
	make_link("sub", "dirlink");
	make_link("../outside.txt", "link-out");
	make_link("/etc/passwd", "link-abs");
	char abs_in[256];
	snprintf(abs_in, sizeof(abs_in), "%s/a.txt", root);
	make_link(abs_in, "link-abs-in");
	char fifo[256];
	snprintf(fifo, sizeof(fifo), "%s/fifo", root);
	if (mkfifo(fifo, 0644) == -1)
		return -1;

	char outside[256];
	snprintf(outside, sizeof(outside), "%s/outside.txt", base);
	int fd = open(outside, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd == -1 || write(fd, "secret", 6) != 6)
		return -1;
	close(fd);

	root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return root_fd >= 0 ? 0 : -1;
}

static int teardown(void **state)
{
	close(root_fd);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------------------------------------- */
/* Requests and responses. */

#define MAX_H 8

struct req_fx {
	struct sk_http_request req;
	struct sk_http_field h[MAX_H];
};

static struct sk_slice sl(const char *s)
{
	return (struct sk_slice){ .ptr = s, .len = strlen(s) };
}

/* name, value, ..., NULL */
static void req_init(struct req_fx *fx, const char *method, ...)
{
	memset(fx, 0, sizeof(*fx));
	fx->req.method = sl(method);
	fx->req.version = SK_HTTP_11;
	fx->req.headers = fx->h;
	va_list ap;
	va_start(ap, method);
	const char *n;
	while ((n = va_arg(ap, const char *))) {
		const char *v = va_arg(ap, const char *);
		fx->h[fx->req.n_headers++] = (struct sk_http_field){ .name = sl(n), .value = sl(v) };
	}
	va_end(ap);
}

static struct sk_static_resp resp;
static char text[4096]; /* the response as HTTP/1.1 writes it (head, and an error page's body), as a C string */

/* Writes resp the way the HTTP/1.1 server side does: the head through sk_h1_write_head, then the body
 * sekisho made (not for HEAD). */
static void compose(const struct sk_http_request *req, bool keep_alive)
{
	bool http10 = req->version == SK_HTTP_10;
	struct sk_h1_wopts o = { .keep_alive = keep_alive, .http10 = http10, .framing = sk_h1_framing(&resp.resp, http10) };
	ssize_t n = sk_h1_write_head(&resp.resp, &o, text, sizeof(text) - 1);
	assert_true(n > 0);
	size_t len = (size_t)n;
	if (resp.body && !sk_slice_eq(req->method, "HEAD")) {
		assert_true(len + resp.resp.length < sizeof(text));
		memcpy(text + len, resp.body, resp.resp.length);
		len += resp.resp.length;
	}
	text[len] = '\0';
	assert_int_equal(strlen(text), len);
}

static int serve(const struct sk_http_request *req, const char *path, bool keep_alive)
{
	memset(&resp, 0x5a, sizeof(resp));
	assert_int_equal(sk_static_prepare(root_fd, sl(path), sl(""), req, &resp), 0);
	compose(req, keep_alive);
	char status[16];
	snprintf(status, sizeof(status), "HTTP/1.1 %d ", resp.status);
	assert_memory_equal(text, status, strlen(status));
	assert_non_null(strstr(text, "\r\n\r\n"));
	assert_non_null(strstr(text, "\r\nDate: "));
	if (resp.status != 200) {
		assert_int_equal(resp.fd, -1);
		assert_int_equal(resp.length, 0);
	}
	return resp.status;
}

static int get(const char *path)
{
	struct req_fx fx;
	req_init(&fx, "GET", NULL);
	return serve(&fx.req, path, true);
}

/* The value of a field in text, or NULL (static buffer). */
static const char *field(const char *name)
{
	static char v[512];
	char pat[64];
	snprintf(pat, sizeof(pat), "\r\n%s: ", name);
	const char *p = strstr(text, pat);
	const char *blank = strstr(text, "\r\n\r\n");
	if (!p || p >= blank)
		return NULL;
	p += strlen(pat);
	const char *e = strstr(p, "\r\n");
	snprintf(v, sizeof(v), "%.*s", (int)(e - p), p);
	return v;
}

static const char *body(void)
{
	return strstr(text, "\r\n\r\n") + 4;
}

/* Reads the whole body through resp.fd and closes it. */
static void assert_fd_body(const char *expect)
{
	assert_true(resp.fd >= 0);
	assert_int_equal(resp.offset, 0);
	assert_int_equal(resp.length, strlen(expect));
	char buf[256];
	ssize_t n = pread(resp.fd, buf, sizeof(buf), 0);
	assert_int_equal(n, (ssize_t)strlen(expect));
	assert_memory_equal(buf, expect, (size_t)n);
	assert_int_equal(fcntl(resp.fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	close(resp.fd);
}

/* ---------------------------------------------------------------------------------------------- */
/* Tests. */

static void test_file(void **state)
{
	assert_int_equal(get("/a.txt"), 200);
	assert_string_equal(field("Content-Type"), "text/plain; charset=utf-8");
	assert_string_equal(field("Content-Length"), "5");
	assert_string_equal(field("Last-Modified"), MTIME_TEXT);
	char etag[64];
	snprintf(etag, sizeof(etag), "\"%x-5\"", MTIME);
	assert_string_equal(field("ETag"), etag);
	assert_string_equal(field("Accept-Ranges"), "none");
	assert_null(field("Connection"));
	assert_string_equal(body(), ""); /* the body goes by sendfile */
	assert_fd_body("hello");
}

static void test_index(void **state)
{
	assert_int_equal(get("/"), 200);
	assert_string_equal(field("Content-Type"), "text/html; charset=utf-8");
	assert_fd_body("<h1>home</h1>\n");

	assert_int_equal(get("/sub/"), 200);
	assert_string_equal(field("Content-Type"), "text/html; charset=utf-8");
	assert_fd_body("sub index");

	/* A folder without index.html: no listing. */
	assert_int_equal(get("/empty/"), 404);
	/* index.html that is a folder is not a file. */
	assert_int_equal(get("/weird/"), 404);
	/* A file asked for as a folder. */
	assert_int_equal(get("/a.txt/"), 404);
}

static void test_folder_redirect(void **state)
{
	assert_int_equal(get("/sub"), 301);
	assert_string_equal(field("Location"), "/sub/");
	assert_string_equal(field("Content-Type"), "text/html; charset=utf-8");
	assert_int_equal(strlen(body()), atoi(field("Content-Length")));
	assert_int_equal(get("/empty"), 301);
	assert_string_equal(field("Location"), "/empty/");
	assert_int_equal(get("/dirlink"), 301);
	assert_string_equal(field("Location"), "/dirlink/");
}

static void test_not_found(void **state)
{
	assert_int_equal(get("/missing.html"), 404);
	assert_string_equal(field("Content-Type"), "text/html; charset=utf-8");
	assert_string_equal(body(), "<html><body><h1>404 Not Found</h1></body></html>\n");
	assert_int_equal(atoi(field("Content-Length")), strlen(body()));
	assert_null(field("ETag"));
	assert_int_equal(get("/missing/dir/x"), 404);
	assert_int_equal(get("/fifo"), 404); /* not regular; and the open must not block */
}

static void test_symlinks(void **state)
{
	assert_int_equal(get("/link-in"), 200);
	assert_fd_body("hello");
	assert_int_equal(get("/sub/link-up-in"), 200);
	assert_fd_body("hello");
	assert_int_equal(get("/dirlink/page.css"), 200);
	assert_string_equal(field("Content-Type"), "text/css; charset=utf-8");
	assert_fd_body("body{}");

	/* Out of the root: relative climb, absolute target, even an absolute path back inside. */
	assert_int_equal(get("/link-out"), 404);
	assert_int_equal(get("/link-abs"), 404);
	assert_int_equal(get("/link-abs-in"), 404);
}

static void test_dotdot_refused_by_kernel(void **state)
{
	/* The router normalises paths first; these check that RESOLVE_BENEATH holds even without it. */
	assert_int_equal(get("/../outside.txt"), 404);
	assert_int_equal(get("/sub/../../outside.txt"), 404);
	assert_int_equal(get("//../outside.txt"), 404);
	/* Climbing that stays inside is harmless. */
	assert_int_equal(get("/sub/../a.txt"), 200);
	assert_fd_body("hello");
}

static void test_percent_decoding(void **state)
{
	assert_int_equal(get("/a%20b.txt"), 200);
	assert_fd_body("spaced");
	assert_int_equal(get("/a%2fb"), 404);
	assert_int_equal(get("/a%00"), 404);
	assert_int_equal(get("/a%2"), 404);
	assert_int_equal(get("/a%zz"), 404);
}

static void test_method_not_allowed(void **state)
{
	const char *methods[] = { "POST", "PUT", "DELETE", "OPTIONS", "get" };
	for (size_t i = 0; i < SK_ARRAY_LEN(methods); i++) {
		struct req_fx fx;
		req_init(&fx, methods[i], NULL);
		assert_int_equal(serve(&fx.req, "/a.txt", true), 405);
		assert_string_equal(field("Allow"), "GET, HEAD");
		assert_string_equal(body(),
				    "<html><body><h1>405 Method Not Allowed</h1></body></html>\n");
		assert_int_equal(atoi(field("Content-Length")), strlen(body()));
	}
}

static void test_etag_304(void **state)
{
	char etag[64], weak[80], list[200];
	snprintf(etag, sizeof(etag), "\"%x-5\"", MTIME);
	snprintf(weak, sizeof(weak), "W/%s", etag);
	snprintf(list, sizeof(list), "\"nope\", W/\"x,y\" ,%s", etag);
	const char *match[] = { etag, weak, list, "*" };
	for (size_t i = 0; i < SK_ARRAY_LEN(match); i++) {
		struct req_fx fx;
		req_init(&fx, "GET", "If-None-Match", match[i], NULL);
		assert_int_equal(serve(&fx.req, "/a.txt", true), 304);
		assert_string_equal(field("ETag"), etag);
		assert_string_equal(field("Last-Modified"), MTIME_TEXT);
		assert_null(field("Content-Length"));
		assert_null(field("Content-Type"));
		assert_string_equal(body(), "");
		assert_int_equal(resp.fd, -1);
	}

	/* In a second field; name case-insensitive. */
	struct req_fx fx;
	req_init(&fx, "GET", "if-none-match", "\"other\"", "IF-NONE-MATCH", etag, NULL);
	assert_int_equal(serve(&fx.req, "/a.txt", true), 304);

	/* No match: full response, and If-Modified-Since is not consulted. */
	const char *miss[] = { "\"other\"", "\"1-5\"", "W/", "garbage", "", etag + 1 };
	for (size_t i = 0; i < SK_ARRAY_LEN(miss); i++) {
		req_init(&fx, "GET", "If-None-Match", miss[i], "If-Modified-Since", MTIME_TEXT, NULL);
		assert_int_equal(serve(&fx.req, "/a.txt", true), 200);
		assert_fd_body("hello");
	}

	/* HEAD too. */
	req_init(&fx, "HEAD", "If-None-Match", etag, NULL);
	assert_int_equal(serve(&fx.req, "/a.txt", true), 304);
}

static void test_ims_304(void **state)
{
	struct req_fx fx;
	req_init(&fx, "GET", "If-Modified-Since", MTIME_TEXT, NULL);
	assert_int_equal(serve(&fx.req, "/a.txt", true), 304);
	assert_string_equal(field("Last-Modified"), MTIME_TEXT);
	assert_non_null(field("ETag"));

	req_init(&fx, "GET", "If-Modified-Since", "Wed, 15 Nov 2023 00:00:00 GMT", NULL);
	assert_int_equal(serve(&fx.req, "/a.txt", true), 304);

	req_init(&fx, "GET", "If-Modified-Since", "Tue, 14 Nov 2023 22:13:19 GMT", NULL);
	assert_int_equal(serve(&fx.req, "/a.txt", true), 200);
	assert_fd_body("hello");

	req_init(&fx, "GET", "If-Modified-Since", "yesterday", NULL);
	assert_int_equal(serve(&fx.req, "/a.txt", true), 200);
	assert_fd_body("hello");
}

static void test_head(void **state)
{
	struct req_fx fx;
	req_init(&fx, "HEAD", NULL);
	assert_int_equal(serve(&fx.req, "/a.txt", true), 200);
	assert_string_equal(field("Content-Length"), "5");
	assert_int_equal(resp.fd, -1);
	assert_int_equal(resp.length, 0);
	assert_string_equal(body(), "");

	assert_int_equal(serve(&fx.req, "/missing", true), 404);
	assert_string_equal(body(), "");
	assert_int_equal(atoi(field("Content-Length")),
			 strlen("<html><body><h1>404 Not Found</h1></body></html>\n"));

	assert_int_equal(serve(&fx.req, "/sub", true), 301);
	assert_string_equal(body(), "");
	assert_string_equal(field("Location"), "/sub/");
}

static void test_connection(void **state)
{
	struct req_fx fx;
	req_init(&fx, "GET", NULL);
	assert_int_equal(serve(&fx.req, "/a.txt", false), 200);
	assert_string_equal(field("Connection"), "close");
	close(resp.fd);
	assert_int_equal(serve(&fx.req, "/missing", false), 404);
	assert_string_equal(field("Connection"), "close");

	fx.req.version = SK_HTTP_10;
	assert_int_equal(serve(&fx.req, "/a.txt", true), 200);
	assert_string_equal(field("Connection"), "keep-alive");
	close(resp.fd);
	assert_int_equal(serve(&fx.req, "/a.txt", false), 200);
	assert_string_equal(field("Connection"), "close");
	close(resp.fd);
}

static void test_long_redirect_fails_softly(void **state)
{
	/* A Location longer than head cannot be written: -1 rather than a cut field. */
	char seg[201];
	memset(seg, 'd', 200);
	seg[200] = '\0';
	char rel[3000] = "";
	for (int i = 0; i < 12; i++) {
		if (i)
			strcat(rel, "/");
		strcat(rel, seg);
		assert_int_equal(mkdirat(root_fd, rel, 0755), 0);
		if (i == 0) {
			char path[3100];
			snprintf(path, sizeof(path), "/%s", rel);
			assert_int_equal(get(path), 301);
		}
	}
	char longp[3100];
	snprintf(longp, sizeof(longp), "/%s", rel);
	struct req_fx fx;
	req_init(&fx, "GET", NULL);
	assert_int_equal(sk_static_prepare(root_fd, sl(longp), sl(""), &fx.req, &resp), -1);
	assert_int_equal(resp.fd, -1);
}

static void test_redirect_keeps_query(void **state)
{
	assert_int_equal(mkdirat(root_fd, "q", 0755), 0);
	struct req_fx fx;
	req_init(&fx, "GET", NULL);
	assert_int_equal(sk_static_prepare(root_fd, sl("/q"), sl("?x=1&y"), &fx.req, &resp), 0);
	assert_int_equal(resp.status, 301);
	compose(&fx.req, true);
	assert_non_null(strstr(text, "\r\nLocation: /q/?x=1&y\r\n"));
}

static void test_mime(void **state)
{
	struct {
		const char *name, *type;
	} t[] = {
		{ "a.html", "text/html; charset=utf-8" },
		{ "a.htm", "text/html; charset=utf-8" },
		{ "a.css", "text/css; charset=utf-8" },
		{ "a.js", "text/javascript; charset=utf-8" },
		{ "a.mjs", "text/javascript; charset=utf-8" },
		{ "a.json", "application/json" },
		{ "a.txt", "text/plain; charset=utf-8" },
		{ "a.xml", "text/xml; charset=utf-8" },
		{ "a.svg", "image/svg+xml" },
		{ "a.png", "image/png" },
		{ "a.jpg", "image/jpeg" },
		{ "a.jpeg", "image/jpeg" },
		{ "a.gif", "image/gif" },
		{ "a.webp", "image/webp" },
		{ "a.ico", "image/x-icon" },
		{ "a.wasm", "application/wasm" },
		{ "a.pdf", "application/pdf" },
		{ "a.woff", "font/woff" },
		{ "a.woff2", "font/woff2" },
		{ "app.js.map", "application/json" },
		{ "a.mp4", "video/mp4" },
		{ "a.webm", "video/webm" },
		{ "a.avif", "image/avif" },
		{ "DIR/A.PNG", "image/png" },
		{ "a.Html", "text/html; charset=utf-8" },
		{ "a.bin", "application/octet-stream" },
		{ "Makefile", "application/octet-stream" },
		{ "a.", "application/octet-stream" },
		{ "a.htmlx", "application/octet-stream" },
		{ "a.ht", "application/octet-stream" },
		{ "dir.css/file", "application/octet-stream" },
		{ ".png", "image/png" },
		{ "", "application/octet-stream" },
	};
	for (size_t i = 0; i < SK_ARRAY_LEN(t); i++)
		assert_string_equal(sk_static_mime(t[i].name), t[i].type);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_index),
		cmocka_unit_test(test_folder_redirect),
		cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_symlinks),
		cmocka_unit_test(test_dotdot_refused_by_kernel),
		cmocka_unit_test(test_percent_decoding),
		cmocka_unit_test(test_method_not_allowed),
		cmocka_unit_test(test_etag_304),
		cmocka_unit_test(test_ims_304),
		cmocka_unit_test(test_head),
		cmocka_unit_test(test_connection),
		cmocka_unit_test(test_long_redirect_fails_softly),
		cmocka_unit_test(test_redirect_keeps_query),
		cmocka_unit_test(test_mime),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
