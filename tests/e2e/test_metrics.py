"""Prometheus metrics on the admin listener (DESIGN §5): the families and labels the contract names, checked
with promtool, in OpenMetrics when asked, and scraped by a real Prometheus server."""

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest
import requests

from util import HOST, free_port, read_metrics, scrape_metrics, simple_config, wait_port, wait_until

OM_TYPE = "application/openmetrics-text; version=1.0.0,text/plain;version=0.0.4;q=0.5"


def scrape(port, accept=None):
    h = {"Accept": accept} if accept else {}
    r = requests.get("http://127.0.0.1:%d/metrics" % port, headers=h, timeout=5)
    assert r.status_code == 200
    return r


def promtool(text):
    p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(), capture_output=True, timeout=30)
    return p.returncode, (p.stdout + p.stderr).decode()


def metrics_config(origin_port, admin_port, dead_port):
    cfg = simple_config(origin_port, admin={"listen": "127.0.0.1:%d" % admin_port},
                        ip_sets={"none": ["192.0.2.0/24"]})
    cfg["listeners"].append({"name": "closed", "acl": [{"rule": 100, "cidr": "192.0.2.0/24", "action": "allow"}]})
    cfg["origins"]["dead"] = {"servers": ["127.0.0.1:%d" % dead_port]}
    cfg["distributions"].append({"name": "other", "aliases": ["other.test"], "listeners": ["web"], "behaviors": [
        {"path": "/dead/*", "origin": "dead"},
        {"path": "*", "origin": "app", "access": {"ip": {"allow": ["none"]}}},
    ]})
    cfg["distributions"][0]["listeners"] = ["web"]
    return cfg


def test_families_labels_and_promtool(sekisho, origin):
    admin, dead = free_port(), free_port()
    sk = sekisho(metrics_config(origin.port, admin, dead))
    s = requests.Session()
    for _ in range(3):
        assert s.get(sk.url + "/a", headers={"Host": "app.test"}, timeout=5).status_code == 200
    for _ in range(2):
        assert requests.get(sk.url + "/b", headers={"Host": "other.test"}, timeout=5).status_code == 403
    assert requests.get(sk.url + "/dead/x", headers={"Host": "other.test"}, timeout=5).status_code == 502
    assert requests.get(sk.url + "/", headers={"Host": "nobody.test"}, timeout=5).status_code == 421
    # One connection refused at accept by the listener ACL of "closed" (the harness's start-up probe was one).
    rejects = read_metrics(admin)['sekisho_connections_total{listener="closed",action="reject"}']
    c = socket.create_connection((HOST, sk.port("closed")), timeout=5)
    c.settimeout(5)
    assert c.recv(1) == b""
    c.close()

    text, v = scrape_metrics(admin)
    rc, out = promtool(text)
    assert rc == 0 and out == "", out
    assert v['sekisho_http_requests_total{distribution="main",code="2xx"}'] == 3
    assert v['sekisho_http_requests_total{distribution="other",code="4xx"}'] == 2
    assert v['sekisho_http_requests_total{distribution="other",code="5xx"}'] == 1
    assert v['sekisho_http_requests_total{distribution="-",code="4xx"}'] == 1  # 421: no distribution
    # The histogram counts every answered request, refusals included; buckets are cumulative.
    for d in ("main", "other", "-"):
        total = sum(v['sekisho_http_requests_total{distribution="%s",code="%s"}' % (d, k)]
                    for k in ("1xx", "2xx", "3xx", "4xx", "5xx"))
        count = v['sekisho_http_request_duration_seconds_count{distribution="%s"}' % d]
        assert count == total
        les = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]
        b = [v['sekisho_http_request_duration_seconds_bucket{distribution="%s",le="%s"}' % (d, le)] for le in les]
        assert b == sorted(b) and b[-1] == count
        assert v['sekisho_http_request_duration_seconds_sum{distribution="%s"}' % d] >= 0
    assert v['sekisho_denied_total{reason="ip_denied",status="403"}'] == 2
    assert v['sekisho_connections_total{listener="closed",action="reject"}'] == rejects + 1
    assert v['sekisho_connections_total{listener="closed",action="accept"}'] == 0
    assert v['sekisho_connections_total{listener="web",action="accept"}'] >= 5
    assert v['sekisho_connections_open{listener="web"}'] >= 1  # the session s keeps its connection
    assert v['sekisho_upstream_up{origin="app",server="127.0.0.1:%d"}' % origin.port] == 1
    assert v['sekisho_upstream_up{origin="dead",server="127.0.0.1:%d"}' % dead] == 0
    assert v['sekisho_upstream_responses_total{origin="app",code="2xx"}'] == 3
    assert v['sekisho_upstream_responses_total{origin="dead",code="2xx"}'] == 0
    assert v['sekisho_build_info{version="0.1.0"}'] == 1
    assert v["sekisho_bans_active"] == 0
    assert v["sekisho_lockouts_total"] == 0
    assert 'sekisho_tls_handshakes_total{listener="web",result="ok"}' in v
    s.close()
    wait_until(lambda: read_metrics(admin)['sekisho_connections_open{listener="web"}'] == 0,
               what="connections_open back to 0")


def test_counters_keep_their_labels_across_a_reload(sekisho, origin):
    admin, dead = free_port(), free_port()
    cfg = metrics_config(origin.port, admin, dead)
    sk = sekisho(cfg)
    assert requests.get(sk.url + "/a", headers={"Host": "app.test"}, timeout=5).status_code == 200
    # The reload reverses the distributions: a counter must stay with its name, not its index.
    cfg["distributions"].reverse()
    assert sk.reload_and_wait(cfg)
    assert requests.get(sk.url + "/a", headers={"Host": "app.test"}, timeout=5).status_code == 200
    v = read_metrics(admin)
    assert v['sekisho_http_requests_total{distribution="main",code="2xx"}'] == 2
    assert v['sekisho_http_requests_total{distribution="other",code="2xx"}'] == 0


def test_openmetrics_when_asked(sekisho, origin):
    admin = free_port()
    sekisho(simple_config(origin.port, admin={"listen": "127.0.0.1:%d" % admin}))
    r = scrape(admin, accept=OM_TYPE)
    assert r.headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    assert r.text.endswith("\n# EOF\n")
    assert "# TYPE sekisho_http_requests counter\n" in r.text  # OpenMetrics names the family without _total
    assert "# TYPE sekisho_http_requests_total" not in r.text
    # The strict OpenMetrics parser of the Python client (Debian python3-prometheus-client) reads all of it.
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
    fams = {f.name: f for f in text_string_to_metric_families(r.text)}
    assert fams["sekisho_http_requests"].type == "counter"
    assert fams["sekisho_http_request_duration_seconds"].type == "histogram"
    assert fams["sekisho_build_info"].samples[0].labels == {"version": "0.1.0"}
    plain = scrape(admin)
    assert plain.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "# EOF" not in plain.text and "# TYPE sekisho_http_requests_total counter\n" in plain.text


def test_admin_state_changes_are_post_only(sekisho, origin):
    admin = free_port()
    sekisho(simple_config(origin.port, admin={"listen": "127.0.0.1:%d" % admin}))
    r = requests.get("http://127.0.0.1:%d/reload" % admin, timeout=5)
    assert r.status_code == 405 and r.headers["Allow"] == "POST"
    r = requests.post("http://127.0.0.1:%d/metrics" % admin, timeout=5)
    assert r.status_code == 405 and "GET" in r.headers["Allow"]
    r = requests.get("http://127.0.0.1:%d/readyz" % admin, timeout=5)
    assert (r.status_code, r.text) == (200, "ready\n")


@pytest.mark.skipif(not shutil.which("prometheus"), reason="Debian package prometheus (scripts/install-deps)")
def test_real_prometheus_scrapes_it(sekisho, origin, tmp_path):
    admin = free_port()
    sk = sekisho(simple_config(origin.port, admin={"listen": "127.0.0.1:%d" % admin}))
    assert requests.get(sk.url + "/", headers={"Host": "app.test"}, timeout=5).status_code == 200
    prom_port = free_port()
    conf = tmp_path / "prometheus.yml"
    conf.write_text("global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
                    "scrape_configs:\n  - job_name: sekisho\n    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d']\n" % admin)
    log = open(tmp_path / "prometheus.log", "wb")
    p = subprocess.Popen(["prometheus", "--config.file=%s" % conf, "--storage.tsdb.path=%s" % (tmp_path / "tsdb"),
                          "--web.listen-address=127.0.0.1:%d" % prom_port], stdout=log, stderr=log)
    try:
        wait_port(prom_port, timeout=30, proc=p)
        api = "http://127.0.0.1:%d/api/v1" % prom_port

        def ready():  # the API answers 503 until the TSDB is open
            try:
                return urllib.request.urlopen("http://127.0.0.1:%d/-/ready" % prom_port, timeout=5).status == 200
            except OSError:
                return False
        wait_until(ready, timeout=30, interval=0.2, what="Prometheus to be ready")

        def target():
            t = json.load(urllib.request.urlopen(api + "/targets", timeout=5))["data"]["activeTargets"]
            return t[0] if t and t[0]["health"] != "unknown" else None
        wait_until(target, timeout=30, interval=0.5, what="a first scrape")
        t = target()
        assert t["health"] == "up" and t["lastError"] == "", t

        def value():
            q = urllib.request.quote('sekisho_http_requests_total{distribution="main",code="2xx"}')
            res = json.load(urllib.request.urlopen(api + "/query?query=" + q, timeout=5))["data"]["result"]
            return res and float(res[0]["value"][1])
        wait_until(lambda: value() == 1, timeout=15, interval=0.5, what="the sample in Prometheus")
    finally:
        p.terminate()
        p.wait(timeout=15)
        log.close()


def test_lockouts_and_bans_are_counted(sekisho, origin, tmp_path):
    from stateutil import bcrypt, request
    users = tmp_path / "users.yaml"
    users.write_text("alice: %s\n" % json.dumps({"password": bcrypt("right horse")}))
    admin = free_port()
    cfg = simple_config(origin.port, behavior={"access": {"auth": ["basic"]}}, users={"file": str(users)},
                        lockout={"deny": 2, "unlock_time": "1h"},
                        ban={"max_retry": 3, "find_time": "1m", "ban_time": "1h"},
                        admin={"listen": "127.0.0.1:%d" % admin})
    sk = sekisho(cfg)
    for i in range(3):  # the 2nd locks alice, the 3rd bans 127.0.0.2
        assert request(sk.port(), auth=("alice", "wrong-%d" % i), src="127.0.0.2").status == 401
    assert read_metrics(admin)["sekisho_lockouts_total"] == 1
    wait_until(lambda: read_metrics(admin)["sekisho_bans_active"] == 1, timeout=5, what="the ban gauge")


def test_a_failed_server_is_up_again_after_fail_timeout(sekisho, origin):
    admin, dead = free_port(), free_port()
    cfg = simple_config(origin.port, admin={"listen": "127.0.0.1:%d" % admin},
                        origin={"servers": ["127.0.0.1:%d" % dead], "fail_timeout": "2s"})
    sk = sekisho(cfg)
    key = 'sekisho_upstream_up{origin="app",server="127.0.0.1:%d"}' % dead
    assert read_metrics(admin)[key] == 1  # never tried
    t0 = time.monotonic()
    assert requests.get(sk.url + "/", headers={"Host": "app.test"}, timeout=5).status_code == 502
    assert read_metrics(admin)[key] == 0
    wait_until(lambda: read_metrics(admin)[key] == 1, timeout=6, what="the server retried after fail_timeout")
    assert time.monotonic() - t0 >= 1.5  # not before its fail_timeout (2 s, whole-ms clock)
