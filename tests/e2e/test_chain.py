"""Two sekisho instances in a row: A (front.test) proxies to B, which proxies to the echo origin."""

import requests

from util import HOST, echo_header_values


def back_config(origin_port, aliases, trusted=None):
    cfg = {
        "listeners": [{"name": "web"}],
        "origins": {"app": {"servers": ["%s:%d" % (HOST, origin_port)], "host": "app.internal"}},
        "distributions": [{"name": "back", "aliases": aliases, "behaviors": [{"path": "*", "origin": "app"}]}],
    }
    if trusted:
        cfg["trusted_proxies"] = trusted
    return cfg


def front_config(b_port, forward_host):
    return {
        "listeners": [{"name": "web"}],
        "origins": {"b": {"servers": ["%s:%d" % (HOST, b_port)], "host": "back.test"}},
        "distributions": [{"name": "front", "aliases": ["front.test"],
                           "behaviors": [{"path": "*", "origin": "b", "forward_host": forward_host}]}],
    }


def test_chain_origin_host(sekisho, origin):
    b = sekisho(back_config(origin.port, ["back.test"]))
    a = sekisho(front_config(b.port(), forward_host=False))
    r = requests.get(a.url + "/through?q=1", headers={"Host": "front.test"}, timeout=10)
    assert r.status_code == 200, r.text
    rec = r.json()
    assert rec["path"] == "/through?q=1"
    assert echo_header_values(rec, "Host") == ["app.internal"]
    # B does not trust A, so it restarts the chain from its peer.
    assert echo_header_values(rec, "X-Forwarded-For") == ["127.0.0.1"]
    assert echo_header_values(rec, "X-Forwarded-Host") == ["back.test"]
    # Both hops logged the request.
    a.wait_log(lambda e: e.get("status") == 200 and e.get("host", "").startswith("front.test"))
    b.wait_log(lambda e: e.get("status") == 200 and e.get("host", "").startswith("back.test"))


def test_chain_forward_host(sekisho, origin):
    b = sekisho(back_config(origin.port, ["front.test"], trusted=["127.0.0.1/32"]))
    a = sekisho(front_config(b.port(), forward_host=True))
    r = requests.get(a.url + "/fh", headers={"Host": "front.test", "X-Forwarded-For": "203.0.113.9"},
                     timeout=10)
    assert r.status_code == 200, r.text
    rec = r.json()
    assert rec["path"] == "/fh"
    assert echo_header_values(rec, "X-Forwarded-Host") == ["front.test"]
    # A does not trust the viewer (drops 203.0.113.9); B trusts A and appends A's address.
    assert echo_header_values(rec, "X-Forwarded-For") == ["127.0.0.1, 127.0.0.1"]
    e = b.wait_log(lambda e: e.get("status") == 200)
    assert e.get("client") == "127.0.0.1"


def test_chain_front_does_not_accept_back_name(sekisho, origin):
    b = sekisho(back_config(origin.port, ["back.test"]))
    a = sekisho(front_config(b.port(), forward_host=True))
    # With forward_host true, B sees "front.test", which it does not serve.
    r = requests.get(a.url + "/x", headers={"Host": "front.test"}, timeout=10)
    assert r.status_code == 421
    assert origin.count == 0
