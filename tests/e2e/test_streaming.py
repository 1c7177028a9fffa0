"""Bodies stream both ways without being buffered (DESIGN §1 "Bodies", §9 "No unbounded buffering"), over
HTTP/1.1 and, where a test takes the `proto` fixture, HTTP/2 (curl over prior-knowledge h2c)."""

import hashlib
import json
import socket
import subprocess
import threading
import time

import requests

from util import PATTERN, RawConn, pattern_sha256, simple_config

SIZE = 100 * 1024 * 1024
RSS_GROWTH_LIMIT_KB = 8 * 1024


class RssSampler:
    """Samples sekisho's VmRSS every 5 ms in a thread; .peak_growth_kb() over the baseline."""

    def __init__(self, sk):
        self.sk = sk
        self.baseline = sk.vm_rss_kb()
        self.samples = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                self.samples.append(self.sk.vm_rss_kb())
            except OSError:
                return
            time.sleep(0.005)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *a):
        self._stop.set()
        self._t.join()

    def peak_growth_kb(self):
        return max(self.samples or [self.baseline]) - self.baseline


def pattern_chunks(total, chunk=256 * 1024):
    block = PATTERN * (chunk // len(PATTERN))
    left = total
    while left:
        n = min(left, len(block))
        yield block[:n]
        left -= n


class PatternFile:
    """A file-like body of known length: requests sends it with Content-Length, reading in blocks."""

    def __init__(self, total):
        self.total = total
        self.pos = 0

    def __len__(self):
        return self.total - self.pos

    def read(self, n=-1):
        if n is None or n < 0:
            n = self.total - self.pos
        n = min(n, self.total - self.pos)
        if n <= 0:
            return b""
        off = self.pos % len(PATTERN)
        out = bytearray()
        while len(out) < n:
            take = min(n - len(out), len(PATTERN) - off)
            out += PATTERN[off:off + take]
            off = 0
        self.pos += n
        return bytes(out)


def warm_up(sk, session):
    # One small request of each kind so buffers, pools and the upstream connection exist before the
    # baseline is taken: the test measures growth with the body size, not first-use allocations.
    for _ in range(3):
        r = session.post(sk.url + "/warm", data=pattern_chunks(1 << 20), headers={"Host": "app.test"},
                         timeout=30)
        assert r.status_code == 200
        r = session.post(sk.url + "/warm", data=PatternFile(1 << 20), headers={"Host": "app.test"},
                         timeout=30)
        assert r.status_code == 200
    time.sleep(0.2)


def test_upload_100mb_chunked(sekisho, origin):
    sk = sekisho(simple_config(origin.port))
    s = requests.Session()
    warm_up(sk, s)
    with RssSampler(sk) as rss:
        r = s.post(sk.url + "/upload", data=pattern_chunks(SIZE), headers={"Host": "app.test"}, timeout=120)
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["body_len"] == SIZE
    assert b["body_sha256"] == pattern_sha256(SIZE)
    assert rss.peak_growth_kb() <= RSS_GROWTH_LIMIT_KB, \
        "RSS grew %d KiB over a %d KiB baseline" % (rss.peak_growth_kb(), rss.baseline)


def h2_curl(sk, path, *extra):
    """curl over prior-knowledge h2c (the `proto` fixture at "h2"): a Popen whose stdout is the body."""
    return subprocess.Popen(["curl", "-sS", "--http2-prior-knowledge", "--max-time", "120", "-H", "Host: app.test"] +
                            list(extra) + ["http://127.0.0.1:%d%s" % (sk.port(), path)], stdout=subprocess.PIPE)


def test_upload_100mb_content_length(sekisho, origin, proto, tmp_path):
    sk = sekisho(simple_config(origin.port))
    s = requests.Session()
    if proto == "h2":  # DATA frames, the window granted back as the origin takes the bytes
        f = tmp_path / "up.bin"
        with open(f, "wb") as out:
            for _ in range(SIZE // len(PATTERN)):
                out.write(PATTERN)
        for _ in range(3):
            assert h2_curl(sk, "/warm", "--data-binary", "@" + str(f)).communicate()[0]
        time.sleep(0.2)
    else:
        warm_up(sk, s)
    with RssSampler(sk) as rss:
        if proto == "h2":
            b = json.loads(h2_curl(sk, "/upload", "--data-binary", "@" + str(f)).communicate()[0])
        else:
            r = s.post(sk.url + "/upload", data=PatternFile(SIZE), headers={"Host": "app.test"}, timeout=120)
            assert r.status_code == 200, r.text
            b = r.json()
    assert b["body_len"] == SIZE
    assert b["body_sha256"] == pattern_sha256(SIZE)
    # The origin saw Content-Length framing (rebuilt, equal to the viewer's).
    assert [v for k, v in b["headers"] if k.lower() == "content-length"] == [str(SIZE)]
    assert rss.peak_growth_kb() <= RSS_GROWTH_LIMIT_KB, \
        "RSS grew %d KiB over a %d KiB baseline" % (rss.peak_growth_kb(), rss.baseline)


def test_download_100mb_chunked(sekisho, origin, proto):
    sk = sekisho(simple_config(origin.port))
    s = requests.Session()
    if proto == "h2":
        assert len(h2_curl(sk, "/big/1048576").communicate()[0]) == 1048576
    else:
        r = s.get(sk.url + "/big/1048576", headers={"Host": "app.test"}, timeout=30)
        assert len(r.content) == 1048576
    time.sleep(0.2)
    with RssSampler(sk) as rss:
        h = hashlib.sha256()
        n = 0
        if proto == "h2":
            p = h2_curl(sk, "/big/%d" % SIZE)
            for chunk in iter(lambda: p.stdout.read(1 << 20), b""):
                n += len(chunk)
                h.update(chunk)
            assert p.wait() == 0
        else:
            r = s.get(sk.url + "/big/%d" % SIZE, headers={"Host": "app.test"}, stream=True, timeout=120)
            assert r.status_code == 200
            for chunk in r.iter_content(1 << 20):
                n += len(chunk)
                h.update(chunk)
    assert n == SIZE
    assert h.hexdigest() == pattern_sha256(SIZE)
    assert rss.peak_growth_kb() <= RSS_GROWTH_LIMIT_KB, \
        "RSS grew %d KiB over a %d KiB baseline" % (rss.peak_growth_kb(), rss.baseline)


def test_slow_reader_backpressure(sekisho, origin):
    """A viewer that does not read must not make sekisho buffer the origin's response."""
    sk = sekisho(simple_config(origin.port))
    s = requests.Session()
    assert len(s.get(sk.url + "/big/1048576", headers={"Host": "app.test"}, timeout=30).content) == 1048576
    time.sleep(0.2)
    with RssSampler(sk) as rss:
        with RawConn(sk.port(), timeout=30) as c:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            c.send(b"GET /big/%d HTTP/1.1\r\nHost: app.test\r\n\r\n" % (64 * 1024 * 1024))
            time.sleep(2.0)  # let the origin push as much as sekisho will take
    assert rss.peak_growth_kb() <= RSS_GROWTH_LIMIT_KB, \
        "RSS grew %d KiB while the viewer did not read" % rss.peak_growth_kb()


def test_expect_100_continue_raw(sekisho, origin):
    sk = sekisho(simple_config(origin.port))
    body = b"x" * 100000
    with RawConn(sk.port(), timeout=5) as c:
        c.send(b"POST /expect HTTP/1.1\r\nHost: app.test\r\nContent-Length: %d\r\n"
               b"Expect: 100-continue\r\n\r\n" % len(body))
        status, _ = c.read_head_only()
        assert status == 100, "expected an interim 100 Continue before the body, got %d" % status
        c.send(body)
        r = c.read_response()
    assert r.status == 200
    b = json.loads(r.body)
    assert b["body_len"] == len(body)
    assert b["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert "expect" not in [k.lower() for k, _ in b["headers"]]


def test_expect_100_continue_curl(sekisho, origin, tmp_path):
    sk = sekisho(simple_config(origin.port))
    f = tmp_path / "body.bin"
    data = PATTERN * 32  # 2 MiB: curl sends Expect: 100-continue for bodies over 1 MiB
    f.write_bytes(data)
    t0 = time.monotonic()
    out = subprocess.run(["curl", "-sS", "--max-time", "20", "-H", "Host: app.test", "-H",
                          "Expect: 100-continue", "--data-binary", "@%s" % f, "-w", "\n%{http_code}",
                          sk.url + "/curl"], capture_output=True, timeout=30)
    elapsed = time.monotonic() - t0
    assert out.returncode == 0, out.stderr
    body, code = out.stdout.rsplit(b"\n", 1)
    assert code == b"200"
    b = json.loads(body)
    assert b["body_len"] == len(data)
    assert b["body_sha256"] == hashlib.sha256(data).hexdigest()
    # curl waits 1 s for the 100 before sending anyway; a proxy that answers 100 is faster than that.
    assert elapsed < 1.0, "curl took %.2fs: was 100 Continue sent?" % elapsed

