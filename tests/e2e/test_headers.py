"""Origin request header policy (DESIGN §1 "Origin request")."""

import json

import requests

from util import RawConn, echo_header_values, echo_headers, simple_config


def get(sk, path="/", headers=None, host="app.test"):
    h = {"Host": host}
    h.update(headers or {})
    r = requests.get(sk.url + path, headers=h, timeout=5)
    assert r.status_code == 200, r.text
    return r.json()


def names(rec):
    return [k for k, _ in echo_headers(rec)]


def test_forward_host_false_sends_origin_host(sekisho, origin):
    sk = sekisho(simple_config(origin.port, behavior={"forward_host": False}))
    rec = get(sk)
    assert echo_header_values(rec, "Host") == ["backend.internal"]
    assert echo_header_values(rec, "X-Forwarded-Host") == ["app.test"]


def test_forward_host_default_is_false(sekisho, origin):
    sk = sekisho(simple_config(origin.port))
    assert echo_header_values(get(sk), "Host") == ["backend.internal"]


def test_forward_host_true_sends_viewer_host(sekisho, origin):
    sk = sekisho(simple_config(origin.port, behavior={"forward_host": True}))
    rec = get(sk)
    assert echo_header_values(rec, "Host") == ["app.test"]


def test_forward_headers_list(sekisho, origin):
    sk = sekisho(simple_config(origin.port, behavior={"forward_headers": ["Authorization", "User-Agent"]}))
    rec = get(sk, headers={"Authorization": "Bearer abc", "User-Agent": "ua/1", "X-Custom": "no",
                           "Accept": "text/plain", "Cookie": "a=b"})
    assert echo_header_values(rec, "Authorization") == ["Bearer abc"]
    assert echo_header_values(rec, "User-Agent") == ["ua/1"]
    n = names(rec)
    for absent in ("x-custom", "accept", "cookie", "accept-encoding"):
        assert absent not in n, rec["headers"]
    # What sekisho itself sets still arrives.
    assert echo_header_values(rec, "X-Forwarded-For") == ["127.0.0.1"]


def test_forward_headers_none(sekisho, origin):
    sk = sekisho(simple_config(origin.port, behavior={"forward_headers": "none"},
                               origin={"headers": {"x-api-token": "tok"}}))
    rec = get(sk, headers={"Authorization": "Bearer abc", "User-Agent": "ua/1", "X-Custom": "no"})
    allowed = {"host", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-api-token",
               "content-length", "connection"}
    leaked = [k for k in names(rec) if k not in allowed]
    assert leaked == [], rec["headers"]
    assert echo_header_values(rec, "x-api-token") == ["tok"]


def test_forward_headers_all_is_default(sekisho, origin):
    sk = sekisho(simple_config(origin.port))
    rec = get(sk, headers={"X-Custom": "yes", "User-Agent": "ua/2"})
    assert echo_header_values(rec, "X-Custom") == ["yes"]
    assert echo_header_values(rec, "User-Agent") == ["ua/2"]


def test_origin_headers_expand_environment(sekisho, origin):
    cfg = simple_config(origin.port, origin={"headers": {"x-api-token": "${E2E_TOKEN}",
                                                         "x-mixed": "pre-${E2E_TOKEN}-post",
                                                         "x-plain": "literal"}})
    sk = sekisho(cfg, env={"E2E_TOKEN": "s3cr3t-value"})
    rec = get(sk)
    assert echo_header_values(rec, "x-api-token") == ["s3cr3t-value"]
    assert echo_header_values(rec, "x-mixed") == ["pre-s3cr3t-value-post"]
    assert echo_header_values(rec, "x-plain") == ["literal"]
    # The secret is never written to the config file.
    assert "s3cr3t-value" not in open(sk.config_path).read()


def test_hop_by_hop_headers_removed(sekisho, origin):
    sk = sekisho(simple_config(origin.port))
    with RawConn(sk.port()) as c:
        c.send("GET /hop HTTP/1.1\r\nHost: app.test\r\nConnection: X-Foo, keep-alive\r\nX-Foo: 1\r\n"
               "X-Bar: kept\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nTrailer: X-T\r\n"
               "Proxy-Authorization: Basic Zm9vOmJhcg==\r\nProxy-Connection: keep-alive\r\n"
               "Upgrade: h2c\r\n\r\n")
        resp = c.read_response()
    assert resp.status == 200
    rec = json.loads(resp.body)
    n = names(rec)
    for absent in ("x-foo", "keep-alive", "te", "trailer", "proxy-authorization", "proxy-connection",
                   "upgrade"):
        assert absent not in n, (absent, rec["headers"])
    # A Connection header toward the origin, if any, must not carry the viewer's tokens.
    for v in echo_header_values(rec, "Connection"):
        assert "x-foo" not in v.lower()
    assert echo_header_values(rec, "X-Bar") == ["kept"]


def test_xff_spoof_replaced_without_trusted_peer(sekisho, origin):
    sk = sekisho(simple_config(origin.port))
    rec = get(sk, headers={"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "https",
                           "X-Forwarded-Host": "evil.test"})
    assert echo_header_values(rec, "X-Forwarded-For") == ["127.0.0.1"]
    assert echo_header_values(rec, "X-Forwarded-Proto") == ["http"]
    assert echo_header_values(rec, "X-Forwarded-Host") == ["app.test"]
    e = sk.wait_log(lambda e: e.get("status") == 200)
    assert e.get("client") == "127.0.0.1"


def test_every_x_forwarded_name_is_dropped(sekisho, origin):
    """X-Forwarded-* is ours whatever the name's length: 13- and 14-byte names (X-Forwarded-By) used to
    cross, because the header policy sorted them with Authorization and Content-Length."""
    sk = sekisho(simple_config(origin.port))
    forged = {"X-Forwarded-A": "13", "X-Forwarded-By": "14", "X-Forwarded-Ip": "6.6.6.6",
              "X-Forwarded-Ssl": "on", "X-Forwarded-Port": "443", "X-Forwarded-Server": "evil"}
    rec = get(sk, headers=dict(forged, **{"X-Forwarder": "kept"}))
    for name in forged:
        assert echo_header_values(rec, name) == [], name
    assert echo_header_values(rec, "X-Forwarder") == ["kept"]
    assert echo_header_values(rec, "X-Forwarded-For") == ["127.0.0.1"]


def test_xff_kept_and_appended_with_trusted_peer(sekisho, origin):
    sk = sekisho(simple_config(origin.port, trusted_proxies=["127.0.0.1/32"]))
    rec = get(sk, headers={"X-Forwarded-For": "6.6.6.6"})
    assert echo_header_values(rec, "X-Forwarded-For") == ["6.6.6.6, 127.0.0.1"]
    e = sk.wait_log(lambda e: e.get("status") == 200)
    assert e.get("client") == "6.6.6.6"


def test_xff_multiple_fields_combined_with_trusted_peer(sekisho, origin):
    sk = sekisho(simple_config(origin.port, trusted_proxies=["127.0.0.1/32"]))
    with RawConn(sk.port()) as c:
        c.send("GET / HTTP/1.1\r\nHost: app.test\r\nX-Forwarded-For: 1.1.1.1\r\n"
               "X-Forwarded-For: 2.2.2.2\r\n\r\n")
        resp = c.read_response()
    assert resp.status == 200
    rec = json.loads(resp.body)
    xff = echo_header_values(rec, "X-Forwarded-For")
    assert len(xff) == 1
    assert [x.strip() for x in xff[0].split(",")] == ["1.1.1.1", "2.2.2.2", "127.0.0.1"]


def test_x_forwarded_proto_and_host(sekisho, origin):
    sk = sekisho(simple_config(origin.port))
    rec = get(sk)
    assert echo_header_values(rec, "X-Forwarded-Proto") == ["http"]
    assert echo_header_values(rec, "X-Forwarded-Host") == ["app.test"]


def test_viewer_identity_headers_never_reach_origin(sekisho, origin):
    sk = sekisho(simple_config(origin.port))
    with RawConn(sk.port()) as c:
        c.send("GET / HTTP/1.1\r\nHost: app.test\r\nX-Auth-User: admin\r\nx-auth-groups: admins\r\n"
               "X-AUTH-METHOD: basic\r\n\r\n")
        resp = c.read_response()
    assert resp.status == 200
    n = names(json.loads(resp.body))
    for absent in ("x-auth-user", "x-auth-groups", "x-auth-method"):
        assert absent not in n


def test_identity_headers_stripped_even_with_forward_headers_list(sekisho, origin):
    sk = sekisho(simple_config(origin.port, behavior={"forward_headers": ["X-Auth-User", "User-Agent"]}))
    rec = get(sk, headers={"X-Auth-User": "admin", "User-Agent": "ua"})
    assert "x-auth-user" not in names(rec)
    assert echo_header_values(rec, "User-Agent") == ["ua"]


def test_response_hop_by_hop_not_forwarded_to_viewer(sekisho, origin):
    sk = sekisho(simple_config(origin.port))
    r = requests.get(sk.url + "/", headers={"Host": "app.test"}, timeout=5)
    assert r.status_code == 200
    assert r.headers.get("X-Origin-Name") == "echo"  # end-to-end response headers pass


def test_xff_walk_skips_trusted_hops(sekisho, origin):
    sk = sekisho(simple_config(origin.port, trusted_proxies=["127.0.0.1/32", "10.0.0.0/8"]))
    rec = get(sk, headers={"X-Forwarded-For": "1.2.3.4, 10.0.0.5"})
    assert echo_header_values(rec, "X-Forwarded-For") == ["1.2.3.4, 10.0.0.5, 127.0.0.1"]
    e = sk.wait_log(lambda e: e.get("status") == 200)
    assert e["client"] == "1.2.3.4"


def test_xff_invalid_entry_stops_walk(sekisho, origin):
    sk = sekisho(simple_config(origin.port, trusted_proxies=["127.0.0.1/32"]))
    get(sk, "/w", headers={"X-Forwarded-For": "garbage, 5.5.5.5"})
    e = sk.wait_log(lambda e: e.get("path") == "/w")
    assert e["client"] == "5.5.5.5"
