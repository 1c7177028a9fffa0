/*
 * banlist.h — the banned client addresses as the accept path sees them (DESIGN §1: "a banned IP is
 * refused at accept").
 *
 * The state store is the truth (access/guard.h); this is its copy in memory, kept current by the server
 * (a full refresh from the store every second, plus an immediate add when this instance bans someone),
 * and read by the workers without a lock: each reader (worker) has its own immutable list, handed over
 * through one atomic pointer and swapped in by the reader itself at its next check, so no list is ever
 * freed while a reader uses it. Lists are sorted arrays of 16-byte addresses (IPv4 as v4-mapped IPv6).
 */
#ifndef SK_BANLIST_H
#define SK_BANLIST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define SK_BANS_MAX_READERS 256

struct sk_banlist;

/* ---- publisher side (any thread; serialised inside) ---- */

/* Replaces every ban at once (from a scan of the store). entries: n pairs of (text address, until ms;
 * 0 = until removed). Readers get a new list only if something changed. */
void sk_bans_replace(const char *const *ips, const uint64_t *until, size_t n);
/* Adds one ban now (this instance just banned ip). */
void sk_bans_add(const char *ip, uint64_t until);
/* Drops every list (process exit). */
void sk_bans_clear(void);

/* ---- reader side (reader r's thread only) ---- */

/*
 * True when the address of peer is banned now. *mine is the reader's current list (start with NULL); a
 * newer one is swapped in first. sk_bans_release frees *mine when the reader stops. With no bans this
 * costs one atomic load.
 */
bool sk_bans_check(unsigned r, struct sk_banlist **mine, const struct sockaddr *peer);
bool sk_bans_check_addr(unsigned r, struct sk_banlist **mine, int family, const uint8_t *addr);
void sk_bans_release(unsigned r, struct sk_banlist **mine);

#endif
