/*
 * pool.c — the blocking pool (see loop.h): a fixed set of threads taking jobs from one bounded FIFO.
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

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct sk_job *head, *tail;
	unsigned queued;  /* waiting + running */
	unsigned max_queued;
	bool stopping;
	pthread_t *threads;
	unsigned n_threads;
} pool = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .max_queued = 4096 };

static void *pool_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&pool.mu);
	for (;;) {
		while (!pool.head && !pool.stopping)
			pthread_cond_wait(&pool.cv, &pool.mu);
		if (!pool.head && pool.stopping)
			break;
		struct sk_job *job = pool.head;
		pool.head = job->next;
		if (!pool.head)
			pool.tail = NULL;
		pthread_mutex_unlock(&pool.mu);
		job->work(job);
		pthread_mutex_lock(&pool.mu);
		pool.queued--;
		pthread_mutex_unlock(&pool.mu);
		sk_loop_post_done(job->owner, job);
		pthread_mutex_lock(&pool.mu);
	}
	pthread_mutex_unlock(&pool.mu);
	return NULL;
}

int sk_pool_start(unsigned threads)
{
	if (pool.n_threads)
		return 0;
	pool.threads = sk_calloc(threads, sizeof(pthread_t));
	for (unsigned i = 0; i < threads; i++) {
		int rc = pthread_create(&pool.threads[i], NULL, pool_main, NULL);
		if (rc != 0) {
			sk_error("pthread_create (blocking pool): %s", strerror(rc));
			return -1;
		}
		pool.n_threads++;
	}
	return 0;
}

void sk_pool_stop(void)
{
	pthread_mutex_lock(&pool.mu);
	pool.stopping = true;
	pthread_cond_broadcast(&pool.cv);
	pthread_mutex_unlock(&pool.mu);
	for (unsigned i = 0; i < pool.n_threads; i++)
		pthread_join(pool.threads[i], NULL);
	free(pool.threads);
	pool.threads = NULL;
	pool.n_threads = 0;
	pool.stopping = false;
}

int sk_pool_submit(struct sk_loop *loop, struct sk_job *job)
{
	job->owner = loop;
	job->next = NULL;
	pthread_mutex_lock(&pool.mu);
	if (pool.queued >= pool.max_queued) {
		pthread_mutex_unlock(&pool.mu);
		return -1;
	}
	pool.queued++;
	if (pool.tail)
		pool.tail->next = job;
	else
		pool.head = job;
	pool.tail = job;
	pthread_cond_signal(&pool.cv);
	pthread_mutex_unlock(&pool.mu);
	return 0;
}

unsigned sk_pool_pending(void)
{
	pthread_mutex_lock(&pool.mu);
	unsigned n = pool.queued;
	pthread_mutex_unlock(&pool.mu);
	return n;
}

void sk_pool_set_max_queued(unsigned n)
{
	pthread_mutex_lock(&pool.mu);
	pool.max_queued = n;
	pthread_mutex_unlock(&pool.mu);
}
