/*
 * freelist.h — a per-thread free list of same-size objects that follows demand: everything given back is
 * kept (up to a hard cap), and what stayed unused for a whole trim interval is released.
 *
 * Why not a fixed cap: a fixed cap is either too small for a burst (500 HTTP/2 streams in flight each hold
 * an exchange and two 32 KiB buffers: past the cap every request paid malloc and free for them, 11 % of
 * the worker's CPU in the h2 bench) or holds memory for good after one. Here the list grows to the peak
 * and shrinks back by the low-water mark: the number of objects that were never taken during an interval
 * is exactly what the traffic of that interval did not need (the floor stays).
 *
 * The link lives in the first bytes of a free object: objects must be at least a pointer in size and
 * suitably aligned (anything malloc returned is). Not thread-safe: each worker owns its lists.
 */
#ifndef SK_FREELIST_H
#define SK_FREELIST_H

#include <stdint.h>
#include <stdlib.h>

struct sk_freelist {
	void *head;
	uint32_t n;     /* objects on the list */
	uint32_t low;   /* the fewest on the list since the last trim */
	uint32_t floor; /* kept however idle the thread is */
	uint32_t cap;   /* never more than this on the list (the rest is freed at once) */
};

/* An object from the list, or NULL (the caller allocates). */
static inline void *sk_freelist_get(struct sk_freelist *fl)
{
	void *p = fl->head;
	if (!p)
		return NULL;
	fl->head = *(void **)p;
	/* The next one is likely cold (it went back long ago): its first line is fetched while p is used. */
	if (fl->head)
		__builtin_prefetch(fl->head, 1);
	if (--fl->n < fl->low)
		fl->low = fl->n;
	return p;
}

/* Keeps p for later, or frees it when the list is at its cap. */
static inline void sk_freelist_put(struct sk_freelist *fl, void *p)
{
	if (fl->n >= fl->cap) {
		free(p);
		return;
	}
	*(void **)p = fl->head;
	fl->head = p;
	fl->n++;
}

/* Releases what the interval since the last trim did not need (down to the floor); returns the count. */
static inline uint32_t sk_freelist_trim(struct sk_freelist *fl)
{
	uint32_t excess = fl->n > fl->floor ? fl->n - fl->floor : 0;
	uint32_t k = fl->low < excess ? fl->low : excess;
	for (uint32_t i = 0; i < k; i++) {
		void *p = fl->head;
		fl->head = *(void **)p;
		free(p);
	}
	fl->n -= k;
	fl->low = fl->n;
	return k;
}

/* Frees everything (the owning thread has ended). */
static inline void sk_freelist_clear(struct sk_freelist *fl)
{
	while (fl->head) {
		void *p = fl->head;
		fl->head = *(void **)p;
		free(p);
	}
	fl->n = fl->low = 0;
}

#endif
