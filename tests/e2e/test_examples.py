"""The cookbook (examples/*.yaml, docs/cookbook.md) works as written.

Every examples/*.yaml has a scenario here, and a new example without one fails `test_every_example_has_a_
scenario`. Each scenario copies examples/ into the test's tmp dir (without examples/local/, where an
operator's own files live), creates what the example's comment header tells the operator to create
(users with `sekisho passwd --stdin`, keys with `sekisho apikey create`, the TOTP key with `sekisho totp
enroll`, certificates with the openssl command of the header, a real redis-server), moves the example's
addresses to free ports (listen ports, the stand-in application at 127.0.0.1:3000, Redis) by rewriting
those strings in the file, so that comments and layout stay as shipped, runs `sekisho check-config`
("configuration OK"), starts the example once and shows its scenario from outside with real clients.
"""

import glob
import http.client
import os
import re
import shutil
import ssl

import pytest
import requests
import yaml

from stateutil import cli, oathtool, request, table
from tlsutil import run_openssl
from util import REPO, free_port, run_cli, wait_until

EXAMPLES = os.path.join(REPO, "examples")
UPSTREAM = "127.0.0.1:3000"  # the stand-in application every example points at

SCENARIOS = {}


def scenario(name):
    def register(fn):
        SCENARIOS[name] = fn
        return fn
    return register


# ---- helpers ---------------------------------------------------------------------------------------

def copy_examples(tmp_path):
    """examples/ → tmp/examples/ without the operator's generated files; ../data (the quickstart's country
    database) is reachable from the copy as it is from the repository."""
    dst = tmp_path / "examples"
    shutil.copytree(EXAMPLES, dst, ignore=shutil.ignore_patterns("local", "certs"))
    (dst / "local").mkdir()
    if os.path.isdir(os.path.join(REPO, "data")):
        os.symlink(os.path.join(REPO, "data"), tmp_path / "data")
    return dst


def sub_addr(text, old, new):
    """Replaces the address old (host:port) by new wherever it stands as a whole (not as a prefix)."""
    return re.sub(re.escape(old) + r"(?!\d)", new, text)


def localize(path, upstream_port=None, redis_url=None):
    """Moves the example's listen addresses (listeners and admin) to free ports, everywhere they appear
    (an origin may point at the example's own listener), the stand-in application to upstream_port and
    the Redis URL to redis_url. Returns (text, {listener name: port})."""
    text = path.read_text()
    cfg = yaml.safe_load(text)
    listens = [l["listen"] for l in cfg.get("listeners", [])]
    if cfg.get("admin"):
        listens.append(cfg["admin"]["listen"])
    for old in listens:
        host = old.rsplit(":", 1)[0]
        text = sub_addr(text, old, "%s:%d" % (host, free_port()))
    if upstream_port is not None:
        assert UPSTREAM in text, "the example does not point at the stand-in application %s" % UPSTREAM
        text = sub_addr(text, UPSTREAM, "127.0.0.1:%d" % upstream_port)
    if redis_url is not None:
        old = cfg["state"]["redis"]
        text = text.replace(old, redis_url)
    path.write_text(text)
    cfg = yaml.safe_load(text)
    ports = {l["name"]: int(l["listen"].rsplit(":", 1)[1]) for l in cfg["listeners"]}
    assert len(set(ports.values()) - {int(a.rsplit(":", 1)[1]) for a in listens}) == len(ports), \
        "a listen address was not rewritten: %r" % ports
    return text, ports


def check_config(path, env=None):
    p = run_cli("check-config", "-c", path, env=env)
    assert p.stdout.strip() == "configuration OK", p.stdout + p.stderr


def start(sekisho, path, text, env=None):
    """Starts the example file itself (the factory parses text for the listeners to wait for)."""
    return sekisho(text, env=env, argv=["run", "-c", str(path)])


def headers_of(rec):
    return {k.lower(): v for k, v in rec["headers"]}


def make_user(users_file, user, password):
    run_cli("passwd", "-f", users_file, user, "--stdin", input=password + "\n")


# ---- the inventory --------------------------------------------------------------------------------

def example_names():
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(EXAMPLES, "*.yaml")))


def test_every_example_has_a_scenario():
    names = example_names()
    assert "quickstart.yaml" in names and len(names) >= 6, names
    missing = [n for n in names if n not in SCENARIOS]
    assert not missing, "examples without a scenario in test_examples.py: %s" % missing
    for n in names:
        with open(os.path.join(EXAMPLES, n)) as f:
            head = f.readline()
        assert head.startswith("# "), "%s must open with a comment header saying what it shows" % n


@pytest.mark.parametrize("name", example_names())
def test_example(name, sekisho, origin, tmp_path, request):
    assert name in SCENARIOS, "no scenario for examples/%s: add one to test_examples.py" % name
    dst = copy_examples(tmp_path)
    SCENARIOS[name](dst / name, dst, sekisho, origin, tmp_path, request)


# ---- the scenarios --------------------------------------------------------------------------------

@scenario("quickstart.yaml")
def quickstart(path, dst, sekisho, origin, tmp_path, req):
    # The quickstart needs nothing else running: its proxied path reaches its own second listener.
    text, ports = localize(path)
    db = (yaml.safe_load(text).get("geoip") or {}).get("database")
    if db and not os.path.exists(os.path.join(str(dst), db)):
        # Without scripts/fetch-geoip's database the quickstart may start without its geo rule, or refuse
        # to: whichever it does, it must say which file is missing.
        p = run_cli("check-config", "-c", path, check=False)
        if p.returncode != 0:
            assert os.path.basename(db) in p.stderr + p.stdout, p.stderr + p.stdout
            pytest.skip("no country database (scripts/fetch-geoip) for the quickstart's geo rule")
    check_config(path)
    start(sekisho, path, text)
    with open(os.path.join(EXAMPLES, "www", "index.html"), "rb") as f:
        index = f.read()
    r = request(ports["web"], "/", headers={"Host": "localhost", "Accept": "text/html"})
    assert r.status == 200 and r.body == index, r
    r = request(ports["web"], "/proxied/", headers={"Host": "localhost", "Accept": "text/html"})
    with open(os.path.join(EXAMPLES, "www", "proxied", "index.html"), "rb") as f:
        assert r.status == 200 and r.body == f.read(), r


@scenario("basic-auth.yaml")
def basic_auth(path, dst, sekisho, origin, tmp_path, req):
    token = "tok-" + os.urandom(9).hex()
    env = {"API_TOKEN": token}
    make_user(dst / "local" / "basic-auth-users.yaml", "alice", "correct horse")
    text, ports = localize(path, upstream_port=origin.port)
    check_config(path, env=env)
    start(sekisho, path, text, env=env)
    port, host = ports["web"], {"Host": "localhost"}

    r = request(port, "/x", headers=host)
    assert r.status == 401 and r.header("WWW-Authenticate").startswith('Basic realm="Intranet"'), r
    assert request(port, "/x", auth=("alice", "wrong"), headers=host).status == 401
    assert origin.count == 0
    r = request(port, "/x", auth=("alice", "correct horse"), headers=host)
    assert r.status == 200, r
    seen = headers_of(origin.last())
    assert seen["x-api-token"] == token and seen["x-auth-user"] == "alice", seen
    # The right password from an address outside office.txt: refused before any password check.
    r = request(port, "/x", auth=("alice", "correct horse"), headers=host, src="127.0.0.2")
    assert r.status == 403 and r.json() == {"error": "ip_denied"}, r
    assert origin.count == 1


def form_field(html, name):
    m = re.search(r'name="%s" value="([^"]*)"' % name, html)
    assert m, "no %s field in the page: %s" % (name, html[:600])
    return m.group(1)


@scenario("login-totp.yaml")
def login_totp(path, dst, sekisho, origin, tmp_path, req):
    make_user(dst / "local" / "login-users.yaml", "alice", "pw for the portal")
    text, ports = localize(path, upstream_port=origin.port)
    # Enrolling creates the TOTP key file the config names; the URI carries the secret for the app.
    uri = run_cli("totp", "-c", path, "enroll", "alice").stdout.split("\n")[0]
    secret = re.search(r"[?&]secret=([A-Z2-7]+)", uri).group(1)
    assert uri.startswith("otpauth://totp/") and "issuer=Example%20Intranet" in uri, uri
    assert (dst / "local" / "login-totp.key").exists()
    check_config(path)
    start(sekisho, path, text)
    base = "http://127.0.0.1:%d" % ports["web"]

    # A browser (Accept: text/html) without a session is sent to the login page; an API client gets 401.
    r = requests.get(base + "/app?x=1", headers={"Accept": "text/html"}, allow_redirects=False, timeout=10)
    assert r.status_code == 302 and r.headers["Location"].startswith("/.sekisho/login?"), r.headers
    r = requests.get(base + "/app", headers={"Accept": "application/json"}, allow_redirects=False, timeout=10)
    assert r.status_code == 401, r.text

    # The whole sign-in: password, then the code of the current step (oathtool, independent of sekisho).
    s = requests.Session()
    page = s.get(base + "/.sekisho/login?rd=/app", timeout=10)
    assert page.status_code == 200
    r = s.post(base + "/.sekisho/login", allow_redirects=False, timeout=10,
               data={"csrf": form_field(page.text, "csrf"), "username": "alice", "password": "pw for the portal",
                     "rd": "/app"})
    assert r.status_code == 303 and r.headers["Location"].startswith("/.sekisho/totp"), (r.status_code, r.headers)
    page = s.get(base + r.headers["Location"], timeout=10)
    assert page.status_code == 200
    r = s.post(base + "/.sekisho/totp", allow_redirects=False, timeout=10,
               data={"csrf": form_field(page.text, "csrf"), "code": oathtool(secret), "rd": "/app"})
    assert r.status_code == 303 and r.headers["Location"] == "/app", (r.status_code, r.headers, r.text[:300])
    assert "sekisho_session" in s.cookies
    r = s.get(base + "/app", allow_redirects=False, timeout=10)
    assert r.status_code == 200, r.text[:300]
    seen = headers_of(origin.last())
    assert seen["x-auth-user"] == "alice", seen


@scenario("api-keys.yaml")
def api_keys(path, dst, sekisho, origin, tmp_path, req):
    keys = dst / "local" / "api-keys.yaml"
    deploy = run_cli("apikey", "-f", keys, "create", "ci-deploy", "--groups", "deployers").stdout.strip()
    reader = run_cli("apikey", "-f", keys, "create", "metrics-reader").stdout.strip()
    assert deploy and reader and deploy != reader and deploy not in keys.read_text()
    text, ports = localize(path, upstream_port=origin.port)
    check_config(path)
    start(sekisho, path, text)
    port, host = ports["web"], {"Host": "localhost"}

    r = request(port, "/api/status", headers=host)
    assert r.status == 401 and r.json() == {"error": "auth_required"}, r
    r = request(port, "/api/status", headers=dict(host, Authorization="Bearer " + deploy))
    assert r.status == 200, r
    seen = headers_of(origin.last())
    assert seen["x-auth-user"] == "ci-deploy" and seen["x-auth-groups"] == "deployers", seen
    assert request(port, "/api/status", headers=dict(host, **{"X-Api-Key": reader})).status == 200
    r = request(port, "/api/deploy/x", headers=dict(host, **{"X-Api-Key": reader}))
    assert r.status == 403 and r.json() == {"error": "forbidden_group"}, r
    assert request(port, "/api/deploy/x", headers=dict(host, **{"X-Api-Key": deploy})).status == 200
    r = request(port, "/api/status", headers=dict(host, **{"X-Api-Key": reader + "x"}))
    assert r.status == 401 and r.json() == {"error": "bad_credentials"}, r


def demo_cert(local, name, cn="localhost"):
    """The openssl command of tls.yaml's header (a self-signed P-256 certificate for localhost)."""
    run_openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "90",
                "-subj", "/CN=" + cn, "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                "-keyout", str(local / (name + ".key")), "-out", str(local / (name + ".crt")))
    with open(local / (name + ".crt")) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def served_cert(port, *cafiles):
    """GET / over HTTPS trusting only cafiles; returns (status, the DER certificate the server sent)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the chain and the name; no system roots
    for f in cafiles:
        ctx.load_verify_locations(cafile=str(f))
    c = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=10)
    try:
        c.request("GET", "/")
        r = c.getresponse()
        r.read()
        return r.status, c.sock.getpeercert(binary_form=True)
    finally:
        c.close()


@scenario("tls.yaml")
def tls_rotation(path, dst, sekisho, origin, tmp_path, req):
    local = dst / "local"
    first = demo_cert(local, "site")
    text, ports = localize(path, upstream_port=origin.port)
    check_config(path)
    sk = start(sekisho, path, text)
    port = ports["web"]
    status, der = served_cert(port, local / "site.crt")
    assert status == 200 and der == first
    assert headers_of(origin.last())["x-forwarded-proto"] == "https"

    # Rotation as the header describes it: cert add under a new name, point the listener at it, SIGHUP.
    second = demo_cert(local, "new", cn="localhost (renewed)")
    assert second != first
    run_cli("cert", "-c", path, "add", "site-2", "--cert", local / "new.crt", "--key", local / "new.key")
    assert (dst / "certs" / "site-2" / "cert.pem").exists()
    edited = path.read_text()
    assert "site-2" in yaml.safe_load(edited)["certificates"], edited
    edited, n = re.subn(r"certificates: \[site\]", "certificates: [site-2]", edited)
    assert n == 1, edited
    path.write_text(edited)
    sk.signal(__import__("signal").SIGHUP)
    wait_until(lambda: served_cert(port, local / "site.crt", local / "new.crt") == (200, second), timeout=10,
               what="the rotated certificate is served")
    p = run_cli("cert", "-c", path, "delete", "site-2", check=False)
    assert p.returncode == 1 and "in use" in p.stderr, p.stdout + p.stderr
    run_cli("cert", "-c", path, "delete", "site")
    check_config(path)
    assert sk.alive()


@scenario("shared-redis.yaml")
def shared_redis(path, dst, sekisho, origin, tmp_path, req):
    redis = req.getfixturevalue("redis_server")
    make_user(dst / "local" / "shared-users.yaml", "alice", "shared pw")
    # Two instances on one machine: the same file, each with its own listen port (the header's advice).
    path_b = dst / "shared-redis-b.yaml"
    shutil.copy(path, path_b)
    text_a, ports_a = localize(path, upstream_port=origin.port, redis_url=redis.url)
    text_b, ports_b = localize(path_b, upstream_port=origin.port, redis_url=redis.url)
    check_config(path)
    check_config(path_b)
    a = start(sekisho, path, text_a)
    b = start(sekisho, path_b, text_b)
    pa, pb, host = ports_a["web"], ports_b["web"], {"Host": "localhost"}
    assert pa != pb

    assert request(pa, auth=("alice", "shared pw"), headers=host).status == 200
    deny = yaml.safe_load(text_a)["lockout"]["deny"]
    for i in range(deny):
        assert request(pb, auth=("alice", "wrong %d" % i), headers=host).status == 401
    # The tally in Redis, seen from A's config (the count may be written just after B's answers).
    def tally():
        head, rows = table(cli("tally", "-c", path).stdout)
        return {r[0]: int(r[1]) for r in rows}
    wait_until(lambda: tally().get("alice", 0) >= deny, timeout=5, what="alice's shared tally")
    # Locked on A by failures on B: the right password answers like a wrong one.
    r = request(pa, auth=("alice", "shared pw"), headers=host)
    assert r.status == 401 and r.json() == {"error": "bad_credentials"}, r
    assert redis.cli("--scan").strip(), "nothing was written to the shared Redis"
    assert a.alive() and b.alive()
