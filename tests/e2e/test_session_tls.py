"""Login sessions over TLS (DESIGN §3 "Sessions"): the session and CSRF cookies get `Secure` when the
viewer connection is TLS, and the whole password login works through curl with the test PKI."""

import re
import subprocess

import pytest

from tlsutil import pki  # noqa: F401  (fixture)
from test_tls import tls_config


# The same login over HTTP/1.1 and over HTTP/2 (ALPN h2, DESIGN §2 "HTTP/2").
@pytest.mark.parametrize("proto,flag", [("HTTP/1.1", "--http1.1"), ("HTTP/2", "--http2")])
def test_cookies_are_secure_over_tls(sekisho, origin, pki, tmp_path, proto, flag):
    users = tmp_path / "users.yaml"
    subprocess.run([__import__("conftest").sekisho_bin(), "passwd", "-f", str(users), "alice", "--stdin",
                    "--algo", "bcrypt"], input="pw-for-tls\n", text=True, check=True, capture_output=True)
    cfg = tls_config(pki, origin.port, behavior={"access": {"auth": ["session"]}},
                     state={"path": str(tmp_path / "var")}, users={"file": str(users)})
    sk = sekisho(cfg)
    port = sk.port("web")
    jar = str(tmp_path / "jar")
    base = ["curl", "-sS", "--max-time", "10", "--cacert", pki.root, "--resolve", "a.test:%d:127.0.0.1" % port,
            "-c", jar, "-b", jar, "-D", "-", flag]
    page = subprocess.run(base + ["https://a.test:%d/.sekisho/login?rd=/x" % port], capture_output=True,
                          text=True, check=True).stdout
    csrf_cookie = [l for l in page.splitlines() if l.lower().startswith("set-cookie: sekisho_csrf=")]
    assert len(csrf_cookie) == 1 and "; Secure" in csrf_cookie[0] and "HttpOnly" in csrf_cookie[0], page[:600]
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    post = subprocess.run(base + ["--data-urlencode", "csrf=" + token, "--data-urlencode", "username=alice",
                                  "--data-urlencode", "password=pw-for-tls", "--data-urlencode", "rd=/x",
                                  "https://a.test:%d/.sekisho/login" % port],
                          capture_output=True, text=True, check=True).stdout
    assert post.startswith(proto + " 303"), post[:300]
    assert re.search(r"(?mi)^location: /x\r?$", post), post[:300]
    session = [l for l in post.splitlines() if l.lower().startswith("set-cookie: sekisho_session=")]
    assert len(session) == 1, post[:600]
    assert "; Secure" in session[0] and "HttpOnly" in session[0] and "SameSite=Lax" in session[0]
    # The cookie opens the behavior; the origin sees the session's user.
    got = subprocess.run(base + ["https://a.test:%d/x" % port], capture_output=True, text=True, check=True).stdout
    assert got.startswith(proto + " 200"), got[:300]
    assert dict((k.lower(), v) for k, v in origin.last()["headers"])["x-auth-user"] == "alice"
