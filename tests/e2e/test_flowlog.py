"""The flow log (DESIGN §5): AWS VPC Flow Logs version 2 records, one per connection per direction per
window, counted from TCP_INFO, REJECT for connections refused at accept, flushed and reopened on SIGUSR1.

The parser below is written from the AWS documentation's field table ("Flow log records", default format)
and is strict: single spaces, exactly 14 fields, integers where the table has numbers, `-` as null. It is
checked against the documentation's own example lines first."""

import ipaddress
import os
import signal
import socket
import time

import pytest

from util import HOST, simple_config, wait_until

FIELDS = ("version", "account_id", "interface_id", "srcaddr", "dstaddr", "srcport", "dstport", "protocol",
          "packets", "bytes", "start", "end", "action", "log_status")
INTS = {"srcport", "dstport", "protocol", "packets", "bytes", "start", "end"}

# From docs.aws.amazon.com/vpc/latest/userguide/flow-logs-records-examples.html
AWS_EXAMPLES = [
    "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK",
    "2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK",
    "2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA",
]


def parse_record(line):
    """One flow-log line (without its newline) → dict; raises ValueError on anything off-format."""
    parts = line.split(" ")
    if len(parts) != 14:
        raise ValueError("%d fields, not 14: %r" % (len(parts), line))
    rec = {}
    for name, v in zip(FIELDS, parts):
        if v == "":
            raise ValueError("empty field %s (two spaces?): %r" % (name, line))
        if v == "-":
            rec[name] = None
            continue
        if name in INTS:
            if not v.isdigit():
                raise ValueError("%s is not an integer: %r" % (name, v))
            rec[name] = int(v)
        else:
            rec[name] = v
    if rec["version"] != "2":
        raise ValueError("version %r" % rec["version"])
    if rec["account_id"] is None or rec["interface_id"] is None:
        raise ValueError("account-id and interface-id are always present")
    for a in ("srcaddr", "dstaddr"):
        if rec[a] is not None:
            ipaddress.ip_address(rec[a])
    for p in ("srcport", "dstport"):
        if rec[p] is not None and not 0 <= rec[p] <= 65535:
            raise ValueError("%s out of range" % p)
    if rec["action"] not in ("ACCEPT", "REJECT", None):
        raise ValueError("action %r" % rec["action"])
    if rec["log_status"] not in ("OK", "NODATA", "SKIPDATA"):
        raise ValueError("log-status %r" % rec["log_status"])
    if rec["start"] is None or rec["end"] is None or rec["start"] > rec["end"]:
        raise ValueError("start/end %r %r" % (rec["start"], rec["end"]))
    return rec


def read_records(path):
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        data = f.read().decode("ascii")
    assert data == "" or data.endswith("\n"), "a record is cut: %r" % data[-200:]
    return [parse_record(l) for l in data.split("\n")[:-1]]


def test_parser_accepts_the_aws_examples_and_refuses_near_misses():
    recs = [parse_record(l) for l in AWS_EXAMPLES]
    assert recs[0]["bytes"] == 4249 and recs[1]["action"] == "REJECT" and recs[2]["srcaddr"] is None
    for bad in (AWS_EXAMPLES[0].replace(" ", "  ", 1),            # two spaces
                AWS_EXAMPLES[0] + " extra",                        # 15 fields
                AWS_EXAMPLES[0].replace(" 20 ", " 2x ", 1),        # not an integer
                AWS_EXAMPLES[0].replace("ACCEPT", "accept"),
                AWS_EXAMPLES[0].replace(" 1418530070 ", " 1418530000 ")):  # end before start
        with pytest.raises(ValueError):
            parse_record(bad)


def flow_config(origin, tmp_path, **extra):
    cfg = simple_config(origin.port, flow_log={"path": str(tmp_path / "flow.log"), "interval": "60s",
                                               "account_id": "000000000042"}, **extra)
    return cfg


def exchange(port, body_len):
    """One keep-alive POST on a new socket; returns (socket, bytes sent, bytes received)."""
    s = socket.create_connection((HOST, port), timeout=5)
    body = b"x" * body_len
    req = (b"POST /up HTTP/1.1\r\nHost: app.test\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
    s.sendall(req)
    return s, len(req), read_response(s)


def read_response(s):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        assert chunk, "the connection closed before a response: %r" % data
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    length = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0])
    while len(rest) < length:
        chunk = s.recv(65536)
        assert chunk, "the connection closed inside a response"
        rest += chunk
    return len(head) + 4 + length


def of_port(recs, port):
    inbound = [r for r in recs if r["srcport"] == port]
    outbound = [r for r in recs if r["dstport"] == port]
    return inbound, outbound


def test_records_of_a_real_connection_field_by_field(sekisho, origin, tmp_path):
    path = str(tmp_path / "flow.log")
    sk = sekisho(flow_config(origin, tmp_path))
    t0 = int(time.time())
    s, sent, received = exchange(sk.port(), 20000)
    cport = s.getsockname()[1]
    sk.signal(signal.SIGUSR1)  # writes the open window
    wait_until(lambda: len(of_port(read_records(path), cport)[1]) == 1, what="the window's records")
    t1 = int(time.time())
    inbound, outbound = of_port(read_records(path), cport)
    assert len(inbound) == 1 and len(outbound) == 1, (inbound, outbound)
    i, o = inbound[0], outbound[0]
    for r in (i, o):
        assert (r["version"], r["account_id"], r["interface_id"], r["protocol"]) == ("2", "000000000042", "web", 6)
        assert (r["action"], r["log_status"]) == ("ACCEPT", "OK")
        assert t0 <= r["start"] <= r["end"] <= t1
        assert r["start"] // 60 == r["end"] // 60 or r["end"] % 60 == 0  # inside one aligned window
    assert (i["srcaddr"], i["srcport"], i["dstaddr"], i["dstport"]) == (HOST, cport, HOST, sk.port())
    assert (o["srcaddr"], o["srcport"], o["dstaddr"], o["dstport"]) == (HOST, sk.port(), HOST, cport)
    assert i["bytes"] >= sent and i["packets"] >= 2
    assert o["bytes"] >= received and o["packets"] >= 2

    # The same connection again: the next records hold the deltas since the flush, not the totals.
    s.sendall(b"GET /small HTTP/1.1\r\nHost: app.test\r\n\r\n")
    read_response(s)
    sk.signal(signal.SIGUSR1)
    wait_until(lambda: len(of_port(read_records(path), cport)[1]) == 2, what="the second records")
    inbound, outbound = of_port(read_records(path), cport)
    assert len(inbound) == 2
    assert 0 < inbound[1]["bytes"] < sent, inbound  # the GET only, not the POST again
    s.close()
    sk.stop()
    # At shutdown the close of the connection (its FIN) is the last inbound record.
    inbound, _ = of_port(read_records(path), cport)
    assert len(inbound) == 3 and inbound[2]["packets"] >= 1, inbound


def test_reject_record_for_a_connection_refused_by_the_listener_acl(sekisho, origin, tmp_path):
    path = str(tmp_path / "flow.log")
    cfg = flow_config(origin, tmp_path)
    cfg["listeners"][0]["acl"] = [{"rule": 100, "cidr": "192.0.2.0/24", "action": "allow"}]
    sk = sekisho(cfg)
    s = socket.create_connection((HOST, sk.port()), timeout=5)
    cport = s.getsockname()[1]
    assert s.recv(1) == b""  # closed at accept
    s.close()
    sk.signal(signal.SIGUSR1)
    wait_until(lambda: of_port(read_records(path), cport)[0], what="the REJECT record")
    inbound, outbound = of_port(read_records(path), cport)
    assert outbound == [] and len(inbound) == 1, (inbound, outbound)
    r = inbound[0]
    assert (r["action"], r["interface_id"], r["srcaddr"], r["dstport"]) == ("REJECT", "web", HOST, sk.port())
    assert r["packets"] >= 1 and r["bytes"] == 0 and r["start"] == r["end"]


def test_sigusr1_reopens_the_file(sekisho, origin, tmp_path):
    path = str(tmp_path / "flow.log")
    sk = sekisho(flow_config(origin, tmp_path))
    s, _, _ = exchange(sk.port(), 10)
    first = s.getsockname()[1]
    s.close()
    sk.signal(signal.SIGUSR1)
    wait_until(lambda: of_port(read_records(path), first)[0], what="records in the first file")
    os.rename(path, path + ".1")
    sk.signal(signal.SIGUSR1)
    wait_until(lambda: os.path.exists(path), what="a new file")
    s, _, _ = exchange(sk.port(), 10)
    second = s.getsockname()[1]
    s.close()
    sk.signal(signal.SIGUSR1)
    wait_until(lambda: of_port(read_records(path), second)[0], what="records in the new file")
    assert of_port(read_records(path), first) == ([], [])
    assert of_port(read_records(path + ".1"), second) == ([], [])


@pytest.mark.slow
def test_a_connection_across_a_window_boundary_has_a_record_in_each(sekisho, origin, tmp_path):
    path = str(tmp_path / "flow.log")
    # The connection waits up to a whole window between its two requests: keep-alive must outlast it.
    sk = sekisho(flow_config(origin, tmp_path, timeouts={"keepalive": "120s"}))
    # Start at least 3 s before a minute boundary so that the first exchange ends inside the first window.
    if 60 - time.time() % 60 < 3:
        time.sleep(60 - time.time() % 60 + 0.5)
    boundary = (int(time.time()) // 60 + 1) * 60
    s, _, _ = exchange(sk.port(), 1000)
    cport = s.getsockname()[1]
    # No signal: the worker's window timer writes the ended window by itself.
    wait_until(lambda: of_port(read_records(path), cport)[0], timeout=65, interval=0.5,
               what="the first window's records")
    assert time.time() >= boundary
    s.sendall(b"GET /again HTTP/1.1\r\nHost: app.test\r\n\r\n")
    read_response(s)
    sk.signal(signal.SIGUSR1)
    wait_until(lambda: len(of_port(read_records(path), cport)[0]) == 2, what="the second window's records")
    first, second = of_port(read_records(path), cport)[0]
    assert first["end"] <= boundary <= second["start"], (first, second)
    assert second["bytes"] < first["bytes"]
    s.close()


def test_reject_record_for_a_banned_client(sekisho, origin, tmp_path):
    from stateutil import cli, refused
    path = str(tmp_path / "flow.log")
    sk = sekisho(flow_config(origin, tmp_path, ban={"max_retry": 3, "find_time": "1m", "ban_time": "1h"}))
    cli("ban", "-c", sk.config_path, "add", "127.0.0.5")
    wait_until(lambda: refused(sk.port(), "127.0.0.5"), what="the ban at accept")  # within the 1 s sync
    sk.signal(signal.SIGUSR1)
    wait_until(lambda: [r for r in read_records(path) if r["srcaddr"] == "127.0.0.5" and r["action"] == "REJECT"],
               what="the REJECT record of the banned client")
    recs = [r for r in read_records(path) if r["srcaddr"] == "127.0.0.5"]
    # Probes made before the sync saw the ban were answered: ACCEPT records; the refused one is REJECT,
    # inbound only, with what the kernel counted of it (the probe's request bytes may have arrived).
    rej = [r for r in recs if r["action"] == "REJECT"]
    assert all(r["dstaddr"] == HOST and r["dstport"] == sk.port() and r["packets"] >= 1 for r in rej), rej
    assert not [r for r in read_records(path) if r["dstaddr"] == "127.0.0.5" and r["action"] == "REJECT"]


def test_an_unwritable_flow_log_is_a_start_error(sekisho, origin, tmp_path):
    cfg = simple_config(origin.port, flow_log={"path": str(tmp_path / "missing" / "flow.log"), "interval": "60s"})
    with pytest.raises(RuntimeError) as e:
        sekisho(cfg)
    assert "flow log %s: No such file or directory" % (tmp_path / "missing" / "flow.log") in str(e.value)
