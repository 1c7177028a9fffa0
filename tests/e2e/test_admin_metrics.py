"""The admin listener (DESIGN §5): /healthz, and /metrics with the per-reason counters that the reason
table of DESIGN §3 drives (summed over the workers' own counters)."""

import re

import requests

from util import free_port, scrape_metrics, simple_config


def test_healthz_and_reason_counters(sekisho, origin):
    admin = free_port()
    cfg = simple_config(origin.port, admin={"listen": "127.0.0.1:%d" % admin}, ip_sets={"none": ["192.0.2.0/24"]})
    cfg["distributions"][0]["behaviors"] = [
        {"path": "/closed/*", "origin": "app", "access": {"ip": {"allow": ["none"]}}},
        {"path": "*", "origin": "app"},
    ]
    sk = sekisho(cfg)
    r = requests.get("http://127.0.0.1:%d/healthz" % admin, timeout=5)
    assert (r.status_code, r.text) == (200, "ok\n")

    h = {"Host": "app.test"}
    for _ in range(3):
        assert requests.get(sk.url + "/closed/x", headers=h, timeout=5).status_code == 403
    assert requests.get(sk.url + "/open", headers=h, timeout=5).status_code == 200
    assert requests.get(sk.url + "/", headers={"Host": "nobody.test"}, timeout=5).status_code == 421

    text, v = scrape_metrics(admin)
    assert "# TYPE sekisho_denied_total counter" in text
    assert v['sekisho_denied_total{reason="ip_denied",status="403"}'] == 3
    assert v['sekisho_denied_total{reason="unknown_host",status="421"}'] == 1
    assert v['sekisho_denied_total{reason="bad_credentials",status="401"}'] == 0
    assert v["sekisho_requests_total"] == 5  # admin requests are not counted
    assert v["sekisho_response_bytes_total"] > 0
    assert re.search(r"^sekisho_connections_accepted_total \d+$", text, re.M)
    # Anything else on the admin listener is 404; it never reaches an origin.
    assert requests.get("http://127.0.0.1:%d/x" % admin, timeout=5).status_code == 404
    assert origin.count == 1
