"""`sekisho cert -c FILE add|list|delete` (DESIGN §6): the certificate store, and rotation through it.

add checks the key and the chain and copies the files into certs/NAME/ beside the config; the config is
edited as text (comments kept) in both YAML styles; delete refuses a certificate a listener uses, with
the exact message of the contract, and succeeds once the listener points elsewhere.
"""

import os
import re
import ssl
import stat
import subprocess

import yaml

from util import sekisho_bin, sekisho_env
from tlsutil import pki  # noqa: F401  (fixture)
from util import simple_config, wait_until
from test_tls import der, served_cert

SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")


def cert_cmd(config, *args):
    p = subprocess.run([sekisho_bin(), "cert", "-c", str(config)] + [str(a) for a in args], capture_output=True,
                       text=True, timeout=30, env=sekisho_env())
    for m in SANITIZER_MARKERS:
        assert m not in p.stderr, p.stderr
    return p


def block_config(pki, tmp_path, origin_port=9):
    cfg = simple_config(origin_port, aliases=["a.test"])
    cfg["listeners"][0]["listen"] = "127.0.0.1:%d" % origin_port
    cfg["certificates"] = {"site": pki.cert_entry("a")}
    cfg["listeners"][0]["tls"] = {"certificates": ["site"]}
    path = tmp_path / "sekisho.yaml"
    path.write_text("# top comment\n" + yaml.safe_dump(cfg, sort_keys=False) + "# last comment\n")
    return path


def test_add_copies_checks_and_shows(pki, tmp_path):
    path = block_config(pki, tmp_path)
    p = cert_cmd(path, "add", "site-2027", "--cert", pki.crt("a2"), "--key", pki.key("a2"), "--chain", pki.inter)
    assert p.returncode == 0, p.stderr
    assert "subject:   CN=a.test" in p.stdout
    assert "names:     a.test" in p.stdout
    assert re.search(r"not after: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \((364|365) days left\)", p.stdout), p.stdout
    assert "private CA" in p.stdout
    store = tmp_path / "certs" / "site-2027"
    for f in ("cert.pem", "key.pem", "chain.pem"):
        assert stat.S_IMODE(os.stat(store / f).st_mode) == 0o600
    assert (store / "key.pem").read_bytes() == open(pki.key("a2"), "rb").read()
    text = path.read_text()
    assert text.startswith("# top comment\n") and text.endswith("# last comment\n")
    cfg = yaml.safe_load(text)
    assert cfg["certificates"]["site-2027"] == {"cert": "certs/site-2027/cert.pem", "key": "certs/site-2027/key.pem",
                                                "chain": "certs/site-2027/chain.pem"}
    assert cfg["certificates"]["site"] == pki.cert_entry("a")
    # A fullchain file (leaf + intermediate) needs no --chain.
    p = cert_cmd(path, "add", "full", "--cert", pki.fullchain("b"), "--key", pki.key("b"))
    assert p.returncode == 0, p.stderr
    p = cert_cmd(path, "list")
    assert p.returncode == 0, p.stderr
    rows = {l.split()[0]: l for l in p.stdout.splitlines()[1:]}
    assert set(rows) == {"site", "site-2027", "full"}
    assert re.search(r"CN=a\.test\s+a\.test\s+36[45]\s+web$", rows["site"]), rows["site"]
    assert rows["site-2027"].rstrip().endswith(" -")
    assert "b.test" in rows["full"]
    ok = subprocess.run([sekisho_bin(), "check-config", "-c", str(path)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr


def test_add_refuses_bad_material_and_leaves_everything(pki, tmp_path):
    path = block_config(pki, tmp_path)
    before = path.read_bytes()
    cases = [
        (["x", "--cert", pki.crt("a"), "--key", pki.path("other.key")], "does not match the certificate"),
        (["x", "--cert", pki.path("broken.crt"), "--key", pki.key("a")], "broken.crt"),
        (["x", "--cert", pki.crt("a"), "--key", pki.key("a"), "--chain", pki.clientca], "the chain is broken"),
        (["site", "--cert", pki.crt("a2"), "--key", pki.key("a2")], "exists already"),
        (["../x", "--cert", pki.crt("a"), "--key", pki.key("a")], "invalid certificate name"),
    ]
    for args, msg in cases:
        p = cert_cmd(path, "add", *args)
        assert p.returncode == 1, (args, p.stdout, p.stderr)
        assert msg in p.stderr, (args, p.stderr)
    assert path.read_bytes() == before
    assert not (tmp_path / "certs" / "x").exists()
    assert cert_cmd(path, "add", "y", "--cert", pki.crt("a")).returncode == 2  # usage


def test_flow_style_config_edits_keep_comments(pki, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("""# DESIGN-style flow mappings
certificates: { site: { cert: %s, key: %s } }   # the site
listeners:
  - { name: web, listen: "127.0.0.1:9", tls: { certificates: [site] } }
origins:
  app: { servers: ["127.0.0.1:9"] }
distributions:
  - { name: d, aliases: [a.test], behaviors: [ { path: "*", origin: app } ] }
""" % (pki.crt("a"), pki.key("a")))
    assert cert_cmd(path, "add", "two", "--cert", pki.crt("b"), "--key", pki.key("b")).returncode == 0
    assert cert_cmd(path, "add", "three", "--cert", pki.crt("wild"), "--key", pki.key("wild")).returncode == 0
    text = path.read_text()
    assert "# the site" in text and text.startswith("# DESIGN-style")
    assert list(yaml.safe_load(text)["certificates"]) == ["site", "two", "three"]
    assert cert_cmd(path, "delete", "two").returncode == 0
    assert list(yaml.safe_load(path.read_text())["certificates"]) == ["site", "three"]
    assert not (tmp_path / "certs" / "two").exists()
    assert "# the site" in path.read_text()


def test_delete_refused_while_in_use_then_rotation(sekisho, origin, pki, tmp_path):
    cfg = simple_config(origin.port, aliases=["a.test"])
    cfg["certificates"] = {"site": pki.cert_entry("a")}
    cfg["listeners"][0]["tls"] = {"certificates": ["site"]}
    sk = sekisho(cfg)
    path = sk.config_path
    port = sk.port()
    assert served_cert(port, "a.test")[0] == der(pki.crt("a"))

    p = cert_cmd(path, "add", "site-new", "--cert", pki.crt("a2"), "--key", pki.key("a2"), "--chain", pki.inter)
    assert p.returncode == 0, p.stderr
    p = cert_cmd(path, "delete", "site")
    assert p.returncode == 1
    assert p.stderr.strip() == "certificate site is in use by listener web; point web at another certificate first"
    # Point the listener at the new certificate (an operator edits the file), reload.
    text = open(path).read()
    data = yaml.safe_load(text)
    data["listeners"][0]["tls"]["certificates"] = ["site-new"]
    sk.reload(data)
    wait_until(lambda: served_cert(port, "a.test")[0] == der(pki.crt("a2")), what="the new certificate")
    p = cert_cmd(path, "delete", "site")
    assert p.returncode == 0, p.stderr
    assert "site" not in yaml.safe_load(open(path).read())["certificates"]
    # And the server still reloads the result.
    sk.signal(__import__("signal").SIGHUP)
    wait_until(lambda: sk.stderr_text().count("configuration reloaded") >= 2, what="second reload")
    assert "reload refused" not in sk.stderr_text()
    ctx = ssl.create_default_context(cafile=pki.root)
    import socket
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5), server_hostname="a.test") as s:
        assert s.getpeercert(binary_form=True) == der(pki.crt("a2"))
