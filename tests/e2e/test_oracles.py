"""No oracle through timing or caching (DESIGN §3, last bullet), the session cookie tried in turn (issue 9
item 13) and the access deadline's answer (issue 10 item 4).

Timing checks are statistical and built for a loaded machine: the two populations are interleaved (A, B,
A, B, ...) on one keep-alive connection so that load hits both alike, and their medians are compared by
a ratio with a wide margin, never against an absolute time. Each effect they look for is large where it
exists (a skipped hash, a skipped store write, a hash of another kind) and absent after the fix.
"""

import base64
import http.client
import json
import os
import re
import signal
import statistics
import subprocess
import threading
import time
import urllib.parse

import yaml

from redisutil import redis_server  # noqa: F401  (fixture)
from stateutil import bcrypt, cli, request
from util import simple_config

PW = "right horse"


def basic(user, pw):
    return "Basic " + base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()


class Client:
    """One keep-alive connection; each call returns (status, body, headers without Date, seconds)."""

    def __init__(self, port):
        self.port = port
        self.conn = None

    def get(self, auth=None, headers=None):
        h = {"Host": "app.test", "Accept": "application/json"}
        if auth:
            h["Authorization"] = basic(*auth)
        h.update(headers or {})
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
                self.conn.connect()
            try:
                t0 = time.perf_counter()
                self.conn.request("GET", "/", headers=h)
                r = self.conn.getresponse()
                body = r.read()
                dt = time.perf_counter() - t0
                hs = sorted((k.lower(), v) for k, v in r.getheaders() if k.lower() != "date")
                if r.getheader("Connection", "").lower() == "close":
                    self.close()
                return r.status, body, hs, dt
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def interleaved(port, a, b, n):
    """n requests with credentials a and n with b, alternating; returns the answers and times of each."""
    c = Client(port)
    ra, rb = [], []
    try:
        for _ in range(n):
            ra.append(c.get(auth=a))
            rb.append(c.get(auth=b))
    finally:
        c.close()
    return ra, rb


def median_ms(rs):
    return statistics.median(r[3] for r in rs) * 1000


def users_file(tmp_path, entries):
    path = tmp_path / "users.yaml"
    path.write_text("".join("%s: %s\n" % (n, json.dumps({"password": h})) for n, h in entries))
    return str(path)


def argon2id(tmp_path, pw):
    """An argon2id hash from `sekisho passwd` (m=19 MiB, t=2: tens of ms, far above bcrypt at cost 5)."""
    f = tmp_path / "argon.yaml"
    cli("passwd", "-f", str(f), "x", "--stdin", "--algo", "argon2id", input=pw + "\n")
    return yaml.safe_load(f.read_text())["x"]["password"]


def lockout_config(origin, users, deny, **top):
    return simple_config(origin.port, behavior={"access": {"auth": ["basic"]}}, users={"file": users},
                         lockout={"deny": deny, "unlock_time": "15m"}, **top)


# ----------------------------------------------------------------------------------------------------
# (a) a locked account: its right password is neither verified nor cached
# ----------------------------------------------------------------------------------------------------

def test_locked_account_right_password_costs_and_reads_like_a_wrong_one(sekisho, origin, tmp_path):
    # bcrypt at cost 8 (~16 ms): a cached or skipped verification answers an order of magnitude faster.
    users = users_file(tmp_path, [("alice", bcrypt(PW, cost=8))])
    sk = sekisho(lockout_config(origin, users, deny=3))
    port = sk.port()
    # A success first: the right password is in the verified-credential cache when the lock comes.
    assert request(port, auth=("alice", PW)).status == 200
    for i in range(3):
        assert request(port, auth=("alice", "bad-%d" % i)).status == 401
    right, wrong = interleaved(port, ("alice", PW), ("alice", "nope"), 16)
    # The same answer, byte for byte (Date aside), every time.
    for r in right + wrong:
        assert r[:3] == wrong[0][:3], (r[:3], wrong[0][:3])
    assert wrong[0][0] == 401 and json.loads(wrong[0][1]) == {"error": "bad_credentials"}
    # The same cost: no cache hit before or during the lock, no verification that then gets cached.
    m_right, m_wrong = median_ms(right), median_ms(wrong)
    assert m_right > 0.35 * m_wrong, "locked: right password %.2f ms, wrong %.2f ms" % (m_right, m_wrong)
    # And the second and later tries of the right password are not faster than its first.
    later = statistics.median(r[3] for r in right[1:]) * 1000
    assert later > 0.35 * m_wrong, "locked: right password again %.2f ms, wrong %.2f ms" % (later, m_wrong)
    assert origin.count == 1


def test_locked_account_costs_its_own_hash_among_mixed_kinds(sekisho, origin, tmp_path):
    # The stand-in is like the argon2id account (tens of ms): a locked bcrypt account verified against it
    # would answer far slower than a wrong password of a bcrypt account (about 2 ms), telling it is locked.
    h = bcrypt(PW, cost=5)
    users = users_file(tmp_path, [("alice", h), ("bob", h), ("argon", argon2id(tmp_path, PW))])
    sk = sekisho(lockout_config(origin, users, deny=3))
    port = sk.port()
    for i in range(3):
        assert request(port, auth=("alice", "bad-%d" % i)).status == 401
    c = Client(port)
    right, wrong = [], []
    try:
        for _ in range(12):
            right.append(c.get(auth=("alice", PW)))
            wrong.append(c.get(auth=("bob", "nope")))
            assert c.get(auth=("bob", PW))[0] == 200  # a success resets bob's tally: bob never locks
    finally:
        c.close()
    for r in right + wrong:
        assert r[:3] == wrong[0][:3]
    assert wrong[0][0] == 401
    m_right, m_wrong = median_ms(right), median_ms(wrong)
    assert m_right < 3.0 * m_wrong, "locked bcrypt account %.2f ms, wrong bcrypt password %.2f ms" % (
        m_right, m_wrong)


def test_right_password_right_after_the_locking_failure_is_refused(sekisho, origin, tmp_path):
    # The next request after the locking failure, sent at once on the same connection with the right
    # (cached) password, must find the account locked: the failure is counted before its 401.
    users = users_file(tmp_path, [("alice", bcrypt(PW))])
    sk = sekisho(lockout_config(origin, users, deny=2, state={"path": str(tmp_path / "var")}))
    port = sk.port()
    c = Client(port)
    try:
        for round in range(8):
            assert c.get(auth=("alice", PW))[0] == 200  # cached, and the tally is 0
            assert c.get(auth=("alice", "bad-a"))[0] == 401
            assert c.get(auth=("alice", "bad-b"))[0] == 401
            r = c.get(auth=("alice", PW))
            assert r[0] == 401 and json.loads(r[1]) == {"error": "bad_credentials"}, (round, r[:2])
            cli("tally", "-c", sk.config_path, "--user", "alice", "--reset")
    finally:
        c.close()


# ----------------------------------------------------------------------------------------------------
# (b) lockout on: a wrong password of a real account costs what an unknown name costs
# ----------------------------------------------------------------------------------------------------

def test_lockout_failure_count_does_not_tell_real_accounts(sekisho, origin, tmp_path):
    # The cheapest bcrypt (cost 4, ~1 ms), so that a store write (~0.5 ms, an fsync) is a large part of
    # a failure's cost: main wrote the tally of real accounts only, before the answer.
    users = users_file(tmp_path, [("alice", bcrypt(PW, cost=4))])
    sk = sekisho(lockout_config(origin, users, deny=100000, state={"path": str(tmp_path / "var")}))
    port = sk.port()
    real, unknown = interleaved(port, ("alice", "wrong"), ("mallory", "wrong"), 150)
    for r in real + unknown:
        assert r[:3] == real[0][:3]
    assert real[0][0] == 401
    m_real, m_unknown = median_ms(real), median_ms(unknown)
    # The other way, loosely (a regression guard): an unknown name pays a write of the same cost, no more.
    assert m_real < 1.15 * m_unknown, "real account %.3f ms, unknown name %.3f ms" % (m_real, m_unknown)
    assert m_unknown < 1.3 * m_real, "real account %.3f ms, unknown name %.3f ms" % (m_real, m_unknown)
    # The failures were all counted, and no record was made for the unknown name.
    out = cli("tally", "-c", sk.config_path, "--user", "alice").stdout
    assert " 150 " in out.splitlines()[1] + " ", out
    out = cli("tally", "-c", sk.config_path).stdout
    assert "mallory" not in out and "alice" in out, out


# ----------------------------------------------------------------------------------------------------
# (c) mixed hash kinds: unknown names cost what the costliest account costs
# ----------------------------------------------------------------------------------------------------

def test_unknown_names_cost_like_the_costliest_hash_kind(sekisho, origin, tmp_path):
    entries = [("u%d" % i, bcrypt(PW, cost=5)) for i in range(4)] + [("argon", argon2id(tmp_path, PW))]
    users = users_file(tmp_path, entries)
    sk = sekisho(simple_config(origin.port, behavior={"access": {"auth": ["basic"]}}, users={"file": users}))
    port = sk.port()
    assert request(port, auth=("argon", PW)).status == 200
    argon, unknown = interleaved(port, ("argon", "wrong"), ("nobody", "wrong"), 10)
    for r in argon + unknown:
        assert r[:3] == argon[0][:3]
    m_argon, m_unknown = median_ms(argon), median_ms(unknown)
    assert m_unknown > 0.35 * m_argon, "argon2id account %.2f ms, unknown name %.2f ms" % (m_argon, m_unknown)
    # The other way round: a bcrypt account's wrong password is padded to the stand-in's time, or it would
    # answer far faster than an unknown name and show the account.
    cheap, unknown = interleaved(port, ("u1", "wrong"), ("nobody", "wrong"), 10)
    for r in cheap + unknown:
        assert r[:3] == argon[0][:3]
    m_cheap, m_unknown = median_ms(cheap), median_ms(unknown)
    assert m_cheap > 0.35 * m_unknown, "bcrypt account %.2f ms, unknown name %.2f ms" % (m_cheap, m_unknown)
    assert request(port, auth=("u1", PW)).status == 200


# ----------------------------------------------------------------------------------------------------
# issue 9 item 13: every sekisho_session cookie is tried (up to 4), the first valid one counts
# ----------------------------------------------------------------------------------------------------

def login(port, user, pw):
    """The password login through the form; returns the sekisho_session cookie's value."""
    status, _, sess, _ = login_form(port, user, pw)
    assert status == 303 and sess, (status, sess)
    return sess


def login_form(port, user, pw):
    """Posts the login form: (status, page text, the sekisho_session cookie's value or None, seconds the
    POST took)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", "/.sekisho/login", headers={"Host": "app.test"})
        r = c.getresponse()
        page = r.read().decode()
        csrf = [v.split(";")[0].split("=", 1)[1] for k, v in r.getheaders()
                if k.lower() == "set-cookie" and v.startswith("sekisho_csrf=")]
        assert r.status == 200 and len(csrf) == 1, (r.status, r.getheaders())
        token = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        form = urllib.parse.urlencode({"csrf": token, "username": user, "password": pw})
        t0 = time.perf_counter()
        c.request("POST", "/.sekisho/login", body=form,
                  headers={"Host": "app.test", "Cookie": "sekisho_csrf=" + csrf[0],
                           "Content-Type": "application/x-www-form-urlencoded"})
        r = c.getresponse()
        text = r.read().decode()
        dt = time.perf_counter() - t0
        sess = [v.split(";")[0].split("=", 1)[1] for k, v in r.getheaders()
                if k.lower() == "set-cookie" and v.startswith("sekisho_session=")]
        assert len(sess) <= 1, r.getheaders()
        return r.status, text, sess[0] if sess else None, dt
    finally:
        c.close()


def test_login_form_refuses_a_locked_account_like_a_wrong_password(sekisho, origin, tmp_path):
    users = users_file(tmp_path, [("alice", bcrypt(PW, cost=8))])
    sk = sekisho(simple_config(origin.port, behavior={"access": {"auth": ["session"]}}, users={"file": users},
                               state={"path": str(tmp_path / "var")}, lockout={"deny": 2, "unlock_time": "15m"}))
    port = sk.port()
    login(port, "alice", PW)  # a success first: the right password is cached
    for i in range(2):
        status, text, sess, _ = login_form(port, "alice", "bad-%d" % i)
        assert status == 401 and sess is None and "Wrong username or password." in text
    right, wrong = [], []
    for i in range(12):
        right.append(login_form(port, "alice", PW))
        wrong.append(login_form(port, "alice", "bad-x%d" % i))
    # The same page (but for its fresh CSRF token), no session, and the same cost: the right password was
    # cached before the lock, and must neither be found there nor verified now.
    strip = lambda t: re.sub(r'value="[^"]*"', "", t)  # noqa: E731
    for r in right + wrong:
        assert r[0] == 401 and r[2] is None and strip(r[1]) == strip(wrong[0][1])
    assert "Wrong username or password." in wrong[0][1]
    m_right = statistics.median(r[3] for r in right) * 1000
    m_wrong = statistics.median(r[3] for r in wrong) * 1000
    assert m_right > 0.35 * m_wrong, "login form, locked: right %.2f ms, wrong %.2f ms" % (m_right, m_wrong)
    cli("tally", "-c", sk.config_path, "--user", "alice", "--reset")
    login(port, "alice", PW)


def test_a_bogus_session_cookie_before_the_real_one_does_not_sign_out(sekisho, origin, tmp_path):
    users = users_file(tmp_path, [("alice", bcrypt(PW))])
    sk = sekisho(simple_config(origin.port, behavior={"access": {"auth": ["session"]}}, users={"file": users},
                               state={"path": str(tmp_path / "var")}))
    port = sk.port()
    real = login(port, "alice", PW)
    # A well-formed id with a wrong mac, and plain junk, as a sibling domain or another path could set.
    forged = real[:65] + ("A" if real[65] != "A" else "B") + real[66:]

    def status(cookie):
        return request(port, headers={"Cookie": cookie}).status

    assert status("sekisho_session=" + real) == 200
    assert status("sekisho_session=junk; sekisho_session=" + real) == 200
    assert dict((k.lower(), v) for k, v in origin.last()["headers"])["x-auth-user"] == "alice"
    assert status("sekisho_session=%s; theme=dark; sekisho_session=junk; sekisho_session=%s" % (forged, real)) \
        == 200
    # In separate Cookie fields too.
    r = request(port, headers={"Cookie": "sekisho_session=" + forged})
    assert r.status == 401 and r.json() == {"error": "auth_required"}
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.putrequest("GET", "/", skip_host=True)
    c.putheader("Host", "app.test")
    c.putheader("Accept", "application/json")
    c.putheader("Cookie", "sekisho_session=" + forged)
    c.putheader("Cookie", "sekisho_session=" + real)
    c.endheaders()
    assert c.getresponse().status == 200
    c.close()
    # At most four are looked at: a fifth is not, however valid.
    assert status("; ".join(["sekisho_session=junk%d" % i for i in range(3)] + ["sekisho_session=" + real])) == 200
    r = request(port, headers={"Cookie": "; ".join(["sekisho_session=junk%d" % i for i in range(4)] +
                                                   ["sekisho_session=" + real])})
    assert r.status == 401 and r.json() == {"error": "auth_required"}


# ----------------------------------------------------------------------------------------------------
# issue 10 item 4: the access deadline says what the request was waiting on
# ----------------------------------------------------------------------------------------------------

def test_deadline_on_the_hashing_queue_is_429(sekisho, origin, tmp_path):
    # bcrypt at cost 14 (about a second) against a 300 ms deadline: the request is still waiting on its
    # verification when the deadline passes.
    users = users_file(tmp_path, [("alice", bcrypt(PW, cost=14))])
    sk = sekisho(simple_config(origin.port, behavior={"access": {"auth": ["basic"]}}, users={"file": users},
                               timeouts={"send": "300ms"}))
    t = time.monotonic()
    r = request(sk.port(), auth=("alice", "wrong"))
    assert r.status == 429 and r.json() == {"error": "too_many_attempts"}, r
    assert time.monotonic() - t < 0.9
    assert sk.wait_log(lambda l: l.get("status") == 429 and l.get("reason") == "too_many_attempts")
    assert origin.count == 0


def test_deadline_on_the_state_store_is_503(sekisho, origin, redis_server, tmp_path):
    users = users_file(tmp_path, [("alice", bcrypt(PW))])
    sk = sekisho(simple_config(origin.port, behavior={"access": {"auth": ["basic"]}}, users={"file": users},
                               state={"redis": redis_server.url}, lockout={"deny": 3, "unlock_time": "15m"},
                               timeouts={"send": "300ms"}))
    port = sk.port()
    assert request(port, auth=("alice", PW)).status == 200
    os.kill(redis_server.pid, signal.SIGSTOP)  # Redis hangs: a store call waits up to its own 1 s timeout
    try:
        t = time.monotonic()
        r = request(port, auth=("alice", "wrong"))
        assert r.status == 503 and r.json() == {"error": "state_unavailable"}, r
        assert time.monotonic() - t < 0.9  # the 300 ms deadline answered, not the store's own timeout
    finally:
        os.kill(redis_server.pid, signal.SIGCONT)
    assert sk.wait_log(lambda l: l.get("status") == 503 and l.get("reason") == "state_unavailable")
