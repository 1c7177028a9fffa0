/*
 * h1_parse.c — the strict HTTP/1.1 head parser (DESIGN §2; the contract is h1.h).
 *
 * Role: turn the bytes of a request or response head into slices of the caller's buffer and decide the
 * message framing once, here, so that nothing downstream ever copies Content-Length or
 * Transfer-Encoding blindly.
 *
 * Invariants:
 *  - Pure: no allocation, no I/O, no global state; every output slice points into buf[0..len).
 *  - Stateless and restartable: the caller re-parses from the start when more bytes arrive (as with
 *    picohttpparser). One call is a single left-to-right pass, and the scan never goes past
 *    min(len, header_block) bytes, so the work per call is bounded by the head limit.
 *  - INCOMPLETE means "nothing seen so far is wrong": bytes are validated as they are scanned, and the
 *    field rules that can be decided early (duplicate CL/TE/Host, CL+TE, bad CL or TE value) are decided
 *    when the field's line is complete, not when the head is.
 *  - A limit is reported as soon as it is certainly exceeded, even when the head is incomplete.
 */
#include "http/h1.h"
#include "http/text.h"

#include <string.h>

#define DEFAULT_REQUEST_LINE 8192
#define DEFAULT_HEADER_BLOCK 16384
#define DEFAULT_HEADER_FIELDS 100
#define CL_MAX (UINT64_C(1) << 62)

/*
 * Character classes. C_TOKEN: RFC 9110 tchar (method, field names). C_VALUE: field-value and
 * reason-phrase bytes (HTAB, SP, VCHAR, obs-text). C_TARGET: request-target bytes (VCHAR and obs-text:
 * no space, no control character; raw UTF-8 is left to the path normaliser to judge).
 * The ranges are written so that no entry is initialised twice (-Woverride-init).
 */
enum { C_TOKEN = 1, C_VALUE = 2, C_TARGET = 4 };
#define TVT (C_TOKEN | C_VALUE | C_TARGET)
#define VT (C_VALUE | C_TARGET)

static const uint8_t cls[256] = {
	['\t'] = C_VALUE,
	[' '] = C_VALUE,
	['!'] = TVT,
	['"'] = VT,
	['#' ... '\''] = TVT,
	['('] = VT,
	[')'] = VT,
	['*'] = TVT,
	['+'] = TVT,
	[','] = VT,
	['-'] = TVT,
	['.'] = TVT,
	['/'] = VT,
	['0' ... '9'] = TVT,
	[':' ... '@'] = VT,
	['A' ... 'Z'] = TVT,
	['[' ... ']'] = VT,
	['^' ... '`'] = TVT,
	['a' ... 'z'] = TVT,
	['{'] = VT,
	['|'] = TVT,
	['}'] = VT,
	['~'] = TVT,
	[0x80 ... 0xff] = VT,
};

/* Internal outcome of the scanners: the public results, plus "ran off the end of the scanned bytes". */
enum { NEED = -1 };


/*
 * Word-at-a-time scanning (8 bytes per step) for the long runs of a head: targets, cookies, user agents.
 * has_less(x, n) is true when some byte of x is below n (exact as an "any" test, n <= 128);
 * has_byte(x, b) is true when some byte equals b.
 */
#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

static inline bool has_less(uint64_t x, unsigned n)
{
	return ((x - ONES * n) & ~x & HIGHS) != 0;
}

static inline bool has_byte(uint64_t x, unsigned b)
{
	uint64_t y = x ^ (ONES * b);
	return ((y - ONES) & ~y & HIGHS) != 0;
}

/* Returns the first byte in [p, end) that is not a field-value byte, or end. */
static const char *scan_value(const char *p, const char *end)
{
	while (end - p >= 8) {
		uint64_t x;
		memcpy(&x, p, 8);
		if (has_less(x, 0x20) || has_byte(x, 0x7f))
			break;
		p += 8;
	}
	while (p < end && (cls[(unsigned char)*p] & C_VALUE))
		p++;
	return p;
}

/* Returns the first byte in [p, end) that is not a request-target byte, or end. */
static const char *scan_target(const char *p, const char *end)
{
	while (end - p >= 8) {
		uint64_t x;
		memcpy(&x, p, 8);
		if (has_less(x, 0x21) || has_byte(x, 0x7f))
			break;
		p += 8;
	}
	while (p < end && (cls[(unsigned char)*p] & C_TARGET))
		p++;
	return p;
}

static const char *scan_token(const char *p, const char *end)
{
	while (p < end && (cls[(unsigned char)*p] & C_TOKEN))
		p++;
	return p;
}

/* Expects CRLF at *pp; NEED when the buffer ends first, SK_H1_BAD on a bare CR or LF. */
static int expect_crlf(const char **pp, const char *end)
{
	const char *p = *pp;
	if (p == end)
		return NEED;
	if (*p != '\r')
		return SK_H1_BAD;
	if (p + 1 == end)
		return NEED;
	if (p[1] != '\n')
		return SK_H1_BAD;
	*pp = p + 2;
	return SK_H1_DONE;
}

/*
 * Matches "HTTP/1.0" or "HTTP/1.1" at *pp within [*pp, end). Returns SK_H1_DONE with *minor set,
 * SK_H1_BAD on the first byte that cannot belong to it, or NEED if end comes first.
 */
static int parse_version(const char **pp, const char *end, int *minor)
{
	static const char prefix[] = "HTTP/1.";
	const char *p = *pp;
	for (size_t i = 0; i < sizeof(prefix) - 1; i++, p++) {
		if (p == end)
			return NEED;
		if (*p != prefix[i])
			return SK_H1_BAD;
	}
	if (p == end)
		return NEED;
	if (*p != '0' && *p != '1')
		return SK_H1_BAD;
	*minor = *p - '0';
	*pp = p + 1;
	return SK_H1_DONE;
}

/* What the field rules have gathered so far; turned into framing at the end of the head. */
struct framing {
	bool is_request;
	bool has_cl;
	bool has_te;
	unsigned n_host;
	uint64_t cl;
	struct sk_slice host;
	unsigned flags;
};

/* Content-Length: 1*DIGIT, no sign, no list, at most 2^62. */
static bool parse_cl(struct sk_slice v, uint64_t *out)
{
	if (v.len == 0)
		return false;
	uint64_t n = 0;
	for (size_t i = 0; i < v.len; i++) {
		unsigned d = (unsigned)(unsigned char)v.ptr[i] - '0';
		if (d > 9)
			return false;
		if (n > (CL_MAX - d) / 10)
			return false;
		n = n * 10 + d;
	}
	*out = n;
	return true;
}

/* Sets the SK_HF_CONN_* flags for the comma-separated tokens of one Connection field. */
static unsigned connection_flags(struct sk_slice v)
{
	unsigned flags = 0;
	const char *p = v.ptr, *end = v.ptr + v.len;
	struct sk_slice tok;
	while (sk_list_next(&p, end, &tok)) {
		if (SK_SLICE_IEQ(tok, "close"))
			flags |= SK_HF_CONN_CLOSE;
		else if (SK_SLICE_IEQ(tok, "keep-alive"))
			flags |= SK_HF_CONN_KEEPALIVE;
		else if (SK_SLICE_IEQ(tok, "upgrade"))
			flags |= SK_HF_CONN_UPGRADE;
	}
	return flags;
}

/*
 * Judges a Transfer-Encoding value (RFC 9112 §6.1): a lone "chunked" is the only framing we decode.
 * A list that cannot be read (an empty element, a non-token byte, a parameter), or one where chunked is
 * repeated or not last, leaves the body's length unknown: SK_H1_BAD. A readable list that names another
 * coding ("gzip, chunked", "identity"): SK_H1_NOT_IMPLEMENTED, the 501 the RFC asks for.
 */
static int te_check(struct sk_slice v)
{
	const char *p = v.ptr, *end = v.ptr + v.len;
	unsigned n = 0, chunked = 0;
	bool last_chunked = false;
	for (;;) {
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		const char *t = p;
		p = scan_token(p, end);
		if (p == t)
			return SK_H1_BAD;
		last_chunked = (size_t)(p - t) == 7 && sk_ascii_ieq(t, "chunked", 7);
		chunked += last_chunked;
		n++;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p == end)
			break;
		if (*p != ',')
			return SK_H1_BAD;
		p++;
	}
	if (chunked > 1 || (chunked && !last_chunked))
		return SK_H1_BAD;
	return n == 1 && chunked ? SK_H1_DONE : SK_H1_NOT_IMPLEMENTED;
}

/* Applies the rules tied to one field's name; SK_H1_BAD (or, for a request's transfer coding,
 * SK_H1_NOT_IMPLEMENTED) if the field makes the message unacceptable. */
static int field_rules(struct framing *f, const struct sk_http_field *h)
{
	const char *n = h->name.ptr;
	switch (h->name.len) {
	case 4:
		if (f->is_request && sk_ascii_ieq(n, "host", 4)) {
			if (++f->n_host > 1)
				return SK_H1_BAD;
			f->host = h->value;
			f->flags |= SK_HF_HAS_HOST;
		}
		break;
	case 6:
		if (f->is_request && sk_ascii_ieq(n, "expect", 6) && SK_SLICE_IEQ(h->value, "100-continue"))
			f->flags |= SK_HF_EXPECT_CONTINUE;
		break;
	case 7:
		if (sk_ascii_ieq(n, "upgrade", 7))
			f->flags |= SK_HF_HAS_UPGRADE;
		break;
	case 10:
		if (sk_ascii_ieq(n, "connection", 10))
			f->flags |= connection_flags(h->value);
		break;
	case 14:
		if (sk_ascii_ieq(n, "content-length", 14)) {
			if (f->has_cl || f->has_te || !parse_cl(h->value, &f->cl))
				return SK_H1_BAD;
			f->has_cl = true;
			return SK_H1_DONE;
		}
		break;
	case 17:
		/* Only a lone "chunked" is framing we understand; we never decode other codings, and
		 * "chunked, chunked" or "gzip, chunked" are classic smuggling shapes. */
		if (sk_ascii_ieq(n, "transfer-encoding", 17)) {
			if (f->has_te || f->has_cl)
				return SK_H1_BAD;
			int r = te_check(h->value);
			if (r != SK_H1_DONE)
				return f->is_request ? r : SK_H1_BAD;
			f->has_te = true;
			return SK_H1_DONE;
		}
		break;
	default:
		break;
	}
	/* Look-alikes of the framing fields: CGI and WSGI origins read "Content_Length" or "Transfer_Encoding"
	 * as the real thing, so such a request would be framed one way here and another way there. Only names
	 * of 14 bytes or more starting with c or t can read as one, which keeps this off most fields. */
	if (f->is_request && sk_http_framing_lookalike(h->name))
		return SK_H1_BAD;
	return SK_H1_DONE;
}

/*
 * Parses header fields from p up to and including the empty line. field_limit: the most fields
 * allowed. On SK_H1_DONE, *pp points after the blank line and *n_out holds the field count.
 */
static int parse_fields(const char **pp, const char *end, struct framing *f, struct sk_http_field *headers,
			unsigned field_limit, unsigned *n_out)
{
	const char *p = *pp;
	unsigned n = 0;
	for (;;) {
		if (p == end)
			return NEED;
		if (*p == '\r') {
			int r = expect_crlf(&p, end);
			if (r != SK_H1_DONE)
				return r;
			break;
		}
		/* A line starting with whitespace is obs-fold (or whitespace after the start line): both
		 * are rejected, RFC 9112 §5.2 and §2.2. */
		if (*p == ' ' || *p == '\t')
			return SK_H1_BAD;
		if (n >= field_limit)
			return SK_H1_HEAD_TOO_LARGE;
		const char *name = p;
		p = scan_token(p, end);
		if (p == end)
			return NEED;
		/* Anything but a colon here is a non-token byte, whitespace before the colon, a line with no
		 * colon, or (p == name) an empty name. */
		if (*p != ':' || p == name)
			return SK_H1_BAD;
		const char *name_end = p++;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		const char *value = p;
		p = scan_value(p, end);
		const char *value_end = p;
		int r = expect_crlf(&p, end);
		if (r != SK_H1_DONE)
			return r;
		while (value_end > value && (value_end[-1] == ' ' || value_end[-1] == '\t'))
			value_end--;
		struct sk_http_field *h = &headers[n++];
		*h = (struct sk_http_field){
			.name = { .ptr = name, .len = (size_t)(name_end - name) },
			.value = { .ptr = value, .len = (size_t)(value_end - value) },
		};
		r = field_rules(f, h);
		if (r != SK_H1_DONE)
			return r;
	}
	*pp = p;
	*n_out = n;
	return SK_H1_DONE;
}

struct limits {
	size_t line;
	size_t block;
	unsigned fields;
};

static struct limits resolve_limits(const struct sk_h1_limits *lim, unsigned max_headers)
{
	struct limits l = {
		.line = lim && lim->request_line ? lim->request_line : DEFAULT_REQUEST_LINE,
		.block = lim && lim->header_block ? lim->header_block : DEFAULT_HEADER_BLOCK,
		.fields = lim && lim->header_fields ? lim->header_fields : DEFAULT_HEADER_FIELDS,
	};
	if (max_headers < l.fields)
		l.fields = max_headers;
	return l;
}

/*
 * Turns NEED into the public answer: a head that is incomplete within the first `block` bytes while at
 * least `block` bytes are buffered cannot fit (it needs one more byte at the least).
 */
static enum sk_h1_result finish(int r, size_t len, size_t block)
{
	if (r == NEED)
		return len >= block ? SK_H1_HEAD_TOO_LARGE : SK_H1_INCOMPLETE;
	return (enum sk_h1_result)r;
}

/*
 * A start line may hold at most `cap` bytes before its CRLF. The scanners run within
 * lend = min(end, line + cap + 1): the CR may sit at index cap at the latest. Running into lend when it is
 * that cap (not the end of the data) means the line is too long.
 */
static int line_need(bool capped, int too_long)
{
	return capped ? too_long : NEED;
}

static int parse_request_line(const char **pp, const char *end, size_t cap, struct sk_http_request *req)
{
	const char *p = *pp;
	/* RFC 9112 §2.2: skip empty lines before the request line (CRLF only: a bare LF is BAD). */
	while (p < end && *p == '\r') {
		int r = expect_crlf(&p, end);
		if (r != SK_H1_DONE)
			return r;
	}
	const char *line = p;
	bool capped = (size_t)(end - line) > cap;
	const char *lend = capped ? line + cap + 1 : end;
	int r;

	const char *m = p;
	p = scan_token(p, lend);
	if (p == lend)
		return line_need(capped, SK_H1_URI_TOO_LONG);
	if (*p != ' ' || p == m)
		return SK_H1_BAD;
	req->method = (struct sk_slice){ .ptr = m, .len = (size_t)(p - m) };

	const char *t = ++p;
	p = scan_target(p, lend);
	if (p == lend)
		return line_need(capped, SK_H1_URI_TOO_LONG);
	if (*p != ' ' || p == t)
		return SK_H1_BAD;
	req->target = (struct sk_slice){ .ptr = t, .len = (size_t)(p - t) };

	p++;
	int minor = 0;
	r = parse_version(&p, lend, &minor);
	req->version = minor == 0 ? SK_HTTP_10 : SK_HTTP_11;
	if (r == NEED)
		return line_need(capped, SK_H1_URI_TOO_LONG);
	if (r != SK_H1_DONE)
		return r;
	if (p == lend)
		return line_need(capped, SK_H1_URI_TOO_LONG);
	r = expect_crlf(&p, end);
	if (r != SK_H1_DONE)
		return r;
	*pp = p;
	return SK_H1_DONE;
}

enum sk_h1_result sk_h1_parse_request(const char *buf, size_t len, const struct sk_h1_limits *lim,
				      struct sk_http_request *req, struct sk_http_field *headers,
				      unsigned max_headers)
{
	struct limits l = resolve_limits(lim, headers ? max_headers : 0);
	const char *p = buf;
	const char *end = buf + (len < l.block ? len : l.block);
	*req = (struct sk_http_request){ .headers = headers };

	int r = parse_request_line(&p, end, l.line, req);
	if (r != SK_H1_DONE)
		return finish(r, len, l.block);

	struct framing f = { .is_request = true };
	r = parse_fields(&p, end, &f, headers, l.fields, &req->n_headers);
	if (r != SK_H1_DONE)
		return finish(r, len, l.block);

	/* RFC 9112 §3.2: exactly one Host in HTTP/1.1. RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0
	 * message means faulty framing. */
	if (req->version == SK_HTTP_11 && f.n_host == 0)
		return SK_H1_BAD;
	if (f.has_te && req->version == SK_HTTP_10)
		return SK_H1_BAD;
	req->host = f.host;
	req->flags = f.flags;
	req->content_length = f.has_cl ? f.cl : 0;
	req->body = f.has_te ? SK_BODY_CHUNKED : f.has_cl ? SK_BODY_LENGTH : SK_BODY_NONE;
	req->head_len = (size_t)(p - buf);
	return SK_H1_DONE;
}

static int parse_status_line(const char **pp, const char *end, size_t cap, struct sk_h1_response *resp)
{
	const char *p = *pp;
	bool capped = (size_t)(end - p) > cap;
	const char *lend = capped ? p + cap + 1 : end;
	int r = parse_version(&p, lend, &resp->minor_version);
	if (r == NEED)
		return line_need(capped, SK_H1_HEAD_TOO_LARGE);
	if (r != SK_H1_DONE)
		return r;

	/* SP 3DIGIT */
	int status = 0;
	for (int i = 0; i < 4; i++, p++) {
		if (p == lend)
			return line_need(capped, SK_H1_HEAD_TOO_LARGE);
		if (i == 0) {
			if (*p != ' ')
				return SK_H1_BAD;
			continue;
		}
		if (*p < '0' || *p > '9')
			return SK_H1_BAD;
		status = status * 10 + (*p - '0');
	}
	if (status < 100 || status > 599)
		return SK_H1_BAD;
	resp->status = status;

	/* [SP reason-phrase] CRLF. Missing SP before an empty reason is tolerated: origins send it, and the
	 * reason carries no meaning (RFC 9112 §4). */
	if (p == lend)
		return line_need(capped, SK_H1_HEAD_TOO_LARGE);
	const char *reason = p;
	if (*p == ' ') {
		reason = ++p;
		p = scan_value(p, lend);
		if (p == lend)
			return line_need(capped, SK_H1_HEAD_TOO_LARGE);
	}
	resp->reason = (struct sk_slice){ .ptr = reason, .len = (size_t)(p - reason) };
	r = expect_crlf(&p, end);
	if (r != SK_H1_DONE)
		return r;
	*pp = p;
	return SK_H1_DONE;
}

enum sk_h1_result sk_h1_parse_response(const char *buf, size_t len, const struct sk_h1_limits *lim,
				       bool req_method_head, struct sk_h1_response *resp,
				       struct sk_http_field *headers, unsigned max_headers)
{
	struct limits l = resolve_limits(lim, headers ? max_headers : 0);
	const char *p = buf;
	const char *end = buf + (len < l.block ? len : l.block);
	*resp = (struct sk_h1_response){ .headers = headers };

	int r = parse_status_line(&p, end, l.line, resp);
	if (r != SK_H1_DONE)
		return finish(r, len, l.block);

	struct framing f = { .is_request = false };
	r = parse_fields(&p, end, &f, headers, l.fields, &resp->n_headers);
	if (r != SK_H1_DONE)
		return finish(r, len, l.block);

	if (f.has_te && resp->minor_version == 0)
		return SK_H1_BAD;
	resp->flags = f.flags;
	resp->content_length = f.has_cl ? f.cl : 0;
	int s = resp->status;
	if (req_method_head || s < 200 || s == 204 || s == 304)
		resp->body = SK_BODY_NONE;
	else if (f.has_te)
		resp->body = SK_BODY_CHUNKED;
	else if (f.has_cl)
		resp->body = SK_BODY_LENGTH;
	else
		resp->body = SK_BODY_CLOSE;
	resp->head_len = (size_t)(p - buf);
	return SK_H1_DONE;
}
