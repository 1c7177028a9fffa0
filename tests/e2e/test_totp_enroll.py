"""`sekisho totp -c FILE enroll USER` (DESIGN §3 "TOTP", §6).

Runs the real binary on a generated config and users file. Checked by independent code: the QR code is
decoded with zbarimg (from the PBM image written by the hidden --qr-pbm flag) and compared with
`qrencode -l M -m 2 -t UTF8i` for the same URI; the stored `enc:` value is opened with Python's
cryptography (AES-256-GCM, the user name as associated data) using the key file, and must hold the URI's
secret; oathtool's code for that secret equals the code of the decrypted secret. Other lines of the users
file are kept byte for byte; the key file is created 0600 and reused; an unknown user, an htpasswd users
file and a key file of the wrong mode are refused with exit 1 and nothing written.
"""

import base64
import os
import re
import shutil
import stat
import subprocess
import urllib.parse

import pytest

from util import run_cli as run

CONFIG = """\
listeners:
  - name: web
    listen: 127.0.0.1:1
origins:
  app: { servers: ["127.0.0.1:9"] }
distributions:
  - name: main
    aliases: [app.test]
    behaviors:
      - path: "*"
        origin: app
%(users)s
totp: { key_file: totp.key, issuer: "Acme Corp" }
"""

# bcrypt cost-5 hashes of "a" and "b" (nothing here verifies a password).
HASH_A = "$2b$05$YFIe5aLh8zTV/1pN7Qdv3O2g.BPEkdTrDpfpETO7ExYayTbgZ2/MS"
HASH_B = "$2b$05$4NC..K/UM2/5OMyTgGu1x.SvBo/aycGUJ.ILvCrfRcaFjkDzwt/Wq"
USERS = """\
# people allowed in
alice: { password: "%s", groups: [ops, dev], password_changed: 2026-01-02 }

# bob keeps his odd layout
bob:
  password: "%s"   # rotated yearly
  groups: [dev]
"carol d": { password: "%s" }
""" % (HASH_A, HASH_B, HASH_A)


@pytest.fixture
def site(tmp_path):
    (tmp_path / "c.yaml").write_text(CONFIG % {"users": "users: { file: users.yaml }"})
    (tmp_path / "users.yaml").write_text(USERS)
    return tmp_path


def enroll(site, user, *extra):
    return run("totp", "-c", site / "c.yaml", "enroll", user, *extra)


def parse_uri(uri):
    u = urllib.parse.urlsplit(uri)
    assert u.scheme == "otpauth" and u.netloc == "totp"
    q = urllib.parse.parse_qs(u.query, strict_parsing=True)
    return urllib.parse.unquote(u.path[1:]), q["secret"][0], q["issuer"][0]


def b32decode(s):
    return base64.b32decode(s + "=" * (-len(s) % 8))


def stored_totp(path, user):
    import yaml
    return yaml.safe_load(open(path).read())[user]["totp"]


def open_sealed(key, user, stored):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    assert stored.startswith("enc:")
    raw = base64.b64decode(stored[4:], validate=True)
    return AESGCM(key).decrypt(raw[:12], raw[12:], user.encode())


def test_enroll_prints_uri_and_qr_and_stores_sealed_secret(site):
    p = enroll(site, "alice")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.split("\n")
    uri = lines[0]
    assert re.fullmatch(r"otpauth://totp/Acme%20Corp:alice\?secret=[A-Z2-7]{32}&issuer=Acme%20Corp", uri), uri
    label, secret_b32, issuer = parse_uri(uri)
    assert label == "Acme Corp:alice" and issuer == "Acme Corp"
    secret = b32decode(secret_b32)
    assert len(secret) == 20
    # The QR drawing follows, and nothing else.
    assert all(set(l) <= set(" \u2580\u2584\u2588") for l in lines[1:])
    assert "created the TOTP key file" in p.stderr
    assert secret_b32 not in p.stderr

    # The key file: 0600, 32 bytes.
    key_path = site / "totp.key"
    st = os.stat(key_path)
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_size == 32

    # The users file: alice's entry holds enc:..., everything else is kept byte for byte.
    text = (site / "users.yaml").read_text()
    old = USERS.splitlines(keepends=True)
    new = text.splitlines(keepends=True)
    assert len(new) == len(old)
    changed = [i for i in range(len(old)) if old[i] != new[i]]
    assert changed == [1], text
    assert new[1].startswith('alice: { password: "%s", groups: [ops, dev], totp: "enc:' % HASH_A)
    assert new[1].endswith(", password_changed: 2026-01-02 }\n")
    assert secret_b32 not in text

    # The sealed value opens to the URI's secret with the key file, for alice only.
    stored = stored_totp(site / "users.yaml", "alice")
    key = key_path.read_bytes()
    assert open_sealed(key, "alice", stored) == secret
    from cryptography.exceptions import InvalidTag
    with pytest.raises(InvalidTag):
        open_sealed(key, "bob", stored)

    # The config still checks, with the new users file.
    c = run("check-config", "-c", site / "c.yaml")
    assert c.returncode == 0, c.stderr


@pytest.mark.skipif(not shutil.which("oathtool"), reason="oathtool not installed")
def test_uri_secret_gives_the_codes_of_the_stored_secret(site):
    p = enroll(site, "alice")
    assert p.returncode == 0, p.stderr
    _, secret_b32, _ = parse_uri(p.stdout.split("\n")[0])
    stored = open_sealed((site / "totp.key").read_bytes(), "alice", stored_totp(site / "users.yaml", "alice"))
    for t in (59, 1111111109, 2000000000, 1795435200):
        theirs = subprocess.run(["oathtool", "--totp", "-b", "-N", "@%d" % t, secret_b32], capture_output=True,
                                text=True, check=True).stdout.strip()
        # RFC 6238 with the decrypted secret, computed here (hmac/hashlib, not sekisho's code).
        import hashlib
        import hmac
        import struct
        mac = hmac.new(stored, struct.pack(">Q", t // 30), hashlib.sha1).digest()
        off = mac[-1] & 15
        code = "%06d" % ((struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 1000000)
        assert theirs == code


@pytest.mark.skipif(not shutil.which("zbarimg"), reason="zbar-tools not installed")
def test_qr_decodes_back_to_the_uri(site):
    img = site / "qr.pbm"
    p = enroll(site, "alice", "--qr-pbm", img)
    assert p.returncode == 0, p.stderr
    uri = p.stdout.split("\n")[0]
    assert stat.S_IMODE(os.stat(img).st_mode) == 0o600
    z = subprocess.run(["zbarimg", "--raw", "-q", "PBM:%s" % img], capture_output=True, text=True, timeout=30)
    assert z.returncode == 0, z.stderr
    assert z.stdout.strip() == uri


@pytest.mark.skipif(not shutil.which("qrencode"), reason="qrencode not installed")
def test_terminal_qr_is_qrencode_utf8i(site):
    p = enroll(site, "carol d")
    assert p.returncode == 0, p.stderr
    uri, qr = p.stdout.split("\n", 1)
    assert "Acme%20Corp:carol%20d?" in uri
    theirs = subprocess.run(["qrencode", "-l", "M", "-m", "2", "-t", "UTF8i", "-o", "-", uri], capture_output=True,
                            text=True, check=True).stdout
    assert qr == theirs


def test_reenroll_replaces_secret_and_reuses_key(site):
    p1 = enroll(site, "bob")
    assert p1.returncode == 0, p1.stderr
    key = (site / "totp.key").read_bytes()
    p2 = enroll(site, "bob")
    assert p2.returncode == 0, p2.stderr
    assert "replaced the TOTP secret of 'bob'" in p2.stderr
    assert "created the TOTP key file" not in p2.stderr
    assert (site / "totp.key").read_bytes() == key
    s1 = b32decode(parse_uri(p1.stdout.split("\n")[0])[1])
    s2 = b32decode(parse_uri(p2.stdout.split("\n")[0])[1])
    assert s1 != s2
    assert open_sealed(key, "bob", stored_totp(site / "users.yaml", "bob")) == s2
    text = (site / "users.yaml").read_text()
    # bob's block entry became one flow line keeping his hash and groups (a comment inside the entry goes
    # with it, as with `sekisho passwd`); the other entries are untouched.
    assert re.search(r'^bob: \{ password: "%s", groups: \[dev\], totp: "enc:[A-Za-z0-9+/=]+" \}$'
                     % re.escape(HASH_B), text, re.M), text
    assert USERS.splitlines()[1] in text and USERS.splitlines()[-1] in text


def test_unknown_user_refused(site):
    before = (site / "users.yaml").read_bytes()
    p = enroll(site, "mallory")
    assert p.returncode == 1
    assert "no user 'mallory'" in p.stderr
    assert p.stdout == ""
    assert (site / "users.yaml").read_bytes() == before


def test_htpasswd_users_refused(tmp_path):
    (tmp_path / "c.yaml").write_text(CONFIG % {"users": "users: { htpasswd: users.htpasswd }"})
    (tmp_path / "users.htpasswd").write_text("alice:%s\n" % HASH_A)
    p = run("totp", "-c", tmp_path / "c.yaml", "enroll", "alice")
    assert p.returncode == 1
    assert "TOTP needs the YAML users file" in p.stderr
    assert p.stdout == ""
    assert not (tmp_path / "totp.key").exists()


def test_key_file_too_open_refused(site):
    (site / "totp.key").write_bytes(os.urandom(32))
    os.chmod(site / "totp.key", 0o644)
    before = (site / "users.yaml").read_bytes()
    p = enroll(site, "alice")
    assert p.returncode == 1
    assert "must be 0600 or stricter" in p.stderr
    assert p.stdout == ""
    assert (site / "users.yaml").read_bytes() == before


def test_usage(site):
    assert run("totp").returncode == 2
    assert run("totp", "-c", site / "c.yaml", "enroll").returncode == 2
    assert run("totp", "-c", site / "c.yaml", "list").returncode == 2
    assert run("totp", "--help").returncode == 0
