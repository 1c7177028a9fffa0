"""systemd integration (DESIGN §5): sd_notify READY=1 / RELOADING=1 (+ READY=1) / STOPPING=1 over the
datagram protocol on $NOTIFY_SOCKET, and dist/sekisho.service as systemd-analyze reads it."""

import os
import shutil
import signal
import socket
import subprocess

import pytest

from util import sekisho_bin
from util import simple_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def listen(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path if not path.startswith("@") else "\0" + path[1:])
    s.settimeout(10)
    return s


def messages(s):
    """The next datagram as {key: value}."""
    data = s.recv(4096).decode()
    return dict(line.split("=", 1) for line in data.split("\n") if line)


@pytest.mark.parametrize("abstract", [False, True])
def test_ready_reloading_stopping(sekisho, origin, tmp_path, abstract):
    path = "@sekisho-test-%d" % os.getpid() if abstract else str(tmp_path / "notify.sock")
    s = listen(path)
    cfg = simple_config(origin.port)
    sk = sekisho(cfg, env={"NOTIFY_SOCKET": path})
    assert messages(s) == {"READY": "1"}
    sk.reload(cfg)
    m = messages(s)
    assert m["RELOADING"] == "1" and int(m["MONOTONIC_USEC"]) > 0, m
    assert messages(s) == {"READY": "1"}
    # A refused reload is followed by READY=1 too: the old configuration keeps serving.
    sk.write_config("listeners: [ {name: web} ]\nbogus: 1\n")
    sk.signal(signal.SIGHUP)
    assert messages(s)["RELOADING"] == "1"
    assert messages(s) == {"READY": "1"}
    sk.stop()
    assert messages(s) == {"STOPPING": "1"}
    s.close()


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze")
def test_unit_file_verifies(tmp_path):
    text = open(os.path.join(ROOT, "dist", "sekisho.service")).read()
    for want in ("Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "NoNewPrivileges=yes", "ProtectSystem=strict",
                 "AmbientCapabilities=CAP_NET_BIND_SERVICE", "ReadWritePaths=/var/lib/sekisho /var/log/sekisho"):
        assert want + "\n" in text, want
    # systemd-analyze checks that the commands exist: point them at the binary under test.
    unit = tmp_path / "sekisho.service"
    unit.write_text(text.replace("/usr/local/bin/sekisho", sekisho_bin()))
    p = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, timeout=60)
    out = (p.stdout + p.stderr).decode()
    assert p.returncode == 0 and out == "", out
