/*
 * metrics.h — counters for Prometheus (DESIGN §5, §9): one block per worker thread, written only by that
 * thread (plain loads and stores, no locked instruction on the hot path) and summed when read.
 */
#ifndef SK_METRICS_H
#define SK_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/reason.h"

enum sk_metric {
	SK_M_REQUESTS = 0,  /* requests answered (any status) */
	SK_M_CONNECTIONS,   /* connections accepted */
	SK_M_REJECTED,      /* connections refused at accept (listener ACL) */
	SK_M_BYTES_IN,
	SK_M_BYTES_OUT,
	SK_M_TLS_HANDSHAKES, /* viewer TLS handshakes completed */
	SK_M_TLS_RESUMED,    /* of which resumed a session (tickets) */
	SK_M_TLS_FAILED,     /* viewer TLS handshakes that failed */
	SK_M__COUNT
};

/* Counts one finished request of worker w (reason SK_R_NONE when it was not refused). */
void sk_metrics_request(unsigned w, enum sk_reason reason, uint64_t bytes_in, uint64_t bytes_out);
void sk_metrics_add(unsigned w, enum sk_metric m, uint64_t n);
/* How many workers to sum when rendering (set once at start). */
void sk_metrics_set_workers(unsigned n);
/* Writes the Prometheus text exposition into out. Returns its length (cut at cap). */
size_t sk_metrics_render(char *out, size_t cap);
/* Current sum of one counter, and of one reason (for tests and `sekisho check`). */
uint64_t sk_metrics_sum(enum sk_metric m);
uint64_t sk_metrics_reason_sum(enum sk_reason r);

/*
 * The gauge sekisho_certificate_days_left{name="..."}: replaces the certificate table (main thread, after
 * each configuration load). Days are computed when /metrics is read, so the gauge moves with time.
 */
void sk_metrics_set_certificates(const char *const *names, const int64_t *not_after, size_t n);

/*
 * Configuration gauges. sekisho_config_generation is the generation every worker has switched to (the
 * smallest over workers, so a test that sees generation g knows new connections get config g anywhere);
 * each worker sets its own. sekisho_config_snapshots counts snapshots in memory (the current one plus
 * older ones that still have connections). sekisho_config_reloads_total{result} counts SIGHUPs.
 */
void sk_metrics_set_generation(unsigned w, uint64_t generation);
void sk_metrics_add_snapshots(int delta);
int sk_metrics_snapshots(void);
void sk_metrics_reload(bool ok);

/*
 * The state store's gauges sekisho_state_records, sekisho_state_bytes and sekisho_state_max_bytes (DESIGN
 * §4): set by the thread that sweeps the store (every few seconds), read by /metrics as they are, so a
 * scrape never touches the store. Not shown until first set (a Redis store, or no store, shows none).
 */
void sk_metrics_set_state(uint64_t records, uint64_t bytes, uint64_t max_bytes);

#endif
