"""`sekisho passwd` and `sekisho apikey` (DESIGN §6, §7): the users file and the API-key file.

Runs the real binary on temporary files. Hashes written by passwd are checked by independent code:
bcrypt with Python's crypt module (libxcrypt), argon2id with libargon2 through ctypes, htpasswd files with
`htpasswd -vb`. Other users' lines and comments must be kept byte for byte, the mode kept, and neither the
password nor the hash may appear on stdout or stderr. API keys: create prints the key alone, list never
shows the digest, revoke removes the entry, a name is never reused silently.
"""

import ctypes
import ctypes.util
import hashlib
import os
import pty
import re
import stat
import subprocess
import warnings


with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # deprecated, still in Debian 12's Python 3.11; libxcrypt underneath

from util import run_cli as run, sekisho_bin, sekisho_env as env
PASSWORD = "correct horse battery staple"


def passwd(path, user, password=PASSWORD, *extra):
    p = run("passwd", "-f", path, user, "--stdin", *extra, stdin=password + "\n")
    assert not password or password not in p.stdout + p.stderr
    return p


def users_entry(path, user):
    """The password hash of user's flow-mapping line in a YAML users file."""
    for line in open(path).read().splitlines():
        m = re.match(r'^\s*"?%s"?: \{ password: "([^"]+)"' % re.escape(user), line)
        if m:
            return m.group(1), line
    raise AssertionError("no entry for %s in:\n%s" % (user, open(path).read()))


def argon2_verify(encoded, password):
    lib = ctypes.CDLL(ctypes.util.find_library("argon2") or "libargon2.so.1")
    pw = password.encode()
    # int argon2_verify(const char *encoded, const void *pwd, size_t pwdlen, argon2_type type); Argon2_id = 2
    lib.argon2_verify.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]
    return lib.argon2_verify(encoded.encode(), pw, len(pw), 2) == 0


def bcrypt_verify(h, password):
    return crypt.crypt(password, h) == h


def test_passwd_creates_file_and_user_argon2id(tmp_path):
    f = tmp_path / "users.yaml"
    p = passwd(f, "alice")
    assert p.returncode == 0, p.stderr
    h, line = users_entry(f, "alice")
    assert h.startswith("$argon2id$")
    assert h not in p.stdout + p.stderr
    assert argon2_verify(h, PASSWORD)
    assert not argon2_verify(h, PASSWORD + "x")
    assert re.search(r"password_changed: \d{4}-\d\d-\d\d \}$", line)
    # A new file holds password hashes: owner only.
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o600


def test_passwd_bcrypt_keeps_other_lines_and_comments(tmp_path):
    f = tmp_path / "users.yaml"
    bob = crypt.crypt("bobpw", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=32))
    before = ('# users of the intranet\n'
              'alice: { password: "%s", groups: [admins, ops], totp: "enc:abc" }   # alice\n'
              '\n'
              '# bob is from the ops team\n'
              'bob: { password: "%s", groups: [ops] }\n'
              '# trailing comment\n') % (bob, bob)
    f.write_text(before)
    os.chmod(f, 0o640)
    p = passwd(f, "alice", PASSWORD, "--algo", "bcrypt")
    assert p.returncode == 0, p.stderr
    after = f.read_text()
    lines_before, lines_after = before.splitlines(), after.splitlines()
    assert len(lines_after) == len(lines_before)
    for i, (a, b) in enumerate(zip(lines_before, lines_after)):
        if i != 1:
            assert a == b
    h, line = users_entry(f, "alice")
    assert h.startswith("$2y$") and bcrypt_verify(h, PASSWORD)
    assert "groups: [admins, ops]" in line and 'totp: "enc:abc"' in line and line.endswith("   # alice")
    assert "password_changed: " in line
    assert h not in p.stdout + p.stderr
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o640
    # A new user is appended; the rest stays as it was.
    p = passwd(f, "carol", "carolpw", "--algo", "bcrypt")
    assert p.returncode == 0, p.stderr
    final = f.read_text()
    assert final.startswith(after)
    h, _ = users_entry(f, "carol")
    assert bcrypt_verify(h, "carolpw")
    assert not os.path.exists(str(f) + ".tmp")


def test_passwd_block_style_entry(tmp_path):
    f = tmp_path / "users.yaml"
    bob = crypt.crypt("bobpw", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=32))
    f.write_text('# head\nalice:\n  password: "%s"\n  groups:\n    - admins\n# bob\nbob: { password: "%s" }\n'
                 % (bob, bob))
    p = passwd(f, "alice", PASSWORD, "--algo", "bcrypt")
    assert p.returncode == 0, p.stderr
    text = f.read_text().splitlines()
    assert text[0] == "# head" and text[2] == "# bob" and text[3].startswith("bob: ")
    h, line = users_entry(f, "alice")
    assert bcrypt_verify(h, PASSWORD) and "groups: [admins]" in line


def test_passwd_htpasswd(tmp_path):
    f = tmp_path / "htpasswd"
    subprocess.run(["htpasswd", "-cbB", "-C", "5", f, "dave", "old"], check=True, capture_output=True)
    subprocess.run(["htpasswd", "-bB", "-C", "5", f, "erin", "erinpw"], check=True, capture_output=True)
    erin = f.read_text().splitlines()[1]
    p = passwd(f, "dave", PASSWORD, "--algo", "bcrypt")
    assert p.returncode == 0, p.stderr
    lines = f.read_text().splitlines()
    assert lines[1] == erin and lines[0].startswith("dave:$2y$")
    assert "password_changed" not in f.read_text()
    v = subprocess.run(["htpasswd", "-vb", f, "dave", PASSWORD], capture_output=True, text=True)
    assert v.returncode == 0, v.stderr
    p = passwd(f, "frank", "frankpw", "--algo", "bcrypt")
    assert p.returncode == 0
    assert subprocess.run(["htpasswd", "-vb", f, "frank", "frankpw"], capture_output=True).returncode == 0


def test_passwd_refusals(tmp_path):
    f = tmp_path / "users.yaml"
    p = passwd(f, "alice", "")
    assert p.returncode == 1 and "empty password" in p.stderr
    assert not f.exists()
    p = run("passwd", "-f", f, "al:ice", "--stdin", stdin="x\n")
    assert p.returncode == 2 and "':'" in p.stderr
    p = run("passwd", "-f", f, "alice", "--stdin", "--algo", "md5", stdin="x\n")
    assert p.returncode == 2
    # A file the server would refuse is reported with its position and left alone.
    f.write_text("alice: { password: \"$2y$05$x\", colour: blue }\n")
    p = passwd(f, "bob", "bobpw")
    assert p.returncode == 1
    assert re.search(r"users.yaml:1:\d+: user 'alice': unknown key 'colour'", p.stderr), p.stderr
    assert f.read_text() == "alice: { password: \"$2y$05$x\", colour: blue }\n"


def test_passwd_prompts_on_the_terminal(tmp_path):
    f = tmp_path / "users.yaml"

    def session(first, second):
        pid, fd = pty.fork()
        if pid == 0:
            os.execve(sekisho_bin(), [sekisho_bin(), "passwd", "-f", str(f), "alice", "--algo", "bcrypt"], env())
        out = b""
        for answer in (first, second):
            while b"assword: " not in out.split(b"\n")[-1]:
                out += os.read(fd, 1024)
            os.write(fd, answer.encode() + b"\n")
            out += b"\n"
        while True:
            try:
                chunk = os.read(fd, 1024)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status), out.decode(errors="replace")

    code, out = session(PASSWORD, PASSWORD + "!")
    assert code == 1 and "do not match" in out
    assert not f.exists()
    code, out = session(PASSWORD, PASSWORD)
    assert code == 0, out
    assert PASSWORD not in out  # no echo
    h, _ = users_entry(f, "alice")
    assert bcrypt_verify(h, PASSWORD)


def test_apikey_create_list_revoke(tmp_path):
    f = tmp_path / "apikeys.yaml"
    f.write_text("# API keys\nold: { sha256: \"%s\", created: 2026-01-02 }\n" % ("ab" * 32))
    p = run("apikey", "-f", f, "create", "ci-bot", "--groups", "deployers,ops", "--owner", "alice")
    assert p.returncode == 0, p.stderr
    assert p.stdout.count("\n") == 1
    key = p.stdout.strip()
    assert re.fullmatch(r"sk_[0-9A-Za-z]{40}", key)
    text = f.read_text()
    assert text.startswith("# API keys\nold: ")
    assert key not in text
    digest = hashlib.sha256(key.encode()).hexdigest()
    assert re.search(r'^ci-bot: \{ sha256: "%s", groups: \[deployers, ops\], created: \d{4}-\d\d-\d\d, '
                     r'owner: alice \}$' % digest, text, re.M), text

    p = run("apikey", "-f", f, "list")
    assert p.returncode == 0, p.stderr
    rows = [r.split() for r in p.stdout.splitlines()]
    assert rows[0][:3] == ["NAME", "GROUPS", "CREATED"]
    assert rows[1][:3] == ["old", "-", "2026-01-02"]
    assert rows[2][:2] == ["ci-bot", "deployers,ops"]
    assert digest not in p.stdout and "abab" not in p.stdout and key not in p.stdout

    p = run("apikey", "-f", f, "create", "ci-bot")
    assert p.returncode == 1 and "already exists" in p.stderr and p.stdout == ""
    assert f.read_text() == text

    p = run("apikey", "-f", f, "revoke", "ci-bot")
    assert p.returncode == 0, p.stderr
    assert f.read_text() == "# API keys\nold: { sha256: \"%s\", created: 2026-01-02 }\n" % ("ab" * 32)
    p = run("apikey", "-f", f, "revoke", "ci-bot")
    assert p.returncode == 1 and "no API key named 'ci-bot'" in p.stderr
    p = run("apikey", "-f", f, "list")
    assert "ci-bot" not in p.stdout


def test_apikey_new_file_and_usage(tmp_path):
    f = tmp_path / "keys.yaml"
    p = run("apikey", "-f", f, "list")
    assert p.returncode == 1
    p = run("apikey", "-f", f, "create", "first")
    assert p.returncode == 0, p.stderr
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o600
    p2 = run("apikey", "-f", f, "create", "second")
    assert p2.returncode == 0 and p2.stdout != p.stdout
    assert run("apikey", "-f", f, "create", "bad name").returncode == 1
    assert run("apikey", "-f", f, "frobnicate").returncode == 2
    assert run("apikey", "create", "x").returncode == 2
