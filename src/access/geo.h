/*
 * geo.h — country lookups in a MaxMind-format database (libmaxminddb), DESIGN §3 "IP and country".
 * Both record layouts are read: {"country": {"iso_code": "US"}} (GeoLite2/GeoIP2 Country) and
 * {"country_code": "US"} (ip-location-db). A v4-mapped IPv6 address is looked up as IPv4 (the npm
 * databases do not alias ::ffff:a.b.c.d). An opened database is read-only and safe from any thread.
 */
#ifndef SK_GEO_H
#define SK_GEO_H

#include <stdint.h>

#include "core/core.h"

struct sk_geo;

/* Opens path (mmap). Returns NULL with err filled ("path: cannot open: ..."). */
struct sk_geo *sk_geo_open(const char *path, struct sk_err *err);
void sk_geo_close(struct sk_geo *g);

/* family AF_INET (4 bytes) or AF_INET6 (16 bytes). Writes the upper-case ISO code ("US") into cc and
 * returns 1; returns 0 when the address is not in the database or has no country. Never blocks. */
int sk_geo_lookup(const struct sk_geo *g, int family, const uint8_t *addr, char cc[3]);

#endif
