"""TLS toward origins (`origins.X.tls: { ca, server_name, verify }`): a private root CA file, the
system trust store by default (which does not know the test root: 502), host name checks, `verify:
false`, IP-address names, keep-alive reuse of TLS connections and session resumption for new ones.
Origins: tlsutil.TlsEchoOrigin (Python ssl) and `openssl s_server -www`."""

import subprocess

import pytest
import requests

from tlsutil import CLEAN_ENV, TlsEchoOrigin, pki  # noqa: F401  (pki is a fixture)
from util import free_port, get, simple_config, wait_port


@pytest.fixture
def tls_origin(pki):
    o = TlsEchoOrigin(pki).start()
    yield o
    o.stop()


def test_private_ca_verifies_and_connections_are_reused(sekisho, tls_origin, pki):
    sk = sekisho(simple_config(tls_origin.port, origin={"tls": {"ca": pki.root, "server_name": "origin.test"}}))
    s = requests.Session()
    for i in range(5):
        r = s.get(sk.url + "/r/%d" % i, headers={"Host": "app.test"}, timeout=10)
        assert r.status_code == 200, r.text
        assert r.json()["path"] == "/r/%d" % i
    assert len(set(tls_origin.ports)) == 1, tls_origin.ports  # one TLS connection carried all five
    assert len(tls_origin.resumed) == 1


def test_new_connections_resume_the_session(sekisho, tls_origin, pki):
    # One worker: sessions are kept per worker and per origin server.
    sk = sekisho(simple_config(tls_origin.port, origin={"tls": {"ca": pki.root, "server_name": "origin.test"}},
                               workers=1))
    for i in range(3):
        r = get(sk, "/close/10")  # the origin closes after each response: a new connection each time
        assert r.status_code == 200
    assert len(tls_origin.resumed) >= 3
    assert tls_origin.resumed[0] is False
    assert all(tls_origin.resumed[1:]), tls_origin.resumed


def test_system_trust_store_does_not_know_a_private_root(sekisho, tls_origin, pki):
    sk = sekisho(simple_config(tls_origin.port, origin={"tls": {"server_name": "origin.test"}}))
    r = get(sk, "/x", Accept="application/json")
    assert r.status_code == 502 and r.json() == {"error": "upstream_unavailable"}
    assert "certificate verify failed" in sk.stderr_text()
    assert tls_origin.count == 0


def test_host_name_is_checked(sekisho, tls_origin, pki):
    sk = sekisho(simple_config(tls_origin.port, origin={"tls": {"ca": pki.root, "server_name": "b.test"}}))
    assert get(sk).status_code == 502
    assert "certificate verify failed" in sk.stderr_text()
    # Without server_name the origin's host (port stripped) is the name: here an IP address, checked
    # against the certificate's IP SAN.
    sk2 = sekisho(simple_config(tls_origin.port, origin={"host": "127.0.0.1:%d" % tls_origin.port,
                                                         "tls": {"ca": pki.root}}))
    assert get(sk2).status_code == 200
    sk3 = sekisho(simple_config(tls_origin.port, origin={"host": "wrong.test", "tls": {"ca": pki.root}}))
    assert get(sk3).status_code == 502


def test_verify_false_connects_with_a_warning(sekisho, tls_origin, pki):
    sk = sekisho(simple_config(tls_origin.port, origin={"tls": {"verify": False}}))
    assert get(sk).status_code == 200
    assert "tls.verify is false" in sk.stderr_text()


def test_plain_and_tls_pools_stay_apart(sekisho, origin, tls_origin, pki):
    """Two origins, one plain and one TLS: each keeps its own connections."""
    cfg = simple_config(origin.port, aliases=["app.test", "secure.test"])
    cfg["origins"]["secure"] = {"servers": ["127.0.0.1:%d" % tls_origin.port],
                                "tls": {"ca": pki.root, "server_name": "origin.test"}}
    cfg["distributions"].append({"name": "s", "aliases": ["secure.test"], "behaviors": [{"path": "*", "origin": "secure"}]})
    cfg["distributions"][0]["aliases"] = ["app.test"]
    sk = sekisho(cfg)
    for _ in range(3):
        assert get(sk, "/p").status_code == 200
        assert get(sk, "/s", Host="secure.test").status_code == 200
    assert origin.count == 3 and tls_origin.count == 3


def test_openssl_s_server_origin(sekisho, pki):
    port = free_port()
    srv = subprocess.Popen(["openssl", "s_server", "-accept", "127.0.0.1:%d" % port, "-cert", pki.crt("origin"),
                            "-key", pki.key("origin"), "-cert_chain", pki.inter, "-www"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=CLEAN_ENV)
    try:
        wait_port(port, proc=srv)
        sk = sekisho(simple_config(port, origin={"tls": {"ca": pki.root, "server_name": "origin.test"}}))
        r = get(sk)
        assert r.status_code == 200
        assert "s_server" in r.text and "Ciphers supported" in r.text
        sk2 = sekisho(simple_config(port, origin={"tls": {"server_name": "origin.test"}}))
        assert get(sk2).status_code == 502
    finally:
        srv.terminate()
        srv.wait(5)
