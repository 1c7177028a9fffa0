"""Helpers for sekisho's end-to-end tests: backends (HTTP echo origin, WebSocket echo, TCP echo),
free ports, readiness, raw-socket HTTP reading, and small config builders.

Everything binds to 127.0.0.1. Every server here runs in daemon threads and is stopped explicitly by the
fixture that started it; nothing depends on wall-clock timing beyond generous deadlines.
"""

import asyncio
import hashlib
import http.client
import http.server
import json
import os
import re
import socket
import socketserver
import subprocess
import threading
import time

import requests

# The echo origin must accept more header fields than sekisho forwards (sekisho's own limit is 100, and
# it adds X-Forwarded-*); Python's default cap of 100 would otherwise answer 431 at the origin.
http.client._MAXHEADERS = 1000

HOST = "127.0.0.1"
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:", "ThreadSanitizer")


def sekisho_bin():
    """The binary under test: $SEKISHO_BIN, or the ASan+UBSan build of this tree."""
    return os.environ.get("SEKISHO_BIN", os.path.join(REPO, "build-asan", "sekisho"))


def sekisho_env(extra=None):
    """The environment to run sekisho (or its CLI) in: sanitizers abort on the first report."""
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
    env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
    env.update(extra or {})
    return env


def run_cli(*args, input=None, stdin=None, cwd=None, env=None, check=False, timeout=60):
    """sekisho's CLI (`sekisho ARGS...`) under the sanitizers: fails the test on any sanitizer report, and
    when check is set on a non-zero exit. stdin is another name for input."""
    p = subprocess.run([sekisho_bin()] + [str(a) for a in args], input=input if input is not None else stdin,
                       cwd=cwd, env=sekisho_env(env), capture_output=True, text=True, timeout=timeout)
    for m in SANITIZER_MARKERS:
        assert m not in p.stderr, p.stderr
    if check:
        assert p.returncode == 0, "sekisho %s: exit %d\n%s%s" % (" ".join(map(str, args)), p.returncode,
                                                                 p.stdout, p.stderr)
    return p


def bcrypt(pw, cost=5):
    """A bcrypt hash of pw from the real htpasswd tool (cost 5 is fast; 10 is what operators use)."""
    out = subprocess.run(["htpasswd", "-nbB", "-C", str(cost), "u", pw], capture_output=True, text=True,
                         check=True).stdout.strip()
    return out.split(":", 1)[1]


def get(sk, path="/", auth=None, timeout=10, **headers):
    """GET path through sekisho's first listener, Host app.test unless headers name another. Over HTTP/2
    (prior-knowledge h2c) when the test runs with the `proto` fixture at "h2" (conftest.py)."""
    headers.setdefault("Host", "app.test")
    if getattr(sk, "proto", None) == "h2":
        return h2_request(sk.port(next(n for n, _, m in sk.listeners if m != "tcp")), "GET", path, headers=headers,
                          auth=auth, timeout=timeout)
    return requests.get(sk.url + path, auth=auth, headers=headers, timeout=timeout)


class H2Response:
    """The parts of a requests.Response the tests read, for an HTTP/2 answer."""

    def __init__(self, status, headers, body):
        self.status_code = status
        self.headers = requests.structures.CaseInsensitiveDict()
        for k, v in headers:
            self.headers[k] = self.headers[k] + ", " + v if k in self.headers else v
        self.content = body
        self.text = body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.content)


def h2_request(port, method, path, headers=None, body=None, auth=None, timeout=10):
    """One request over a new prior-knowledge h2c connection (python3-h2): Host becomes :authority, other
    names are lower-cased. Returns an H2Response; raises on a reset or a closed connection."""
    import base64
    import h2.config
    import h2.connection
    import h2.events
    headers = dict(headers or {})
    authority = headers.pop("Host", None) or headers.pop("host", "app.test")
    if auth:
        headers["authorization"] = "Basic " + base64.b64encode(("%s:%s" % auth).encode()).decode()
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    hdrs = [(":method", method), (":scheme", "http"), (":authority", authority), (":path", path)]
    hdrs += [(k.lower(), str(v)) for k, v in headers.items()]
    if body is not None:
        hdrs.append(("content-length", str(len(body))))
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        conn.send_headers(1, hdrs, end_stream=body is None)
        if body is not None:
            sent = 0
            while sent < len(body) or sent == 0:
                n = min(len(body) - sent, conn.local_flow_control_window(1), conn.max_outbound_frame_size)
                if n > 0 or len(body) == 0:
                    conn.send_data(1, body[sent:sent + n], end_stream=sent + n == len(body))
                    sent += n
                    if len(body) == 0:
                        break
                    continue
                sock.sendall(conn.data_to_send())
                data = sock.recv(65536)
                if not data:
                    raise ConnectionError("h2: closed while sending the body")
                conn.receive_data(data)
        sock.sendall(conn.data_to_send())
        status, rh, out = None, [], b""
        while True:
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("h2: closed before the response ended")
            for e in conn.receive_data(data):
                if isinstance(e, h2.events.ResponseReceived):
                    rh = [(k, v) for k, v in e.headers if not k.startswith(":")]
                    status = int(dict(e.headers)[":status"])
                elif isinstance(e, h2.events.DataReceived):
                    out += e.data
                    conn.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
                elif isinstance(e, h2.events.StreamReset):
                    raise ConnectionError("h2: stream reset (%s)" % e.error_code)
                elif isinstance(e, h2.events.StreamEnded):
                    return H2Response(status, rh, out)
            sock.sendall(conn.data_to_send())

# /big/<n> streams this 64 KiB pattern repeated; tests can rebuild the expected bytes locally.
PATTERN = bytes(range(256)) * 256


def pattern_sha256(n):
    h = hashlib.sha256()
    full, rem = divmod(n, len(PATTERN))
    for _ in range(full):
        h.update(PATTERN)
    h.update(PATTERN[:rem])
    return h.hexdigest()


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=10.0, proc=None, host=HOST):
    """Polls a TCP connect to host:port (127.0.0.1 unless told) until it succeeds. Raises on timeout or if
    proc exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %s before listening on %d" % (proc.returncode, port))
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError("nothing listening on %s:%d after %.1fs" % (host, port, timeout))


def wait_until(pred, timeout=5.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def recv_all(sock):
    """Everything sock (a socket, plain or ssl) delivers until its end."""
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def scrape_metrics(admin_port):
    """/metrics of the admin listener: (text, {'name{labels}': float}) (comment lines left out)."""
    with socket.create_connection((HOST, admin_port), timeout=5) as c:
        c.sendall(b"GET /metrics HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")
        data = recv_all(c)
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise AssertionError("GET /metrics: %r" % head[:200])
    text = body.decode()
    values = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, value = line.rsplit(" ", 1)
        values[name] = float(value)
    return text, values


def read_metrics(admin_port):
    """/metrics of the admin listener as {'name{labels}': float}."""
    return scrape_metrics(admin_port)[1]


# ---------------------------------------------------------------------------------------------------
# HTTP echo origin
# ---------------------------------------------------------------------------------------------------

class _EchoHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "echo-origin"
    sys_version = ""

    def version_string(self):
        return self.server_version
    timeout = 60  # idle keep-alive connections end eventually even if a test forgets them

    def log_message(self, fmt, *args):  # keep pytest output clean
        pass

    def setup(self):
        super().setup()
        self.reqs_on_conn = 0
        self.server.origin._conn_opened(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.origin._conn_closed(self.connection)

    # Every method goes through one place.
    def handle_one_request(self):
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if not self.raw_requestline:
                self.close_connection = True
                return
            if len(self.raw_requestline) > 65536:
                self.send_error(414)
                return
            if not self.parse_request():
                return
            self._dispatch()
            self.wfile.flush()
        except (ConnectionError, socket.timeout, OSError):
            self.close_connection = True

    def _read_body(self):
        """Reads the request body (Content-Length or chunked), returns (length, sha256 hex)."""
        h = hashlib.sha256()
        n = 0
        te = self.headers.get("Transfer-Encoding", "")
        if te.lower().strip() == "chunked":
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    raise ConnectionError("eof in chunk size")
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    # trailers until an empty line
                    while True:
                        t = self.rfile.readline(65537)
                        if t in (b"\r\n", b"\n", b""):
                            break
                    break
                left = size
                while left:
                    b = self.rfile.read(min(left, 1 << 16))
                    if not b:
                        raise ConnectionError("eof in chunk")
                    h.update(b)
                    n += len(b)
                    left -= len(b)
                self.rfile.readline(16)  # CRLF after the chunk
        else:
            left = int(self.headers.get("Content-Length", "0") or "0")
            while left:
                b = self.rfile.read(min(left, 1 << 16))
                if not b:
                    raise ConnectionError("eof in body")
                h.update(b)
                n += len(b)
                left -= len(b)
        return n, h.hexdigest()

    def _dispatch(self):
        origin = self.server.origin
        self.reqs_on_conn += 1
        port = self.client_address[1]
        rec = {
            "method": self.command,
            "path": self.path,
            "version": self.request_version,
            "headers": [[k, v] for k, v in self.headers.items()],
            "client_port": port,
            "conn_request_index": self.reqs_on_conn,
        }
        origin._record(rec)

        if origin.close_reused and self.reqs_on_conn > 1:
            # Behave like an origin that timed out this idle keep-alive connection just as the request
            # arrived: close without sending one byte.
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return

        n, sha = self._read_body()
        rec["body_len"] = n
        rec["body_sha256"] = sha
        path = self.path.split("?", 1)[0]

        if self.command == "HEAD":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "1234")
            self.send_header("X-Head", "yes")
            self.end_headers()
            return

        m = re.fullmatch(r"/big/(\d+)", path)
        if m:
            total = int(m.group(1))
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            left = total
            while left:
                chunk = PATTERN[: min(left, len(PATTERN))]
                self.wfile.write(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                left -= len(chunk)
            self.wfile.write(b"0\r\n\r\n")
            return

        m = re.fullmatch(r"/slow/(\d+)", path)
        if m:
            time.sleep(int(m.group(1)) / 1000.0)
            return self._echo(rec)

        m = re.fullmatch(r"/status/(\d{3})", path)
        if m:
            code = int(m.group(1))
            self.send_response(code)
            if code in (204, 304) or 100 <= code < 200:
                if code == 304:
                    self.send_header("ETag", '"abc"')
                self.end_headers()
                return
            body = ("status %d\n" % code).encode()
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return

        m = re.fullmatch(r"/close(?:/(\d+))?", path)
        if m:
            total = int(m.group(1) or 100000)
            self.close_connection = True
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                             b"Connection: close\r\n\r\n")
            left = total
            while left:
                chunk = PATTERN[: min(left, len(PATTERN))]
                self.wfile.write(chunk)
                left -= len(chunk)
            self.wfile.flush()
            return

        self._echo(rec)

    def _echo(self, rec):
        body = json.dumps(rec).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Origin-Name", self.server.origin.name)
        self.end_headers()
        self.wfile.write(body)


class _ThreadingServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class EchoOrigin:
    """A threaded HTTP/1.1 keep-alive origin that answers every request with a JSON description of it.

    Special paths: /big/<n> (n bytes, chunked), /slow/<ms>, /status/<code>, /close[/<n>] (close-delimited).
    HEAD answers Content-Length: 1234 and no body. Attributes: count, requests (list of dicts), ports.
    """

    def __init__(self, name="echo", port=None, host=HOST):
        self.name = name
        self.host = host  # another loopback address (127.0.0.2...) plays an outside server for egress
        self.port = port or free_port()
        self.close_reused = False
        self._lock = threading.Lock()
        self._conns = set()
        self.requests = []
        self._srv = None
        self._thread = None

    # bookkeeping -----------------------------------------------------------------------------------
    def _record(self, rec):
        with self._lock:
            self.requests.append(rec)

    def _conn_opened(self, sock):
        with self._lock:
            self._conns.add(sock)

    def _conn_closed(self, sock):
        with self._lock:
            self._conns.discard(sock)

    @property
    def count(self):
        with self._lock:
            return len(self.requests)

    @property
    def ports(self):
        with self._lock:
            return [r["client_port"] for r in self.requests]

    def last(self):
        with self._lock:
            return self.requests[-1] if self.requests else None

    def reset(self):
        with self._lock:
            self.requests.clear()

    # lifecycle -------------------------------------------------------------------------------------
    def start(self):
        deadline = time.monotonic() + 5
        while True:
            try:
                self._srv = _ThreadingServer((self.host, self.port), _EchoHandler)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self._srv.origin = self
        self._thread = threading.Thread(target=self._srv.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Stops listening and closes every open connection (like an origin restart)."""
        if self._srv is None:
            return
        self._srv.shutdown()
        self._srv.server_close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(5)
        self._srv = None

    def restart(self):
        self.stop()
        self.start()


# ---------------------------------------------------------------------------------------------------
# WebSocket echo server (websockets legacy asyncio API) in its own thread and loop
# ---------------------------------------------------------------------------------------------------

class WsEchoServer:
    def __init__(self):
        self.port = free_port()
        self.request_headers = []  # one list of (name, value) per handshake
        self.loop = None
        self._server = None
        self._thread = None
        self._ready = threading.Event()

    async def _echo(self, ws, path):
        self.request_headers.append(list(ws.request_headers.raw_items()))
        try:
            async for msg in ws:
                await ws.send(msg)
        except Exception:
            pass

    def _run(self):
        import websockets
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self._server = self.loop.run_until_complete(
            websockets.serve(self._echo, HOST, self.port, ping_interval=None, max_size=None))
        self._ready.set()
        self.loop.run_forever()
        self._server.close()
        self.loop.run_until_complete(self._server.wait_closed())
        self.loop.close()

    def start(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self):
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)


# ---------------------------------------------------------------------------------------------------
# Raw TCP echo server
# ---------------------------------------------------------------------------------------------------

class TcpEchoServer:
    def __init__(self):
        self.port = free_port()
        self.accepted = 0
        self._sock = None
        self._stop = threading.Event()
        self._conns = []

    def start(self):
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((HOST, self.port))
        self._sock.listen(64)
        self._sock.settimeout(0.1)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self):
        while not self._stop.is_set():
            try:
                c, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted += 1
            self._conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            while True:
                b = c.recv(65536)
                if not b:
                    break
                c.sendall(b)
            c.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            c.close()

    def stop(self):
        self._stop.set()
        try:
            self._sock.close()
        except OSError:
            pass
        for c in self._conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class TcpPeer:
    """A raw TCP server on host (a free port) that runs handler(conn) in a thread for each connection it
    accepts; what a handler returns is appended to .results (unless None), what it raises to .errors. For
    tests that script the far end of a tunnel byte by byte (half-closes, slow readers, exact counts).
    sekisho's readiness probe of a `mode: tcp` listener reaches the far end too: handlers can tell it by
    peer_probe(conn) and return None for it."""

    def __init__(self, handler, host=HOST):
        self.host, self.port, self.handler = host, free_port(), handler
        self.results, self.errors = [], []
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, self.port))
        self._sock.listen(16)
        self._sock.settimeout(0.1)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._stop.is_set():
            try:
                c, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            with c:
                r = self.handler(c)
                if r is not None:
                    self.results.append(r)
        except Exception as e:  # noqa: BLE001 (reported to the test through .errors)
            self.errors.append(e)

    def wait(self, n=1, timeout=30.0):
        """Waits until n handlers have ended; returns their results (raises the first handler error)."""
        wait_until(lambda: len(self.results) + len(self.errors) >= n, timeout=timeout, what="the peer's handler")
        if self.errors:
            raise self.errors[0]
        return self.results

    def stop(self):
        self._stop.set()
        self._sock.close()


def peer_probe(c):
    """True when c (a TcpPeer connection) ends before its first byte: a readiness probe, not a client
    (the tests' clients always send first). Blocks until that byte or the end."""
    return c.recv(1, socket.MSG_PEEK) == b""


class WsgiOrigin:
    """A real WSGI origin (the standard library's wsgiref.simple_server) that answers every request with
    JSON: {"environ": the HTTP_* keys of its environ, "method", "path", "body_len"}. wsgiref folds header
    names as CGI does ('-' → '_', upper case, repeated names joined with ','), so this shows what a
    WSGI/CGI application would believe the viewer sent."""

    def __init__(self):
        import wsgiref.simple_server

        class QuietHandler(wsgiref.simple_server.WSGIRequestHandler):
            def log_message(self, fmt, *args):
                pass

        self.requests = []
        self._server = wsgiref.simple_server.make_server(HOST, 0, self._app, handler_class=QuietHandler)
        self.port = self._server.server_address[1]

    def _app(self, environ, start_response):
        n = int(environ.get("CONTENT_LENGTH") or "0")
        body = environ["wsgi.input"].read(n) if n else b""
        rec = {"environ": {k: v for k, v in environ.items() if k.startswith("HTTP_")},
               "method": environ["REQUEST_METHOD"], "path": environ.get("PATH_INFO", ""), "body_len": len(body)}
        self.requests.append(rec)
        out = json.dumps(rec).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
        return [out]

    def start(self):
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()


class ScriptedOrigin:
    """A TCP server that reads one request head per connection and answers with fixed bytes.

    reply: bytes to send after the head (None = close without answering); close_after: close the
    connection once the reply is sent. Counts connections and heads in .heads.
    """

    def __init__(self, reply, close_after=True, silent_after_first=False, drain=False):
        self.port = free_port()
        self.drain = drain  # after the reply: half-close and read the rest (a lingering close, no RST)
        self.reply = reply
        self.close_after = close_after
        self.silent_after_first = silent_after_first  # answer once per connection, then read and ignore
        self.heads = []
        self._sock = None
        self._stop = threading.Event()
        self._conns = []

    def start(self):
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((HOST, self.port))
        self._sock.listen(64)
        self._sock.settimeout(0.1)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self):
        while not self._stop.is_set():
            try:
                c, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self._conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        buf = b""
        answered = False
        try:
            c.settimeout(30)
            while True:
                while b"\r\n\r\n" not in buf:
                    b = c.recv(65536)
                    if not b:
                        return
                    buf += b
                head, buf = buf.split(b"\r\n\r\n", 1)
                self.heads.append(head)
                if self.reply is None:
                    return
                if self.silent_after_first and answered:
                    continue
                answered = True
                c.sendall(self.reply)
                if self.drain:
                    c.shutdown(socket.SHUT_WR)
                    while c.recv(1 << 20):
                        pass
                    return
                if self.close_after:
                    return
        except OSError:
            pass
        finally:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def stop(self):
        self._stop.set()
        try:
            self._sock.close()
        except OSError:
            pass
        for c in self._conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


# ---------------------------------------------------------------------------------------------------
# Raw HTTP client side
# ---------------------------------------------------------------------------------------------------

class RawResponse:
    def __init__(self, status, reason, headers, body, version):
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value)
        self.body = body
        self.version = version

    def header(self, name, default=None):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def __repr__(self):
        return "<RawResponse %s %r headers=%r body=%r>" % (self.status, self.reason, self.headers,
                                                          self.body[:200])


class RawConn:
    """A blocking client socket with a read buffer, for hand-written requests."""

    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def _fill(self):
        b = self.sock.recv(65536)
        if not b:
            raise EOFError("connection closed by peer")
        self.buf += b

    def _readline(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _readn(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_response(self, method="GET", skip_interim=True):
        """Reads one response. Handles Content-Length, chunked and close-delimited bodies."""
        while True:
            while b"\r\n\r\n" not in self.buf:
                self._fill()
            head, self.buf = self.buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            version, status, *reason = lines[0].split(" ", 2)
            status = int(status)
            headers = []
            for line in lines[1:]:
                k, v = line.split(":", 1)
                headers.append((k.strip(), v.strip()))
            if skip_interim and 100 <= status < 200 and status != 101:
                continue
            break
        resp = RawResponse(status, reason[0] if reason else "", headers, b"", version)
        # A 2xx to CONNECT has no body: the connection is a tunnel from there on (RFC 9110 §9.3.6).
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200 or (method == "CONNECT" and status < 300):
            return resp
        te = (resp.header("Transfer-Encoding") or "").lower()
        cl = resp.header("Content-Length")
        if "chunked" in te:
            body = b""
            while True:
                size = int(self._readline().split(b";")[0], 16)
                if size == 0:
                    while self._readline() != b"":
                        pass
                    break
                body += self._readn(size)
                self._readn(2)
            resp.body = body
        elif cl is not None:
            resp.body = self._readn(int(cl))
        else:
            body = self.buf
            self.buf = b""
            while True:
                try:
                    b = self.sock.recv(65536)
                except ConnectionResetError:
                    break
                if not b:
                    break
                body += b
            resp.body = body
        return resp

    def read_head_only(self):
        """Reads up to and including the blank line; returns (status, headers) without any body."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = [tuple(x.strip() for x in line.split(":", 1)) for line in lines[1:]]
        return status, headers

    def wait_closed(self, timeout=3.0):
        """True if the peer closes (EOF or reset) within timeout; any bytes received meanwhile are kept."""
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                b = self.sock.recv(65536)
                if not b:
                    return True
                self.buf += b
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def raw_exchange(port, data, timeout=5.0, method="GET"):
    """Sends data on a new connection and reads one response. Returns (response, closed_after).

    closed_after tells whether the server closed the connection (within 2 s) after that response.
    A reset or EOF before any response raises.
    """
    with RawConn(port, timeout) as c:
        c.send(data)
        resp = c.read_response(method=method)
        closed = c.wait_closed(2.0)
        return resp, closed


def echo_headers(rec):
    """Header list of an origin echo record, as (lower-name, value) pairs."""
    return [(k.lower(), v) for k, v in rec["headers"]]


def echo_header_values(rec, name):
    return [v for k, v in rec["headers"] if k.lower() == name.lower()]


# ---------------------------------------------------------------------------------------------------
# Config builders
# ---------------------------------------------------------------------------------------------------

def simple_config(origin_port, aliases=("app.test",), behavior=None, origin=None, **top):
    """One HTTP listener "web", one origin "app" at origin_port, one distribution "main" with a single
    "*" behavior. behavior/origin dicts are merged into the defaults; top-level keys are added as given."""
    o = {"servers": ["%s:%d" % (HOST, origin_port)], "host": "backend.internal"}
    o.update(origin or {})
    b = {"path": "*", "origin": "app"}
    b.update(behavior or {})
    cfg = {
        "listeners": [{"name": "web"}],
        "origins": {"app": o},
        "distributions": [{"name": "main", "aliases": list(aliases), "behaviors": [b]}],
    }
    cfg.update(top)
    return cfg
