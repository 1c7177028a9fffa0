"""Head size limits and connection deadlines (DESIGN §2)."""

import time

from util import RawConn, raw_exchange, simple_config


def head(target="/", extra=""):
    return ("GET %s HTTP/1.1\r\nHost: app.test\r\n%s\r\n" % (target, extra)).encode()


def test_request_line_over_8k_is_414(sekisho, origin):
    sk = sekisho(simple_config(origin.port))
    resp, closed = raw_exchange(sk.port(), head("/" + "a" * 9000))
    assert resp.status == 414
    assert closed
    assert origin.count == 0


def test_request_line_under_8k_passes(sekisho, origin):
    sk = sekisho(simple_config(origin.port))
    resp, _ = raw_exchange(sk.port(), head("/" + "a" * 7900))
    assert resp.status == 200
    assert origin.count == 1


def test_header_block_over_16k_is_431(sekisho, origin):
    sk = sekisho(simple_config(origin.port))
    extra = "".join("X-H%d: %s\r\n" % (i, "v" * 1000) for i in range(20))  # ~20 KiB, 21 fields
    resp, closed = raw_exchange(sk.port(), head("/", extra))
    assert resp.status == 431
    assert closed
    assert origin.count == 0


def test_header_block_under_16k_passes(sekisho, origin):
    sk = sekisho(simple_config(origin.port))
    extra = "".join("X-H%d: %s\r\n" % (i, "v" * 1000) for i in range(14))  # ~14 KiB
    resp, _ = raw_exchange(sk.port(), head("/", extra))
    assert resp.status == 200


def test_101_header_fields_is_431(sekisho, origin):
    sk = sekisho(simple_config(origin.port))
    extra = "".join("X-F%d: v\r\n" % i for i in range(100))  # + Host = 101 fields
    resp, closed = raw_exchange(sk.port(), head("/", extra))
    assert resp.status == 431
    assert closed
    assert origin.count == 0


def test_100_header_fields_pass(sekisho, origin):
    sk = sekisho(simple_config(origin.port))
    extra = "".join("X-F%d: v\r\n" % i for i in range(99))  # + Host = 100 fields
    resp, _ = raw_exchange(sk.port(), head("/", extra))
    assert resp.status == 200


def test_limits_are_configurable(sekisho, origin):
    sk = sekisho(simple_config(origin.port, limits={"request_line": 1024, "header_block": 4096,
                                                    "header_fields": 10}))
    resp, _ = raw_exchange(sk.port(), head("/" + "a" * 2000))
    assert resp.status == 414
    resp, _ = raw_exchange(sk.port(), head("/", "X-Big: %s\r\n" % ("v" * 5000)))
    assert resp.status == 431
    resp, _ = raw_exchange(sk.port(), head("/", "".join("X-F%d: v\r\n" % i for i in range(12))))
    assert resp.status == 431
    resp, _ = raw_exchange(sk.port(), head("/ok", "X-F: v\r\n"))
    assert resp.status == 200
    assert origin.count == 1


def test_header_read_timeout_is_408(sekisho, origin):
    sk = sekisho(simple_config(origin.port, timeouts={"header_read": "1s"}))
    with RawConn(sk.port(), timeout=5) as c:
        t0 = time.monotonic()
        c.send(b"GET / HTTP/1.1\r\nHost: app.te")
        resp = c.read_response()
        elapsed = time.monotonic() - t0
        assert resp.status == 408
        assert 0.5 <= elapsed <= 3.0, elapsed
        assert c.wait_closed(2.0)
    assert origin.count == 0


def test_header_read_timeout_not_reset_by_trickling(sekisho, origin):
    """The header deadline covers the whole head: one byte every 200 ms must not keep it alive."""
    sk = sekisho(simple_config(origin.port, timeouts={"header_read": "1s"}))
    with RawConn(sk.port(), timeout=5) as c:
        t0 = time.monotonic()
        closed = False
        for ch in b"GET / HTTP/1.1\r\nHost: app.test\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaa":
            try:
                c.send(bytes([ch]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            time.sleep(0.2)
            if time.monotonic() - t0 > 4:
                break
        elapsed = time.monotonic() - t0
        assert closed or c.wait_closed(1.0), "head still being read after %.1fs" % elapsed
        assert time.monotonic() - t0 <= 4.0
    assert origin.count == 0


def test_keepalive_idle_timeout_closes(sekisho, origin):
    sk = sekisho(simple_config(origin.port, timeouts={"keepalive": "1s"}))
    with RawConn(sk.port(), timeout=5) as c:
        c.send(head("/one"))
        assert c.read_response().status == 200
        t0 = time.monotonic()
        assert c.wait_closed(4.0), "idle keep-alive connection not closed"
        elapsed = time.monotonic() - t0
        assert 0.5 <= elapsed <= 3.0, elapsed
        assert c.buf == b"", "unexpected bytes on an idle close: %r" % c.buf


def test_keepalive_connection_survives_short_idle(sekisho, origin):
    sk = sekisho(simple_config(origin.port, timeouts={"keepalive": "2s"}))
    with RawConn(sk.port(), timeout=5) as c:
        for i in range(3):
            c.send(head("/n%d" % i))
            assert c.read_response().status == 200
            time.sleep(0.5)
    assert len(set(origin.ports)) >= 1
    assert origin.count == 3
