/*
 * worker.h — starting, feeding and stopping worker threads (used by server.c).
 */
#ifndef SK_WORKER_H
#define SK_WORKER_H

#include "proxy/proxy.h"

/* Creates a worker serving rt (takes its own reference). */
struct sk_worker *sk_worker_new(unsigned id, struct sk_runtime *rt);
int sk_worker_start(struct sk_worker *w);
/* Hands a new snapshot to the worker (takes a reference); it switches at its next wake-up. */
void sk_worker_publish(struct sk_worker *w, struct sk_runtime *rt);
/* Asks the worker to stop accepting, close idle connections and exit once the others are done. */
void sk_worker_stop(struct sk_worker *w);
void sk_worker_reopen_logs(struct sk_worker *w);
/* Asks the worker to report its open flow-log window; flushed once it has. */
void sk_worker_flow_flush(struct sk_worker *w);
bool sk_worker_flow_flushed(struct sk_worker *w);
void sk_worker_join_free(struct sk_worker *w);

#endif
