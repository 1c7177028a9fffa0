"""`sekisho check-config` (DESIGN §6, §7): "configuration OK", or FILE:LINE:COL: message and exit 1."""

import re
import subprocess

import pytest

from util import sekisho_bin, sekisho_env

GOOD = """\
workers: 2
access_log: { path: "-" }
trusted_proxies: [127.0.0.1/32]
timeouts: { header_read: 10s, keepalive: 60s }
limits: { request_line: 8192, header_block: 16384, header_fields: 100 }
listeners:
  - { name: web, listen: "127.0.0.1:18080" }
  - { name: db, listen: "127.0.0.1:15432", mode: tcp, origin: pg, idle_timeout: 1h }
origins:
  app: { servers: ["127.0.0.1:3000"], host: app.internal, headers: { x-api-token: "${API_TOKEN}" },
         connect_timeout: 2s, response_timeout: 30s }
  pg: { servers: ["127.0.0.1:5432"] }
distributions:
  - name: intranet
    aliases: [intranet.example.com, "*.intranet.example.com"]
    listeners: [web]
    behaviors:
      - path: /api/*
        origin: app
        forward_headers: [Authorization, User-Agent]
      - path: "*"
        origin: app
        forward_host: true
        idle_timeout: 2h
"""


def check(tmp_path, text, name="c.yaml"):
    p = tmp_path / name
    p.write_text(text)
    out = subprocess.run([sekisho_bin(), "check-config", "-c", str(p)], capture_output=True, timeout=30,
                         env=sekisho_env({"API_TOKEN": "t"}), cwd=str(tmp_path))
    return out.returncode, out.stdout.decode(), out.stderr.decode(), str(p)


def assert_error(tmp_path, text, line, words):
    rc, out, err, path = check(tmp_path, text)
    assert rc == 1, (rc, out, err)
    assert "AddressSanitizer" not in err and "runtime error:" not in err, err
    m = re.search(re.escape(path) + r":(\d+):(\d+): (.+)", err)
    assert m, "no FILE:LINE:COL: message on stderr: %r" % err
    if line is not None:
        assert int(m.group(1)) == line, "error reported at line %s, expected %d: %r" % (m.group(1), line, err)
    msg = err.lower()
    for w in words:
        assert w.lower() in msg, "message does not mention %r: %r" % (w, err)
    return err


def test_good_config(tmp_path):
    rc, out, err, _ = check(tmp_path, GOOD)
    assert rc == 0, err
    assert "configuration OK" in out


def test_unknown_key(tmp_path):
    text = GOOD.replace("    listeners: [web]\n", "    listeners: [web]\n    colour: blue\n")
    line = text.splitlines().index("    colour: blue") + 1
    assert_error(tmp_path, text, line, ["colour"])


def test_unknown_top_level_key(tmp_path):
    text = GOOD + "frobnicate: true\n"
    assert_error(tmp_path, text, len(text.splitlines()), ["frobnicate"])


def test_wrong_type(tmp_path):
    text = GOOD.replace("workers: 2", "workers: [1, 2]")
    assert_error(tmp_path, text, 1, ["workers"])


def test_wrong_type_duration(tmp_path):
    text = GOOD.replace("connect_timeout: 2s", "connect_timeout: soon")
    line = next(i for i, l in enumerate(text.splitlines(), 1) if "connect_timeout: soon" in l)
    assert_error(tmp_path, text, line, [])


def test_dangling_origin(tmp_path):
    text = GOOD.replace("      - path: \"*\"\n        origin: app", "      - path: \"*\"\n        origin: nowhere")
    line = text.splitlines().index("        origin: nowhere") + 1
    assert_error(tmp_path, text, line, ["nowhere"])


def test_dangling_tcp_origin(tmp_path):
    text = GOOD.replace("mode: tcp, origin: pg", "mode: tcp, origin: pgx")
    line = next(i for i, l in enumerate(text.splitlines(), 1) if "origin: pgx" in l)
    assert_error(tmp_path, text, line, ["pgx"])


def test_duplicate_alias_names_both_places(tmp_path):
    text = GOOD + """\
  - name: other
    aliases: [www.other.test, intranet.example.com]
    behaviors:
      - { path: "*", origin: app }
"""
    lines = text.splitlines()
    dup_line = next(i for i, l in enumerate(lines, 1) if "www.other.test, intranet.example.com" in l)
    first_line = next(i for i, l in enumerate(lines, 1) if "aliases: [intranet.example.com" in l)
    err = assert_error(tmp_path, text, None, ["intranet.example.com"])
    # Both places: the error points at one, and the message names the other (line or distribution).
    places = {int(m.group(1)) for m in re.finditer(r":(\d+):\d+", err)}
    places |= {int(m.group(1)) for m in re.finditer(r"line (\d+)", err)}
    rest = err.replace("intranet.example.com", "")
    mentions_first = first_line in places or re.search(r"\bintranet\b", rest)
    mentions_dup = dup_line in places or re.search(r"\bother\b", rest)
    assert mentions_first and mentions_dup, err


def test_missing_file(tmp_path):
    out = subprocess.run([sekisho_bin(), "check-config", "-c", str(tmp_path / "absent.yaml")],
                         capture_output=True, timeout=30, env=sekisho_env())
    assert out.returncode == 1
    assert "absent.yaml" in out.stderr.decode()


def test_yaml_syntax_error(tmp_path):
    text = GOOD.replace("origins:\n", "origins: [\n", 1)
    rc, out, err, path = check(tmp_path, text)
    assert rc == 1
    assert re.search(re.escape(path) + r":\d+:\d+: ", err), err


@pytest.mark.parametrize("bad,word", [
    ('listen: "127.0.0.1:18080"', 'listen: "not-an-address"'),
    ("mode: tcp", "mode: udp"),
    ("forward_host: true", "forward_host: maybe"),
    ("forward_headers: [Authorization, User-Agent]", "forward_headers: some"),
    ("trusted_proxies: [127.0.0.1/32]", "trusted_proxies: [127.0.0.1/99]"),
])
def test_invalid_values(tmp_path, bad, word):
    text = GOOD.replace(bad, word)
    assert text != GOOD
    line = next(i for i, l in enumerate(text.splitlines(), 1) if word in l)
    assert_error(tmp_path, text, line, [])


def test_run_refuses_bad_config(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text(GOOD + "nonsense: 1\n")
    try:
        out = subprocess.run([sekisho_bin(), "run", "-c", str(p)], capture_output=True, timeout=10,
                             env=sekisho_env({"API_TOKEN": "t"}), cwd=str(tmp_path))
    except subprocess.TimeoutExpired:
        pytest.fail("`sekisho run` kept running with an invalid config")
    assert out.returncode != 0
    assert re.search(re.escape(str(p)) + r":\d+:\d+: ", out.stderr.decode())
