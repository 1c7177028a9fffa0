/*
 * buf.h — the fixed-size I/O buffer. Each worker keeps a free list of them (proxy/worker.c): a
 * connection takes one when bytes arrive and gives it back when it has nothing left to send, so an idle
 * connection holds none (DESIGN §9).
 */
#ifndef SK_BUF_H
#define SK_BUF_H

#include <stdint.h>

#define SK_BUF_SIZE (32 * 1024)

struct sk_buf {
	struct sk_buf *next; /* free-list link */
	uint32_t off;        /* first unconsumed byte */
	uint32_t len;        /* bytes filled */
	char data[SK_BUF_SIZE];
};

#endif
