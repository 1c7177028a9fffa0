/*
 * pipeline.c — compiling an access block into stages and running them (see access.h).
 *
 * Scratch: compiling lays out each stage's slice of the request's workspace (sk_access_req.scratch), one
 * after the other, aligned, within SK_ACCESS_SCRATCH_MAX. Running zeroes a stage's slice the first time
 * that stage runs for a request (bit i of req->scratch_ready) and hands the same slice back, untouched,
 * when it runs again after AGAIN. A request that stops before a stage never pays for that stage's slice.
 */
#include "access/access.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

struct stage {
	const struct sk_check_ops *ops;
	void *state;
	uint16_t scratch_off; /* of the stage's slice in req->scratch */
};

struct sk_pipeline {
	unsigned n;
	size_t scratch; /* bytes of the workspace the stages use */
	struct stage stages[];
};

struct sk_pipeline *sk_pipeline_compile_checks(const struct sk_check_ops *const *checks, size_t n,
					       const struct sk_access *a, const struct sk_access_env *env,
					       struct sk_err *err)
{
	SK_ASSERT(n <= 16); /* req->scratch_ready: one bit per stage */
	struct sk_pipeline *p = sk_calloc(1, sizeof(*p) + n * sizeof(struct stage));
	if (!a->present)
		return p;
	for (size_t i = 0; i < n; i++) {
		void *state = NULL;
		if (checks[i]->compile(a, env, &state, err) == -1) {
			sk_pipeline_free(p);
			return NULL;
		}
		if (!state)
			continue;
		size_t need = checks[i]->scratch_size;
		size_t off = (p->scratch + SK_ACCESS_SCRATCH_ALIGN - 1) & ~(size_t)(SK_ACCESS_SCRATCH_ALIGN - 1);
		if (need) {
			/* Sizes are fixed by the code, not the config: a pipeline over the cap is a build mistake. */
			SK_ASSERT(off + need <= SK_ACCESS_SCRATCH_MAX);
			p->scratch = off + need;
		}
		p->stages[p->n++] = (struct stage){ .ops = checks[i], .state = state, .scratch_off = (uint16_t)off };
	}
	return p;
}

struct sk_pipeline *sk_pipeline_compile(const struct sk_access *a, const struct sk_access_env *env,
					struct sk_err *err)
{
	return sk_pipeline_compile_checks(sk_checks, sk_n_checks, a, env, err);
}

void sk_pipeline_free(struct sk_pipeline *p)
{
	if (!p)
		return;
	for (unsigned i = 0; i < p->n; i++)
		p->stages[i].ops->free(p->stages[i].state);
	free(p);
}

bool sk_pipeline_empty(const struct sk_pipeline *p)
{
	return p->n == 0;
}

void sk_access_req_clear(struct sk_access_req *req)
{
	memset(req, 0, offsetof(struct sk_access_req, scratch));
}

/* The stage's slice, zeroed on its first run for this request. */
static void *stage_scratch(const struct stage *s, unsigned i, struct sk_access_req *req)
{
	size_t need = s->ops->scratch_size;
	if (!need)
		return NULL;
	void *x = req->scratch + s->scratch_off;
	if (!(req->scratch_ready & (1u << i))) {
		memset(x, 0, need);
		req->scratch_ready |= (uint16_t)(1u << i);
	}
	return x;
}

enum sk_verdict sk_pipeline_run(const struct sk_pipeline *p, const struct sk_access_env *env,
				struct sk_access_req *req, unsigned *stage)
{
	for (; *stage < p->n; (*stage)++) {
		const struct stage *s = &p->stages[*stage];
		enum sk_verdict v = s->ops->run(s->state, env, req, stage_scratch(s, *stage, req));
		switch (v) {
		case SK_V_NEXT:
			continue;
		case SK_V_DENY:
			SK_ASSERT(req->reason != SK_R_NONE);
			return v;
		case SK_V_ALLOW:
		case SK_V_AGAIN:
			return v;
		}
	}
	return SK_V_ALLOW;
}
