/*
 * loop.c — the per-thread epoll loop and its timer heap (see loop.h).
 *
 * The heap stores timer pointers; each timer remembers its 1-based index so that re-arming and
 * cancelling are O(log n) without searching. Timer callbacks may arm or cancel any timer, including the
 * one firing, and may free their owner: the loop never touches a timer after calling its callback.
 */
#include "loop/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/core.h"
#include "core/log.h"

#define MAX_EVENTS 256
/* Deferred ("later") events run per round at most: a handshake step costs 100-400 us, so a request that
 * arrives behind a burst of new TLS connections waits for about this many of them, not for the burst. */
#define LATER_PER_ROUND 4

struct sk_loop {
	int epfd;
	uint64_t now;
	struct sk_timer **heap; /* heap[1..n] */
	uint32_t n_timers;
	uint32_t cap_timers;
	struct sk_io wake_io; /* eventfd */
	void (*on_wake)(void *arg);
	void *on_wake_arg;
	void (*after)(void *arg);
	void *after_arg;
	/* Completed pool jobs waiting for this loop (pushed by pool threads). */
	pthread_mutex_t done_mu;
	struct sk_job *done_head;
	struct sk_job *done_tail;
	/* Events of `later` ios, first in first out, carried from round to round: entry seq sits at
	 * later_q[seq % cap_later]; an entry whose io was closed or removed has io == NULL. */
	struct later_ev {
		struct sk_io *io;
		uint32_t events;
	} *later_q;
	uint32_t later_head, later_tail, cap_later;
	/* Objects closed during this dispatch round, freed after it (see sk_loop_close_free). */
	void **graveyard;
	uint32_t n_graveyard, cap_graveyard;
};

static void wake_cb(struct sk_io *io, uint32_t events);
static void bury(struct sk_loop *loop);

struct sk_loop *sk_loop_new(void)
{
	struct sk_loop *loop = sk_calloc(1, sizeof(*loop));
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd == -1) {
		sk_error("epoll_create1: %s", strerror(errno));
		free(loop);
		return NULL;
	}
	loop->cap_timers = 1024;
	loop->heap = sk_calloc(loop->cap_timers + 1, sizeof(*loop->heap));
	loop->now = sk_now_ms();
	pthread_mutex_init(&loop->done_mu, NULL);
	loop->wake_io.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	loop->wake_io.cb = wake_cb;
	if (loop->wake_io.fd == -1 || sk_loop_add(loop, &loop->wake_io, EPOLLIN) == -1) {
		sk_error("eventfd: %s", strerror(errno));
		sk_loop_free(loop);
		return NULL;
	}
	return loop;
}

void sk_loop_free(struct sk_loop *loop)
{
	if (!loop)
		return;
	if (loop->wake_io.fd >= 0)
		close(loop->wake_io.fd);
	close(loop->epfd);
	bury(loop);
	free(loop->graveyard);
	free(loop->later_q);
	pthread_mutex_destroy(&loop->done_mu);
	free(loop->heap);
	free(loop);
}

static int ctl(struct sk_loop *loop, int op, struct sk_io *io, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = io };
	if (epoll_ctl(loop->epfd, op, io->fd, &ev) == -1) {
		sk_error("epoll_ctl(%d, fd %d): %s", op, io->fd, strerror(errno));
		return -1;
	}
	return 0;
}

int sk_loop_add(struct sk_loop *loop, struct sk_io *io, uint32_t events)
{
	return ctl(loop, EPOLL_CTL_ADD, io, events | EPOLLET);
}

int sk_loop_mod(struct sk_loop *loop, struct sk_io *io, uint32_t events)
{
	return ctl(loop, EPOLL_CTL_MOD, io, events | EPOLLET);
}

int sk_loop_add_level(struct sk_loop *loop, struct sk_io *io, uint32_t events)
{
	return ctl(loop, EPOLL_CTL_ADD, io, events);
}

static void later_push(struct sk_loop *loop, struct sk_io *io, uint32_t events)
{
	if (io->later_seq) { /* queued already: its new readiness joins the waiting entry */
		loop->later_q[(io->later_seq - 1) % loop->cap_later].events |= events;
		return;
	}
	if (loop->later_tail - loop->later_head == loop->cap_later) {
		uint32_t cap = loop->cap_later ? loop->cap_later * 2 : 64;
		struct later_ev *q = sk_calloc(cap, sizeof(*q));
		for (uint32_t seq = loop->later_head; seq != loop->later_tail; seq++)
			q[seq % cap] = loop->later_q[seq % loop->cap_later];
		free(loop->later_q);
		loop->later_q = q;
		loop->cap_later = cap;
	}
	uint32_t seq = loop->later_tail++;
	loop->later_q[seq % loop->cap_later] = (struct later_ev){ .io = io, .events = events };
	io->later_seq = seq + 1;
}

/* An io that goes away leaves no queued event behind (its memory is freed after the round). */
static void later_forget(struct sk_loop *loop, struct sk_io *io)
{
	if (!io->later_seq)
		return;
	loop->later_q[(io->later_seq - 1) % loop->cap_later].io = NULL;
	io->later_seq = 0;
}

static void later_run(struct sk_loop *loop)
{
	for (int k = 0; k < LATER_PER_ROUND && loop->later_head != loop->later_tail;) {
		struct later_ev e = loop->later_q[loop->later_head++ % loop->cap_later];
		if (!e.io)
			continue;
		e.io->later_seq = 0;
		if (e.io->fd < 0)
			continue;
		e.io->cb(e.io, e.events);
		k++;
	}
	if (loop->later_head == loop->later_tail)
		loop->later_head = loop->later_tail = 0;
}

void sk_loop_del(struct sk_loop *loop, struct sk_io *io)
{
	later_forget(loop, io);
	/* Closing the fd also removes it, but only once every duplicate is closed: be explicit. */
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
}

void sk_loop_close_free(struct sk_loop *loop, struct sk_io *io, void *mem)
{
	later_forget(loop, io);
	if (io->fd >= 0) {
		close(io->fd);
		io->fd = -1;
	}
	if (!mem)
		return;
	if (loop->n_graveyard == loop->cap_graveyard) {
		loop->cap_graveyard = loop->cap_graveyard ? loop->cap_graveyard * 2 : 64;
		loop->graveyard = sk_realloc(loop->graveyard, loop->cap_graveyard * sizeof(void *));
	}
	loop->graveyard[loop->n_graveyard++] = mem;
}

static void bury(struct sk_loop *loop)
{
	for (uint32_t i = 0; i < loop->n_graveyard; i++)
		free(loop->graveyard[i]);
	loop->n_graveyard = 0;
}

uint64_t sk_loop_now(const struct sk_loop *loop)
{
	return loop->now;
}

/* ---- timer heap ---- */

static void heap_set(struct sk_loop *loop, uint32_t i, struct sk_timer *t)
{
	loop->heap[i] = t;
	t->heap_idx = i;
}

static void heap_up(struct sk_loop *loop, uint32_t i)
{
	struct sk_timer *t = loop->heap[i];
	while (i > 1) {
		uint32_t p = i / 2;
		if (loop->heap[p]->at <= t->at)
			break;
		heap_set(loop, i, loop->heap[p]);
		i = p;
	}
	heap_set(loop, i, t);
}

static void heap_down(struct sk_loop *loop, uint32_t i)
{
	struct sk_timer *t = loop->heap[i];
	uint32_t n = loop->n_timers;
	for (;;) {
		uint32_t c = i * 2;
		if (c > n)
			break;
		if (c + 1 <= n && loop->heap[c + 1]->at < loop->heap[c]->at)
			c++;
		if (loop->heap[c]->at >= t->at)
			break;
		heap_set(loop, i, loop->heap[c]);
		i = c;
	}
	heap_set(loop, i, t);
}

void sk_timer_cancel(struct sk_loop *loop, struct sk_timer *t)
{
	uint32_t i = t->heap_idx;
	if (i == 0)
		return;
	SK_ASSERT(i <= loop->n_timers && loop->heap[i] == t);
	struct sk_timer *last = loop->heap[loop->n_timers--];
	t->heap_idx = 0;
	if (last == t)
		return;
	heap_set(loop, i, last);
	if (i > 1 && loop->heap[i / 2]->at > last->at)
		heap_up(loop, i);
	else
		heap_down(loop, i);
}

void sk_timer_arm(struct sk_loop *loop, struct sk_timer *t, uint64_t ms)
{
	uint64_t at = loop->now + ms;
	if (t->heap_idx) {
		uint64_t old = t->at;
		t->at = at;
		if (at < old)
			heap_up(loop, t->heap_idx);
		else if (at > old)
			heap_down(loop, t->heap_idx);
		return;
	}
	if (loop->n_timers == loop->cap_timers) {
		loop->cap_timers *= 2;
		loop->heap = sk_realloc(loop->heap, (loop->cap_timers + 1) * sizeof(*loop->heap));
	}
	t->at = at;
	loop->n_timers++;
	heap_set(loop, loop->n_timers, t);
	heap_up(loop, loop->n_timers);
}

static void run_timers(struct sk_loop *loop)
{
	while (loop->n_timers > 0 && loop->heap[1]->at <= loop->now) {
		struct sk_timer *t = loop->heap[1];
		sk_timer_cancel(loop, t);
		t->cb(t);
	}
}

/* ---- wake-ups and pool completions ---- */

void sk_loop_wake(struct sk_loop *loop)
{
	uint64_t one = 1;
	ssize_t w = write(loop->wake_io.fd, &one, sizeof(one));
	(void)w; /* EAGAIN means the counter is already non-zero: the loop will wake anyway */
}

void sk_loop_set_on_wake(struct sk_loop *loop, void (*on_wake)(void *arg), void *arg)
{
	loop->on_wake = on_wake;
	loop->on_wake_arg = arg;
}

void sk_loop_set_after(struct sk_loop *loop, void (*after)(void *arg), void *arg)
{
	loop->after = after;
	loop->after_arg = arg;
}

/* Called by the pool on its own thread. */
void sk_loop_post_done(struct sk_loop *loop, struct sk_job *job);
void sk_loop_post_done(struct sk_loop *loop, struct sk_job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&loop->done_mu);
	if (loop->done_tail)
		loop->done_tail->next = job;
	else
		loop->done_head = job;
	loop->done_tail = job;
	pthread_mutex_unlock(&loop->done_mu);
	sk_loop_wake(loop);
}

static void wake_cb(struct sk_io *io, uint32_t events)
{
	struct sk_loop *loop = SK_CONTAINER_OF(io, struct sk_loop, wake_io);
	uint64_t v;
	while (read(io->fd, &v, sizeof(v)) > 0)
		;
	pthread_mutex_lock(&loop->done_mu);
	struct sk_job *job = loop->done_head;
	loop->done_head = loop->done_tail = NULL;
	pthread_mutex_unlock(&loop->done_mu);
	while (job) {
		struct sk_job *next = job->next;
		job->done(job);
		job = next;
	}
	if (loop->on_wake)
		loop->on_wake(loop->on_wake_arg);
}

void sk_loop_run_once(struct sk_loop *loop, int max_wait_ms)
{
	struct epoll_event events[MAX_EVENTS];
	loop->now = sk_now_ms();
	int timeout = max_wait_ms;
	if (loop->n_timers > 0) {
		uint64_t at = loop->heap[1]->at;
		int until = at <= loop->now ? 0 : (int)SK_MIN(at - loop->now, (uint64_t)INT32_MAX);
		if (timeout < 0 || until < timeout)
			timeout = until;
	}
	if (loop->later_head != loop->later_tail)
		timeout = 0; /* deferred events wait: look for new ones, do not sleep */
	int n = epoll_wait(loop->epfd, events, MAX_EVENTS, timeout);
	if (n == -1 && errno != EINTR)
		sk_error("epoll_wait: %s", strerror(errno));
	loop->now = sk_now_ms();
	/* What is marked `later` (costly work that nothing waits on yet, such as a new TLS connection's first
	 * handshake step) is queued and runs after everything else of the round, a few per round, so that
	 * the requests and responses of established connections are never queued behind a burst of
	 * handshakes: they wait for at most LATER_PER_ROUND of them. */
	for (int i = 0; i < n; i++) {
		struct sk_io *io = events[i].data.ptr;
		if (io->fd < 0) /* closed earlier in this batch: the event is stale */
			continue;
		if (io->later)
			later_push(loop, io, events[i].events);
		else
			io->cb(io, events[i].events);
	}
	later_run(loop);
	run_timers(loop);
	if (loop->after)
		loop->after(loop->after_arg);
	bury(loop);
}
