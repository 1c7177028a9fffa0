"""`sekisho cidr replace --from CIDR --to CIDR [--dry-run] FILE...` (DESIGN §6).

Runs the real binary on temporary copies of set files and configs and compares whole files byte for
byte: only the replaced token may change (comments, layout, quotes, CRLF, a BOM are kept), only inside
`ip_sets:` inline sets (never trusted_proxies, listener ACLs, comments or `{ file: }` sets), atomically,
with the file mode kept. Exit codes: 0 replaced, 1 no occurrence, 2 usage / invalid CIDR / bad file.
"""

import os
import stat

import pytest

from util import run_cli as run


def replace(frm, to, *files, dry_run=False, cwd=None):
    args = ["cidr", "replace", "--from", frm, "--to", to]
    if dry_run:
        args.append("--dry-run")
    return run(*(args + list(files)), cwd=cwd)


def write(path, data, mode=None):
    with open(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
    if mode is not None:
        os.chmod(path, mode)
    return path


def read(path):
    with open(path, "rb") as f:
        return f.read()


def no_tmp_left(directory):
    return [n for n in os.listdir(directory) if n.endswith(".tmp")] == []


SET_FILE = """\
# blocked networks, one per line
# 10.0.0.0/8 was the old office range

10.0.0.0/8          # old office
  192.0.2.0/24
198.51.100.0/24 # partner
10.0.0.0/8#no space before the comment
\t10.0.0.0/8\t
2001:db8::/32
"""

SET_FILE_AFTER = """\
# blocked networks, one per line
# 10.0.0.0/8 was the old office range

10.20.0.0/16          # old office
  192.0.2.0/24
198.51.100.0/24 # partner
10.20.0.0/16#no space before the comment
\t10.20.0.0/16\t
2001:db8::/32
"""

CONFIG = """\
# sekisho config; 10.0.0.0/8 in a comment stays
workers: 1
trusted_proxies: [10.0.0.0/8, 127.0.0.1]   # same network, not an ip set
ip_sets:
  # office: 10.0.0.0/8 (comment inside ip_sets)
  office: [203.0.113.0/24, "10.0.0.0/8", '2001:db8::/32']   # flow style
  vpn:
    - 10.0.0.0/8      # block, plain
    - "192.0.2.0/24"
    - '10.0.0.0/8'    # block, single-quoted
    # - 10.0.0.0/8
  partners:
    -   198.51.100.0/24
  blocked: { file: ./blocked.txt }
listeners:
  - name: web
    listen: "127.0.0.1:18080"
    acl:
      - { rule: 100, cidr: 10.0.0.0/8, action: allow }
      - rule: 200
        cidr: "10.0.0.0/8"
        action: deny
origins:
  site: { root: ./www }
distributions:
  - name: main
    aliases: [example.test]
    behaviors:
      - path: "*"
        origin: site
        access: { ip: { allow: [office, vpn] } }
"""

CONFIG_AFTER = CONFIG.replace(
    '"10.0.0.0/8", \'2001', '"10.20.0.0/16", \'2001').replace(
    "    - 10.0.0.0/8      # block, plain", "    - 10.20.0.0/16      # block, plain").replace(
    "    - '10.0.0.0/8'    # block, single", "    - '10.20.0.0/16'    # block, single")


@pytest.fixture
def files(tmp_path):
    os.mkdir(tmp_path / "www")
    cfg = write(tmp_path / "sekisho.yaml", CONFIG, 0o640)
    blocked = write(tmp_path / "blocked.txt", SET_FILE, 0o600)
    return tmp_path, cfg, blocked


# set files -----------------------------------------------------------------------------------------

def test_set_file_keeps_comments_and_layout(files):
    d, _, blocked = files
    p = replace("10.0.0.0/8", "10.20.0.0/16", blocked)
    assert p.returncode == 0, p.stderr
    assert read(blocked) == SET_FILE_AFTER.encode()
    assert p.stdout.splitlines() == [
        "%s:4: 10.0.0.0/8 -> 10.20.0.0/16" % blocked,
        "%s:7: 10.0.0.0/8 -> 10.20.0.0/16" % blocked,
        "%s:8: 10.0.0.0/8 -> 10.20.0.0/16" % blocked,
    ]
    assert no_tmp_left(d)


def test_set_file_crlf_and_bare_address(tmp_path):
    f = write(tmp_path / "hosts.txt", "# admins\r\n192.0.2.7\r\n192.0.2.8/32 # b\r\n192.0.2.9\r\n")
    p = replace("192.0.2.7/32", "192.0.2.70/32", f)
    assert p.returncode == 0, p.stderr
    assert read(f) == b"# admins\r\n192.0.2.70/32\r\n192.0.2.8/32 # b\r\n192.0.2.9\r\n"
    # A bare address given on the command line is its /32.
    p = replace("192.0.2.8", "192.0.2.80", f)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "%s:3: 192.0.2.8/32 -> 192.0.2.80/32\n" % f
    assert read(f) == b"# admins\r\n192.0.2.70/32\r\n192.0.2.80/32 # b\r\n192.0.2.9\r\n"


def test_set_file_entry_with_host_bits_matches_its_network(tmp_path):
    # The loader reads 10.0.0.1/8 as the network 10.0.0.0/8, so it is that network that is replaced.
    f = write(tmp_path / "set.txt", "10.0.0.1/8\n10.0.0.0/9\n")
    p = replace("10.0.0.0/8", "10.20.0.0/16", f)
    assert p.returncode == 0, p.stderr
    assert read(f) == b"10.20.0.0/16\n10.0.0.0/9\n"
    assert p.stdout == "%s:1: 10.0.0.1/8 -> 10.20.0.0/16\n" % f


# YAML configs ---------------------------------------------------------------------------------------

def test_config_only_ip_sets_change(files):
    d, cfg, blocked = files
    before_check = run("check-config", "-c", cfg, cwd=d)
    p = replace("10.0.0.0/8", "10.20.0.0/16", cfg)
    assert p.returncode == 0, p.stderr
    assert read(cfg) == CONFIG_AFTER.encode()
    assert p.stdout.splitlines() == [
        "%s:6: 10.0.0.0/8 -> 10.20.0.0/16" % cfg,
        "%s:8: 10.0.0.0/8 -> 10.20.0.0/16" % cfg,
        "%s:10: 10.0.0.0/8 -> 10.20.0.0/16" % cfg,
    ]
    # The { file: } set is not followed.
    assert read(blocked) == SET_FILE.encode()
    assert no_tmp_left(d)
    # Whatever the loader thought of the original, it thinks the same of the result.
    after_check = run("check-config", "-c", cfg, cwd=d)
    assert after_check.returncode == before_check.returncode, (before_check.stderr, after_check.stderr)


def test_config_flow_mapping_and_nested_ip_sets_key(tmp_path):
    text = ("ip_sets: { office: [203.0.113.0/24, \"2001:db8::/32\"], blocked: { file: ./b.txt } }\n"
            "listeners:\n"
            "  - { name: web, listen: \"127.0.0.1:1\", ip_sets: [203.0.113.0/24] }  # not the top level\n"
            "other: { ip_sets: { x: [203.0.113.0/24] } }\n")
    f = write(tmp_path / "c.yaml", text)
    p = replace("203.0.113.0/24", "198.51.100.0/24", f)
    assert p.returncode == 0, p.stderr
    assert read(f) == text.replace("[203.0.113.0/24, ", "[198.51.100.0/24, ", 1).encode()
    assert p.stdout == "%s:1: 203.0.113.0/24 -> 198.51.100.0/24\n" % f


def test_config_with_bom_and_crlf(tmp_path):
    text = "\ufeff# c\r\nip_sets:\r\n  a:\r\n    - 10.0.0.0/8 # x\r\n    - \"10.0.0.0/8\"\r\n"
    f = write(tmp_path / "c.yaml", text)
    p = replace("10.0.0.0/8", "10.30.0.0/16", f)
    assert p.returncode == 0, p.stderr
    assert read(f) == text.replace("10.0.0.0/8", "10.30.0.0/16").encode()
    assert "ip set 'a' now holds 10.30.0.0/16 2 times" in p.stderr


def test_ipv6_semantic_match_and_canonical_output(tmp_path):
    text = ("ip_sets:\n"
            "  v6: [\"2001:DB8:0:0::/32\", 2001:db8:1::/48, '::ffff:10.0.0.0/104']\n"
            "  hosts:\n"
            "    - 2001:db8::1   # a host\n")
    f = write(tmp_path / "c.yaml", text)
    p = replace("2001:0db8::/32", "2001:DB8:AAAA::/48", f)
    assert p.returncode == 0, p.stderr
    assert read(f) == text.replace('"2001:DB8:0:0::/32"', '"2001:db8:aaaa::/48"').encode()
    assert p.stdout == "%s:2: 2001:DB8:0:0::/32 -> 2001:db8:aaaa::/48\n" % f
    p = replace("2001:db8::1", "2001:db8::2/128", f)
    assert p.returncode == 0, p.stderr
    assert b"    - 2001:db8::2/128   # a host\n" in read(f)
    # An IPv4-mapped IPv6 network is not the IPv4 network.
    p = replace("10.0.0.0/8", "10.1.0.0/16", f)
    assert p.returncode == 1


# --dry-run, errors, exit codes -----------------------------------------------------------------------

def test_dry_run_prints_same_lines_and_writes_nothing(files):
    d, cfg, blocked = files
    st_cfg, st_blocked = os.stat(cfg), os.stat(blocked)
    dry = replace("10.0.0.0/8", "10.20.0.0/16", cfg, blocked, dry_run=True)
    assert dry.returncode == 0, dry.stderr
    assert read(cfg) == CONFIG.encode() and read(blocked) == SET_FILE.encode()
    assert os.stat(cfg).st_ino == st_cfg.st_ino and os.stat(cfg).st_mtime_ns == st_cfg.st_mtime_ns
    assert os.stat(blocked).st_mtime_ns == st_blocked.st_mtime_ns
    assert no_tmp_left(d)
    real = replace("10.0.0.0/8", "10.20.0.0/16", cfg, blocked)
    assert real.returncode == 0, real.stderr
    assert real.stdout == dry.stdout
    assert len(real.stdout.splitlines()) == 6


@pytest.mark.parametrize("frm,to,message", [
    ("10.1.2.3/16", "10.2.0.0/16", "host bits set in 10.1.2.3/16 (did you mean 10.1.0.0/16?)"),
    ("10.0.0.0/8", "10.1.2.3/16", "host bits set in 10.1.2.3/16 (did you mean 10.1.0.0/16?)"),
    ("2001:db8::1/32", "10.2.0.0/16", "host bits set in 2001:db8::1/32 (did you mean 2001:db8::/32?)"),
    ("10.0.0.0/33", "10.2.0.0/16", "invalid CIDR '10.0.0.0/33'"),
    ("10.0.0.0/8", "10.0.0/8", "invalid CIDR '10.0.0/8'"),
    ("10.0.0.0/8", "", "invalid CIDR ''"),
    ("10.0.0.0/8", "example.com/8", "invalid CIDR 'example.com/8'"),
    ("2001:db8::/129", "10.2.0.0/16", "invalid CIDR '2001:db8::/129'"),
    ("10.0.0.0/8", "10.0.0.0/8", "same network"),
])
def test_invalid_cidr_refused(files, frm, to, message):
    d, cfg, blocked = files
    p = replace(frm, to, cfg, blocked)
    assert p.returncode == 2
    assert message in p.stderr
    assert p.stdout == ""
    assert read(cfg) == CONFIG.encode() and read(blocked) == SET_FILE.encode()


@pytest.mark.parametrize("args", [
    [],
    ["replace"],
    ["replace", "--from", "10.0.0.0/8", "--to", "10.1.0.0/16"],
    ["replace", "--from", "10.0.0.0/8", "F"],
    ["replace", "--to", "10.1.0.0/16", "F"],
    ["replace", "--from", "10.0.0.0/8", "--to", "10.1.0.0/16", "--bogus", "F"],
    ["replace", "--from", "10.0.0.0/8", "--from", "10.0.0.0/8", "--to", "10.1.0.0/16", "F"],
    ["replace", "--from"],
    ["rename", "--from", "10.0.0.0/8", "--to", "10.1.0.0/16", "F"],
])
def test_usage_errors(tmp_path, args):
    p = run("cidr", *args, cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    assert "usage" in p.stderr or "--from" in p.stderr or "given twice" in p.stderr


def test_help_and_main_usage():
    p = run("cidr", "replace", "--help")
    assert p.returncode == 0 and "--from CIDR --to CIDR" in p.stdout
    p = run("help")
    assert "sekisho cidr replace --from CIDR --to CIDR [--dry-run] FILE..." in p.stdout


def test_no_match_exit_1(files):
    d, cfg, blocked = files
    p = replace("172.16.0.0/12", "172.17.0.0/16", cfg, blocked)
    assert p.returncode == 1
    assert "no occurrence of 172.16.0.0/12 in %s %s" % (cfg, blocked) in p.stderr
    assert p.stdout == ""
    assert read(cfg) == CONFIG.encode() and read(blocked) == SET_FILE.encode()
    # Present only outside ip_sets (trusted_proxies) is no occurrence either.
    p = replace("127.0.0.1", "127.0.0.2", cfg)
    assert p.returncode == 1
    assert read(cfg) == CONFIG.encode()
    assert no_tmp_left(d)


def test_multiple_files_and_options_anywhere(files, tmp_path):
    d, cfg, blocked = files
    other = write(tmp_path / "other.txt", "# nothing to see\n192.0.2.0/24\n")
    p = run("cidr", "replace", blocked, "--to=10.20.0.0/16", other, "--from=10.0.0.0/8", "--", cfg)
    assert p.returncode == 0, p.stderr
    assert read(cfg) == CONFIG_AFTER.encode()
    assert read(blocked) == SET_FILE_AFTER.encode()
    assert read(other) == b"# nothing to see\n192.0.2.0/24\n"
    names = [line.split(":")[0] for line in p.stdout.splitlines()]
    assert names == [str(blocked)] * 3 + [str(cfg)] * 3


def test_same_file_named_twice_is_edited_once(files):
    d, _, blocked = files
    p = replace("10.0.0.0/8", "10.20.0.0/16", blocked, os.path.join(d, ".", "blocked.txt"))
    assert p.returncode == 0, p.stderr
    assert len(p.stdout.splitlines()) == 3
    assert read(blocked) == SET_FILE_AFTER.encode()


def test_a_bad_file_stops_everything_before_writing(files, tmp_path):
    d, cfg, blocked = files
    bad = write(tmp_path / "bad.yaml", "ip_sets: [\n  office: [10.0.0.0/8\n")
    p = replace("10.0.0.0/8", "10.20.0.0/16", cfg, blocked, bad)
    assert p.returncode == 2
    assert str(bad) in p.stderr and "YAML" in p.stderr
    assert read(cfg) == CONFIG.encode() and read(blocked) == SET_FILE.encode()
    p = replace("10.0.0.0/8", "10.20.0.0/16", cfg, tmp_path / "missing.txt")
    assert p.returncode == 2 and "missing.txt" in p.stderr
    assert read(cfg) == CONFIG.encode()
    p = replace("10.0.0.0/8", "10.20.0.0/16", cfg, tmp_path)
    assert p.returncode == 2
    assert read(cfg) == CONFIG.encode()
    binary = write(tmp_path / "bin.txt", b"10.0.0.0/8\n\x00\n")
    p = replace("10.0.0.0/8", "10.20.0.0/16", binary)
    assert p.returncode == 2 and "NUL" in p.stderr
    assert no_tmp_left(d)


def test_stale_tmp_file_is_not_overwritten(files):
    d, cfg, _ = files
    write(str(cfg) + ".tmp", "someone else's edit")
    p = replace("10.0.0.0/8", "10.20.0.0/16", cfg)
    assert p.returncode == 2
    assert ".tmp already exists" in p.stderr
    assert read(cfg) == CONFIG.encode()
    assert read(str(cfg) + ".tmp") == b"someone else's edit"


# atomic rewrite ------------------------------------------------------------------------------------

def test_mode_kept_and_file_replaced_atomically(files):
    d, cfg, blocked = files
    os.chmod(blocked, 0o604)
    ino = os.stat(blocked).st_ino
    p = replace("10.0.0.0/8", "10.20.0.0/16", cfg, blocked)
    assert p.returncode == 0, p.stderr
    assert stat.S_IMODE(os.stat(cfg).st_mode) == 0o640
    assert stat.S_IMODE(os.stat(blocked).st_mode) == 0o604
    assert os.stat(blocked).st_ino != ino  # a new file renamed over the old one
    assert no_tmp_left(d)


def test_symlink_target_rewritten_link_kept(files, tmp_path):
    d, _, blocked = files
    link = tmp_path / "link.txt"
    os.symlink("blocked.txt", link)
    p = replace("10.0.0.0/8", "10.20.0.0/16", link)
    assert p.returncode == 0, p.stderr
    assert os.path.islink(link) and os.readlink(link) == "blocked.txt"
    assert read(blocked) == SET_FILE_AFTER.encode()
    assert p.stdout.startswith("%s:4: " % link)
    assert no_tmp_left(d)
