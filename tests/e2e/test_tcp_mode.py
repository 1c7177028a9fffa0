"""`mode: tcp` listeners tunnel raw TCP to their origin (DESIGN §1)."""

import os
import socket
import threading
import time

from util import HOST, simple_config


def tcp_config(echo_port, http_origin_port, idle=None):
    cfg = simple_config(http_origin_port)
    lst = {"name": "raw", "mode": "tcp", "origin": "echo"}
    if idle:
        lst["idle_timeout"] = idle
    cfg["listeners"].append(lst)
    cfg["origins"]["echo"] = {"servers": ["%s:%d" % (HOST, echo_port)]}
    return cfg


def test_tcp_tunnel_both_ways(sekisho, tcp_echo, origin):
    sk = sekisho(tcp_config(tcp_echo.port, origin.port))
    with socket.create_connection((HOST, sk.port("raw")), timeout=5) as s:
        s.sendall(b"hello\n")
        got = b""
        while len(got) < 6:
            got += s.recv(100)
        assert got == b"hello\n"
        # Not HTTP: arbitrary bytes, including ones an HTTP parser would reject.
        blob = b"\x00\r\nGET / HTTP/1.1\r\n\r\n\xff"
        s.sendall(blob)
        got = b""
        while len(got) < len(blob):
            got += s.recv(100)
        assert got == blob


def test_tcp_tunnel_large_transfer(sekisho, tcp_echo, origin):
    sk = sekisho(tcp_config(tcp_echo.port, origin.port))
    data = os.urandom(8 * 1024 * 1024)
    with socket.create_connection((HOST, sk.port("raw")), timeout=10) as s:
        def writer():
            s.sendall(data)
        t = threading.Thread(target=writer)
        t.start()
        got = bytearray()
        while len(got) < len(data):
            b = s.recv(1 << 20)
            assert b, "tunnel closed after %d bytes" % len(got)
            got += b
        t.join()
    assert bytes(got) == data


def test_tcp_half_close_propagates(sekisho, tcp_echo, origin):
    sk = sekisho(tcp_config(tcp_echo.port, origin.port))
    with socket.create_connection((HOST, sk.port("raw")), timeout=5) as s:
        s.sendall(b"last words")
        s.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            b = s.recv(100)
            if not b:
                break
            got += b
        assert got == b"last words"


def test_tcp_idle_timeout(sekisho, tcp_echo, origin):
    sk = sekisho(tcp_config(tcp_echo.port, origin.port, idle="1s"))
    with socket.create_connection((HOST, sk.port("raw")), timeout=5) as s:
        s.sendall(b"x")
        assert s.recv(10) == b"x"
        t0 = time.monotonic()
        try:
            assert s.recv(10) == b""
        except ConnectionResetError:
            pass
        assert time.monotonic() - t0 <= 3.5


def test_tcp_origin_down_closes_connection(sekisho, origin):
    from util import free_port
    sk = sekisho(tcp_config(free_port(), origin.port))
    with socket.create_connection((HOST, sk.port("raw")), timeout=5) as s:
        try:
            assert s.recv(10) == b""
        except ConnectionResetError:
            pass
