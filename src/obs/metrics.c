/*
 * metrics.c — per-worker counters, summed when /metrics is read (see metrics.h).
 * Each worker's block sits on its own cache lines so that workers never share a line they write.
 * Rare events (a server failing, an account locked) are global atomics: they are not on the request path.
 */
#include "obs/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/log.h"

#define MAX_WORKERS 256
#define N_CLASSES 5 /* 1xx … 5xx */

/* Histogram upper bounds in ms (DESIGN §5: .005 to 10 s); one more bucket counts the rest (+Inf). */
static const unsigned bucket_ms[] = { 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000 };
static const char *const bucket_le[] = { "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
					 "0.5",   "1",    "2.5",   "5",    "10" };
#define N_BUCKETS (sizeof(bucket_ms) / sizeof(bucket_ms[0]))

typedef atomic_uint_fast64_t ctr;

struct block {
	_Alignas(64) ctr m[SK_M__COUNT];
	ctr reasons[SK_R__COUNT];
	ctr http[SK_METRICS_SLOTS][N_CLASSES];
	ctr refused[SK_METRICS_SLOTS];
	ctr hist[SK_METRICS_SLOTS][N_BUCKETS + 1]; /* not cumulative here; summed when rendered */
	ctr hist_ms[SK_METRICS_SLOTS];
	ctr upstream[SK_METRICS_SLOTS][N_CLASSES];
	ctr conn_accept[SK_METRICS_SLOTS];
	ctr conn_reject[SK_METRICS_SLOTS];
	ctr conn_closed[SK_METRICS_SLOTS];
	ctr tls_ok[SK_METRICS_SLOTS];
	ctr tls_error[SK_METRICS_SLOTS];
	ctr generation; /* the configuration this worker gives new connections */
};

static struct block blocks[MAX_WORKERS];
static unsigned n_workers = 1;

/* Slot names: written under names_lock (main thread, pool creation); n_names is read by the renderer
 * under the same lock. */
static pthread_mutex_t names_lock = PTHREAD_MUTEX_INITIALIZER;
static char *names[SK_MK__COUNT][SK_METRICS_SLOTS];
static unsigned n_names[SK_MK__COUNT];

/* Servers: last failure (wall seconds) and whether it is failed now. Written by any worker. */
static _Atomic int64_t server_failed_at[SK_METRICS_SLOTS];
static atomic_uint_fast64_t server_down_until[SK_METRICS_SLOTS]; /* wall ms; 0 = up */
static atomic_uint_fast64_t lockouts;
static atomic_uint_fast64_t bans_active;
/* Written on reloads only (main thread, or a worker switching): never on the per-request path. */
static atomic_int snapshots;
static atomic_uint_fast64_t reloads_ok, reloads_error;

/* Single writer per block: a relaxed load and store compile to plain moves, and readers on other
 * threads still see whole values (no torn reads). */
static inline void bump(ctr *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}

static inline uint64_t get(const ctr *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static inline struct block *blk(unsigned w)
{
	return &blocks[w % MAX_WORKERS];
}

static inline unsigned slot_ok(uint16_t s)
{
	return s < SK_METRICS_SLOTS ? s : 0;
}

static inline int class_of(int status)
{
	return status >= 100 && status <= 599 ? status / 100 - 1 : -1;
}

void sk_metrics_request(unsigned w, enum sk_reason reason, uint64_t bytes_in, uint64_t bytes_out)
{
	struct block *b = blk(w);
	bump(&b->m[SK_M_REQUESTS], 1);
	bump(&b->m[SK_M_BYTES_IN], bytes_in);
	bump(&b->m[SK_M_BYTES_OUT], bytes_out);
	if (reason != SK_R_NONE)
		bump(&b->reasons[reason], 1);
}

void sk_metrics_add(unsigned w, enum sk_metric m, uint64_t n)
{
	bump(&blk(w)->m[m], n);
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

uint16_t sk_metrics_slot(enum sk_mkind kind, const char *name)
{
	uint16_t s = 0;
	pthread_mutex_lock(&names_lock);
	if (n_names[kind] == 0)
		names[kind][n_names[kind]++] = sk_strdup("-");
	for (unsigned i = 1; i < n_names[kind]; i++) {
		if (strcmp(names[kind][i], name) == 0) {
			s = (uint16_t)i;
			goto out;
		}
	}
	if (n_names[kind] == SK_METRICS_SLOTS) {
		/* More names than slots over the process's life: count the rest under "-" rather than grow
		 * the workers' blocks. */
		sk_warn("metrics: more than %d names of one kind; '%s' is counted under \"-\"", SK_METRICS_SLOTS - 1,
			name);
		goto out;
	}
	s = (uint16_t)n_names[kind];
	names[kind][n_names[kind]++] = sk_strdup(name);
out:
	pthread_mutex_unlock(&names_lock);
	return s;
}

/* ---- hot path ---- */

void sk_metrics_http(unsigned w, uint16_t dist, int status, uint64_t duration_ms, bool refused)
{
	struct block *b = blk(w);
	unsigned d = slot_ok(dist);
	int k = class_of(status);
	if (k >= 0)
		bump(&b->http[d][k], 1);
	if (refused)
		bump(&b->refused[d], 1);
	size_t i = 0;
	while (i < N_BUCKETS && duration_ms > bucket_ms[i])
		i++;
	bump(&b->hist[d][i], 1);
	bump(&b->hist_ms[d], duration_ms);
}

void sk_metrics_upstream_response(unsigned w, uint16_t origin, int status)
{
	int k = class_of(status);
	if (k >= 0)
		bump(&blk(w)->upstream[slot_ok(origin)][k], 1);
}

void sk_metrics_conn_open(unsigned w, uint16_t listener, bool accept)
{
	struct block *b = blk(w);
	bump(accept ? &b->conn_accept[slot_ok(listener)] : &b->conn_reject[slot_ok(listener)], 1);
}

void sk_metrics_conn_closed(unsigned w, uint16_t listener)
{
	bump(&blk(w)->conn_closed[slot_ok(listener)], 1);
}

void sk_metrics_tls(unsigned w, uint16_t listener, bool ok)
{
	struct block *b = blk(w);
	bump(ok ? &b->tls_ok[slot_ok(listener)] : &b->tls_error[slot_ok(listener)], 1);
}

/* ---- rare events ---- */

void sk_metrics_server_failed(uint16_t srv, uint64_t retry_ms)
{
	unsigned s = slot_ok(srv);
	uint64_t now = sk_wall_ms();
	atomic_store_explicit(&server_failed_at[s], (int64_t)(now / 1000), memory_order_relaxed);
	atomic_store_explicit(&server_down_until[s], now + retry_ms, memory_order_relaxed);
}

void sk_metrics_server_ok(uint16_t srv)
{
	unsigned s = slot_ok(srv);
	/* Read first: a success on a healthy server (every request) must not write a shared line. */
	if (atomic_load_explicit(&server_down_until[s], memory_order_relaxed))
		atomic_store_explicit(&server_down_until[s], 0, memory_order_relaxed);
}

void sk_metrics_lockout(void)
{
	atomic_fetch_add_explicit(&lockouts, 1, memory_order_relaxed);
}

void sk_metrics_set_bans(uint64_t n)
{
	atomic_store_explicit(&bans_active, n, memory_order_relaxed);
}

/* ---- read side ---- */

uint64_t sk_metrics_sum(enum sk_metric m)
{
	uint64_t s = 0;
	for (unsigned w = 0; w < n_workers; w++)
		s += get(&blocks[w].m[m]);
	return s;
}

uint64_t sk_metrics_reason_sum(enum sk_reason r)
{
	uint64_t s = 0;
	for (unsigned w = 0; w < n_workers; w++)
		s += get(&blocks[w].reasons[r]);
	return s;
}

uint64_t sk_metrics_dist_requests(uint16_t dist)
{
	uint64_t s = 0;
	for (unsigned w = 0; w < n_workers; w++)
		for (int k = 0; k < N_CLASSES; k++)
			s += get(&blocks[w].http[slot_ok(dist)][k]);
	return s;
}

uint64_t sk_metrics_dist_refusals(uint16_t dist)
{
	uint64_t s = 0;
	for (unsigned w = 0; w < n_workers; w++)
		s += get(&blocks[w].refused[slot_ok(dist)]);
	return s;
}

bool sk_metrics_server_state(uint16_t srv, int64_t *last_failure)
{
	unsigned s = slot_ok(srv);
	if (last_failure)
		*last_failure = atomic_load_explicit(&server_failed_at[s], memory_order_relaxed);
	return atomic_load_explicit(&server_down_until[s], memory_order_relaxed) <= sk_wall_ms();
}

/* Sums one per-slot counter over the workers; off is the counter's byte offset in struct block. */
static uint64_t sum_at(size_t off)
{
	uint64_t s = 0;
	for (unsigned w = 0; w < n_workers; w++)
		s += get((const ctr *)((const char *)&blocks[w] + off));
	return s;
}
#define SUM(field) sum_at(offsetof(struct block, field))

static const struct {
	const char *name;
	const char *help;
} metric_rows[SK_M__COUNT] = {
	[SK_M_REQUESTS] = { "sekisho_requests_total", "Requests answered." },
	[SK_M_CONNECTIONS] = { "sekisho_connections_accepted_total", "Connections accepted." },
	[SK_M_REJECTED] = { "sekisho_connections_rejected_total", "Connections refused at accept (listener ACL)." },
	[SK_M_BYTES_IN] = { "sekisho_request_bytes_total", "Bytes received from viewers." },
	[SK_M_BYTES_OUT] = { "sekisho_response_bytes_total", "Bytes sent to viewers." },
	/* Handshakes completed are the family sekisho_tls_handshakes_total{listener,result}. */
	[SK_M_TLS_RESUMED] = { "sekisho_tls_resumed_total", "Viewer TLS handshakes that resumed a session." },
	[SK_M_TLS_FAILED] = { "sekisho_tls_handshake_failures_total", "Viewer TLS handshakes that failed." },
	[SK_M_REQ_HTTP1] = { "sekisho_http1_requests_total", "Requests answered over HTTP/1.0 or HTTP/1.1." },
	[SK_M_REQ_HTTP2] = { "sekisho_http2_requests_total", "Requests (streams) answered over HTTP/2." },
	[SK_M_H2_CONNECTIONS] = { "sekisho_http2_connections_total", "Viewer connections that spoke HTTP/2." },
	[SK_M_H2_REFUSED] = { "sekisho_http2_refused_streams_total",
			      "HTTP/2 streams refused over max_concurrent_streams (REFUSED_STREAM)." },
	[SK_M_H2_RESETS] = { "sekisho_http2_client_resets_total",
			     "HTTP/2 streams the client reset before their response ended." },
	[SK_M_H2_ABUSE] = { "sekisho_http2_abuse_total",
			    "HTTP/2 connections ended for abuse (rapid reset, CONTINUATION or frame floods)." },
};

/* Certificates of the current configuration (written by the main thread, read by /metrics). */
static pthread_mutex_t certs_lock = PTHREAD_MUTEX_INITIALIZER;
static char **cert_names;
static int64_t *cert_not_after;
static size_t n_certs;
/* (origin, server) pairs of the configuration in service, and each server's slot. */
static char **up_origins, **up_servers;
static uint16_t *up_slots;
static size_t n_up;

void sk_metrics_set_certificates(const char *const *names_, const int64_t *not_after, size_t n)
{
	char **nn = n ? sk_calloc(n, sizeof(*nn)) : NULL;
	int64_t *na = n ? sk_calloc(n, sizeof(*na)) : NULL;
	for (size_t i = 0; i < n; i++) {
		nn[i] = sk_strdup(names_[i]);
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

void sk_metrics_set_upstreams(const char *const *origins, const char *const *servers, size_t n)
{
	char **no = n ? sk_calloc(n, sizeof(*no)) : NULL;
	char **ns = n ? sk_calloc(n, sizeof(*ns)) : NULL;
	uint16_t *sl = n ? sk_calloc(n, sizeof(*sl)) : NULL;
	for (size_t i = 0; i < n; i++) {
		no[i] = sk_strdup(origins[i]);
		ns[i] = sk_strdup(servers[i]);
		sl[i] = sk_metrics_slot(SK_MK_SERVER, servers[i]);
	}
	pthread_mutex_lock(&certs_lock);
	char **oo = up_origins, **os = up_servers;
	uint16_t *osl = up_slots;
	size_t on = n_up;
	up_origins = no;
	up_servers = ns;
	up_slots = sl;
	n_up = n;
	pthread_mutex_unlock(&certs_lock);
	for (size_t i = 0; i < on; i++) {
		free(oo[i]);
		free(os[i]);
	}
	free(oo);
	free(os);
	free(osl);
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

/* ---- rendering ---- */

struct out {
	char *p;
	size_t len, cap;
	bool om; /* OpenMetrics */
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int k = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		SK_ASSERT(k >= 0);
		if ((size_t)k < o->cap - o->len) {
			o->len += (size_t)k;
			return;
		}
		o->cap = o->cap * 2 + (size_t)k;
		o->p = sk_realloc(o->p, o->cap);
	}
}

/* A label value with \, " and newline escaped (both formats use the same escapes). */
static const char *esc(const char *s, char *buf, size_t cap)
{
	size_t o = 0;
	for (; *s && o + 3 < cap; s++) {
		if (*s == '\\' || *s == '"') {
			buf[o++] = '\\';
			buf[o++] = *s;
		} else if (*s == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else {
			buf[o++] = *s;
		}
	}
	buf[o] = '\0';
	return buf;
}

/* HELP and TYPE lines. OpenMetrics names a counter family without its _total suffix. */
static void family(struct out *o, const char *name, const char *type, const char *help)
{
	size_t n = strlen(name);
	int fl = (int)n;
	if (o->om && strcmp(type, "counter") == 0 && n > 6 && strcmp(name + n - 6, "_total") == 0)
		fl = (int)n - 6;
	put(o, "# HELP %.*s %s\n# TYPE %.*s %s\n", fl, name, help, fl, name, type);
}

static const char *const class_label[N_CLASSES] = { "1xx", "2xx", "3xx", "4xx", "5xx" };

static void render_http(struct out *o, unsigned nd)
{
	char e[2][300];
	family(o, "sekisho_http_requests_total", "counter", "Requests answered, by distribution and status class.");
	for (unsigned d = 0; d < nd; d++)
		for (int k = 0; k < N_CLASSES; k++)
			put(o, "sekisho_http_requests_total{distribution=\"%s\",code=\"%s\"} %llu\n",
			    esc(names[SK_MK_DIST][d], e[0], sizeof(e[0])), class_label[k],
			    (unsigned long long)SUM(http[d][k]));
	family(o, "sekisho_http_request_duration_seconds", "histogram",
	       "Time from the request head to the end of the response, by distribution.");
	for (unsigned d = 0; d < nd; d++) {
		esc(names[SK_MK_DIST][d], e[0], sizeof(e[0]));
		uint64_t cum = 0;
		for (size_t i = 0; i <= N_BUCKETS; i++) {
			cum += SUM(hist[d][i]);
			put(o, "sekisho_http_request_duration_seconds_bucket{distribution=\"%s\",le=\"%s\"} %llu\n", e[0],
			    i < N_BUCKETS ? bucket_le[i] : "+Inf", (unsigned long long)cum);
		}
		uint64_t ms = SUM(hist_ms[d]);
		put(o, "sekisho_http_request_duration_seconds_sum{distribution=\"%s\"} %llu.%03llu\n", e[0],
		    (unsigned long long)(ms / 1000), (unsigned long long)(ms % 1000));
		put(o, "sekisho_http_request_duration_seconds_count{distribution=\"%s\"} %llu\n", e[0],
		    (unsigned long long)cum);
	}
}

static void render_connections(struct out *o, unsigned nl)
{
	char e[300];
	family(o, "sekisho_connections_open", "gauge", "Viewer connections open now, by listener.");
	for (unsigned l = 0; l < nl; l++) {
		/* Closes first: a connection accepted meanwhile makes the figure high by one, never negative. */
		uint64_t closed = SUM(conn_closed[l]);
		uint64_t opened = SUM(conn_accept[l]);
		put(o, "sekisho_connections_open{listener=\"%s\"} %llu\n", esc(names[SK_MK_LISTENER][l], e, sizeof(e)),
		    (unsigned long long)(opened > closed ? opened - closed : 0));
	}
	family(o, "sekisho_connections_total", "counter",
	       "Viewer connections by listener; action reject: refused at accept (listener ACL, ban, limit).");
	for (unsigned l = 0; l < nl; l++) {
		esc(names[SK_MK_LISTENER][l], e, sizeof(e));
		put(o, "sekisho_connections_total{listener=\"%s\",action=\"accept\"} %llu\n", e,
		    (unsigned long long)SUM(conn_accept[l]));
		put(o, "sekisho_connections_total{listener=\"%s\",action=\"reject\"} %llu\n", e,
		    (unsigned long long)SUM(conn_reject[l]));
	}
	family(o, "sekisho_tls_handshakes_total", "counter", "Viewer TLS handshakes, by listener and result.");
	for (unsigned l = 0; l < nl; l++) {
		esc(names[SK_MK_LISTENER][l], e, sizeof(e));
		put(o, "sekisho_tls_handshakes_total{listener=\"%s\",result=\"ok\"} %llu\n", e,
		    (unsigned long long)SUM(tls_ok[l]));
		put(o, "sekisho_tls_handshakes_total{listener=\"%s\",result=\"error\"} %llu\n", e,
		    (unsigned long long)SUM(tls_error[l]));
	}
}

static void render_upstreams(struct out *o, unsigned no)
{
	char e[2][300];
	family(o, "sekisho_upstream_up", "gauge",
	       "1 when the server is not marked failed (passive marking, retried after fail_timeout).");
	for (size_t i = 0; i < n_up; i++)
		put(o, "sekisho_upstream_up{origin=\"%s\",server=\"%s\"} %d\n", esc(up_origins[i], e[0], sizeof(e[0])),
		    esc(up_servers[i], e[1], sizeof(e[1])), sk_metrics_server_state(up_slots[i], NULL) ? 1 : 0);
	family(o, "sekisho_upstream_responses_total", "counter", "Response heads received from origins, by status class.");
	for (unsigned s = 1; s < no; s++)
		for (int k = 0; k < N_CLASSES; k++)
			put(o, "sekisho_upstream_responses_total{origin=\"%s\",code=\"%s\"} %llu\n",
			    esc(names[SK_MK_ORIGIN][s], e[0], sizeof(e[0])), class_label[k],
			    (unsigned long long)SUM(upstream[s][k]));
}

static void render_certificates(struct out *o)
{
	char e[300];
	if (n_certs) {
		family(o, "sekisho_certificate_expiry_seconds", "gauge", "The certificate's not-after, as Unix time.");
		for (size_t i = 0; i < n_certs; i++)
			put(o, "sekisho_certificate_expiry_seconds{certificate=\"%s\"} %lld\n",
			    esc(cert_names[i], e, sizeof(e)), (long long)cert_not_after[i]);
	}
}

char *sk_metrics_render_alloc(enum sk_metrics_format f, size_t *len)
{
	struct out o = { .cap = 16384, .om = f == SK_METRICS_OPENMETRICS };
	o.p = sk_malloc(o.cap);
	o.p[0] = '\0';
	for (int m = 0; m < SK_M__COUNT; m++) {
		family(&o, metric_rows[m].name, "counter", metric_rows[m].help);
		put(&o, "%s %llu\n", metric_rows[m].name, (unsigned long long)sk_metrics_sum(m));
	}
	family(&o, "sekisho_denied_total", "counter", "Requests refused or failed, by reason (DESIGN section 3).");
	for (int r = 1; r < SK_R__COUNT; r++) {
		/* Several rows share the label "too_large" (413/414/431): add the status to tell them apart. */
		put(&o, "sekisho_denied_total{reason=\"%s\",status=\"%d\"} %llu\n", sk_reason_label(r),
		    sk_reason_status(r), (unsigned long long)sk_metrics_reason_sum(r));
	}
	family(&o, "sekisho_config_generation", "gauge",
	       "Configuration generation that every worker serves new connections with.");
	put(&o, "sekisho_config_generation %llu\n", (unsigned long long)generation_in_service());
	family(&o, "sekisho_config_snapshots", "gauge",
	       "Configurations in memory: the current one and older ones that still have connections.");
	put(&o, "sekisho_config_snapshots %d\n", atomic_load_explicit(&snapshots, memory_order_relaxed));
	family(&o, "sekisho_config_reloads_total", "counter", "Reloads (SIGHUP) by result.");
	put(&o, "sekisho_config_reloads_total{result=\"ok\"} %llu\nsekisho_config_reloads_total{result=\"error\"} %llu\n",
	    (unsigned long long)atomic_load_explicit(&reloads_ok, memory_order_relaxed),
	    (unsigned long long)atomic_load_explicit(&reloads_error, memory_order_relaxed));
	pthread_mutex_lock(&names_lock);
	if (n_names[SK_MK_DIST] == 0)
		names[SK_MK_DIST][n_names[SK_MK_DIST]++] = sk_strdup("-");
	if (n_names[SK_MK_LISTENER] == 0)
		names[SK_MK_LISTENER][n_names[SK_MK_LISTENER]++] = sk_strdup("-");
	render_http(&o, n_names[SK_MK_DIST]);
	/* Listener slot 0 ("-") never counts anything: every connection comes through a named listener. */
	render_connections(&o, n_names[SK_MK_LISTENER]);
	unsigned no = n_names[SK_MK_ORIGIN];
	pthread_mutex_unlock(&names_lock);
	pthread_mutex_lock(&certs_lock);
	pthread_mutex_lock(&names_lock);
	render_upstreams(&o, no);
	pthread_mutex_unlock(&names_lock);
	render_certificates(&o);
	pthread_mutex_unlock(&certs_lock);
	if (atomic_load(&state_known)) {
		family(&o, "sekisho_state_records", "gauge",
		       "Records in the state store, live or expired and awaiting the sweep.");
		put(&o, "sekisho_state_records %llu\n", (unsigned long long)atomic_load(&state_records));
		family(&o, "sekisho_state_bytes", "gauge", "Bytes of the state store's map in use (what state.max_size bounds).");
		put(&o, "sekisho_state_bytes %llu\n", (unsigned long long)atomic_load(&state_bytes));
		family(&o, "sekisho_state_max_bytes", "gauge", "The most the state store may hold (state.max_size).");
		put(&o, "sekisho_state_max_bytes %llu\n", (unsigned long long)atomic_load(&state_max));
	}
	family(&o, "sekisho_bans_active", "gauge", "Client addresses banned now.");
	put(&o, "sekisho_bans_active %llu\n", (unsigned long long)atomic_load(&bans_active));
	family(&o, "sekisho_lockouts_total", "counter", "Accounts locked after too many failures.");
	put(&o, "sekisho_lockouts_total %llu\n", (unsigned long long)atomic_load(&lockouts));
	family(&o, "sekisho_build_info", "gauge", "Always 1; the version is a label.");
	put(&o, "sekisho_build_info{version=\"%s\"} 1\n", SK_VERSION);
	if (o.om)
		put(&o, "# EOF\n");
	*len = o.len;
	return o.p;
}
