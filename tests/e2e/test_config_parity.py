"""check-config checks everything `run` would, short of binding (DESIGN §9, issue 9 items 11 and 13).

Each broken config of the table is refused by `sekisho check-config` (exit 1) with CONFIG:LINE:COL naming
the config line of the key at fault, and `sekisho run` refuses it too (non-zero exit, before serving) with
the very same message. Then the parts of item 13: an origin server given by name works end to end, and
every address the name resolves to becomes a server.
"""

import os
import re
import shutil
import socket
import subprocess
import urllib.request

import pytest

from util import sekisho_bin, sekisho_env
from tlsutil import pki  # noqa: F401 (fixture)
from util import free_port, simple_config, wait_until


def config_text(port, top="", access=None, server="127.0.0.1:3000"):
    text = (
        "workers: 1\n"
        "state: { path: ./var }\n"
        "access_log: { path: off }\n"
        + top +
        "listeners:\n"
        "  - { name: web, listen: \"127.0.0.1:%d\" }\n"
        "origins:\n"
        "  app: { servers: [\"%s\"] }\n"
        "distributions:\n"
        "  - name: main\n"
        "    aliases: [app.test]\n"
        "    behaviors:\n"
        "      - path: \"*\"\n"
        "        origin: app\n" % (port, server))
    if access:
        text += "        access: %s\n" % access
    return text


def run_cmd(tmp_path, args, timeout):
    try:
        p = subprocess.run([sekisho_bin()] + args, capture_output=True, timeout=timeout, env=sekisho_env(),
                           cwd=str(tmp_path))
    except subprocess.TimeoutExpired:
        return None, ""
    err = p.stderr.decode("utf-8", "replace")
    assert "AddressSanitizer" not in err and "runtime error:" not in err, err
    return p.returncode, err


def line_of(text, marker):
    lines = [i for i, l in enumerate(text.splitlines(), 1) if marker in l]
    assert len(lines) == 1, (marker, text)
    return lines[0]


def assert_refused_alike(tmp_path, text, marker, words):
    """check-config and run refuse text with the same CONFIG:LINE:COL: message, LINE being the one line
    holding marker (None: line 1)."""
    path = tmp_path / "sekisho.yaml"
    path.write_text(text)
    want_line = line_of(text, marker) if marker else 1

    rc, err = run_cmd(tmp_path, ["check-config", "-c", str(path)], 30)
    assert rc == 1, (rc, err)
    m = re.search("^" + re.escape(str(path)) + r":(\d+):(\d+): (.+)$", err, re.M)
    assert m, "no CONFIG:LINE:COL: message from check-config: %r" % err
    assert int(m.group(1)) == want_line, "check-config points at line %s, want %d: %r\n%s" % (
        m.group(1), want_line, err, text)
    for w in words:
        assert w in m.group(3), (w, err)
    message = m.group(0)

    rc, err = run_cmd(tmp_path, ["run", "-c", str(path)], 15)
    assert rc is not None, "run kept serving a config that check-config refuses:\n" + text
    assert rc != 0, err
    assert message in err.splitlines(), "run's error differs from check-config's %r:\n%s" % (message, err)


# (id, top-level YAML, behavior access, marker of the line at fault, words of the message, files to create)
CASES = [
    ("users_file_missing", "users: { file: ./nobody.yaml }\n", None, "nobody.yaml",
     ["users.file", "nobody.yaml"], {}),
    ("htpasswd_missing", "users: { htpasswd: ./nobody.htpasswd }\n", None, "nobody.htpasswd",
     ["users.htpasswd", "nobody.htpasswd"], {}),
    ("users_file_invalid", "users:\n  file: ./users.yaml\n", None, "file: ./users.yaml",
     ["users.file", "users.yaml:"], {"users.yaml": "alice: [unclosed\n"}),
    ("api_keys_missing", "api_keys: { file: ./nokeys.yaml }\n", None, "nokeys.yaml",
     ["api_keys.file", "nokeys.yaml"], {}),
    ("geoip_missing", "geoip:\n  database: ./data/country.mmdb\n", None, "country.mmdb",
     ["geoip.database", "country.mmdb"], {}),
    ("geoip_not_a_database", "geoip: { database: ./fake.mmdb }\n", None, "fake.mmdb",
     ["geoip.database", "fake.mmdb"], {"fake.mmdb": "not a MaxMind database\n"}),
    ("certificate_missing", "certificates:\n  site:\n    cert: ./site.crt\n    key: ./site.key\n", None,
     "cert: ./site.crt", ["certificate 'site'", "site.crt"], {}),
    ("mfa_without_totp_key_file", "users: { file: ./users.yaml }\n", "{ auth: [basic], mfa: required }",
     "mfa: required", ["mfa: required needs totp.key_file"], {"users.yaml": "{}\n"}),
    ("mfa_totp_key_not_enrolled", "users: { file: ./users.yaml }\ntotp: { key_file: ./var/totp.key }\n",
     "{ auth: [basic], mfa: required }", "key_file: ./var/totp.key", ["totp.key", "enroll"],
     {"users.yaml": "{}\n"}),
    ("session_key_in_missing_directory",
     "users: { file: ./users.yaml }\nsession: { key_file: ./keys/session.key }\n", "{ auth: [session] }",
     "session.key", ["session.key_file", "keys", "does not exist"], {"users.yaml": "{}\n"}),
    ("state_path_in_missing_directory", "users: { file: ./users.yaml }\nlockout: { deny: 3 }\n",
     "{ auth: [basic] }", "state:", ["state.path", "does not exist"], {"users.yaml": "{}\n"}),
    ("limits_over_the_buffers", "limits: { request_line: 65536 }\n", None, "request_line",
     ["'request_line' must be a number from 1 to 16384"], {}),
    ("header_fields_over_the_buffers", "limits:\n  header_fields: 1000\n", None, "header_fields",
     ["'header_fields'", "128"], {}),
]


@pytest.mark.parametrize("name,top,access,marker,words,files", CASES, ids=[c[0] for c in CASES])
def test_refused_alike(tmp_path, name, top, access, marker, words, files):
    for fname, content in files.items():
        (tmp_path / fname).write_text(content)
    text = config_text(free_port(), top, access)
    if name == "state_path_in_missing_directory":
        text = text.replace("state: { path: ./var }", "state: { path: ./missing/var }")
    assert_refused_alike(tmp_path, text, marker, words)


def test_certificate_that_does_not_parse(tmp_path, pki):  # noqa: F811
    top = "certificates:\n  site:\n    cert: %s\n    key: %s\n" % (pki.path("broken.crt"), pki.key("a"))
    assert_refused_alike(tmp_path, config_text(free_port(), top), "broken.crt", ["certificate 'site'", "broken.crt"])


def test_certificate_key_that_does_not_match(tmp_path, pki):  # noqa: F811
    top = "certificates:\n  site:\n    cert: %s\n    key: %s\n" % (pki.crt("a"), pki.path("other.key"))
    assert_refused_alike(tmp_path, config_text(free_port(), top), "other.key", ["certificate 'site'", "other.key"])


def test_client_ca_file_missing(tmp_path, pki):  # noqa: F811
    top = "certificates: { site: { cert: %s, key: %s } }\n" % (pki.crt("a"), pki.key("a"))
    text = re.sub(r'(listen: "127\.0\.0\.1:\d+") \}', r'\1, tls: { certificates: [site], client_ca: ./clients.pem } }',
                  config_text(free_port(), top), count=1)
    assert "clients.pem" in text
    assert_refused_alike(tmp_path, text, "clients.pem", ["clients.pem", "client_ca"])


def test_origin_ca_file_missing(tmp_path):
    text = config_text(free_port()).replace('servers: ["127.0.0.1:3000"]',
                                            'servers: ["127.0.0.1:3000"], tls: { ca: ./corp-ca.pem }')
    assert_refused_alike(tmp_path, text, "corp-ca.pem", ["corp-ca.pem", "origin 'app'"])


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "workers: 2\nadmin: { listen: \"127.0.0.1:%d\" }\n"],
                         ids=["empty", "comment_only", "admin_only"])
def test_nothing_to_serve_is_refused(tmp_path, text):
    if "%d" in text:
        text = text % free_port()
    path = tmp_path / "sekisho.yaml"
    path.write_text(text)
    rc, err = run_cmd(tmp_path, ["check-config", "-c", str(path)], 30)
    assert rc == 1, err
    want = "%s:1:1: nothing to serve: the configuration has no listeners" % path
    assert want in err, err
    rc, err = run_cmd(tmp_path, ["run", "-c", str(path)], 15)
    assert rc is not None and rc != 0, "run started with nothing to serve"
    assert want in err, err


def test_unresolvable_server_name_is_refused(tmp_path):
    # .invalid never resolves (RFC 6761).
    text = config_text(free_port(), server="backend.invalid:3000")
    assert_refused_alike(tmp_path, text, "backend.invalid", ["backend.invalid:3000", "does not resolve"])


def test_good_config_passes_both(tmp_path, sekisho, origin):
    """The counterpart of the table: the files exist and parse, so both accept it."""
    (tmp_path / "users.yaml").write_text("{}\n")
    (tmp_path / "keys.yaml").write_text("{}\n")
    text = config_text(free_port(), "users: { file: ./users.yaml }\napi_keys: { file: ./keys.yaml }\n"
                       "session: { key_file: ./session.key }\n", "{ auth: [basic, api_key, session] }",
                       server="127.0.0.1:%d" % origin.port)
    path = tmp_path / "good.yaml"
    path.write_text(text)
    rc, err = run_cmd(tmp_path, ["check-config", "-c", str(path)], 30)
    assert rc == 0, err
    assert not (tmp_path / "session.key").exists(), "check-config created the session key"
    sk = sekisho(text)
    wait_until(lambda: (tmp_path / "session.key").exists(), what="run to create the session key")
    assert sk.alive()


def test_origin_by_name_works_end_to_end(sekisho, origin):
    """servers: ["localhost:PORT"] is resolved at load; requests reach the origin; the Host sent by
    default is the name as written; every address the name has is a server (the access log's
    `upstream` names the address each request went to, round robin over all of them)."""
    want = set()
    for fam, _, _, _, sa in socket.getaddrinfo("localhost", origin.port, type=socket.SOCK_STREAM,
                                               flags=socket.AI_ADDRCONFIG):
        want.add("%s:%d" % (sa[0], sa[1]) if fam == socket.AF_INET else "[%s]:%d" % (sa[0], sa[1]))
    cfg = simple_config(origin.port, origin={"servers": ["localhost:%d" % origin.port]})
    del cfg["origins"]["app"]["host"]
    sk = sekisho(cfg)
    n = 2 * len(want)
    for i in range(n):
        req = urllib.request.Request(sk.url + "/by-name/%d" % i, headers={"Host": "app.test"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200
    rec = origin.last()
    assert rec["path"] == "/by-name/%d" % (n - 1)
    hosts = [v for k, v in rec["headers"] if k.lower() == "host"]
    assert hosts == ["localhost:%d" % origin.port], rec["headers"]
    entries = wait_until(lambda: [e for e in sk.log_lines() if str(e.get("path", "")).startswith("/by-name/")]
                         if len(sk.log_lines()) >= n else None, what="the access log lines")
    assert {e["upstream"] for e in entries} == want, entries


def test_quickstart_starts_without_the_country_database(sekisho, tmp_path):
    """`make run` on a fresh clone where scripts/fetch-geoip could not download (no data/country.mmdb):
    the quickstart passes check-config and serves (its own two listeners, moved to free ports)."""
    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    shutil.copytree(os.path.join(repo, "examples"), tmp_path / "examples")
    assert not (tmp_path / "data").exists()
    web, own = free_port(), free_port()
    text = (tmp_path / "examples" / "quickstart.yaml").read_text()
    text = text.replace("127.0.0.1:8080", "127.0.0.1:%d" % web).replace("127.0.0.1:8081", "127.0.0.1:%d" % own)
    path = tmp_path / "examples" / "quickstart.yaml"
    path.write_text(text)
    rc, err = run_cmd(tmp_path, ["check-config", "-c", str(path)], 30)
    assert rc == 0, err
    sk = sekisho(text.replace("./www", str(tmp_path / "examples" / "www")))
    for p in ("/", "/proxied/"):
        with urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:%d%s" % (web, p),
                                                           headers={"Host": "localhost"}), timeout=10) as r:
            assert r.status == 200, p
    assert sk.alive()
