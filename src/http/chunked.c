/*
 * chunked.c — the incremental, in-place decoder of the chunked transfer coding (RFC 9112 §7.1),
 * after picohttpparser's phr_decode_chunked (contract in h1.h).
 *
 * Role: strip the framing of a chunked body as its bytes arrive, so that the proxy forwards only data and
 * rebuilds its own framing toward the other side.
 *
 * Invariants:
 *  - Pure: no allocation, no I/O. All state lives in struct sk_h1_chunked, so a body may arrive split at
 *    any byte (one byte per call works) and the result is the same as for one call with everything.
 *  - In place: data bytes only ever move toward the start of the buffer (the write index never passes the
 *    read index), so one memmove per run of chunk data is enough and nothing is overwritten unread.
 *  - Strict: a size line needs 1..16 hex digits (so the size cannot overflow 64 bits), whitespace is
 *    allowed only before a ';' extension, every line ends in CRLF (a bare CR or LF is an error), the data
 *    must be followed by CRLF, and the size line (1 KiB) and trailers (16 KiB) are capped.
 *  - Extensions and trailer fields are checked for forbidden bytes and then discarded: we never forward
 *    them, so their meaning cannot differ between us and the origin.
 *  - Errors are sticky: once SK_CHUNKED_BAD, always SK_CHUNKED_BAD.
 */
#include "http/h1.h"

#include <string.h>

#define MAX_SIZE_LINE 1024
#define MAX_HEX_DIGITS 16
#define MAX_TRAILERS 16384

enum {
	ST_SIZE = 0,      /* reading the hex digits of a chunk size */
	ST_SIZE_WS,       /* whitespace after the size: only more of it or ';' may follow */
	ST_EXT,           /* inside chunk extensions, up to the CR */
	ST_SIZE_LF,       /* CR of the size line seen */
	ST_DATA,          /* chunk data; d->remaining bytes left */
	ST_DATA_CR,       /* the CR after chunk data */
	ST_DATA_LF,       /* the LF after chunk data */
	ST_TRAILER_START, /* start of a trailer field line, or of the final CRLF */
	ST_TRAILER_NAME,  /* inside a trailer field name */
	ST_TRAILER_VALUE, /* after the colon of a trailer field, up to the CR */
	ST_TRAILER_LF,    /* CR of a trailer field line seen */
	ST_FINAL_LF,      /* CR of the final empty line seen */
	ST_DONE,
	ST_BAD,
};

/* RFC 9110 tchar, for trailer field names. */
static bool is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Bytes allowed in extensions and trailer values: HTAB, SP, VCHAR, obs-text. */
static bool is_vbyte(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

void sk_h1_chunked_init(struct sk_h1_chunked *d)
{
	*d = (struct sk_h1_chunked){ .state = ST_SIZE };
}

/* Starts a new size line. */
static void next_size(struct sk_h1_chunked *d)
{
	d->state = ST_SIZE;
	d->remaining = 0;
	d->line_len = 0;
	d->hex_digits = 0;
}

/*
 * Advances the state machine by one byte outside chunk data. Returns false when the byte is not
 * acceptable there.
 */
static bool step(struct sk_h1_chunked *d, unsigned char c)
{
	switch (d->state) {
	case ST_SIZE: {
		int v = sk_hexval((unsigned char)c);
		if (v >= 0) {
			if (d->hex_digits == MAX_HEX_DIGITS)
				return false;
			d->hex_digits++;
			d->remaining = d->remaining << 4 | (uint64_t)v;
			d->line_len++;
			return true;
		}
		if (d->hex_digits == 0)
			return false;
		if (c == '\r')
			d->state = ST_SIZE_LF;
		else if (c == ';')
			d->state = ST_EXT;
		else if (c == ' ' || c == '\t')
			d->state = ST_SIZE_WS;
		else
			return false;
		break;
	}
	case ST_SIZE_WS:
		if (c == ';')
			d->state = ST_EXT;
		else if (c != ' ' && c != '\t')
			return false;
		break;
	case ST_EXT:
		if (c == '\r')
			d->state = ST_SIZE_LF;
		else if (!is_vbyte(c))
			return false;
		break;
	case ST_SIZE_LF:
		if (c != '\n')
			return false;
		if (d->remaining == 0) {
			d->state = ST_TRAILER_START;
			d->trailer_len = 0;
		} else {
			d->state = ST_DATA;
		}
		return true;
	case ST_DATA_CR:
		if (c != '\r')
			return false;
		d->state = ST_DATA_LF;
		return true;
	case ST_DATA_LF:
		if (c != '\n')
			return false;
		next_size(d);
		return true;
	case ST_TRAILER_START:
		if (++d->trailer_len > MAX_TRAILERS)
			return false;
		if (c == '\r')
			d->state = ST_FINAL_LF;
		else if (is_tchar(c))
			d->state = ST_TRAILER_NAME;
		else
			return false; /* obs-fold, empty name, bare LF, control bytes */
		return true;
	case ST_TRAILER_NAME:
	case ST_TRAILER_VALUE:
	case ST_TRAILER_LF:
		if (++d->trailer_len > MAX_TRAILERS)
			return false;
		if (d->state == ST_TRAILER_NAME) {
			if (c == ':')
				d->state = ST_TRAILER_VALUE;
			else if (!is_tchar(c))
				return false;
		} else if (d->state == ST_TRAILER_VALUE) {
			if (c == '\r')
				d->state = ST_TRAILER_LF;
			else if (!is_vbyte(c))
				return false;
		} else {
			if (c != '\n')
				return false;
			d->state = ST_TRAILER_START;
		}
		return true;
	case ST_FINAL_LF:
		if (++d->trailer_len > MAX_TRAILERS || c != '\n')
			return false;
		d->state = ST_DONE;
		return true;
	default:
		return false;
	}
	/* Still on the size line (digits, whitespace, extensions): the CR and LF are not counted. */
	if (d->state != ST_SIZE_LF && ++d->line_len > MAX_SIZE_LINE)
		return false;
	return true;
}

enum sk_chunked_result sk_h1_chunked_decode(struct sk_h1_chunked *d, char *buf, size_t *len,
					    size_t *rest)
{
	size_t n = *len, i = 0, o = 0;
	if (rest)
		*rest = 0;
	if (d->state == ST_DONE) {
		/* Already finished: every byte belongs to the next message. */
		*len = 0;
		if (rest)
			*rest = n;
		return SK_CHUNKED_DONE;
	}
	if (d->state == ST_BAD) {
		*len = 0;
		return SK_CHUNKED_BAD;
	}
	while (i < n) {
		if (d->state == ST_DATA) {
			size_t avail = n - i;
			size_t take = d->remaining < avail ? (size_t)d->remaining : avail;
			if (o != i)
				memmove(buf + o, buf + i, take);
			o += take;
			i += take;
			d->remaining -= take;
			if (d->remaining == 0)
				d->state = ST_DATA_CR;
			continue;
		}
		if (!step(d, (unsigned char)buf[i])) {
			d->state = ST_BAD;
			*len = o;
			return SK_CHUNKED_BAD;
		}
		i++;
		if (d->state == ST_DONE) {
			if (i < n)
				memmove(buf + o, buf + i, n - i);
			*len = o;
			if (rest)
				*rest = n - i;
			return SK_CHUNKED_DONE;
		}
	}
	*len = o;
	return SK_CHUNKED_MORE;
}
