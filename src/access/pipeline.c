/*
 * pipeline.c — compiling an access block into stages and running them (see access.h).
 */
#include "access/access.h"

#include <stdlib.h>

struct stage {
	const struct sk_check_ops *ops;
	void *state;
};

struct sk_pipeline {
	unsigned n;
	struct stage stages[];
};

struct sk_pipeline *sk_pipeline_compile(const struct sk_access *a, const struct sk_access_env *env,
					struct sk_err *err)
{
	struct sk_pipeline *p = sk_calloc(1, sizeof(*p) + sk_n_checks * sizeof(struct stage));
	if (!a->present)
		return p;
	for (size_t i = 0; i < sk_n_checks; i++) {
		void *state = NULL;
		if (sk_checks[i]->compile(a, env, &state, err) == -1) {
			sk_pipeline_free(p);
			return NULL;
		}
		if (state)
			p->stages[p->n++] = (struct stage){ .ops = sk_checks[i], .state = state };
	}
	return p;
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

enum sk_verdict sk_pipeline_run(const struct sk_pipeline *p, const struct sk_access_env *env,
				struct sk_access_req *req, unsigned *stage)
{
	for (; *stage < p->n; (*stage)++) {
		const struct stage *s = &p->stages[*stage];
		enum sk_verdict v = s->ops->run(s->state, env, req);
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
