/*
 * metrics.c — per-worker counters, summed when /metrics is read (see metrics.h).
 * Each worker's block sits on its own cache lines so that workers never share a line they write.
 */
#include "obs/metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/core.h"

#define MAX_WORKERS 256

struct block {
	_Alignas(64) atomic_uint_fast64_t m[SK_M__COUNT];
	atomic_uint_fast64_t reasons[SK_R__COUNT];
	atomic_uint_fast64_t generation; /* the configuration this worker gives new connections */
};

static struct block blocks[MAX_WORKERS];
static unsigned n_workers = 1;

/* Written on reloads only (main thread, or a worker switching): never on the per-request path. */
static atomic_int snapshots;
static atomic_uint_fast64_t reloads_ok, reloads_error;

/* Single writer per block: a relaxed load and store compile to plain moves, and readers on other
 * threads still see whole values (no torn reads). */
static inline void bump(atomic_uint_fast64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}

void sk_metrics_request(unsigned w, enum sk_reason reason, uint64_t bytes_in, uint64_t bytes_out)
{
	struct block *b = &blocks[w % MAX_WORKERS];
	bump(&b->m[SK_M_REQUESTS], 1);
	bump(&b->m[SK_M_BYTES_IN], bytes_in);
	bump(&b->m[SK_M_BYTES_OUT], bytes_out);
	if (reason != SK_R_NONE)
		bump(&b->reasons[reason], 1);
}

void sk_metrics_add(unsigned w, enum sk_metric m, uint64_t n)
{
	bump(&blocks[w % MAX_WORKERS].m[m], n);
}

void sk_metrics_set_workers(unsigned n)
{
	n_workers = SK_MIN(SK_MAX(n, 1u), (unsigned)MAX_WORKERS);
}

void sk_metrics_set_generation(unsigned w, uint64_t generation)
{
	atomic_store_explicit(&blocks[w % MAX_WORKERS].generation, generation, memory_order_relaxed);
}

void sk_metrics_add_snapshots(int delta)
{
	atomic_fetch_add_explicit(&snapshots, delta, memory_order_relaxed);
}

int sk_metrics_snapshots(void)
{
	return atomic_load_explicit(&snapshots, memory_order_relaxed);
}

void sk_metrics_reload(bool ok)
{
	atomic_fetch_add_explicit(ok ? &reloads_ok : &reloads_error, 1, memory_order_relaxed);
}

static uint64_t generation_in_service(void)
{
	uint64_t g = UINT64_MAX;
	for (unsigned w = 0; w < n_workers; w++)
		g = SK_MIN(g, (uint64_t)atomic_load_explicit(&blocks[w].generation, memory_order_relaxed));
	return g;
}

uint64_t sk_metrics_sum(enum sk_metric m)
{
	uint64_t s = 0;
	for (unsigned w = 0; w < n_workers; w++)
		s += atomic_load_explicit(&blocks[w].m[m], memory_order_relaxed);
	return s;
}

uint64_t sk_metrics_reason_sum(enum sk_reason r)
{
	uint64_t s = 0;
	for (unsigned w = 0; w < n_workers; w++)
		s += atomic_load_explicit(&blocks[w].reasons[r], memory_order_relaxed);
	return s;
}

static const struct {
	const char *name;
	const char *help;
} metric_rows[SK_M__COUNT] = {
	[SK_M_REQUESTS] = { "sekisho_requests_total", "Requests answered." },
	[SK_M_CONNECTIONS] = { "sekisho_connections_accepted_total", "Connections accepted." },
	[SK_M_REJECTED] = { "sekisho_connections_rejected_total", "Connections refused at accept (listener ACL)." },
	[SK_M_BYTES_IN] = { "sekisho_request_bytes_total", "Bytes received from viewers." },
	[SK_M_BYTES_OUT] = { "sekisho_response_bytes_total", "Bytes sent to viewers." },
	[SK_M_TLS_HANDSHAKES] = { "sekisho_tls_handshakes_total", "Viewer TLS handshakes completed." },
	[SK_M_TLS_RESUMED] = { "sekisho_tls_resumed_total", "Viewer TLS handshakes that resumed a session." },
	[SK_M_TLS_FAILED] = { "sekisho_tls_handshake_failures_total", "Viewer TLS handshakes that failed." },
};

/* Certificates of the current configuration (written by the main thread, read by /metrics). */
static pthread_mutex_t certs_lock = PTHREAD_MUTEX_INITIALIZER;
static char **cert_names;
static int64_t *cert_not_after;
static size_t n_certs;

void sk_metrics_set_certificates(const char *const *names, const int64_t *not_after, size_t n)
{
	char **nn = n ? sk_calloc(n, sizeof(*nn)) : NULL;
	int64_t *na = n ? sk_calloc(n, sizeof(*na)) : NULL;
	for (size_t i = 0; i < n; i++) {
		nn[i] = sk_strdup(names[i]);
		na[i] = not_after[i];
	}
	pthread_mutex_lock(&certs_lock);
	char **old = cert_names;
	int64_t *old_na = cert_not_after;
	size_t old_n = n_certs;
	cert_names = nn;
	cert_not_after = na;
	n_certs = n;
	pthread_mutex_unlock(&certs_lock);
	for (size_t i = 0; i < old_n; i++)
		free(old[i]);
	free(old);
	free(old_na);
}

/* The state store's use (one writer: the sweeping thread). */
static atomic_bool state_known;
static atomic_uint_fast64_t state_records, state_bytes, state_max;

void sk_metrics_set_state(uint64_t records, uint64_t bytes, uint64_t max_bytes)
{
	atomic_store(&state_records, records);
	atomic_store(&state_bytes, bytes);
	atomic_store(&state_max, max_bytes);
	atomic_store(&state_known, true);
}

size_t sk_metrics_render(char *out, size_t cap)
{
	size_t o = 0;
#define PUT(...)                                                                                   \
	do {                                                                                       \
		if (o < cap) {                                                                     \
			int k = snprintf(out + o, cap - o, __VA_ARGS__);                           \
			o += k > 0 ? (size_t)k : 0;                                                \
		}                                                                                  \
	} while (0)
	for (int m = 0; m < SK_M__COUNT; m++) {
		PUT("# HELP %s %s\n# TYPE %s counter\n%s %llu\n", metric_rows[m].name, metric_rows[m].help,
		    metric_rows[m].name, metric_rows[m].name, (unsigned long long)sk_metrics_sum(m));
	}
	PUT("# HELP sekisho_denied_total Requests refused or failed, by reason (DESIGN section 3).\n"
	    "# TYPE sekisho_denied_total counter\n");
	for (int r = 1; r < SK_R__COUNT; r++) {
		/* Several rows share the label "too_large" (413/414/431): add the status to tell them apart. */
		PUT("sekisho_denied_total{reason=\"%s\",status=\"%d\"} %llu\n", sk_reason_label(r),
		    sk_reason_status(r), (unsigned long long)sk_metrics_reason_sum(r));
	}
	PUT("# HELP sekisho_config_generation Configuration generation that every worker serves new connections "
	    "with.\n# TYPE sekisho_config_generation gauge\nsekisho_config_generation %llu\n",
	    (unsigned long long)generation_in_service());
	PUT("# HELP sekisho_config_snapshots Configurations in memory: the current one and older ones that still "
	    "have connections.\n# TYPE sekisho_config_snapshots gauge\nsekisho_config_snapshots %d\n",
	    atomic_load_explicit(&snapshots, memory_order_relaxed));
	PUT("# HELP sekisho_config_reloads_total Reloads (SIGHUP) by result.\n"
	    "# TYPE sekisho_config_reloads_total counter\n"
	    "sekisho_config_reloads_total{result=\"ok\"} %llu\nsekisho_config_reloads_total{result=\"error\"} %llu\n",
	    (unsigned long long)atomic_load_explicit(&reloads_ok, memory_order_relaxed),
	    (unsigned long long)atomic_load_explicit(&reloads_error, memory_order_relaxed));
	pthread_mutex_lock(&certs_lock);
	if (n_certs)
		PUT("# HELP sekisho_certificate_days_left Whole days until the certificate's not-after (negative: "
		    "expired).\n# TYPE sekisho_certificate_days_left gauge\n");
	int64_t now = (int64_t)time(NULL);
	for (size_t i = 0; i < n_certs; i++) {
		int64_t d = cert_not_after[i] - now;
		long long days = d >= 0 ? d / 86400 : -((-d + 86399) / 86400);
		PUT("sekisho_certificate_days_left{name=\"%s\"} %lld\n", cert_names[i], days);
	}
	pthread_mutex_unlock(&certs_lock);
	if (atomic_load(&state_known)) {
		PUT("# HELP sekisho_state_records Records in the state store, live or expired and awaiting the sweep.\n"
		    "# TYPE sekisho_state_records gauge\nsekisho_state_records %llu\n"
		    "# HELP sekisho_state_bytes Bytes of the state store's map in use (what state.max_size bounds).\n"
		    "# TYPE sekisho_state_bytes gauge\nsekisho_state_bytes %llu\n"
		    "# HELP sekisho_state_max_bytes The most the state store may hold (state.max_size).\n"
		    "# TYPE sekisho_state_max_bytes gauge\nsekisho_state_max_bytes %llu\n",
		    (unsigned long long)atomic_load(&state_records), (unsigned long long)atomic_load(&state_bytes),
		    (unsigned long long)atomic_load(&state_max));
	}
#undef PUT
	return SK_MIN(o, cap);
}
