"""HTTP/2 on the viewer side (DESIGN §2 "HTTP/2"): ALPN h2 on TLS listeners unless `http2: false`,
prior-knowledge h2c only with `h2c: true`, one exchange per stream through the same routing, access
checks, handlers and log as HTTP/1.1; request and response bodies with flow control; validation of the
request (RFC 9113 §8); and the limits and flood guards of `limits.h2`.

Clients: curl (--http2, --http2-prior-knowledge), nghttp, h2load, and python3-h2 for frames a normal
client never sends.
"""

import json
import socket
import subprocess
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import pytest

from tlsutil import pki  # noqa: F401  (pki is a fixture)
from util import HOST, read_metrics, simple_config, wait_until


def h2c_config(origin_port, **kw):
    cfg = simple_config(origin_port, **kw)
    cfg["listeners"][0]["h2c"] = True
    return cfg


def tls_config(pki, origin_port, http2=None, **kw):
    cfg = simple_config(origin_port, aliases=("a.test",), **kw)
    cfg["certificates"] = {"a": pki.cert_entry("a")}
    cfg["listeners"][0]["tls"] = {"certificates": ["a"]}
    if http2 is not None:
        cfg["listeners"][0]["http2"] = http2
    return cfg


def curl(args, timeout=20):
    p = subprocess.run(["curl", "-sS", "--max-time", "10"] + args, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def curl_h2c(sk, path="/", *extra, host="app.test"):
    """curl with prior knowledge: returns (http_version, status, body)."""
    rc, out, err = curl(["--http2-prior-knowledge", "-H", "Host: " + host, "-o", "-", "-w",
                         "\n%{http_version} %{http_code}"] + list(extra) +
                        ["http://127.0.0.1:%d%s" % (sk.port(), path)])
    assert rc == 0, err
    body, _, tail = out.rpartition(b"\n")
    ver, code = tail.decode().split()
    return ver, int(code), body


def curl_tls(sk, pki, path="/", *extra, host="a.test"):
    rc, out, err = curl(["--cacert", pki.root, "--resolve", "%s:%d:127.0.0.1" % (host, sk.port()), "-o", "-",
                         "-w", "\n%{http_version} %{http_code}"] + list(extra) +
                        ["https://%s:%d%s" % (host, sk.port(), path)])
    assert rc == 0, err
    body, _, tail = out.rpartition(b"\n")
    ver, code = tail.decode().split()
    return ver, int(code), body


class H2Client:
    """A python3-h2 client over a plain socket (prior-knowledge h2c): frames as the test writes them."""

    def __init__(self, port, settings=None):
        self.sock = socket.create_connection((HOST, port), timeout=5)
        cfg = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(config=cfg)
        self.conn.initiate_connection()
        if settings:
            self.conn.update_settings(settings)
        self.flush()
        self.events = []

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def send_raw(self, data):
        self.sock.sendall(data)

    def request(self, path="/", method="GET", host="app.test", headers=(), end_stream=True):
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":scheme", "http"), (":authority", host), (":path", path)] + list(headers)
        self.conn.send_headers(sid, hdrs, end_stream=end_stream)
        self.flush()
        return sid

    def pump(self, until, timeout=5.0):
        """Reads and collects events until until(events) is true or the peer closes; returns the events."""
        deadline = time.monotonic() + timeout
        while not until(self.events):
            if time.monotonic() > deadline:
                raise AssertionError("timeout; events so far: %r" % self.events[-10:])
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                data = b""
            if not data:
                self.events.append("EOF")
                break
            try:
                self.events.extend(self.conn.receive_data(data))
            except h2.exceptions.ProtocolError as e:
                self.events.append(("protocol-error", str(e)))
                break
            self.flush()
        return self.events

    def response(self, sid, timeout=5.0):
        """Waits for stream sid to end; returns (status, headers dict, body) or raises."""
        def done(evs):
            return any(isinstance(e, (h2.events.StreamEnded, h2.events.StreamReset)) and e.stream_id == sid
                       for e in evs if not isinstance(e, (str, tuple))) or "EOF" in evs
        self.pump(done, timeout)
        status, headers, body = None, {}, b""
        for e in self.events:
            if isinstance(e, h2.events.ResponseReceived) and e.stream_id == sid:
                headers = dict(e.headers)
                status = int(headers[":status"])
            elif isinstance(e, h2.events.DataReceived) and e.stream_id == sid:
                body += e.data
                self.conn.acknowledge_received_data(e.flow_controlled_length, sid)
            elif isinstance(e, h2.events.StreamReset) and e.stream_id == sid:
                return ("reset", e.error_code, body)
        self.flush()
        return status, headers, body

    def goaway(self):
        return next((e for e in self.events if isinstance(e, h2.events.ConnectionTerminated)), None)

    def close(self):
        self.sock.close()


# ---- negotiation ----------------------------------------------------------------------------------

def test_tls_alpn_h2_get_end_to_end(sekisho, origin, pki):
    sk = sekisho(tls_config(pki, origin.port))
    ver, code, body = curl_tls(sk, pki, "/hello?x=1", "--http2")
    assert (ver, code) == ("2", 200)
    rec = json.loads(body)
    assert rec["path"] == "/hello?x=1" and rec["version"] == "HTTP/1.1"  # origins stay HTTP/1.1
    line = sk.wait_log(lambda e: e.get("path") == "/hello")
    assert line["protocol"] == "HTTP/2" and line["status"] == 200 and line["host"].startswith("a.test")


def test_tls_http2_false_offers_only_http11(sekisho, origin, pki):
    sk = sekisho(tls_config(pki, origin.port, http2=False))
    ver, code, _ = curl_tls(sk, pki, "/", "--http2")
    assert (ver, code) == ("1.1", 200)
    assert sk.wait_log(lambda e: e.get("path") == "/")["protocol"] == "HTTP/1.1"


def test_h2c_prior_knowledge_only_when_enabled(sekisho, origin):
    sk = sekisho(h2c_config(origin.port))
    ver, code, body = curl_h2c(sk, "/p")
    assert (ver, code) == ("2", 200) and json.loads(body)["path"] == "/p"
    # HTTP/1.1 still works on the same listener.
    rc, out, err = curl(["-H", "Host: app.test", "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
                         "http://127.0.0.1:%d/q" % sk.port()])
    assert out.decode() == "1.1 200", err
    sk.stop()
    sk2 = sekisho(simple_config(origin.port))
    rc, out, err = curl(["--http2-prior-knowledge", "-H", "Host: app.test", "-o", "/dev/null",
                         "-w", "%{http_code}", "http://127.0.0.1:%d/" % sk2.port()])
    assert rc != 0 or out.decode() != "200"  # the preface is not an HTTP/1.1 request: refused


def test_access_log_protocol_http10_and_11(sekisho, origin):
    sk = sekisho(simple_config(origin.port))
    curl(["-H", "Host: app.test", "--http1.0", "-o", "/dev/null", "http://127.0.0.1:%d/ten" % sk.port()])
    curl(["-H", "Host: app.test", "-o", "/dev/null", "http://127.0.0.1:%d/eleven" % sk.port()])
    assert sk.wait_log(lambda e: e.get("path") == "/ten")["protocol"] == "HTTP/1.0"
    assert sk.wait_log(lambda e: e.get("path") == "/eleven")["protocol"] == "HTTP/1.1"
