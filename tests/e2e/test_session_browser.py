"""Browser login sessions (DESIGN §3 "Sessions", "TOTP"): sekisho's own login, TOTP and logout pages,
driven by a real browser (Debian's chromium through playwright-core, tests/e2e/browser.py).

Set-up per test: a users file made by `sekisho passwd --stdin`, a TOTP secret enrolled with
`sekisho totp enroll` (codes computed independently with oathtool), an echo origin behind the behavior
`access: {auth: [session], mfa: required}` on the alias app.test. The browser resolves every host name to
127.0.0.1, so http://app.test:PORT/ reaches sekisho with that Host.

The pages' contract: a protected URL without a session answers 302 to /.sekisho/login?rd=<path and
query>; the login form posts to /.sekisho/login (fields username, password, hidden csrf and rd); a wrong
password answers 401 with the form again and p.error[role=alert] "Wrong username or password."; the right
password answers 303 to /.sekisho/totp?rd=…; the TOTP form (field code) answers 401 "Wrong code." for a
wrong or replayed code and 303 to the rd target for a right one; the session cookie sekisho_session is
HttpOnly and SameSite=Lax (not Secure on plain HTTP); /.sekisho/logout shows a "Sign out" form that posts
to itself and then "You are signed out"; rd is honoured only for this distribution's hosts; a login POST
without its csrf field answers 403.
"""

import html.parser
import json
import re
import subprocess
import time
import urllib.parse

import pytest
import requests
import yaml

from browser import BrowserError, run_browser
from util import echo_header_values, free_port, run_cli
PASSWORD = "correct horse battery staple"

LOGIN_FORM = 'form[method=post][action="/.sekisho/login"]'
LOGIN_SUBMIT = LOGIN_FORM + " button[type=submit]"
TOTP_FORM = "form:has(input#code)"
TOTP_SUBMIT = TOTP_FORM + " button[type=submit]"
LOGOUT_FORM = 'form[method=post][action="/.sekisho/logout"]'
LOGOUT_SUBMIT = LOGOUT_FORM + " button[type=submit]"
ERROR = "p.error[role=alert]"


def cli(*args, stdin=None, cwd=None):
    return run_cli(*args, stdin=stdin, cwd=cwd, check=True)


def oathtool(secret, at=None):
    argv = ["oathtool", "--totp", "-b"]
    if at is not None:
        argv += ["-N", "@%d" % at]
    code = subprocess.run(argv + [secret], capture_output=True, text=True, check=True).stdout.strip()
    assert re.fullmatch(r"\d{6}", code), code
    return code


class Site:
    def __init__(self, sk, origin, secret):
        self.sk = sk
        self.origin = origin
        self.secret = secret
        self.port = sk.port()
        self.base = "http://app.test:%d" % self.port

    def url(self, path):
        return self.base + path

    def code(self, steps_ahead=0):
        """The TOTP code of the time step steps_ahead × 30 s from now (oathtool, independent of sekisho)."""
        if steps_ahead == 0:
            return oathtool(self.secret)
        return oathtool(self.secret, int(time.time()) + 30 * steps_ahead)

    def wrong_code(self):
        """A well-formed code that is none of the codes of the steps around now (so no skew admits it)."""
        now = int(time.time())
        near = {oathtool(self.secret, now + 30 * k) for k in range(-3, 4)}
        c = int(oathtool(self.secret, now))
        while "%06d" % c in near:
            c = (c + 111111) % 1000000
        return "%06d" % c

    def origin_paths(self):
        return [r["path"] for r in self.origin.requests]


@pytest.fixture
def site(sekisho, origin, tmp_path):
    var = tmp_path / "var"
    var.mkdir()
    users = tmp_path / "users.yaml"
    cli("passwd", "-f", users, "alice", "--stdin", stdin=PASSWORD + "\n", cwd=tmp_path)
    port = free_port()
    cfg = {
        "listeners": [{"name": "web", "listen": "127.0.0.1:%d" % port}],
        "state": {"path": str(var)},
        "users": {"file": str(users)},
        "totp": {"issuer": "sekisho", "key_file": str(var / "totp.key")},
        "session": {"key_file": str(var / "session.key"), "idle": "30m", "absolute": "12h"},
        "origins": {"app": {"servers": ["127.0.0.1:%d" % origin.port]}},
        "distributions": [{"name": "main", "aliases": ["app.test"], "behaviors": [
            {"path": "*", "origin": "app", "access": {"auth": ["session"], "mfa": "required"}}]}],
    }
    # Enrol with the very config the gateway runs (written here first, since `sekisho` starts at once).
    enroll_cfg = tmp_path / "enroll.yaml"
    enroll_cfg.write_text(yaml.safe_dump(cfg, sort_keys=False))
    uri = cli("totp", "-c", enroll_cfg, "enroll", "alice", cwd=tmp_path).stdout.split("\n")[0]
    m = re.fullmatch(r"otpauth://totp/sekisho:alice\?secret=([A-Z2-7]+)&issuer=sekisho", uri)
    assert m, uri
    sk = sekisho(cfg)
    return Site(sk, origin, m.group(1))


# --------------------------------------------------------------------------------------------------------
# Helpers over run_browser: named steps, and the recurring pieces of the flow
# --------------------------------------------------------------------------------------------------------

class Results(dict):
    """Named step results. When the scenario stopped early, the steps it reached are there, so the test's
    assertions on them (statuses, URLs) fail first and say what happened; a step it never reached raises
    the browser's error."""

    error = None

    def __missing__(self, key):
        raise AssertionError("step %r was not reached:\n%s" % (key, self.error))


_browser_errors = []


@pytest.fixture(autouse=True)
def no_browser_error_left():
    """A scenario that stopped early fails its test even if no assertion looked at the steps it missed."""
    _browser_errors.clear()
    yield
    if _browser_errors:
        pytest.fail("the browser scenario stopped early:\n%s" % _browser_errors[0], pytrace=False)


def run(steps, **kw):
    """steps: dicts or (name, dict). Returns Results {name: result} for the named ones, plus "_all"."""
    plain = [s[1] if isinstance(s, tuple) else s for s in steps]
    out = Results()
    try:
        res = run_browser(plain, step_timeout_ms=5000, **kw)
    except BrowserError as e:
        res = e.results or []
        out.error = e
        _browser_errors.append(e)
    out["_all"] = res
    for s, r in zip(steps, res):
        if isinstance(s, tuple) and "error" not in r:
            out[s[0]] = r
    return out


def dump(r):
    return json.dumps(r.get("_all", r), indent=1)[:6000]


def statuses(r):
    return [n["status"] for n in r["nav"]]


def split(url):
    u = urllib.parse.urlsplit(url)
    return u.path, urllib.parse.parse_qs(u.query, keep_blank_values=True)


def login_steps(prefix, user="alice", password=PASSWORD):
    return [{"fill": "#username", "value": user}, {"fill": "#password", "value": password},
            (prefix, {"click": LOGIN_SUBMIT})]


def code_steps(prefix, code):
    return [{"fill": "#code", "value": code}, (prefix, {"click": TOTP_SUBMIT}),
            (prefix + "_error", {"text": ERROR})]


def assert_login_redirect(r, from_url, rd):
    """r: the result of a goto of a protected URL without a session."""
    assert statuses(r) == [302, 200], json.dumps(r)
    assert r["nav"][0]["url"] == from_url, json.dumps(r)
    path, q = split(r["url"])
    assert path == "/.sekisho/login" and q.get("rd") == [rd], json.dumps(r)


def assert_at_totp(r, rd):
    """r: the result of submitting the right password. rd None: the rd carried along is not checked (an
    external target may be dropped here already or only after the code)."""
    assert statuses(r) == [303, 200], json.dumps(r)
    assert split(r["nav"][0]["url"])[0] == "/.sekisho/login", json.dumps(r)
    path, q = split(r["url"])
    assert path == "/.sekisho/totp", json.dumps(r)
    if rd is not None:
        assert q.get("rd") == [rd], json.dumps(r)


def assert_reached(site, r, url, body_path):
    """r: the result of submitting the right code; the rd target url is answered by the echo origin."""
    assert statuses(r) == [303, 200], json.dumps(r)
    assert split(r["nav"][0]["url"])[0] == "/.sekisho/totp", json.dumps(r)
    assert r["url"] == url, json.dumps(r)
    recs = [x for x in site.origin.requests if x["path"] == body_path]
    assert recs, "the origin never saw %s; it saw %r" % (body_path, site.origin_paths())
    assert echo_header_values(recs[-1], "X-Auth-User") == ["alice"], recs[-1]


def full_login(path, code):
    """Steps: protected path → login page → password → TOTP page → code. Names: start, pw, code, page."""
    return [("start", {"goto": path})] + login_steps("pw") + code_steps("code", code) + [("page", {"text": "pre"})]


# --------------------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------------------

def test_full_login_and_totp_reach_origin(site):
    target = site.url("/some/page?x=1")
    r = run([
        ("start", {"goto": target}),
        ("form", {"count": LOGIN_FORM}),
        ("user", {"count": LOGIN_FORM + " input#username[name=username][autocomplete=username]"}),
        ("pass", {"count": LOGIN_FORM + " input#password[name=password][type=password]"
                           "[autocomplete=current-password]"}),
        ("csrf", {"count": LOGIN_FORM + " input[type=hidden][name=csrf]"}),
        ("rd", {"count": LOGIN_FORM + " input[type=hidden][name=rd]"}),
        ("label_user", {"count": "label[for=username]"}),
        ("label_pass", {"count": "label[for=password]"}),
        ("button", {"text": LOGIN_SUBMIT}),
        ("no_error", {"count": ERROR}),
    ] + login_steps("pw") + [
        ("code_input", {"count": "input#code[name=code][inputmode=numeric][autocomplete=one-time-code]"}),
        ("label_code", {"count": "label[for=code]"}),
        ("verify", {"text": TOTP_SUBMIT}),
        ("no_error2", {"count": ERROR}),
    ] + code_steps("code", site.code()) + [
        ("page", {"text": "pre"}),
    ])
    assert_login_redirect(r["start"], target, "/some/page?x=1")
    for k in ("form", "user", "pass", "csrf", "rd", "label_user", "label_pass"):
        assert r[k]["count"] == 1, (k, dump(r))
    assert r["button"]["text"].strip() == "Sign in", dump(r)
    assert r["no_error"]["count"] == 0, dump(r)

    assert_at_totp(r["pw"], "/some/page?x=1")
    assert r["code_input"]["count"] == 1 and r["label_code"]["count"] == 1, dump(r)
    assert r["verify"]["text"].strip() == "Verify", dump(r)
    assert r["no_error2"]["count"] == 0, dump(r)

    assert_reached(site, r["code"], target, "/some/page?x=1")
    echoed = json.loads(r["page"]["text"])  # the echo origin's body, shown by the browser
    assert echoed["method"] == "GET" and echoed["path"] == "/some/page?x=1", echoed
    assert ["X-Auth-User", "alice"] in echoed["headers"], echoed
    # Nothing reached the origin without the session: every request it saw carries the user.
    for rec in site.origin.requests:
        assert echo_header_values(rec, "X-Auth-User") == ["alice"], rec


@pytest.mark.parametrize("user", ["alice", "mallory"])
def test_wrong_password_is_401_with_the_form_again(site, user):
    # An unknown user gets exactly the same answer (DESIGN §3: bad_credentials, the same on purpose).
    r = run([
        ("start", {"goto": site.url("/")}),
    ] + login_steps("pw", user=user, password="not the password") + [
        ("error", {"text": ERROR}),
        ("form", {"count": LOGIN_FORM + " input#username"}),
        ("again", {"goto": site.url("/")}),
    ])
    assert_login_redirect(r["start"], site.url("/"), "/")
    assert statuses(r["pw"]) == [401], dump(r)
    assert split(r["pw"]["url"])[0] == "/.sekisho/login", dump(r)
    assert (r["error"]["text"] or "").strip() == "Wrong username or password.", dump(r)
    assert r["form"]["count"] == 1, dump(r)
    assert_login_redirect(r["again"], site.url("/"), "/")
    assert site.origin.count == 0, site.origin_paths()


def test_wrong_code_is_401_and_gives_no_session(site):
    r = run([("start", {"goto": site.url("/x")})] + login_steps("pw") + code_steps("code", site.wrong_code()) + [
        ("form", {"count": "input#code[name=code]"}),
        ("again", {"goto": site.url("/x")}),
    ])
    assert_login_redirect(r["start"], site.url("/x"), "/x")
    assert_at_totp(r["pw"], "/x")
    assert statuses(r["code"]) == [401], dump(r)
    assert split(r["code"]["url"])[0] == "/.sekisho/totp", dump(r)
    assert (r["code_error"]["text"] or "").strip() == "Wrong code.", dump(r)
    assert r["form"]["count"] == 1, dump(r)
    # A password without its second factor is no session: the protected URL still sends to a sekisho page.
    assert statuses(r["again"])[0] == 302, dump(r)
    assert split(r["again"]["url"])[0].startswith("/.sekisho/"), dump(r)
    assert site.origin.count == 0, site.origin_paths()


def test_replayed_code_is_refused_next_step_accepted(site):
    code_t, code_t1 = site.code(0), site.code(1)
    assert code_t != code_t1
    r = run(full_login(site.url("/first"), code_t) + [
        ("logout_page", {"goto": site.url("/.sekisho/logout")}),
        ("signed_out", {"click": LOGOUT_SUBMIT}),
        ("start2", {"goto": site.url("/second")}),
    ] + login_steps("pw2") + code_steps("replay", code_t) + [
        ("replay_form", {"count": "input#code[name=code]"}),
    ] + code_steps("next", code_t1))
    assert_login_redirect(r["start"], site.url("/first"), "/first")
    assert_at_totp(r["pw"], "/first")
    assert_reached(site, r["code"], site.url("/first"), "/first")
    assert_login_redirect(r["start2"], site.url("/second"), "/second")
    assert_at_totp(r["pw2"], "/second")
    assert statuses(r["replay"]) == [401], dump(r)
    assert (r["replay_error"]["text"] or "").strip() == "Wrong code.", dump(r)
    assert r["replay_form"]["count"] == 1, dump(r)
    assert_reached(site, r["next"], site.url("/second"), "/second")
    assert site.origin_paths().count("/second") == 1, site.origin_paths()


def test_logout(site):
    r = run(full_login(site.url("/in"), site.code()) + [
        ("logout_page", {"goto": site.url("/.sekisho/logout")}),
        ("form", {"count": LOGOUT_FORM}),
        ("button", {"text": LOGOUT_SUBMIT}),
        ("signed_out", {"click": LOGOUT_SUBMIT}),
        ("body", {"text": "body"}),
        ("after", {"goto": site.url("/in?again=1")}),
    ])
    assert_login_redirect(r["start"], site.url("/in"), "/in")
    assert_at_totp(r["pw"], "/in")
    assert_reached(site, r["code"], site.url("/in"), "/in")
    assert statuses(r["logout_page"]) == [200], dump(r)
    assert r["form"]["count"] == 1, dump(r)
    assert r["button"]["text"].strip() == "Sign out", dump(r)
    assert r["signed_out"]["status"] == 200, dump(r)
    assert "You are signed out" in r["body"]["text"], dump(r)
    assert_login_redirect(r["after"], site.url("/in?again=1"), "/in?again=1")
    assert "/in?again=1" not in site.origin_paths()


def test_logout_revokes_the_session_cookie_server_side(site):
    # A copy of the cookie taken before logout (as a thief would hold it) no longer opens anything.
    r = run(full_login(site.url("/in"), site.code()) + [
        ("cookies", {"cookies": True}),
        ("logout_page", {"goto": site.url("/.sekisho/logout")}),
        ("signed_out", {"click": LOGOUT_SUBMIT}),
    ])
    assert_login_redirect(r["start"], site.url("/in"), "/in")
    assert_at_totp(r["pw"], "/in")
    assert_reached(site, r["code"], site.url("/in"), "/in")
    sess = [c for c in r["cookies"]["cookies"] if c["name"] == "sekisho_session"]
    assert len(sess) == 1, dump(r)
    h = {"Host": "app.test:%d" % site.port, "Cookie": "sekisho_session=" + sess[0]["value"],
         "Accept": "text/html"}
    resp = requests.get(site.sk.url + "/in?stolen=1", headers=h, timeout=10, allow_redirects=False)
    assert resp.status_code == 302, (resp.status_code, resp.headers)
    assert "/in?stolen=1" not in site.origin_paths()


@pytest.mark.parametrize("evil", ["https://evil.example/x", "//evil.example/x"])
def test_redirect_target_outside_the_distribution_is_refused(site, evil):
    login = site.url("/.sekisho/login?rd=" + urllib.parse.quote(evil, safe=""))
    r = run([("start", {"goto": login})] + login_steps("pw") + code_steps("code", site.code()))
    assert statuses(r["start"]) == [200], dump(r)
    assert_at_totp(r["pw"], None)
    assert_reached(site, r["code"], site.url("/"), "/")
    # No navigation of the browser ever left app.test.
    hosts = {urllib.parse.urlsplit(n["url"]).hostname for res in r["_all"] for n in res["nav"]}
    assert hosts == {"app.test"}, dump(r)


def test_redirect_target_inside_the_distribution_is_honoured(site):
    deep = site.url("/deep/path?q=1")
    login = site.url("/.sekisho/login?rd=" + urllib.parse.quote(deep, safe=""))
    r = run([("start", {"goto": login})] + login_steps("pw") + code_steps("code", site.code()))
    assert statuses(r["start"]) == [200], dump(r)
    assert_at_totp(r["pw"], deep)
    assert_reached(site, r["code"], deep, "/deep/path?q=1")


def test_session_cookie_flags(site):
    r = run(full_login(site.url("/c"), site.code()) + [("cookies", {"cookies": True})])
    assert_login_redirect(r["start"], site.url("/c"), "/c")
    assert_at_totp(r["pw"], "/c")
    assert_reached(site, r["code"], site.url("/c"), "/c")
    sess = [c for c in r["cookies"]["cookies"] if c["name"] == "sekisho_session"]
    assert len(sess) == 1, dump(r)
    c = sess[0]
    assert c["httpOnly"] is True, c
    assert c["sameSite"] == "Lax", c
    assert c["secure"] is False, c  # plain HTTP: a Secure cookie would never be sent back


class _Inputs(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.inputs = []

    def handle_starttag(self, tag, attrs):
        if tag == "input":
            self.inputs.append(dict(attrs))


def test_login_post_without_csrf_is_403(site):
    host = "app.test:%d" % site.port
    g = requests.get(site.sk.url + "/.sekisho/login?rd=%2F", headers={"Host": host, "Accept": "text/html"},
                     timeout=10, allow_redirects=False)
    assert g.status_code == 200, (g.status_code, g.text[:500])
    p = _Inputs()
    p.feed(g.text)
    csrf = [i.get("value") for i in p.inputs if i.get("name") == "csrf" and i.get("type") == "hidden"]
    assert len(csrf) == 1 and csrf[0], p.inputs
    cookie = "; ".join("%s=%s" % (c.name, c.value) for c in g.cookies)
    h = {"Host": host, "Origin": site.base, "Referer": site.base + "/.sekisho/login?rd=%2F",
         "Accept": "text/html"}
    if cookie:
        h["Cookie"] = cookie
    form = {"username": "alice", "password": PASSWORD, "rd": "/"}

    def post(data):
        return requests.post(site.sk.url + "/.sekisho/login", data=data, headers=h, timeout=10,
                             allow_redirects=False)

    # Right credentials, no csrf field: refused.
    r = post(form)
    assert r.status_code == 403, (r.status_code, r.text[:500])
    # A forged token: refused too.
    forged = "A" * len(csrf[0]) if csrf[0] != "A" * len(csrf[0]) else "B" * len(csrf[0])
    r = post(dict(form, csrf=forged))
    assert r.status_code == 403, (r.status_code, r.text[:500])
    # Control: the same request with the page's token is accepted (so the 403s above were about csrf).
    r = post(dict(form, csrf=csrf[0]))
    assert r.status_code == 303, (r.status_code, r.text[:500])
    assert split(r.headers["Location"])[0] == "/.sekisho/totp", r.headers
    assert site.origin.count == 0
