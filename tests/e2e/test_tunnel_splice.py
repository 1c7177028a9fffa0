"""Tunnels between plain endpoints move their bytes through kernel pipes (splice, src/proxy/tunnel.c):
large transfers both ways through a `mode: tcp` listener and an egress CONNECT arrive intact, with the
CONNECT's access-log bytes_in/bytes_out exact (a `mode: tcp` connection has no access-log line); half-closes keep their order (everything before the end, then
the end, while the other direction goes on); a reader that stops reading stops the sender (backpressure:
neither the RSS nor what the sender could push grows with the transfer), and the process keeps its
pipes within the per-worker pool; after a 101, the bytes read with the heads leave first (through the
buffers) and the rest follows spliced, in order."""

import hashlib
import os
import socket
import threading
import time

from egressutil import OUTSIDE_HTTP, dnsmasq, egress_config  # noqa: F401 (fixture)
from test_tunnel_memory import rss_kib
from util import HOST, TcpPeer, peer_probe, simple_config, wait_until

MIB = 1 << 20
PIPES_PER_WORKER = 16  # SK_PIPES_PER_WORKER (src/net/splice.h)


def tcp_config(peer_port, http_port, workers=1):
    cfg = simple_config(http_port, workers=workers)
    cfg["listeners"].append({"name": "raw", "mode": "tcp", "origin": "peer"})
    cfg["origins"]["peer"] = {"servers": ["%s:%d" % (HOST, peer_port)]}
    return cfg


def recv_all(s, limit=None):
    """Reads until EOF (or limit bytes); returns (length, sha256 hex)."""
    h, n = hashlib.sha256(), 0
    while limit is None or n < limit:
        b = s.recv(MIB if limit is None else min(MIB, limit - n))
        if not b:
            break
        h.update(b)
        n += len(b)
    return n, h.hexdigest()


def digest(data):
    return len(data), hashlib.sha256(data).hexdigest()


def both_ways(s, up, down_len):
    """Sends up (then half-closes) while reading until EOF; returns what was read as (length, sha256)."""
    def send():
        s.sendall(up)
        s.shutdown(socket.SHUT_WR)
    t = threading.Thread(target=send)
    t.start()
    got = recv_all(s)
    t.join()
    return got


def serve_both_ways(down):
    """A peer handler: sends down (then half-closes) while reading until EOF; returns (length, sha256)."""
    def handler(c):
        if peer_probe(c):
            return None

        def send():
            c.sendall(down)
            c.shutdown(socket.SHUT_WR)
        t = threading.Thread(target=send)
        t.start()
        got = recv_all(c)
        t.join()
        return got
    return handler


def pipes_open(pid):
    n = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("pipe:"):
                n += 1
        except OSError:
            pass
    return n


def log_line(sk, pred):
    wait_until(lambda: any(pred(l) for l in sk.log_lines()), timeout=10, what="the access-log line")
    return next(l for l in sk.log_lines() if pred(l))


def test_tcp_listener_large_transfer_both_ways(sekisho, origin):
    up, down = os.urandom(6 * MIB + 123), os.urandom(10 * MIB + 7)
    peer = TcpPeer(serve_both_ways(down))
    try:
        sk = sekisho(tcp_config(peer.port, origin.port))
        with socket.create_connection((HOST, sk.port("raw")), timeout=20) as s:
            assert both_ways(s, up, len(down)) == digest(down)
        assert peer.wait() == [digest(up)]
    finally:
        peer.stop()


def test_connect_tunnel_large_transfer_both_ways_counted(sekisho, dnsmasq):
    up, down = os.urandom(5 * MIB + 11), os.urandom(9 * MIB + 5)
    peer = TcpPeer(serve_both_ways(down), host=OUTSIDE_HTTP)
    try:
        target = "allowed.test:%d" % peer.port
        sk = sekisho(egress_config(dnsmasq, [target], ["127.0.0.0/8"]))
        with socket.create_connection((HOST, sk.port("out")), timeout=20) as s:
            req = ("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (target, target)).encode()
            s.sendall(req)
            head = b""
            while b"\r\n\r\n" not in head:
                b = s.recv(1)  # one byte at a time: nothing of the tunnel is read with the head
                assert b, "closed before the 200"
                head += b
            assert head.startswith(b"HTTP/1.1 200"), head
            assert both_ways(s, up, len(down)) == digest(down)
        assert peer.wait() == [digest(up)]
        line = log_line(sk, lambda l: l.get("target") == target)
        assert line["status"] == 200
        assert line["bytes_in"] == len(req) + len(up)
        assert line["bytes_out"] == len(head) + len(down)
    finally:
        peer.stop()


def test_half_close_from_the_viewer_keeps_order_and_the_other_direction(sekisho, origin):
    """The viewer sends, then ends its direction: the peer sees every byte, then the end; only then does
    it answer, and the answer still crosses in full."""
    up, down = os.urandom(3 * MIB + 1), os.urandom(4 * MIB + 3)

    def handler(c):
        if peer_probe(c):
            return None
        got = recv_all(c)  # up to the viewer's end
        c.sendall(down)
        c.shutdown(socket.SHUT_WR)
        return got
    peer = TcpPeer(handler)
    try:
        sk = sekisho(tcp_config(peer.port, origin.port))
        with socket.create_connection((HOST, sk.port("raw")), timeout=20) as s:
            s.sendall(up)
            s.shutdown(socket.SHUT_WR)
            assert recv_all(s) == digest(down)
        assert peer.wait() == [digest(up)]
    finally:
        peer.stop()


def test_half_close_from_the_peer_keeps_order_and_the_other_direction(sekisho, origin):
    """The peer sends, then ends its direction while the viewer has not sent yet: the viewer sees every
    byte then EOF, and what it sends afterwards still reaches the peer in full."""
    up, down = os.urandom(2 * MIB + 5), os.urandom(4 * MIB + 9)

    def handler(c):
        if peer_probe(c) or c.recv(1) != b"g":  # the viewer's go: it sends nothing else before the EOF
            return None
        c.sendall(down)
        c.shutdown(socket.SHUT_WR)
        return recv_all(c)
    peer = TcpPeer(handler)
    try:
        sk = sekisho(tcp_config(peer.port, origin.port))
        with socket.create_connection((HOST, sk.port("raw")), timeout=20) as s:
            s.sendall(b"g")
            assert recv_all(s) == digest(down)  # EOF first: the viewer has sent nothing else yet
            s.sendall(up)
            s.shutdown(socket.SHUT_WR)
            assert s.recv(1) == b""
        assert peer.wait() == [digest(up)]
    finally:
        peer.stop()


def test_slow_reader_stops_the_sender(sekisho, origin):
    """A viewer that reads nothing for a while: the peer can push only what the sockets and one pipe
    hold, sekisho's RSS does not grow with the transfer, then everything arrives once the viewer reads."""
    total = 96 * MIB
    chunk = os.urandom(MIB)
    pushed = [0]
    done = threading.Event()
    conns = []

    def handler(c):
        if peer_probe(c) or c.recv(1) != b"g":
            return None
        conns.append(c)
        if len(conns) == 1:  # the warm-up
            c.sendall(chunk * 4)
            return 4 * MIB
        c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 256 * 1024)
        for _ in range(total // MIB):
            c.sendall(chunk)
            pushed[0] += MIB
        c.shutdown(socket.SHUT_WR)
        done.set()
        return pushed[0]
    peer = TcpPeer(handler)
    try:
        sk = sekisho(tcp_config(peer.port, origin.port, workers=2))
        # Warm the allocator with a small transfer, then measure from there.
        with socket.create_connection((HOST, sk.port("raw")), timeout=20) as warm:
            warm.sendall(b"g")
            assert recv_all(warm, limit=4 * MIB)[0] == 4 * MIB
        time.sleep(0.3)
        before = rss_kib(sk.pid)
        with socket.create_connection((HOST, sk.port("raw")), timeout=30) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
            s.sendall(b"g")
            assert s.recv(1)  # the transfer has begun
            time.sleep(2.0)
            stalled = pushed[0]
            assert not done.is_set()
            # Socket buffers (the peer's send side, sekisho's receive and send sides, the viewer's small
            # receive side) and one pipe: tens of MiB at the very most, never the whole transfer.
            assert stalled <= 48 * MIB, "the peer pushed %d MiB to a reader that reads nothing" % (stalled // MIB)
            time.sleep(1.0)
            assert pushed[0] <= stalled + MIB, "the peer kept pushing: %d -> %d" % (stalled, pushed[0])
            grown = rss_kib(sk.pid) - before
            assert grown < 2048, "RSS grew by %d KiB while the reader stalled" % grown
            assert 1 <= pipes_open(sk.pid) <= 2 * PIPES_PER_WORKER * 2
            n, _ = recv_all(s)
            assert n == total - 1
        assert done.is_set()
        assert rss_kib(sk.pid) - before < 2048
    finally:
        peer.stop()


def test_more_waiting_tunnels_than_pipes_fall_back_to_buffers(sekisho, origin):
    """One worker, more stalled readers than its pipe pool holds: the tunnels beyond the pool copy
    through buffers instead, every byte still arrives in order, and the pipes stay within the pool."""
    n, size = PIPES_PER_WORKER + 8, 16 * MIB
    data = os.urandom(size)

    def handler(c):
        if peer_probe(c):
            return None
        i = c.recv(1)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        c.sendall(i + data)  # the index first: a tunnel that got another's bytes would show it
        return i[0]
    peer = TcpPeer(handler)
    try:
        sk = sekisho(tcp_config(peer.port, origin.port, workers=1))
        socks = []
        try:
            for i in range(n):
                s = socket.create_connection((HOST, sk.port("raw")), timeout=30)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
                s.sendall(bytes([i]))
                socks.append(s)
            # Every reader stalled: each direction toward them holds a pipe (the pool's all) or a buffer.
            wait_until(lambda: pipes_open(sk.pid) == 2 * PIPES_PER_WORKER, timeout=10, what="the pool in use")
            time.sleep(0.5)
            assert pipes_open(sk.pid) == 2 * PIPES_PER_WORKER
            for i, s in enumerate(socks):
                assert recv_all(s, limit=1 + size) == digest(bytes([i]) + data)
        finally:
            for s in socks:
                s.close()
        assert sorted(peer.wait(n)) == list(range(n))
    finally:
        peer.stop()


WS_HEAD = (b"GET /chat HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
WS_101 = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")


def test_websocket_bytes_read_with_the_heads_go_first(sekisho):
    """After a 101, the bytes that arrived with the heads (the viewer's behind its request, the origin's
    behind its 101) leave through the buffers first; the rest of each direction is spliced, in order."""
    early_up, up = os.urandom(3000), os.urandom(2 * MIB + 17)
    early_down, down = os.urandom(1 * MIB + 5), os.urandom(3 * MIB + 1)

    def handler(c):
        head = b""
        while b"\r\n\r\n" not in head:
            b = c.recv(65536)
            if not b:
                return None  # the readiness probe
            head += b
        got = bytearray(head.split(b"\r\n\r\n", 1)[1])
        c.sendall(WS_101 + early_down)  # the origin's first bytes in the 101's own segment
        while len(got) < len(early_up) + len(up):
            b = c.recv(MIB)
            if not b:
                break
            got += b
        c.sendall(down)
        c.shutdown(socket.SHUT_WR)
        return digest(bytes(got))
    peer = TcpPeer(handler)
    try:
        sk = sekisho(simple_config(peer.port, aliases=["ws.test"]))
        with socket.create_connection((HOST, sk.port()), timeout=20) as s:
            s.sendall(WS_HEAD + early_up)  # bytes behind the head, before any 101
            head = b""
            while b"\r\n\r\n" not in head:
                b = s.recv(1)
                assert b, "closed before the 101"
                head += b
            assert head.startswith(b"HTTP/1.1 101 "), head
            s.sendall(up)
            s.shutdown(socket.SHUT_WR)
            assert recv_all(s) == digest(early_down + down)
        assert peer.wait() == [digest(early_up + up)]
    finally:
        peer.stop()
