/*
 * geo.c — the country of an address, from a MaxMind-format database read with libmaxminddb
 * (DESIGN §3 "IP and country").
 *
 * Invariants:
 * - An open database is an mmap'd file that is never written: MMDB_lookup_* and MMDB_get_value only
 *   read it, so one struct sk_geo serves every thread with no lock. A reload opens a new one and the
 *   old one is closed once no snapshot refers to it (the caller's business).
 * - A lookup does no I/O beyond page faults on the mapping and allocates nothing: it runs on the
 *   event-loop threads.
 * - Two record layouts are read, in this order: {"country": {"iso_code": "US"}} (MaxMind GeoLite2 /
 *   GeoIP2 Country) then {"country_code": "US"} (ip-location-db). Only a two-letter ASCII value is a
 *   country; it is returned upper-cased. Anything else (absent, wrong type, "ZZZ", "") counts as
 *   "no country", and the caller's `unknown: allow|deny` decides.
 * - A v4-mapped IPv6 address (::ffff:a.b.c.d) is looked up as IPv4: the npm databases keep IPv4 at
 *   ::/96 only and do not alias ::ffff:0:0/96 the way MaxMind's own databases do.
 */
#include "access/geo.h"

#include <errno.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct sk_geo {
	MMDB_s mmdb;
};

/*
 * Maps the file at path. Returns the database (the caller closes it with sk_geo_close), or NULL with
 * err filled as "path: cannot open: why" (no such file, permission, not a MaxMind DB file, ...).
 */
struct sk_geo *sk_geo_open(const char *path, struct sk_err *err)
{
	struct sk_geo *g = sk_calloc(1, sizeof(*g));
	errno = 0;
	int status = MMDB_open(path, MMDB_MODE_MMAP, &g->mmdb);
	if (status == MMDB_SUCCESS)
		return g;
	/* The I/O failures leave errno from the failing call (ENOENT, EACCES; ENODEV from mmap of a
	 * directory), which says more than libmaxminddb's "Error opening the specified MaxMind DB file". */
	int io = status == MMDB_FILE_OPEN_ERROR || status == MMDB_IO_ERROR;
	if (io && errno == ENODEV)
		sk_err_set(err, path, 0, 0, "cannot open: not a regular file");
	else if (io && errno != 0)
		sk_err_set(err, path, 0, 0, "cannot open: %s", strerror(errno));
	else
		sk_err_set(err, path, 0, 0, "cannot open: %s", MMDB_strerror(status));
	/* A failed MMDB_open has released what it allocated; only our struct is left. */
	free(g);
	return NULL;
}

/* Unmaps and frees g; NULL is allowed. No lookup on g may be running or start afterwards. */
void sk_geo_close(struct sk_geo *g)
{
	if (!g)
		return;
	MMDB_close(&g->mmdb);
	free(g);
}

/*
 * Copies a two-letter ASCII string from data into cc, upper-cased. Returns 1, or 0 when data is not
 * such a string (the database's own bytes are not trusted to be a country code).
 */
static int take_code(const MMDB_entry_data_s *data, char cc[3])
{
	if (!data->has_data || data->type != MMDB_DATA_TYPE_UTF8_STRING || data->data_size != 2)
		return 0;
	for (int i = 0; i < 2; i++) {
		char c = data->utf8_string[i];
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (c < 'A' || c > 'Z')
			return 0;
		cc[i] = c;
	}
	cc[2] = '\0';
	return 1;
}

/*
 * Accepts family AF_INET with 4 bytes at addr or AF_INET6 with 16 (network order). On a hit writes
 * the NUL-terminated code into cc and returns 1; otherwise returns 0 and leaves cc as "". A lookup
 * error (an IPv6 address in an IPv4-only database, a corrupt search tree) is answered as "not in the
 * database": it is a property of the file, not of the request, and the file was the operator's choice.
 */
int sk_geo_lookup(const struct sk_geo *g, int family, const uint8_t *addr, char cc[3])
{
	SK_ASSERT(g && addr && cc);
	SK_ASSERT(family == AF_INET || family == AF_INET6);
	cc[0] = '\0';

	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	const struct sockaddr *sa;
	if (family == AF_INET6 && sk_ip6_is_v4mapped(addr)) {
		memcpy(&sin.sin_addr, addr + 12, 4);
		sa = (const struct sockaddr *)&sin;
	} else if (family == AF_INET) {
		memcpy(&sin.sin_addr, addr, 4);
		sa = (const struct sockaddr *)&sin;
	} else {
		memcpy(&sin6.sin6_addr, addr, 16);
		sa = (const struct sockaddr *)&sin6;
	}

	/* Only MMDB_lookup_string resolves names and so has a gai_error; the sockaddr form has mmdb_error. */
	int mmdb_error = MMDB_SUCCESS;
	MMDB_lookup_result_s res = MMDB_lookup_sockaddr(&g->mmdb, sa, &mmdb_error);
	if (mmdb_error != MMDB_SUCCESS || !res.found_entry)
		return 0;

	MMDB_entry_data_s data;
	if (MMDB_get_value(&res.entry, &data, "country", "iso_code", NULL) == MMDB_SUCCESS &&
	    take_code(&data, cc))
		return 1;
	if (MMDB_get_value(&res.entry, &data, "country_code", NULL) == MMDB_SUCCESS && take_code(&data, cc))
		return 1;
	cc[0] = '\0';
	return 0;
}
