/*
 * ipset.h — sets of IPv4/IPv6 CIDRs with lookups in O(address bits): a binary trie per family.
 * A v4-mapped IPv6 address (::ffff:a.b.c.d) is always matched as the IPv4 address a.b.c.d, both when
 * added as a CIDR (::ffff:0:0/96 and longer prefixes map onto the v4 trie) and when looked up.
 * A set is built once (not thread-safe while adding) and then only read, from any thread.
 */
#ifndef SK_IPSET_H
#define SK_IPSET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config/config.h"

struct sk_ipset;

struct sk_ipset *sk_ipset_new(void);
void sk_ipset_free(struct sk_ipset *set);
/* Adds a CIDR; overlapping and duplicate prefixes are fine. */
void sk_ipset_add(struct sk_ipset *set, const struct sk_cidr *cidr);
/* family: AF_INET (4 bytes) or AF_INET6 (16 bytes, v4-mapped handled). */
bool sk_ipset_contains(const struct sk_ipset *set, int family, const uint8_t *addr);
/* Same for a socket address (sockaddr_in or sockaddr_in6). */
bool sk_ipset_contains_sa(const struct sk_ipset *set, const struct sockaddr *sa);
/* Number of CIDRs added. */
size_t sk_ipset_count(const struct sk_ipset *set);

/* True when addr (family, bytes) is inside cidr; v4-mapped IPv6 addresses match IPv4 CIDRs. */
bool sk_cidr_contains(const struct sk_cidr *cidr, int family, const uint8_t *addr);
/* Extracts family and address bytes from a sockaddr, converting v4-mapped IPv6 to IPv4.
 * addr must hold 16 bytes. Returns the family, or -1 for other address families. */
int sk_sa_to_bytes(const struct sockaddr *sa, uint8_t addr[16]);
/* Text form of an address (inet_ntop; v4-mapped printed as IPv4). out: 46 bytes at least. */
void sk_sa_to_text(const struct sockaddr *sa, char *out, size_t cap);

#endif
