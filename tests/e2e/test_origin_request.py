"""What reaches the origin, and what the parser refuses first (DESIGN §1 "Origin request", §2).

- Header names with '_' are dropped before the origin (as nginx does), because a WSGI/CGI origin folds
  `X-Auth_User` into X-Auth-User; `underscores_in_headers: forward` on the listener keeps them, except
  names that read as a header sekisho sets or strips. Shown at a real WSGI origin (wsgiref).
- Names that read as Transfer-Encoding / Content-Length are 400; transfer codings other than chunked 501;
  a body on GET or HEAD 400 unless the behavior sets `allow_get_body: true` (GET only).
- Credentials sekisho consumed (Basic, API keys, the session cookie, X-OTP) are not passed on unless
  `forward_credentials: true`.
- An HTTP/1.0 request without Host is answered (421, no distribution), without a sanitizer report.
- Only a WebSocket Upgrade crosses, on behaviors without `websocket: false`; an unasked 101 is a 502.
"""

import base64
import json
import re
import time
import urllib.parse

import pytest

from stateutil import bcrypt, cli, oathtool, request
from test_mfa_api import PW as MFA_PW, enrolled_config
from util import RawConn, WsgiOrigin, echo_header_values, simple_config

H = "Host: app.test\r\n"


@pytest.fixture
def wsgi_origin():
    o = WsgiOrigin().start()
    yield o
    o.stop()


def users_file(tmp_path, users):
    path = tmp_path / "users.yaml"
    path.write_text("".join("%s: %s\n" % (u, json.dumps(f)) for u, f in users.items()))
    return str(path)


def basic_config(tmp_path, origin_port, behavior=None, listener=None, **top):
    users = users_file(tmp_path, {"alice": {"password": bcrypt("alice pw"), "groups": ["staff"]}})
    b = {"access": {"auth": ["basic"]}}
    b.update(behavior or {})
    cfg = simple_config(origin_port, behavior=b, users={"file": users}, **top)
    cfg["listeners"][0].update(listener or {})
    return cfg


def raw(port, data):
    """Sends data on a new connection; returns (response, closed after it)."""
    with RawConn(port) as c:
        c.send(data)
        resp = c.read_response()
        return resp, c.wait_closed(3.0)


# ---- underscores -----------------------------------------------------------------------------------

SPOOF = {"X-Auth_User": "admin", "X-Auth_Groups": "admins", "X_Auth_Method": "none",
         "X_Forwarded_For": "10.0.0.1", "X-Forwarded_Host": "evil.test", "X_Custom": "harmless"}


@pytest.mark.parametrize("mode", [None, "drop", "forward"])
def test_underscore_names_never_spoof_identity_at_a_wsgi_origin(sekisho, wsgi_origin, tmp_path, mode):
    listener = {"underscores_in_headers": mode} if mode else {}
    sk = sekisho(basic_config(tmp_path, wsgi_origin.port, listener=listener))
    r = request(sk.port(), auth=("alice", "alice pw"), headers=SPOOF)
    assert r.status == 200, r
    env = r.json()["environ"]
    # What the application believes: the signed-in user, sekisho's own X-Forwarded-*, no forgery.
    assert env["HTTP_X_AUTH_USER"] == "alice"
    assert env["HTTP_X_AUTH_GROUPS"] == "staff"
    assert env["HTTP_X_AUTH_METHOD"] == "basic"
    assert env["HTTP_X_FORWARDED_FOR"] == "127.0.0.1"
    assert env["HTTP_X_FORWARDED_HOST"] == "app.test"
    for v in ("admin", "10.0.0.1", "evil.test", "none"):
        assert v not in json.dumps(env), env
    # A harmless name with '_' crosses only where the listener says so.
    assert env.get("HTTP_X_CUSTOM") == ("harmless" if mode == "forward" else None), env


def test_underscore_names_on_an_anonymous_behavior(sekisho, wsgi_origin):
    """Without auth there are no identity headers to forge, yet X_Auth_User must not reach the app as
    one: the app might trust it."""
    cfg = simple_config(wsgi_origin.port)
    cfg["listeners"][0]["underscores_in_headers"] = "forward"
    sk = sekisho(cfg)
    r = request(sk.port(), headers={"X_Auth_User": "admin", "X-Auth--Groups": "admins", "X_Other": "1"})
    assert r.status == 200, r
    env = r.json()["environ"]
    assert "HTTP_X_AUTH_USER" not in env and "HTTP_X_AUTH__GROUPS" not in env, env
    assert env["HTTP_X_OTHER"] == "1"


# ---- parser rules ----------------------------------------------------------------------------------

LOOKALIKES = {
    "transfer_underscore": "POST / HTTP/1.1\r\n" + H + "Transfer_Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
                           "0\r\n\r\n",
    "content_double_dash": "POST / HTTP/1.1\r\n" + H + "Content--Length: 5\r\n\r\nhello",
    "content_underscore_lower": "POST / HTTP/1.1\r\n" + H + "content_length: 5\r\n\r\nhello",
}


@pytest.mark.parametrize("case", sorted(LOOKALIKES))
def test_framing_lookalike_names_are_400(sekisho, origin, case):
    sk = sekisho(simple_config(origin.port))
    resp, closed = raw(sk.port(), LOOKALIKES[case])
    assert resp.status == 400, resp
    assert closed
    assert origin.count == 0


@pytest.mark.parametrize("te", ["gzip, chunked", "identity", "xchunked", "deflate,chunked"])
def test_other_transfer_codings_are_501(sekisho, origin, te):
    sk = sekisho(simple_config(origin.port))
    resp, closed = raw(sk.port(), "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: %s\r\n\r\n0\r\n\r\n" % te)
    assert resp.status == 501, resp
    assert b"not_implemented" in resp.body
    assert closed
    assert origin.count == 0


GET_BODIES = {
    "length": ("GET", "Content-Length: 5\r\n\r\nhello"),
    "chunked": ("GET", "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    "head_length": ("HEAD", "Content-Length: 5\r\n\r\nhello"),
}


@pytest.mark.parametrize("case", sorted(GET_BODIES))
def test_body_on_get_or_head_is_400(sekisho, origin, case):
    sk = sekisho(simple_config(origin.port))
    method, rest = GET_BODIES[case]
    with RawConn(sk.port()) as c:
        c.send("%s /b HTTP/1.1\r\n%s%s" % (method, H, rest))
        resp = c.read_response(method=method)
        assert resp.status == 400, resp
        assert c.wait_closed(3.0)
    assert origin.count == 0
    assert sk.wait_log(lambda l: l.get("path") == "/b")["reason"] == "bad_request"


def test_allow_get_body(sekisho, origin):
    sk = sekisho(simple_config(origin.port, behavior={"allow_get_body": True}))
    port = sk.port()
    for rest in GET_BODIES["length"][1], GET_BODIES["chunked"][1]:
        resp, _ = raw(port, "GET /search HTTP/1.1\r\n" + H + rest)
        assert resp.status == 200, resp
        assert origin.last()["method"] == "GET" and origin.last()["body_len"] == 5
    # HEAD never.
    with RawConn(port) as c:
        c.send("HEAD /h HTTP/1.1\r\n" + H + GET_BODIES["head_length"][1])
        assert c.read_response(method="HEAD").status == 400
    # An empty body is no body.
    resp, _ = raw(port, "GET /empty HTTP/1.1\r\n" + H + "Content-Length: 0\r\n\r\n")
    assert resp.status == 200


def test_get_with_empty_body_passes_by_default(sekisho, origin):
    sk = sekisho(simple_config(origin.port))
    resp, _ = raw(sk.port(), "GET /e HTTP/1.1\r\n" + H + "Content-Length: 0\r\n\r\n")
    assert resp.status == 200, resp


# ---- credentials -----------------------------------------------------------------------------------

def at_origin(origin, name):
    return echo_header_values(origin.last(), name)


@pytest.mark.parametrize("keep", [False, True])
def test_basic_credentials_stripped(sekisho, origin, tmp_path, keep):
    sk = sekisho(basic_config(tmp_path, origin.port, behavior={"forward_credentials": keep} if keep else None))
    r = request(sk.port(), auth=("alice", "alice pw"), headers={"Cookie": "other=1"})
    assert r.status == 200, r
    assert at_origin(origin, "X-Auth-User") == ["alice"]
    expect = ["Basic " + base64.b64encode(b"alice:alice pw").decode()] if keep else []
    assert at_origin(origin, "Authorization") == expect
    assert at_origin(origin, "Cookie") == ["other=1"]


def test_authorization_belongs_to_the_origin_without_auth(sekisho, origin):
    sk = sekisho(simple_config(origin.port))
    r = request(sk.port(), headers={"Authorization": "Basic b3JpZ2luOnNlY3JldA==", "X-Api-Key": "origin-key"})
    assert r.status == 200
    assert at_origin(origin, "Authorization") == ["Basic b3JpZ2luOnNlY3JldA=="]
    assert at_origin(origin, "X-Api-Key") == ["origin-key"]


@pytest.mark.parametrize("keep", [False, True])
def test_api_keys_stripped(sekisho, origin, tmp_path, keep):
    keys = str(tmp_path / "apikeys.yaml")
    key = cli("apikey", "-f", keys, "create", "ci-bot").stdout.strip().splitlines()[-1].strip()
    b = {"access": {"auth": ["api_key"]}}
    if keep:
        b["forward_credentials"] = True
    sk = sekisho(simple_config(origin.port, behavior=b, api_keys={"file": keys}))
    port = sk.port()

    r = request(port, headers={"X-Api-Key": key})
    assert r.status == 200, r
    assert at_origin(origin, "X-Auth-User") == ["ci-bot"]
    assert at_origin(origin, "X-Api-Key") == ([key] if keep else [])

    # From Authorization: Bearer; an X-Api-Key that was not the one used is not ours to take.
    r = request(port, headers={"Authorization": "Bearer " + key})
    assert r.status == 200, r
    assert at_origin(origin, "Authorization") == (["Bearer " + key] if keep else [])
    if not keep:
        assert key not in json.dumps(origin.last())


def login(port, user, password):
    """A password login through sekisho's form; returns the session cookie's value."""
    page = request(port, path="/.sekisho/login?rd=/", headers={"Accept": "text/html"})
    assert page.status == 200, page
    csrf_cookie = re.search(r"sekisho_csrf=([^;]+)", page.header("Set-Cookie")).group(1)
    token = re.search(r'name="csrf" value="([^"]+)"', page.body.decode()).group(1)
    form = urllib.parse.urlencode({"csrf": token, "username": user, "password": password, "rd": "/"})
    r = request(port, path="/.sekisho/login", method="POST", body=form,
                headers={"Cookie": "sekisho_csrf=" + csrf_cookie, "Accept": "text/html",
                         "Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 303, r
    cookies = [v for k, v in r.headers if k.lower() == "set-cookie" and v.startswith("sekisho_session=")]
    assert len(cookies) == 1, r.headers
    return cookies[0].split(";", 1)[0].split("=", 1)[1]


@pytest.mark.parametrize("keep", [False, True])
def test_session_cookie_stripped_other_cookies_stay(sekisho, origin, tmp_path, keep):
    users = users_file(tmp_path, {"alice": {"password": bcrypt("alice pw")}})
    b = {"path": "/app/*", "origin": "app", "access": {"auth": ["session"]}}
    if keep:
        b["forward_credentials"] = True
    cfg = simple_config(origin.port, users={"file": users}, state={"path": str(tmp_path / "var")})
    # The same origin behind an anonymous path too: the cookie is sent there by every browser.
    cfg["distributions"][0]["behaviors"].insert(0, b)
    sk = sekisho(cfg)
    port = sk.port()
    sess = login(port, "alice", "alice pw")

    r = request(port, path="/app/x", headers={"Cookie": "other=1; sekisho_session=%s; theme=dark" % sess})
    assert r.status == 200, r
    assert at_origin(origin, "X-Auth-User") == ["alice"]
    if keep:
        assert at_origin(origin, "Cookie") == ["other=1; sekisho_session=%s; theme=dark" % sess]
    else:
        assert at_origin(origin, "Cookie") == ["other=1; theme=dark"]
        assert sess not in json.dumps(origin.last())

    # A Cookie field that held only the session cookie is dropped, not sent empty.
    r = request(port, path="/app/y", headers={"Cookie": "sekisho_session=" + sess})
    assert r.status == 200, r
    assert at_origin(origin, "Cookie") == (["sekisho_session=" + sess] if keep else [])

    # An anonymous path: sekisho did not consume the cookie, but it is sekisho's and the origin could
    # replay it; it goes all the same (forward_credentials is per behavior, not set on this one).
    r = request(port, path="/public", headers={"Cookie": "sekisho_session=%s; other=2" % sess})
    assert r.status == 200, r
    assert at_origin(origin, "Cookie") == ["other=2"]


def test_x_otp_stripped(sekisho, origin, tmp_path):
    cfg, secrets = enrolled_config(tmp_path, origin)
    sk = sekisho(cfg)
    code = oathtool(secrets["alice"], int(time.time()))
    r = request(sk.port(), auth=("alice", MFA_PW), headers={"X-OTP": code})
    assert r.status == 200, r
    assert at_origin(origin, "X-Auth-User") == ["alice"]
    assert at_origin(origin, "X-OTP") == []
    assert at_origin(origin, "Authorization") == []


# ---- HTTP/1.0 without Host -------------------------------------------------------------------------

def test_http10_without_host(sekisho, origin):
    """Under the ASan/UBSan build this used to report a memcpy from NULL; the fixture fails the test on
    any sanitizer report. No Host, no distribution: 421."""
    sk = sekisho(simple_config(origin.port))
    resp, closed = raw(sk.port(), "GET / HTTP/1.0\r\n\r\n")
    assert resp.status == 421, resp
    assert closed
    resp, _ = raw(sk.port(), "GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert resp.status == 421
    assert origin.count == 0
    assert sk.wait_log(lambda l: l.get("path") == "/x")["reason"] == "unknown_host"
    assert "runtime error" not in sk.stderr_text()


# ---- Upgrade ---------------------------------------------------------------------------------------

H2C = ("GET /h2c HTTP/1.1\r\n" + H + "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
       "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n")
WS = ("GET /ws HTTP/1.1\r\n" + H + "Connection: Upgrade\r\nUpgrade: websocket\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


def test_h2c_upgrade_is_stripped(sekisho, origin):
    sk = sekisho(simple_config(origin.port))
    with RawConn(sk.port()) as c:
        c.send(H2C)
        resp = c.read_response()
        assert resp.status == 200, resp
        # Still a keep-alive HTTP/1.1 connection: a second request on it works.
        c.send("GET /after HTTP/1.1\r\n" + H + "\r\n")
        assert c.read_response().status == 200
    rec = [r for r in origin.requests if r["path"] == "/h2c"][0]
    for name in ("Upgrade", "HTTP2-Settings", "Connection"):
        assert echo_header_values(rec, name) == [], rec["headers"]


def test_websocket_false_makes_a_plain_request(sekisho, origin):
    sk = sekisho(simple_config(origin.port, behavior={"websocket": False}))
    resp, _ = raw(sk.port(), WS)
    assert resp.status == 200, resp
    rec = origin.last()
    assert echo_header_values(rec, "Upgrade") == [] and echo_header_values(rec, "Connection") == []
    assert echo_header_values(rec, "Sec-WebSocket-Key") == ["dGhlIHNhbXBsZSBub25jZQ=="]


SWITCH = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n\x00\x00\x00\x04\x00"


@pytest.mark.parametrize("ask", ["none", "h2c", "websocket_off"])
def test_unasked_101_is_502(sekisho, scripted_origin, ask):
    o = scripted_origin(SWITCH)
    sk = sekisho(simple_config(o.port, behavior={"websocket": False} if ask == "websocket_off" else None))
    data = {"none": "GET /u HTTP/1.1\r\n" + H + "\r\n", "h2c": H2C.replace("/h2c", "/u"),
            "websocket_off": WS.replace("/ws", "/u")}[ask]
    resp, _ = raw(sk.port(), data)
    assert resp.status == 502, resp
    line = sk.wait_log(lambda l: l.get("path") == "/u")
    assert (line["status"], line["reason"]) == (502, "upstream_unavailable")
    assert "answered 101" in sk.stderr_text()
    assert b"upgrade: h2c" not in b"\r\n".join(o.heads).lower()
