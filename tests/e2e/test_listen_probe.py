"""A listen address held by another process is an error, never a silently shared SO_REUSEPORT group
(DESIGN §9, issue 9 item 7): at start (listeners and the admin listener) and on a reload that adds one."""

import re
import socket

import requests

from util import HOST, echo_header_values, free_port, simple_config


def tagged(origin_port, tag, **top):
    return simple_config(origin_port, origin={"headers": {"x-instance": tag}}, **top)


def instance_of(port):
    r = requests.get("http://127.0.0.1:%d/who" % port, headers={"Host": "app.test", "Connection": "close"},
                     timeout=5)
    assert r.status_code == 200, r.text[:200]
    return echo_header_values(r.json(), "x-instance")[0]


def test_second_instance_on_the_same_port_refuses_to_start(sekisho, origin):
    a = sekisho(tagged(origin.port, "A"))
    port = a.port()
    cfg_b = tagged(origin.port, "B")
    cfg_b["listeners"] = [{"name": "web", "listen": "127.0.0.1:%d" % port}]
    b = sekisho(cfg_b, wait=False)
    rc = b.wait(15)
    assert rc not in (0, None), "the second instance started on a port the first one holds"
    err = b.stderr_text()
    assert "127.0.0.1:%d" % port in err and "already in use" in err, err[-1500:]
    assert "listener 'web'" in err, err[-1500:]
    # Every request still reaches the first instance: none were split off to the second.
    assert {instance_of(port) for _ in range(40)} == {"A"}
    assert a.alive()


def test_second_instance_on_the_same_admin_address_refuses_to_start(sekisho, origin):
    admin = "127.0.0.1:%d" % free_port()
    a = sekisho(tagged(origin.port, "A", admin={"listen": admin}))
    b = sekisho(tagged(origin.port, "B", admin={"listen": admin}), wait=False)
    rc = b.wait(15)
    assert rc not in (0, None), "the second instance joined the first one's admin listener"
    err = b.stderr_text()
    assert admin in err and "already in use" in err, err[-1500:]
    assert re.search(r"\.yaml:\d+:\d+: listener 'admin'", err), err[-1500:]  # points at admin.listen
    for _ in range(20):
        assert requests.get("http://%s/healthz" % admin, timeout=5).status_code == 200
    assert a.alive() and instance_of(a.port()) == "A"


def test_reload_adding_an_address_held_elsewhere_is_refused(sekisho, origin):
    admin = free_port()
    base = tagged(origin.port, "v1", admin={"listen": "127.0.0.1:%d" % admin})
    sk = sekisho(base)
    # Another process's listener that would accept a SO_REUSEPORT partner (same user, option set).
    other = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    other.bind((HOST, 0))
    other.listen(64)
    held = other.getsockname()[1]
    try:
        cfg = tagged(origin.port, "v2", admin={"listen": "127.0.0.1:%d" % admin})
        cfg["listeners"].append({"name": "extra", "listen": "127.0.0.1:%d" % held})
        assert sk.reload_and_wait(cfg) is False
        err = sk.stderr_text()
        assert "reload refused" in err and "127.0.0.1:%d is already in use" % held in err, err[-1500:]
        # The old configuration keeps serving, and the other process keeps its port to itself.
        assert instance_of(sk.port()) == "v1"
        other.settimeout(5)
        for _ in range(10):
            with socket.create_connection((HOST, held), timeout=5):
                c, _ = other.accept()
                c.close()
    finally:
        other.close()
    assert sk.alive()


def test_reload_adding_a_free_address_binds_it(sekisho, origin):
    admin = free_port()
    sk = sekisho(tagged(origin.port, "v1", admin={"listen": "127.0.0.1:%d" % admin}))
    extra = free_port()
    cfg = tagged(origin.port, "v2", admin={"listen": "127.0.0.1:%d" % admin})
    cfg["listeners"].append({"name": "extra", "listen": "127.0.0.1:%d" % extra})
    assert sk.reload_and_wait(cfg) is True
    assert instance_of(extra) == "v2" and instance_of(sk.port()) == "v2"
