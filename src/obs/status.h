/*
 * status.h — what /status and /status.json show besides counters (DESIGN §5): the last reload, the
 * active bans and lockouts (copied by the state store's sync thread), and request/refusal rates per
 * distribution over the last minutes (sampled by the main thread). Written rarely, under one lock;
 * read by the admin listener only.
 */
#ifndef SK_STATUS_H
#define SK_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SK_STATUS_SAMPLE_S 10 /* one rate point per 10 s */
#define SK_STATUS_SAMPLES 30  /* the last 5 minutes */

/* A growable string (heap). */
struct sk_strbuf {
	char *p;
	size_t len, cap;
};
void sk_strbuf_printf(struct sk_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s as a JSON string, quotes included. */
void sk_strbuf_json(struct sk_strbuf *b, const char *s);

void sk_status_set_reload(uint64_t generation, bool ok, const char *error);
/* Replaces the active bans or lockouts: n names with the time they end (ms; 0 = until removed). */
void sk_status_set_bans(const char *const *ips, const uint64_t *until, size_t n);
void sk_status_set_lockouts(const char *const *users, const uint64_t *until, size_t n);
/* Takes a rate sample of every distribution slot when SK_STATUS_SAMPLE_S have passed (main thread). */
void sk_status_tick(int64_t now);

/* The same data as values, for the HTML page. */
struct sk_status_reload {
	uint64_t generation;
	int64_t time; /* 0: not loaded yet */
	bool ok;
	char error[1200];
};
void sk_status_reload_get(struct sk_status_reload *out);
/* Calls fn for each ban (which = 0) or lockout (1): name and end (Unix seconds, 0 = until removed). */
void sk_status_each(int which, void (*fn)(void *arg, const char *name, int64_t until), void *arg);
/* The rate points of a slot (oldest first): per-interval requests and refusals. Returns their number. */
unsigned sk_status_rates(uint16_t slot, uint64_t *req, uint64_t *ref, unsigned cap);

/* JSON fragments: "generation": …, "last_reload": {…} / "bans": […] / "lockouts": […] (no braces around). */
void sk_status_json_reload(struct sk_strbuf *b);
void sk_status_json_bans(struct sk_strbuf *b);
void sk_status_json_lockouts(struct sk_strbuf *b);
/* The rate points of a distribution slot as a JSON array of {"t","requests","refusals"} (per interval). */
void sk_status_json_rates(struct sk_strbuf *b, uint16_t slot);

#endif
