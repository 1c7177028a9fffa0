/*
 * loop.h — one epoll loop per worker thread, its timers, and the blocking pool.
 *
 * Descriptors are registered once, edge-triggered, for both directions; their owner keeps readiness
 * flags and does I/O until EAGAIN (the nginx model: no epoll_ctl per state change).
 * Timers live in a binary min-heap keyed by deadline (ms, monotonic); arming, re-arming and cancelling
 * are O(log n) and need no allocation: the timer is embedded in its owner.
 * The blocking pool runs jobs (password hashing, LMDB writes, DNS) on a few threads; each completion is
 * queued to the loop that submitted the job and wakes it through that loop's eventfd, so the job's
 * `done` callback runs on the owning thread (DESIGN §9). Nothing here knows about HTTP.
 */
#ifndef SK_LOOP_H
#define SK_LOOP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct sk_loop;
struct sk_io;

/* Called with the epoll event bits (EPOLLIN, EPOLLOUT, EPOLLRDHUP, EPOLLHUP, EPOLLERR). */
typedef void (*sk_io_cb)(struct sk_io *io, uint32_t events);

struct sk_io {
	int fd;
	uint32_t later_seq; /* the loop's: 1 + its place in the queue of deferred events, 0 when not queued */
	sk_io_cb cb;
	/* This io's events are costly work that nothing waits on yet (a new TLS connection's first
	 * handshake step): they run after the round's other events, at most a few per round (loop.c). */
	bool later;
};

struct sk_timer;
typedef void (*sk_timer_cb)(struct sk_timer *t);

struct sk_timer {
	uint64_t at;        /* deadline, sk_now_ms() clock */
	uint32_t heap_idx;  /* 1-based position in the heap; 0 = not armed */
	sk_timer_cb cb;
};

struct sk_loop *sk_loop_new(void);
void sk_loop_free(struct sk_loop *loop);

/* Registers io->fd edge-triggered for events (usually EPOLLIN|EPOLLOUT|EPOLLRDHUP). 0 / -1. */
int sk_loop_add(struct sk_loop *loop, struct sk_io *io, uint32_t events);
/* Changes the event mask (still edge-triggered). */
int sk_loop_mod(struct sk_loop *loop, struct sk_io *io, uint32_t events);
/* Registers level-triggered (listening sockets). */
int sk_loop_add_level(struct sk_loop *loop, struct sk_io *io, uint32_t events);
void sk_loop_del(struct sk_loop *loop, struct sk_io *io);

/*
 * Closes io->fd, marks io dead (fd = -1) and frees mem (the object embedding io, or NULL) after the
 * current dispatch round. An epoll batch may still hold events for io: they are skipped, never
 * delivered to freed memory. Use it for every object whose sk_io is registered.
 */
void sk_loop_close_free(struct sk_loop *loop, struct sk_io *io, void *mem);

/* Arms (or re-arms) t to fire after ms milliseconds. The callback runs once; re-arm it to repeat. */
void sk_timer_arm(struct sk_loop *loop, struct sk_timer *t, uint64_t ms);
void sk_timer_cancel(struct sk_loop *loop, struct sk_timer *t);
static inline bool sk_timer_armed(const struct sk_timer *t)
{
	return t->heap_idx != 0;
}

/* The loop's cached monotonic time (updated once per wake-up). */
uint64_t sk_loop_now(const struct sk_loop *loop);

/* Runs one wait + dispatch round, waiting at most max_wait_ms (-1: until an event or timer). */
void sk_loop_run_once(struct sk_loop *loop, int max_wait_ms);
/* Called after every dispatch round (e.g. to flush buffered logs). */
void sk_loop_set_after(struct sk_loop *loop, void (*after)(void *arg), void *arg);

/* Wakes the loop from another thread (coalesced); the loop then runs `on_wake`. */
void sk_loop_wake(struct sk_loop *loop);
void sk_loop_set_on_wake(struct sk_loop *loop, void (*on_wake)(void *arg), void *arg);

/* ---- blocking pool ---- */

struct sk_job;
typedef void (*sk_job_fn)(struct sk_job *job);

struct sk_job {
	sk_job_fn work;          /* runs on a pool thread; must not touch loop-owned state */
	sk_job_fn done;          /* runs on the owning loop's thread afterwards */
	struct sk_loop *owner;   /* set by sk_pool_submit */
	struct sk_job *next;     /* queue link, owned by the pool */
};

/* The pool has lanes, each with its own threads and queue: password hashing, and state-store calls. */
enum sk_lane { SK_LANE_HASH = 0, SK_LANE_STATE, SK_N_LANES };

/* Starts the hashing lane's threads (process-wide, once). */
int sk_pool_start(unsigned threads);
int sk_pool_start_lane(enum sk_lane lane, unsigned threads);
void sk_pool_stop(void);
/* Queues job for a pool thread; job->done later runs on loop's thread. The job must stay alive until
 * done has run. Returns 0, or -1 when the queue holds max_queued jobs already (the caller answers 429 or
 * 503 rather than queueing without bound). */
int sk_pool_submit(struct sk_loop *loop, struct sk_job *job);
int sk_pool_submit_lane(enum sk_lane lane, struct sk_loop *loop, struct sk_job *job);
/* Jobs queued or running right now (for caps and metrics). */
unsigned sk_pool_pending(void);
void sk_pool_set_max_queued(unsigned n);

#endif
