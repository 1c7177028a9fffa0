/*
 * json.c — the strict tokenizer of json.h. A recursive-descent reader bounded by SK_JSON_MAX_DEPTH, so the
 * stack it uses is bounded whatever the input; it writes tokens in document order and patches each
 * container's `next` once its end is known.
 */
#include "core/json.h"

#include "core/core.h"

#include <string.h>

struct rd {
	const char *s;
	size_t n, i;
	struct sk_json_tok *toks;
	size_t cap, nt;
};

static void skip_ws(struct rd *r)
{
	while (r->i < r->n && (r->s[r->i] == ' ' || r->s[r->i] == '\t' || r->s[r->i] == '\n' || r->s[r->i] == '\r'))
		r->i++;
}

static int new_tok(struct rd *r, enum sk_json_type type, size_t start)
{
	if (r->nt >= r->cap || start > UINT32_MAX)
		return -1;
	struct sk_json_tok *t = &r->toks[r->nt];
	memset(t, 0, sizeof(*t));
	t->type = (uint8_t)type;
	t->start = (uint32_t)start;
	return (int)r->nt++;
}

/* Length of a valid UTF-8 sequence at p (at most n bytes), or 0 (overlongs, surrogates, > U+10FFFF). */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	unsigned c = p[0];
	size_t len;
	unsigned min, cp;
	if (c < 0x80)
		return 1;
	if ((c & 0xE0) == 0xC0)
		len = 2, min = 0x80, cp = c & 0x1F;
	else if ((c & 0xF0) == 0xE0)
		len = 3, min = 0x800, cp = c & 0x0F;
	else if ((c & 0xF8) == 0xF0)
		len = 4, min = 0x10000, cp = c & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t k = 1; k < len; k++) {
		if ((p[k] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[k] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

static int read_string(struct rd *r)
{
	int t = new_tok(r, SK_JSON_STRING, r->i + 1);
	if (t < 0)
		return -1;
	r->i++; /* the opening quote */
	while (r->i < r->n) {
		unsigned char c = (unsigned char)r->s[r->i];
		if (c == '"') {
			r->toks[t].len = (uint32_t)(r->i - r->toks[t].start);
			r->i++;
			r->toks[t].next = (uint32_t)r->nt;
			return t;
		}
		if (c < 0x20)
			return -1;
		if (c == '\\') {
			if (r->i + 1 >= r->n)
				return -1;
			char e = r->s[r->i + 1];
			if (e == 'u') {
				if (r->i + 6 > r->n)
					return -1;
				for (size_t k = 2; k < 6; k++)
					if (sk_hexval((unsigned char)r->s[r->i + k]) < 0)
						return -1;
				r->i += 6;
			} else if (strchr("\"\\/bfnrt", e) && e) {
				r->i += 2;
			} else {
				return -1;
			}
			continue;
		}
		size_t l = utf8_len((const unsigned char *)r->s + r->i, r->n - r->i);
		if (l == 0)
			return -1;
		r->i += l;
	}
	return -1;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int read_number(struct rd *r)
{
	size_t start = r->i;
	if (r->i < r->n && r->s[r->i] == '-')
		r->i++;
	if (r->i >= r->n || !is_digit(r->s[r->i]))
		return -1;
	if (r->s[r->i] == '0')
		r->i++;
	else
		while (r->i < r->n && is_digit(r->s[r->i]))
			r->i++;
	if (r->i < r->n && r->s[r->i] == '.') {
		r->i++;
		if (r->i >= r->n || !is_digit(r->s[r->i]))
			return -1;
		while (r->i < r->n && is_digit(r->s[r->i]))
			r->i++;
	}
	if (r->i < r->n && (r->s[r->i] == 'e' || r->s[r->i] == 'E')) {
		r->i++;
		if (r->i < r->n && (r->s[r->i] == '+' || r->s[r->i] == '-'))
			r->i++;
		if (r->i >= r->n || !is_digit(r->s[r->i]))
			return -1;
		while (r->i < r->n && is_digit(r->s[r->i]))
			r->i++;
	}
	int t = new_tok(r, SK_JSON_NUMBER, start);
	if (t < 0)
		return -1;
	r->toks[t].len = (uint32_t)(r->i - start);
	r->toks[t].next = (uint32_t)r->nt;
	return t;
}

static int read_literal(struct rd *r, const char *lit, enum sk_json_type type)
{
	size_t l = strlen(lit);
	if (r->n - r->i < l || memcmp(r->s + r->i, lit, l) != 0)
		return -1;
	int t = new_tok(r, type, r->i);
	if (t < 0)
		return -1;
	r->i += l;
	r->toks[t].len = (uint32_t)l;
	r->toks[t].next = (uint32_t)r->nt;
	return t;
}

/* Two raw (still escaped) member names that decode to the same string must be caught too. */
static bool same_name(const char *s, const struct sk_json_tok *a, const struct sk_json_tok *b)
{
	char x[256], y[256];
	if (a->len == b->len && memcmp(s + a->start, s + b->start, a->len) == 0)
		return true;
	long lx = sk_json_str(s, a, x, sizeof(x)), ly = sk_json_str(s, b, y, sizeof(y));
	/* Names too long to decode here are compared raw only: no real document has them, and they cannot
	 * name a member anyone reads (sk_json_get decodes into small buffers too). */
	return lx >= 0 && lx == ly && memcmp(x, y, (size_t)lx) == 0;
}

static int read_value(struct rd *r, unsigned depth);

static int read_container(struct rd *r, unsigned depth, bool object)
{
	if (depth >= SK_JSON_MAX_DEPTH)
		return -1;
	int t = new_tok(r, object ? SK_JSON_OBJECT : SK_JSON_ARRAY, r->i);
	if (t < 0)
		return -1;
	r->i++;
	skip_ws(r);
	char close = object ? '}' : ']';
	if (r->i < r->n && r->s[r->i] == close) {
		r->i++;
	} else {
		for (;;) {
			skip_ws(r);
			if (object) {
				if (r->i >= r->n || r->s[r->i] != '"')
					return -1;
				int k = read_string(r);
				if (k < 0)
					return -1;
				/* Earlier names of this object: walk its members by their `next` links. */
				for (int m = t + 1; m < k; m = (int)r->toks[(int)r->toks[m].next].next)
					if (same_name(r->s, &r->toks[m], &r->toks[k]))
						return -1;
				skip_ws(r);
				if (r->i >= r->n || r->s[r->i] != ':')
					return -1;
				r->i++;
				skip_ws(r);
			}
			if (read_value(r, depth + 1) < 0)
				return -1;
			r->toks[t].size++;
			skip_ws(r);
			if (r->i < r->n && r->s[r->i] == ',') {
				r->i++;
				continue;
			}
			if (r->i < r->n && r->s[r->i] == close) {
				r->i++;
				break;
			}
			return -1;
		}
	}
	r->toks[t].len = (uint32_t)(r->i - r->toks[t].start);
	r->toks[t].next = (uint32_t)r->nt;
	return t;
}

static int read_value(struct rd *r, unsigned depth)
{
	skip_ws(r);
	if (r->i >= r->n)
		return -1;
	switch (r->s[r->i]) {
	case '{': return read_container(r, depth, true);
	case '[': return read_container(r, depth, false);
	case '"': return read_string(r);
	case 't': return read_literal(r, "true", SK_JSON_TRUE);
	case 'f': return read_literal(r, "false", SK_JSON_FALSE);
	case 'n': return read_literal(r, "null", SK_JSON_NULL);
	default: return read_number(r);
	}
}

int sk_json_parse(const char *s, size_t n, struct sk_json_tok *toks, size_t cap)
{
	if (n > UINT32_MAX)
		return -1;
	struct rd r = { .s = s, .n = n, .toks = toks, .cap = cap };
	if (read_value(&r, 0) < 0)
		return -1;
	skip_ws(&r);
	if (r.i != r.n)
		return -1;
	return (int)r.nt;
}

int sk_json_get(const char *s, const struct sk_json_tok *toks, int obj, const char *key)
{
	if (obj < 0 || toks[obj].type != SK_JSON_OBJECT)
		return -1;
	int m = obj + 1;
	for (uint32_t k = 0; k < toks[obj].size; k++) {
		if (sk_json_str_eq(s, &toks[m], key))
			return m + 1;
		m = (int)toks[m + 1].next;
	}
	return -1;
}

static void put_utf8(char *out, size_t *o, unsigned cp)
{
	if (cp < 0x80) {
		out[(*o)++] = (char)cp;
	} else if (cp < 0x800) {
		out[(*o)++] = (char)(0xC0 | (cp >> 6));
		out[(*o)++] = (char)(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		out[(*o)++] = (char)(0xE0 | (cp >> 12));
		out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[(*o)++] = (char)(0x80 | (cp & 0x3F));
	} else {
		out[(*o)++] = (char)(0xF0 | (cp >> 18));
		out[(*o)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
		out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[(*o)++] = (char)(0x80 | (cp & 0x3F));
	}
}

static unsigned hex4(const char *p)
{
	unsigned v = 0;
	for (int k = 0; k < 4; k++)
		v = (v << 4) | (unsigned)sk_hexval((unsigned char)p[k]);
	return v;
}

long sk_json_str(const char *s, const struct sk_json_tok *t, char *out, size_t cap)
{
	if (t->type != SK_JSON_STRING || cap == 0)
		return -1;
	const char *p = s + t->start, *end = p + t->len;
	size_t o = 0;
	while (p < end) {
		if (cap - o < 5) /* room for the longest UTF-8 sequence and the NUL */
			return -1;
		if (*p != '\\') {
			out[o++] = *p++;
			continue;
		}
		char e = p[1];
		p += 2;
		switch (e) {
		case 'b': out[o++] = '\b'; break;
		case 'f': out[o++] = '\f'; break;
		case 'n': out[o++] = '\n'; break;
		case 'r': out[o++] = '\r'; break;
		case 't': out[o++] = '\t'; break;
		case 'u': {
			unsigned cp = hex4(p);
			p += 4;
			if (cp >= 0xD800 && cp <= 0xDBFF) { /* a high surrogate needs its low half */
				if (end - p < 6 || p[0] != '\\' || p[1] != 'u')
					return -1;
				unsigned lo = hex4(p + 2);
				if (lo < 0xDC00 || lo > 0xDFFF)
					return -1;
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				p += 6;
			} else if (cp >= 0xDC00 && cp <= 0xDFFF) {
				return -1;
			}
			put_utf8(out, &o, cp);
			break;
		}
		default: out[o++] = e; break; /* " \ / */
		}
	}
	out[o] = '\0';
	return (long)o;
}

bool sk_json_str_eq(const char *s, const struct sk_json_tok *t, const char *lit)
{
	if (t->type != SK_JSON_STRING)
		return false;
	size_t l = strlen(lit);
	if (t->len == l && memcmp(s + t->start, lit, l) == 0)
		return true;
	if (!memchr(s + t->start, '\\', t->len))
		return false;
	char buf[256];
	long n = sk_json_str(s, t, buf, sizeof(buf));
	return n >= 0 && (size_t)n == l && memcmp(buf, lit, l) == 0;
}

int sk_json_int(const char *s, const struct sk_json_tok *t, int64_t *out)
{
	if (t->type != SK_JSON_NUMBER)
		return -1;
	const char *p = s + t->start, *end = p + t->len;
	bool neg = *p == '-';
	if (neg)
		p++;
	int64_t v = 0;
	for (; p < end && is_digit(*p); p++) {
		if (v > (INT64_MAX - (*p - '0')) / 10)
			return -1;
		v = v * 10 + (*p - '0');
	}
	if (p < end && *p == '.') {
		for (p++; p < end && is_digit(*p); p++)
			;
	}
	if (p != end) /* an exponent */
		return -1;
	*out = neg ? -v : v;
	return 0;
}
