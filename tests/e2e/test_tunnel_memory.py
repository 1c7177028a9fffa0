"""Idle tunnels hold no buffers (DESIGN §9, issue 10 item 3): 500 open, silent WebSockets cost at most
16 KiB of RSS each (release build; the ASan build's shadow memory and redzones add about half again, so
it gets 24 KiB), and each still carries data afterwards."""

import socket
import time

from util import HOST, simple_config

WS_HEAD = (b"GET /chat HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
MASK = b"\x01\x02\x03\x04"


def frame(text):
    data = text.encode()
    return b"\x81" + bytes([0x80 | len(data)]) + MASK + bytes(b ^ MASK[i % 4] for i, b in enumerate(data))


def recv_exact(s, n):
    got = b""
    while len(got) < n:
        chunk = s.recv(n - len(got))
        assert chunk, "tunnel closed"
        got += chunk
    return got


def open_ws(port):
    s = socket.create_connection((HOST, port), timeout=10)
    s.sendall(WS_HEAD)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        assert chunk, "closed during the handshake"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101 "), head
    s.sendall(frame("hi"))
    assert recv_exact(s, 4) == b"\x81\x02hi"
    return s


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def is_asan(path):
    with open(path, "rb") as f:
        return b"__asan_init" in f.read()


def test_500_idle_websockets_hold_no_buffers(sekisho, ws_origin):
    from util import sekisho_bin
    sk = sekisho(simple_config(ws_origin.port, aliases=["ws.test"]))
    port = sk.port()
    # Warm the worker's free lists and allocator, then measure from there.
    for s in [open_ws(port) for _ in range(20)]:
        s.close()
    time.sleep(0.5)
    before = rss_kib(sk.pid)
    socks = []
    try:
        for _ in range(500):
            socks.append(open_ws(port))
        time.sleep(1.0)
        after = max(rss_kib(sk.pid) for _ in range(3))
        per = (after - before) / 500.0
        limit = 24.0 if is_asan(sekisho_bin()) else 16.0
        assert per <= limit, "%.1f KiB of RSS per idle WebSocket (limit %.0f)" % (per, limit)
        # Every one of them still works: buffers come back when bytes arrive.
        for i, s in enumerate(socks[::25]):
            s.sendall(frame("again%02d" % i))
            assert recv_exact(s, 9) == b"\x81\x07" + ("again%02d" % i).encode()
    finally:
        for s in socks:
            s.close()
    assert sk.alive()
