/*
 * loop_test.c — the timer heap (order, re-arm, cancel from callbacks), the blocking pool (completions
 * come back on the loop thread through the eventfd; the queue bound is enforced), and deferred ("later")
 * events (after the round's others, a few per round, none for an io closed while it waits).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/core.h"
#include "loop/loop.h"

struct rec {
	struct sk_timer t;
	int id;
	int *order;
	int *n;
};

static void rec_cb(struct sk_timer *t)
{
	struct rec *r = SK_CONTAINER_OF(t, struct rec, t);
	r->order[(*r->n)++] = r->id;
}

static void test_timers_fire_in_deadline_order(void **state)
{
	struct sk_loop *loop = sk_loop_new();
	int order[8], n = 0;
	struct rec r[5];
	const uint64_t ms[5] = { 40, 10, 30, 20, 50 };
	for (int i = 0; i < 5; i++) {
		r[i] = (struct rec){ .t = { .cb = rec_cb }, .id = i, .order = order, .n = &n };
		sk_timer_arm(loop, &r[i].t, ms[i]);
	}
	sk_timer_cancel(loop, &r[4].t); /* cancelled: must never fire */
	sk_timer_arm(loop, &r[0].t, 5); /* re-armed earlier: fires first */
	uint64_t start = sk_now_ms();
	while (n < 4 && sk_now_ms() - start < 2000)
		sk_loop_run_once(loop, 100);
	usleep(80 * 1000);
	sk_loop_run_once(loop, 0);
	assert_int_equal(n, 4);
	assert_int_equal(order[0], 0);
	assert_int_equal(order[1], 1);
	assert_int_equal(order[2], 3);
	assert_int_equal(order[3], 2);
	assert_false(sk_timer_armed(&r[4].t));
	sk_loop_free(loop);
}

static struct sk_loop *cb_loop;
static struct sk_timer chain[3];
static int chain_fired;

static void chain_cb(struct sk_timer *t)
{
	chain_fired++;
	/* Cancel a sibling and re-arm itself from inside a callback. */
	if (t == &chain[0]) {
		sk_timer_cancel(cb_loop, &chain[1]);
		sk_timer_arm(cb_loop, &chain[0], 1000);
	}
}

static void test_timer_callbacks_may_change_the_heap(void **state)
{
	cb_loop = sk_loop_new();
	for (int i = 0; i < 3; i++) {
		chain[i] = (struct sk_timer){ .cb = chain_cb };
		sk_timer_arm(cb_loop, &chain[i], 0);
	}
	sk_loop_run_once(cb_loop, 0);
	/* chain[0] and chain[2] fired; chain[1] may have fired before chain[0] cancelled it: both orders
	 * are legal, but chain[0] must be armed again. */
	assert_true(chain_fired >= 2);
	assert_true(sk_timer_armed(&chain[0]));
	sk_timer_cancel(cb_loop, &chain[0]);
	sk_loop_free(cb_loop);
}

struct myjob {
	struct sk_job job;
	pthread_t worker_thread;
	pthread_t done_thread;
	int *done_count;
};

static void job_work(struct sk_job *j)
{
	struct myjob *m = SK_CONTAINER_OF(j, struct myjob, job);
	m->worker_thread = pthread_self();
	usleep(1000);
}

static void job_done(struct sk_job *j)
{
	struct myjob *m = SK_CONTAINER_OF(j, struct myjob, job);
	m->done_thread = pthread_self();
	(*m->done_count)++;
}

static void test_pool_completions_run_on_the_loop_thread(void **state)
{
	struct sk_loop *loop = sk_loop_new();
	assert_int_equal(sk_pool_start(2), 0);
	int done = 0;
	struct myjob jobs[20];
	for (int i = 0; i < 20; i++) {
		jobs[i] = (struct myjob){ .job = { .work = job_work, .done = job_done }, .done_count = &done };
		assert_int_equal(sk_pool_submit(loop, &jobs[i].job), 0);
	}
	uint64_t start = sk_now_ms();
	while (done < 20 && sk_now_ms() - start < 5000)
		sk_loop_run_once(loop, 100);
	assert_int_equal(done, 20);
	for (int i = 0; i < 20; i++) {
		assert_true(pthread_equal(jobs[i].done_thread, pthread_self()));
		assert_false(pthread_equal(jobs[i].worker_thread, pthread_self()));
	}
	sk_pool_stop();
	sk_loop_free(loop);
}

static void test_pool_queue_is_bounded(void **state)
{
	struct sk_loop *loop = sk_loop_new();
	/* No threads started: jobs stay queued, so the bound is reached deterministically. */
	sk_pool_set_max_queued(3);
	int done = 0;
	struct myjob jobs[4];
	for (int i = 0; i < 4; i++)
		jobs[i] = (struct myjob){ .job = { .work = job_work, .done = job_done }, .done_count = &done };
	assert_int_equal(sk_pool_submit(loop, &jobs[0].job), 0);
	assert_int_equal(sk_pool_submit(loop, &jobs[1].job), 0);
	assert_int_equal(sk_pool_submit(loop, &jobs[2].job), 0);
	assert_int_equal(sk_pool_submit(loop, &jobs[3].job), -1);
	assert_int_equal(sk_pool_pending(), 3);
	assert_int_equal(sk_pool_start(1), 0);
	uint64_t start = sk_now_ms();
	while (done < 3 && sk_now_ms() - start < 5000)
		sk_loop_run_once(loop, 100);
	assert_int_equal(done, 3);
	sk_pool_stop();
	sk_pool_set_max_queued(4096);
	sk_loop_free(loop);
}

struct lio {
	struct sk_io io;
	int id;
};

static int lio_order[64];
static int lio_n;

static void lio_cb(struct sk_io *io, uint32_t events)
{
	(void)events;
	lio_order[lio_n++] = SK_CONTAINER_OF(io, struct lio, io)->id;
}

static struct lio *lio_new(struct sk_loop *loop, int id, bool later)
{
	struct lio *l = calloc(1, sizeof(*l));
	l->io.fd = eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC); /* readable from the start: one edge at add */
	l->io.cb = lio_cb;
	l->io.later = later;
	l->id = id;
	assert_int_equal(sk_loop_add(loop, &l->io, EPOLLIN), 0);
	return l;
}

static bool lio_ran(int id)
{
	for (int i = 0; i < lio_n; i++)
		if (lio_order[i] == id)
			return true;
	return false;
}

static void test_later_events_run_last_a_few_per_round(void **state)
{
	(void)state;
	struct sk_loop *loop = sk_loop_new();
	struct lio *l[10];
	for (int i = 0; i < 10; i++)
		l[i] = lio_new(loop, i, true);
	struct lio *now = lio_new(loop, 100, false);
	lio_n = 0;
	sk_loop_run_once(loop, 1000);
	assert_int_equal(lio_n, 5); /* the ordinary io, then four deferred ones */
	assert_int_equal(lio_order[0], 100);
	/* One that waits is closed; it is freed after the next round, while its entry is still queued
	 * behind four others (the queue runs in epoll's order, here the order of registration): the entry
	 * must be dropped, not run or even read once the memory is gone (ASan checks). */
	int gone = -1;
	for (int i = 9; i >= 0 && gone < 0; i--)
		if (!lio_ran(i))
			gone = i;
	sk_loop_close_free(loop, &l[gone]->io, l[gone]);
	/* Deferred events waiting: the next round does not sleep, though nothing new is ready. */
	uint64_t t0 = sk_now_ms();
	sk_loop_run_once(loop, 1000);
	assert_int_equal(lio_n, 9);
	sk_loop_run_once(loop, 1000);
	assert_true(sk_now_ms() - t0 < 500);
	assert_int_equal(lio_n, 10); /* 4 + 4 + 1: the closed one was dropped */
	sk_loop_run_once(loop, 20);
	assert_int_equal(lio_n, 10);
	for (int i = 0; i < 10; i++)
		assert_true(i == gone ? !lio_ran(i) : lio_ran(i));
	for (int i = 0; i < 10; i++)
		if (i != gone)
			sk_loop_close_free(loop, &l[i]->io, l[i]);
	sk_loop_close_free(loop, &now->io, now);
	sk_loop_free(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timers_fire_in_deadline_order),
		cmocka_unit_test(test_timer_callbacks_may_change_the_heap),
		cmocka_unit_test(test_pool_completions_run_on_the_loop_thread),
		cmocka_unit_test(test_pool_queue_is_bounded),
		cmocka_unit_test(test_later_events_run_last_a_few_per_round),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
