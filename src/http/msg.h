/*
 * msg.h — an HTTP request as every layer above the protocols sees it: routing, the access checks, the
 * header policy, the handlers. HTTP/1.1 (h1_parse.c) and HTTP/2 both fill it; nothing that takes it
 * knows which one did (DESIGN §9). Types and small readers of fields only: no I/O, no allocation.
 *
 * Fields are slices into memory the protocol owns (HTTP/1.1: the read buffer), valid until the protocol
 * says otherwise (for HTTP/1.1, until the request head's buffer is released).
 */
#ifndef SK_HTTP_MSG_H
#define SK_HTTP_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

struct sk_http_field {
	struct sk_slice name;  /* as received (case kept; HTTP/2 names are lower case) */
	struct sk_slice value; /* leading/trailing OWS removed */
};

enum sk_http_body {
	SK_BODY_NONE = 0,  /* no body follows (requests without CL/TE; HEAD, 1xx, 204, 304 responses) */
	SK_BODY_LENGTH,    /* exactly content_length bytes follow (also for "Content-Length: 0") */
	SK_BODY_CHUNKED,   /* HTTP/1.1 chunked transfer coding; for HTTP/2: a body of unannounced length */
	SK_BODY_CLOSE,     /* responses only: the body runs until the origin closes */
};

/* The protocol version a request came in (the access log's `protocol`). */
enum sk_http_version { SK_HTTP_10 = 0, SK_HTTP_11 = 1, SK_HTTP_2 = 2 };

/* Flags found while reading the header fields, whatever the protocol. */
enum {
	SK_HF_CONN_CLOSE = 1 << 0,      /* Connection: close (any token in any Connection field) */
	SK_HF_CONN_KEEPALIVE = 1 << 1,  /* Connection: keep-alive */
	SK_HF_CONN_UPGRADE = 1 << 2,    /* Connection: upgrade */
	SK_HF_HAS_UPGRADE = 1 << 3,     /* an Upgrade field is present */
	SK_HF_EXPECT_CONTINUE = 1 << 4, /* Expect: 100-continue (requests) */
	SK_HF_HAS_HOST = 1 << 5,
};

struct sk_http_request {
	struct sk_slice method;
	struct sk_slice target;   /* request-target as sent (origin-form, absolute-form, authority or "*");
				   * HTTP/2: :path (or :authority for CONNECT) */
	uint8_t version;          /* enum sk_http_version */
	struct sk_slice host;     /* the single Host field; HTTP/2: :authority */
	struct sk_http_field *headers; /* points to the protocol's array */
	unsigned n_headers;
	enum sk_http_body body;   /* SK_BODY_NONE, SK_BODY_LENGTH or SK_BODY_CHUNKED */
	uint64_t content_length;
	unsigned flags;           /* SK_HF_* */
	size_t head_len;          /* HTTP/1.1: bytes consumed by the head, including the blank line */
};

/* Finds the first field named name (case-insensitive); NULL if absent. */
const struct sk_http_field *sk_http_find(const struct sk_http_field *headers, unsigned n, const char *name);

/* True when a field name is hop-by-hop (Connection, Keep-Alive, TE, Trailer, Transfer-Encoding, Upgrade,
 * Proxy-*) or is listed in one of the Connection fields of headers[0..n). */
bool sk_http_is_hop_by_hop(struct sk_slice name, const struct sk_http_field *headers, unsigned n);

/* Formats an IMF-fixdate (RFC 9110 §5.6.7) for wall-clock seconds into out (30 bytes, NUL-terminated). */
void sk_http_date(int64_t secs, char out[30]);
/* Parses an IMF-fixdate (and the obsolete RFC 850 and asctime forms, which RFC 9110 §5.6.7 says
 * recipients must accept); returns 0 and the seconds, or -1 (also for a day that does not exist). */
int sk_http_date_parse(struct sk_slice s, int64_t *secs);

/* The text of a status code from the one table (status.c): "Not Found"; "Error" for unknown 4xx/5xx. */
const char *sk_http_status_text(int status);

/*
 * A response as a handler describes it, whatever protocol writes it (HTTP/1.1: h1_write.c). The writer
 * adds the framing field and the connection management fields itself.
 */
struct sk_http_response {
	int status;
	struct sk_slice reason;              /* an origin's reason phrase (kept as sent); sekisho's own: the table's */
	const struct sk_http_field *fields;  /* end-to-end fields, in order */
	unsigned n_fields;
	bool from_origin;                    /* fields are an origin's: the writer drops hop-by-hop ones (and those
					      * its Connection fields name), its framing fields and Upgrade */
	bool upgrade;                        /* a 101 that switches the connection to a tunnel */
	bool tunnel;                         /* a 2xx to CONNECT: the connection becomes a tunnel; no framing
					      * and no Connection field (RFC 9110 §9.3.6) */
	enum sk_http_body body;              /* NONE, LENGTH (length bytes), CHUNKED (unknown length), CLOSE */
	uint64_t length;
};

/*
 * DESIGN §2: a request field whose name is not exactly content-length or transfer-encoding but reads as
 * one once lower-cased with '_' read as '-' and runs of '-' merged ("Transfer_Encoding", "Content--Length"):
 * CGI and WSGI origins would frame the request by it. Refused (400) by both protocols.
 */
bool sk_http_framing_lookalike(struct sk_slice name);

/*
 * The one filter of an origin's response fields, shared by every protocol's writer: what a writer does
 * with r->fields[i] (r->from_origin). conn0 is sk_http_first_connection(r->fields, r->n_fields): the
 * fields a Connection field names sit at or after it, so the common case checks the fixed list alone.
 */
enum sk_http_rf {
	SK_RF_KEEP = 0,        /* end-to-end: written */
	SK_RF_DROP,            /* hop-by-hop (the fixed list, Transfer-Encoding among them, or named by Connection) */
	SK_RF_CONTENT_LENGTH,  /* the writer frames the body itself (kept only on a bodiless answer that describes one) */
	SK_RF_UPGRADE,         /* written only with a 101 that switches protocols */
};
unsigned sk_http_first_connection(const struct sk_http_field *h, unsigned n);
enum sk_http_rf sk_http_resp_field(const struct sk_http_response *r, unsigned i, unsigned conn0);

/* "HTTP/1.0", "HTTP/1.1" or "HTTP/2". */
const char *sk_http_version_name(uint8_t version);

#endif
