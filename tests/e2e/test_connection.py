"""Viewer connection handling: persistence, Connection: close, HTTP/1.0, absolute-form targets, and the
command line's short form."""

import json
import socket
import threading
import time

import requests

from util import RawConn, simple_config


def test_keepalive_is_default_for_http11(sekisho, origin):
    sk = sekisho(simple_config(origin.port))
    with RawConn(sk.port()) as c:
        for i in range(5):
            c.send(b"GET /k%d HTTP/1.1\r\nHost: app.test\r\n\r\n" % i)
            r = c.read_response()
            assert r.status == 200
            assert (r.header("Connection") or "").lower() != "close"


def test_connection_close_honoured(sekisho, origin):
    sk = sekisho(simple_config(origin.port))
    with RawConn(sk.port()) as c:
        c.send(b"GET /c HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n")
        r = c.read_response()
        assert r.status == 200
        assert (r.header("Connection") or "").lower() == "close"
        assert c.wait_closed(2.0)


def _reset_after_more_bytes(c):
    """Sends a byte after the response and EOF: True when the server's socket is gone (a reset comes
    back), False when it is still there, half-closed, reading and discarding (a lingering close)."""
    try:
        c.sock.sendall(b"x")
        time.sleep(0.3)
        c.sock.sendall(b"y")  # the reset to the first byte makes this or the next recv fail
        time.sleep(0.2)
        return c.sock.recv(16) != b""
    except (ConnectionResetError, BrokenPipeError):
        return True


def test_connection_close_request_is_closed_at_once(sekisho, origin):
    # The viewer asked to close and sent nothing after its request: sekisho closes at once (no
    # shutdown and lingering read), like nginx and HAProxy.
    sk = sekisho(simple_config(origin.port))
    for req in (b"GET /c HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n",
                b"GET /h10 HTTP/1.0\r\nHost: app.test\r\n\r\n",
                b"POST /p HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello"):
        with RawConn(sk.port()) as c:
            c.send(req)
            r = c.read_response()
            assert r.status == 200
            assert c.wait_closed(2.0)
            assert _reset_after_more_bytes(c), req


def test_close_with_bytes_after_the_request_still_lingers(sekisho, origin):
    # Bytes after a Connection: close request (a misbehaving client's pipelined request), or a close
    # that sekisho decided (an error): the lingering close keeps them from turning into a reset that
    # could destroy the response.
    sk = sekisho(simple_config(origin.port))
    for req in (b"GET /c HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\nGET /more HTTP/1.1\r\nHost: app.test\r\n\r\n",
                b"GET /bad HTTP/1.1\r\nHost: app.test\r\nContent-Length: x\r\n\r\n"):
        with RawConn(sk.port()) as c:
            c.send(req)
            r = c.read_response()
            assert r.status in (200, 400)
            assert c.wait_closed(2.0)
            assert not _reset_after_more_bytes(c), req


def test_http10_closes_by_default(sekisho, origin):
    sk = sekisho(simple_config(origin.port))
    with RawConn(sk.port()) as c:
        c.send(b"GET /h10 HTTP/1.0\r\nHost: app.test\r\n\r\n")
        r = c.read_response()
        assert r.status == 200
        assert json.loads(r.body)["path"] == "/h10"
        assert c.wait_closed(2.0)


def test_http10_keepalive(sekisho, origin):
    sk = sekisho(simple_config(origin.port))
    with RawConn(sk.port()) as c:
        for i in range(2):
            c.send(b"GET /k HTTP/1.0\r\nHost: app.test\r\nConnection: keep-alive\r\n\r\n")
            r = c.read_response()
            assert r.status == 200
            assert r.header("Content-Length") is not None
            assert (r.header("Connection") or "").lower() == "keep-alive"


def test_absolute_form_target_routes_by_authority(sekisho, origin):
    sk = sekisho(simple_config(origin.port))
    with RawConn(sk.port()) as c:
        c.send(b"GET http://app.test/abs?q=1 HTTP/1.1\r\nHost: ignored.test\r\n\r\n")
        r = c.read_response()
    assert r.status == 200
    assert json.loads(r.body)["path"] == "/abs?q=1"


def test_400_then_connection_closed_even_mid_pipeline(sekisho, origin):
    sk = sekisho(simple_config(origin.port))
    with RawConn(sk.port()) as c:
        c.send(b"GET /ok HTTP/1.1\r\nHost: app.test\r\n\r\n"
               b"GET /bad HTTP/1.1\r\nHost: app.test\r\nBad Header: x\r\n\r\n"
               b"GET /never HTTP/1.1\r\nHost: app.test\r\n\r\n")
        assert c.read_response().status == 200
        assert c.read_response().status == 400
        assert c.wait_closed(2.0)
    assert [r["path"] for r in origin.requests] == ["/ok"]


def test_short_command_line_form(sekisho, origin):
    sk = sekisho(simple_config(origin.port), argv=["-c", "{config}"])
    with RawConn(sk.port()) as c:
        c.send(b"GET /short HTTP/1.1\r\nHost: app.test\r\n\r\n")
        assert c.read_response().status == 200


def test_half_open_heads_do_not_block_others(sekisho, origin):
    sk = sekisho(simple_config(origin.port, timeouts={"header_read": "3s"}))
    hogs = []
    try:
        for _ in range(50):
            s = socket.create_connection(("127.0.0.1", sk.port()))
            s.sendall(b"GET / HTTP/1.1\r\n")
            hogs.append(s)
        t0 = time.monotonic()
        r = requests.get(sk.url + "/", headers={"Host": "app.test"}, timeout=5)
        assert r.status_code == 200
        assert time.monotonic() - t0 < 1.0
    finally:
        for s in hogs:
            s.close()


def test_many_concurrent_clients(sekisho, origin):
    sk = sekisho(simple_config(origin.port))
    errors = []

    def worker(i):
        s = requests.Session()
        for j in range(5):
            try:
                r = s.get(sk.url + "/c/%d/%d" % (i, j), headers={"Host": "app.test"}, timeout=10)
                if r.status_code != 200 or r.json()["path"] != "/c/%d/%d" % (i, j):
                    errors.append((i, j, r.status_code))
            except Exception as e:  # noqa: BLE001
                errors.append((i, j, repr(e)))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [], errors[:5]
    assert origin.count == 500


def test_get_with_body_then_pipelined_request(sekisho, origin):
    # A GET body is refused unless the behavior takes one (DESIGN §2; test_origin_request.py).
    sk = sekisho(simple_config(origin.port, behavior={"allow_get_body": True}))
    with RawConn(sk.port()) as c:
        c.send(b"GET /body HTTP/1.1\r\nHost: app.test\r\nContent-Length: 3\r\n\r\nabc"
               b"GET /n HTTP/1.1\r\nHost: app.test\r\n\r\n")
        assert json.loads(c.read_response().body)["body_len"] == 3
        assert json.loads(c.read_response().body)["path"] == "/n"


def test_options_asterisk_forwarded(sekisho, origin):
    sk = sekisho(simple_config(origin.port))
    with RawConn(sk.port()) as c:
        c.send(b"OPTIONS * HTTP/1.1\r\nHost: app.test\r\n\r\n")
        r = c.read_response()
    assert r.status == 200
    assert json.loads(r.body)["path"] == "*"


def test_error_body_json_or_html(sekisho, origin):
    sk = sekisho(simple_config(origin.port))
    r = requests.get(sk.url + "/", headers={"Host": "zzz.test", "Accept": "application/json"}, timeout=5)
    assert r.status_code == 421
    assert r.json() == {"error": "unknown_host"}
    r = requests.get(sk.url + "/", headers={"Host": "zzz.test", "Accept": "text/html,*/*"}, timeout=5)
    assert r.status_code == 421
    assert r.headers["Content-Type"].startswith("text/html")
    assert len(r.content) < 2048
