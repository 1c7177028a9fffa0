/*
 * date.c — HTTP dates (RFC 9110 §5.6.7): formatting IMF-fixdate for Date / Last-Modified, and parsing
 * the dates clients send back (If-Modified-Since, If-Unmodified-Since).
 *
 * Invariants: pure apart from the C library's gmtime_r/timegm (always UTC, never the local zone or
 * locale); sk_http_date always writes exactly 29 characters and a NUL; sk_http_date_parse accepts a
 * date only if it names a real calendar day (no 30 February) and rejects any extra byte.
 */
#include "http/h1.h"

#include <string.h>
#include <time.h>

static const char wday_names[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char *const wday_long[7] = { "Sunday", "Monday", "Tuesday", "Wednesday",
					  "Thursday", "Friday", "Saturday" };
static const char mon_names[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
				       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

/* 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z: the years that fit the 4-digit format. */
#define DATE_MIN INT64_C(-62135596800)
#define DATE_MAX INT64_C(253402300799)

static void put2(char *p, int v)
{
	p[0] = (char)('0' + v / 10 % 10);
	p[1] = (char)('0' + v % 10);
}

void sk_http_date(int64_t secs, char out[30])
{
	if (secs < DATE_MIN)
		secs = DATE_MIN;
	if (secs > DATE_MAX)
		secs = DATE_MAX;
	time_t t = (time_t)secs;
	struct tm tm;
	if (!gmtime_r(&t, &tm)) {
		t = 0;
		gmtime_r(&t, &tm);
	}
	int year = tm.tm_year + 1900;
	memcpy(out, wday_names[tm.tm_wday], 3);
	out[3] = ',';
	out[4] = ' ';
	put2(out + 5, tm.tm_mday);
	out[7] = ' ';
	memcpy(out + 8, mon_names[tm.tm_mon], 3);
	out[11] = ' ';
	put2(out + 12, year / 100);
	put2(out + 14, year % 100);
	out[16] = ' ';
	put2(out + 17, tm.tm_hour);
	out[19] = ':';
	put2(out + 20, tm.tm_min);
	out[22] = ':';
	put2(out + 23, tm.tm_sec);
	memcpy(out + 25, " GMT", 5); /* with the NUL */
}

/* Reads n decimal digits; -1 if any byte is not a digit. */
static int digits(const char *p, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

static int find_name(const char *p, const char (*names)[4], int count)
{
	for (int i = 0; i < count; i++)
		if (memcmp(p, names[i], 3) == 0)
			return i;
	return -1;
}

/* "HH:MM:SS" */
static bool parse_time(const char *p, struct tm *tm)
{
	if (p[2] != ':' || p[5] != ':')
		return false;
	tm->tm_hour = digits(p, 2);
	tm->tm_min = digits(p + 3, 2);
	tm->tm_sec = digits(p + 6, 2);
	return tm->tm_hour >= 0 && tm->tm_hour <= 23 && tm->tm_min >= 0 && tm->tm_min <= 59 &&
	       tm->tm_sec >= 0 && tm->tm_sec <= 60;
}

/*
 * Converts broken-down UTC time to seconds, refusing days that do not exist (timegm would roll
 * 30 February over to March). A leap second (:60) counts as the next second, as timegm would do.
 */
static int to_secs(struct tm *tm, int64_t *secs)
{
	int sec = tm->tm_sec, mday = tm->tm_mday, mon = tm->tm_mon, year = tm->tm_year;
	if (mday < 1 || mday > 31 || mon < 0 || year < 1 - 1900)
		return -1;
	tm->tm_sec = 0;
	tm->tm_isdst = 0;
	time_t t = timegm(tm);
	struct tm back;
	if (!gmtime_r(&t, &back) || back.tm_mday != mday || back.tm_mon != mon || back.tm_year != year)
		return -1;
	*secs = (int64_t)t + sec;
	return 0;
}

/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
static int parse_imf(const char *p, struct tm *tm)
{
	if (find_name(p, wday_names, 7) < 0 || p[3] != ',' || p[4] != ' ' || p[7] != ' ' ||
	    p[11] != ' ' || p[16] != ' ' || memcmp(p + 25, " GMT", 4) != 0)
		return -1;
	tm->tm_mday = digits(p + 5, 2);
	tm->tm_mon = find_name(p + 8, mon_names, 12);
	int year = digits(p + 12, 4);
	if (tm->tm_mday < 0 || tm->tm_mon < 0 || year < 0 || !parse_time(p + 17, tm))
		return -1;
	tm->tm_year = year - 1900;
	return 0;
}

/* asctime: "Sun Nov  6 08:49:37 1994" (the day is padded with a space) */
static int parse_asctime(const char *p, struct tm *tm)
{
	if (find_name(p, wday_names, 7) < 0 || p[3] != ' ' || p[7] != ' ' || p[10] != ' ' ||
	    p[19] != ' ')
		return -1;
	tm->tm_mon = find_name(p + 4, mon_names, 12);
	tm->tm_mday = p[8] == ' ' ? digits(p + 9, 1) : digits(p + 8, 2);
	int year = digits(p + 20, 4);
	if (tm->tm_mday < 0 || tm->tm_mon < 0 || year < 0 || !parse_time(p + 11, tm))
		return -1;
	tm->tm_year = year - 1900;
	return 0;
}

/* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"; a two-digit year 70..99 is 19xx, 00..69 is 20xx. */
static int parse_rfc850(const char *p, size_t len, struct tm *tm)
{
	int wd = -1;
	size_t wl = 0;
	for (int i = 0; i < 7; i++) {
		wl = strlen(wday_long[i]);
		if (len == wl + 24 && memcmp(p, wday_long[i], wl) == 0) {
			wd = i;
			break;
		}
	}
	if (wd < 0)
		return -1;
	p += wl;
	if (p[0] != ',' || p[1] != ' ' || p[4] != '-' || p[8] != '-' || p[11] != ' ' ||
	    memcmp(p + 20, " GMT", 4) != 0)
		return -1;
	tm->tm_mday = digits(p + 2, 2);
	tm->tm_mon = find_name(p + 5, mon_names, 12);
	int yy = digits(p + 9, 2);
	if (tm->tm_mday < 0 || tm->tm_mon < 0 || yy < 0 || !parse_time(p + 12, tm))
		return -1;
	tm->tm_year = yy < 70 ? yy + 100 : yy;
	return 0;
}

int sk_http_date_parse(struct sk_slice s, int64_t *secs)
{
	struct tm tm = { 0 };
	int r;
	if (s.len == 29)
		r = parse_imf(s.ptr, &tm);
	else if (s.len == 24)
		r = parse_asctime(s.ptr, &tm);
	else if (s.len >= 30 && s.len <= 33)
		r = parse_rfc850(s.ptr, s.len, &tm);
	else
		r = -1;
	if (r != 0)
		return -1;
	return to_secs(&tm, secs);
}
