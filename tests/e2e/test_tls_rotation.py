"""Certificate rotation under load (DESIGN §6, issue 5): `cert add` the new certificate, point the listener
at it, SIGHUP, while wrk drives keep-alive requests and new handshakes (Connection: close) over TLS.
Zero failed handshakes and zero failed requests: wrk must report neither non-2xx responses nor socket
errors, and sekisho's handshake-failure counter stays at 0."""

import re
import subprocess
import threading
import time

import requests
import yaml

from test_tls import der, served_cert
from test_tls_cert_cli import cert_cmd
from tlsutil import pki  # noqa: F401  (fixture)
from util import free_port, wait_until


def wrk(url, out, *extra):
    p = subprocess.run(["wrk", "-t1", "-c6", "-d5s", "--timeout", "5s"] + list(extra) + [url], capture_output=True,
                       text=True, timeout=60)
    out.append(p.stdout + p.stderr)


def test_rotation_under_load_has_no_errors(sekisho, pki, tmp_path):
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("rotating\n")
    admin = free_port()
    cfg = {
        "access_log": {"path": "off"},
        "admin": {"listen": "127.0.0.1:%d" % admin},
        "certificates": {"site": pki.cert_entry("a")},
        "listeners": [{"name": "web", "tls": {"certificates": ["site"]}}],
        "origins": {"site": {"root": str(www)}},
        "distributions": [{"name": "s", "aliases": ["a.test", "127.0.0.1"],
                           "behaviors": [{"path": "*", "origin": "site"}]}],
    }
    sk = sekisho(cfg)
    port = sk.port()
    url = "https://127.0.0.1:%d/" % port
    outs = []
    runs = [threading.Thread(target=wrk, args=(url, outs)),
            threading.Thread(target=wrk, args=(url, outs, "-H", "Connection: close"))]
    t0 = time.monotonic()
    for t in runs:
        t.start()
    time.sleep(1.5)
    p = cert_cmd(sk.config_path, "add", "site-next", "--cert", pki.crt("a2"), "--key", pki.key("a2"), "--chain",
                 pki.inter)
    assert p.returncode == 0, p.stderr
    data = yaml.safe_load(open(sk.config_path).read())
    data["listeners"][0]["tls"]["certificates"] = ["site-next"]
    sk.reload(data)
    wait_until(lambda: served_cert(port, "a.test")[0] == der(pki.crt("a2")), timeout=5, what="the new certificate")
    # Read the handshake counters while wrk still runs, after the switch: when wrk stops at the end of its
    # duration it drops connections in mid-handshake, which sekisho rightly counts as failed.
    time.sleep(max(0.0, 3.8 - (time.monotonic() - t0)))
    text = requests.get("http://127.0.0.1:%d/metrics" % admin, timeout=5).text
    for t in runs:
        t.join(60)
    assert len(outs) == 2
    for out in outs:
        m = re.search(r"(\d+) requests in", out)
        assert m and int(m.group(1)) > 50, out
        assert "Non-2xx" not in out, out
        assert "Socket errors" not in out, out
    assert "reload refused" not in sk.stderr_text()
    assert re.search(r"^sekisho_tls_handshake_failures_total 0$", text, re.M), text
    handshakes = sum(int(n) for n in re.findall(r'^sekisho_tls_handshakes_total\{[^}]*result="ok"\} (\d+)$', text, re.M))
    assert handshakes > 50
    for line in sk.stderr_text().splitlines():  # only wrk's final drop, if anything
        if "TLS handshake failed" in line:
            assert "Connection reset by peer" in line or "closed during the handshake" in line, line
    # The old certificate can go now.
    assert cert_cmd(sk.config_path, "delete", "site").returncode == 0
