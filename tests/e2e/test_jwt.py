"""auth: [jwt] (DESIGN §3 JWT): bearer tokens made here with Debian's python3-jwt and python3-cryptography,
verified by sekisho against a JWKS file or a JWKS URL served by the test. Every token the tests expect to
pass is also checked with python3-jwt first, so the tests cannot share a bug with the code under test; the
refused ones are built byte by byte where python3-jwt would refuse to build them (alg none, HS256 keyed with
an RSA public key)."""

import base64
import hashlib
import hmac
import http.server
import json
import socketserver
import subprocess
import threading
import time

import jwt as pyjwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, HMACAlgorithm, OKPAlgorithm, RSAAlgorithm

import yaml

from util import HOST, echo_header_values, free_port, sekisho_bin, sekisho_env, simple_config, wait_until

ISS = "https://idp.test"
AUD = "intranet"
SECRET = bytes(range(32))


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class Keys:
    def __init__(self):
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ed = ed25519.Ed25519PrivateKey.generate()
        self.other_ec = ec.generate_private_key(ec.SECP256R1())

    def jwks(self, hs=True):
        keys = [
            dict(json.loads(ECAlgorithm.to_jwk(self.ec.public_key())), kid="ec1"),
            dict(json.loads(RSAAlgorithm.to_jwk(self.rsa.public_key())), kid="rsa1"),
            dict(json.loads(OKPAlgorithm.to_jwk(self.ed.public_key())), kid="ed1"),
        ]
        if hs:
            keys.append(dict(json.loads(HMACAlgorithm.to_jwk(SECRET)), kid="hs1"))
        return {"keys": keys}

    def signer(self, alg):
        return {"ES256": (self.ec, "ec1"), "RS256": (self.rsa, "rsa1"), "PS256": (self.rsa, "rsa1"),
                "EdDSA": (self.ed, "ed1"), "HS256": (SECRET, "hs1")}[alg]


@pytest.fixture(scope="module")
def keys():
    return Keys()


def claims(**over):
    now = int(time.time())
    c = {"iss": ISS, "aud": AUD, "sub": "alice", "iat": now - 5, "exp": now + 300,
         "groups": ["staff", "admins"], "email": "alice@example.com"}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def token(keys, alg="ES256", headers=None, **over):
    key, kid = keys.signer(alg)
    h = {"kid": kid}
    h.update(headers or {})
    tok = pyjwt.encode(claims(**over), key, algorithm=alg, headers=h)
    return tok


def second_opinion(keys, tok, alg):
    """python3-jwt's own verdict on a token the test expects sekisho to accept."""
    key, _ = keys.signer(alg)
    pub = key if alg == "HS256" else key.public_key()
    return pyjwt.decode(tok, pub, algorithms=[alg], audience=AUD, issuer=ISS)


def raw_token(header, payload, signing_key=None):
    """A compact JWS built by hand: header and payload as dicts, an HMAC-SHA-256 signature with
    signing_key (bytes), or an empty signature."""
    si = b64u(json.dumps(header).encode()) + "." + b64u(json.dumps(payload).encode())
    sig = hmac.new(signing_key, si.encode(), hashlib.sha256).digest() if signing_key is not None else b""
    return si + "." + b64u(sig)


def jwt_config(origin, jwks_path, access=None, issuer=None, **top):
    cfg = simple_config(origin.port, behavior={"access": access or {"auth": ["jwt"]}}, **top)
    iss = {"issuer": ISS, "audiences": [AUD], "jwks": str(jwks_path),
           "algorithms": ["ES256", "RS256", "PS256", "EdDSA", "HS256"],
           "groups_claim": "groups", "headers": {"email": "X-User-Email"}}
    iss.update(issuer or {})
    cfg["jwt"] = {"issuers": [iss]}
    return cfg


@pytest.fixture
def jwks_file(tmp_path, keys):
    p = tmp_path / "jwks.json"
    p.write_text(json.dumps(keys.jwks()))
    return p


def get(sk, tok=None, path="/", **headers):
    h = {"Host": "app.test"}
    if tok is not None:
        h["Authorization"] = "Bearer " + tok
    h.update(headers)
    return requests.get(sk.url + path, headers=h, timeout=5)


@pytest.mark.parametrize("alg", ["ES256", "RS256", "PS256", "EdDSA", "HS256"])
def test_each_algorithm_passes_with_identity_and_claims(sekisho, origin, keys, jwks_file, alg):
    sk = sekisho(jwt_config(origin, jwks_file))
    tok = token(keys, alg)
    assert second_opinion(keys, tok, alg)["sub"] == "alice"
    r = get(sk, tok)
    assert r.status_code == 200, r.text
    rec = origin.last()
    assert echo_header_values(rec, "X-Auth-User") == ["alice"]
    assert echo_header_values(rec, "X-Auth-Method") == ["jwt"]
    assert echo_header_values(rec, "X-Auth-Groups") == ["staff,admins"]
    assert echo_header_values(rec, "X-User-Email") == ["alice@example.com"]
    # The token was sekisho's to check: the origin does not get it.
    assert echo_header_values(rec, "Authorization") == []
    line = sk.wait_log(lambda l: l.get("status") == 200)
    assert line["user"] == "alice" and line["auth"] == "jwt", line


def test_every_refusal_is_401_bad_credentials(sekisho, origin, keys, jwks_file, tmp_path):
    sk = sekisho(jwt_config(origin, jwks_file))
    now = int(time.time())
    rsa_pem = keys.rsa.public_key().public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
    good = token(keys, "ES256")
    h, p, s = good.split(".")
    tampered_payload = b64u(json.dumps(claims(sub="admin")).encode())
    cases = {
        "alg none": raw_token({"alg": "none", "kid": "ec1"}, claims()),
        "HS256 keyed with the RSA public key": raw_token({"alg": "HS256", "kid": "rsa1"}, claims(), rsa_pem),
        "HS256 keyed with the RSA public key, no kid": raw_token({"alg": "HS256"}, claims(), rsa_pem),
        "expired": token(keys, "ES256", exp=now - 120, iat=now - 600),
        "not yet valid": token(keys, "ES256", nbf=now + 600),
        "issued in the future": token(keys, "ES256", iat=now + 600, exp=now + 900),
        "no exp": token(keys, "ES256", exp=None),
        "too long-lived": token(keys, "ES256", exp=now + 3 * 86400),
        "wrong issuer": token(keys, "ES256", iss="https://evil.test"),
        "wrong audience": token(keys, "ES256", aud="other"),
        "unknown kid": token(keys, "ES256", headers={"kid": "nope"}),
        "jku header": token(keys, "ES256", headers={"jku": "https://evil.test/jwks"}),
        "x5u header": token(keys, "ES256", headers={"x5u": "https://evil.test/c.pem"}),
        "jwk header": token(keys, "ES256", headers={"jwk": json.loads(ECAlgorithm.to_jwk(keys.ec.public_key()))}),
        "crit header": token(keys, "ES256", headers={"crit": ["exp"]}),
        "tampered payload": h + "." + tampered_payload + "." + s,
        "signed by another key": pyjwt.encode(claims(), keys.other_ec, algorithm="ES256", headers={"kid": "ec1"}),
        "ES256 signature announced as RS256": b64u(json.dumps({"alg": "RS256", "kid": "rsa1"}).encode())
        + "." + p + "." + s,
    }
    for what, tok in cases.items():
        r = get(sk, tok, Accept="application/json")
        assert (r.status_code, r.json()) == (401, {"error": "bad_credentials"}), what
    assert origin.count == 0
    assert get(sk, good).status_code == 200
    # No credentials at all: auth_required, with no Basic challenge (this behavior takes none).
    r = get(sk, Accept="application/json")
    assert (r.status_code, r.json()) == (401, {"error": "auth_required"})
    assert "WWW-Authenticate" not in r.headers


def test_bearer_that_is_not_a_jws_is_an_api_key(sekisho, origin, keys, jwks_file, tmp_path):
    key = "k-" + "a" * 40
    (tmp_path / "keys.yaml").write_text("ci-bot: { sha256: \"%s\", groups: [deployers] }\n"
                                        % hashlib.sha256(key.encode()).hexdigest())
    cfg = jwt_config(origin, jwks_file, access={"auth": ["jwt", "api_key"]},
                     api_keys={"file": str(tmp_path / "keys.yaml")})
    sk = sekisho(cfg)
    assert get(sk, key).status_code == 200
    assert echo_header_values(origin.last(), "X-Auth-Method") == ["api_key"]
    assert get(sk, token(keys)).status_code == 200
    assert echo_header_values(origin.last(), "X-Auth-Method") == ["jwt"]
    # Where only tokens are taken, an API key is a failed credential, not a pass.
    sk2 = sekisho(jwt_config(origin, jwks_file))
    assert get(sk2, key).status_code == 401


def test_groups_rule_and_claim_headers_cannot_be_spoofed(sekisho, origin, keys, jwks_file):
    cfg = jwt_config(origin, jwks_file, access={"auth": ["jwt"], "groups": ["admins"]})
    cfg["distributions"][0]["behaviors"].insert(0, {"path": "/public/*", "origin": "app"})
    sk = sekisho(cfg)
    assert get(sk, token(keys, groups=["admins"]), "/x", **{"X-User-Email": "evil@x"}).status_code == 200
    assert echo_header_values(origin.last(), "X-User-Email") == ["alice@example.com"]
    r = get(sk, token(keys, groups="staff readers"), "/x", Accept="application/json")
    assert (r.status_code, r.json()) == (403, {"error": "forbidden_group"})
    # A space-separated string of groups (OAuth scope style) is read as a list too.
    assert get(sk, token(keys, groups="staff admins"), "/x").status_code == 200
    # The claim header is ours on anonymous paths too, like X-Auth-User.
    assert get(sk, None, "/public/a", **{"X-User-Email": "evil@x"}).status_code == 200
    assert echo_header_values(origin.last(), "X-User-Email") == []
    # A claim value with a control character is never written as a header.
    assert get(sk, token(keys, groups=["admins"], email="a@b\r\nX-Auth-User: root"), "/x").status_code == 200
    assert echo_header_values(origin.last(), "X-User-Email") == []
    assert echo_header_values(origin.last(), "X-Auth-User") == ["alice"]


def test_forward_token_keeps_authorization(sekisho, origin, keys, jwks_file):
    sk = sekisho(jwt_config(origin, jwks_file, issuer={"forward_token": True}))
    tok = token(keys)
    assert get(sk, tok).status_code == 200
    assert echo_header_values(origin.last(), "Authorization") == ["Bearer " + tok]


def test_token_failures_count_toward_bans(sekisho, origin, keys, jwks_file, tmp_path):
    sk = sekisho(jwt_config(origin, jwks_file, ban={"max_retry": 3, "find_time": "1m", "ban_time": "1m"}))
    now = int(time.time())
    for i in range(3):
        assert get(sk, token(keys, exp=now - 200 - i, iat=now - 900)).status_code == 401

    def refused():
        try:
            r = get(sk, token(keys))
            return r.status_code == 403
        except requests.ConnectionError:
            return True
    wait_until(refused, timeout=3, what="the address banned after 3 bad tokens")


def test_a_bad_key_file_is_refused_with_its_config_position(origin, tmp_path):
    bad = tmp_path / "jwks.json"
    bad.write_text('{"keys": [{"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA", "kid": "x"}]}')
    path = tmp_path / "bad.yaml"
    cfg = jwt_config(origin, bad)
    cfg["listeners"][0]["listen"] = "127.0.0.1:%d" % free_port()
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    line = next(i for i, l in enumerate(path.read_text().splitlines(), 1) if l.strip().startswith("jwks:"))
    for argv in (["check-config", "-c", str(path)], ["run", "-c", str(path)]):
        p = subprocess.run([sekisho_bin()] + argv, capture_output=True, text=True, timeout=10, env=sekisho_env())
        assert p.returncode == 1, (argv, p.stdout, p.stderr)
        assert "%s:%d:" % (path, line) in p.stderr and "key x (EC P-256) is malformed" in p.stderr, p.stderr


class JwksServer:
    """Serves a JWKS document that the test can replace; counts the fetches."""

    def __init__(self, doc):
        self.doc = doc
        self.fetches = 0
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.fetches += 1
                body = json.dumps(outer.doc).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.port = free_port()
        self.srv = socketserver.ThreadingTCPServer((HOST, self.port), H)
        self.srv.daemon_threads = True
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    @property
    def url(self):
        return "http://%s:%d/.well-known/jwks.json" % (HOST, self.port)

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


def test_jwks_url_rotation_without_reload(sekisho, origin, keys):
    k2 = ec.generate_private_key(ec.SECP256R1())
    k3 = ec.generate_private_key(ec.SECP256R1())

    def jwk(k, kid):
        return dict(json.loads(ECAlgorithm.to_jwk(k.public_key())), kid=kid)

    srv = JwksServer({"keys": [jwk(keys.ec, "ec1")]})
    try:
        cfg = simple_config(origin.port, behavior={"access": {"auth": ["jwt"]}})
        cfg["jwt"] = {"issuers": [{"issuer": ISS, "audiences": [AUD], "jwks_url": srv.url, "algorithms": ["ES256"]}]}
        sk = sekisho(cfg)
        wait_until(lambda: get(sk, token(keys)).status_code == 200, timeout=10, what="the first key set fetched")
        first = srv.fetches

        # The issuer rotates to k2: a token with the new kid is refused once, and the unknown kid makes
        # sekisho fetch again at once; then it passes, without a reload.
        srv.doc = {"keys": [jwk(k2, "ec2")]}
        t2 = pyjwt.encode(claims(), k2, algorithm="ES256", headers={"kid": "ec2"})
        wait_until(lambda: get(sk, t2).status_code == 200, timeout=10, what="the rotated key picked up")
        assert srv.fetches == first + 1, srv.fetches

        # A second rotation within the minute: unknown kids do not make sekisho fetch again yet.
        srv.doc = {"keys": [jwk(k3, "ec3")]}
        t3 = pyjwt.encode(claims(), k3, algorithm="ES256", headers={"kid": "ec3"})
        for _ in range(10):
            assert get(sk, t3).status_code == 401
            time.sleep(0.2)
        assert srv.fetches == first + 1, srv.fetches
    finally:
        srv.stop()


def test_policies_of_the_issuer_and_of_claimed_groups(sekisho, origin, keys, jwks_file, tmp_path):
    """An issuer's policies apply to its tokens, a group named in the groups claim brings its group's
    policies, and jwt:<claim> condition keys read the verified claims."""
    docs = {
        "read-docs": {"Version": "2012-10-17", "Statement": [
            {"Sid": "ReadDocs", "Effect": "Allow", "Action": "http:GET", "Resource": "app.test/docs/*"}]},
        "eng-only": {"Version": "2012-10-17", "Statement": [
            {"Sid": "EngTools", "Effect": "Allow", "Action": "http:*", "Resource": "app.test/tools/*",
             "Condition": {"StringEquals": {"jwt:department": "eng"}}}]},
        "admin": {"Version": "2012-10-17", "Statement": [
            {"Sid": "Admin", "Effect": "Allow", "Action": "http:*", "Resource": "app.test/admin/*"}]},
    }
    paths = {}
    for name, doc in docs.items():
        paths[name] = str(tmp_path / (name + ".json"))
        (tmp_path / (name + ".json")).write_text(json.dumps(doc))
    cfg = jwt_config(origin, jwks_file, access={"auth": ["jwt"], "policy": True},
                     issuer={"policies": ["read-docs", "eng-only"]})
    cfg["policies"] = paths
    cfg["groups"] = {"admins": {"policies": ["admin"]}}
    sk = sekisho(cfg)

    def status(tok, path):
        return get(sk, tok, path, Accept="application/json").status_code

    plain = token(keys, groups=["staff"])
    assert status(plain, "/docs/a") == 200
    assert status(plain, "/admin/x") == 403
    assert status(plain, "/tools/x") == 403      # no department claim: StringEquals is false
    assert status(token(keys, groups=["staff"], department="sales"), "/tools/x") == 403
    eng = token(keys, groups=["staff"], department="eng")
    assert status(eng, "/tools/x") == 200
    # The same token again comes from the worker's verified-token cache: its claims still decide.
    for _ in range(4):
        assert status(eng, "/tools/x") == 200
        assert status(plain, "/tools/x") == 403
    assert status(token(keys, groups=["admins"]), "/admin/x") == 200
    line = sk.wait_log(lambda l: l.get("path") == "/admin/x" and l.get("status") == 200)
    assert line["policy"] == "allow" and line["policy_sid"] == "Admin", line
    line = sk.wait_log(lambda l: l.get("path") == "/tools/x" and l.get("status") == 403)
    assert line["policy"] == "deny" and line["reason"] == "policy_denied", line


def test_a_forged_tail_of_a_long_cached_token_does_not_pass(sekisho, origin, keys, jwks_file):
    """The verified-token cache is keyed by every byte of the token: a forgery that keeps the first
    kilobyte of a verified token (its header and most of its claims) and changes what follows (a groups
    claim, and a signature that no longer fits) must get a signature check, not a cache hit."""
    cfg = jwt_config(origin, jwks_file)
    cfg["distributions"][0]["behaviors"].insert(
        0, {"path": "/admin/*", "origin": "app", "access": {"auth": ["jwt"], "groups": ["admins"]}})
    sk = sekisho(cfg)
    now = int(time.time())

    def payload(group):  # the claims as exact bytes: the pad first, the groups claim last
        return ('{"iss":"%s","aud":"%s","sub":"alice","iat":%d,"exp":%d,"pad":"%s","groups":["%s"]}'
                % (ISS, AUD, now - 5, now + 300, "p" * 1200, group)).encode()

    good = pyjwt.PyJWS().encode(payload("staff"), keys.ec, algorithm="ES256", headers={"kid": "ec1"})
    h, p, s = good.split(".")
    forged = h + "." + b64u(payload("admins")) + "." + s
    common = next(i for i, (a, b) in enumerate(zip(good, forged)) if a != b)
    assert common > 1100, common  # the forgery shares more than the first kilobyte
    assert get(sk, good, "/x").status_code == 200       # verified, now cached
    assert get(sk, good, "/admin/x").status_code == 403  # staff only
    r = get(sk, forged, "/admin/x", Accept="application/json")
    assert (r.status_code, r.json()) == (401, {"error": "bad_credentials"})
