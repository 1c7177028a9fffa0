"""The egress forward proxy (DESIGN §5a, issue 14) end to end: real clients (curl -x, python requests with
proxies, raw sockets for malformed requests) through sekisho to outside servers on 127.0.0.2/127.0.0.3,
names resolved by a real dnsmasq (tests/e2e/egressutil.py).

The outside servers are on 127/8, which the SSRF guard refuses: tests that reach them allow 127.0.0.0/8
with `allow_ips`; the refusal tests leave it out."""

import signal
import socket
import subprocess
import time

import pytest
import requests

from egressutil import OUTSIDE_HTTP, dnsmasq, egress_config, outside, pki  # noqa: F401 (fixtures)
from util import HOST, RawConn, free_port, raw_exchange, scrape_metrics, wait_until

LOOP = ["127.0.0.0/8"]


def start(sekisho, cfg, **top):
    cfg.update(top)
    sk = sekisho(cfg)
    return sk, sk.port("out")


def proxy_url(port, user=None):
    return "http://%s%s:%d" % (user + "@" if user else "", HOST, port)


def connect(port, target, extra=b""):
    """CONNECT target through the proxy on a raw socket; returns (RawConn, response head)."""
    c = RawConn(port)
    c.send(b"CONNECT " + target.encode() + b" HTTP/1.1\r\nHost: " + target.encode() + b"\r\n" + extra + b"\r\n")
    return c, c.read_response(method="CONNECT")


def curl(*args, timeout=20):
    return subprocess.run(["curl", "-sS", "--max-time", "10"] + list(args), capture_output=True, text=True,
                          timeout=timeout)


# ---- what works ----------------------------------------------------------------------------------


def test_connect_tunnel_with_curl(sekisho, dnsmasq, outside):
    sk, port = start(sekisho, egress_config(dnsmasq, ["tls.allowed.test:%d" % outside.tls.port], LOOP))
    url = "https://tls.allowed.test:%d/through" % outside.tls.port
    p = curl("-x", proxy_url(port), "--cacert", outside.ca, "-o", "-", "-w", "\n%{http_code}", url)
    assert p.returncode == 0, p.stderr
    body, code = p.stdout.rsplit("\n", 1)
    assert code == "200"
    assert '"/through"' in body


def test_connect_tunnel_with_requests(sekisho, dnsmasq, outside):
    sk, port = start(sekisho, egress_config(dnsmasq, ["tls.allowed.test:%d" % outside.tls.port], LOOP))
    r = requests.get("https://TLS.Allowed.Test:%d/case" % outside.tls.port, verify=outside.ca, timeout=10,
                     proxies={"https": proxy_url(port)})
    assert r.status_code == 200
    assert r.json()["path"] == "/case"


def test_absolute_form_get(sekisho, dnsmasq, outside):
    allow = ["*.allowed.test:%d" % outside.http.port]
    sk, port = start(sekisho, egress_config(dnsmasq, allow, LOOP))
    s = requests.Session()
    s.proxies = {"http": proxy_url(port)}
    for i in range(3):
        r = s.get("http://www.allowed.test:%d/path/%d?q=1" % (outside.http.port, i), timeout=10,
                  headers={"Proxy-Connection": "keep-alive", "X-Keep": "yes"})
        assert r.status_code == 200, r.text
        seen = r.json()
        assert seen["path"] == "/path/%d?q=1" % i
        hdrs = {k.lower(): v for k, v in seen["headers"]}
        assert hdrs["host"] == "www.allowed.test:%d" % outside.http.port
        assert hdrs["x-keep"] == "yes"
        assert not any(k.startswith("proxy-") for k in hdrs)
    # One lookup per request at most (A and AAAA), never a second one between check and connect.
    assert dnsmasq.queries("www.allowed.test") <= 2 * 3
    # Keep-alive toward the destination: the three requests came on one connection from the proxy.
    assert len(set(outside.http.ports[-3:])) == 1


def test_absolute_form_streams_both_ways(sekisho, dnsmasq, outside):
    import hashlib
    from util import pattern_sha256
    sk, port = start(sekisho, egress_config(dnsmasq, ["allowed.test:%d" % outside.http.port], LOOP))
    proxies = {"http": proxy_url(port)}
    base = "http://allowed.test:%d" % outside.http.port
    body = bytes(range(256)) * 4096  # 1 MiB up
    r = requests.post(base + "/up", data=body, proxies=proxies, timeout=30)
    assert r.status_code == 200
    assert r.json()["body_len"] == len(body)
    assert r.json()["body_sha256"] == hashlib.sha256(body).hexdigest()
    # chunked request body (a generator), and 3 MiB down (chunked from the outside server)
    r = requests.post(base + "/up2", data=iter([body[:1000], body[1000:]]), proxies=proxies, timeout=30)
    assert r.json()["body_len"] == len(body)
    r = requests.get(base + "/big/3145728", proxies=proxies, timeout=30)
    assert r.status_code == 200
    assert hashlib.sha256(r.content).hexdigest() == pattern_sha256(3145728)


# ---- the allow-list --------------------------------------------------------------------------------


def test_name_not_on_the_list_is_never_looked_up(sekisho, dnsmasq, outside):
    sk, port = start(sekisho, egress_config(dnsmasq, ["allowed.test:%d" % outside.http.port], LOOP))
    for target in ("other.test:%d" % outside.http.port, "www.allowed.test:%d" % outside.http.port,
                   "allowed.test:%d" % (outside.http.port + 1), "allowed.test.evil.test:%d" % outside.http.port):
        c, resp = connect(port, target)
        assert resp.status == 403, target
        assert b"egress_denied" in resp.body
        c.close()
    assert dnsmasq.queries("other.test") == 0
    assert dnsmasq.queries("www.allowed.test") == 0
    r = requests.get("http://other.test:%d/" % outside.http.port, proxies={"http": proxy_url(port)}, timeout=10)
    assert r.status_code == 403


@pytest.mark.parametrize("spelling", ["127.0.0.2", "2130706434", "0x7f.2", "0x7f000002", "0177.0.0.2",
                                      "127.2", "[::ffff:127.0.0.2]", "127.0.0.2."])
def test_ip_literals_only_through_allow_ips(sekisho, dnsmasq, outside, spelling):
    allow = ["allowed.test:%d" % outside.http.port]
    target = "%s:%d" % (spelling, outside.http.port)
    sk, port = start(sekisho, egress_config(dnsmasq, allow))
    c, resp = connect(port, target)
    assert resp.status == 403 and b"egress_denied" in resp.body, spelling
    c.close()
    # The same spelling with 127/8 in allow_ips reaches 127.0.0.2, as the address it denotes.
    sk.reload_and_wait(egress_config(dnsmasq, allow, LOOP, port=port))
    c, resp = connect(port, target)
    assert resp.status == 200, spelling
    c.send(b"GET /lit HTTP/1.1\r\nHost: x\r\n\r\n")
    assert c.read_response().status == 200
    c.close()


@pytest.mark.parametrize("target,why", [
    (b"CONNECT user@allowed.test:%d HTTP/1.1", "userinfo"),
    (b"CONNECT [allowed.test]:%d HTTP/1.1", "bracketed name"),
    (b"CONNECT b\xc3\xbccher.test:%d HTTP/1.1", "non-ASCII"),
    (b"GET http://allowed.test@evil.test:%d/ HTTP/1.1", "userinfo in URL"),
    (b"GET http://[allowed.test]:%d/ HTTP/1.1", "bracketed name in URL"),
    (b"GET https://allowed.test:%d/ HTTP/1.1", "https in absolute form"),
])
def test_malformed_targets_answer_400(sekisho, dnsmasq, outside, target, why):
    sk, port = start(sekisho, egress_config(dnsmasq, ["allowed.test:%d" % outside.http.port], LOOP))
    line = target % outside.http.port
    resp, closed = raw_exchange(port, line + b"\r\nHost: allowed.test:%d\r\n\r\n" % outside.http.port,
                                method="CONNECT" if line.startswith(b"CONNECT") else "GET")
    assert resp.status == 400, why
    assert closed
    assert outside.http.count == 0 or all(r["path"] != "/" for r in outside.http.requests)


def test_host_header_must_match_the_url(sekisho, dnsmasq, outside):
    sk, port = start(sekisho, egress_config(dnsmasq, ["*.allowed.test:%d" % outside.http.port], LOOP))
    p = outside.http.port
    ok, _ = raw_exchange(port, b"GET http://www.allowed.test:%d/ok HTTP/1.1\r\nHost: WWW.allowed.test.:%d\r\n"
                      b"Connection: close\r\n\r\n" % (p, p))
    assert ok.status == 200
    bad, _ = raw_exchange(port, b"GET http://www.allowed.test:%d/x HTTP/1.1\r\nHost: evil.test\r\n"
                       b"Connection: close\r\n\r\n" % p)
    assert bad.status == 400


# ---- the SSRF guard --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["loopback.test", "mixed.test", "metadata.test", "mapped.test", "nat64.test",
                                  "private.test"])
def test_names_resolving_inside_are_refused(sekisho, dnsmasq, outside, name):
    sk, port = start(sekisho, egress_config(dnsmasq, ["%s:%d" % (name, outside.http.port)]))
    c, resp = connect(port, "%s:%d" % (name, outside.http.port))
    assert resp.status == 403, name
    assert b"egress_address_denied" in resp.body
    c.close()


def test_the_proxy_never_connects_to_itself(sekisho, dnsmasq):
    port = free_port()
    sk, _ = start(sekisho, egress_config(dnsmasq, ["loopback.test:%d" % port, "*.allowed.test:%d" % port],
                                         ["0.0.0.0/0"], port=port))
    for target in ("loopback.test:%d" % port, "127.0.0.1:%d" % port, "0.0.0.0:%d" % port, "2130706433:%d" % port):
        c, resp = connect(port, target)
        assert resp.status == 403, target
        assert b"egress_address_denied" in resp.body
        c.close()


# ---- DNS -------------------------------------------------------------------------------------------


def test_dns_failure_and_timeout(sekisho, dnsmasq, outside):
    sk, port = start(sekisho, egress_config(dnsmasq, ["nx.test:443", "slow.test:443"], LOOP, timeout="500ms"))
    c, resp = connect(port, "nx.test:443")
    assert resp.status == 502 and b"dns_failed" in resp.body
    c.close()
    t0 = time.monotonic()
    c, resp = connect(port, "slow.test:443")
    took = time.monotonic() - t0
    assert resp.status == 504 and b"dns_timeout" in resp.body
    assert 0.4 < took < 3.0
    c.close()


# ---- access ----------------------------------------------------------------------------------------


def test_proxy_auth(sekisho, dnsmasq, outside, tmp_path):
    from util import bcrypt
    users = tmp_path / "htpasswd"
    users.write_text("alice:%s\n" % bcrypt("s3cret"))
    cfg = egress_config(dnsmasq, ["allowed.test:%d" % outside.http.port], LOOP,
                        access={"auth": ["basic"], "realm": "egress"})
    sk, port = start(sekisho, cfg, users={"htpasswd": str(users)})
    url = "http://allowed.test:%d/auth" % outside.http.port
    r = requests.get(url, proxies={"http": proxy_url(port)}, timeout=10)
    assert r.status_code == 407
    assert r.headers["Proxy-Authenticate"].startswith('Basic realm="egress"')
    r = requests.get(url, proxies={"http": proxy_url(port, "alice:wrong")}, timeout=10)
    assert r.status_code == 407
    r = requests.get(url, proxies={"http": proxy_url(port, "alice:s3cret")}, timeout=10)
    assert r.status_code == 200
    assert not any(k.lower().startswith("proxy-") for k, _ in r.json()["headers"])
    c, resp = connect(port, "allowed.test:%d" % outside.http.port)
    assert resp.status == 407
    c.close()


# ---- tunnels, logs, metrics ----------------------------------------------------------------------------


def test_idle_tunnel_is_closed(sekisho, dnsmasq, outside):
    sk, port = start(sekisho, egress_config(dnsmasq, ["allowed.test:%d" % outside.http.port], LOOP,
                                            idle_timeout="1s"))
    c, resp = connect(port, "allowed.test:%d" % outside.http.port)
    assert resp.status == 200
    t0 = time.monotonic()
    assert c.wait_closed(timeout=5)
    assert 0.8 < time.monotonic() - t0 < 4


def test_access_log_and_metrics(sekisho, dnsmasq, outside):
    cfg = egress_config(dnsmasq, ["allowed.test:%d" % outside.http.port], LOOP)
    cfg["admin"] = {"listen": "%s:%d" % (HOST, free_port())}
    sk, port = start(sekisho, cfg)
    r = requests.get("http://allowed.test:%d/logged" % outside.http.port, proxies={"http": proxy_url(port)},
                     timeout=10)
    assert r.status_code == 200
    c, resp = connect(port, "metadata.test:80")
    assert resp.status == 403
    c.close()
    lines = []
    wait_until(lambda: len(sk.log_lines()) >= 2, what="two access-log lines")
    lines = sk.log_lines()
    ok = next(l for l in lines if l.get("status") == 200)
    assert ok["target"] == "allowed.test:%d" % outside.http.port
    assert ok["address"] == "%s:%d" % (OUTSIDE_HTTP, outside.http.port)
    denied = next(l for l in lines if l.get("status") == 403)
    assert denied["reason"] == "egress_denied"
    _, m = scrape_metrics(int(cfg["admin"]["listen"].rsplit(":", 1)[1]))
    assert m['sekisho_denied_total{reason="egress_denied",status="403"}'] == 1


def test_flow_log_has_both_connections_of_a_tunnel(sekisho, dnsmasq, outside, tmp_path):
    from test_flowlog import read_records
    path = str(tmp_path / "flow.log")
    cfg = egress_config(dnsmasq, ["allowed.test:%d" % outside.http.port], LOOP)
    cfg["flow_log"] = {"path": path, "interval": "60s"}
    sk, port = start(sekisho, cfg)
    c, resp = connect(port, "allowed.test:%d" % outside.http.port)
    assert resp.status == 200
    c.send(b"GET /big/200000 HTTP/1.1\r\nHost: allowed.test\r\n\r\n")
    assert len(c.read_response().body) == 200000
    sk.signal(signal.SIGUSR1)  # writes the open window
    target = lambda r: OUTSIDE_HTTP in (r["srcaddr"], r["dstaddr"])  # noqa: E731
    wait_until(lambda: any(target(r) for r in read_records(path)), what="the target side's records")
    recs = [r for r in read_records(path) if r["interface_id"] == "out"]
    from_target = [r for r in recs if r["srcaddr"] == OUTSIDE_HTTP and r["srcport"] == outside.http.port]
    to_target = [r for r in recs if r["dstaddr"] == OUTSIDE_HTTP and r["dstport"] == outside.http.port]
    viewer_in = [r for r in recs if r["dstport"] == port]
    assert from_target and sum(r["bytes"] for r in from_target) >= 200000, recs
    assert to_target and viewer_in, recs
    c.close()
