"""Access log (DESIGN §5): one JSON line per request with the documented fields."""

import datetime
import json
import time

import requests

from util import RawConn, free_port, raw_exchange, scrape_metrics, simple_config

FIELDS = ("ts", "client", "listener", "distribution", "behavior", "method", "host", "path", "status",
          "bytes_in", "bytes_out", "duration_ms", "upstream", "user", "auth", "reason")


def wait_count(sk, n, timeout=5):
    deadline = time.monotonic() + timeout
    while True:
        lines = sk.log_lines()
        if len(lines) >= n or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_one_json_line_per_request_with_fields(sekisho, origin):
    sk = sekisho(simple_config(origin.port))
    s = requests.Session()
    r = s.get(sk.url + "/hello?x=1", headers={"Host": "app.test"}, timeout=5)
    assert r.status_code == 200
    r = s.post(sk.url + "/submit", data=b"0123456789", headers={"Host": "app.test"}, timeout=5)
    assert r.status_code == 200
    r = s.get(sk.url + "/status/404", headers={"Host": "app.test"}, timeout=5)
    assert r.status_code == 404
    lines = wait_count(sk, 3)
    time.sleep(0.3)
    lines = sk.log_lines()
    assert len(lines) == 3, lines
    for e in lines:
        assert "_unparsed" not in e, e
        missing = [f for f in FIELDS if f not in e]
        assert missing == [], (missing, e)

    g, p, nf = lines
    assert g["method"] == "GET" and g["status"] == 200
    assert g["path"].startswith("/hello")
    assert g["host"].split(":")[0] == "app.test"
    assert g["listener"] == "web"
    assert g["distribution"] == "main"
    assert g["behavior"] == 0
    assert g["client"] == "127.0.0.1"
    assert isinstance(g["bytes_out"], int) and g["bytes_out"] > 0
    assert isinstance(g["bytes_in"], int) and g["bytes_in"] > 0
    assert isinstance(g["duration_ms"], (int, float)) and g["duration_ms"] >= 0
    assert str(origin.port) in str(g["upstream"]) or g["upstream"] == "app"
    assert g["reason"] in (None, "", "-")
    assert g["user"] in (None, "", "-")

    assert p["method"] == "POST" and p["path"] == "/submit" and p["status"] == 200
    assert p["bytes_in"] >= 10
    assert nf["status"] == 404 and nf["path"] == "/status/404"

    ts = g["ts"]
    if isinstance(ts, str):
        parsed = datetime.datetime.fromisoformat(ts.replace("Z", "+00:00"))
        now = datetime.datetime.now(datetime.timezone.utc)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=datetime.timezone.utc)
        assert abs((now - parsed).total_seconds()) < 120
    else:
        assert abs(time.time() - float(ts if ts < 1e11 else ts / 1000)) < 120


def test_rejected_requests_are_logged_with_reason(sekisho, origin):
    sk = sekisho(simple_config(origin.port))
    requests.get(sk.url + "/x", headers={"Host": "nobody.test"}, timeout=5)
    e = sk.wait_log(lambda e: e.get("status") == 421)
    assert e["reason"] == "unknown_host"
    assert e["host"].split(":")[0] == "nobody.test"
    with RawConn(sk.port()) as c:
        c.send(b"GET /a%2Fb HTTP/1.1\r\nHost: app.test\r\n\r\n")
        assert c.read_response().status == 400
    e = sk.wait_log(lambda e: e.get("status") == 400)
    assert e["reason"] == "bad_request"


def test_bytes_out_counts_large_response(sekisho, origin):
    sk = sekisho(simple_config(origin.port))
    r = requests.get(sk.url + "/big/500000", headers={"Host": "app.test"}, timeout=10)
    assert len(r.content) == 500000
    e = sk.wait_log(lambda e: e.get("path", "").startswith("/big/"))
    assert e["bytes_out"] >= 500000


def test_behavior_identified(sekisho, origin):
    cfg = simple_config(origin.port)
    cfg["distributions"][0]["behaviors"].insert(0, {"path": "/api/*", "origin": "app"})
    sk = sekisho(cfg)
    requests.get(sk.url + "/api/x", headers={"Host": "app.test"}, timeout=5)
    requests.get(sk.url + "/other", headers={"Host": "app.test"}, timeout=5)
    lines = wait_count(sk, 2)
    a = next(e for e in lines if e.get("path", "").startswith("/api"))
    o = next(e for e in lines if e.get("path", "").startswith("/other"))
    assert a["behavior"] == 0
    assert o["behavior"] == 1


def test_bytes_in_counts_whole_request_body(sekisho, origin):
    """Body bytes that arrive in the same read as the head are request bytes too: bytes_in covers the
    head and the whole body, whatever the framing."""
    sk = sekisho(simple_config(origin.port))
    size = 1 << 20
    body = b"b" * size
    head = b"POST /length HTTP/1.1\r\nHost: app.test\r\nContent-Length: %d\r\n\r\n" % size
    chunked_head = b"POST /chunked HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunked_body = b"".join(b"10000\r\n" + body[i:i + 65536] + b"\r\n" for i in range(0, size, 65536)) \
        + b"0\r\n\r\n"
    with RawConn(sk.port(), timeout=30) as c:
        c.send(head + body)  # one write: the first read holds the head and the start of the body
        assert json.loads(c.read_response().body)["body_len"] == size
    with RawConn(sk.port(), timeout=30) as c:
        c.send(chunked_head + chunked_body)
        assert json.loads(c.read_response().body)["body_len"] == size
    n = sk.wait_log(lambda e: e.get("path") == "/length")
    ch = sk.wait_log(lambda e: e.get("path") == "/chunked")
    assert n["bytes_in"] >= len(head) + size, "Content-Length body: %r" % n
    assert ch["bytes_in"] >= len(chunked_head) + size, "chunked body: %r" % ch


def test_sigusr1_reopens_access_log(sekisho, origin):
    import os
    import signal
    sk = sekisho(simple_config(origin.port))
    requests.get(sk.url + "/before", headers={"Host": "app.test"}, timeout=5)
    sk.wait_log(lambda e: e.get("path") == "/before")
    os.rename(sk.access_log, sk.access_log + ".1")
    sk.signal(signal.SIGUSR1)
    time.sleep(0.3)

    def new_file_has_after():
        requests.get(sk.url + "/after", headers={"Host": "app.test", "Connection": "close"}, timeout=5)
        return any(e.get("path") == "/after" for e in sk.log_lines())

    deadline = time.monotonic() + 5
    while not new_file_has_after():
        assert time.monotonic() < deadline, "no new access log file after SIGUSR1"
        time.sleep(0.2)
    assert sk.alive()


def test_access_log_to_stdout(sekisho, origin):
    import json as _json
    sk = sekisho(simple_config(origin.port, access_log={"path": "-"}))
    requests.get(sk.url + "/stdout", headers={"Host": "app.test"}, timeout=5)

    def found():
        for line in sk.stdout_text().splitlines():
            try:
                if _json.loads(line).get("path") == "/stdout":
                    return True
            except ValueError:
                pass
        return False

    deadline = time.monotonic() + 5
    while not found():
        assert time.monotonic() < deadline, "no JSON access line on stdout: %r" % sk.stdout_text()[-500:]
        time.sleep(0.05)


def test_duration_and_upstream_fields(sekisho, origin):
    sk = sekisho(simple_config(origin.port))
    requests.get(sk.url + "/slow/300", headers={"Host": "app.test"}, timeout=5)
    e = sk.wait_log(lambda e: e.get("path") == "/slow/300")
    assert e["duration_ms"] >= 250
    assert e["duration_ms"] < 5000
    requests.get(sk.url + "/", headers={"Host": "nobody.test"}, timeout=5)
    e = sk.wait_log(lambda e: e.get("status") == 421)
    assert e["upstream"] in (None, "", "-")
    assert e["distribution"] in (None, "", "-")


def test_parser_refusals_are_logged_and_counted(sekisho, origin):
    """Issue 10 item 2: a malformed head, a 414, a 431 and a 408 each get an access-log line with the client
    address, status and reason (no method: none could be read), and a counter by reason."""
    admin = free_port()
    sk = sekisho(simple_config(origin.port, admin={"listen": "127.0.0.1:%d" % admin},
                               limits={"request_line": 1024, "header_block": 4096},
                               timeouts={"header_read": "1s"}))
    resp, _ = raw_exchange(sk.port(), b"GET / HTTP/1.1\r\nHost: app.test\r\nBad Name: x\r\n\r\n")
    assert resp.status == 400
    resp, _ = raw_exchange(sk.port(), b"GET /" + b"a" * 2000 + b" HTTP/1.1\r\nHost: app.test\r\n\r\n")
    assert resp.status == 414
    resp, _ = raw_exchange(sk.port(), b"GET / HTTP/1.1\r\nHost: app.test\r\nX-Big: " + b"v" * 5000 + b"\r\n\r\n")
    assert resp.status == 431
    with RawConn(sk.port(), timeout=5) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: app.te")
        assert c.read_response().status == 408

    lines = wait_count(sk, 4)
    assert [(e["status"], e["reason"]) for e in lines] == [
        (400, "bad_request"), (414, "too_large"), (431, "too_large"), (408, "request_timeout")], lines
    for e in lines:
        assert e["client"] == "127.0.0.1", e
        assert e["listener"] == "web", e
        assert e["method"] is None and e["distribution"] is None, e
    assert origin.count == 0

    _, v = scrape_metrics(admin)
    assert v['sekisho_denied_total{reason="bad_request",status="400"}'] == 1
    assert v['sekisho_denied_total{reason="too_large",status="414"}'] == 1
    assert v['sekisho_denied_total{reason="too_large",status="431"}'] == 1
    assert v['sekisho_denied_total{reason="request_timeout",status="408"}'] == 1
    assert v["sekisho_requests_total"] == 4
    # The operator log names the peer, not "?".
    assert "client 127.0.0.1: malformed request head" in sk.stderr_text()


def test_refused_head_does_not_log_an_earlier_requests_path(sekisho, origin):
    """The exchange comes from the worker's free list and its path is past the part cleared per request:
    a head refused before it was parsed must not log the path of the request that used it before."""
    sk = sekisho(simple_config(origin.port, workers=1))
    resp, _ = raw_exchange(sk.port(), b"GET /earlier-secret-path HTTP/1.1\r\nHost: app.test\r\n\r\n")
    assert resp.status == 200
    resp, _ = raw_exchange(sk.port(), b"GET / HTTP/1.1\r\nHost: app.test\r\nBad Name: x\r\n\r\n")
    assert resp.status == 400
    lines = wait_count(sk, 2)
    assert lines[1]["status"] == 400 and lines[1]["path"] is None, lines[1]
