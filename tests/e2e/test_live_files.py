"""The users file, htpasswd and the API-key file change without a reload (DESIGN §3, issue 9 item 10).

A running sekisho watches the directories of those files and rebuilds its snapshot within a second of a
change: `sekisho apikey revoke` and `sekisho passwd` take effect without SIGHUP (a password verified and
cached before the change included), a file edited into something that does not parse is refused with a
log line while the old users keep working, and `htpasswd` edits are picked up. Requests open a new
connection each, except in the keep-alive test: a connection opened before the change moves to the new
snapshot at its next request (docs/internals/reload.md).
"""

import base64
import re
import ssl
import subprocess
import time

import requests

from test_tls import tls_config
from tlsutil import pki  # noqa: F401 (fixture)
from util import RawConn, run_cli, simple_config, wait_until

# The brief of the feature: a change applies within a second; 2 s leaves room for a loaded machine.
WITHIN = 2.0


def cli(*args, stdin=None):
    return run_cli(*args, stdin=stdin, check=True).stdout


def set_password(users, user, password):
    out = cli("passwd", "-f", users, user, "--stdin", "--algo", "bcrypt", stdin=password + "\n")
    assert password not in out


def status(sk, auth=None, **headers):
    headers.setdefault("Host", "app.test")
    return requests.get(sk.url + "/", auth=auth, headers=headers, timeout=10).status_code


def config(origin, access, **top):
    cfg = simple_config(origin.port, behavior={"access": access}, **top)
    cfg["workers"] = 1  # one worker, one verified-credential cache: the cached case is really cached
    return cfg


def test_apikey_create_and_revoke_apply_without_reload(sekisho, origin, tmp_path):
    keys = tmp_path / "apikeys.yaml"
    first = cli("apikey", "-f", keys, "create", "ci-bot").strip()
    sk = sekisho(config(origin, {"auth": ["api_key"]}, api_keys={"file": str(keys)}))
    assert status(sk, **{"X-Api-Key": first}) == 200

    second = cli("apikey", "-f", keys, "create", "deployer").strip()
    wait_until(lambda: status(sk, **{"X-Api-Key": second}) == 200, timeout=WITHIN, what="the new key to work")

    cli("apikey", "-f", keys, "revoke", "ci-bot")
    wait_until(lambda: status(sk, Authorization="Bearer " + first) == 401, timeout=WITHIN,
               what="the revoked key to be refused")
    assert status(sk, **{"X-Api-Key": first}) == 401
    assert status(sk, **{"X-Api-Key": second}) == 200
    err = sk.stderr_text()
    assert "API-key file changed: reloading (%s)" % keys in err, err
    assert "configuration reloaded" not in err  # no SIGHUP was needed, and none was faked
    assert first not in err and second not in err


def test_revocation_reaches_keep_alive_connections(sekisho, origin, tmp_path):
    """A connection opened (and a password verified on it) before the change does not keep the old
    credentials: one raw socket carries every request below."""
    keys = tmp_path / "apikeys.yaml"
    key = cli("apikey", "-f", keys, "create", "ci-bot").strip()
    users = tmp_path / "users.yaml"
    set_password(users, "alice", "old password")
    sk = sekisho(config(origin, {"auth": ["basic", "api_key"]}, users={"file": str(users)},
                        api_keys={"file": str(keys)}))
    basic_old = "Authorization: Basic " + base64.b64encode(b"alice:old password").decode()
    basic_new = "Authorization: Basic " + base64.b64encode(b"alice:new password").decode()

    with RawConn(sk.port()) as c:
        def on_conn(header):
            c.send(("GET / HTTP/1.1\r\nHost: app.test\r\n%s\r\n\r\n" % header).encode())
            r = c.read_response()
            assert (r.header("Connection") or "").lower() != "close", r
            return r.status

        assert on_conn("X-Api-Key: " + key) == 200
        assert on_conn(basic_old) == 200
        assert on_conn(basic_old) == 200  # cached as verified

        cli("apikey", "-f", keys, "revoke", "ci-bot")
        set_password(users, "alice", "new password")
        wait_until(lambda: on_conn("X-Api-Key: " + key) == 401, timeout=WITHIN,
                   what="the revoked key refused on the open connection")
        wait_until(lambda: on_conn(basic_old) == 401, timeout=WITHIN,
                   what="the old password refused on the open connection")
        assert on_conn(basic_new) == 200


def test_revocation_reaches_keep_alive_tls_connections(sekisho, origin, tmp_path, pki):  # noqa: F811
    """The same over TLS: the connection moves to the new snapshot with its TLS session, and keeps
    working after the snapshot it was accepted under is gone (each revoke below retires one)."""
    keys = tmp_path / "apikeys.yaml"
    key = cli("apikey", "-f", keys, "create", "ci-bot").strip()
    other = cli("apikey", "-f", keys, "create", "deployer").strip()
    cfg = tls_config(pki, origin.port, behavior={"access": {"auth": ["api_key"]}}, api_keys={"file": str(keys)})
    cfg["workers"] = 1
    sk = sekisho(cfg)
    ctx = ssl.create_default_context(cafile=pki.root)
    with RawConn(sk.port()) as c:
        c.sock = ctx.wrap_socket(c.sock, server_hostname="a.test")

        def on_conn(k):
            c.send(("GET / HTTP/1.1\r\nHost: a.test\r\nX-Api-Key: %s\r\n\r\n" % k).encode())
            r = c.read_response()
            assert (r.header("Connection") or "").lower() != "close", r
            return r.status

        assert on_conn(key) == 200
        cli("apikey", "-f", keys, "revoke", "ci-bot")
        wait_until(lambda: on_conn(key) == 401, timeout=WITHIN, what="the revoked key refused over TLS")
        assert on_conn(other) == 200
        third = cli("apikey", "-f", keys, "create", "third").strip()
        wait_until(lambda: on_conn(third) == 200, timeout=WITHIN, what="a new key over the same TLS connection")
        assert on_conn(other) == 200


def test_passwd_applies_without_reload_even_when_cached(sekisho, origin, tmp_path):
    users = tmp_path / "users.yaml"
    set_password(users, "alice", "old password")
    set_password(users, "bob", "bob's password")
    sk = sekisho(config(origin, {"auth": ["basic"]}, users={"file": str(users)}))
    # Twice: the second answer comes from the verified-credential cache.
    assert status(sk, auth=("alice", "old password")) == 200
    assert status(sk, auth=("alice", "old password")) == 200

    set_password(users, "alice", "new password")
    wait_until(lambda: status(sk, auth=("alice", "old password")) == 401, timeout=WITHIN,
               what="the old (cached) password to be refused")
    assert status(sk, auth=("alice", "new password")) == 200
    assert status(sk, auth=("bob", "bob's password")) == 200
    err = sk.stderr_text()
    assert "users file changed: reloading (%s)" % users in err, err
    assert "password" not in err.replace("users file", "")


def test_users_file_that_does_not_parse_is_refused_and_old_users_keep_working(sekisho, origin, tmp_path):
    users = tmp_path / "users.yaml"
    set_password(users, "alice", "alice pw")
    sk = sekisho(config(origin, {"auth": ["basic"]}, users={"file": str(users)}))
    assert status(sk, auth=("alice", "alice pw")) == 200

    good = users.read_text()
    users.write_text(good + "mallory: { password: [unclosed\n")
    line = wait_until(lambda: re.search(r"^.*reload refused: .*users\.file: %s:\d+:\d+: .*$" % re.escape(str(users)),
                                        sk.stderr_text(), re.M), timeout=WITHIN, what="the refusal in the log")
    assert "the previous configuration keeps serving" in line.group(0)
    assert re.search(re.escape(sk.config_path) + r":\d+:\d+: users\.file", line.group(0)), line.group(0)
    assert status(sk, auth=("alice", "alice pw")) == 200
    assert sk.alive()
    # Refused once, not at every tick or periodic check (every 2 s): the same broken file is not read
    # again until it changes. Only waiting can show that nothing more happens.
    n = sk.stderr_text().count("reload refused")
    time.sleep(2.5)
    assert sk.stderr_text().count("reload refused") == n

    # Fixed: the file is read again, with a user added since.
    users.write_text(good)
    set_password(users, "carol", "carol pw")
    wait_until(lambda: status(sk, auth=("carol", "carol pw")) == 200, timeout=WITHIN, what="the fixed file")
    assert status(sk, auth=("alice", "alice pw")) == 200


def test_htpasswd_edited_with_the_htpasswd_tool(sekisho, origin, tmp_path):
    ht = tmp_path / "htpasswd"
    subprocess.run(["htpasswd", "-cbB", "-C", "5", str(ht), "alice", "first"], check=True, capture_output=True)
    sk = sekisho(config(origin, {"auth": ["basic"]}, users={"htpasswd": str(ht)}))
    assert status(sk, auth=("alice", "first")) == 200
    assert status(sk, auth=("alice", "first")) == 200

    # htpasswd rewrites the file in place (a copy into the same inode), not by rename.
    subprocess.run(["htpasswd", "-bB", "-C", "5", str(ht), "alice", "second"], check=True, capture_output=True)
    wait_until(lambda: status(sk, auth=("alice", "first")) == 401, timeout=WITHIN, what="the old password refused")
    assert status(sk, auth=("alice", "second")) == 200
    subprocess.run(["htpasswd", "-D", str(ht), "alice"], check=True, capture_output=True)
    wait_until(lambda: status(sk, auth=("alice", "second")) == 401, timeout=WITHIN, what="the deleted user refused")


def test_a_users_change_does_not_apply_pending_config_edits(sekisho, origin, tmp_path):
    """The snapshot is rebuilt from the configuration text in service: an edit of the config file itself
    still waits for SIGHUP (as the operator who made it expects)."""
    users = tmp_path / "users.yaml"
    set_password(users, "alice", "alice pw")
    cfg = config(origin, {"auth": ["basic"]}, users={"file": str(users)})
    sk = sekisho(cfg)
    assert status(sk, auth=("alice", "alice pw")) == 200

    edited = config(origin, {"auth": ["basic"], "groups": ["admins"]}, users={"file": str(users)})
    sk.write_config(edited)  # no SIGHUP
    set_password(users, "bob", "bob pw")
    wait_until(lambda: status(sk, auth=("bob", "bob pw")) == 200, timeout=WITHIN, what="bob")
    assert status(sk, auth=("alice", "alice pw")) == 200  # the groups rule is not in service yet
