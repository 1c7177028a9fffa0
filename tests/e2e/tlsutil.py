"""Test certificates for the TLS end-to-end tests, made at test time with the `openssl` command line.

`make_pki(dir)` builds, under dir (ECDSA P-256 throughout, like the benchmark):

- ``root.pem`` (self-signed root CA) and ``inter.pem`` (intermediate CA signed by the root);
- server certificates signed by the intermediate, each as NAME.crt (leaf only) + NAME.key, with
  inter.pem as their chain: ``a`` (a.test), ``b`` (b.test), ``wild`` (*.w.test), ``expired``
  (a.test, not after 2021-01-31), ``soon`` (soon.test, valid 10 more days), ``a2`` (a.test again:
  the certificate a rotation moves to), ``origin`` (origin.test and 127.0.0.1, for upstream TLS);
- ``clientca.pem`` (a separate root for client certificates) and client certificates signed by it:
  ``alice`` (CN=alice), ``bob`` (CN=Bob Example, SAN e-mail bob@example.com), ``carol`` (CN=carol),
  ``mallory`` (CN=alice, but signed by ``rogue.pem``, a CA nobody trusts);
- ``broken.crt`` (PEM armour around garbage) and ``other.key`` (a key that matches no certificate).

The returned object has a path for each (``pki.crt("a")``, ``pki.key("a")``, ``pki.root``...).
"""

import os
import ssl
import subprocess

import pytest

import threading

from util import HOST, EchoOrigin, _EchoHandler, _ThreadingServer

SERVER_CERTS = {
    "a": ["DNS:a.test"],
    "b": ["DNS:b.test"],
    "wild": ["DNS:*.w.test"],
    "a2": ["DNS:a.test"],
    "soon": ["DNS:soon.test"],
    "origin": ["DNS:origin.test", "IP:127.0.0.1"],
}
# The openssl CLI links against the system configuration; keep it out (Debian raises MinProtocol and the
# security level there, which would make a refused-protocol test pass on the client side alone).
CLEAN_ENV = dict(os.environ, OPENSSL_CONF="/dev/null")


def run_openssl(*args, cwd=None, input=None):
    p = subprocess.run(["openssl"] + list(args), cwd=cwd, capture_output=True, text=True, input=input,
                       env=CLEAN_ENV, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("openssl %s failed:\n%s%s" % (" ".join(args), p.stdout, p.stderr))
    return p.stdout


class PKI:
    def __init__(self, d):
        self.dir = str(d)
        self.root = self.path("root.pem")
        self.inter = self.path("inter.pem")
        self.clientca = self.path("clientca.pem")
        self.rogue = self.path("rogue.pem")

    def path(self, name):
        return os.path.join(self.dir, name)

    def crt(self, name):
        return self.path(name + ".crt")

    def key(self, name):
        return self.path(name + ".key")

    def fullchain(self, name):
        """A file with the leaf followed by the intermediate (the shape certbot writes)."""
        p = self.path(name + ".full.pem")
        if not os.path.exists(p):
            with open(p, "w") as f:
                f.write(open(self.crt(name)).read() + open(self.inter).read())
        return p

    def cert_entry(self, name):
        """A `certificates:` entry for server certificate name (leaf + key + the intermediate as chain)."""
        return {"cert": self.crt(name), "key": self.key(name), "chain": self.inter}


def _key(d, name):
    run_openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", name + ".key", cwd=d)


def _ca(d, name, subj, signer=None):
    _key(d, name)
    if signer is None:
        run_openssl("req", "-x509", "-new", "-key", name + ".key", "-subj", subj, "-days", "3650", "-out",
                    name + ".pem", "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
        return
    run_openssl("req", "-new", "-key", name + ".key", "-subj", subj, "-out", name + ".csr", cwd=d)
    ext = os.path.join(d, name + ".ext")
    with open(ext, "w") as f:
        f.write("basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n")
    run_openssl("x509", "-req", "-in", name + ".csr", "-CA", signer + ".pem", "-CAkey", signer + ".key",
                "-CAcreateserial", "-days", "3650", "-extfile", ext, "-out", name + ".pem", cwd=d)


def _leaf(d, name, subj, sans, signer, days=365, client=False):
    _key(d, name)
    run_openssl("req", "-new", "-key", name + ".key", "-subj", subj, "-out", name + ".csr", cwd=d)
    ext = os.path.join(d, name + ".ext")
    with open(ext, "w") as f:
        f.write("basicConstraints=CA:FALSE\n")
        if sans:
            f.write("subjectAltName=%s\n" % ",".join(sans))
        f.write("extendedKeyUsage=%s\n" % ("clientAuth" if client else "serverAuth"))
    run_openssl("x509", "-req", "-in", name + ".csr", "-CA", signer + ".pem", "-CAkey", signer + ".key",
                "-CAcreateserial", "-days", str(days), "-extfile", ext, "-out", name + ".crt", cwd=d)


def _expired(d, name, sans, signer):
    """A leaf whose validity ended years ago (`openssl ca` is the CLI that takes explicit dates)."""
    _key(d, name)
    run_openssl("req", "-new", "-key", name + ".key", "-subj", "/CN=" + sans[0][4:], "-out", name + ".csr", cwd=d)
    db = os.path.join(d, "ca-db")
    os.makedirs(db, exist_ok=True)
    open(os.path.join(db, "index.txt"), "w").close()
    with open(os.path.join(db, "serial"), "w") as f:
        f.write("1000\n")
    conf = os.path.join(d, "ca.cnf")
    with open(conf, "w") as f:
        f.write("""[ca]
default_ca = c
[c]
database = %(db)s/index.txt
serial = %(db)s/serial
new_certs_dir = %(db)s
default_md = sha256
policy = p
copy_extensions = none
x509_extensions = e
unique_subject = no
[p]
commonName = supplied
[e]
basicConstraints = CA:FALSE
subjectAltName = %(sans)s
extendedKeyUsage = serverAuth
""" % {"db": db, "sans": ",".join(sans)})
    run_openssl("ca", "-batch", "-config", conf, "-cert", signer + ".pem", "-keyfile", signer + ".key",
                "-in", name + ".csr", "-out", name + ".crt", "-startdate", "20200101000000Z",
                "-enddate", "20210131000000Z", "-notext", cwd=d)


def make_pki(d):
    d = str(d)
    os.makedirs(d, exist_ok=True)
    _ca(d, "root", "/CN=sekisho test root")
    _ca(d, "inter", "/CN=sekisho test intermediate", signer="root")
    for name, sans in SERVER_CERTS.items():
        days = 10 if name == "soon" else 365
        _leaf(d, name, "/CN=" + sans[0][4:], sans, "inter", days=days)
    _expired(d, "expired", ["DNS:a.test"], "inter")
    _ca(d, "clientca", "/CN=sekisho client CA")
    _ca(d, "rogue", "/CN=rogue CA")
    _leaf(d, "alice", "/CN=alice", [], "clientca", client=True)
    _leaf(d, "bob", "/CN=Bob Example", ["email:bob@example.com"], "clientca", client=True)
    _leaf(d, "mallory", "/CN=alice", [], "rogue", client=True)
    _leaf(d, "carol", "/CN=carol", [], "clientca", client=True)
    with open(os.path.join(d, "broken.crt"), "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n")
    _key(d, "other")
    return PKI(d)


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """The test PKI (see the module comment), made once per test session."""
    return make_pki(tmp_path_factory.mktemp("pki"))


class TlsEchoOrigin(EchoOrigin):
    """util.EchoOrigin behind TLS (Python's ssl), serving pki's ``origin`` certificate (origin.test and
    127.0.0.1) with the intermediate. ``resumed`` lists, per accepted connection, whether its TLS
    session was resumed; ``ports`` (client ports, per request) shows connection reuse."""

    def __init__(self, pki, name="tls-echo"):
        super().__init__(name)
        self.pki = pki
        self.resumed = []

    def _conn_opened(self, sock):
        with self._lock:
            self.resumed.append(bool(getattr(sock, "session_reused", False)))
        super()._conn_opened(sock)

    def start(self):
        # As EchoOrigin.start, with the listening socket wrapped before the first accept.
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.pki.fullchain("origin"), self.pki.key("origin"))
        self._srv = _ThreadingServer((HOST, self.port), _EchoHandler)
        self._srv.socket = ctx.wrap_socket(self._srv.socket, server_side=True)
        self._srv.origin = self
        self._thread = threading.Thread(target=self._srv.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self
