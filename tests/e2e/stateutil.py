"""Helpers shared by the end-to-end tests of the state store (lockout, bans, TOTP, shared Redis): the CLI
with sanitizer checks, bcrypt hashes and TOTP codes from the real tools, raw requests from a chosen source
address, the accept-time refusal probe and the CLI's tables."""

import base64
import http.client
import json
import re
import socket
import subprocess
import datetime

from util import bcrypt, run_cli, sekisho_bin  # noqa: F401 (re-exported to the state-store tests)


def cli(*args, check=True, input=None):
    return run_cli(*args, check=check, input=input)


def oathtool(secret, at=None):
    argv = ["oathtool", "--totp", "-b"]
    if at is not None:
        argv += ["-N", "@%d" % at]
    code = subprocess.run(argv + [secret], capture_output=True, text=True, check=True).stdout.strip()
    assert re.fullmatch(r"\d{6}", code), code
    return code


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # list of (name, value) as received
        self.body = body

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def __repr__(self):
        return "<Resp %d %r %r>" % (self.status, self.headers, self.body[:200])


def request(port, path="/", auth=None, src="127.0.0.1", headers=None, method="GET", body=None):
    """One request on a fresh connection from source address src."""
    h = {"Host": "app.test", "Accept": "application/json"}
    if auth is not None:
        h["Authorization"] = "Basic " + base64.b64encode(("%s:%s" % auth).encode()).decode()
    h.update(headers or {})
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(src, 0))
    try:
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        return Resp(r.status, r.getheaders(), data)
    finally:
        c.close()


def refused(port, src):
    """True if a connection from src is closed without any HTTP answer (ban at accept); False if an HTTP
    response comes back. An IPv6 src connects to ::1, an IPv4 one to 127.0.0.1."""
    v6 = ":" in src
    s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    s.bind((src, 0))
    data = b""
    try:
        s.connect(("::1" if v6 else "127.0.0.1", port))
        s.sendall(b"GET /probe HTTP/1.1\r\nHost: app.test\r\n\r\n")
        while b"\r\n\r\n" not in data:
            b = s.recv(65536)
            if not b:
                break
            data += b
    except (ConnectionResetError, BrokenPipeError):
        pass
    finally:
        s.close()
    if data == b"":
        return True
    assert data.startswith(b"HTTP/1.1 "), data
    return False


def table(text):
    """A CLI table: header cells and rows, columns split on runs of two or more spaces."""
    lines = [l for l in text.splitlines() if l.strip()]
    cells = [re.split(r"\s{2,}", l.strip()) for l in lines]
    return cells[0], cells[1:]


def utc(s):
    return datetime.datetime.strptime(s, "%Y-%m-%d %H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()
