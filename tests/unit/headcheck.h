/*
 * headcheck.h — reading an HTTP/1.1 head in unit tests: count or find whole lines and field names, and
 * check that a head is complete and well formed. Included by the tests of the header policy
 * (forward_test.c) and of the head writer (h1_write_test.c); cmocka must be included first.
 */
#ifndef SK_TEST_HEADCHECK_H
#define SK_TEST_HEADCHECK_H

#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

static char head[8192];

/* Number of lines exactly equal to line (without CRLF) in the head. */
static int count_line(const char *h, const char *line)
{
	int n = 0;
	size_t len = strlen(line);
	const char *p = h;
	while (*p) {
		const char *eol = strstr(p, "\r\n");
		if (!eol)
			break;
		if ((size_t)(eol - p) == len && memcmp(p, line, len) == 0)
			n++;
		p = eol + 2;
	}
	return n;
}

static bool has_line(const char *h, const char *line)
{
	return count_line(h, line) == 1;
}

/* True when some field name in the head equals name, case-insensitively. */
static bool has_field(const char *h, const char *name)
{
	size_t len = strlen(name);
	const char *p = strstr(h, "\r\n");
	while (p && p[2] != '\r') {
		p += 2;
		if (strncasecmp(p, name, len) == 0 && p[len] == ':')
			return true;
		p = strstr(p, "\r\n");
	}
	return false;
}

static void assert_well_formed(const char *h, ssize_t n)
{
	assert_true(n > 4);
	assert_int_equal((size_t)n, strlen(h));
	assert_memory_equal(h + n - 4, "\r\n\r\n", 4);
	assert_true(strstr(h, "\r\n\r\n") == h + n - 4); /* no blank line before the end */
}

#endif
