"""IAM-style policies (DESIGN §3 "Policies", §6 `sekisho policy simulate|check`): documents attached to users,
groups and API keys, evaluated by the last access stage of a behavior with `policy: true` (403 policy_denied)
or `policy: audit` (passes, logged as would_deny).

The examples are the seed's two IAM examples turned into HTTP (a user allowed only under a prefix of a
"bucket" host, with listing at the root; a user who may reach only their own `/users/<name>/` tree) and the
usual conditions (an office network behind a trusted proxy, a second factor). Requests go through
python requests / http.client with real Basic credentials; decisions are read from the status, the JSON
error body and the access log's `policy` / `policy_sid` fields.
"""

import hashlib
import json
import os
import subprocess

import pytest
import yaml

from stateutil import bcrypt, cli, oathtool, request
from util import free_port, simple_config, wait_until

PW = "correct horse"
MAKE_MMDB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "make-mmdb")

S3_PREFIX = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "ListRoot", "Effect": "Allow", "Action": ["http:GET", "http:HEAD"],
         "Resource": "files.example.com/"},
        {"Sid": "DirReadWrite", "Effect": "Allow", "Action": ["http:GET", "http:PUT", "http:DELETE"],
         "Resource": "files.example.com/path/to/dir/*"},
    ],
}

SELF_SERVICE = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "OwnKeys", "Effect": "Allow", "Action": "http:*",
         "Resource": "app.test/users/${sk:username}/keys/*"},
    ],
}


def write_policy(tmp_path, name, doc):
    path = tmp_path / ("%s.json" % name)
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return str(path)


def write_users(tmp_path, users):
    h = bcrypt(PW)
    lines = []
    for name, extra in users.items():
        entry = {"password": h}
        entry.update(extra)
        lines.append("%s: %s" % (name, json.dumps(entry)))
    (tmp_path / "users.yaml").write_text("\n".join(lines) + "\n")
    return str(tmp_path / "users.yaml")


def policy_config(origin, tmp_path, policies, users, access=None, aliases=("app.test",), **top):
    cfg = simple_config(origin.port, aliases=aliases,
                        behavior={"access": access or {"auth": ["basic"], "policy": True}},
                        users={"file": write_users(tmp_path, users)},
                        policies={n: write_policy(tmp_path, n, d) for n, d in policies.items()}, **top)
    return cfg


def log_for(sk, path, method="GET", host=None):
    """The last access-log line for method, path (and host) (lines are flushed after each loop round: wait)."""
    def lines():
        return [l for l in sk.log_lines() if l.get("path") == path and l.get("method") == method
                and (host is None or l.get("host") == host)]
    wait_until(lambda: lines(), what="an access-log line for %s %s" % (method, path))
    return lines()[-1]


def call(sk, path, user="alice", host="app.test", method="GET", headers=None, password=PW):
    h = {"Host": host}
    h.update(headers or {})
    return request(sk.port(), path=path, auth=(user, password) if user else None, headers=h, method=method)


def test_s3_prefix_example(sekisho, origin, tmp_path):
    # The seed's example: alice may list the bucket's root and work under path/to/dir/ only.
    cfg = policy_config(origin, tmp_path, {"dir-only": S3_PREFIX}, {"alice": {"policies": ["dir-only"]}},
                        aliases=("files.example.com", "other.example.com"))
    sk = sekisho(cfg)
    h = "files.example.com"
    assert call(sk, "/", host=h).status == 200
    assert call(sk, "/path/to/dir/a.txt", host=h).status == 200
    assert call(sk, "/path/to/dir/sub/b.txt", host=h, method="PUT").status == 200
    # The Host's case and port do not matter; the path's case does.
    assert call(sk, "/path/to/dir/c.txt", host="FILES.Example.COM:8080").status == 200
    assert call(sk, "/Path/To/Dir/c.txt", host=h).status == 403
    r = call(sk, "/path/to/other.txt", host=h)
    assert r.status == 403 and r.json() == {"error": "policy_denied"}, r
    assert call(sk, "/path/to/dir", host=h).status == 403          # the folder itself is not under it
    assert call(sk, "/path/", host=h).status == 403                # listing only at the root
    assert call(sk, "/path/to/dir/a.txt", host=h, method="POST").status == 403  # no such action
    assert call(sk, "/path/to/dir/a.txt", host="other.example.com").status == 403  # another "bucket"
    # The query string is not part of the resource.
    assert call(sk, "/path/to/dir/a.txt?x=/path/to/other", host=h).status == 200

    allowed = log_for(sk, "/path/to/dir/a.txt", host=h)
    assert allowed["policy"] == "allow" and allowed["policy_sid"] == "DirReadWrite", allowed
    assert log_for(sk, "/", host=h)["policy_sid"] == "ListRoot"
    other = log_for(sk, "/path/to/dir/a.txt", host="other.example.com")
    assert other["policy"] == "deny" and other["policy_sid"] is None
    denied = log_for(sk, "/path/to/other.txt")
    assert denied["policy"] == "deny" and denied["policy_sid"] is None and denied["reason"] == "policy_denied"
    assert denied["status"] == 403
    # Requests refused before the policy stage do not pretend a policy was evaluated.
    r = call(sk, "/path/to/dir/a.txt", host=h, user=None)
    assert r.status == 401
    anon = [l for l in sk.log_lines() if l.get("status") == 401]
    assert anon and anon[-1]["policy"] is None and anon[-1]["policy_sid"] is None


def test_self_service_own_keys_only(sekisho, origin, tmp_path):
    # `${sk:username}` in Resource: each user reaches /users/<own name>/keys/* only. A name holding a
    # wildcard character is matched as text, never as a pattern.
    users = {u: {"groups": ["staff"]} for u in ("alice", "bob", "b*")}
    cfg = policy_config(origin, tmp_path, {"self": SELF_SERVICE}, users,
                        groups={"staff": {"policies": ["self"]}})
    sk = sekisho(cfg)
    assert call(sk, "/users/alice/keys/1", user="alice", method="DELETE").status == 200
    assert call(sk, "/users/bob/keys/1", user="alice").status == 403
    assert call(sk, "/users/bob/keys/1", user="bob").status == 200
    assert call(sk, "/users/alice/profile", user="alice").status == 403
    assert call(sk, "/users/bob/keys/1", user="b*").status == 403
    assert call(sk, "/users/b*/keys/1", user="b*").status == 200
    assert log_for(sk, "/users/b*/keys/1")["policy_sid"] == "OwnKeys"


def test_api_key_policies_from_the_key_file(sekisho, origin, tmp_path):
    key = "sk_" + "k" * 40
    (tmp_path / "keys.yaml").write_text("ci: { sha256: \"%s\", policies: [deploy] }\n" %
                                        hashlib.sha256(key.encode()).hexdigest())
    deploy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "Deploy", "Effect": "Allow", "Action": "http:POST", "Resource": "app.test/deploy/*"}]}
    cfg = policy_config(origin, tmp_path, {"deploy": deploy}, {"alice": {}},
                        access={"auth": ["api_key", "basic"], "policy": True},
                        api_keys={"file": str(tmp_path / "keys.yaml")})
    sk = sekisho(cfg)
    bearer = {"Authorization": "Bearer " + key}
    assert call(sk, "/deploy/web", user=None, method="POST", headers=bearer).status == 200
    assert call(sk, "/deploy/web", user=None, method="GET", headers=bearer).status == 403
    # alice has no policy at all: implicitly denied.
    assert call(sk, "/deploy/web", method="POST").status == 403


def test_office_network_behind_a_trusted_proxy(sekisho, origin, tmp_path):
    office = {"Version": "2012-10-17", "Statement": [
        {"Sid": "FromOffice", "Effect": "Allow", "Action": "*", "Resource": "*",
         "Condition": {"IpAddress": {"sk:SourceIp": ["203.0.113.0/24", "2001:db8::/32"]}}}]}
    cfg = policy_config(origin, tmp_path, {"office": office}, {"alice": {"policies": ["office"]}},
                        trusted_proxies=["127.0.0.1/32"])
    sk = sekisho(cfg)
    xff = lambda ip: {"X-Forwarded-For": ip}
    assert call(sk, "/a", headers=xff("203.0.113.7")).status == 200
    assert call(sk, "/b", headers=xff("198.51.100.7, 2001:db8::5")).status == 200   # right-most hop
    assert call(sk, "/c", headers=xff("198.51.100.7")).status == 403
    assert call(sk, "/d").status == 403                                  # the proxy itself is not the office
    assert log_for(sk, "/a")["client"] == "203.0.113.7"

    # Once the peer is not a trusted proxy, its X-Forwarded-For is not believed.
    cfg["trusted_proxies"] = ["10.0.0.0/8"]
    sk2 = sekisho(cfg)
    r = request(sk2.port(), path="/e", auth=("alice", PW), headers={"X-Forwarded-For": "203.0.113.7"})
    assert r.status == 403 and r.json() == {"error": "policy_denied"}


def test_country_condition_without_a_geo_rule(sekisho, origin, tmp_path):
    # sk:Country comes from geoip.database even when the behavior has no geo rule of its own. The test
    # database (tests/data/make-mmdb) maps the addresses the trusted proxy reports.
    db = str(tmp_path / "geo.mmdb")
    subprocess.run([MAKE_MMDB, db, "iso_code", "203.0.113.0/24=JP", "198.51.100.0/24=DE"], check=True,
                   capture_output=True)
    doc = {"Version": "2012-10-17", "Statement": [
        {"Sid": "Japan", "Effect": "Allow", "Action": "*", "Resource": "app.test/${sk:Country, 'none'}/*",
         "Condition": {"StringEquals": {"sk:Country": "JP"}}}]}
    cfg = policy_config(origin, tmp_path, {"jp": doc}, {"alice": {"policies": ["jp"]}},
                        geoip={"database": db}, trusted_proxies=["127.0.0.1/32"])
    sk = sekisho(cfg)
    assert call(sk, "/JP/x", headers={"X-Forwarded-For": "203.0.113.5"}).status == 200
    assert call(sk, "/JP/x", headers={"X-Forwarded-For": "198.51.100.5"}).status == 403   # DE
    assert call(sk, "/DE/x", headers={"X-Forwarded-For": "198.51.100.5"}).status == 403
    assert call(sk, "/none/x", headers={"X-Forwarded-For": "192.0.2.1"}).status == 403    # unknown: missing


def enrol_totp(tmp_path, cfg, user):
    var = tmp_path / "var"
    var.mkdir(exist_ok=True)
    path = tmp_path / "enroll.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    uri = cli("totp", "-c", path, "enroll", user).stdout.split("\n")[0]
    return uri.split("secret=")[1].split("&")[0]


def test_mfa_condition_with_a_totp_user(sekisho, origin, tmp_path):
    # Everything needs sk:MultiFactorAuthPresent, except a public corner. /secure/* asks for the code
    # (mfa: required), /plain/* does not: the same user passes the policy only where a factor was verified.
    mfa = {"Version": "2012-10-17", "Statement": [
        {"Sid": "WithMfa", "Effect": "Allow", "Action": "*", "Resource": "app.test/*",
         "Condition": {"Bool": {"sk:MultiFactorAuthPresent": "true"}}},
        {"Sid": "Public", "Effect": "Allow", "Action": "http:GET", "Resource": "app.test/plain/public/*"}]}
    cfg = policy_config(origin, tmp_path, {"mfa": mfa}, {"alice": {"policies": ["mfa"]}},
                        totp={"key_file": str(tmp_path / "var" / "totp.key")},
                        state={"path": str(tmp_path / "var")})
    beh = cfg["distributions"][0]["behaviors"][0]
    cfg["distributions"][0]["behaviors"] = [
        dict(beh, path="/secure/*", access={"auth": ["basic"], "mfa": "required", "policy": True}),
        dict(beh, path="/plain/*", access={"auth": ["basic"], "policy": True}),
    ]
    cfg["listeners"][0]["listen"] = "127.0.0.1:%d" % free_port()
    secret = enrol_totp(tmp_path, cfg, "alice")
    # Enrolling rewrote alice's entry: her policies must survive it (and a password change).
    assert "policies: [mfa]" in (tmp_path / "users.yaml").read_text()
    cli("passwd", "-f", tmp_path / "users.yaml", "alice", "--stdin", "--algo", "bcrypt", input=PW + "\n")
    assert "policies: [mfa]" in (tmp_path / "users.yaml").read_text()
    sk = sekisho(cfg)
    r = call(sk, "/secure/x", password=PW + oathtool(secret))
    assert r.status == 200, r
    assert log_for(sk, "/secure/x")["policy_sid"] == "WithMfa"
    r = call(sk, "/plain/x")
    assert r.status == 403 and r.json() == {"error": "policy_denied"}, r
    assert call(sk, "/plain/public/x").status == 200
    assert log_for(sk, "/plain/public/x")["policy_sid"] == "Public"


def test_audit_mode_passes_and_logs_would_deny(sekisho, origin, tmp_path):
    doc = {"Version": "2012-10-17", "Statement": [
        {"Sid": "ReadAll", "Effect": "Allow", "Action": "http:GET", "Resource": "*"},
        {"Sid": "NoAdmin", "Effect": "Deny", "Action": "*", "Resource": "app.test/admin/*"}]}
    cfg = policy_config(origin, tmp_path, {"p": doc}, {"alice": {"policies": ["p"]}},
                        access={"auth": ["basic"], "policy": "audit"})
    sk = sekisho(cfg)
    assert call(sk, "/admin/panel").status == 200       # explicit deny: would deny, passes
    assert call(sk, "/x", method="PUT").status == 200   # implicit deny: would deny, passes
    assert call(sk, "/y").status == 200
    assert origin.count == 3
    l = log_for(sk, "/admin/panel")
    assert l["policy"] == "would_deny" and l["policy_sid"] == "NoAdmin" and l["reason"] is None, l
    l = log_for(sk, "/x", method="PUT")
    assert l["policy"] == "would_deny" and l["policy_sid"] is None, l
    l = log_for(sk, "/y")
    assert l["policy"] == "allow" and l["policy_sid"] == "ReadAll", l


def simulate(cfg_path, *args):
    return cli("policy", "simulate", "-c", cfg_path, *args, check=False)


def test_simulate_output_and_exit_codes(origin, tmp_path):
    doc = dict(S3_PREFIX, Statement=S3_PREFIX["Statement"] + [
        {"Sid": "NoSecrets", "Effect": "Deny", "Action": "*", "Resource": "*",
         "Condition": {"StringLike": {"sk:Path": "*/secret*"}, "StringNotEquals": {"sk:Country": "JP"}}}])
    cfg = policy_config(origin, tmp_path, {"dir-only": doc}, {"alice": {"groups": ["team"]}},
                        groups={"team": {"policies": ["dir-only"]}})
    cfg["listeners"][0]["listen"] = "127.0.0.1:%d" % free_port()
    path = tmp_path / "sim.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))

    p = simulate(path, "--user", "alice", "--method", "GET", "--url", "https://files.example.com/path/to/dir/a")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "decision: allow DirReadWrite"
    assert len(lines) == 4, lines  # one line per statement of the one attached policy
    assert "ListRoot (Allow): not matched: Resource does not cover files.example.com/path/to/dir/a" in lines[1]
    assert lines[2].startswith("* ") and lines[2].endswith("<= decides") and "DirReadWrite" in lines[2]
    assert 'condition StringLike sk:Path="/path/to/dir/a" is false' in lines[3]

    p = simulate(path, "--user", "alice", "--method", "GET", "--url", "http://files.example.com/path/to/dir/secret")
    assert p.returncode == 1
    assert p.stdout.splitlines()[0] == "decision: explicit_deny NoSecrets"
    assert 'sk:Country=(missing) is true' in p.stdout

    # --context sets a key: from Japan the deny's second condition is false.
    p = simulate(path, "--user", "alice", "--method", "GET", "--url", "http://files.example.com/path/to/dir/secret",
                 "--context", "sk:Country=JP")
    assert p.returncode == 0 and p.stdout.startswith("decision: allow DirReadWrite\n"), p.stdout
    assert 'condition StringNotEquals on sk:Country decided' in p.stdout

    p = simulate(path, "--user", "alice", "--method", "POST", "--url", "http://files.example.com/path/to/dir/a")
    assert p.returncode == 1 and p.stdout.splitlines()[0] == "decision: implicit_deny"
    assert "Action does not cover http:POST" in p.stdout

    # --groups replaces the user's groups: without "team" nothing is attached.
    p = simulate(path, "--user", "alice", "--groups", "other", "--method", "GET", "--url", "http://files.example.com/")
    assert p.returncode == 1 and "no policy is attached to user 'alice'" in p.stdout

    assert simulate(path, "--user", "alice", "--method", "GET").returncode == 2                   # no --url
    assert simulate(path, "--user", "nobody", "--method", "GET", "--url", "http://a/").returncode == 2
    p = simulate(path, "--user", "alice", "--method", "GET", "--url", "http://a/", "--context", "aws:x=1")
    assert p.returncode == 2 and "unknown condition key prefix" in p.stderr
    (tmp_path / "dir-only.json").write_text('{"Version": "2012-10-17", "Statement": []}')
    p = simulate(path, "--user", "alice", "--method", "GET", "--url", "http://a/")
    assert p.returncode == 2 and "dir-only.json:1:" in p.stderr and "Statement must not be empty" in p.stderr


def test_policy_check_reports_file_line_col(sekisho, origin, tmp_path):
    good = write_policy(tmp_path, "good", S3_PREFIX)
    p = cli("policy", "check", good, check=False)
    assert p.returncode == 0 and p.stdout == "policy OK: %s (2 statements)\n" % good
    cases = [
        ('{\n  "Version": "2012-10-17",\n  "Statement": [{"Effect": "Allow", "Action": "http:GET", '
         '"Resource": "*",\n    "Condition": {"StringEqualz": {"sk:username": "a"}}}]\n}\n',
         ":4:19: unknown condition operator 'StringEqualz'"),
        ('{"Version": "2012-10-17", "Statement": {"Effect": "Permit", "Action": "*", "Resource": "*"}}',
         ":1:51: Effect must be Allow or Deny"),
        ('{"Version": "2012-10-17",\n "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*",\n'
         '  "Condition": {"StringEquals": {"aws:username": "a"}}}}',
         ":3:34: unknown condition key prefix"),
        ('{"Statement": {"Effect": "Allow", "Actions": "*", "Resource": "*"}}',
         ":1:35: unknown statement element 'Actions'"),
        ('{"Version": "2012-10-17", "Statement": [', ":2:1: flow sequence without a closing bracket"),
    ]
    for i, (text, want) in enumerate(cases):
        f = tmp_path / ("bad%d.json" % i)
        f.write_text(text)
        p = cli("policy", "check", f, check=False)
        assert p.returncode == 1, (text, p.stdout)
        assert p.stderr.startswith(str(f) + want), (p.stderr, want)
    assert cli("policy", "check", check=False).returncode == 2

    # The server refuses to start on a broken policy, naming it the same way.
    cfg = policy_config(origin, tmp_path, {"p": S3_PREFIX}, {"alice": {"policies": ["p"]}})
    cfg["policies"]["p"] = str(tmp_path / "bad0.json")
    with pytest.raises(RuntimeError) as e:
        sekisho(cfg)
    assert "bad0.json:4:19: unknown condition operator 'StringEqualz'" in str(e.value)
    # check-config reads the documents too.
    cfg["listeners"][0]["listen"] = "127.0.0.1:%d" % free_port()
    (tmp_path / "check.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    p = cli("check-config", "-c", tmp_path / "check.yaml", check=False)
    assert p.returncode == 1 and "bad0.json:4:19: unknown condition operator 'StringEqualz'" in p.stderr, p.stderr
    # And on a user naming a policy that does not exist.
    cfg = policy_config(origin, tmp_path, {"p": S3_PREFIX}, {"alice": {"policies": ["q"]}})
    with pytest.raises(RuntimeError) as e:
        sekisho(cfg)
    assert "user 'alice': no policy named 'q'" in str(e.value)


def test_reload_changes_a_policy(sekisho, origin, tmp_path):
    doc = {"Version": "2012-10-17", "Statement": [
        {"Sid": "A", "Effect": "Allow", "Action": "*", "Resource": "app.test/a/*"}]}
    cfg = policy_config(origin, tmp_path, {"p": doc}, {"alice": {"policies": ["p"]}})
    sk = sekisho(cfg)
    assert call(sk, "/a/1").status == 200
    assert call(sk, "/b/1").status == 403
    doc["Statement"][0].update(Sid="B", Resource="app.test/b/*")
    write_policy(tmp_path, "p", doc)
    sk.reload(cfg)
    wait_until(lambda: call(sk, "/b/1").status == 200, what="the new policy")
    assert call(sk, "/a/1").status == 403
    assert log_for(sk, "/b/1")["policy_sid"] == "B"
    # A broken document is refused on reload and the policy in force stays.
    (tmp_path / "p.json").write_text('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow"}]}')
    sk.reload(cfg)
    wait_until(lambda: "p.json:1:41: a statement needs Action or NotAction" in sk.stderr_text(), what="refusal")
    assert call(sk, "/b/2").status == 200
