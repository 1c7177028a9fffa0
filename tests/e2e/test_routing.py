"""Routing (DESIGN §1): Host → distribution through aliases, path → behavior, path normalisation (over
HTTP/1.1 and HTTP/2, where :authority is the Host, for the tests that take the `proto` fixture)."""

import json
import subprocess

import requests

from util import HOST, get, raw_exchange, simple_config


def multi_config(o_port):
    """Three named origins (all the same echo server, told apart by an x-origin header) and two
    distributions: "main" with ordered behaviors and "wild" with a wildcard alias."""
    def org(name):
        return {"servers": ["%s:%d" % (HOST, o_port)], "host": name + ".internal",
                "headers": {"x-origin": name}}

    return {
        "listeners": [{"name": "web"}],
        "origins": {"api": org("api"), "special": org("special"), "stat": org("stat"), "dflt": org("dflt"),
                    "wild": org("wild"), "exact": org("exact")},
        "distributions": [
            {"name": "main", "aliases": ["app.test", "www.app.test"],
             "behaviors": [
                 {"path": "/api/*", "origin": "api"},
                 {"path": "/api/special", "origin": "special"},  # shadowed: /api/* matches first
                 {"path": "/s?atic/*", "origin": "stat"},
                 {"path": "*", "origin": "dflt"},
             ]},
            {"name": "wild", "aliases": ["*.wild.test"], "behaviors": [{"path": "*", "origin": "wild"}]},
            {"name": "exact", "aliases": ["exact.wild.test"], "behaviors": [{"path": "*", "origin": "exact"}]},
            {"name": "nodefault", "aliases": ["nodef.test"],
             "behaviors": [{"path": "/only/*", "origin": "dflt"}]},
        ],
    }


def which(sk, host, path="/"):
    r = get(sk, path, Host=host, timeout=5)
    origin = None
    if r.status_code == 200 and r.headers.get("Content-Type") == "application/json":
        hdrs = dict((k.lower(), v) for k, v in r.json()["headers"])
        origin = hdrs.get("x-origin")
    return r.status_code, origin


def test_exact_and_wildcard_aliases(sekisho, origin, proto):
    sk = sekisho(multi_config(origin.port))
    assert which(sk, "app.test") == (200, "dflt")
    assert which(sk, "www.app.test") == (200, "dflt")
    assert which(sk, "a.wild.test") == (200, "wild")
    assert which(sk, "deep.er.wild.test") == (200, "wild")
    # An exact alias beats a wildcard that also matches.
    assert which(sk, "exact.wild.test") == (200, "exact")
    # "*.wild.test" does not match the bare domain.
    assert which(sk, "wild.test")[0] == 421


def test_unknown_host_is_421_and_never_reaches_origin(sekisho, origin, proto):
    sk = sekisho(multi_config(origin.port))
    before = origin.count
    r = get(sk, "/x", Host="nobody.test", timeout=5)
    assert r.status_code == 421
    assert origin.count == before
    e = sk.wait_log(lambda e: e.get("status") == 421)
    assert e.get("reason") == "unknown_host"


def test_host_with_port_trailing_dot_and_case(sekisho, origin):
    sk = sekisho(multi_config(origin.port))
    p = sk.port("web")
    for host, expect in (("app.test:%d" % p, "dflt"), ("app.test.", "dflt"), ("APP.Test", "dflt"),
                         ("App.TEST.:%d" % p, "dflt"), ("X.Wild.Test.", "wild")):
        assert which(sk, host) == (200, expect), host


def test_missing_host_is_400(sekisho, origin):
    sk = sekisho(multi_config(origin.port))
    resp, closed = raw_exchange(sk.port(), b"GET / HTTP/1.1\r\nUser-Agent: t\r\n\r\n")
    assert resp.status == 400
    assert origin.count == 0


def test_behavior_order_first_match_and_default(sekisho, origin):
    sk = sekisho(multi_config(origin.port))
    assert which(sk, "app.test", "/api/v1/users") == (200, "api")
    assert which(sk, "app.test", "/api/special") == (200, "api")  # first match wins
    assert which(sk, "app.test", "/static/a.css") == (200, "stat")  # '?' is one character
    assert which(sk, "app.test", "/sxatic/a.css") == (200, "stat")
    assert which(sk, "app.test", "/sttatic/a.css") == (200, "dflt")
    assert which(sk, "app.test", "/API/v1") == (200, "dflt")  # case-sensitive
    assert which(sk, "app.test", "/") == (200, "dflt")
    # The behavior sees the normalised path.
    assert which(sk, "app.test", "/x/../api/y") == (200, "api")


def test_no_matching_behavior_is_404(sekisho, origin):
    sk = sekisho(multi_config(origin.port))
    assert which(sk, "nodef.test", "/only/x") == (200, "dflt")
    status, _ = which(sk, "nodef.test", "/other")
    assert status == 404
    assert origin.count == 1


def origin_path(sk, target, host="app.test"):
    resp, _ = raw_exchange(sk.port(), ("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                                       % (target, host)).encode())
    return resp


def test_origin_receives_normalised_path(sekisho, origin):
    sk = sekisho(simple_config(origin.port))
    cases = {
        "/a//b/./c/../d": "/a/b/d",
        "/a/b/": "/a/b/",
        "//x///y": "/x/y",
        "/%7Euser/%41b": "/~user/Ab",  # unreserved characters are decoded
        "/p%20q": "/p%20q",  # other escapes are kept
        "/a/b/..": "/a/",
    }
    for sent, want in cases.items():
        resp = origin_path(sk, sent)
        assert resp.status == 200, sent
        got = json.loads(resp.body)["path"]
        if want == "/a/" and got == "/a":
            continue  # "/a/b/.." → "/a" or "/a/" are both acceptable normalisations
        assert got == want, "sent %r" % sent


def test_encoded_slash_and_climbing_are_400_without_reaching_origin(sekisho, origin):
    sk = sekisho(simple_config(origin.port))
    for target in ("/a%2Fb", "/a%2fb", "/../x", "/a/../../x", "/%2e%2e/x", "/a/%2E%2E/%2E%2E/x"):
        resp = origin_path(sk, target)
        assert resp.status == 400, target
    assert origin.count == 0


def test_query_string_preserved(sekisho, origin):
    sk = sekisho(simple_config(origin.port))
    for target in ("/q?a=1&b=%2F&c=a//b/../c", "/q?x=%20y&x=2"):
        resp = origin_path(sk, target)
        assert resp.status == 200, target
        assert json.loads(resp.body)["path"] == target


def test_curl_resolve_routes_by_name(sekisho, origin):
    sk = sekisho(multi_config(origin.port))
    p = sk.port()
    out = subprocess.run(["curl", "-sS", "--max-time", "5", "--resolve", "a.wild.test:%d:127.0.0.1" % p,
                          "http://a.wild.test:%d/hello" % p], capture_output=True, timeout=10)
    assert out.returncode == 0, out.stderr
    rec = json.loads(out.stdout)
    assert ["x-origin", "wild"] in [[k.lower(), v] for k, v in rec["headers"]]
    assert rec["path"] == "/hello"


def test_query_is_not_part_of_behavior_matching(sekisho, origin):
    sk = sekisho(multi_config(origin.port))
    assert which(sk, "app.test", "/x?next=/api/y") == (200, "dflt")
    assert which(sk, "app.test", "/api/z?x=1") == (200, "api")
