/*
 * metrics.h — counters for Prometheus (DESIGN §5, §9): one block per worker thread, written only by that
 * thread (plain loads and stores, no locked instruction on the hot path) and summed when read.
 *
 * Labelled families (per distribution, listener, origin, server) use slots: a name is given a slot once,
 * on the main thread while a snapshot is built (sk_metrics_slot), and keeps it for the life of the process,
 * so a reload that reorders or removes distributions never moves a counter to another label. The snapshot
 * carries the slot of each of its distributions, listeners and origins; the hot path indexes the worker's
 * arrays with it and never looks a name up.
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
	SK_M_TLS_RESUMED,    /* of which resumed a session (tickets) */
	SK_M_TLS_FAILED,     /* viewer TLS handshakes that failed */
	SK_M_REQ_HTTP1,      /* requests answered over HTTP/1.x (the protocol of DESIGN §2's access log) */
	SK_M_REQ_HTTP2,      /* requests answered over HTTP/2 */
	SK_M_H2_CONNECTIONS, /* connections that spoke HTTP/2 (ALPN h2 or prior-knowledge h2c) */
	SK_M_H2_REFUSED,     /* HTTP/2 streams refused (REFUSED_STREAM: over max_concurrent_streams) */
	SK_M_H2_RESETS,      /* HTTP/2 streams the client reset before their response ended */
	SK_M_H2_ABUSE,       /* HTTP/2 connections ended for abuse (rapid reset, CONTINUATION, floods) */
	SK_M__COUNT
};

/* Kinds of labelled slots. Slot 0 of each kind is "-": no name (a request refused before it had a
 * distribution) or a name beyond SK_METRICS_SLOTS (logged once). */
enum sk_mkind { SK_MK_DIST = 0, SK_MK_LISTENER, SK_MK_ORIGIN, SK_MK_SERVER, SK_MK__COUNT };
#define SK_METRICS_SLOTS 128

/* Counts one finished request of worker w (reason SK_R_NONE when it was not refused). */
void sk_metrics_request(unsigned w, enum sk_reason reason, uint64_t bytes_in, uint64_t bytes_out);
void sk_metrics_add(unsigned w, enum sk_metric m, uint64_t n);
/* How many workers to sum when rendering (set once at start). */
void sk_metrics_set_workers(unsigned n);

/* The slot of name in kind (main thread or rare paths; takes a lock). */
uint16_t sk_metrics_slot(enum sk_mkind kind, const char *name);

/* ---- hot path: worker w only, no lock, no allocation ---- */

/* A response of status to a request of distribution slot dist, that took duration_ms; refused: sekisho
 * answered it from its reason table. */
void sk_metrics_http(unsigned w, uint16_t dist, int status, uint64_t duration_ms, bool refused);
/* A response head of status received from a server of origin slot origin. */
void sk_metrics_upstream_response(unsigned w, uint16_t origin, int status);
/* A connection accepted (accept = true) or refused at accept on listener slot listener. */
void sk_metrics_conn_open(unsigned w, uint16_t listener, bool accept);
/* An accepted connection of listener slot listener closed. */
void sk_metrics_conn_closed(unsigned w, uint16_t listener);
/* A viewer TLS handshake on listener slot listener ended (ok or not). */
void sk_metrics_tls(unsigned w, uint16_t listener, bool ok);

/* ---- rare events, any thread ---- */

/* The server of slot srv failed (passive marking: skipped for retry_ms) or answered again. */
void sk_metrics_server_failed(uint16_t srv, uint64_t retry_ms);
void sk_metrics_server_ok(uint16_t srv);
/* An account became locked (pam_tally2 deny reached). */
void sk_metrics_lockout(void);

/* ---- read side ---- */

enum sk_metrics_format { SK_METRICS_PROMETHEUS, SK_METRICS_OPENMETRICS };
/* Writes the exposition into a new buffer (caller frees); *len gets its length. */
char *sk_metrics_render_alloc(enum sk_metrics_format f, size_t *len);
/* Current sum of one counter, and of one reason (for tests and `sekisho check`). */
uint64_t sk_metrics_sum(enum sk_metric m);
uint64_t sk_metrics_reason_sum(enum sk_reason r);
/* Per distribution slot: requests answered, and of them refused by sekisho's reason table. */
uint64_t sk_metrics_dist_requests(uint16_t dist);
uint64_t sk_metrics_dist_refusals(uint16_t dist);
/* State of a server slot: up (not within a failure's retry delay, or answered since) and the wall time of its last failure
 * (Unix seconds, 0 = never). */
bool sk_metrics_server_state(uint16_t srv, int64_t *last_failure);

/*
 * The gauge sekisho_certificate_expiry_seconds{certificate="..."}: replaces the certificate table (main
 * thread, after each configuration load).
 */
void sk_metrics_set_certificates(const char *const *names, const int64_t *not_after, size_t n);
/* The (origin, server address) pairs of the configuration in service, for sekisho_upstream_up. */
void sk_metrics_set_upstreams(const char *const *origins, const char *const *servers, size_t n);
/* The number of active bans, for sekisho_bans_active (set by whoever refreshes the ban list). */
void sk_metrics_set_bans(uint64_t n);

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
