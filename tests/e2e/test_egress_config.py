"""Egress entries (DESIGN §5a) through the real CLI: `sekisho check-config` accepts a config with only
`egress:` and answers file:line:col for each kind of bad entry; and the egress test harness itself
(tests/e2e/egressutil.py): dnsmasq answers the records the proxy tests rely on, and the outside servers on
127.0.0.2 and 127.0.0.3 serve."""

import socket
import ssl

import pytest
import requests

from egressutil import DNS_RECORDS, OUTSIDE_HTTP, OUTSIDE_TLS, dnsmasq, outside, pki  # noqa: F401 (fixtures)
from util import run_cli

GOOD = """\
egress:
  - name: out
    listen: "127.0.0.1:3128"
    allow: ["updates.example.com", "*.debian.org:80,443"]
    allow_ips: [192.0.2.0/24]
    dns: { servers: ["127.0.0.1:5353"], timeout: 2s }
"""


def check(tmp_path, text):
    path = tmp_path / "sekisho.yaml"
    path.write_text(text)
    return path, run_cli("check-config", "-c", path)


def test_egress_only_config_is_valid(tmp_path):
    _, p = check(tmp_path, GOOD)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "configuration OK\n"


# (line 4 or 6 of GOOD replaced, the column of the bad value, the message)
BAD = [
    ('    allow: ["updates.example.com:0"]\n', 4, 13, "allow entry 'updates.example.com:0': ports must be numbers"),
    ('    allow: ["updates.example.com:99999"]\n', 4, 13, "ports must be numbers from 1 to 65535"),
    ('    allow: ["updates.example.com/debian"]\n', 4, 13, "not a URL or a path"),
    ('    allow: ["http://updates.example.com"]\n', 4, 13, "not a URL or a path"),
    ('    allow: ["updates.*.example.com"]\n', 4, 13, "a wildcard is only allowed as a whole leading label"),
    ('    allow: ["127.0.0.1:80"]\n', 4, 13, "is an IP address: put addresses in 'allow_ips'"),
    ('    allow: ["[::1]:443"]\n', 4, 13, "is an IP address"),
    ('    allow: ["user@updates.example.com"]\n', 4, 13, "without userinfo"),
    ('    allow: []\n', 4, 12, "'allow' must name at least one host"),
    ('    allow_ips: [192.0.2.0/33]\n', 5, 17, "invalid CIDR '192.0.2.0/33'"),
    ('    allow_ips: [not-a-cidr]\n', 5, 17, "invalid CIDR 'not-a-cidr'"),
    ('    dns: { servers: ["resolver.example:53"] }\n', 6, 22, "invalid DNS server 'resolver.example:53'"),
    ('    dns: { servers: ["127.0.0.1:70000"] }\n', 6, 22, "invalid DNS server"),
    ('    dns: { timeout: 0s }\n', 6, 21, "'timeout' of 'dns' must be from 1ms to 60s"),
]


@pytest.mark.parametrize("line,lineno,col,msg", BAD, ids=[b[3][:40] for b in BAD])
def test_bad_entries_point_at_the_value(tmp_path, line, lineno, col, msg):
    lines = GOOD.splitlines(keepends=True)
    lines[lineno - 1] = line
    path, p = check(tmp_path, "".join(lines))
    assert p.returncode == 1
    assert p.stdout == ""
    head = "%s:%d:%d: " % (path, lineno, col)
    assert p.stderr.startswith(head), p.stderr
    assert msg in p.stderr, p.stderr


def test_dnsmasq_serves_the_records(dnsmasq):
    for name, recs in DNS_RECORDS.items():
        for qtype in ("A", "AAAA"):
            want = sorted(a for t, a in recs if t == qtype)
            rcode, got = dnsmasq.query(name, qtype)
            assert rcode == 0, name
            assert sorted(got) == want, (name, qtype)
    assert dnsmasq.query("nx.test")[0] == 3
    assert dnsmasq.query("other.nx.test", "AAAA")[0] == 3
    # slow.test never answers: a lookup of it can only end by its own timeout.
    with pytest.raises(socket.timeout):
        dnsmasq.query("slow.test", timeout=1.0)
    assert dnsmasq.queries("allowed.test") >= 2
    assert dnsmasq.queries("slow.test") == 1


def test_outside_servers_serve(outside):
    r = requests.get("http://%s:%d/hello" % (OUTSIDE_HTTP, outside.http.port), timeout=5)
    assert r.status_code == 200
    assert r.json()["path"] == "/hello"
    ctx = ssl.create_default_context(cafile=outside.ca)
    with socket.create_connection((OUTSIDE_TLS, outside.tls.port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="tls.allowed.test") as s:
            s.sendall(b"GET /tls HTTP/1.1\r\nHost: tls.allowed.test\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    assert data.startswith(b"HTTP/1.1 200 "), data[:100]
    assert b'"/tls"' in data
