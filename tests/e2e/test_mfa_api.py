"""A TOTP second factor for API clients (DESIGN §3 "TOTP", "Bans"): `access: {auth: [basic], mfa: required}`
with the 6-digit code appended to the Basic password or sent in `X-OTP`.

The user is enrolled with the real `sekisho totp -c CFG enroll USER` on the very config the gateway runs;
codes are computed independently with oathtool from the secret in the printed otpauth:// URI. Reasons are
read from the JSON error body (`Accept: application/json`) and from the access log's `reason` field.
"""

import json
import re
import time

import yaml

from stateutil import bcrypt, cli, oathtool, refused, request
from util import free_port, simple_config, wait_until

PW = "tr0ub4dor"


def wrong_code(secret):
    """A well-formed code that is none of the codes of the steps around now."""
    now = int(time.time())
    near = {oathtool(secret, now + 30 * k) for k in range(-3, 4)}
    c = int(oathtool(secret, now))
    while "%06d" % c in near:
        c = (c + 111111) % 1000000
    return "%06d" % c


def enrolled_config(tmp_path, origin, users=("alice",), **top):
    """Writes users.yaml, enrols every user with `sekisho totp enroll` on the returned config, and returns
    (cfg, {user: base32 secret})."""
    var = tmp_path / "var"
    var.mkdir(exist_ok=True)
    h = bcrypt(PW)
    (tmp_path / "users.yaml").write_text("".join("%s: %s\n" % (u, json.dumps({"password": h})) for u in users))
    cfg = simple_config(origin.port, behavior={"access": {"auth": ["basic"], "mfa": "required"}},
                        users={"file": str(tmp_path / "users.yaml")},
                        totp={"issuer": "sekisho", "key_file": str(var / "totp.key")},
                        state={"path": str(var)}, **top)
    cfg["listeners"][0]["listen"] = "127.0.0.1:%d" % free_port()
    path = tmp_path / "enroll.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    secrets = {}
    for u in users:
        uri = cli("totp", "-c", path, "enroll", u).stdout.split("\n")[0]
        m = re.fullmatch(r"otpauth://totp/sekisho:%s\?secret=([A-Z2-7]+)&issuer=sekisho" % u, uri)
        assert m, uri
        secrets[u] = m.group(1)
    return cfg, secrets


def origin_user(origin):
    return [v for k, v in origin.last()["headers"] if k.lower() == "x-auth-user"]


def log_reasons(sk, path):
    return [l.get("reason") for l in sk.log_lines() if l.get("path") == path]


def test_code_appended_or_in_x_otp_once_each(sekisho, origin, tmp_path):
    cfg, secrets = enrolled_config(tmp_path, origin)
    secret = secrets["alice"]
    sk = sekisho(cfg)
    port = sk.port()
    now = int(time.time())
    code_now, code_next = oathtool(secret, now), oathtool(secret, now + 30)
    assert code_now != code_next

    # The password alone: the second factor is missing.
    r = request(port, auth=("alice", PW), path="/1")
    assert r.status == 401 and r.json() == {"error": "mfa_required"}, r
    assert origin.count == 0

    # The code appended to the password: in, and the origin learns who.
    r = request(port, auth=("alice", PW + code_now), path="/2")
    assert r.status == 200, r
    assert origin_user(origin) == ["alice"]

    # The same code again is a replay.
    r = request(port, auth=("alice", PW + code_now), path="/3")
    assert r.status == 401 and r.json() == {"error": "mfa_failed"}, r

    # A wrong password with a right (unused) code: the password is what is wrong.
    r = request(port, auth=("alice", "not-" + PW + code_next), path="/4")
    assert r.status == 401 and r.json() == {"error": "bad_credentials"}, r
    r = request(port, auth=("alice", "not-" + PW), headers={"X-OTP": code_next}, path="/5")
    assert r.status == 401 and r.json() == {"error": "bad_credentials"}, r

    # A wrong code, appended or in X-OTP.
    bad = wrong_code(secret)
    r = request(port, auth=("alice", PW + bad), path="/6")
    assert r.status == 401 and r.json() == {"error": "mfa_failed"}, r
    r = request(port, auth=("alice", PW), headers={"X-OTP": bad}, path="/7")
    assert r.status == 401 and r.json() == {"error": "mfa_failed"}, r

    # The next step's code in X-OTP with the bare password: in (it was not used by the wrong password).
    seen = origin.count
    r = request(port, auth=("alice", PW), headers={"X-OTP": code_next}, path="/8")
    assert r.status == 200, r
    assert origin.count == seen + 1 and origin_user(origin) == ["alice"]
    assert origin.last()["path"] == "/8"
    # ... and only once, whichever way it comes.
    r = request(port, auth=("alice", PW), headers={"X-OTP": code_next}, path="/9")
    assert r.status == 401 and r.json() == {"error": "mfa_failed"}, r
    r = request(port, auth=("alice", PW + code_next), path="/10")
    assert r.status == 401 and r.json() == {"error": "mfa_failed"}, r
    assert origin.count == seen + 1

    expected = {"/1": "mfa_required", "/2": None, "/3": "mfa_failed", "/4": "bad_credentials",
                "/5": "bad_credentials", "/6": "mfa_failed", "/7": "mfa_failed", "/8": None,
                "/9": "mfa_failed", "/10": "mfa_failed"}
    wait_until(lambda: len(sk.log_lines()) >= len(expected), what="access log lines")
    for p, reason in expected.items():
        assert log_reasons(sk, p) == [reason], (p, sk.log_lines())
    ok = [l for l in sk.log_lines() if l.get("path") in ("/2", "/8")]
    assert [(l["status"], l["user"]) for l in ok] == [(200, "alice"), (200, "alice")], ok
    # The codes and the password never reach the logs.
    text = open(sk.access_log).read() + sk.stderr_text()
    assert PW not in text and code_now not in text and code_next not in text


def test_wrong_codes_count_towards_a_ban(sekisho, origin, tmp_path):
    cfg, secrets = enrolled_config(tmp_path, origin,
                                   ban={"max_retry": 3, "find_time": "10m", "ban_time": "1h"})
    sk = sekisho(cfg)
    port = sk.port()
    bad = wrong_code(secrets["alice"])
    # Missing codes are no failures (the client may simply not know it needs one yet).
    for _ in range(4):
        assert request(port, auth=("alice", PW), src="127.0.0.2").status == 401
    assert not refused(port, "127.0.0.2")
    for _ in range(3):
        r = request(port, auth=("alice", PW + bad), src="127.0.0.2")
        assert r.status == 401 and r.json() == {"error": "mfa_failed"}
    wait_until(lambda: refused(port, "127.0.0.2"), timeout=2, what="127.0.0.2 refused at accept")
    assert "ban: 127.0.0.2 banned for 3600s after 3 credential failures within 600s" in sk.stderr_text()
    # The right password and code still work from elsewhere.
    assert request(port, auth=("alice", PW + oathtool(secrets["alice"]))).status == 200


def test_used_code_stays_used_across_a_restart(sekisho, origin, tmp_path):
    cfg, secrets = enrolled_config(tmp_path, origin)
    sk = sekisho(cfg)
    code = oathtool(secrets["alice"], int(time.time()))
    assert request(sk.port(), auth=("alice", PW + code)).status == 200
    assert sk.stop() == (0, False)
    sk2 = sekisho(cfg)
    r = request(sk2.port(), auth=("alice", PW + code))
    assert r.status == 401 and r.json() == {"error": "mfa_failed"}, r
