/*
 * flowlog.h — the flow log (DESIGN §5): AWS VPC Flow Logs version 2 records, one line per flow per
 * direction per aggregation window:
 *   2 account-id interface-id srcaddr dstaddr srcport dstport 6 packets bytes start end action log-status
 *
 * Workers format records into their own buffer (no lock); a full buffer, or one at a window's end, is
 * handed to a queue that the one writer (the main thread, sk_flowlog_write) appends to the file. The
 * proxy side (proxy/flow.c) decides what a record holds; this file only formats, queues and writes.
 */
#ifndef SK_FLOWLOG_H
#define SK_FLOWLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sk_flowbuf {
	char *p;
	size_t len, cap;
};

/* One record. Addresses are text; a NULL field, or a negative number, is written "-". */
struct sk_flow_rec {
	const char *account_id;
	const char *interface;
	const char *src, *dst;
	int src_port, dst_port;
	int64_t packets, bytes; /* -1 when TCP_INFO could not be read */
	int64_t start, end;     /* Unix seconds */
	bool reject;
};

/* Appends rec to b (the owning thread only); hands b to the writer's queue once it holds 64 KiB. */
void sk_flowlog_append(struct sk_flowbuf *b, const struct sk_flow_rec *rec);
/* Hands what b holds to the writer's queue (b is left empty, ready for reuse). */
void sk_flowlog_handoff(struct sk_flowbuf *b);
void sk_flowlog_buf_free(struct sk_flowbuf *b);

/* ---- the writer (main thread) ---- */

/* Sets the file (NULL: off); opens it when it changes. 0, or -1 with errno (the old file stays). */
int sk_flowlog_open(const char *path);
/* Appends every queued record to the file, in the order the buffers were handed over. */
void sk_flowlog_write(void);
/* Reopens the file under its name (SIGUSR1, after log rotation). */
void sk_flowlog_reopen(void);
/* Writes what is queued and closes the file (shutdown). */
void sk_flowlog_close(void);

/* The start of the aggregation window holding t (windows align to the clock). */
static inline int64_t sk_flowlog_window(int64_t t, uint64_t interval_ms)
{
	int64_t i = (int64_t)(interval_ms / 1000);
	return i > 0 ? t - t % i : t;
}

#endif
