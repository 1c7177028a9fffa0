"""The admin listener's status (DESIGN §5): /status.json, /readyz, the /status page in real Chromium (with
and without JavaScript, at phone width) and `sekisho check`, the Nagios plugin, whose perfdata is read by
Debian's Monitoring::Plugin::Performance."""

import json
import os
import re
import subprocess
import time

import pytest
import requests

from browser import run_browser
from util import sekisho_bin
from stateutil import bcrypt, request
from tlsutil import pki  # noqa: F401 (fixture)
from util import free_port, simple_config, wait_until


def status(admin):
    r = requests.get("http://127.0.0.1:%d/status.json" % admin, timeout=5)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    return r.json()


def check(*args, timeout=15):
    t0 = time.monotonic()
    p = subprocess.run([sekisho_bin()] + ["check"] + list(args), capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode(), time.monotonic() - t0


def status_config(origin, pki, tmp_path, admin, dead):
    users = tmp_path / "users.yaml"
    users.write_text("alice: %s\n" % json.dumps({"password": bcrypt("right horse")}))
    cfg = simple_config(origin.port, admin={"listen": "127.0.0.1:%d" % admin}, users={"file": str(users)},
                        lockout={"deny": 2, "unlock_time": "1h"},
                        ban={"max_retry": 3, "find_time": "1m", "ban_time": "1h"})
    cfg["certificates"] = {"site": pki.cert_entry("a"), "soon": pki.cert_entry("soon")}
    cfg["origins"]["dead"] = {"servers": ["127.0.0.1:%d" % dead]}
    cfg["distributions"][0]["behaviors"] = [{"path": "/login/*", "origin": "app", "access": {"auth": ["basic"]}},
                                            {"path": "*", "origin": "app"}]
    cfg["distributions"].append({"name": "broken", "aliases": ["broken.test"],
                                 "behaviors": [{"path": "*", "origin": "dead"}]})
    return cfg


def test_status_json_and_readyz(sekisho, origin, pki, tmp_path):
    admin, dead = free_port(), free_port()
    sk = sekisho(status_config(origin, pki, tmp_path, admin, dead))
    assert requests.get(sk.url + "/x", headers={"Host": "app.test"}, timeout=5).status_code == 200
    assert requests.get(sk.url + "/x", headers={"Host": "broken.test"}, timeout=5).status_code == 502
    for i in range(3):  # locks alice (2nd), bans 127.0.0.3 (3rd)
        assert request(sk.port(), "/login/x", auth=("alice", "bad-%d" % i), src="127.0.0.3").status == 401
    wait_until(lambda: status(admin)["bans"] and status(admin)["lockouts"], what="bans and lockouts in status")
    s = status(admin)
    assert set(s) == {"generation", "last_reload", "distributions", "origins", "certificates", "bans", "lockouts"}
    assert s["generation"] == 1 and s["last_reload"]["result"] == "ok" and s["last_reload"]["error"] is None
    d = {x["name"]: x for x in s["distributions"]}
    assert (d["main"]["requests"], d["main"]["refusals"]) == (4, 3)
    assert d["broken"]["requests"] == 1 and d["broken"]["origins"] == ["dead"]
    assert all(isinstance(x["rates"], list) for x in s["distributions"])
    o = {x["name"]: x for x in s["origins"]}
    assert o["app"]["servers"] == [{"address": "127.0.0.1:%d" % origin.port, "up": True, "last_failure": None}]
    down = o["dead"]["servers"][0]
    assert down["up"] is False and abs(down["last_failure"] - time.time()) < 30
    c = {x["name"]: x for x in s["certificates"]}
    assert c["soon"]["days_left"] in (9, 10) and 360 <= c["site"]["days_left"] <= 365
    assert "CN=a.test" in c["site"]["subject"] and c["site"]["not_after"] > time.time()
    assert s["bans"][0]["ip"] == "127.0.0.3" and s["bans"][0]["until"] > time.time() + 3000
    assert s["lockouts"][0]["user"] == "alice" and s["lockouts"][0]["until"] > time.time() + 3000

    r = requests.get("http://127.0.0.1:%d/readyz" % admin, timeout=5)
    assert (r.status_code, r.text) == (200, "ready\n")
    # With certificates, a state store, bans and lockouts, /metrics is still clean for promtool.
    p = subprocess.run(["promtool", "check", "metrics"], input=requests.get(
        "http://127.0.0.1:%d/metrics" % admin, timeout=5).content, capture_output=True, timeout=30)
    assert p.returncode == 0 and p.stdout + p.stderr == b"", p.stdout + p.stderr
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
    om = requests.get("http://127.0.0.1:%d/metrics" % admin, timeout=5,
                      headers={"Accept": "application/openmetrics-text; version=1.0.0"}).text
    fams = {f.name for f in text_string_to_metric_families(om)}
    assert {"sekisho_certificate_expiry_seconds", "sekisho_bans_active", "sekisho_lockouts",
            "sekisho_upstream_up", "sekisho_config_reloads"} <= fams, fams
    # A refused reload shows in last_reload, and the generation stays.
    sk.write_config("listeners: [ {name: web} ]\nbogus: 1\n")
    import signal
    sk.signal(signal.SIGHUP)
    wait_until(lambda: status(admin)["last_reload"]["result"] == "error", what="the refused reload")
    s = status(admin)
    assert s["generation"] == 1 and "bogus" in s["last_reload"]["error"]


def test_readyz_names_an_unreachable_state_store(sekisho, origin, tmp_path):
    from redisutil import RedisServer
    admin = free_port()
    red = RedisServer(str(tmp_path / "redis")).start()
    try:
        cfg = simple_config(origin.port, admin={"listen": "127.0.0.1:%d" % admin},
                            state={"redis": "redis://127.0.0.1:%d/0" % red.port},
                            ban={"max_retry": 3, "find_time": "1m", "ban_time": "1h"})
        sekisho(cfg)
        assert requests.get("http://127.0.0.1:%d/readyz" % admin, timeout=5).status_code == 200
    finally:
        red.stop()

    def not_ready():
        r = requests.get("http://127.0.0.1:%d/readyz" % admin, timeout=5)
        return r.status_code == 503 and r.text.startswith("state:")
    wait_until(not_ready, timeout=10, what="/readyz 503 naming the state store")


# ---- sekisho check ------------------------------------------------------------------------------------

PERL_PARSE = r"""
use strict; use warnings; use Monitoring::Plugin::Performance;
my $line = <STDIN>; chomp $line;
my ($text, $perf) = split /\s\|\s/, $line, 2;
die "no perfdata\n" unless defined $perf;
my @p = Monitoring::Plugin::Performance->parse_perfstring($perf);
die "perfdata did not parse: $perf\n" unless @p;
my $n = () = $perf =~ /'[^']*(?:''[^']*)*'=/g;
die "parsed " . scalar(@p) . " of $n values\n" unless @p == $n;
for my $p (@p) {
  printf "%s|%s|%s|%s|%s|%s|%s\n", $p->label, $p->value, $p->uom // '',
    (defined $p->threshold->warning->end ? $p->threshold->warning->end : ''),
    (defined $p->threshold->critical->end ? $p->threshold->critical->end : ''),
    $p->min // '', $p->max // '';
}
"""


def perfdata(line):
    p = subprocess.run(["perl", "-e", PERL_PARSE], input=line.encode(), capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr.decode()
    return {f[0]: f[1:] for f in (l.split("|") for l in p.stdout.decode().splitlines())}


def test_check_plugin(sekisho, origin, pki, tmp_path):
    admin, dead = free_port(), free_port()
    sk = sekisho(status_config(origin, pki, tmp_path, admin, dead))
    # The "soon" certificate has 9-10 days left: under the default 30,14 that is CRITICAL.
    rc, out, took = check("-c", sk.config_path)
    assert rc == 2 and out.startswith("SEKISHO CRITICAL - certificate soon expires in "), out
    assert out.count("\n") == 1 and took < 10
    p = perfdata(out)
    assert p["cert_soon_days"][0] in ("9", "10") and p["cert_soon_days"][2:4] == ["30", "14"]
    assert p["requests_main"][:2] == ["0", "c"]
    rc, out, _ = check("--admin", "http://127.0.0.1:%d" % admin, "--cert-days", "8,5")
    assert rc == 0 and out.startswith("SEKISHO OK - 2 certificates, fewest days left"), out
    rc, out, _ = check("--admin", "http://127.0.0.1:%d" % admin, "--cert-days", "12,5")
    assert rc == 1 and out.startswith("SEKISHO WARNING - certificate soon expires in"), out

    # --upstreams: "broken" has its only server down once a request found it dead.
    rc, out, _ = check("--admin", "http://127.0.0.1:%d" % admin, "--cert-days", "8,5", "--upstreams")
    assert rc == 0 and "2/2 upstream servers up" in out, out  # not yet tried: not marked down
    assert requests.get(sk.url + "/", headers={"Host": "broken.test"}, timeout=5).status_code == 502
    rc, out, _ = check("--admin", "http://127.0.0.1:%d" % admin, "--cert-days", "8,5", "--upstreams")
    assert rc == 2 and "distribution broken has no upstream server up" in out, out
    assert perfdata(out)["upstreams_up"] == ["1", "", "", "", "0", "2"]

    # --url: a request through the gateway.
    rc, out, _ = check("--admin", "http://127.0.0.1:%d" % admin, "--cert-days", "8,5",
                       "--url", "http://127.0.0.1:%d/" % sk.port())
    assert rc == 1 and "answered 421" in out, out  # no Host alias for 127.0.0.1: check_http's 4xx WARNING
    assert perfdata(out)["time"][1] == "s"


def test_check_unreachable_and_usage(tmp_path):
    port = free_port()
    rc, out, took = check("--admin", "http://127.0.0.1:%d" % port)
    assert rc == 2 and took < 10
    assert out == "SEKISHO CRITICAL - admin listener 127.0.0.1:%d unreachable: Connection refused\n" % port
    for args in (["--help"], [], ["--cert-days", "5,10", "--admin", "http://x"], ["--bogus"],
                 ["--admin", "https://127.0.0.1:1"], ["-c", str(tmp_path / "missing.yaml")]):
        rc, out, _ = check(*args)
        assert rc == 3, (args, out)
        assert out.startswith("SEKISHO UNKNOWN") or out.startswith("usage:"), (args, out)


# ---- the page in Chromium ----------------------------------------------------------------------------

def test_status_page_in_chromium(sekisho, origin, pki, tmp_path):
    admin, dead = free_port(), free_port()
    sk = sekisho(status_config(origin, pki, tmp_path, admin, dead))
    assert requests.get(sk.url + "/x", headers={"Host": "app.test"}, timeout=5).status_code == 200
    r = requests.get("http://127.0.0.1:%d/status" % admin, timeout=5)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", r.text), "external asset"
    url = "http://127.0.0.1:%d/status" % admin
    phone = {"width": 375, "height": 740}

    # JavaScript off: the data is in the server-rendered DOM.
    res = run_browser([{"goto": url}, {"text": "#dists tr[data-name=main] .req"},
                       {"text": "#certs tr[data-name=soon] .days"}, {"text": "#servers"}, {"text": "#live"},
                       {"width": True}, {"screenshot": str(tmp_path / "status-nojs.png")}],
                      javascript=False, viewport=phone)
    assert res[1]["text"] == "1" and res[2]["text"] in ("9", "10")
    assert "127.0.0.1:%d" % origin.port in res[3]["text"] and "up" in res[3]["text"]
    assert "JavaScript off" in res[4]["text"]
    assert res[5]["width"] <= 375, "the page scrolls sideways at phone width"

    # JavaScript on: it polls /status.json and redraws; a new request shows without a reload.
    def more():
        time.sleep(1.5)
        for _ in range(2):
            requests.get(sk.url + "/y", headers={"Host": "app.test"}, timeout=5)
    import threading
    t = threading.Thread(target=more)
    t.start()
    res = run_browser([{"goto": url}, {"waitForText": "#live", "value": "live, updated"},
                       {"waitForText": "#dists tr[data-name=main] .req", "value": "3"},
                       {"text": "#certs tr[data-name=soon] .days"}, {"count": "#dists svg polyline"},
                       {"width": True}, {"screenshot": str(tmp_path / "status-js.png")}], viewport=phone)
    t.join()
    assert res[3]["text"] in ("9", "10") and res[4]["count"] == 4
    assert res[5]["width"] <= 375
    assert os.path.getsize(tmp_path / "status-js.png") > 1000


# ---- admin access and state changes -----------------------------------------------------------------

def test_admin_access_block(sekisho, origin, tmp_path):
    users = tmp_path / "users.yaml"
    users.write_text("ops: %s\n" % json.dumps({"password": bcrypt("admin pass")}))
    admin = free_port()
    cfg = simple_config(origin.port, users={"file": str(users)}, ip_sets={"local": ["127.0.0.0/8"]},
                        admin={"listen": "127.0.0.1:%d" % admin,
                               "access": {"ip": {"allow": ["local"]}, "auth": ["basic"], "realm": "sekisho admin"}})
    sk = sekisho(cfg)
    base = "http://127.0.0.1:%d" % admin
    r = requests.get(base + "/metrics", timeout=5)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Basic realm="sekisho admin", charset="UTF-8"'
    assert requests.get(base + "/status.json", auth=("ops", "wrong"), timeout=5).status_code == 401
    r = requests.get(base + "/metrics", auth=("ops", "admin pass"), timeout=5)
    assert r.status_code == 200 and "sekisho_build_info" in r.text
    assert requests.get(base + "/status", auth=("ops", "admin pass"), timeout=5).status_code == 200
    # `sekisho check` cannot pass Basic credentials: a protected admin listener is CRITICAL, and says why.
    rc, out, _ = check("--admin", base)
    assert rc == 2 and out == "SEKISHO CRITICAL - admin listener 127.0.0.1:%d answered 401 to /status.json\n" % admin
    # An IP rule refuses before any credential is looked at.
    cfg["ip_sets"]["local"] = ["192.0.2.0/24"]
    sk.reload(cfg)
    wait_until(lambda: requests.get(base + "/healthz", auth=("ops", "admin pass"), timeout=5).status_code == 403,
               what="the reloaded admin access")


def test_post_only_state_changes(sekisho, origin, pki, tmp_path):
    admin, dead = free_port(), free_port()
    sk = sekisho(status_config(origin, pki, tmp_path, admin, dead))
    for i in range(3):  # locks alice, bans 127.0.0.4
        assert request(sk.port(), "/login/x", auth=("alice", "bad-%d" % i), src="127.0.0.4").status == 401
    wait_until(lambda: status(admin)["bans"] and status(admin)["lockouts"], what="ban and lockout")
    base = "http://127.0.0.1:%d" % admin
    for path in ("/bans/127.0.0.4/delete", "/lockouts/alice/delete", "/reload"):
        r = requests.get(base + path, timeout=5)
        assert r.status_code == 405 and r.headers["Allow"] == "POST", path
    assert status(admin)["bans"] and status(admin)["lockouts"]  # the GETs changed nothing
    assert requests.post(base + "/bans/not-an-ip/delete", timeout=5).status_code == 400
    assert requests.post(base + "/bans/127.0.0.4/delete", timeout=5).status_code == 202
    assert requests.post(base + "/lockouts/alice/delete", timeout=5).status_code == 202
    wait_until(lambda: not status(admin)["bans"] and not status(admin)["lockouts"], what="unban and unlock")
    assert request(sk.port(), "/login/x", auth=("alice", "right horse"), src="127.0.0.4").status == 200
    # POST /reload reloads (the generation moves).
    assert requests.post(base + "/reload", timeout=5).status_code == 202
    wait_until(lambda: status(admin)["generation"] == 2, what="the reload")


@pytest.mark.slow
def test_rates_are_per_10s_samples(sekisho, origin):
    admin = free_port()
    cfg = simple_config(origin.port, admin={"listen": "127.0.0.1:%d" % admin}, ip_sets={"none": ["192.0.2.0/24"]})
    cfg["distributions"][0]["behaviors"].insert(0, {"path": "/closed/*", "origin": "app",
                                                    "access": {"ip": {"allow": ["none"]}}})
    sk = sekisho(cfg)
    time.sleep(0.5)  # after the first sample, taken within 200 ms of the start
    assert status(admin)["distributions"][0]["rates"] == []
    for _ in range(3):
        assert requests.get(sk.url + "/", headers={"Host": "app.test"}, timeout=5).status_code == 200
    assert requests.get(sk.url + "/closed/x", headers={"Host": "app.test"}, timeout=5).status_code == 403
    wait_until(lambda: status(admin)["distributions"][0]["rates"], timeout=15, interval=0.5, what="a rate point")
    p = status(admin)["distributions"][0]["rates"][0]
    assert (p["requests"], p["refusals"]) == (4, 1) and abs(p["t"] - time.time()) < 15, p
