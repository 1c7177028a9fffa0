/*
 * obs_test.c — the observability formats (src/obs): metrics slots keep a name's counters whatever order
 * snapshots register them in; a duration on a bucket's bound falls in that bucket; label values are
 * escaped; OpenMetrics names counter families without _total and ends with # EOF; a flow-log record has
 * 14 single-space fields with "-" for what is unknown, and windows align to the clock.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "obs/flowlog.h"
#include "obs/metrics.h"

static char *render(enum sk_metrics_format f)
{
	size_t len;
	char *p = sk_metrics_render_alloc(f, &len);
	assert_int_equal(strlen(p), len);
	return p;
}

static void test_slots_and_histogram(void **state)
{
	sk_metrics_set_workers(2);
	uint16_t a = sk_metrics_slot(SK_MK_DIST, "alpha");
	uint16_t b = sk_metrics_slot(SK_MK_DIST, "we\"ird\\name");
	assert_int_not_equal(a, 0);
	assert_int_not_equal(a, b);
	assert_int_equal(sk_metrics_slot(SK_MK_DIST, "alpha"), a); /* a later snapshot gets the same slot */
	sk_metrics_http(0, a, 200, 5, false);   /* on the 5 ms bound: le="0.005" */
	sk_metrics_http(1, a, 503, 6, true);    /* worker 1: summed with worker 0 */
	sk_metrics_http(1, a, 404, 20000, true); /* above 10 s: +Inf only */
	sk_metrics_http(0, b, 302, 0, false);
	assert_int_equal(sk_metrics_dist_requests(a), 3);
	assert_int_equal(sk_metrics_dist_refusals(a), 2);
	char *p = render(SK_METRICS_PROMETHEUS);
	assert_non_null(strstr(p, "sekisho_http_requests_total{distribution=\"alpha\",code=\"2xx\"} 1\n"));
	assert_non_null(strstr(p, "sekisho_http_requests_total{distribution=\"alpha\",code=\"5xx\"} 1\n"));
	assert_non_null(strstr(p, "sekisho_http_request_duration_seconds_bucket{distribution=\"alpha\",le=\"0.005\"} 1\n"));
	assert_non_null(strstr(p, "sekisho_http_request_duration_seconds_bucket{distribution=\"alpha\",le=\"0.01\"} 2\n"));
	assert_non_null(strstr(p, "sekisho_http_request_duration_seconds_bucket{distribution=\"alpha\",le=\"10\"} 2\n"));
	assert_non_null(strstr(p, "sekisho_http_request_duration_seconds_bucket{distribution=\"alpha\",le=\"+Inf\"} 3\n"));
	assert_non_null(strstr(p, "sekisho_http_request_duration_seconds_sum{distribution=\"alpha\"} 20.011\n"));
	assert_non_null(strstr(p, "sekisho_http_request_duration_seconds_count{distribution=\"alpha\"} 3\n"));
	assert_non_null(strstr(p, "{distribution=\"we\\\"ird\\\\name\",code=\"3xx\"} 1\n"));
	assert_non_null(strstr(p, "# TYPE sekisho_http_requests_total counter\n"));
	assert_null(strstr(p, "# EOF"));
	free(p);
}

static void test_openmetrics(void **state)
{
	char *p = render(SK_METRICS_OPENMETRICS);
	assert_non_null(strstr(p, "# TYPE sekisho_http_requests counter\n"));
	assert_non_null(strstr(p, "# TYPE sekisho_lockouts counter\n"));
	assert_non_null(strstr(p, "# TYPE sekisho_connections_open gauge\n"));
	assert_null(strstr(p, "# TYPE sekisho_http_requests_total"));
	size_t n = strlen(p);
	assert_true(n > 6 && strcmp(p + n - 6, "# EOF\n") == 0);
	free(p);
}

static void test_upstream_state(void **state)
{
	uint16_t s = sk_metrics_slot(SK_MK_SERVER, "127.0.0.1:1");
	int64_t last;
	assert_true(sk_metrics_server_state(s, &last));
	assert_int_equal(last, 0);
	sk_metrics_server_failed(s, 60000);
	assert_false(sk_metrics_server_state(s, &last));
	assert_true(last > 0);
	sk_metrics_server_ok(s);
	assert_true(sk_metrics_server_state(s, NULL));
	sk_metrics_server_failed(s, 0); /* a retry delay already over: up again */
	assert_true(sk_metrics_server_state(s, NULL));
}

static void test_flow_record_format(void **state)
{
	struct sk_flowbuf b = { 0 };
	struct sk_flow_rec r = { .account_id = "000000000000", .interface = "web", .src = "203.0.113.9",
				 .dst = "10.0.0.2", .src_port = 50412, .dst_port = 443, .packets = 14, .bytes = 2211,
				 .start = 1764460200, .end = 1764460260 };
	sk_flowlog_append(&b, &r);
	struct sk_flow_rec rej = { .account_id = "000000000000", .interface = "web", .src = "198.51.100.7",
				   .dst = NULL, .src_port = 61001, .dst_port = -1, .packets = -1, .bytes = -1,
				   .start = 1764460213, .end = 1764460213, .reject = true };
	sk_flowlog_append(&b, &rej);
	assert_int_equal(b.len, strlen(b.p));
	assert_string_equal(b.p, "2 000000000000 web 203.0.113.9 10.0.0.2 50412 443 6 14 2211 1764460200 1764460260 ACCEPT OK\n"
				 "2 000000000000 web 198.51.100.7 - 61001 - 6 - - 1764460213 1764460213 REJECT OK\n");
	sk_flowlog_buf_free(&b);
	assert_int_equal(sk_flowlog_window(1764460513, 60000), 1764460500);
	assert_int_equal(sk_flowlog_window(1764460513, 600000), 1764460200);
	assert_int_equal(sk_flowlog_window(1764460200, 60000), 1764460200);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slots_and_histogram),
		cmocka_unit_test(test_openmetrics),
		cmocka_unit_test(test_upstream_state),
		cmocka_unit_test(test_flow_record_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
