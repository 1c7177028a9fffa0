"""Client certificates as an auth method (`auth: [client_cert]`, `tls.client_ca` on the listener): the
certificate's subject CN, else a SAN e-mail, names a user of the users file; none presented → 401
auth_required; untrusted or naming nobody → 401 bad_credentials. Driven with curl --cert/--key."""

import json
import subprocess

import yaml

from util import sekisho_bin
from tlsutil import pki  # noqa: F401  (fixture)
from util import bcrypt, simple_config


def config(pki, origin, tmp_path):
    users = tmp_path / "users.yaml"
    users.write_text("alice: %s\n\"bob@example.com\": %s\n" % (
        json.dumps({"password": bcrypt("alice pw"), "groups": ["staff"]}), json.dumps({"password": bcrypt("bob pw")})))
    cfg = simple_config(origin.port, aliases=["a.test"], users={"file": str(users)})
    cfg["certificates"] = {"a": pki.cert_entry("a")}
    cfg["listeners"][0]["tls"] = {"certificates": ["a"], "client_ca": pki.clientca}
    cfg["distributions"][0]["behaviors"] = [
        {"path": "/private/*", "origin": "app", "access": {"auth": ["client_cert"]}},
        {"path": "/mixed/*", "origin": "app", "access": {"auth": ["client_cert", "basic"]}},
        {"path": "*", "origin": "app"},
    ]
    return cfg


def get(sk, pki, path, cert=None, *extra):
    port = sk.port()
    args = ["curl", "-sS", "--max-time", "10", "--cacert", pki.root, "--resolve", "a.test:%d:127.0.0.1" % port,
            "-H", "Accept: application/json", "-o", "-", "-w", "\n%{http_code}"]
    if cert:
        args += ["--cert", pki.crt(cert), "--key", pki.key(cert)]
    p = subprocess.run(args + list(extra) + ["https://a.test:%d%s" % (port, path)], capture_output=True, text=True,
                       timeout=20)
    assert p.returncode == 0, p.stderr
    body, code = p.stdout.rsplit("\n", 1)
    return int(code), body


def origin_headers(origin):
    return {k.lower(): v for k, v in origin.last()["headers"]}


def test_client_certificate_maps_to_a_user(sekisho, origin, pki, tmp_path):
    sk = sekisho(config(pki, origin, tmp_path))
    code, _ = get(sk, pki, "/private/x", "alice")
    assert code == 200
    h = origin_headers(origin)
    assert h["x-auth-user"] == "alice" and h["x-auth-method"] == "client_cert"
    assert h["x-auth-groups"] == "staff"
    # No user named by the CN ("Bob Example"): the SAN e-mail names one.
    code, _ = get(sk, pki, "/private/y", "bob")
    assert code == 200
    assert origin_headers(origin)["x-auth-user"] == "bob@example.com"
    log = sk.wait_log(lambda e: e.get("path") == "/private/y")
    assert log["user"] == "bob@example.com" and log["auth"] == "client_cert"


def test_missing_untrusted_or_unknown_certificates_get_401(sekisho, origin, pki, tmp_path):
    sk = sekisho(config(pki, origin, tmp_path))
    n = origin.count
    code, body = get(sk, pki, "/private/x")
    assert code == 401 and json.loads(body) == {"error": "auth_required"}
    code, body = get(sk, pki, "/private/x", "mallory")  # CN=alice, but from a CA nobody trusts
    assert code == 401 and json.loads(body) == {"error": "bad_credentials"}
    code, body = get(sk, pki, "/private/x", "carol")  # trusted, but no such user
    assert code == 401 and json.loads(body) == {"error": "bad_credentials"}
    assert origin.count == n
    # Behaviors without client_cert serve these viewers (the handshake itself never fails on them).
    for who in (None, "mallory", "carol", "alice"):
        assert get(sk, pki, "/open", who)[0] == 200


def test_client_cert_or_basic(sekisho, origin, pki, tmp_path):
    sk = sekisho(config(pki, origin, tmp_path))
    assert get(sk, pki, "/mixed/a", "alice")[0] == 200
    assert origin_headers(origin)["x-auth-method"] == "client_cert"
    code, _ = get(sk, pki, "/mixed/b", None, "-u", "alice:alice pw")
    assert code == 200 and origin_headers(origin)["x-auth-method"] == "basic"
    # An untrusted certificate with good Basic credentials: the credentials decide.
    code, _ = get(sk, pki, "/mixed/c", "mallory", "-u", "alice:alice pw")
    assert code == 200 and origin_headers(origin)["x-auth-method"] == "basic"
    code, body = get(sk, pki, "/mixed/d", "mallory")
    assert code == 401 and json.loads(body) == {"error": "bad_credentials"}
    code, body = get(sk, pki, "/mixed/e")
    assert code == 401 and json.loads(body) == {"error": "auth_required"}


def test_client_cert_needs_users(origin, pki, tmp_path):
    cfg = config(pki, origin, tmp_path)
    del cfg["users"]
    cfg["listeners"][0]["listen"] = "127.0.0.1:1"
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    p = subprocess.run([sekisho_bin(), "check-config", "-c", str(path)], capture_output=True, text=True, timeout=20)
    assert p.returncode == 1
    assert "auth method 'client_cert' needs users" in p.stderr + p.stdout
