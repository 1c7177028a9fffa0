/*
 * static.c — static origins (`root: DIR`, DESIGN §1): a normalised request path is looked up under the
 * root and answered with a complete response head; the connection code sends the body with sendfile.
 *
 * Invariants:
 * - Nothing outside the root is reachable: every open goes through openat2() relative to the root's
 *   descriptor with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS, so "..", absolute symbolic links and links
 *   that climb out are refused by the kernel at every component, not by string checks that a rename
 *   could race. Symbolic links that stay inside the root are followed.
 * - Only regular files are served (no listings, no devices, no FIFOs); whatever is missing, refused or
 *   not servable is a plain 404 so that the answer does not reveal what exists.
 * - The head (plus the small HTML body of an error) always fits in struct sk_static_resp.head or the
 *   call fails with -1; a HEAD request gets the same fields as GET with no body bytes.
 */
#include "proxy/static.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------------- */
/* MIME types. */

struct mime {
	const char *ext;
	const char *type;
};

static const struct mime mime_table[] = {
	{ .ext = "html", .type = "text/html; charset=utf-8" },
	{ .ext = "htm", .type = "text/html; charset=utf-8" },
	{ .ext = "css", .type = "text/css; charset=utf-8" },
	{ .ext = "js", .type = "text/javascript; charset=utf-8" },
	{ .ext = "mjs", .type = "text/javascript; charset=utf-8" },
	{ .ext = "json", .type = "application/json" },
	{ .ext = "txt", .type = "text/plain; charset=utf-8" },
	{ .ext = "xml", .type = "text/xml; charset=utf-8" },
	{ .ext = "svg", .type = "image/svg+xml" },
	{ .ext = "png", .type = "image/png" },
	{ .ext = "jpg", .type = "image/jpeg" },
	{ .ext = "jpeg", .type = "image/jpeg" },
	{ .ext = "gif", .type = "image/gif" },
	{ .ext = "webp", .type = "image/webp" },
	{ .ext = "ico", .type = "image/x-icon" },
	{ .ext = "wasm", .type = "application/wasm" },
	{ .ext = "pdf", .type = "application/pdf" },
	{ .ext = "woff", .type = "font/woff" },
	{ .ext = "woff2", .type = "font/woff2" },
	{ .ext = "map", .type = "application/json" },
	{ .ext = "mp4", .type = "video/mp4" },
	{ .ext = "webm", .type = "video/webm" },
	{ .ext = "avif", .type = "image/avif" },
};

static inline unsigned char lc(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* The extension is what follows the last '.' of the last path segment, compared case-insensitively. */
const char *sk_static_mime(const char *name)
{
	const char *dot = NULL;
	for (const char *p = name; *p; p++) {
		if (*p == '.')
			dot = p;
		else if (*p == '/')
			dot = NULL;
	}
	if (dot && dot[1]) {
		const char *ext = dot + 1;
		for (size_t i = 0; i < SK_ARRAY_LEN(mime_table); i++) {
			const char *e = mime_table[i].ext;
			size_t k = 0;
			while (e[k] && ext[k] && lc((unsigned char)ext[k]) == (unsigned char)e[k])
				k++;
			if (!e[k] && !ext[k])
				return mime_table[i].type;
		}
	}
	return "application/octet-stream";
}

/* ---------------------------------------------------------------------------------------------- */
/* The ETag writer. */

struct wbuf {
	char *p;
	char *end;
	bool overflow;
};

static void put(struct wbuf *w, const void *s, size_t n)
{
	if (w->overflow || (size_t)(w->end - w->p) < n) {
		w->overflow = true;
		return;
	}
	memcpy(w->p, s, n);
	w->p += n;
}

static void put_hex(struct wbuf *w, uint64_t v)
{
	static const char hex[] = "0123456789abcdef";
	char buf[16];
	char *q = buf + sizeof(buf);
	do {
		*--q = hex[v & 15];
		v >>= 4;
	} while (v);
	put(w, q, (size_t)(buf + sizeof(buf) - q));
}

/* The strong validator for a file: "<mtime hex>-<size hex>" in quotes, as nginx builds it. */
static size_t make_etag(char *out, const struct stat *st)
{
	struct wbuf w = { .p = out, .end = out + 40 };
	put(&w, "\"", 1);
	put_hex(&w, (uint64_t)st->st_mtim.tv_sec);
	put(&w, "-", 1);
	put_hex(&w, (uint64_t)st->st_size);
	put(&w, "\"", 1);
	return (size_t)(w.p - out);
}

/* Keeps n bytes of p in out's text and returns them as a slice (NULL slice when out of room). */
static struct sk_slice keep(struct sk_static_resp *out, const char *p, size_t n)
{
	if (out->text_len + n > sizeof(out->text)) {
		out->overflow = true;
		return (struct sk_slice){ 0 };
	}
	char *d = out->text + out->text_len;
	memcpy(d, p, n);
	out->text_len += n;
	return (struct sk_slice){ .ptr = d, .len = n };
}

static void field(struct sk_static_resp *out, const char *name, const char *value, size_t vlen)
{
	SK_ASSERT(out->resp.n_fields < SK_ARRAY_LEN(out->fields));
	out->fields[out->resp.n_fields++] = (struct sk_http_field){ .name = { .ptr = name, .len = strlen(name) },
								    .value = keep(out, value, vlen) };
}

static void field_str(struct sk_static_resp *out, const char *name, const char *value)
{
	field(out, name, value, strlen(value));
}

/* Status and Date: the start every response shares. */
static void start(struct sk_static_resp *out, int status)
{
	out->resp = (struct sk_http_response){ .status = status, .fields = out->fields, .body = SK_BODY_LENGTH };
	out->status = status;
	out->text_len = 0;
	out->overflow = false;
	out->fd = -1;
	out->offset = 0;
	out->length = 0;
	out->body = NULL;
	char date[30];
	sk_http_date((int64_t)(sk_wall_ms() / 1000), date);
	field_str(out, "Date", date);
}

/*
 * An error or redirect response: a small HTML body (counted in the length even when the method is HEAD).
 * A non-empty location_path makes a Location of location_path + "/" + query.
 */
static int error_resp(struct sk_static_resp *out, int status, struct sk_slice location_path, struct sk_slice query)
{
	char body[128];
	const char *text = sk_http_status_text(status);
	int blen = snprintf(body, sizeof(body), "<html><body><h1>%d %s</h1></body></html>\n", status, text);
	start(out, status);
	if (status == 405)
		field_str(out, "Allow", "GET, HEAD");
	if (location_path.len) {
		char loc[1024];
		if (location_path.len + 1 + query.len > sizeof(loc))
			return -1;
		memcpy(loc, location_path.ptr, location_path.len);
		loc[location_path.len] = '/';
		/* the parser let no CR, LF or space through in the target */
		memcpy(loc + location_path.len + 1, query.ptr, query.len);
		field(out, "Location", loc, location_path.len + 1 + query.len);
	}
	field_str(out, "Content-Type", "text/html; charset=utf-8");
	struct sk_slice b = keep(out, body, (size_t)blen);
	out->body = b.ptr;
	out->resp.length = b.len;
	return out->overflow ? -1 : 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* Conditionals. */

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Weak comparison (RFC 9110 §8.8.3.2) of every entity-tag in an If-None-Match value against ours.
 * "*" matches any existing file. A malformed list stops the scan with no match, so a broken header
 * costs a full response, never a wrong 304.
 */
static bool inm_matches(struct sk_slice v, const char *etag, size_t etag_len)
{
	const char *p = v.ptr, *end = v.ptr + v.len;
	for (;;) {
		while (p < end && (is_ows(*p) || *p == ','))
			p++;
		if (p == end)
			return false;
		if (*p == '*')
			return true;
		if (end - p >= 2 && p[0] == 'W' && p[1] == '/')
			p += 2;
		if (p == end || *p != '"')
			return false;
		const char *q = memchr(p + 1, '"', (size_t)(end - p - 1));
		if (!q)
			return false;
		if ((size_t)(q + 1 - p) == etag_len && memcmp(p, etag, etag_len) == 0)
			return true;
		p = q + 1;
	}
}

static bool name_is(struct sk_slice n, const char *lit, size_t len)
{
	if (n.len != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (lc((unsigned char)n.ptr[i]) != (unsigned char)lit[i])
			return false;
	return true;
}

/*
 * True when the request's validators say the viewer's copy is current. If-None-Match (every field)
 * takes precedence; If-Modified-Since counts only when there is none (RFC 9110 §13.2.2).
 */
static bool not_modified(const struct sk_http_request *req, const char *etag, size_t etag_len,
			 int64_t mtime)
{
	bool have_inm = false;
	struct sk_slice ims = { 0 };
	bool have_ims = false;

	for (unsigned i = 0; i < req->n_headers; i++) {
		const struct sk_http_field *h = &req->headers[i];
		if (name_is(h->name, "if-none-match", 13)) {
			have_inm = true;
			if (inm_matches(h->value, etag, etag_len))
				return true;
		} else if (!have_ims && name_is(h->name, "if-modified-since", 17)) {
			ims = h->value;
			have_ims = true;
		}
	}
	if (have_inm || !have_ims)
		return false;
	int64_t since;
	return sk_http_date_parse(ims, &since) == 0 && mtime <= since;
}

/* ---------------------------------------------------------------------------------------------- */
/* Lookup. */

/*
 * The relative name to open: path without its leading '/', percent-escapes decoded (the normaliser keeps
 * escapes of reserved characters, but the file "a b.txt" is asked for as "/a%20b.txt"), "index.html"
 * appended to a folder path. The normaliser has already refused %2F and %00, so decoding cannot create
 * a new segment or cut the name short; a NUL or '/' produced anyway is refused here too.
 * Returns the length, or -1.
 */
static ssize_t relative_name(struct sk_slice path, char *out, size_t cap)
{
	size_t i = 0, o = 0;
	while (i < path.len && path.ptr[i] == '/')
		i++;
	for (; i < path.len; i++) {
		char c = path.ptr[i];
		if (c == '%') {
			int hi, lo;
			if (i + 2 >= path.len || (hi = sk_hexval((unsigned char)path.ptr[i + 1])) < 0 ||
			    (lo = sk_hexval((unsigned char)path.ptr[i + 2])) < 0)
				return -1;
			c = (char)(hi << 4 | lo);
			if (c == '\0' || c == '/')
				return -1;
			i += 2;
		} else if (c == '\0') {
			return -1;
		}
		if (o + 1 >= cap)
			return -1;
		out[o++] = c;
	}
	if (o == 0 || out[o - 1] == '/') {
		static const char idx[] = "index.html";
		if (o + sizeof(idx) > cap)
			return -1;
		memcpy(out + o, idx, sizeof(idx));
		return (ssize_t)(o + sizeof(idx) - 1);
	}
	out[o] = '\0';
	return (ssize_t)o;
}

static int open_beneath(int root_fd, const char *rel)
{
	struct open_how how = {
		/* O_NONBLOCK: opening a FIFO someone left in the root must not block a worker. */
		.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	int fd;
	/* EAGAIN: a concurrent rename made the kernel unsure that ".." stayed beneath; try again. */
	for (int tries = 0; tries < 3; tries++) {
		fd = (int)syscall(SYS_openat2, root_fd, rel, &how, sizeof(how));
		if (fd != -1 || errno != EAGAIN)
			break;
	}
	return fd;
}

/*
 * See static.h. Statuses: 200, 304, 301, 404, 405; 500 when the descriptor could not be opened for a
 * reason that is not about the path (EMFILE, ENFILE, ENOMEM...), so that running out of descriptors does
 * not read as a missing file. The returned fd for a 200 is non-blocking (see open_beneath) and is -1 for
 * HEAD (no body to send). A Location that does not fit in head makes the call fail (-1).
 */
int sk_static_prepare(int root_fd, struct sk_slice path, struct sk_slice query,
		      const struct sk_http_request *req, struct sk_static_resp *out)
{
	bool head_only = sk_slice_eq(req->method, "HEAD");
	struct sk_slice none = { 0 };
	char rel[PATH_MAX];
	struct stat st;

	out->fd = -1;
	if (!head_only && !sk_slice_eq(req->method, "GET"))
		return error_resp(out, 405, none, none);

	if (path.len == 0 || path.ptr[0] != '/')
		return error_resp(out, 404, none, none);
	bool folder = path.ptr[path.len - 1] == '/';
	if (relative_name(path, rel, sizeof(rel)) < 0)
		return error_resp(out, 404, none, none);

	int fd = open_beneath(root_fd, rel);
	if (fd == -1) {
		switch (errno) {
		case EMFILE:
		case ENFILE:
		case ENOMEM:
		case EINTR:
			return error_resp(out, 500, none, none);
		default:
			/* ENOENT, ENOTDIR, EXDEV (escapes the root), ELOOP, EACCES, ENAMETOOLONG... */
			return error_resp(out, 404, none, none);
		}
	}
	if (fstat(fd, &st) == -1) {
		close(fd);
		return error_resp(out, 500, none, none);
	}
	if (S_ISDIR(st.st_mode) && !folder) {
		close(fd);
		return error_resp(out, 301, path, query);
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return error_resp(out, 404, none, none);
	}

	char etag[40];
	size_t etag_len = make_etag(etag, &st);
	char lastmod[30];
	sk_http_date((int64_t)st.st_mtim.tv_sec, lastmod);

	if (not_modified(req, etag, etag_len, (int64_t)st.st_mtim.tv_sec)) {
		close(fd);
		start(out, 304);
		out->resp.body = SK_BODY_NONE;
		field_str(out, "Last-Modified", lastmod);
		field(out, "ETag", etag, etag_len);
		return out->overflow ? -1 : 0;
	}

	start(out, 200);
	field_str(out, "Content-Type", sk_static_mime(rel));
	field_str(out, "Last-Modified", lastmod);
	field(out, "ETag", etag, etag_len);
	field_str(out, "Accept-Ranges", "none");
	if (out->overflow) {
		close(fd);
		return -1;
	}
	out->resp.length = (uint64_t)st.st_size;
	if (head_only) {
		close(fd);
	} else {
		out->fd = fd;
		out->length = (uint64_t)st.st_size;
	}
	return 0;
}
