"""TLS at the edge (DESIGN §1, §6, §7): termination on listeners with `tls:`, SNI certificate choice,
protocol floor, ALPN, session tickets across reloads, the handshake deadline, static files, tunnels and
tcp listeners over TLS, certificate reload on SIGHUP (a broken certificate is refused and the old one
keeps serving), and the expiry warning and gauge.

Clients: curl (--cacert, --resolve), `openssl s_client`, and Python's ssl module. Certificates come from
tlsutil.make_pki (root → intermediate → leaves; the listeners send the intermediate as their chain).
"""

import asyncio
import json
import os
import re
import socket
import ssl
import struct
import subprocess
import time

import pytest
import websockets

from tlsutil import CLEAN_ENV, pki  # noqa: F401  (pki is a fixture)
from util import HOST, free_port, read_metrics, recv_all, simple_config, wait_port, wait_until


def tls_config(pki, origin_port, certs=("a", "b", "wild"), aliases=("a.test", "b.test", "*.w.test"), tls=None,
               **top):
    cfg = simple_config(origin_port, aliases=aliases, **top)
    cfg["certificates"] = {name: pki.cert_entry(name) for name in certs}
    t = {"certificates": list(certs)}
    t.update(tls or {})
    cfg["listeners"][0]["tls"] = t
    return cfg


def curl(sk, host, path="/", *extra, cacert=None, pki=None, listener="web"):
    port = sk.port(listener)
    out = [] if "-o" in extra else ["-o", "-"]
    args = ["curl", "-sS", "--max-time", "10", "--cacert", cacert or pki.root, "--resolve",
            "%s:%d:127.0.0.1" % (host, port)] + out + ["-w", "\n%{http_code}"] + list(extra) + [
            "https://%s:%d%s" % (host, port, path)]
    p = subprocess.run(args, capture_output=True, timeout=20)
    p.stdout = p.stdout.decode("utf-8", "replace")
    p.stderr = p.stderr.decode("utf-8", "replace")
    return p


def der(path):
    return ssl.PEM_cert_to_DER_cert(open(path).read().split("-----END CERTIFICATE-----")[0] +
                                    "-----END CERTIFICATE-----\n")


# No verification here: the tests compare the served certificate itself. One context for all, because a
# session can only be resumed through the context that made it.
NOVERIFY = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
NOVERIFY.check_hostname = False
NOVERIFY.verify_mode = ssl.CERT_NONE


def served_cert(port, sni, session=None, request=False):
    """Connects with Python's ssl; returns (DER of the leaf, the ssl socket's session, session_reused)."""
    with socket.create_connection((HOST, port), timeout=5) as raw:
        with NOVERIFY.wrap_socket(raw, server_hostname=sni, session=session) as s:
            leaf = s.getpeercert(binary_form=True)
            if request:
                s.sendall(b"GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (sni or "a.test").encode())
                while s.recv(65536):
                    pass
            return leaf, s.session, s.session_reused


def s_client(port, *args, input_=b"", sni=None):
    cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port]
    if sni:
        cmd += ["-servername", sni]
    p = subprocess.run(cmd + list(args), input=input_, capture_output=True, timeout=20, env=CLEAN_ENV)
    return p.returncode, p.stdout.decode("utf-8", "replace") + p.stderr.decode("utf-8", "replace")


# ---- termination ------------------------------------------------------------------------------------

def test_https_through_to_the_origin_with_chain_and_forwarded_proto(sekisho, origin, pki):
    sk = sekisho(tls_config(pki, origin.port))
    p = curl(sk, "a.test", "/hello", pki=pki)
    assert p.returncode == 0, p.stderr  # curl verified the chain leaf → intermediate → root
    body, code = p.stdout.rsplit("\n", 1)
    assert code == "200"
    rec = json.loads(body)
    hdrs = {k.lower(): v for k, v in rec["headers"]}
    assert hdrs["x-forwarded-proto"] == "https"
    assert rec["path"] == "/hello"
    # Keep-alive over TLS: two requests, one connection.
    port = sk.port()
    p = subprocess.run(["curl", "-sS", "-v", "--cacert", pki.root, "--resolve", "a.test:%d:127.0.0.1" % port,
                        "https://a.test:%d/1" % port, "https://a.test:%d/2" % port], capture_output=True,
                       text=True, timeout=20)
    assert p.returncode == 0, p.stderr
    assert "Re-using existing connection" in p.stderr or "Reusing existing connection" in p.stderr, p.stderr
    assert p.stderr.count("SSL connection using") == 1, p.stderr  # one handshake for both requests


def test_plain_http_on_a_tls_listener_is_not_served(sekisho, origin, pki):
    sk = sekisho(tls_config(pki, origin.port))
    with socket.create_connection((HOST, sk.port()), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
        data = b""
        try:
            while True:
                k = s.recv(4096)
                if not k:
                    break
                data += k
        except (ConnectionResetError, socket.timeout):
            pass
    assert b"HTTP/1.1 200" not in data
    assert origin.count == 0


def test_sni_picks_exact_then_wildcard_else_the_first(sekisho, origin, pki):
    sk = sekisho(tls_config(pki, origin.port, certs=("b", "wild", "a")))
    port = sk.port()
    assert served_cert(port, "a.test")[0] == der(pki.crt("a"))
    assert served_cert(port, "A.TEST")[0] == der(pki.crt("a"))  # names ignore case
    assert served_cert(port, "b.test")[0] == der(pki.crt("b"))
    assert served_cert(port, "x.w.test")[0] == der(pki.crt("wild"))
    assert served_cert(port, "X.W.Test")[0] == der(pki.crt("wild"))
    # A wildcard covers one label only; unknown names and no SNI get the first listed certificate.
    assert served_cert(port, "deep.x.w.test")[0] == der(pki.crt("b"))
    assert served_cert(port, "w.test")[0] == der(pki.crt("b"))
    assert served_cert(port, "unknown.example")[0] == der(pki.crt("b"))
    assert served_cert(port, None)[0] == der(pki.crt("b"))
    # openssl s_client -servername agrees, and the chain (intermediate) is sent.
    rc, out = s_client(port, "-CAfile", pki.root, "-verify_return_error", sni="x.w.test")
    assert rc == 0, out
    assert "Verify return code: 0 (ok)" in out
    assert re.search(r"s:CN ?= ?\*\.w\.test", out), out
    assert re.search(r"1 s:CN ?= ?sekisho test intermediate", out), out


def test_old_protocols_are_refused_and_1_2_and_1_3_work(sekisho, origin, pki, tmp_path):
    sk = sekisho(tls_config(pki, origin.port))
    port = sk.port()
    old = ["-cipher", "DEFAULT:@SECLEVEL=0"]
    for flag in ("-tls1", "-tls1_1"):
        rc, out = s_client(port, flag, *old, sni="a.test")
        assert rc != 0, out
        assert "Cipher is (NONE)" in out or "no protocols available" in out or "alert" in out, out
    for flag, name in (("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")):
        rc, out = s_client(port, flag, "-CAfile", pki.root, "-verify_return_error", sni="a.test")
        assert rc == 0, out
        assert ("Protocol  : %s" % name) in out or ("New, %s" % name) in out, out
    # Control: the same client does speak TLS 1.1 to a server that allows it, so the refusal above is
    # sekisho's.
    ctl = free_port()
    srv = subprocess.Popen(["openssl", "s_server", "-accept", "127.0.0.1:%d" % ctl, "-cert", pki.crt("a"), "-key",
                            pki.key("a"), "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0", "-www"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=CLEAN_ENV)
    try:
        wait_port(ctl, proc=srv)
        rc, out = s_client(ctl, "-tls1_1", *old, input_=b"GET / HTTP/1.0\r\n\r\n")
        assert "Protocol  : TLSv1.1" in out, out
    finally:
        srv.terminate()
        srv.wait(5)


def test_tls12_default_ciphers_are_modern_and_configurable(sekisho, origin, pki):
    sk = sekisho(tls_config(pki, origin.port))
    rc, out = s_client(sk.port(), "-tls1_2", "-cipher", "AES128-SHA", sni="a.test")  # RSA kx, CBC: refused
    assert rc != 0, out
    rc, out = s_client(sk.port(), "-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305", sni="a.test")
    assert rc == 0 and "ECDHE-ECDSA-CHACHA20-POLY1305" in out, out
    sk2 = sekisho(tls_config(pki, origin.port, tls={"ciphers": "ECDHE-ECDSA-AES256-GCM-SHA384"}))
    rc, out = s_client(sk2.port(), "-tls1_2", sni="a.test")
    assert rc == 0 and "ECDHE-ECDSA-AES256-GCM-SHA384" in out, out
    rc, out = s_client(sk2.port(), "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256", sni="a.test")
    assert rc != 0, out


def test_min_version_1_3(sekisho, origin, pki):
    sk = sekisho(tls_config(pki, origin.port, tls={"min_version": "1.3"}))
    rc, out = s_client(sk.port(), "-tls1_2", sni="a.test")
    assert rc != 0, out
    rc, out = s_client(sk.port(), "-tls1_3", sni="a.test")
    assert rc == 0, out


def test_alpn_selects_h2_then_http11_and_leaves_unknown_protocols_alone(sekisho, origin, pki):
    sk = sekisho(tls_config(pki, origin.port))
    rc, out = s_client(sk.port(), "-alpn", "h2,http/1.1", sni="a.test")
    assert rc == 0 and "ALPN protocol: h2" in out, out
    rc, out = s_client(sk.port(), "-alpn", "http/1.1", sni="a.test")
    assert rc == 0 and "ALPN protocol: http/1.1" in out, out
    rc, out = s_client(sk.port(), "-alpn", "spdy/3", sni="a.test")
    assert rc == 0 and "No ALPN negotiated" in out, out
    # curl offers h2 and http/1.1 and settles on h2 (DESIGN §2 "HTTP/2").
    p = curl(sk, "a.test", "/", "-v", pki=pki)
    assert p.returncode == 0 and "ALPN: server accepted h2" in p.stderr, p.stderr


def test_alpn_http2_false_selects_http11_only(sekisho, origin, pki):
    cfg = tls_config(pki, origin.port)
    cfg["listeners"][0]["http2"] = False
    sk = sekisho(cfg)
    rc, out = s_client(sk.port(), "-alpn", "h2,http/1.1", sni="a.test")
    assert rc == 0 and "ALPN protocol: http/1.1" in out, out
    rc, out = s_client(sk.port(), "-alpn", "h2", sni="a.test")
    assert rc == 0 and "No ALPN negotiated" in out, out
    p = curl(sk, "a.test", "/", "-v", pki=pki)
    assert p.returncode == 0 and "ALPN: server accepted http/1.1" in p.stderr, p.stderr


def test_session_tickets_resume_also_after_a_reload(sekisho, origin, pki):
    admin = free_port()
    cfg = tls_config(pki, origin.port, admin={"listen": "127.0.0.1:%d" % admin})
    sk = sekisho(cfg)
    port = sk.port()
    _, sess, reused = served_cert(port, "a.test", request=True)
    assert not reused and sess is not None
    _, sess2, reused = served_cert(port, "a.test", session=sess, request=True)
    assert reused
    # A reload builds new contexts; the ticket keys are the process's, so tickets still resume.
    cfg["origins"]["app"]["headers"] = {"x-generation": "2"}
    sk.reload(cfg)
    wait_until(lambda: "configuration reloaded" in sk.stderr_text(), what="reload")
    _, _, reused = served_cert(port, "a.test", session=sess2, request=True)
    assert reused
    v = read_metrics(admin)
    assert v["sekisho_tls_resumed_total"] >= 2
    assert sum(n for k, n in v.items() if k.startswith("sekisho_tls_handshakes_total{") and 'result="ok"' in k) >= 3
    assert v["sekisho_tls_handshake_failures_total"] == 0, sk.stderr_text()


def test_tls13_resumption_issues_a_fresh_ticket(sekisho, origin, pki):
    # TLS 1.3 clients use a ticket once (RFC 8446 C.4: OpenSSL's, as in wrk or curl, drop a session after
    # resuming it): a resumed handshake that issued no new ticket made the next connection a full one,
    # so a reconnecting client alternated full and resumed handshakes.
    sk = sekisho(tls_config(pki, origin.port))
    port = sk.port()
    _, sess, reused = served_cert(port, "a.test", request=True)
    assert not reused and sess is not None
    ids = [sess.id]
    for _ in range(3):
        _, sess, reused = served_cert(port, "a.test", session=sess, request=True)
        assert reused
        ids.append(sess.id)
    assert len(set(ids)) == len(ids), "a resumed TLS 1.3 handshake issued no new ticket"


def bio_connect(port):
    """A TLS client over memory BIOs on a new socket, its handshake done: (tls, inc, out, raw). TLS 1.3's
    Finished is still in `out`, to leave with whatever is written next."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = NOVERIFY.wrap_bio(inc, out, server_hostname="a.test")
    raw = socket.create_connection((HOST, port), timeout=5)
    while True:
        try:
            tls.do_handshake()
            return tls, inc, out, raw
        except ssl.SSLWantReadError:
            if out.pending:
                raw.sendall(out.read())
            data = raw.recv(65536)
            if not data:
                raw.close()
                raise ConnectionError("closed during the handshake")
            inc.write(data)


def bio_read_all(tls, inc, raw):
    """Reads until the server's close_notify or the socket's end: (plaintext, close_notify seen)."""
    got = b""
    while True:
        try:
            chunk = tls.read(65536)
            if not chunk:
                return got, True
            got += chunk
            continue
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLZeroReturnError:
            return got, True
        except ssl.SSLEOFError:
            return got, False
        data = raw.recv(65536)
        if not data:
            return got, False
        inc.write(data)


def test_records_that_arrive_with_the_handshake_are_all_served(sekisho, origin, pki):
    # The viewer side reads ahead (one read takes every record the socket holds): the client's Finished
    # and two pipelined requests, each its own TLS record, arrive in one TCP segment. Both are answered
    # without any further byte from the client (no new readiness edge will come for them).
    sk = sekisho(tls_config(pki, origin.port))
    tls, inc, out, raw = bio_connect(sk.port())
    with raw:
        tls.write(b"GET /one HTTP/1.1\r\nHost: a.test\r\n\r\n")
        tls.write(b"GET /two HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
        raw.sendall(out.read())  # Finished (TLS 1.3) and both records in one send
        got, _ = bio_read_all(tls, inc, raw)
    assert got.count(b"HTTP/1.1 200") == 2, got
    one, two = got.find(b'"path": "/one"'), got.find(b'"path": "/two"')
    assert 0 < one < two, got


def test_requests_sent_right_after_the_handshake_are_never_left_waiting(sekisho, origin, pki):
    # With read-ahead the handshake itself may take the request's record from the socket, also when it
    # runs on a write event; the connection must go on reading rather than wait for an edge that the
    # consumed bytes will never raise (found as 1-10 stalled connections in 3 000, each answered only
    # by the header_read deadline). Many clients, each sending its request the moment its handshake
    # ends; a stalled one would hit the socket timeout.
    import concurrent.futures
    sk = sekisho(tls_config(pki, origin.port, timeouts={"header_read": "4s"}))
    port = sk.port()

    def one(_):
        try:
            tls, inc, out, raw = bio_connect(port)
        except ConnectionError:
            return b""
        with raw:
            tls.write(b"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
            raw.sendall(out.read())  # the Finished and the request together
            return bio_read_all(tls, inc, raw)[0]

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(one, range(3000)))
    assert all(a.startswith(b"HTTP/1.1 200") for a in answers)


def test_tls_connection_close_request_is_closed_at_once_after_close_notify(sekisho, origin, pki):
    # As on plain HTTP: the viewer asked to close and OpenSSL holds nothing after its request, so
    # sekisho sends its close_notify and closes the socket at once (no lingering read). A byte sent
    # afterwards meets no socket: the kernel answers with a reset. With bytes after the request, the
    # close lingers (no reset).
    sk = sekisho(tls_config(pki, origin.port))
    port = sk.port()

    def exchange(extra):
        tls, inc, out, raw = bio_connect(port)
        tls.write(b"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n" + extra)
        raw.sendall(out.read())
        got, notify = bio_read_all(tls, inc, raw)
        while raw.recv(65536):  # to the socket's end (a lingering close ends in 2 s)
            pass
        try:
            raw.sendall(b"x")
            time.sleep(0.3)
            raw.sendall(b"y")
            time.sleep(0.2)
            reset = raw.recv(16) != b""
        except (ConnectionResetError, BrokenPipeError):
            reset = True
        raw.close()
        return got, notify, reset

    got, notify, reset = exchange(b"")
    assert got.startswith(b"HTTP/1.1 200") and notify and reset
    got, notify, reset = exchange(b"GET /more HTTP/1.1\r\nHost: a.test\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 200") and notify and not reset


def test_a_burst_of_tls_connections_is_accepted_one_per_round_and_all_served(sekisho, origin, pki):
    # A TLS listener takes one new connection per readiness event (worker.c) and leaves its ClientHello
    # to the connection's own event: 300 connections queued at once must all still be accepted (the
    # listener is level-triggered) and answered. One left in the kernel's queue would block its
    # handshake here until the 10 s socket timeout.
    sk = sekisho(tls_config(pki, origin.port, timeouts={"header_read": "60s"}, workers=1))
    port = sk.port()
    raws = [socket.create_connection((HOST, port), timeout=10) for _ in range(300)]
    try:
        tlss = [NOVERIFY.wrap_socket(r, server_hostname="a.test", do_handshake_on_connect=False) for r in raws]
        for t in tlss:
            t.do_handshake()
            t.sendall(b"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
        answers = [recv_all(t) for t in tlss]
        assert all(a.startswith(b"HTTP/1.1 200") for a in answers), [a[:40] for a in answers if not a.startswith(b"HTTP/1.1 200")][:3]
    finally:
        for r in raws:
            r.close()


def test_handshakes_abandoned_in_a_burst_leave_the_queue_cleanly(sekisho, origin, pki):
    # A new TLS connection's first handshake step waits in the loop's queue (at most 4 run per round,
    # loop.c). 400 connections each send a real ClientHello and reset at once: the reset's event joins
    # the one already queued, the step then meets a dead socket and the connection closes. Viewers in
    # between are all answered and the process lives on. (An io closed by something else while it is
    # queued, a timer or a drain, is loop_test's case: its entry must be dropped before it is freed.)
    sk = sekisho(tls_config(pki, origin.port, workers=1))
    port = sk.port()
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    hello_tls = NOVERIFY.wrap_bio(inc, out, server_hostname="a.test")
    with pytest.raises(ssl.SSLWantReadError):
        hello_tls.do_handshake()
    hello = out.read()
    assert hello[:1] == b"\x16"  # a handshake record: the ClientHello
    linger0 = struct.pack("ii", 1, 0)
    for round_ in range(4):
        socks = []
        for _ in range(100):
            s = socket.create_connection((HOST, port), timeout=5)
            s.sendall(hello)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger0)
            socks.append(s)
        for s in socks:
            s.close()  # a reset, while its handshake step may still wait
        p = curl(sk, "a.test", "/r%d" % round_, pki=pki)
        assert p.returncode == 0 and p.stdout.endswith("200"), p.stderr
    assert sk.proc.poll() is None


def test_handshake_has_a_deadline_and_does_not_block_others(sekisho, origin, pki):
    sk = sekisho(tls_config(pki, origin.port, timeouts={"header_read": "1s"}))
    port = sk.port()
    silent = socket.create_connection((HOST, port), timeout=5)
    partial = socket.create_connection((HOST, port), timeout=5)
    partial.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # the start of a ClientHello
    t0 = time.monotonic()
    # Meanwhile other viewers are served at once.
    p = curl(sk, "a.test", "/", pki=pki)
    assert p.returncode == 0 and p.stdout.endswith("200"), p.stderr
    assert time.monotonic() - t0 < 0.9
    for s in (silent, partial):
        try:
            got = s.recv(100)
        except ConnectionResetError:
            got = b""
        assert got == b""  # closed by sekisho (a socket timeout would raise after 5 s)
        elapsed = time.monotonic() - t0
        assert 0.8 <= elapsed < 4, elapsed
        s.close()


def test_static_files_and_head_over_tls(sekisho, pki, tmp_path):
    www = tmp_path / "www"
    www.mkdir()
    data = os.urandom(3 * 1024 * 1024 + 17)
    (www / "big.bin").write_bytes(data)
    (www / "index.html").write_text("<h1>hi</h1>\n")
    cfg = {
        "certificates": {"a": pki.cert_entry("a")},
        "listeners": [{"name": "web", "tls": {"certificates": ["a"]}}],
        "origins": {"site": {"root": str(www)}},
        "distributions": [{"name": "s", "aliases": ["a.test"], "behaviors": [{"path": "*", "origin": "site"}]}],
    }
    sk = sekisho(cfg)
    out = tmp_path / "got.bin"
    p = curl(sk, "a.test", "/big.bin", "-o", str(out), pki=pki)
    assert p.returncode == 0, p.stderr
    assert out.read_bytes() == data
    p = curl(sk, "a.test", "/", "-I", pki=pki)
    assert p.returncode == 0 and "200" in p.stdout.splitlines()[0], p.stdout
    # A slow reader: the transfer still completes (backpressure through TLS).
    port = sk.port()
    ctx = ssl.create_default_context(cafile=pki.root)
    with socket.create_connection((HOST, port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="a.test") as s:
            s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
            got = b""
            time.sleep(0.5)
            while True:
                k = s.recv(65536)
                if not k:
                    break
                got += k
    assert got.endswith(data)


def test_websocket_over_tls(sekisho, ws_origin, pki):
    cfg = tls_config(pki, ws_origin.port, certs=("a",), aliases=("a.test",))
    sk = sekisho(cfg)
    ctx = ssl.create_default_context(cafile=pki.root)

    async def run():
        async with websockets.connect("wss://a.test/chat", host=HOST, port=sk.port(), ssl=ctx,
                                      server_hostname="a.test", ping_interval=None, max_size=None,
                                      open_timeout=5, close_timeout=2) as ws:
            for msg in ("hello", "y" * 200000, b"\x00\xffbin"):
                await ws.send(msg)
                assert await asyncio.wait_for(ws.recv(), 5) == msg

    asyncio.run(run())


def test_tcp_listener_terminates_tls(sekisho, tcp_echo, pki):
    cfg = {
        "certificates": {"a": pki.cert_entry("a")},
        "listeners": [{"name": "t", "mode": "tcp", "origin": "echo", "tls": {"certificates": ["a"]}}],
        "origins": {"echo": {"servers": ["127.0.0.1:%d" % tcp_echo.port]}},
    }
    sk = sekisho(cfg)
    ctx = ssl.create_default_context(cafile=pki.root)
    with socket.create_connection((HOST, sk.port("t")), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="a.test") as s:
            payload = os.urandom(100000)
            s.sendall(payload)
            got = b""
            while len(got) < len(payload):
                k = s.recv(65536)
                assert k
                got += k
            assert got == payload


# ---- reload and broken certificates --------------------------------------------------------------

def test_broken_certificate_refused_at_start(sekisho, origin, pki, tmp_path):
    cfg = tls_config(pki, origin.port, certs=("a",), aliases=("a.test",))
    cfg["certificates"]["a"]["cert"] = pki.path("broken.crt")
    with pytest.raises(RuntimeError) as e:
        sekisho(cfg, timeout=5)
    assert "certificate 'a'" in str(e.value) and "broken.crt" in str(e.value), str(e.value)


def test_reload_swaps_certificates_and_refuses_broken_ones(sekisho, origin, pki):
    cfg = tls_config(pki, origin.port, certs=("a",), aliases=("a.test",))
    sk = sekisho(cfg)
    port = sk.port()
    assert served_cert(port, "a.test")[0] == der(pki.crt("a"))

    # A keep-alive connection opened now must survive everything below.
    ctx = ssl.create_default_context(cafile=pki.root)
    ka = ctx.wrap_socket(socket.create_connection((HOST, port), timeout=5), server_hostname="a.test")
    f = ka.makefile("rb")

    def ka_get(i):
        ka.sendall(b"GET /ka/%d HTTP/1.1\r\nHost: a.test\r\n\r\n" % i)
        status = f.readline()
        n = 0
        while True:
            line = f.readline()
            if line in (b"\r\n", b""):
                break
            if line.lower().startswith(b"content-length:"):
                n = int(line.split(b":")[1])
        f.read(n)
        return status

    assert b"200" in ka_get(1)

    # 1. A cert file that is not a certificate: refused, the old one keeps serving.
    bad = json.loads(json.dumps(cfg))
    bad["certificates"]["a"]["cert"] = pki.path("broken.crt")
    sk.reload(bad)
    wait_until(lambda: sk.stderr_text().count("reload refused") >= 1, what="reload refused")
    assert re.search(r"reload refused: .*certificate 'a': .*broken\.crt", sk.stderr_text()), sk.stderr_text()
    assert served_cert(port, "a.test")[0] == der(pki.crt("a"))
    # 2. A key that does not match: refused with a clear message.
    bad = json.loads(json.dumps(cfg))
    bad["certificates"]["a"]["key"] = pki.path("other.key")
    sk.reload(bad)
    wait_until(lambda: sk.stderr_text().count("reload refused") >= 2, what="second refusal")
    assert "does not match the certificate" in sk.stderr_text()
    assert served_cert(port, "a.test")[0] == der(pki.crt("a"))
    # 3. The same file names with new contents: SIGHUP reloads the files.
    good = json.loads(json.dumps(cfg))
    good["certificates"]["a"] = pki.cert_entry("a2")
    sk.reload(good)
    wait_until(lambda: served_cert(port, "a.test")[0] == der(pki.crt("a2")), what="new certificate served")
    assert b"200" in ka_get(2)  # the old connection kept its TLS session and its snapshot
    ka.close()
    assert sk.alive()


# ---- expiry ----------------------------------------------------------------------------------------

def test_expiry_warning_and_days_left_gauge(sekisho, origin, pki):
    admin = free_port()
    cfg = tls_config(pki, origin.port, certs=("a", "soon", "expired"), aliases=("a.test", "soon.test"),
                     admin={"listen": "127.0.0.1:%d" % admin})
    sk = sekisho(cfg)
    err = sk.stderr_text()
    assert re.search(r"warn certificate 'soon' \(CN=soon\.test\) expires in 9 days", err), err
    assert re.search(r"warn certificate 'expired' \(CN=a\.test\) has expired: not after 2021-01-31", err), err
    assert "certificate 'a' " not in err
    v = read_metrics(admin)

    def days(name):  # the DESIGN gauge is the not-after as Unix time; days left are whole days, floored
        return (v['sekisho_certificate_expiry_seconds{certificate="%s"}' % name] - time.time()) // 86400
    assert days("soon") == 9
    assert 360 <= days("a") <= 365
    assert days("expired") < -600
    # The gauge follows reloads (a certificate removed from the config disappears).
    cfg2 = tls_config(pki, origin.port, certs=("a",), aliases=("a.test",), admin={"listen": "127.0.0.1:%d" % admin})
    sk.reload(cfg2)
    wait_until(lambda: 'sekisho_certificate_expiry_seconds{certificate="soon"}' not in read_metrics(admin),
               what="gauge update")
