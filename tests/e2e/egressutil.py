"""A real DNS server and "outside" servers for the egress proxy's end-to-end tests (DESIGN §5a).

`dnsmasq` (fixture): Debian's dnsmasq on 127.0.0.1 at a free port, in the foreground, with no upstream
and no hosts file, logging every query to a file in the test's tmp dir. Every name under `.test` that it
has no record for is NXDOMAIN (--local=/test/). Records (DNS_RECORDS below):

    allowed.test, www.allowed.test, api.allowed.test   A 127.0.0.2      (the outside HTTP echo server)
    tls.allowed.test                                   A 127.0.0.3      (the outside TLS echo server)
    loopback.test                                      A 127.0.0.1
    mixed.test                                         A 93.184.216.34 and A 127.0.0.1
    metadata.test                                      A 169.254.169.254
    mapped.test                                        AAAA ::ffff:127.0.0.1
    nat64.test                                         AAAA 64:ff9b::a9fe:a9fe
    private.test                                       A 10.1.2.3
    nx.test (and any other unknown *.test)             NXDOMAIN
    slow.test                                          no answer ever: forwarded to a UDP socket that
                                                       reads nothing (`.blackhole`)

Handle: .port, .server ("127.0.0.1:PORT", for `dns.servers`), .blackhole ("127.0.0.1:PORT", a DNS
server that never answers, for a config whose every lookup times out), .query(name, "A"|"AAAA") →
(rcode, [addresses]) asked over UDP by the test itself, .queries(name) → how many queries dnsmasq logged
for name (to show that the proxy looked a name up once, or never), .stop().

`outside` (fixture, per module): the "outside world" on other loopback addresses: .http, a util.EchoOrigin
on 127.0.0.2 (plain HTTP, for absolute-form requests and plain CONNECT), and .tls, a TLS echo server on
127.0.0.3 with a certificate for tls.allowed.test from the test PKI (.ca: the root to verify it with).
These addresses are in 127/8, which the SSRF guard refuses: tests allow them with `allow_ips` (the
design's way) and separate tests check the refusal without it.

`egress_config(dns, allow, ...)` builds a config dict with one egress entry named "out".

A missing dnsmasq is an error, never a skip (scripts/install-deps installs it and stops its service).
"""

import os
import random
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time

import pytest

from tlsutil import _leaf, pki  # noqa: F401 (fixture)
from util import HOST, EchoOrigin, _EchoHandler, _ThreadingServer, free_port

OUTSIDE_HTTP = "127.0.0.2"
OUTSIDE_TLS = "127.0.0.3"

# name -> list of (type, address); dnsmasq --host-record takes one address per line, repeated per name.
DNS_RECORDS = {
    "allowed.test": [("A", OUTSIDE_HTTP)],
    "www.allowed.test": [("A", OUTSIDE_HTTP)],
    "api.allowed.test": [("A", OUTSIDE_HTTP)],
    "tls.allowed.test": [("A", OUTSIDE_TLS)],
    "loopback.test": [("A", "127.0.0.1")],
    "mixed.test": [("A", "93.184.216.34"), ("A", "127.0.0.1")],
    "metadata.test": [("A", "169.254.169.254")],
    "mapped.test": [("AAAA", "::ffff:127.0.0.1")],
    "nat64.test": [("AAAA", "64:ff9b::a9fe:a9fe")],
    "private.test": [("A", "10.1.2.3")],
}
QTYPES = {"A": 1, "AAAA": 28}


class Blackhole:
    """A UDP socket that is bound and never read: a DNS server that never answers."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.port = self.sock.getsockname()[1]
        self.server = "%s:%d" % (HOST, self.port)

    def close(self):
        self.sock.close()


class Dnsmasq:
    def __init__(self, workdir, records=None):
        self.dir = str(workdir)
        self.records = dict(DNS_RECORDS if records is None else records)
        self.port = None
        self.server = None
        self.proc = None
        self._blackhole = Blackhole()
        self.blackhole = self._blackhole.server
        self.log_path = os.path.join(self.dir, "dnsmasq.log")

    def start(self, timeout=10.0):
        exe = shutil.which("dnsmasq") or ("/usr/sbin/dnsmasq" if os.path.exists("/usr/sbin/dnsmasq") else None)
        if exe is None:
            raise RuntimeError("dnsmasq is not installed (run scripts/install-deps)")
        os.makedirs(self.dir, exist_ok=True)
        args = [exe, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--no-poll",
                "--listen-address=" + HOST, "--bind-interfaces", "--pid-file=", "--user=root", "--group=root",
                "--local=/test/", "--server=/slow.test/%s#%d" % (HOST, self._blackhole.port),
                "--log-queries", "--log-facility=" + self.log_path, "--cache-size=0"]
        for name, recs in self.records.items():
            for _, addr in recs:
                args.append("--host-record=%s,%s" % (name, addr))
        deadline = time.monotonic() + timeout
        while True:
            # free_port() probes TCP; dnsmasq binds UDP and TCP on the port, and a lost race shows as an
            # early exit: try another port.
            self.port = free_port()
            self.server = "%s:%d" % (HOST, self.port)
            self.proc = subprocess.Popen(args + ["--port=%d" % self.port], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if self._wait_ready(deadline):
                return self
            if time.monotonic() > deadline:
                err = self.proc.stderr.read().decode("utf-8", "replace") if self.proc.poll() is not None else ""
                self.stop()
                raise RuntimeError("dnsmasq did not answer on port %d: %s" % (self.port, err))

    def _wait_ready(self, deadline):
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                rcode, _ = self.query("allowed.test", "A", timeout=0.2)
                if rcode == 0:
                    return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def query(self, name, qtype="A", timeout=2.0):
        """Asks dnsmasq over UDP; returns (rcode, [addresses as text])."""
        tid = random.randint(0, 65535)
        qname = b"".join(bytes([len(l)]) + l.encode() for l in name.rstrip(".").split(".")) + b"\0"
        pkt = struct.pack(">HHHHHH", tid, 0x0100, 1, 0, 0, 0) + qname + struct.pack(">HH", QTYPES[qtype], 1)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            s.sendto(pkt, (HOST, self.port))
            r = s.recv(4096)
        flags, qd, an = struct.unpack(">HHH", r[2:8])
        off = 12 + len(qname) + 4
        addrs = []
        for _ in range(an):
            # Answers name the question by a compression pointer (2 bytes) in dnsmasq's replies.
            if r[off] & 0xc0 == 0xc0:
                off += 2
            else:
                while r[off]:
                    off += r[off] + 1
                off += 1
            rtype, _, _, rdlen = struct.unpack(">HHIH", r[off:off + 10])
            off += 10
            rdata = r[off:off + rdlen]
            off += rdlen
            if rtype == 1:
                addrs.append(socket.inet_ntop(socket.AF_INET, rdata))
            elif rtype == 28:
                addrs.append(socket.inet_ntop(socket.AF_INET6, rdata))
        return flags & 0xf, addrs

    def queries(self, name):
        """How many queries (any type) dnsmasq has logged for name."""
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return sum(1 for line in f if "query[" in line and (" %s from " % name.rstrip(".")) in line)
        except FileNotFoundError:
            return 0

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        if self.proc is not None and self.proc.stderr:
            self.proc.stderr.close()
        self._blackhole.close()


@pytest.fixture
def dnsmasq(tmp_path):
    """A running dnsmasq with DNS_RECORDS (see Dnsmasq); stopped by PID at teardown."""
    d = Dnsmasq(tmp_path / "dnsmasq").start()
    yield d
    d.stop()


class TlsOutside(EchoOrigin):
    """util.EchoOrigin behind TLS on another loopback address, with a certificate for tls.allowed.test."""

    def __init__(self, host, cert, key):
        super().__init__("tls-outside", host=host)
        self.cert, self.key = cert, key

    def start(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        self._srv = _ThreadingServer((self.host, self.port), _EchoHandler)
        self._srv.socket = ctx.wrap_socket(self._srv.socket, server_side=True)
        self._srv.origin = self
        self._thread = threading.Thread(target=self._srv.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self


class Outside:
    def __init__(self, pki):
        name = "egress-outside"
        if not os.path.exists(pki.crt(name)):
            _leaf(pki.dir, name, "/CN=tls.allowed.test", ["DNS:tls.allowed.test"], "inter")
        self.ca = pki.root
        self.http = EchoOrigin("outside", host=OUTSIDE_HTTP).start()
        self.tls = TlsOutside(OUTSIDE_TLS, pki.fullchain(name), pki.key(name)).start()

    def stop(self):
        self.http.stop()
        self.tls.stop()


@pytest.fixture(scope="module")
def outside(pki):  # noqa: F811 (pki is the fixture imported above)
    """The outside HTTP (127.0.0.2) and TLS (127.0.0.3, tls.allowed.test) echo servers."""
    o = Outside(pki)
    yield o
    o.stop()


def egress_config(dns, allow, allow_ips=None, port=None, timeout="1s", **entry):
    """A config with one egress entry "out" on 127.0.0.1 (port: a free one) resolving through dns (a
    Dnsmasq, or a "host:port" string). Extra keyword arguments go into the entry (access, idle_timeout...)."""
    e = {"name": "out", "listen": "%s:%d" % (HOST, port or free_port()), "allow": list(allow),
         "dns": {"servers": [dns if isinstance(dns, str) else dns.server], "timeout": timeout}}
    if allow_ips is not None:
        e["allow_ips"] = list(allow_ips)
    e.update(entry)
    return {"egress": [e]}
