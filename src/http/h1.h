/*
 * h1.h — the strict HTTP/1.1 parser (DESIGN §2): pure functions of their input, no I/O, no allocation.
 *
 * Parsed fields are slices into the caller's buffer, valid as long as that buffer is unchanged.
 * A parse either completes (returns the head length), asks for more bytes, or rejects with the status
 * the connection must answer before closing. Framing is decided here, once, so that the proxy never
 * copies Content-Length / Transfer-Encoding blindly.
 */
#ifndef SK_H1_H
#define SK_H1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/core.h"
#include "http/msg.h"

enum sk_h1_result {
	SK_H1_DONE = 0,         /* a complete head was parsed */
	SK_H1_INCOMPLETE,       /* need more bytes; nothing in the buffer is wrong so far */
	SK_H1_BAD,              /* 400: malformed or forbidden (smuggling-shaped) input */
	SK_H1_URI_TOO_LONG,     /* 414: request line longer than limits.request_line */
	SK_H1_HEAD_TOO_LARGE,   /* 431: header block larger than limits.header_block, or too many fields */
	SK_H1_NOT_IMPLEMENTED,  /* 501: a transfer coding other than chunked (requests only) */
};

/* A NULL limits pointer, or a field left at 0, means the default of that field. */
struct sk_h1_limits {
	uint32_t request_line;  /* bytes of the request line excluding CRLF; default 8192 */
	uint32_t header_block;  /* bytes of the whole head including the final CRLFCRLF; default 16384 */
	uint32_t header_fields; /* default 100; also bounded by the caller's header array */
};

/* An origin's response head (the request side is struct sk_http_request, msg.h). */
struct sk_h1_response {
	int status;               /* 100..599 */
	struct sk_slice reason;
	int minor_version;
	struct sk_http_field *headers;
	unsigned n_headers;
	enum sk_http_body body;
	uint64_t content_length;
	unsigned flags;
	size_t head_len;
};

/*
 * Parses a request head from buf[0..len). headers/max_headers is the caller's array for the fields.
 * Leading empty lines (CRLF) before the request line are skipped as RFC 9112 §2.2 allows (they count in
 * head_len). Rejections (SK_H1_BAD): both Content-Length and Transfer-Encoding; several Content-Length
 * fields or values (even if equal); an empty, signed or non-digit Content-Length or one above 2^62;
 * a Transfer-Encoding that is not a list of tokens, names chunked twice or not last ("chunked, gzip");
 * a field name that is not exactly transfer-encoding or content-length but reads as one once lower-cased
 * with '_' read as '-' and runs of '-' merged ("Transfer_Encoding", "Content--Length"); obs-fold; a bare CR or bare LF line ending; NUL or other control
 * characters (except HTAB in values); whitespace between a field name and the colon; non-token
 * characters in the method or a field name; an empty field name; a request-target with spaces or control
 * characters; a version other than HTTP/1.0 or HTTP/1.1; zero or several Host fields in HTTP/1.1
 * (HTTP/1.0 may omit it); Transfer-Encoding in an HTTP/1.0 message (RFC 9112 §6.1: faulty framing).
 * SK_H1_NOT_IMPLEMENTED (RFC 9112 §6.1, 501): a well-formed Transfer-Encoding naming a coding other than
 * chunked ("gzip, chunked", "identity"): we decode none, so only a lone "chunked" is accepted.
 * Limits give SK_H1_URI_TOO_LONG / SK_H1_HEAD_TOO_LARGE as soon as they are exceeded, even when the head
 * is still incomplete. Bytes are validated as they are scanned, so SK_H1_BAD may come before the head is
 * complete; a prefix of a head never gets an answer other than SK_H1_INCOMPLETE or that of the whole.
 */
enum sk_h1_result sk_h1_parse_request(const char *buf, size_t len, const struct sk_h1_limits *lim,
				      struct sk_http_request *req, struct sk_http_field *headers,
				      unsigned max_headers);

/*
 * Parses a response head from an origin. req_method_head: the request was HEAD (no body whatever the
 * fields say). Framing: 1xx, 204, 304 and HEAD → SK_BODY_NONE; chunked → SK_BODY_CHUNKED;
 * Content-Length → SK_BODY_LENGTH; neither → SK_BODY_CLOSE. The same strictness as requests applies
 * (CL+TE, several CL, obs-fold, bare CR → SK_H1_BAD; a Transfer-Encoding other than "chunked" is BAD
 * even where no body follows, never SK_H1_NOT_IMPLEMENTED); the limits bound the status line and head, and both give
 * SK_H1_HEAD_TOO_LARGE (never SK_H1_URI_TOO_LONG). content_length keeps the field's value even when the
 * body is SK_BODY_NONE (a HEAD or 304 answer). "HTTP/1.1 200\r\n" (no SP, empty reason) is accepted.
 */
enum sk_h1_result sk_h1_parse_response(const char *buf, size_t len, const struct sk_h1_limits *lim,
				       bool req_method_head, struct sk_h1_response *resp,
				       struct sk_http_field *headers, unsigned max_headers);

/* How a response head is written toward an HTTP/1.x viewer (sk_h1_write_head). */
struct sk_h1_wopts {
	bool keep_alive;            /* else "Connection: close" */
	bool http10;                /* the viewer spoke HTTP/1.0: a kept-alive answer says "Connection: keep-alive" */
	enum sk_http_body framing;  /* what is sent: NONE, LENGTH (r->length), CHUNKED or CLOSE (sk_h1_framing) */
};

/*
 * Writes the response head: status line ("HTTP/1.1", the origin's reason or the table's text), the fields
 * (an origin's minus hop-by-hop ones, its Content-Length and Transfer-Encoding and Upgrade; an origin's
 * Content-Length is kept on a bodiless 2xx/3xx answer such as HEAD's or a 304), the framing field, then the
 * connection fields: "Upgrade" + "Connection: upgrade" for r->upgrade, else "Connection: close" when not
 * keep_alive, else "Connection: keep-alive" to an HTTP/1.0 viewer. Returns the length, or -1 if it does
 * not fit in cap.
 */
ssize_t sk_h1_write_head(const struct sk_http_response *r, const struct sk_h1_wopts *o, char *out, size_t cap);

/* The framing an HTTP/1.x viewer gets for r's body: an unknown length is chunked to HTTP/1.1 and
 * close-delimited to HTTP/1.0 (which then cannot keep alive). */
enum sk_http_body sk_h1_framing(const struct sk_http_response *r, bool http10);

/* Writes the size line of a chunk of n bytes ("<hex>\r\n") into out; returns its length. */
size_t sk_h1_chunk_line(char out[24], uint64_t n);

/*
 * Incremental chunked-body decoder, decoding in place (after picohttpparser's phr_decode_chunked).
 * Call with buf[0..*len) of newly received bytes. It consumes them all, moving chunk data down so that on
 * return buf[0..*len) holds only the decoded data bytes. Chunk-size lines, extensions and trailers are
 * consumed into the decoder state (their sizes are capped: a size line longer than 1 KiB, more than 16
 * hex digits, trailers longer than 16 KiB → error). Whitespace after the size is allowed only before a ';'
 * extension; the data must be followed by CRLF; trailer fields are checked for forbidden bytes.
 * Returns: SK_CHUNKED_MORE (body not finished; feed more bytes), SK_CHUNKED_DONE (the last chunk and
 * trailers were consumed; *rest is set to the number of bytes after the body, which have been moved to
 * buf[*len .. *len + *rest) and belong to the next message), or SK_CHUNKED_BAD (sticky; the buffer
 * then holds the data decoded before the error). rest may be NULL; it is 0 unless SK_CHUNKED_DONE. Once
 * DONE, a further call reports all its bytes as rest.
 */
struct sk_h1_chunked {
	uint64_t remaining;   /* data bytes left in the current chunk */
	uint32_t line_len;    /* bytes of the current size/trailer line seen so far */
	uint32_t trailer_len; /* bytes of trailers seen so far */
	uint8_t state;
	uint8_t hex_digits;
};

enum sk_chunked_result { SK_CHUNKED_MORE = 0, SK_CHUNKED_DONE, SK_CHUNKED_BAD };

void sk_h1_chunked_init(struct sk_h1_chunked *d);
enum sk_chunked_result sk_h1_chunked_decode(struct sk_h1_chunked *d, char *buf, size_t *len,
					    size_t *rest);

#endif
