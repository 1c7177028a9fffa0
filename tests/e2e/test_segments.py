"""What goes on the wire: the TCP segments of one connection, captured on the loopback interface with a
packet socket (AF_PACKET, so root or CAP_NET_RAW; skipped without it).

- An HTTP listener does not ACK a request on its own: the response carries the ACK (TCP_QUICKACK off on
  the listening socket, which accepted connections inherit; HAProxy's tcp-smart-accept).
- A response after which the connection closes leaves with the FIN: plain, the last bytes and the FIN in
  one segment; over TLS, the response's last record, the close_notify and the FIN in one segment.
- A chunked response whose end is already read leaves in one write: the last chunk with the data.
"""

import socket
import ssl
import struct
import threading
import time

import pytest

from tlsutil import pki  # noqa: F401  (pki is a fixture)
from util import HOST, TcpPeer, peer_probe, recv_all, simple_config

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def _packet_socket():
    try:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    except PermissionError:
        pytest.skip("capturing packets needs root or CAP_NET_RAW")
    s.bind(("lo", 0))
    s.settimeout(0.05)
    return s


class Capture:
    """The IPv4 TCP segments between the local port `client_port` and `server_port`, in order, as dicts
    {from_server, flags, payload} (each loopback packet once: its outgoing copy)."""

    def __init__(self, server_port):
        self.server_port = server_port
        self.client_port = None
        self.segments = []
        self._raw = []
        self._sock = _packet_socket()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                data, addr = self._sock.recvfrom(70000)
            except socket.timeout:
                continue
            if addr[2] == PACKET_OUTGOING:
                self._raw.append(data)

    def stop(self, client_port, settle=0.3):
        time.sleep(settle)
        self._stop.set()
        self._thread.join()
        self._sock.close()
        self.client_port = client_port
        for frame in self._raw:
            seg = self._parse(frame[14:])  # lo frames carry a zeroed 14-byte Ethernet header
            if seg:
                self.segments.append(seg)
        return self.segments

    def _parse(self, ip):
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != socket.IPPROTO_TCP:
            return None
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        tcp = ip[ihl:total]
        sport, dport = struct.unpack("!HH", tcp[0:4])
        if {sport, dport} != {self.client_port, self.server_port}:
            return None
        doff = (tcp[12] >> 4) * 4
        return {"from_server": sport == self.server_port, "flags": tcp[13], "payload": bytes(tcp[doff:])}


def describe(segments):
    names = {FIN: "F", SYN: "S", RST: "R", PSH: "P", ACK: "."}
    return [("S>" if s["from_server"] else "C>") + "".join(n for b, n in names.items() if s["flags"] & b) +
            " %d" % len(s["payload"]) for s in segments]


def plain_exchange(port, request):
    cap = Capture(port)
    time.sleep(0.05)
    c = socket.create_connection((HOST, port), timeout=5)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client_port = c.getsockname()[1]
    c.sendall(request)
    data = recv_all(c)
    c.close()
    return data, cap.stop(client_port)


def after_request(segments):
    """The server's segments after the first client segment that carries data (the request)."""
    i = next(i for i, s in enumerate(segments) if not s["from_server"] and s["payload"])
    return [s for s in segments[i + 1:] if s["from_server"]]


def test_request_is_acked_by_the_response_not_on_its_own(sekisho, origin):
    # Each connection starts in quick-ACK mode unless the listener says otherwise; then every one of them
    # has a bare ACK first. Held, the ACK still leaves on its own if the response takes over 40 ms (the
    # delayed-ACK timer), which a loaded test machine can cause once in a while: most, not all.
    sk = sekisho(simple_config(origin.port))
    bare = []
    for _ in range(5):
        data, segs = plain_exchange(sk.port(), b"GET /a HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n")
        assert data.startswith(b"HTTP/1.1 200"), data[:40]
        if not after_request(segs)[0]["payload"]:
            bare.append(describe(segs))
    assert len(bare) <= 2, "a bare ACK came before the response: %s" % bare


def test_closing_response_leaves_with_its_fin(sekisho, origin):
    sk = sekisho(simple_config(origin.port))
    for req in (b"GET /c HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n",  # from the origin
                b"GET /h HTTP/1.0\r\nHost: app.test\r\n\r\n",
                b"GET /n HTTP/1.1\r\nHost: nowhere.test\r\nConnection: close\r\n\r\n"):  # sekisho's own 421
        data, segs = plain_exchange(sk.port(), req)
        assert data.startswith(b"HTTP/1."), data[:40]
        server = [s for s in after_request(segs) if s["payload"] or s["flags"] & FIN]
        assert server[-1]["flags"] & FIN and server[-1]["payload"], describe(segs)
        assert b"".join(s["payload"] for s in server) == data


def test_keep_alive_response_is_not_held(sekisho, origin):
    # Without a close after it, a response must leave at once (no MSG_MORE, no cork): the client gets it
    # on a connection that stays open.
    sk = sekisho(simple_config(origin.port))
    c = socket.create_connection((HOST, sk.port()), timeout=5)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t0 = time.monotonic()
    c.sendall(b"GET /k HTTP/1.1\r\nHost: app.test\r\n\r\n")
    got = c.recv(65536)
    assert got.startswith(b"HTTP/1.1 200") and time.monotonic() - t0 < 0.15
    c.close()


def _chunked_origin():
    body = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"

    def handler(c):
        if peer_probe(c):
            return None
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += c.recv(4096)
        c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n" + body)
        time.sleep(1.0)  # keep the origin connection open: the body's end comes from the framing
        return True

    return TcpPeer(handler)


def test_chunked_response_ends_in_the_same_write(sekisho):
    peer = _chunked_origin()
    try:
        sk = sekisho(simple_config(peer.port))
        cap = Capture(sk.port())
        time.sleep(0.05)
        c = socket.create_connection((HOST, sk.port()), timeout=5)
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client_port = c.getsockname()[1]
        c.sendall(b"GET /ch HTTP/1.1\r\nHost: app.test\r\n\r\n")
        data = b""
        while not data.endswith(b"0\r\n\r\n"):
            data += c.recv(65536)
        segs = cap.stop(client_port, settle=0.1)
        c.close()
        server = [s for s in after_request(segs) if s["payload"]]
        assert len(server) == 1, describe(segs)
        assert server[0]["payload"].endswith(b"\r\n\r\nb\r\nhello world\r\n0\r\n\r\n"), server[0]["payload"]
    finally:
        peer.stop()


def test_tls_closing_response_close_notify_and_fin_leave_together(sekisho, origin, pki):  # noqa: F811
    cfg = simple_config(origin.port, aliases=("a.test",))
    cfg["certificates"] = {"a": pki.cert_entry("a")}
    cfg["listeners"][0]["tls"] = {"certificates": ["a"]}
    sk = sekisho(cfg)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki.root)
    cap = Capture(sk.port())
    time.sleep(0.05)
    raw = socket.create_connection((HOST, sk.port()), timeout=5)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client_port = raw.getsockname()[1]
    t = ctx.wrap_socket(raw, server_hostname="a.test")
    t.sendall(b"GET /t HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        x = t.recv(65536)  # ends with the close_notify (b"")
        if not x:
            break
        data += x
    raw.close()
    segs = cap.stop(client_port)
    assert data.startswith(b"HTTP/1.1 200"), data[:40]
    server = [s for s in segs if s["from_server"] and (s["payload"] or s["flags"] & FIN)]
    last = server[-1]
    assert last["flags"] & FIN, describe(segs)
    # TLS records in the segment: at least the response's last one (type 23) and the close_notify
    # (an encrypted record too under TLS 1.3, so: two or more records).
    p, records = last["payload"], 0
    while len(p) >= 5:
        n = struct.unpack("!H", p[3:5])[0]
        records += 1
        p = p[5 + n:]
    assert p == b"" and records >= 2, describe(segs)
