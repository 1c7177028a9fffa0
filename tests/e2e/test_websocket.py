"""Upgrade / WebSocket tunnels (DESIGN §1): forwarded Upgrade, byte tunnel after 101, idle_timeout
(default 1h, not 60 s)."""

import asyncio
import time

import pytest
import websockets

from util import HOST, RawConn, simple_config


def ws_config(ws_port, **behavior):
    return simple_config(ws_port, aliases=["ws.test"], behavior=behavior)


def connect(sk):
    # The URI names the virtual host (Host: ws.test); the TCP connection goes to sekisho's port.
    return websockets.connect("ws://ws.test/chat", host=HOST, port=sk.port(), ping_interval=None,
                              max_size=None, open_timeout=5, close_timeout=2)


def test_websocket_echo(sekisho, ws_origin):
    sk = sekisho(ws_config(ws_origin.port))

    async def run():
        async with connect(sk) as ws:
            for msg in ("hello", "x" * 100000, b"\x00\x01binary\xff"):
                await ws.send(msg)
                assert await asyncio.wait_for(ws.recv(), 5) == msg

    asyncio.run(run())
    hdrs = {k.lower(): v for k, v in ws_origin.request_headers[0]}
    assert hdrs.get("upgrade", "").lower() == "websocket"
    assert "upgrade" in hdrs.get("connection", "").lower()
    assert "sec-websocket-key" in hdrs


def test_upgrade_101_is_a_raw_tunnel(sekisho, ws_origin):
    """Raw handshake: the 101 carries Upgrade/Connection, and frames flow unchanged afterwards."""
    sk = sekisho(ws_config(ws_origin.port))
    with RawConn(sk.port()) as c:
        c.send(b"GET /raw HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        status, headers = c.read_head_only()
        h = {k.lower(): v for k, v in headers}
        assert status == 101
        assert h.get("upgrade", "").lower() == "websocket"
        assert "upgrade" in h.get("connection", "").lower()
        assert h.get("sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        # A masked text frame "ping!" → the echo server answers an unmasked "ping!".
        mask = b"\x01\x02\x03\x04"
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(b"ping!"))
        c.send(b"\x81\x85" + mask + payload)
        while len(c.buf) < 7:
            c._fill()
        assert c.buf[:7] == b"\x81\x05ping!"


def test_websocket_silence_is_governed_by_the_idle_timeout_only(sekisho, ws_origin):
    """A silent tunnel answers to the behavior's idle_timeout (default 1 h: config_test checks the default),
    not to the connection's other deadlines: with every other timeout at 1 s, 3 s of silence must not close
    it. (This replaces a test that waited 65 s to show that the default is not nginx's 60 s.)"""
    cfg = ws_config(ws_origin.port)
    cfg["timeouts"] = {"header_read": "1s", "keepalive": "1s", "send": "1s"}
    sk = sekisho(cfg)

    async def run():
        async with connect(sk) as ws:
            await ws.send("before")
            assert await asyncio.wait_for(ws.recv(), 5) == "before"
            await asyncio.sleep(3)
            await ws.send("after")
            assert await asyncio.wait_for(ws.recv(), 5) == "after"

    asyncio.run(run())


def test_websocket_idle_timeout_closes_tunnel(sekisho, ws_origin):
    sk = sekisho(ws_config(ws_origin.port, idle_timeout="2s"))

    async def run():
        async with connect(sk) as ws:
            await ws.send("hi")
            assert await asyncio.wait_for(ws.recv(), 5) == "hi"
            t0 = time.monotonic()
            try:
                await asyncio.wait_for(ws.recv(), 6)
                pytest.fail("received a message on an idle tunnel")
            except websockets.ConnectionClosed:
                pass
            except asyncio.TimeoutError:
                pytest.fail("tunnel still open 6 s after the last byte (idle_timeout: 2s)")
            return time.monotonic() - t0

    elapsed = asyncio.run(run())
    assert 1.5 <= elapsed <= 4.0, elapsed


def test_websocket_activity_keeps_tunnel_open(sekisho, ws_origin):
    sk = sekisho(ws_config(ws_origin.port, idle_timeout="2s"))

    async def run():
        async with connect(sk) as ws:
            for i in range(6):  # 6 × 0.8 s = 4.8 s total, never 2 s idle
                await ws.send("m%d" % i)
                assert await asyncio.wait_for(ws.recv(), 5) == "m%d" % i
                await asyncio.sleep(0.8)

    asyncio.run(run())


def test_upgrade_refused_by_origin_is_plain_response(sekisho, origin):
    """An Upgrade request to an origin that answers 200 stays a normal HTTP exchange."""
    sk = sekisho(simple_config(origin.port, aliases=["ws.test"]))
    with RawConn(sk.port()) as c:
        c.send(b"GET /no-ws HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        r = c.read_response()
        assert r.status == 200


def test_origin_closing_tunnel_closes_viewer(sekisho, scripted_origin):
    o = scripted_origin(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
                        b"bytes-after-101")
    sk = sekisho(simple_config(o.port, aliases=["ws.test"]))
    with RawConn(sk.port()) as c:
        c.send(b"GET /ws HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        status, _ = c.read_head_only()
        assert status == 101
        assert c.wait_closed(3.0)
        assert c.buf == b"bytes-after-101"
