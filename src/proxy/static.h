/*
 * static.h — static origins (`root: DIR`, like a bucket behind a CDN; DESIGN §1).
 * Resolves a normalised request path under the root without ever leaving it (symbolic links included),
 * and prepares the response head; the connection code then sends the body with sendfile.
 */
#ifndef SK_STATIC_H
#define SK_STATIC_H

#include <stdbool.h>
#include <sys/types.h>

#include "http/msg.h"

/* A static answer described for the viewer's writer (exchange.h): status, fields, body. */
struct sk_static_resp {
	struct sk_http_response resp; /* fields point at fields[] and text[]; body LENGTH (resp.length bytes:
				       * the file's size, also for HEAD; an error page's length) or NONE (304) */
	int status;      /* 200, 304, 301 (directory without '/'), 404, 405, 500 */
	int fd;          /* open file for a 200 to GET (the caller closes it), else -1 */
	off_t offset;
	uint64_t length; /* file bytes to send (0 for HEAD and non-200) */
	const char *body; /* an error page's body (resp.length bytes, in text), else NULL */
	struct sk_http_field fields[8];
	size_t text_len;
	bool overflow;
	char text[1536]; /* field values and an error page's body */
};

/*
 * root_fd: an O_PATH|O_DIRECTORY descriptor of the root, opened at config load.
 * path: the normalised path (starts with '/'). A path ending in '/' serves that folder's index.html.
 * query: "?..." or empty; kept in the Location of a directory redirect (as nginx does).
 * Files are opened with openat2(RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS) so nothing outside the root is
 * reachable, symlinks included. Only regular files are served; no listings. GET and HEAD only (405 with
 * Allow: GET, HEAD otherwise). Headers: Content-Type by extension, Content-Length, Last-Modified,
 * ETag ("<mtime hex>-<size hex>"), Accept-Ranges: none, Date; If-None-Match / If-Modified-Since → 304.
 * Error statuses get a small text/html body (out->body). The framing and connection fields are the
 * writer's (http/h1.h sk_h1_write_head for HTTP/1.1).
 * Returns 0, or -1 when the response did not fit (never for sane inputs).
 */
int sk_static_prepare(int root_fd, struct sk_slice path, struct sk_slice query,
		      const struct sk_http_request *req, struct sk_static_resp *out);

/* Content-Type for a file name by extension; "application/octet-stream" when unknown. */
const char *sk_static_mime(const char *name);

#endif
