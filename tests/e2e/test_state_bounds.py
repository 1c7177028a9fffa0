"""Bounds of the state store (issue 9 items 1 and 5; DESIGN §4): a record never outgrows its value limit
whatever the config says, and the store's size follows live state, not history.

- `ban: { max_retry: 100 }` (the most the config accepts) and failed Basic logins from one address: the
  process stays up, the address is banned at the 100th failure and refused at accept after it; on LMDB
  and on a real Redis, where hostile overlong values planted under sekisho's keys read as absent.
- A flood of malformed credentials from 300 loopback addresses with 2 s windows: the records appear, then
  go within seconds of their expiry (LMDB has no expiry of its own: the server sweeps), counted both by
  the `sekisho_state_records` gauge and by `mdb_stat` on the file; `state.max_size` is the
  `sekisho_state_max_bytes` gauge.
- Every Redis record with an expiry carries a PTTL (windows, bans, TOTP marks, sessions at their idle
  limit); a ban that ends past Redis's expiry range is still stored.
- A `state.max_size` smaller than the data already in state.mdb is a clear start error.
- A full map (filled beforehand with LMDB's own mdb_load) answers 503 `state_unavailable` where a write is
  needed, says so in one log line, keeps serving what needs no write, and works again once the sweep has
  removed what expired.

Requests come from chosen 127.x.y.z source addresses (stateutil.request / refused); a refusal at accept is
a connection closed without a byte of HTTP.
"""

import concurrent.futures
import json
import os
import re
import subprocess
import time

import yaml

from stateutil import bcrypt, cli, oathtool, refused, request, table
from util import free_port, read_metrics, simple_config, wait_until

PW = "correct horse"
GARBAGE = {"Authorization": "Basic !!!not-base64!!!"}


def users_file(tmp_path):
    path = tmp_path / "users.yaml"
    path.write_text("alice: %s\n" % json.dumps({"password": bcrypt(PW)}))
    return str(path)


def ban_list(cfg_path):
    out = cli("ban", "-c", cfg_path, "list").stdout
    head, rows = table(out)
    assert head == ["IP", "Banned until"], out
    return {r[0]: r[1] for r in rows}


def assert_healthy(sk):
    assert sk.alive(), sk.stderr_text()
    assert "assertion failed" not in sk.stderr_text()


def fail_until_banned(sk, src, max_retry, user="alice"):
    """max_retry failed logins from src: each a 401 while the process stays up; not banned after
    max_retry - 1 of them, refused at accept after the last."""
    port = sk.port()
    for i in range(1, max_retry + 1):
        r = request(port, auth=(user, "wrong-%d" % i), src=src)
        assert r.status == 401 and r.json() == {"error": "bad_credentials"}, (i, r)
        if i == max_retry - 1:
            assert_healthy(sk)
            assert not refused(port, src)  # a request without credentials is no failure
    assert_healthy(sk)
    assert refused(port, src)
    # What an attacker does next changes nothing: more tries are refused before a byte is read.
    for _ in range(100):
        assert refused(port, src)
    assert_healthy(sk)
    # Another address is untouched.
    assert request(port, auth=("alice", PW), src="127.0.0.9").status == 200


def test_max_retry_100_on_lmdb(sekisho, origin, tmp_path):
    cfg = simple_config(origin.port, behavior={"access": {"auth": ["basic"]}}, users={"file": users_file(tmp_path)},
                        state={"path": str(tmp_path / "state")},
                        ban={"max_retry": 100, "find_time": "10m", "ban_time": "1h"})
    sk = sekisho(cfg)
    fail_until_banned(sk, "127.0.0.2", 100)
    assert "127.0.0.2" in ban_list(sk.config_path)
    assert "ban: 127.0.0.2 banned for 3600s after 100 credential failures" in sk.stderr_text()
    # The records survive a restart, and so does the process (it used to die again at the next failure).
    sk.stop()
    sk = sekisho(cfg)
    assert refused(sk.port(), "127.0.0.2")
    for i in range(99):
        assert request(sk.port(), auth=("alice", "again-%d" % i), src="127.0.0.3").status == 401
    assert_healthy(sk)
    assert not refused(sk.port(), "127.0.0.3")


def test_max_retry_100_on_redis_with_hostile_values(sekisho, origin, redis_server, tmp_path):
    cfg = simple_config(origin.port, behavior={"access": {"auth": ["basic"]}}, users={"file": users_file(tmp_path)},
                        state={"redis": redis_server.url},
                        lockout={"deny": 5, "unlock_time": "15m"},
                        ban={"max_retry": 100, "find_time": "10m", "ban_time": "1h"})
    # Values no sekisho wrote, longer than any record: they read as absent, never past a buffer.
    big = "9" * 5000
    for key in ("sekisho:fails:127.0.0.4", "sekisho:tally:alice", "sekisho:ban:127.0.0.5"):
        redis_server.cli("SET", key, big)
    sk = sekisho(cfg)
    assert request(sk.port(), auth=("alice", PW), src="127.0.0.5").status == 200
    fail_until_banned(sk, "127.0.0.4", 100, user="mallory")  # alice has lockout deny 5
    assert "127.0.0.4" in ban_list(sk.config_path)
    # The window Redis holds stays small, with a TTL; the ban has one too (ban_time).
    for i in range(50):
        assert request(sk.port(), auth=("bob", "x%d" % i), src="127.0.0.6").status == 401
    # The value is an 8-byte expiry, then the record.
    assert int(redis_server.cli("STRLEN", "sekisho:fails:127.0.0.6")) <= 8 + 1024
    window = redis_server.cli("GETRANGE", "sekisho:fails:127.0.0.6", 8, -1).strip()
    assert re.fullmatch(r"w 1 \d{13}( \d+){49}", window), window
    assert 0 < int(redis_server.cli("PTTL", "sekisho:fails:127.0.0.6")) <= 600000
    assert 0 < int(redis_server.cli("PTTL", "sekisho:ban:127.0.0.4")) <= 3600000
    assert_healthy(sk)


def mdb_entries(state_dir):
    out = subprocess.run(["mdb_stat", "-n", os.path.join(state_dir, "state.mdb")], capture_output=True, text=True,
                         check=True).stdout
    return int(re.search(r"Entries: (\d+)", out).group(1))


def test_malformed_credentials_flood_is_swept(sekisho, origin, tmp_path):
    admin = free_port()
    state_dir = str(tmp_path / "state")
    cfg = simple_config(origin.port, behavior={"access": {"auth": ["basic"]}}, users={"file": users_file(tmp_path)},
                        state={"path": state_dir, "max_size": "64MiB"}, admin={"listen": "127.0.0.1:%d" % admin},
                        lockout={"deny": 3, "unlock_time": "2s"},
                        ban={"max_retry": 3, "find_time": "4s", "ban_time": "2s"})
    sk = sekisho(cfg)
    port = sk.port()
    v = wait_until(lambda: read_metrics(admin).get("sekisho_state_max_bytes") and read_metrics(admin),
                   what="the state gauges")
    assert v["sekisho_state_max_bytes"] == 64 << 20
    before = v["sekisho_state_records"]
    assert before <= 2, v

    sources = ["127.0.%d.%d" % (10 + i // 200, 1 + i % 200) for i in range(300)]

    def one(src):
        return request(port, src=src, headers=GARBAGE).status

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(one, sources))
    t_last = time.monotonic()
    assert statuses == [401] * 300, statuses
    # One failure window per address is written (bans need it), and nothing else.
    n = mdb_entries(state_dir)
    assert 300 <= n <= 302, n
    peak = wait_until(lambda: (lambda m: m["sekisho_state_records"] >= 300 and m)(read_metrics(admin)),
                      timeout=5, what="the gauge to count the windows")
    assert peak["sekisho_state_bytes"] >= 300 * 20, peak
    # The windows expire 4 s after their failure (long enough for the gauge, refreshed by the sync thread,
    # to see them on a loaded machine); the sweep (every 2 s) removes them within seconds of that.
    wait_until(lambda: mdb_entries(state_dir) <= 2, timeout=4 + 5, interval=0.25, what="the sweep")
    assert time.monotonic() - t_last < 4 + 5
    wait_until(lambda: read_metrics(admin)["sekisho_state_records"] <= 2, timeout=3, what="the gauge")
    v = read_metrics(admin)
    assert v["sekisho_state_bytes"] < peak["sekisho_state_bytes"], v
    assert_healthy(sk)


def test_max_size_smaller_than_the_file_is_a_start_error(sekisho, origin, tmp_path):
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    # About 4 MiB of records, loaded with LMDB's own tool.
    dump = ["VERSION=3", "format=bytevalue", "type=btree", "mapsize=67108864", "HEADER=END"]
    value = "00" * 8 + "61" * 1000
    for i in range(4000):
        dump.append(" " + ("k%06d" % i).encode().hex())
        dump.append(" " + value)
    dump.append("DATA=END")
    subprocess.run(["mdb_load", "-n", "-f", "/dev/stdin", str(state_dir / "state.mdb")],
                   input="\n".join(dump) + "\n", text=True, check=True)
    cfg = simple_config(origin.port, behavior={"access": {"auth": ["basic"]}}, users={"file": users_file(tmp_path)},
                        state={"path": str(state_dir), "max_size": "1MiB"},
                        ban={"max_retry": 3, "find_time": "1m", "ban_time": "1m"})
    sk_try = None
    try:
        sk_try = sekisho(cfg)
    except RuntimeError as e:
        msg = str(e)
    else:
        msg = ""
    assert sk_try is None, "sekisho started with a map smaller than its data"
    assert re.search(r"state\.max_size \(1024 KiB\) is smaller than the data state\.mdb already holds", msg), msg
    # With room for the data it starts, and the expiry-less foreign records are left alone.
    cfg["state"]["max_size"] = "64MiB"
    sk = sekisho(cfg)
    assert request(sk.port(), auth=("alice", PW)).status == 200


def mdb_load(path, records, expires_ms, mapsize):
    """Adds records (key, value bytes) with an expiry to an LMDB file with LMDB's own mdb_load; False
    when they did not fit."""
    prefix = expires_ms.to_bytes(8, "little").hex()
    lines = ["VERSION=3", "format=bytevalue", "type=btree", "mapsize=%d" % mapsize, "HEADER=END"]
    for k, v in records:
        lines += [" " + k.encode().hex(), " " + prefix + v.hex()]
    lines.append("DATA=END")
    p = subprocess.run(["mdb_load", "-n", "-f", "/dev/stdin", path], input="\n".join(lines) + "\n", text=True,
                       capture_output=True)
    assert p.returncode == 0 or "MDB_MAP_FULL" in p.stderr, p.stderr
    return p.returncode == 0


def test_full_map_answers_503_then_the_sweep_makes_room(sekisho, origin, tmp_path):
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    path = str(state_dir / "state.mdb")
    # Fill a 1 MiB map to its last pages with records that expire in 15 s: big ones, then smaller ones.
    expires = int(time.time() * 1000) + 15000
    i = 0
    for size, batch in ((1000, 10), (100, 10), (10, 1)):
        while mdb_load(path, [("filler%06d" % (i + j), b"a" * size) for j in range(batch)], expires, 1 << 20):
            i += batch
    assert i > 400, i
    cfg = simple_config(origin.port, behavior={"access": {"auth": ["basic"]}}, users={"file": users_file(tmp_path)},
                        state={"path": str(state_dir), "max_size": "1MiB"},
                        ban={"max_retry": 50, "find_time": "1m", "ban_time": "1m"})
    sk = sekisho(cfg)
    port = sk.port()
    statuses = []
    for n in range(1000):
        r = request(port, auth=("mallory", "x"), src="127.0.%d.%d" % (30 + n // 250, 1 + n % 250))
        statuses.append(r.status)
        if r.status == 503:
            assert r.json() == {"error": "state_unavailable"}, r
            break
        assert r.status == 401, r
    assert statuses[-1] == 503, "the map never filled: %r" % statuses[-20:]
    for n in range(5):
        r = request(port, auth=("mallory", "x"), src="127.0.40.%d" % (1 + n))
        assert r.status == 503 and r.json() == {"error": "state_unavailable"}, r
    # A login that writes nothing still passes.
    assert request(port, auth=("alice", PW), src="127.0.0.1").status == 200
    assert sk.stderr_text().count("state store full: state.mdb reached state.max_size (1024 KiB)") == 1, \
        sk.stderr_text()
    assert sk.wait_log(lambda l: l.get("status") == 503 and l.get("reason") == "state_unavailable")
    # Once the fillers expire the sweep deletes them and failures are counted again.
    time.sleep(max(0.0, expires / 1000.0 - time.time()))
    wait_until(lambda: request(port, auth=("mallory", "x"), src="127.0.41.1").status == 401, timeout=6,
               interval=0.5, what="writes to succeed again")
    wait_until(lambda: mdb_entries(str(state_dir)) < 300, timeout=5, what="the fillers to be swept")
    assert_healthy(sk)


def test_ban_time_beyond_any_calendar_still_bans_on_redis(sekisho, origin, redis_server, tmp_path):
    # 2·10^11 days: the ban's end is past what Redis accepts as an expiry time; the ban must hold anyway.
    cfg = simple_config(origin.port, behavior={"access": {"auth": ["basic"]}}, users={"file": users_file(tmp_path)},
                        state={"redis": redis_server.url},
                        ban={"max_retry": 2, "find_time": "10m", "ban_time": "200000000000d"})
    sk = sekisho(cfg)
    for i in range(2):
        r = request(sk.port(), auth=("mallory", "x%d" % i), src="127.0.0.7")
        assert r.status == 401 and r.json() == {"error": "bad_credentials"}, r
    assert refused(sk.port(), "127.0.0.7")
    assert "127.0.0.7" in ban_list(sk.config_path)
    # The accept path's list is re-read from the store every second: the ban is still there after that.
    time.sleep(1.5)
    assert refused(sk.port(), "127.0.0.7")
    assert_healthy(sk)


def test_redis_records_with_an_expiry_carry_a_ttl(sekisho, origin, redis_server, tmp_path):
    """Sessions (at their idle limit, the sooner one here) and TOTP replay marks get a PTTL in Redis, like
    windows and bans above; a tally has none (pam_tally2 keeps it until reset)."""
    keys = tmp_path / "keys"
    keys.mkdir()
    cfg = simple_config(origin.port, behavior={"access": {"auth": ["basic", "session"], "mfa": "required"}},
                        users={"file": users_file(tmp_path)}, state={"redis": redis_server.url},
                        session={"key_file": str(keys / "session.key"), "idle": "1m", "absolute": "12h"},
                        totp={"issuer": "sekisho", "key_file": str(keys / "totp.key")},
                        lockout={"deny": 5, "unlock_time": "15m"})
    (tmp_path / "enroll.yaml").write_text(yaml.safe_dump(
        dict(cfg, listeners=[{"name": "web", "listen": "127.0.0.1:%d" % free_port()}]), sort_keys=False))
    uri = cli("totp", "-c", tmp_path / "enroll.yaml", "enroll", "alice").stdout.split("\n")[0]
    secret = re.search(r"secret=([A-Z2-7]+)", uri).group(1)
    sk = sekisho(cfg)
    port = sk.port()

    # A TOTP mark: at most (2·skew + 2) · 30 s.
    assert request(port, auth=("alice", PW + oathtool(secret))).status == 200
    assert 0 < int(redis_server.cli("PTTL", "sekisho:totp:alice")) <= 120000
    # A tally: no expiry.
    assert request(port, auth=("alice", "wrong")).status == 401
    assert int(redis_server.cli("PTTL", "sekisho:tally:alice")) == -1

    # A session through the login page (password, then the code): expires at its idle limit, 1 min.
    jar = str(tmp_path / "jar")
    base = ["curl", "-sS", "--max-time", "10", "-c", jar, "-b", jar, "-D", "-", "-H", "Host: app.test"]
    url = "http://127.0.0.1:%d/.sekisho/login" % port
    page = subprocess.run(base + [url + "?rd=/x"], capture_output=True, text=True, check=True).stdout
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    post = subprocess.run(base + ["--data-urlencode", "csrf=" + token, "--data-urlencode", "username=alice",
                                  "--data-urlencode", "password=" + PW, "--data-urlencode", "rd=/x", url],
                          capture_output=True, text=True, check=True).stdout
    assert re.search(r"(?mi)^set-cookie: sekisho_session=", post), post[:600]
    sessions = redis_server.cli("--scan", "--pattern", "sekisho:sess:*").split()
    assert len(sessions) == 1, sessions
    assert 0 < int(redis_server.cli("PTTL", sessions[0])) <= 60000
    assert_healthy(sk)
