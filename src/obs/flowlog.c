/*
 * flowlog.c — formatting, queueing and writing flow-log records (see flowlog.h).
 *
 * The queue holds whole buffers, handed over by workers; its lock is taken once per 64 KiB of records
 * or per window, never per request. The queue is capped: past SK_FLOWLOG_QUEUE_MAX bytes waiting (the
 * file cannot keep up), buffers are dropped and the drop is logged once per write, rather than letting
 * memory grow.
 */
#include "obs/flowlog.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "core/log.h"

#define HANDOFF_AT (64 * 1024)
#define SK_FLOWLOG_QUEUE_MAX (64u * 1024 * 1024)

struct chunk {
	struct chunk *next;
	size_t len;
	char *p;
};

static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static struct chunk *q_head, **q_tail = &q_head;
static size_t q_bytes;
static uint64_t q_dropped;

/* Writer-only state (main thread). */
static int fd = -1;
static char *cur_path;

static void num(char *out, size_t cap, int64_t v)
{
	if (v < 0)
		snprintf(out, cap, "-");
	else
		snprintf(out, cap, "%lld", (long long)v);
}

void sk_flowlog_append(struct sk_flowbuf *b, const struct sk_flow_rec *rec)
{
	char sp[24], dp[24], pk[24], by[24], st[24], en[24];
	num(sp, sizeof(sp), rec->src_port);
	num(dp, sizeof(dp), rec->dst_port);
	num(pk, sizeof(pk), rec->packets);
	num(by, sizeof(by), rec->bytes);
	num(st, sizeof(st), rec->start);
	num(en, sizeof(en), rec->end);
	for (;;) {
		size_t room = b->cap - b->len;
		int k = b->p ? snprintf(b->p + b->len, room, "2 %s %s %s %s %s %s 6 %s %s %s %s %s OK\n",
					rec->account_id, rec->interface, rec->src ? rec->src : "-",
					rec->dst ? rec->dst : "-", sp, dp, pk, by, st, en,
					rec->reject ? "REJECT" : "ACCEPT")
			     : -1;
		if (k >= 0 && (size_t)k < room) {
			b->len += (size_t)k;
			break;
		}
		b->cap = b->cap ? b->cap * 2 : HANDOFF_AT + 512;
		b->p = sk_realloc(b->p, b->cap);
	}
	if (b->len >= HANDOFF_AT)
		sk_flowlog_handoff(b);
}

void sk_flowlog_handoff(struct sk_flowbuf *b)
{
	if (!b->len)
		return;
	struct chunk *c = sk_malloc(sizeof(*c));
	c->next = NULL;
	c->len = b->len;
	c->p = b->p;
	b->p = NULL;
	b->len = b->cap = 0;
	pthread_mutex_lock(&q_lock);
	if (q_bytes + c->len > SK_FLOWLOG_QUEUE_MAX) {
		q_dropped += c->len;
		pthread_mutex_unlock(&q_lock);
		free(c->p);
		free(c);
		return;
	}
	*q_tail = c;
	q_tail = &c->next;
	q_bytes += c->len;
	pthread_mutex_unlock(&q_lock);
}

void sk_flowlog_buf_free(struct sk_flowbuf *b)
{
	free(b->p);
	*b = (struct sk_flowbuf){ 0 };
}

static int open_file(const char *path)
{
	int nfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (nfd == -1)
		return -1;
	if (fd >= 0)
		close(fd);
	fd = nfd;
	return 0;
}

int sk_flowlog_open(const char *path)
{
	if (path && cur_path && strcmp(path, cur_path) == 0)
		return 0;
	sk_flowlog_write(); /* what was recorded under the old file goes there */
	if (!path) {
		if (fd >= 0)
			close(fd);
		fd = -1;
		free(cur_path);
		cur_path = NULL;
		return 0;
	}
	if (open_file(path) == -1)
		return -1;
	free(cur_path);
	cur_path = sk_strdup(path);
	return 0;
}

void sk_flowlog_write(void)
{
	pthread_mutex_lock(&q_lock);
	struct chunk *c = q_head;
	uint64_t dropped = q_dropped;
	q_head = NULL;
	q_tail = &q_head;
	q_bytes = 0;
	q_dropped = 0;
	pthread_mutex_unlock(&q_lock);
	if (dropped)
		sk_warn("flow log: %llu bytes of records dropped (the file does not keep up)", (unsigned long long)dropped);
	while (c) {
		struct chunk *next = c->next;
		size_t off = 0;
		while (fd >= 0 && off < c->len) {
			ssize_t n = write(fd, c->p + off, c->len - off);
			if (n == -1 && errno == EINTR)
				continue;
			if (n <= 0) {
				sk_error("flow log %s: write: %s", cur_path ? cur_path : "?", strerror(errno));
				break;
			}
			off += (size_t)n;
		}
		free(c->p);
		free(c);
		c = next;
	}
}

void sk_flowlog_reopen(void)
{
	sk_flowlog_write();
	if (cur_path && open_file(cur_path) == -1)
		sk_error("flow log %s: %s", cur_path, strerror(errno));
}

void sk_flowlog_close(void)
{
	sk_flowlog_write();
	if (fd >= 0)
		close(fd);
	fd = -1;
	free(cur_path);
	cur_path = NULL;
}
