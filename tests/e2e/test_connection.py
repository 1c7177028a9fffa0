"""Viewer connection handling: persistence, Connection: close, HTTP/1.0, absolute-form targets, and the
command line's short form."""

import json

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
