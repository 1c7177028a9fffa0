/*
 * status.c — the operator's view that is not a counter (see status.h).
 */
#include "obs/status.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "obs/metrics.h"

struct named {
	char *name;
	uint64_t until; /* ms; 0 = until removed */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t generation;
static int64_t reload_time;
static bool reload_ok = true, reloaded;
static char *reload_error;
static struct named *bans, *lockouts;
static size_t n_bans, n_lockouts;
/* Ring of cumulative totals per distribution slot; samples[k] taken at sample_t[k]. */
static uint64_t sample_req[SK_STATUS_SAMPLES][SK_METRICS_SLOTS], sample_ref[SK_STATUS_SAMPLES][SK_METRICS_SLOTS];
static int64_t sample_t[SK_STATUS_SAMPLES];
static unsigned n_samples, next_sample;

void sk_strbuf_printf(struct sk_strbuf *b, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int k = b->p ? vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap) : -1;
		va_end(ap);
		if (k >= 0 && (size_t)k < b->cap - b->len) {
			b->len += (size_t)k;
			return;
		}
		b->cap = b->cap * 2 + (k > 0 ? (size_t)k : 0) + 1024;
		b->p = sk_realloc(b->p, b->cap);
	}
}

void sk_strbuf_json(struct sk_strbuf *b, const char *s)
{
	sk_strbuf_printf(b, "\"");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			sk_strbuf_printf(b, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			sk_strbuf_printf(b, "\\u%04x", *p);
		else
			sk_strbuf_printf(b, "%c", *p);
	}
	sk_strbuf_printf(b, "\"");
}

void sk_status_set_reload(uint64_t gen, bool ok, const char *error)
{
	pthread_mutex_lock(&lock);
	if (ok)
		generation = gen;
	reload_time = (int64_t)time(NULL);
	reload_ok = ok;
	reloaded = true;
	free(reload_error);
	reload_error = error ? sk_strdup(error) : NULL;
	pthread_mutex_unlock(&lock);
}

static void replace(struct named **list, size_t *n, const char *const *names, const uint64_t *until, size_t k)
{
	struct named *nl = sk_calloc(k ? k : 1, sizeof(*nl));
	for (size_t i = 0; i < k; i++)
		nl[i] = (struct named){ .name = sk_strdup(names[i]), .until = until[i] };
	pthread_mutex_lock(&lock);
	struct named *old = *list;
	size_t on = *n;
	*list = nl;
	*n = k;
	pthread_mutex_unlock(&lock);
	for (size_t i = 0; i < on; i++)
		free(old[i].name);
	free(old);
}

void sk_status_set_bans(const char *const *ips, const uint64_t *until, size_t n)
{
	replace(&bans, &n_bans, ips, until, n);
}

void sk_status_set_lockouts(const char *const *users, const uint64_t *until, size_t n)
{
	replace(&lockouts, &n_lockouts, users, until, n);
}

void sk_status_tick(int64_t now)
{
	pthread_mutex_lock(&lock);
	unsigned last = (next_sample + SK_STATUS_SAMPLES - 1) % SK_STATUS_SAMPLES;
	if (n_samples && now - sample_t[last] < SK_STATUS_SAMPLE_S) {
		pthread_mutex_unlock(&lock);
		return;
	}
	unsigned k = next_sample;
	for (uint16_t s = 0; s < SK_METRICS_SLOTS; s++) {
		sample_req[k][s] = sk_metrics_dist_requests(s);
		sample_ref[k][s] = sk_metrics_dist_refusals(s);
	}
	sample_t[k] = now;
	next_sample = (k + 1) % SK_STATUS_SAMPLES;
	if (n_samples < SK_STATUS_SAMPLES)
		n_samples++;
	pthread_mutex_unlock(&lock);
}

void sk_status_json_reload(struct sk_strbuf *b)
{
	pthread_mutex_lock(&lock);
	sk_strbuf_printf(b, "\"generation\": %llu, \"last_reload\": ", (unsigned long long)generation);
	if (!reloaded) {
		sk_strbuf_printf(b, "null");
	} else {
		sk_strbuf_printf(b, "{\"time\": %lld, \"result\": \"%s\", \"error\": ", (long long)reload_time,
				 reload_ok ? "ok" : "error");
		if (reload_error)
			sk_strbuf_json(b, reload_error);
		else
			sk_strbuf_printf(b, "null");
		sk_strbuf_printf(b, "}");
	}
	pthread_mutex_unlock(&lock);
}

static void json_named(struct sk_strbuf *b, const struct named *l, size_t n, const char *key)
{
	pthread_mutex_lock(&lock);
	sk_strbuf_printf(b, "[");
	for (size_t i = 0; i < n; i++) {
		sk_strbuf_printf(b, "%s{\"%s\": ", i ? ", " : "", key);
		sk_strbuf_json(b, l[i].name);
		if (l[i].until)
			sk_strbuf_printf(b, ", \"until\": %llu}", (unsigned long long)(l[i].until / 1000));
		else
			sk_strbuf_printf(b, ", \"until\": null}");
	}
	sk_strbuf_printf(b, "]");
	pthread_mutex_unlock(&lock);
}

void sk_status_json_bans(struct sk_strbuf *b)
{
	json_named(b, bans, n_bans, "ip");
}

void sk_status_json_lockouts(struct sk_strbuf *b)
{
	json_named(b, lockouts, n_lockouts, "user");
}

void sk_status_json_rates(struct sk_strbuf *b, uint16_t slot)
{
	pthread_mutex_lock(&lock);
	sk_strbuf_printf(b, "[");
	unsigned first = (next_sample + SK_STATUS_SAMPLES - n_samples) % SK_STATUS_SAMPLES;
	for (unsigned i = 1; i < n_samples; i++) {
		unsigned a = (first + i - 1) % SK_STATUS_SAMPLES, c = (first + i) % SK_STATUS_SAMPLES;
		sk_strbuf_printf(b, "%s{\"t\": %lld, \"requests\": %llu, \"refusals\": %llu}", i > 1 ? ", " : "",
				 (long long)sample_t[c], (unsigned long long)(sample_req[c][slot] - sample_req[a][slot]),
				 (unsigned long long)(sample_ref[c][slot] - sample_ref[a][slot]));
	}
	sk_strbuf_printf(b, "]");
	pthread_mutex_unlock(&lock);
}

void sk_status_reload_get(struct sk_status_reload *out)
{
	pthread_mutex_lock(&lock);
	out->generation = generation;
	out->time = reloaded ? reload_time : 0;
	out->ok = reload_ok;
	snprintf(out->error, sizeof(out->error), "%s", reload_error ? reload_error : "");
	pthread_mutex_unlock(&lock);
}

void sk_status_each(int which, void (*fn)(void *arg, const char *name, int64_t until), void *arg)
{
	pthread_mutex_lock(&lock);
	const struct named *l = which == 0 ? bans : lockouts;
	size_t n = which == 0 ? n_bans : n_lockouts;
	for (size_t i = 0; i < n; i++)
		fn(arg, l[i].name, (int64_t)(l[i].until / 1000));
	pthread_mutex_unlock(&lock);
}

unsigned sk_status_rates(uint16_t slot, uint64_t *req, uint64_t *ref, unsigned cap)
{
	pthread_mutex_lock(&lock);
	unsigned first = (next_sample + SK_STATUS_SAMPLES - n_samples) % SK_STATUS_SAMPLES, n = 0;
	for (unsigned i = 1; i < n_samples && n < cap; i++, n++) {
		unsigned a = (first + i - 1) % SK_STATUS_SAMPLES, c = (first + i) % SK_STATUS_SAMPLES;
		req[n] = sample_req[c][slot] - sample_req[a][slot];
		ref[n] = sample_ref[c][slot] - sample_ref[a][slot];
	}
	pthread_mutex_unlock(&lock);
	return n;
}
