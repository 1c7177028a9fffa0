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
import h2.errors
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
        self.events = []
        self.flush()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            try:
                self.sock.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                self.events.append("EOF")

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


# ---- bodies ---------------------------------------------------------------------------------------

def test_h2_request_bodies_stream_to_origin(sekisho, origin, tmp_path):
    """A 5 MB upload with Content-Length and one without (unannounced length, sent chunked to the origin):
    both reach the origin whole, through a stream window of 64 KiB granted back as the origin takes it."""
    import hashlib
    sk = sekisho(h2c_config(origin.port))
    data = bytes(range(256)) * (5 * 4096)
    f = tmp_path / "up.bin"
    f.write_bytes(data)
    ver, code, body = curl_h2c(sk, "/up", "--data-binary", "@%s" % f)
    assert (ver, code) == ("2", 200)
    rec = json.loads(body)
    assert rec["body_len"] == len(data) and rec["body_sha256"] == hashlib.sha256(data).hexdigest()
    assert ("Content-Length", str(len(data))) in [tuple(h) for h in rec["headers"]]
    # No content-length: the origin gets Transfer-Encoding: chunked.
    c = H2Client(sk.port())
    sid = c.request("/up2", method="POST", end_stream=False)
    sent = 0
    chunk = data[:16384]
    while sent < 300000:
        window = min(c.conn.local_flow_control_window(sid), c.conn.max_outbound_frame_size)
        if window <= 0:
            c.pump(lambda evs: c.conn.local_flow_control_window(sid) > 0)
            continue
        c.conn.send_data(sid, chunk[:window])
        sent += min(window, len(chunk))
        c.flush()
    c.conn.end_stream(sid)
    c.flush()
    status, headers, body = c.response(sid)
    assert status == 200
    rec = json.loads(body)
    assert rec["body_len"] == sent
    assert ("Transfer-Encoding", "chunked") in [tuple(h) for h in rec["headers"]]
    c.close()


@pytest.mark.parametrize("with_cl", [True, False])
def test_h2_body_in_the_same_read_as_headers(sekisho, origin, with_cl):
    """HEADERS, DATA and END_STREAM in one write (so usually one read): the body still reaches the origin
    (a request ended before its exchange began is not a request without a body)."""
    sk = sekisho(h2c_config(origin.port))
    c = H2Client(sk.port())
    for i in range(5):
        sid = c.conn.get_next_available_stream_id()
        hdrs = [(":method", "POST"), (":scheme", "http"), (":authority", "app.test"), (":path", "/same%d" % i)]
        if with_cl:
            hdrs.append(("content-length", "11"))
        c.conn.send_headers(sid, hdrs)
        c.conn.send_data(sid, b"hello world", end_stream=True)
        c.flush()
        status, _, body = c.response(sid)
        assert status == 200 and json.loads(body)["body_len"] == 11
    c.close()


def test_h2_get_ended_by_an_empty_data_frame(sekisho, origin):
    """Some clients end a GET with an empty DATA frame instead of END_STREAM on HEADERS: still no body."""
    sk = sekisho(h2c_config(origin.port))
    c = H2Client(sk.port())
    sid = c.request("/empty", end_stream=False)
    c.conn.send_data(sid, b"", end_stream=True)
    c.flush()
    status, _, body = c.response(sid)
    assert status == 200 and json.loads(body)["body_len"] == 0
    # The same with the end in a later read: the stream waits for it instead of guessing.
    sid = c.request("/empty2", end_stream=False)
    time.sleep(0.3)
    c.conn.send_data(sid, b"", end_stream=True)
    c.flush()
    status, _, body = c.response(sid)
    assert status == 200 and json.loads(body)["body_len"] == 0
    # A GET that does carry a body is refused as on HTTP/1.1 (DESIGN §2).
    sid = c.request("/withbody", end_stream=False)
    c.conn.send_data(sid, b"x", end_stream=True)
    c.flush()
    assert c.response(sid)[0] == 400
    assert origin.count == 2
    c.close()


def test_h2_response_bodies_big_head_and_304(sekisho, origin):
    sk = sekisho(h2c_config(origin.port))
    ver, code, body = curl_h2c(sk, "/big/3000000")  # chunked from the origin: DATA frames until END_STREAM
    assert (ver, code, len(body)) == ("2", 200, 3000000)
    c = H2Client(sk.port())
    sid = c.request("/x", method="HEAD")
    status, headers, body = c.response(sid)
    assert status == 200 and body == b"" and headers.get("content-length") == "1234"
    sid = c.request("/status/304")
    status, headers, body = c.response(sid)
    assert status == 304 and body == b""
    # No connection-specific field reaches an HTTP/2 viewer (the origin said keep-alive framing fields).
    sid = c.request("/y")
    status, headers, body = c.response(sid)
    assert status == 200 and not {"connection", "keep-alive", "transfer-encoding"} & set(headers)
    assert headers["content-length"] == str(len(body))
    c.close()


def test_h2_slow_reader_gets_backpressure_not_buffering(sekisho, origin):
    """A viewer that grants no window: sekisho stops pulling from the origin instead of buffering it."""
    sk = sekisho(h2c_config(origin.port))
    c = H2Client(sk.port(), settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 65535})
    sid = c.request("/big/50000000")
    c.pump(lambda evs: sum(len(e.data) for e in evs if isinstance(e, h2.events.DataReceived)) >= 65535)
    time.sleep(1.0)
    rss1 = sk.vm_rss_kb()
    time.sleep(1.0)
    got = sum(len(e.data) for e in c.events if isinstance(e, h2.events.DataReceived))
    assert got == 65535  # nothing beyond the window
    assert sk.vm_rss_kb() - rss1 < 8 * 1024
    # Granting window lets the rest flow.
    c.conn.acknowledge_received_data(got, sid)
    c.flush()
    c.close()


def test_h2_cookies_joined_and_trailers_dropped(sekisho, origin):
    sk = sekisho(h2c_config(origin.port))
    c = H2Client(sk.port())
    sid = c.request("/c", headers=[("cookie", "a=1"), ("cookie", "b=2"), ("x-one", "1")])
    status, _, body = c.response(sid)
    hdrs = [tuple(h) for h in json.loads(body)["headers"]]
    assert status == 200 and [v for k, v in hdrs if k.lower() == "cookie"] == ["a=1; b=2"]
    assert ("x-one", "1") in hdrs
    sid = c.request("/t", method="POST", headers=[("content-length", "5")], end_stream=False)
    c.conn.send_data(sid, b"hello")
    c.conn.send_headers(sid, [("x-trailer", "evil")], end_stream=True)
    c.flush()
    status, _, body = c.response(sid)
    rec = json.loads(body)
    assert status == 200 and rec["body_len"] == 5
    assert "x-trailer" not in [k.lower() for k, v in rec["headers"]]
    c.close()


def test_h2_large_head_moves_out_of_the_stream_intact(sekisho, origin):
    """A stream keeps its decoded fields inline up to 1.5 KiB and moves them to a worker buffer past it:
    after the move (during the header block, and again for the cookie join) every field, the path and the
    authority still read as sent, empty values included."""
    sk = sekisho(h2c_config(origin.port))
    c = H2Client(sk.port())
    pad = [(f"x-pad-{i}", "v" * 200 + str(i)) for i in range(20)]  # ~4 KiB: past the inline area
    for i, (path, extra) in enumerate([
        ("/big?q=" + "p" * 300, pad + [("x-empty", ""), ("cookie", "a=1")]),
        # the join alone outgrows the inline area: the fields move when the cookies are joined
        ("/join", [("cookie", "c" * 600), ("x-mid", "m"), ("cookie", "d" * 600), ("x-empty", "")]),
        ("/both", [("cookie", "e=5")] + pad + [("cookie", "f=6")]),
    ]):
        sid = c.request(path, headers=extra)
        status, _, body = c.response(sid)
        rec = json.loads(body)
        hdrs = [tuple(h) for h in rec["headers"]]
        # 200, not 421: the route was found by the authority as moved
        assert status == 200 and rec["path"] == path, (i, rec["path"])
        cookies = [v for k, v in hdrs if k.lower() == "cookie"]
        want = {"/big?q=" + "p" * 300: ["a=1"], "/join": ["c" * 600 + "; " + "d" * 600], "/both": ["e=5; f=6"]}[path]
        assert cookies == want, (i, cookies)
        for k, v in extra:
            if k != "cookie":
                assert (k, v) in hdrs, (i, k)
    c.close()


def test_h2_last_data_frame_carries_end_stream(sekisho, origin):
    """An origin body whose end is known once its last bytes are taken ends the stream on the DATA frame
    that carries them, not on an empty DATA frame after it."""
    sk = sekisho(h2c_config(origin.port))
    c = H2Client(sk.port())
    for path in ("/e1", "/e2"):
        sid = c.request(path)
        status, _, body = c.response(sid)
        assert status == 200 and body
        data = [e for e in c.events if isinstance(e, h2.events.DataReceived) and e.stream_id == sid]
        assert all(e.data for e in data), [len(e.data) for e in data]
        assert data[-1].stream_ended is not None
    c.close()


# ---- validation (RFC 9113 §8) ------------------------------------------------------------------------

@pytest.mark.parametrize("extra", [
    [("connection", "keep-alive")],
    [("transfer-encoding", "chunked")],
    [("te", "gzip")],
    [("upgrade", "websocket")],
    [("X-Upper", "1")],
    [("bad name", "1")],
])
def test_h2_malformed_requests_reset_and_logged(sekisho, origin, extra):
    sk = sekisho(h2c_config(origin.port))
    c = H2Client(sk.port())
    # python3-h2 validates what it sends: switch that off to send what a hostile client would.
    c.conn.config.validate_outbound_headers = False
    c.conn.config.normalize_outbound_headers = False
    sid = c.request("/bad", headers=extra)
    res = c.response(sid)
    assert res[0] == "reset" and res[1] == h2.errors.ErrorCodes.PROTOCOL_ERROR
    # The connection goes on serving.
    sid = c.request("/good", headers=[("te", "trailers")])
    assert c.response(sid)[0] == 200
    assert origin.count == 1
    line = sk.wait_log(lambda e: e.get("status") == 400)
    assert line["reason"] == "bad_request" and line["protocol"] == "HTTP/2"
    c.close()


@pytest.mark.parametrize("name", ["transfer_encoding", "content--length", "Content_Length".lower()])
def test_h2_framing_lookalikes_refused_400(sekisho, origin, name):
    """DESIGN §2: names that read as a framing field once '_' is '-' and dashes merged get 400, as on
    HTTP/1.1, and never reach an origin."""
    sk = sekisho(h2c_config(origin.port))
    c = H2Client(sk.port())
    sid = c.request("/la", headers=[(name, "chunked" if "transfer" in name else "5")])
    assert c.response(sid)[0] == 400
    assert origin.count == 0
    assert sk.wait_log(lambda e: e.get("path") == "/la")["reason"] == "bad_request"
    c.close()


def test_h2_unknown_authority_421_and_header_list_431(sekisho, origin):
    sk = sekisho(h2c_config(origin.port))
    c = H2Client(sk.port())
    sid = c.request("/", host="nope.test")
    assert c.response(sid)[0] == 421
    sid = c.request("/", headers=[("x-big%d" % i, "v" * 1000) for i in range(20)])
    assert c.response(sid)[0] == 431
    sid = c.request("/after")
    assert c.response(sid)[0] == 200
    assert origin.count == 1
    line = sk.wait_log(lambda e: e.get("status") == 431)
    assert line["reason"] == "too_large" and line["protocol"] == "HTTP/2"
    c.close()


# ---- limits and floods (DESIGN §2 "HTTP/2") ---------------------------------------------------------

def h2_metric(sk, name):
    return read_metrics(sk.admin_port).get(name, 0)


def admin_cfg(cfg):
    from util import free_port
    cfg["admin"] = {"listen": "127.0.0.1:%d" % free_port()}
    return cfg


def test_h2_rapid_reset_goaway_without_origin_requests(sekisho, origin):
    sk = sekisho(admin_cfg(h2c_config(origin.port)))
    c = H2Client(sk.port())
    for _ in range(1000):
        sid = c.request("/rr")
        c.conn.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
    c.flush()
    c.pump(lambda evs: c.goaway() is not None)
    assert c.goaway().error_code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM
    assert origin.count < 150
    assert h2_metric(sk, "sekisho_http2_abuse_total") == 1
    c.close()
    ver, code, _ = curl_h2c(sk, "/still")
    assert code == 200


def test_h2_continuation_flood_cut_off(sekisho, origin):
    from hyperframe.frame import ContinuationFrame, HeadersFrame
    sk = sekisho(admin_cfg(h2c_config(origin.port)))
    c = H2Client(sk.port())
    enc = c.conn.encoder
    hf = HeadersFrame(1)
    hf.data = enc.encode([(":method", "GET"), (":scheme", "http"), (":authority", "app.test"), (":path", "/")])
    raw = hf.serialize()
    for i in range(2000):
        cf = ContinuationFrame(1)
        cf.data = enc.encode([("x-c%d" % i, "v")])
        raw += cf.serialize()
    try:
        c.send_raw(raw)
    except (BrokenPipeError, ConnectionResetError):
        pass
    evs = c.pump(lambda evs: "EOF" in evs or c.goaway() is not None)
    assert c.goaway() is not None or "EOF" in evs
    assert origin.count == 0
    wait_until(lambda: h2_metric(sk, "sekisho_http2_abuse_total") == 1, what="the flood counted")
    assert "HTTP/2 CONTINUATION flood" in sk.stderr_text()
    c.close()
    assert curl_h2c(sk, "/still")[1] == 200


@pytest.mark.parametrize("kind", ["settings", "ping", "empty-data"])
def test_h2_frame_floods_end_the_connection(sekisho, origin, kind):
    from hyperframe.frame import DataFrame, PingFrame, SettingsFrame
    sk = sekisho(admin_cfg(h2c_config(origin.port)))
    c = H2Client(sk.port())
    if kind == "empty-data":
        sid = c.request("/e", method="POST", end_stream=False)
        frames = [DataFrame(sid) for _ in range(5000)]
    elif kind == "ping":
        frames = [PingFrame(0, opaque_data=b"12345678") for _ in range(5000)]
    else:
        frames = [SettingsFrame(0) for _ in range(5000)]
    raw = b"".join(f.serialize() for f in frames)
    try:
        c.send_raw(raw)
    except (BrokenPipeError, ConnectionResetError):
        pass
    evs = c.pump(lambda evs: "EOF" in evs or (c.goaway() is not None and
                                              c.goaway().error_code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM),
                 timeout=10)
    assert "EOF" in evs or c.goaway().error_code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM
    wait_until(lambda: h2_metric(sk, "sekisho_http2_abuse_total") >= 1, what="the flood counted")
    c.close()
    assert curl_h2c(sk, "/still")[1] == 200


def test_h2_streams_over_the_limit_refused(sekisho, origin):
    cfg = admin_cfg(h2c_config(origin.port))
    cfg["limits"] = {"h2": {"max_concurrent_streams": 4}}
    sk = sekisho(cfg)
    c = H2Client(sk.port())
    sids = [c.request("/slow/800") for _ in range(8)]
    results = [c.response(sid) for sid in sids]
    refused = [r for r in results if r[0] == "reset" and r[1] == h2.errors.ErrorCodes.REFUSED_STREAM]
    assert len(refused) == 4 and sum(1 for r in results if r[0] == 200) == 4
    assert h2_metric(sk, "sekisho_http2_refused_streams_total") == 4
    c.close()


def nghttp(sk, paths, *extra, timeout=20):
    """nghttp -nv over prior-knowledge h2c, every path on one connection: its frame log."""
    urls = ["http://127.0.0.1:%d%s" % (sk.port(), p) for p in paths]
    p = subprocess.run(["nghttp", "-nv", "-H", ":authority: app.test"] + list(extra) + urls,
                       capture_output=True, timeout=timeout)
    return p.stdout.decode("utf-8", "replace")


def test_h2_max_requests_per_connection_graceful_goaway(sekisho, origin):
    """The third request gets its answer and a GOAWAY (NO_ERROR, last stream 5); the fourth, sent on the
    same connection before the GOAWAY arrived, is refused so that the client retries it."""
    cfg = h2c_config(origin.port)
    cfg["limits"] = {"h2": {"max_requests_per_connection": 3}}
    sk = sekisho(cfg)
    out = nghttp(sk, ["/a", "/b", "/c", "/d"])
    import re
    sent = re.findall(r"send HEADERS frame <[^>]*stream_id=(\d+)>", out)
    assert "last_stream_id=%s, error_code=NO_ERROR" % sent[2] in out, out
    assert out.count(":status: 200") == 3
    assert "error_code=REFUSED_STREAM" in out
    assert origin.count == 3


def test_h2_graceful_shutdown_lets_streams_end(sekisho, origin):
    """SIGTERM: a GOAWAY, and the stream in flight still gets its whole answer."""
    import signal
    sk = sekisho(h2c_config(origin.port))
    p = subprocess.Popen(["nghttp", "-nv", "-H", ":authority: app.test", "http://127.0.0.1:%d/slow/1500" % sk.port()],
                         stdout=subprocess.PIPE)
    wait_until(lambda: origin.count == 1, what="the request at the origin")
    sk.signal(signal.SIGTERM)
    out = p.communicate(timeout=10)[0].decode()
    assert "recv GOAWAY" in out and ":status: 200" in out and '"path": "/slow/1500"' not in out
    assert "DATA frame <length=" in out and "flags=0x01" in out


def test_h2_reload_applies_to_open_connections(sekisho, origin, origin_factory):
    other = origin_factory("other")
    sk = sekisho(h2c_config(origin.port))
    c = H2Client(sk.port())
    assert c.response(c.request("/one"))[0] == 200
    sk.reload_and_wait(h2c_config(other.port))
    status, headers, body = c.response(c.request("/two"))
    assert status == 200 and headers.get("x-origin-name") == "other"
    assert c.goaway() is None
    c.close()


def test_h2load_many_streams(sekisho, origin):
    sk = sekisho(h2c_config(origin.port))
    p = subprocess.run(["h2load", "-n", "2000", "-c", "4", "-m", "20", "-H", ":authority: app.test",
                        "http://127.0.0.1:%d/load" % sk.port()], capture_output=True, timeout=120)
    out = p.stdout.decode()
    assert "2000 succeeded, 0 failed, 0 errored" in out and "status codes: 2000 2xx" in out, out
    assert sk.alive()


def test_metrics_by_protocol(sekisho, origin):
    sk = sekisho(admin_cfg(h2c_config(origin.port)))
    for _ in range(3):
        assert curl_h2c(sk, "/m")[1] == 200
    rc, out, err = curl(["-H", "Host: app.test", "-o", "/dev/null", "http://127.0.0.1:%d/m1" % sk.port()])
    assert rc == 0, err
    wait_until(lambda: h2_metric(sk, "sekisho_http2_requests_total") == 3 and
               h2_metric(sk, "sekisho_http1_requests_total") == 1, what="requests counted by protocol")
    assert h2_metric(sk, "sekisho_http2_connections_total") == 3


def test_h2_idle_and_preface_deadlines(sekisho, origin):
    """timeouts.header_read until the first stream (the preface and SETTINGS came, nothing more), then
    timeouts.keepalive once no stream is open: a GOAWAY, then the connection ends."""
    cfg = h2c_config(origin.port)
    cfg["timeouts"] = {"header_read": "1s", "keepalive": "1s"}
    sk = sekisho(cfg)
    c = H2Client(sk.port())
    t0 = time.monotonic()
    c.pump(lambda evs: "EOF" in evs, timeout=5)
    assert 0.8 < time.monotonic() - t0 < 4 and c.goaway() is not None
    c.close()
    c = H2Client(sk.port())
    assert c.response(c.request("/one"))[0] == 200
    t0 = time.monotonic()
    c.pump(lambda evs: "EOF" in evs, timeout=5)
    assert 0.8 < time.monotonic() - t0 < 4
    g = c.goaway()
    assert g is not None and g.error_code == h2.errors.ErrorCodes.NO_ERROR and g.last_stream_id == 1
    c.close()


def test_h2_static_file_in_many_frames(sekisho, tmp_path):
    """A static file larger than the stream window: read with pread frame by frame as the viewer grants
    window, whole and in order; HEAD gets its length and no DATA."""
    import hashlib
    root = tmp_path / "site"
    root.mkdir()
    data = bytes((i * 7) & 0xFF for i in range(3 * 1024 * 1024 + 17))
    (root / "big.bin").write_bytes(data)
    cfg = {"listeners": [{"name": "web", "h2c": True}], "origins": {"site": {"root": str(root)}},
           "distributions": [{"name": "s", "aliases": ["app.test"], "behaviors": [{"path": "*", "origin": "site"}]}]}
    sk = sekisho(cfg)
    ver, code, body = curl_h2c(sk, "/big.bin")
    assert (ver, code) == ("2", 200) and hashlib.sha256(body).digest() == hashlib.sha256(data).digest()
    c = H2Client(sk.port())
    status, headers, body = c.response(c.request("/big.bin", method="HEAD"))
    assert status == 200 and body == b"" and headers["content-length"] == str(len(data))
    c.close()


def test_h2_expect_100_continue(sekisho, origin):
    """The viewer waits for the go-ahead: an interim :status 100 the first time the exchange wants the
    body (RFC 9113 §8.1), then the body and the final answer."""
    sk = sekisho(h2c_config(origin.port))
    c = H2Client(sk.port())
    sid = c.request("/cont", method="POST", headers=[("content-length", "5"), ("expect", "100-continue")],
                    end_stream=False)
    c.pump(lambda evs: any(isinstance(e, h2.events.InformationalResponseReceived) for e in evs))
    info = next(e for e in c.events if isinstance(e, h2.events.InformationalResponseReceived))
    assert dict(info.headers)[":status"] == "100"
    c.conn.send_data(sid, b"hello", end_stream=True)
    c.flush()
    status, _, body = c.response(sid)
    assert status == 200 and json.loads(body)["body_len"] == 5
    c.close()
