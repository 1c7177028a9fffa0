"""Account lockout (pam_tally2) and IP bans (fail2ban) on the embedded LMDB store (DESIGN §3 "Lockout",
"Bans", §4, §6 `sekisho tally` / `sekisho ban`).

The real binary runs in front of the echo origin; requests go through http.client from a chosen loopback
source address (127.0.0.2 and up for clients that get banned, so 127.0.0.1 stays usable). Whether a
connection is refused at accept is seen on a raw socket: the server closes it (EOF or reset) without a
single byte of HTTP. The CLI (`sekisho tally`, `sekisho ban`) runs against the running server's config.
Durability is checked across a SIGTERM restart and a `kill -9`.

Timing: lock and ban windows are seconds long; every sleep is computed from the instant of the failure
it depends on, with a margin of at least 0.25 s on each side even if the store keeps whole seconds.
"""

import http.client
import json
import os
import re
import signal
import threading
import time
import urllib.parse

import pytest

from stateutil import bcrypt, cli, refused, request, table, utc
from util import free_port, simple_config, wait_until

PW = "right horse"


# ----------------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------------

def users_file(tmp_path, names, name="users.yaml"):
    path = tmp_path / name
    h = bcrypt(PW)
    path.write_text("".join("%s: %s\n" % (n, json.dumps({"password": h})) for n in names))
    return str(path)


def tally(sk, user=None, reset=False):
    args = ["tally", "-c", sk.config_path]
    if user:
        args += ["--user", user]
    if reset:
        args += ["--reset"]
    return cli(*args).stdout


def tally_rows(sk, user=None):
    out = tally(sk, user)
    head, rows = table(out)
    assert head == ["Login", "Failures", "Latest failure", "From"], out
    return {r[0]: r for r in rows}


def failures(sk, user):
    rows = tally_rows(sk, user)
    assert set(rows) == {user}, rows
    return int(rows[user][1])


def ban_list(sk):
    out = cli("ban", "-c", sk.config_path, "list").stdout
    head, rows = table(out)
    assert head == ["IP", "Banned until"], out
    return {r[0]: r[1] for r in rows}


def same_answer(a, b):
    """Status, body and every header but Date are the same."""
    def hs(r):
        return sorted((k.lower(), v) for k, v in r.headers if k.lower() != "date")
    assert (a.status, a.body, hs(a)) == (b.status, b.body, hs(b)), (a, b)


def lockout_config(origin, users, deny=3, unlock="3s", ban=None, **top):
    cfg = simple_config(origin.port, behavior={"access": {"auth": ["basic"]}}, users={"file": users},
                        lockout={"deny": deny, "unlock_time": unlock}, **top)
    if ban:
        cfg["ban"] = ban
    return cfg


# ----------------------------------------------------------------------------------------------------
# lockout
# ----------------------------------------------------------------------------------------------------

def test_lockout_locks_and_unlocks_by_itself(sekisho, origin, tmp_path):
    users = users_file(tmp_path, ["alice", "bob"])
    sk = sekisho(lockout_config(origin, users, deny=3, unlock="3s"))
    port = sk.port()

    # A success first, so a cached verification exists: it must not bypass the lock later.
    assert request(port, auth=("alice", PW)).status == 200
    # A success resets the tally: 2 failures, success, 2 failures is never 3 in a row.
    for i in range(2):
        assert request(port, auth=("alice", "wrong-%d" % i)).status == 401
    assert failures(sk, "alice") == 2
    assert request(port, auth=("alice", PW)).status == 200
    assert failures(sk, "alice") == 0
    for i in range(2):
        assert request(port, auth=("alice", "wrong-%d" % i)).status == 401
    assert request(port, auth=("alice", PW)).status == 200

    # The tally table: one row per account with failures; bob has none and is listed only when asked.
    for i in range(3):
        wrong = request(port, auth=("alice", "bad-%d" % i))
        assert wrong.status == 401
    t_locked = time.time()
    rows = tally_rows(sk)
    assert set(rows) == {"alice"}, rows
    row = rows["alice"]
    assert row[1] == "3" and row[3] == "127.0.0.1", row
    assert abs(utc(row[2]) - t_locked) < 5, row
    bob = tally_rows(sk, "bob")
    assert list(bob) == ["bob"] and bob["bob"][1] == "0", bob

    # Locked: the right password gets exactly the answer of a wrong one, and the origin sees nothing.
    seen = origin.count
    locked = request(port, auth=("alice", PW))
    t_last = time.time()
    other_wrong = request(port, auth=("bob", "nope"))
    assert locked.status == 401
    assert json.loads(locked.body) == {"error": "bad_credentials"}
    same_answer(locked, wrong)
    same_answer(locked, other_wrong)
    plain = request(port, auth=("alice", PW), headers={"Accept": "text/html"})
    plain_wrong = request(port, auth=("alice", "nope"), headers={"Accept": "text/html"})
    t_last = time.time()
    same_answer(plain, plain_wrong)
    assert origin.count == seen
    assert sk.wait_log(lambda l: l.get("status") == 401 and l.get("reason") == "bad_credentials")
    # Another account is not affected.
    assert request(port, auth=("bob", PW)).status == 200

    # unlock_time after the latest failure the lock lifts by itself, and the success resets the tally.
    time.sleep(max(0.0, t_last + 3.3 - time.time()))
    assert request(port, auth=("alice", PW)).status == 200
    assert failures(sk, "alice") == 0


def test_failure_while_locked_extends_the_lock(sekisho, origin, tmp_path):
    users = users_file(tmp_path, ["alice"])
    sk = sekisho(lockout_config(origin, users, deny=3, unlock="3s"))
    port = sk.port()
    for i in range(3):
        assert request(port, auth=("alice", "bad-%d" % i)).status == 401
    t0 = time.time()  # the lock would lift by t0 + 3 s
    time.sleep(1.8)
    t_ext = time.time()
    assert request(port, auth=("alice", "bad-3")).status == 401  # counts: the lock now lifts ≥ t_ext + 3 s
    assert failures(sk, "alice") == 4
    time.sleep(max(0.0, t0 + 3.3 - time.time()))
    assert time.time() < t_ext + 2.75
    r = request(port, auth=("alice", PW))
    assert r.status == 401 and json.loads(r.body) == {"error": "bad_credentials"}
    # The operator lifts it at once.
    out = tally(sk, "alice", reset=True)
    assert re.search(r"^cleared \d+ failures of 'alice'$", out, re.M), out
    assert request(port, auth=("alice", PW)).status == 200


def test_unknown_users_are_never_tallied(sekisho, origin, tmp_path):
    users = users_file(tmp_path, ["alice"])
    sk = sekisho(lockout_config(origin, users, deny=2, unlock="15m"))
    assert request(sk.port(), auth=("alice", "bad")).status == 401
    for i in range(5):
        assert request(sk.port(), auth=("mallory", "pw-%d" % i)).status == 401
        assert request(sk.port(), auth=("Alice", "pw-%d" % i)).status == 401
    assert set(tally_rows(sk)) == {"alice"}
    assert failures(sk, "alice") == 1
    assert request(sk.port(), auth=("alice", PW)).status == 200
    assert failures(sk, "alice") == 0


def test_unlock_time_zero_needs_the_operator(sekisho, origin, tmp_path):
    users = users_file(tmp_path, ["alice", "bob", "carol"])
    sk = sekisho(lockout_config(origin, users, deny=2, unlock="0"))
    port = sk.port()
    for i in range(2):
        assert request(port, auth=("alice", "bad-%d" % i)).status == 401
    assert request(port, auth=("bob", "bad")).status == 401
    time.sleep(1.2)
    r = request(port, auth=("alice", PW))
    assert r.status == 401 and json.loads(r.body) == {"error": "bad_credentials"}
    n_alice = failures(sk, "alice")
    assert n_alice >= 2

    # --user U --reset: the table of that account, then how many failures were cleared.
    out = tally(sk, "alice", reset=True)
    lines = out.splitlines()
    assert re.split(r"\s{2,}", lines[0].strip()) == ["Login", "Failures", "Latest failure", "From"], out
    assert re.split(r"\s{2,}", lines[1].strip())[:2] == ["alice", str(n_alice)], out
    assert lines[-1] == "cleared %d failures of 'alice'" % n_alice, out
    assert request(port, auth=("alice", PW)).status == 200  # the running server reads the store
    assert failures(sk, "alice") == 0

    # --reset without --user clears every account.
    assert request(port, auth=("carol", "bad")).status == 401
    assert request(port, auth=("carol", "bad")).status == 401
    assert set(tally_rows(sk)) == {"bob", "carol"}
    out = tally(sk, reset=True)
    assert out.splitlines()[-1] == "cleared 3 failures of 2 accounts", out
    assert failures(sk, "bob") == 0 and failures(sk, "carol") == 0
    assert request(port, auth=("carol", PW)).status == 200


# ----------------------------------------------------------------------------------------------------
# bans
# ----------------------------------------------------------------------------------------------------

def ban_config(origin, tmp_path, max_retry=3, find_time="10m", ban_time="1h", **top):
    users = users_file(tmp_path, ["alice"])
    keys = str(tmp_path / "keys.yaml")
    key = cli("apikey", "-f", keys, "create", "ci-bot").stdout.strip()
    cfg = simple_config(origin.port, behavior={"access": {"auth": ["api_key", "basic"]}},
                        users={"file": users}, api_keys={"file": keys},
                        ban={"max_retry": max_retry, "find_time": find_time, "ban_time": ban_time}, **top)
    return cfg, key


def test_credential_failures_ban_the_ip_at_accept(sekisho, origin, tmp_path):
    admin_port = free_port()
    cfg, key = ban_config(origin, tmp_path, max_retry=4, find_time="10m", ban_time="1h",
                          admin={"listen": "127.0.0.1:%d" % admin_port})
    sk = sekisho(cfg)
    port = sk.port()
    bad = "127.0.0.2"

    # Requests without credentials are no failures: a browser's first request is always one.
    for _ in range(6):
        assert request(port, src=bad).status == 401
    assert request(port, src=bad, headers={"Authorization": "Bearer " + key}).status == 200
    assert not refused(port, bad)

    # Every kind of credential failure counts: wrong password, unknown user, wrong key, unknown key.
    wrong_key = key[:-1] + ("A" if key[-1] != "A" else "B")
    assert request(port, src=bad, auth=("alice", "nope")).status == 401
    assert request(port, src=bad, auth=("nobody", "nope")).status == 401
    assert request(port, src=bad, headers={"X-Api-Key": wrong_key}).status == 401
    assert not refused(port, bad)
    t_ban = time.time()
    assert request(port, src=bad, headers={"Authorization": "Bearer not-a-key"}).status == 401
    wait_until(lambda: refused(port, bad), timeout=2, what="127.0.0.2 refused at accept")
    # Refused with the right key too; other clients are served; the admin listener is exempt.
    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError)):
        request(port, src=bad, headers={"Authorization": "Bearer " + key})
    assert request(port, headers={"Authorization": "Bearer " + key}).status == 200
    assert request(port, src="127.0.0.3", auth=("alice", PW)).status == 200
    assert request(admin_port, "/healthz", src=bad).status == 200

    assert re.search(r"ban: 127\.0\.0\.2 banned for 3600s after 4 credential failures within 600s",
                     sk.stderr_text()), sk.stderr_text()
    bans = ban_list(sk)
    assert set(bans) == {bad}, bans
    assert abs(utc(bans[bad]) - (t_ban + 3600)) < 5, bans

    # remove: accepted again within a second; removing twice is an error.
    p = cli("ban", "-c", sk.config_path, "remove", bad)
    assert p.stdout.strip() == "unbanned 127.0.0.2", p.stdout
    wait_until(lambda: not refused(port, bad), timeout=1.5, what="127.0.0.2 accepted again")
    assert request(port, src=bad, auth=("alice", PW)).status == 200
    p = cli("ban", "-c", sk.config_path, "remove", bad, check=False)
    assert p.returncode == 1 and "127.0.0.2 is not banned" in p.stderr, (p.returncode, p.stdout, p.stderr)


def test_failures_outside_find_time_do_not_ban(sekisho, origin, tmp_path):
    cfg, _ = ban_config(origin, tmp_path, max_retry=3, find_time="1s", ban_time="1h")
    sk = sekisho(cfg)
    port = sk.port()
    bad = "127.0.0.2"
    t0 = time.time()
    assert request(port, src=bad, auth=("alice", "a")).status == 401
    assert request(port, src=bad, auth=("alice", "b")).status == 401
    time.sleep(max(0.0, t0 + 2.3 - time.time()))
    assert request(port, src=bad, auth=("alice", "c")).status == 401
    assert request(port, src=bad, auth=("alice", "d")).status == 401
    time.sleep(0.3)
    assert not refused(port, bad)
    # The third failure inside the window bans.
    assert request(port, src=bad, auth=("alice", "e")).status == 401
    wait_until(lambda: refused(port, bad), timeout=2, what="127.0.0.2 refused at accept")
    assert set(ban_list(sk)) == {bad}


def test_ban_cli_add_list_remove_on_a_running_server(sekisho, origin, tmp_path):
    cfg, _ = ban_config(origin, tmp_path, ban_time="2h")
    sk = sekisho(cfg)
    port = sk.port()
    for ip in ("127.0.0.2", "127.0.0.3", "127.0.0.4"):
        assert not refused(port, ip)

    t = time.time()
    p = cli("ban", "-c", sk.config_path, "add", "127.0.0.2", "--for", "30m")
    m = re.fullmatch(r"banned 127\.0\.0\.2 until (\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ)\n", p.stdout)
    assert m, p.stdout
    assert abs(utc(m.group(1)) - (t + 1800)) < 5, p.stdout
    p = cli("ban", "-c", sk.config_path, "add", "127.0.0.3")  # the configured ban_time
    m = re.fullmatch(r"banned 127\.0\.0\.3 until (\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ)\n", p.stdout)
    assert m and abs(utc(m.group(1)) - (t + 7200)) < 5, p.stdout
    p = cli("ban", "-c", sk.config_path, "add", "127.0.0.4", "--for", "0")
    assert p.stdout == "banned 127.0.0.4 until removed\n", p.stdout

    for ip in ("127.0.0.2", "127.0.0.3", "127.0.0.4"):
        wait_until(lambda: refused(port, ip), timeout=1.5, what="%s refused at accept" % ip)
    assert not refused(port, "127.0.0.5")
    assert request(port, auth=("alice", PW)).status == 200

    bans = ban_list(sk)
    assert set(bans) == {"127.0.0.2", "127.0.0.3", "127.0.0.4"}, bans
    assert abs(utc(bans["127.0.0.2"]) - (t + 1800)) < 5 and abs(utc(bans["127.0.0.3"]) - (t + 7200)) < 5
    assert bans["127.0.0.4"] == "until removed"

    p = cli("ban", "-c", sk.config_path, "remove", "127.0.0.4")
    assert p.stdout == "unbanned 127.0.0.4\n"
    wait_until(lambda: not refused(port, "127.0.0.4"), timeout=1.5, what="127.0.0.4 accepted again")
    assert refused(port, "127.0.0.2") and refused(port, "127.0.0.3")
    assert set(ban_list(sk)) == {"127.0.0.2", "127.0.0.3"}


def test_spoofed_forwarded_for_does_not_choose_who_is_banned(sekisho, origin, tmp_path):
    cfg, _ = ban_config(origin, tmp_path, max_retry=3)
    sk = sekisho(cfg)
    port = sk.port()
    for i in range(3):
        r = request(port, src="127.0.0.2", auth=("alice", "bad-%d" % i),
                    headers={"X-Forwarded-For": "127.0.0.5"})
        assert r.status == 401
    wait_until(lambda: refused(port, "127.0.0.2"), timeout=2, what="the peer 127.0.0.2 refused")
    assert set(ban_list(sk)) == {"127.0.0.2"}
    assert not refused(port, "127.0.0.5")
    assert "127.0.0.5" not in sk.stderr_text()


def test_behind_a_trusted_proxy_the_client_is_banned_not_the_proxy(sekisho, origin, tmp_path):
    cfg, _ = ban_config(origin, tmp_path, max_retry=3, trusted_proxies=["127.0.0.3/32"])
    sk = sekisho(cfg)
    port = sk.port()
    for i in range(3):
        r = request(port, src="127.0.0.3", auth=("alice", "bad-%d" % i),
                    headers={"X-Forwarded-For": "127.0.0.6"})
        assert r.status == 401
    wait_until(lambda: "127.0.0.6" in ban_list(sk), timeout=2, what="127.0.0.6 in the ban list")
    assert set(ban_list(sk)) == {"127.0.0.6"}
    # The proxy itself keeps being served (other clients behind it are not locked out).
    time.sleep(0.3)
    assert not refused(port, "127.0.0.3")
    r = request(port, src="127.0.0.3", auth=("alice", PW), headers={"X-Forwarded-For": "127.0.0.7"})
    assert r.status == 200
    # A connection straight from the banned address is refused at accept.
    wait_until(lambda: refused(port, "127.0.0.6"), timeout=2, what="127.0.0.6 refused at accept")


# ----------------------------------------------------------------------------------------------------
# durability
# ----------------------------------------------------------------------------------------------------

def test_tallies_and_bans_survive_restart_and_kill_9(sekisho, origin, tmp_path):
    users = users_file(tmp_path, ["alice", "bob"])
    cfg = lockout_config(origin, users, deny=3, unlock="15m",
                         ban={"max_retry": 8, "find_time": "10m", "ban_time": "1h"},
                         state={"path": str(tmp_path / "var")})
    sk = sekisho(cfg)
    # Two failures for alice from 127.0.0.1, which stays below the ban threshold (with the 4 failed
    # attempts below, 6 < 8).
    for i in range(2):
        assert request(sk.port(), auth=("alice", "bad-%d" % i)).status == 401
    # 127.0.0.2 gets banned through failures on bob.
    for i in range(8):
        assert request(sk.port(), src="127.0.0.2", auth=("bob", "bad-%d" % i)).status == 401
    wait_until(lambda: refused(sk.port(), "127.0.0.2"), timeout=2, what="127.0.0.2 refused")
    assert sk.stop() == (0, False)

    # A clean restart on the same state path.
    sk2 = sekisho(cfg)
    assert failures(sk2, "alice") == 2
    assert failures(sk2, "bob") == 8
    assert refused(sk2.port(), "127.0.0.2")
    assert set(ban_list(sk2)) == {"127.0.0.2"}
    # One more failure locks alice: the restarted server counts on from 2.
    assert request(sk2.port(), auth=("alice", "bad-2")).status == 401
    assert request(sk2.port(), auth=("alice", PW)).status == 401
    cli("ban", "-c", sk2.config_path, "add", "127.0.0.4", "--for", "0")
    wait_until(lambda: refused(sk2.port(), "127.0.0.4"), timeout=1.5, what="127.0.0.4 refused")

    # kill -9, then a new instance: everything written before the kill is there.
    os.kill(sk2.pid, signal.SIGKILL)
    assert sk2.wait(5) == -signal.SIGKILL
    sk3 = sekisho(cfg)
    assert failures(sk3, "alice") >= 3
    assert refused(sk3.port(), "127.0.0.2") and refused(sk3.port(), "127.0.0.4")
    assert not refused(sk3.port(), "127.0.0.3")
    assert request(sk3.port(), auth=("alice", PW)).status == 401  # still locked
    assert request(sk3.port(), auth=("bob", PW)).status == 401  # 8 failures on bob: locked too
    bans = ban_list(sk3)
    assert set(bans) == {"127.0.0.2", "127.0.0.4"} and bans["127.0.0.4"] == "until removed", bans
    tally(sk3, reset=True)
    assert request(sk3.port(), auth=("alice", PW)).status == 200


# ----------------------------------------------------------------------------------------------------
# more: expiry, concurrency, the login form
# ----------------------------------------------------------------------------------------------------

def test_ban_expires_after_ban_time(sekisho, origin, tmp_path):
    cfg, _ = ban_config(origin, tmp_path, max_retry=2, find_time="10m", ban_time="2s")
    sk = sekisho(cfg)
    port = sk.port()
    cli("ban", "-c", sk.config_path, "add", "127.0.0.9", "--for", "0")  # keeps the list non-empty
    assert request(port, src="127.0.0.2", auth=("alice", "a")).status == 401
    assert request(port, src="127.0.0.2", auth=("alice", "b")).status == 401
    t_ban = time.time()
    wait_until(lambda: refused(port, "127.0.0.2"), timeout=2, what="127.0.0.2 refused")
    assert "ban: 127.0.0.2 banned for 2s after 2 credential failures within 600s" in sk.stderr_text()
    time.sleep(max(0.0, t_ban + 1.0 - time.time()))
    assert refused(port, "127.0.0.2")
    # Accepted again once ban_time has passed (the whole-second margin is allowed for).
    wait_until(lambda: not refused(port, "127.0.0.2"), timeout=t_ban + 4.0 - time.time(), interval=0.1,
               what="127.0.0.2 accepted after ban_time")
    assert time.time() > t_ban + 1.0
    assert set(ban_list(sk)) == {"127.0.0.9"}
    assert request(port, src="127.0.0.2", auth=("alice", PW)).status == 200


def concurrently(n, fn):
    out = [None] * n
    errs = []

    def run(i):
        try:
            out[i] = fn(i)
        except Exception as e:  # noqa: BLE001 - reported below
            errs.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errs, errs
    return out


def test_concurrent_failures_are_all_counted(sekisho, origin, tmp_path):
    users = users_file(tmp_path, ["alice"])
    sk = sekisho(lockout_config(origin, users, deny=50, unlock="15m",
                                ban={"max_retry": 8, "find_time": "10m", "ban_time": "1h"}))
    port = sk.port()
    # 24 distinct wrong passwords at once from 24 addresses (no address reaches max_retry): no update of
    # the tally may be lost.
    statuses = concurrently(24, lambda i: request(port, auth=("alice", "wrong-%d" % i),
                                                  src="127.0.1.%d" % (i + 1)).status)
    assert set(statuses) <= {401, 429}, statuses
    assert failures(sk, "alice") == statuses.count(401)
    assert statuses.count(401) >= 16, statuses

    # 8 at once from one address: once 8 failures are counted (401s; a 429 is no verdict), it is banned.
    statuses = concurrently(8, lambda i: request(port, auth=("alice", "again-%d" % i),
                                                 src="127.0.0.2").status)
    assert set(statuses) <= {401, 429}, statuses
    n = statuses.count(401)
    while n < 8:
        s = request(port, auth=("alice", "more-%d" % n), src="127.0.0.2").status
        assert s in (401, 429)
        n += s == 401
        time.sleep(0.05 if s == 429 else 0)
    wait_until(lambda: refused(port, "127.0.0.2"), timeout=2, what="127.0.0.2 refused after 8 failures")
    assert "after 8 credential failures" in sk.stderr_text()


def login_form(port, src, user, password, rd="/x"):
    """GET the login page (csrf cookie + field), POST the form. Returns (status, body text)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(src, 0))
    try:
        c.request("GET", "/.sekisho/login?rd=" + rd, headers={"Host": "app.test", "Accept": "text/html"})
        r = c.getresponse()
        page = r.read().decode()
        assert r.status == 200, (r.status, page)
        cookie = r.getheader("Set-Cookie").split(";", 1)[0]
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        body = urllib.parse.urlencode({"csrf": csrf, "rd": rd, "username": user, "password": password})
        c.request("POST", "/.sekisho/login", body=body,
                  headers={"Host": "app.test", "Accept": "text/html", "Cookie": cookie,
                           "Content-Type": "application/x-www-form-urlencoded"})
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


def test_login_form_failures_lock_and_ban(sekisho, origin, tmp_path):
    users = users_file(tmp_path, ["alice", "bob"])
    cfg = simple_config(origin.port, behavior={"access": {"auth": ["session"]}}, users={"file": users},
                        session={"key_file": str(tmp_path / "var0" / "session.key")},
                        lockout={"deny": 2, "unlock_time": "15m"},
                        ban={"max_retry": 4, "find_time": "10m", "ban_time": "1h"})
    sk = sekisho(cfg)
    port = sk.port()
    assert login_form(port, "127.0.0.1", "alice", PW)[0] == 303
    wrong = None
    for i in range(2):
        wrong = login_form(port, "127.0.0.2", "alice", "bad-%d" % i)
        assert wrong[0] == 401 and "Wrong username or password." in wrong[1], wrong
    assert failures(sk, "alice") == 2
    # Locked: the right password gets the same page as a wrong one (the csrf token aside).
    locked = login_form(port, "127.0.0.3", "alice", PW)
    strip = lambda t: re.sub(r'name="csrf" value="[^"]+"', "", t)  # noqa: E731
    assert (locked[0], strip(locked[1])) == (wrong[0], strip(wrong[1]))
    assert login_form(port, "127.0.0.3", "bob", PW)[0] == 303

    # Two more failed logins from 127.0.0.2 (4 within find_time): banned at accept.
    assert login_form(port, "127.0.0.2", "nobody", "x")[0] == 401
    assert login_form(port, "127.0.0.2", "bob", "x")[0] == 401
    wait_until(lambda: refused(port, "127.0.0.2"), timeout=2, what="127.0.0.2 refused at accept")
    assert "ban: 127.0.0.2 banned for 3600s after 4 credential failures within 600s" in sk.stderr_text()


def test_ban_time_zero_bans_until_removed(sekisho, origin, tmp_path):
    cfg, _ = ban_config(origin, tmp_path, max_retry=2, find_time="10m", ban_time="0")
    sk = sekisho(cfg)
    port = sk.port()
    for i in range(2):
        assert request(port, src="127.0.0.2", auth=("alice", "bad-%d" % i)).status == 401
    wait_until(lambda: refused(port, "127.0.0.2"), timeout=2, what="127.0.0.2 refused")
    assert ban_list(sk) == {"127.0.0.2": "until removed"}
    p = cli("ban", "-c", sk.config_path, "add", "127.0.0.3")  # the configured ban_time: until removed
    assert p.stdout == "banned 127.0.0.3 until removed\n", p.stdout
    assert ban_list(sk) == {"127.0.0.2": "until removed", "127.0.0.3": "until removed"}
    cli("ban", "-c", sk.config_path, "remove", "127.0.0.2")
    wait_until(lambda: not refused(port, "127.0.0.2"), timeout=1.5, what="127.0.0.2 accepted again")


def test_bans_on_a_dual_stack_listener(sekisho, origin, tmp_path):
    port = free_port()
    cfg, _ = ban_config(origin, tmp_path, max_retry=2)
    cfg["listeners"] = [{"name": "web", "listen": "[::]:%d" % port}]
    sk = sekisho(cfg)
    # An IPv4 client reaches the dual-stack socket as ::ffff:127.0.0.2; it is banned as 127.0.0.2.
    for i in range(2):
        assert request(port, src="127.0.0.2", auth=("alice", "bad-%d" % i)).status == 401
    wait_until(lambda: refused(port, "127.0.0.2"), timeout=2, what="127.0.0.2 refused")
    assert set(ban_list(sk)) == {"127.0.0.2"}
    assert not refused(port, "127.0.0.3") and not refused(port, "::1")
    # An IPv6 ban, and a ban given in the mapped form.
    cli("ban", "-c", sk.config_path, "add", "::1")
    p = cli("ban", "-c", sk.config_path, "add", "::ffff:127.0.0.3")
    assert p.stdout.startswith("banned 127.0.0.3 until "), p.stdout
    wait_until(lambda: refused(port, "::1"), timeout=1.5, what="::1 refused")
    wait_until(lambda: refused(port, "127.0.0.3"), timeout=1.5, what="127.0.0.3 refused")
    assert set(ban_list(sk)) == {"127.0.0.2", "127.0.0.3", "::1"}
    assert not refused(port, "127.0.0.4")


# NOT COMMITTED: exposes a sekisho bug (UBSan: qsort(NULL, 0, ...) in src/cli/tally.c and src/cli/ban.c
# when the table is empty). Commit once it passes.
def test_cli_tables_when_empty(sekisho, origin, tmp_path):
    users = users_file(tmp_path, ["alice"])
    cfg = lockout_config(origin, users, ban={"max_retry": 5, "find_time": "10m", "ban_time": "1h"})
    sk = sekisho(cfg)
    # A fresh store: the header only, exit 0, no sanitizer report (cli() checks both).
    assert tally_rows(sk) == {}
    assert ban_list(sk) == {}
    assert tally(sk, reset=True).splitlines()[-1] == "cleared 0 failures of 0 accounts"
    # Emptied again after records existed.
    assert request(sk.port(), auth=("alice", "bad")).status == 401
    cli("ban", "-c", sk.config_path, "add", "127.0.0.2")
    assert set(tally_rows(sk)) == {"alice"} and set(ban_list(sk)) == {"127.0.0.2"}
    tally(sk, reset=True)
    cli("ban", "-c", sk.config_path, "remove", "127.0.0.2")
    assert tally_rows(sk) == {}
    assert ban_list(sk) == {}
