"""Shared state through a real Redis (DESIGN §4, §8): two sekisho instances with `state: {redis: URL}` on
one redis-server share lockouts, TOTP replay marks and bans, and the CLI (`sekisho tally`, `sekisho ban`)
pointed at the same Redis sees and changes the same records. Without its Redis, sekisho fails closed with
503 `state_unavailable` where state is needed, keeps serving what needs none, and recovers by itself.

Instances A and B run the same users file and TOTP key file on different listener ports; requests go
through http.client from a chosen loopback source address; a refusal at accept is a connection closed
without a byte of HTTP.
"""

import json
import os
import re
import signal
import threading
import time

import yaml

from stateutil import bcrypt, cli, oathtool, refused, request, table, utc
from util import free_port, simple_config, wait_until

PW = "shared secret"


def tally_rows(cfg_path, user=None):
    args = ["tally", "-c", cfg_path] + (["--user", user] if user else [])
    out = cli(*args).stdout
    head, rows = table(out)
    assert head == ["Login", "Failures", "Latest failure", "From"], out
    return {r[0]: r for r in rows}


def ban_list(cfg_path):
    out = cli("ban", "-c", cfg_path, "list").stdout
    head, rows = table(out)
    assert head == ["IP", "Banned until"], out
    return {r[0]: r[1] for r in rows}


def shared_config(tmp_path, origin, redis, access=None, users=("alice", "bob"), **top):
    h = bcrypt(PW)
    path = tmp_path / "users.yaml"
    if not path.exists():
        path.write_text("".join("%s: %s\n" % (u, json.dumps({"password": h})) for u in users))
    cfg = simple_config(origin.port, behavior={"access": access or {"auth": ["basic"]}},
                        users={"file": str(path)}, state={"redis": redis.url}, **top)
    return cfg


def pair(sekisho, cfg):
    """Instances A and B on one config (each gets its own listener port)."""
    return sekisho(cfg), sekisho(cfg)


# ----------------------------------------------------------------------------------------------------

def test_lockout_is_shared(sekisho, origin, redis_server, tmp_path):
    cfg = shared_config(tmp_path, origin, redis_server, lockout={"deny": 3, "unlock_time": "15m"})
    a, b = pair(sekisho, cfg)
    assert a.port() != b.port()
    # Both instances know alice's password (B has now verified it once and may cache it).
    assert request(a.port(), auth=("alice", PW)).status == 200
    assert request(b.port(), auth=("alice", PW)).status == 200

    for i in range(3):
        assert request(a.port(), auth=("alice", "bad-%d" % i)).status == 401
    r = request(b.port(), auth=("alice", PW))
    assert r.status == 401 and r.json() == {"error": "bad_credentials"}, r
    assert request(b.port(), auth=("bob", PW)).status == 200

    # The CLI on either config sees the same tally.
    for c in (a.config_path, b.config_path):
        rows = tally_rows(c)
        assert set(rows) == {"alice"}, rows
        assert int(rows["alice"][1]) >= 3 and rows["alice"][3] == "127.0.0.1", rows
    # A success on B before the lock would have reset it; a failure on B counts on A's tally.
    n = int(tally_rows(a.config_path, "alice")["alice"][1])
    assert request(b.port(), auth=("alice", "bad-b")).status == 401
    assert int(tally_rows(a.config_path, "alice")["alice"][1]) == n + 1

    # Reset through A's config: B lets alice in at once.
    out = cli("tally", "-c", a.config_path, "--user", "alice", "--reset").stdout
    assert out.splitlines()[-1] == "cleared %d failures of 'alice'" % (n + 1), out
    assert request(b.port(), auth=("alice", PW)).status == 200
    assert request(a.port(), auth=("alice", PW)).status == 200
    assert tally_rows(b.config_path, "alice")["alice"][1] == "0"


def test_totp_code_accepted_once_across_instances(sekisho, origin, redis_server, tmp_path):
    var = tmp_path / "keys"
    var.mkdir()
    cfg = shared_config(tmp_path, origin, redis_server, access={"auth": ["basic"], "mfa": "required"},
                        totp={"issuer": "sekisho", "key_file": str(var / "totp.key")})
    enroll_cfg = dict(cfg, listeners=[{"name": "web", "listen": "127.0.0.1:%d" % free_port()}])
    (tmp_path / "enroll.yaml").write_text(yaml.safe_dump(enroll_cfg, sort_keys=False))
    uri = cli("totp", "-c", tmp_path / "enroll.yaml", "enroll", "alice").stdout.split("\n")[0]
    m = re.fullmatch(r"otpauth://totp/sekisho:alice\?secret=([A-Z2-7]+)&issuer=sekisho", uri)
    assert m, uri
    secret = m.group(1)
    a, b = pair(sekisho, cfg)

    now = int(time.time())
    code, code_next = oathtool(secret, now), oathtool(secret, now + 30)
    r = request(a.port(), auth=("alice", PW + code))
    assert r.status == 200, r
    r = request(b.port(), auth=("alice", PW + code))
    assert r.status == 401 and r.json() == {"error": "mfa_failed"}, r
    b.wait_log(lambda l: l.get("status") == 401 and l.get("reason") == "mfa_failed")

    # The other way round, with X-OTP.
    r = request(b.port(), auth=("alice", PW), headers={"X-OTP": code_next})
    assert r.status == 200, r
    r = request(a.port(), auth=("alice", PW), headers={"X-OTP": code_next})
    assert r.status == 401 and r.json() == {"error": "mfa_failed"}, r


def test_bans_are_shared(sekisho, origin, redis_server, tmp_path):
    cfg = shared_config(tmp_path, origin, redis_server,
                        ban={"max_retry": 3, "find_time": "10m", "ban_time": "1h"})
    a, b = pair(sekisho, cfg)
    for ip in ("127.0.0.2", "127.0.0.3", "127.0.0.4"):
        assert not refused(a.port(), ip) and not refused(b.port(), ip)

    # Banned through A: B refuses it at accept within 2 s.
    t = time.time()
    for i in range(3):
        assert request(a.port(), src="127.0.0.2", auth=("alice", "bad-%d" % i)).status == 401
    wait_until(lambda: refused(b.port(), "127.0.0.2"), timeout=2, what="B refuses 127.0.0.2")
    assert refused(a.port(), "127.0.0.2")
    assert request(b.port(), auth=("alice", PW)).status == 200
    for c in (a.config_path, b.config_path):
        bans = ban_list(c)
        assert set(bans) == {"127.0.0.2"}, bans
        assert abs(utc(bans["127.0.0.2"]) - (t + 3600)) < 5, bans

    # The CLI through A's config bans on B; a removal through B's config lifts it on A.
    p = cli("ban", "-c", a.config_path, "add", "127.0.0.3", "--for", "0")
    assert p.stdout == "banned 127.0.0.3 until removed\n", p.stdout
    wait_until(lambda: refused(b.port(), "127.0.0.3"), timeout=2, what="B refuses 127.0.0.3")
    assert ban_list(b.config_path)["127.0.0.3"] == "until removed"
    p = cli("ban", "-c", b.config_path, "remove", "127.0.0.2")
    assert p.stdout == "unbanned 127.0.0.2\n", p.stdout
    wait_until(lambda: not refused(a.port(), "127.0.0.2"), timeout=2, what="A accepts 127.0.0.2 again")
    wait_until(lambda: not refused(b.port(), "127.0.0.2"), timeout=2, what="B accepts 127.0.0.2 again")
    assert set(ban_list(a.config_path)) == {"127.0.0.3"}

    # Failures spread over both instances add up to one count per IP.
    assert request(a.port(), src="127.0.0.4", auth=("bob", "x1")).status == 401
    assert request(b.port(), src="127.0.0.4", auth=("bob", "x2")).status == 401
    assert not refused(a.port(), "127.0.0.4") and not refused(b.port(), "127.0.0.4")
    assert request(b.port(), src="127.0.0.4", auth=("bob", "x3")).status == 401
    wait_until(lambda: refused(a.port(), "127.0.0.4"), timeout=2, what="A refuses 127.0.0.4")
    assert refused(b.port(), "127.0.0.4")


def test_redis_down_fails_closed_and_recovers(sekisho, origin, redis_server, tmp_path):
    cfg = shared_config(tmp_path, origin, redis_server, lockout={"deny": 3, "unlock_time": "15m"},
                        ban={"max_retry": 50, "find_time": "10m", "ban_time": "1h"})
    cfg["distributions"][0]["behaviors"] = [
        {"path": "/public/*", "origin": "app"},
        {"path": "*", "origin": "app", "access": {"auth": ["basic"]}},
    ]
    sk = sekisho(cfg)
    port = sk.port()
    assert request(port, "/private", auth=("alice", PW)).status == 200
    assert request(port, "/public/a").status == 200

    redis_server.stop()
    # Authentication needs the store (lockout): it fails closed, even for a credential verified before.
    r = request(port, "/private", auth=("alice", PW))
    assert r.status == 503 and r.json() == {"error": "state_unavailable"}, r
    r = request(port, "/private", auth=("alice", "wrong"))
    assert r.status in (401, 503), r
    wait_until(lambda: "unreachable" in sk.stderr_text(), timeout=3, what="a log line about the store")
    line = sk.wait_log(lambda l: l.get("path") == "/private" and l.get("status") == 503)
    assert line["reason"] == "state_unavailable" and line["user"] is None, line
    # What needs no state keeps being served, on new connections too (the ban check at accept must not
    # refuse or hang them).
    seen = origin.count
    for i in range(3):
        r = request(port, "/public/b%d" % i)
        assert r.status == 200, r
    assert origin.count == seen + 3
    assert request(port, "/private", auth=("alice", PW)).status == 503

    redis_server.start()
    wait_until(lambda: request(port, "/private", auth=("alice", PW)).status == 200, timeout=8, interval=0.2,
               what="authentication back after Redis returned")
    assert "reachable again" in sk.stderr_text()
    assert request(port, "/public/c").status == 200
    # And the store is used again: failures lock.
    for i in range(3):
        assert request(port, "/private", auth=("bob", "bad-%d" % i)).status == 401
    assert request(port, "/private", auth=("bob", PW)).status == 401
    assert int(tally_rows(sk.config_path, "bob")["bob"][1]) >= 3


def test_concurrent_failures_on_both_instances_are_all_counted(sekisho, origin, redis_server, tmp_path):
    cfg = shared_config(tmp_path, origin, redis_server, lockout={"deny": 50, "unlock_time": "15m"},
                        ban={"max_retry": 50, "find_time": "10m", "ban_time": "1h"})
    a, b = pair(sekisho, cfg)
    ports = [a.port(), b.port()]
    statuses = [None] * 24
    errs = []

    def one(i):
        try:
            statuses[i] = request(ports[i % 2], auth=("alice", "wrong-%d" % i), src="127.0.1.%d" % (i + 1)).status
        except Exception as e:  # noqa: BLE001 - reported below
            errs.append(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errs, errs
    assert set(statuses) <= {401, 429}, statuses
    assert statuses.count(401) >= 16, statuses
    rows = tally_rows(b.config_path, "alice")
    assert int(rows["alice"][1]) == statuses.count(401), (rows, statuses)


def test_starts_without_its_redis_and_recovers(sekisho, origin, redis_server, tmp_path):
    cfg = shared_config(tmp_path, origin, redis_server, lockout={"deny": 3, "unlock_time": "15m"})
    cfg["distributions"][0]["behaviors"] = [
        {"path": "/public/*", "origin": "app"},
        {"path": "*", "origin": "app", "access": {"auth": ["basic"]}},
    ]
    redis_server.stop()
    sk = sekisho(cfg)
    assert request(sk.port(), "/public/a").status == 200
    r = request(sk.port(), "/private", auth=("alice", PW))
    assert r.status == 503 and r.json() == {"error": "state_unavailable"}, r
    assert "unreachable" in sk.stderr_text()
    redis_server.start()
    wait_until(lambda: request(sk.port(), "/private", auth=("alice", PW)).status == 200, timeout=8,
               interval=0.2, what="authentication once Redis is there")
    assert "reachable again" in sk.stderr_text()


# NOT COMMITTED: exposes a sekisho bug (after a hung Redis answers again, no "reachable again" is logged:
# src/state/redis.c only clears its down flag when it opens a new connection, and a pooled one is reused).
def test_hung_redis_fails_closed_in_bounded_time_and_recovers(sekisho, origin, redis_server, tmp_path):
    cfg = shared_config(tmp_path, origin, redis_server, lockout={"deny": 3, "unlock_time": "15m"},
                        ban={"max_retry": 50, "find_time": "10m", "ban_time": "1h"})
    cfg["distributions"][0]["behaviors"] = [
        {"path": "/public/*", "origin": "app"},
        {"path": "*", "origin": "app", "access": {"auth": ["basic"]}},
    ]
    sk = sekisho(cfg)
    port = sk.port()
    assert request(port, "/private", auth=("alice", PW)).status == 200
    os.kill(redis_server.pid, signal.SIGSTOP)  # Redis hangs: connections stay open, nothing answers
    try:
        t = time.monotonic()
        r = request(port, "/private", auth=("alice", PW))
        assert r.status == 503 and r.json() == {"error": "state_unavailable"}, r
        assert time.monotonic() - t < 3.0
        assert "unreachable" in sk.stderr_text()
        t = time.monotonic()
        for i in range(3):
            assert request(port, "/public/%d" % i).status == 200
        assert time.monotonic() - t < 1.0
    finally:
        os.kill(redis_server.pid, signal.SIGCONT)
    wait_until(lambda: request(port, "/private", auth=("alice", PW)).status == 200, timeout=8, interval=0.2,
               what="authentication back after Redis answers again")
    wait_until(lambda: "reachable again" in sk.stderr_text(), timeout=3,
               what="the log saying Redis is reachable again")
