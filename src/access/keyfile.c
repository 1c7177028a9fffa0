/*
 * keyfile.c — reading and walking the YAML users and API-key files (see keyfile.h): the file read, the
 * quiet libfyaml document, typed readers for scalars, lists and dates, and the tables' hash.
 *
 * Invariants: nothing prints; every reader fills the sk_err with the node's 1-based line and column and
 * returns -1 on the first problem; no message quotes a value that could be a secret (callers name keys,
 * never print a hash or a password).
 */
#include "access/keyfile.h"
#include "config/yaml_quiet.h"
#include "core/file.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

int sk_keyfile_read(const char *path, char **buf, size_t *len, struct sk_err *err)
{
	return sk_file_read(path, SK_KEYFILE_MAX_BYTES, buf, len, err);
}

/* libfyaml never prints: its errors are collected and the first one is reported by the caller. */
/* True when some line holds more than blanks and a '#' comment. */
static bool has_content(const char *buf, size_t len)
{
	bool line_start = true, in_comment = false;
	for (size_t i = 0; i < len; i++) {
		char c = buf[i];
		if (c == '\n') {
			line_start = true;
			in_comment = false;
		} else if (in_comment || c == ' ' || c == '\t' || c == '\r') {
			continue;
		} else if (c == '#' && line_start) {
			in_comment = true;
		} else {
			return true;
		}
	}
	return false;
}

int sk_keyfile_open(struct sk_keyfile *kf, const char *file, const char *buf, size_t len, struct fy_node **root,
		    struct sk_err *err)
{
	*kf = (struct sk_keyfile){ .file = file, .err = err };
	*root = NULL;
	if (memchr(buf, '\0', len)) {
		int line = 1;
		for (const char *c = buf; *c; c++)
			line += *c == '\n';
		return sk_err_set(err, file, line, 0, "NUL byte: not a text file");
	}
	/* libfyaml refuses a stream without a document; for these files it is an empty store. */
	if (!has_content(buf, len))
		return 0;
	kf->diag = sk_yaml_quiet_diag();
	if (!kf->diag)
		return sk_err_set(err, file, 0, 0, "cannot create the YAML diagnostics");
	struct fy_parse_cfg pcfg = sk_yaml_quiet_cfg(kf->diag);
	kf->fyd = fy_document_build_from_string(&pcfg, len ? buf : "", len);
	if (!kf->fyd || fy_diag_got_error(kf->diag)) {
		int line, col;
		const char *msg = sk_yaml_first_error(kf->diag, &line, &col);
		return sk_err_set(err, file, line, col, "%s", msg);
	}
	struct fy_node *r = fy_document_root(kf->fyd);
	if (!r || sk_keyfile_is_null(r))
		return 0;
	if (!fy_node_is_mapping(r))
		return sk_keyfile_fail(kf, r, "the file must be a mapping of names to entries ({ ... })");
	*root = r;
	return 0;
}

void sk_keyfile_close(struct sk_keyfile *kf)
{
	if (kf->fyd)
		fy_document_destroy(kf->fyd);
	if (kf->diag)
		fy_diag_destroy(kf->diag);
	kf->fyd = NULL;
	kf->diag = NULL;
}

void sk_keyfile_pos(struct fy_node *n, int *line, int *col)
{
	*line = *col = 0;
	struct fy_token *t = n ? fy_node_get_scalar_token(n) : NULL;
	const struct fy_mark *m = t ? fy_token_start_mark(t) : NULL;
	if (m && m->line >= 0) {
		*line = m->line + 1;
		*col = m->column + 1;
		/* The mark of a quoted scalar is past its opening quote: point at the quote, as a reader would. */
		enum fy_node_style st = fy_node_get_style(n);
		if ((st == FYNS_DOUBLE_QUOTED || st == FYNS_SINGLE_QUOTED) && *col > 1)
			(*col)--;
	}
}

int sk_keyfile_fail(struct sk_keyfile *kf, struct fy_node *at, const char *fmt, ...)
{
	int line, col;
	sk_keyfile_pos(at, &line, &col);
	char msg[sizeof(kf->err->msg)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return sk_err_set(kf->err, kf->file, line, col, "%s", msg);
}

bool sk_keyfile_is_null(struct fy_node *n)
{
	if (!n || !fy_node_is_scalar(n) || fy_node_is_alias(n) || fy_node_get_style(n) != FYNS_PLAIN)
		return false;
	size_t len = 0;
	const char *s = fy_node_get_scalar(n, &len);
	if (!s || len == 0)
		return true;
	return (len == 1 && s[0] == '~') || (len == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) ||
							    !memcmp(s, "NULL", 4)));
}

int sk_keyfile_scalar(struct sk_keyfile *kf, struct fy_node *n, const char *what, const char **s, size_t *len)
{
	if (n && fy_node_is_alias(n))
		return sk_keyfile_fail(kf, n, "%s: aliases are not supported here", what);
	if (!n || !fy_node_is_scalar(n))
		return sk_keyfile_fail(kf, n, "%s must be a string", what);
	*len = 0;
	*s = fy_node_get_scalar(n, len);
	if (!*s) {
		*s = "";
		*len = 0;
	}
	if (memchr(*s, '\0', *len))
		return sk_keyfile_fail(kf, n, "%s holds a NUL byte", what);
	return 0;
}

int sk_keyfile_string(struct sk_keyfile *kf, struct fy_node *n, const char *what, char **out)
{
	const char *s;
	size_t len;
	if (sk_keyfile_scalar(kf, n, what, &s, &len) == -1)
		return -1;
	if (len == 0 || sk_keyfile_is_null(n))
		return sk_keyfile_fail(kf, n, "%s must not be empty", what);
	free(*out);
	*out = sk_slice_dup((struct sk_slice){ .ptr = s, .len = len });
	return 0;
}

void sk_keyfile_strlist_free(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

int sk_keyfile_strlist(struct sk_keyfile *kf, struct fy_node *n, const char *what, char ***out, size_t *count)
{
	if (sk_keyfile_is_null(n))
		return 0;
	if (fy_node_is_alias(n))
		return sk_keyfile_fail(kf, n, "%s: aliases are not supported here", what);
	if (!fy_node_is_sequence(n))
		return sk_keyfile_fail(kf, n, "%s must be a list of strings ([a, b])", what);
	size_t cap = (size_t)fy_node_sequence_item_count(n);
	char **list = sk_calloc(cap ? cap : 1, sizeof(*list));
	size_t k = 0;
	void *it = NULL;
	struct fy_node *item;
	while ((item = fy_node_sequence_iterate(n, &it)) && k < cap) {
		char *s = NULL;
		if (sk_keyfile_string(kf, item, what, &s) == -1) {
			sk_keyfile_strlist_free(list, k);
			return -1;
		}
		list[k++] = s;
	}
	sk_keyfile_strlist_free(*out, *count);
	*out = list;
	*count = k;
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

int sk_keyfile_parse_date(const char *s, size_t len, int64_t *out)
{
	static const unsigned mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (len != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	unsigned v[3] = { 0 }, idx[3][2] = { { 0, 4 }, { 5, 7 }, { 8, 10 } };
	for (int f = 0; f < 3; f++)
		for (unsigned i = idx[f][0]; i < idx[f][1]; i++) {
			if (s[i] < '0' || s[i] > '9')
				return -1;
			v[f] = v[f] * 10 + (unsigned)(s[i] - '0');
		}
	unsigned y = v[0], m = v[1], d = v[2];
	if (y < 1970 || m < 1 || m > 12 || d < 1)
		return -1;
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (d > mdays[m - 1] + (m == 2 && leap))
		return -1;
	*out = days_from_civil(y, m, d) * 86400;
	return 0;
}

void sk_keyfile_format_date(int64_t t, char out[11])
{
	/* civil_from_days, the inverse of days_from_civil. */
	int64_t z = (t >= 0 ? t : t - 86399) / 86400 + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = (int64_t)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	unsigned d = doy - (153 * mp + 2) / 5 + 1;
	unsigned m = mp < 10 ? mp + 3 : mp - 9;
	y += m <= 2;
	unsigned yy = (unsigned)(y % 10000);
	char *o = out;
	*o++ = (char)('0' + yy / 1000);
	*o++ = (char)('0' + yy / 100 % 10);
	*o++ = (char)('0' + yy / 10 % 10);
	*o++ = (char)('0' + yy % 10);
	*o++ = '-';
	*o++ = (char)('0' + m / 10);
	*o++ = (char)('0' + m % 10);
	*o++ = '-';
	*o++ = (char)('0' + d / 10);
	*o++ = (char)('0' + d % 10);
	*o = '\0';
}

int sk_keyfile_date(struct sk_keyfile *kf, struct fy_node *n, const char *what, int64_t *out)
{
	const char *s;
	size_t len;
	if (sk_keyfile_scalar(kf, n, what, &s, &len) == -1)
		return -1;
	if (sk_keyfile_parse_date(s, len, out) == -1)
		return sk_keyfile_fail(kf, n, "%s must be a date YYYY-MM-DD, not '%.*s'", what, (int)SK_MIN(len, 32u), s);
	return 0;
}

uint64_t sk_keyfile_hash(uint64_t seed, const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = 14695981039346656037ull ^ seed;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 1099511628211ull;
	}
	/* FNV's low bits mix poorly and the tables index with them: fold the high half in (murmur's fmix). */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

uint64_t sk_keyfile_seed(void)
{
	uint64_t s;
	if (getrandom(&s, sizeof(s), GRND_NONBLOCK) == (ssize_t)sizeof(s))
		return s;
	return sk_now_ms() * 0x9e3779b97f4a7c15ull;
}
