"""Access checks that need no credentials (DESIGN §1 listener ACL, §3 ip and geo rules): the reason table
drives status, body and the access-log reason; denied requests never reach the origin; the address
checked is the trusted client address, so a spoofed X-Forwarded-For changes nothing."""

import os
import socket
import subprocess

import pytest
import requests

from util import HOST, get, simple_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAKE_MMDB = os.path.join(ROOT, "tests", "data", "make-mmdb")


def with_access(origin, access, **top):
    return simple_config(origin.port, behavior={"access": access}, **top)


def test_ip_allow_list_admits_members_only(sekisho, origin):
    cfg = with_access(origin, {"ip": {"allow": ["office"]}},
                      ip_sets={"office": ["203.0.113.0/24"]})
    sk = sekisho(cfg)
    r = get(sk)
    assert r.status_code == 403
    assert "ip_denied" in r.text
    assert origin.count == 0
    line = sk.wait_log(lambda l: l.get("status") == 403)
    assert line["reason"] == "ip_denied"

    cfg["ip_sets"]["office"].append("127.0.0.0/8")
    assert sk.reload_and_wait(cfg)
    r = get(sk)
    assert r.status_code == 200
    assert origin.count == 1


def test_ip_deny_list_and_json_body(sekisho, origin, tmp_path):
    blocked = tmp_path / "blocked.txt"
    blocked.write_text("# blocked networks\n10.0.0.0/8\n127.0.0.1  # this machine\n")
    cfg = with_access(origin, {"ip": {"deny": ["blocked"]}}, ip_sets={"blocked": {"file": str(blocked)}})
    sk = sekisho(cfg)
    r = get(sk, Accept="application/json")
    assert r.status_code == 403
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {"error": "ip_denied"}
    assert origin.count == 0


def test_spoofed_xff_does_not_change_the_checked_address(sekisho, origin):
    # Without a trusted proxy the peer (127.0.0.1) is the client, whatever X-Forwarded-For claims.
    cfg = with_access(origin, {"ip": {"allow": ["office"]}}, ip_sets={"office": ["203.0.113.0/24"]})
    sk = sekisho(cfg)
    assert get(sk, **{"X-Forwarded-For": "203.0.113.7"}).status_code == 403
    # With 127.0.0.1 trusted, the client is the rightmost untrusted X-Forwarded-For entry.
    cfg["trusted_proxies"] = ["127.0.0.1/32"]
    assert sk.reload_and_wait(cfg)
    assert get(sk, **{"X-Forwarded-For": "203.0.113.7"}).status_code == 200
    assert get(sk, **{"X-Forwarded-For": "203.0.113.7, 198.51.100.1"}).status_code == 403


def make_db(tmp_path, layout, *pairs):
    path = str(tmp_path / ("geo-%s.mmdb" % layout))
    subprocess.run([MAKE_MMDB, path, layout] + list(pairs), check=True, capture_output=True)
    return path


@pytest.mark.parametrize("layout", ["iso_code", "country_code"])
def test_geo_allow_and_deny(sekisho, origin, tmp_path, layout):
    db = make_db(tmp_path, layout, "127.0.0.0/8=JP", "::1/128=JP", "10.0.0.0/8=KP")
    cfg = with_access(origin, {"geo": {"deny": ["KP"]}}, geoip={"database": db})
    sk = sekisho(cfg)
    assert get(sk).status_code == 200
    cfg["distributions"][0]["behaviors"][0]["access"] = {"geo": {"allow": ["DE", "FR"]}}
    assert sk.reload_and_wait(cfg)
    r = get(sk)
    assert r.status_code == 403
    assert "geo_denied" in r.text
    assert sk.wait_log(lambda l: l.get("reason") == "geo_denied")
    cfg["distributions"][0]["behaviors"][0]["access"] = {"geo": {"deny": ["JP"]}}
    assert sk.reload_and_wait(cfg)
    assert get(sk).status_code == 403
    assert origin.count == 1


def test_geo_unknown_address(sekisho, origin, tmp_path):
    db = make_db(tmp_path, "iso_code", "10.0.0.0/8=KP")
    cfg = with_access(origin, {"geo": {"deny": ["KP"], "unknown": "deny"}}, geoip={"database": db})
    sk = sekisho(cfg)
    assert get(sk).status_code == 403
    cfg["distributions"][0]["behaviors"][0]["access"]["geo"]["unknown"] = "allow"
    assert sk.reload_and_wait(cfg)
    assert get(sk).status_code == 200


def test_geo_without_database_is_a_config_error(sekisho, origin):
    cfg = with_access(origin, {"geo": {"deny": ["KP"]}})
    with pytest.raises(RuntimeError) as e:
        sekisho(cfg)
    assert "country database" in str(e.value)
    assert ".yaml:" in str(e.value)  # file:line:col


def connection_refused_at_accept(port):
    """True when the server closes the connection without answering a request."""
    s = socket.create_connection((HOST, port), timeout=5)
    try:
        s.sendall(b"GET / HTTP/1.1\r\nHost: app.test\r\n\r\n")
        return s.recv(100) == b""
    except ConnectionResetError:
        return True
    finally:
        s.close()


def test_listener_acl_rule_order(sekisho, origin):
    cfg = simple_config(origin.port)
    # The lowest matching rule number decides, whatever the order written.
    cfg["listeners"][0]["acl"] = [
        {"rule": 200, "cidr": "0.0.0.0/0", "action": "allow"},
        {"rule": 100, "cidr": "127.0.0.1/32", "action": "deny"},
    ]
    sk = sekisho(cfg)
    assert connection_refused_at_accept(sk.port())
    assert origin.count == 0
    cfg["listeners"][0]["acl"] = [
        {"rule": 100, "cidr": "127.0.0.0/8", "action": "allow"},
        {"rule": 200, "cidr": "127.0.0.1/32", "action": "deny"},
    ]
    assert sk.reload_and_wait(cfg)
    assert get(sk).status_code == 200
    # Rules exist but none matches: deny.
    cfg["listeners"][0]["acl"] = [{"rule": 100, "cidr": "10.0.0.0/8", "action": "allow"}]
    assert sk.reload_and_wait(cfg)
    assert connection_refused_at_accept(sk.port())


def test_geo_over_ipv6_loopback(sekisho, origin, tmp_path):
    db = make_db(tmp_path, "country_code", "127.0.0.0/8=JP", "::1/128=FR")
    port = __import__("util").free_port()
    cfg = with_access(origin, {"geo": {"allow": ["FR"]}}, geoip={"database": db})
    cfg["listeners"] = [{"name": "web", "listen": "[::1]:%d" % port}]
    sk = sekisho(cfg)
    r = requests.get("http://[::1]:%d/" % port, headers={"Host": "app.test"}, timeout=5)
    assert r.status_code == 200  # ::1 is FR in this database
    cfg["distributions"][0]["behaviors"][0]["access"] = {"geo": {"deny": ["FR"]}}
    assert sk.reload_and_wait(cfg)
    r = requests.get("http://[::1]:%d/" % port, headers={"Host": "app.test"}, timeout=5)
    assert r.status_code == 403 and "geo_denied" in r.text
    line = sk.wait_log(lambda l: l.get("status") == 403)
    assert line["client"] == "::1"
