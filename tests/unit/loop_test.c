/*
 * loop_test.c — the timer heap (order, re-arm, cancel from callbacks) and the blocking pool (completions
 * come back on the loop thread through the eventfd; the queue bound is enforced).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdlib.h>
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timers_fire_in_deadline_order),
		cmocka_unit_test(test_timer_callbacks_may_change_the_heap),
		cmocka_unit_test(test_pool_completions_run_on_the_loop_thread),
		cmocka_unit_test(test_pool_queue_is_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
