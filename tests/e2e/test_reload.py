"""SIGHUP reload and SIGTERM drain (DESIGN §6, §9): no dropped requests, bad configs refused."""

import re
import signal
import threading
import time

import requests

from util import RawConn, echo_header_values, simple_config, wait_until


def versioned(origin_port, version):
    return simple_config(origin_port, origin={"headers": {"x-version": version}})


def fresh_get(sk, path="/v"):
    """A request on a new connection (an open keep-alive connection moves to a new snapshot only when its
    next request begins)."""
    r = requests.get(sk.url + path, headers={"Host": "app.test", "Connection": "close"}, timeout=10)
    return r


def version_of(r):
    vals = echo_header_values(r.json(), "x-version")
    return vals[0] if vals else None


def test_reload_under_traffic_drops_nothing(sekisho, origin):
    sk = sekisho(versioned(origin.port, "v0"))
    failures = []
    seen = set()
    lock = threading.Lock()
    done = threading.Event()
    counts = {"ka": 0, "new": 0}

    def keepalive_loop():
        s = requests.Session()
        for i in range(200):
            try:
                r = s.get(sk.url + "/ka/%d" % i, headers={"Host": "app.test"}, timeout=10)
                if r.status_code != 200:
                    failures.append(("ka", i, r.status_code, r.text[:200]))
                else:
                    with lock:
                        seen.add(version_of(r))
            except Exception as e:  # noqa: BLE001 — any failure counts
                failures.append(("ka", i, repr(e)))
            counts["ka"] += 1
        done.set()

    def newconn_loop():
        i = 0
        while not done.is_set():
            try:
                r = fresh_get(sk, "/new/%d" % i)
                if r.status_code != 200:
                    failures.append(("new", i, r.status_code, r.text[:200]))
                else:
                    with lock:
                        seen.add(version_of(r))
            except Exception as e:  # noqa: BLE001
                failures.append(("new", i, repr(e)))
            i += 1
            counts["new"] += 1

    threads = [threading.Thread(target=keepalive_loop), threading.Thread(target=newconn_loop)]
    for t in threads:
        t.start()
    for v in ("v1", "v2", "v3"):
        time.sleep(0.4)
        sk.reload(versioned(origin.port, v))
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert failures == [], failures[:10]
    assert counts["ka"] == 200 and counts["new"] > 0
    # The last config wins for new connections.
    wait_until(lambda: version_of(fresh_get(sk)) == "v3", timeout=5, what="x-version v3 after reload")
    assert len(seen) >= 2, seen  # the traffic itself saw the change
    assert sk.alive()


def test_bad_config_on_reload_is_refused_and_old_keeps_serving(sekisho, origin):
    sk = sekisho(versioned(origin.port, "good"))
    assert version_of(fresh_get(sk)) == "good"
    with open(sk.config_path, "w") as f:
        f.write("workers: 2\nlisteners:\n  - { name: web, listen: \"127.0.0.1:%d\" }\n"
                "origins: {}\nbogus_key: 1\n" % sk.port())
    sk.signal(signal.SIGHUP)
    pat = re.compile(re.escape(sk.config_path) + r":\d+:\d+:")
    wait_until(lambda: pat.search(sk.stderr_text()), timeout=5, what="file:line:col error on stderr")
    assert sk.alive()
    for _ in range(5):
        r = fresh_get(sk)
        assert r.status_code == 200
        assert version_of(r) == "good"
    # A later good reload is still accepted.
    sk.reload(versioned(origin.port, "better"))
    wait_until(lambda: version_of(fresh_get(sk)) == "better", timeout=5, what="the good reload")


def test_reload_adds_an_alias(sekisho, origin):
    sk = sekisho(simple_config(origin.port, aliases=["app.test"]))
    assert requests.get(sk.url, headers={"Host": "new.test"}, timeout=5).status_code == 421
    sk.reload(simple_config(origin.port, aliases=["app.test", "new.test"]))
    wait_until(lambda: requests.get(sk.url, headers={"Host": "new.test", "Connection": "close"},
                                    timeout=5).status_code == 200, timeout=5, what="new alias")


def test_sigterm_lets_slow_request_finish_and_exits_0(sekisho, origin):
    sk = sekisho(simple_config(origin.port))
    result = {}

    def slow():
        try:
            r = requests.get(sk.url + "/slow/2000", headers={"Host": "app.test"}, timeout=15)
            result["status"] = r.status_code
            result["path"] = r.json()["path"]
        except Exception as e:  # noqa: BLE001
            result["error"] = repr(e)

    t = threading.Thread(target=slow)
    t.start()
    wait_until(lambda: origin.count >= 1, timeout=5, what="the slow request to reach the origin")
    time.sleep(0.2)
    sk.signal(signal.SIGTERM)
    # New connections are no longer accepted once draining (give the signal a moment to land).
    time.sleep(0.3)
    t.join(15)
    assert result.get("status") == 200, result
    assert result.get("path") == "/slow/2000"
    rc = sk.wait(10)
    assert rc == 0, "exit status %r after SIGTERM" % rc


def test_sigterm_closes_idle_keepalive_connections(sekisho, origin):
    sk = sekisho(simple_config(origin.port))
    with RawConn(sk.port()) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: app.test\r\n\r\n")
        assert c.read_response().status == 200
        t0 = time.monotonic()
        sk.signal(signal.SIGTERM)
        assert c.wait_closed(5.0), "idle keep-alive connection kept open while draining"
        rc = sk.wait(10)
        assert rc == 0
        assert time.monotonic() - t0 < 5.0


def test_burst_of_reloads(sekisho, origin):
    sk = sekisho(versioned(origin.port, "a"))
    for i in range(10):
        sk.reload(versioned(origin.port, "burst%d" % i))
        time.sleep(0.05)
    wait_until(lambda: version_of(fresh_get(sk)) == "burst9", timeout=5, what="the last of 10 reloads")
    assert sk.alive()


def test_reload_removes_an_alias(sekisho, origin):
    sk = sekisho(simple_config(origin.port, aliases=["app.test", "old.test"]))
    assert requests.get(sk.url, headers={"Host": "old.test", "Connection": "close"}, timeout=5).status_code == 200
    sk.reload(simple_config(origin.port, aliases=["app.test"]))
    wait_until(lambda: requests.get(sk.url, headers={"Host": "old.test", "Connection": "close"},
                                    timeout=5).status_code == 421, timeout=5, what="alias removed")
    assert fresh_get(sk).status_code == 200
