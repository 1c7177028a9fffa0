/*
 * pool.c — the blocking pool (see loop.h): per lane, a fixed set of threads taking jobs from one bounded FIFO.
 * Jobs never touch loop-owned state in `work`; their completion is handed back to the submitting loop,
 * which runs `done` on its own thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/log.h"
#include "loop/loop.h"

void sk_loop_post_done(struct sk_loop *loop, struct sk_job *job);

struct lane {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct sk_job *head, *tail;
	unsigned queued;  /* waiting + running */
	unsigned max_queued;
	bool stopping;
	pthread_t *threads;
	unsigned n_threads;
};

/* Hashing and state-store calls get separate threads: a store round trip must not queue behind a
 * 60 ms bcrypt verification, and a slow or dead store must not starve password checks. */
static struct lane lanes[SK_N_LANES] = {
	[SK_LANE_HASH] = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .max_queued = 4096 },
	[SK_LANE_STATE] = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .max_queued = 4096 },
};

static void *pool_main(void *arg)
{
	struct lane *lp = arg;
	pthread_mutex_lock(&lp->mu);
	for (;;) {
		while (!lp->head && !lp->stopping)
			pthread_cond_wait(&lp->cv, &lp->mu);
		if (!lp->head && lp->stopping)
			break;
		struct sk_job *job = lp->head;
		lp->head = job->next;
		if (!lp->head)
			lp->tail = NULL;
		pthread_mutex_unlock(&lp->mu);
		job->work(job);
		pthread_mutex_lock(&lp->mu);
		lp->queued--;
		pthread_mutex_unlock(&lp->mu);
		sk_loop_post_done(job->owner, job);
		pthread_mutex_lock(&lp->mu);
	}
	pthread_mutex_unlock(&lp->mu);
	return NULL;
}

int sk_pool_start_lane(enum sk_lane lane, unsigned threads)
{
	struct lane *lp = &lanes[lane];
	if (lp->n_threads)
		return 0;
	lp->threads = sk_calloc(threads, sizeof(pthread_t));
	for (unsigned i = 0; i < threads; i++) {
		int rc = pthread_create(&lp->threads[i], NULL, pool_main, lp);
		if (rc != 0) {
			sk_error("pthread_create (blocking pool): %s", strerror(rc));
			return -1;
		}
		lp->n_threads++;
	}
	return 0;
}

int sk_pool_start(unsigned threads)
{
	return sk_pool_start_lane(SK_LANE_HASH, threads);
}

static void lane_stop(struct lane *lp)
{
	pthread_mutex_lock(&lp->mu);
	lp->stopping = true;
	pthread_cond_broadcast(&lp->cv);
	pthread_mutex_unlock(&lp->mu);
	for (unsigned i = 0; i < lp->n_threads; i++)
		pthread_join(lp->threads[i], NULL);
	free(lp->threads);
	lp->threads = NULL;
	lp->n_threads = 0;
	lp->stopping = false;
}

void sk_pool_stop(void)
{
	for (unsigned i = 0; i < SK_N_LANES; i++)
		lane_stop(&lanes[i]);
}

int sk_pool_submit_lane(enum sk_lane lane, struct sk_loop *loop, struct sk_job *job)
{
	struct lane *lp = &lanes[lane];
	job->owner = loop;
	job->next = NULL;
	pthread_mutex_lock(&lp->mu);
	if (lp->queued >= lp->max_queued) {
		pthread_mutex_unlock(&lp->mu);
		return -1;
	}
	lp->queued++;
	if (lp->tail)
		lp->tail->next = job;
	else
		lp->head = job;
	lp->tail = job;
	pthread_cond_signal(&lp->cv);
	pthread_mutex_unlock(&lp->mu);
	return 0;
}

int sk_pool_submit(struct sk_loop *loop, struct sk_job *job)
{
	return sk_pool_submit_lane(SK_LANE_HASH, loop, job);
}

unsigned sk_pool_pending(void)
{
	struct lane *lp = &lanes[SK_LANE_HASH];
	pthread_mutex_lock(&lp->mu);
	unsigned n = lp->queued;
	pthread_mutex_unlock(&lp->mu);
	return n;
}

void sk_pool_set_max_queued(unsigned n)
{
	struct lane *lp = &lanes[SK_LANE_HASH];
	pthread_mutex_lock(&lp->mu);
	lp->max_queued = n;
	pthread_mutex_unlock(&lp->mu);
}
