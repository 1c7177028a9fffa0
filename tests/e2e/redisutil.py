"""A real Redis server for end-to-end tests of sekisho's shared state.

The `redis_server` fixture starts Debian's `redis-server` on a free 127.0.0.1 port, without persistence,
in the test's tmp dir, waits until it answers PING and yields a handle:

    .port, .url ("redis://127.0.0.1:PORT/0"), .pid
    .stop()            SIGTERM by PID and wait (to test sekisho without its Redis)
    .start()           start again on the same port (after .stop())
    .cli(*args)        run `redis-cli -p PORT ARGS...`, return its stdout (raises on a non-zero exit)

At teardown the server is stopped by PID. A missing redis-server is an error, never a skip
(scripts/install-deps installs it).
"""

import os
import shutil
import signal
import subprocess
import time

import pytest

from util import HOST, free_port


class RedisServer:
    def __init__(self, workdir, port=None):
        self.dir = str(workdir)
        self.port = port or free_port()
        self.url = "redis://%s:%d/0" % (HOST, self.port)
        self.proc = None
        self.log_path = os.path.join(self.dir, "redis-%d.log" % self.port)
        self._log = None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=10.0):
        if self.alive():
            raise RuntimeError("redis-server on port %d is already running (pid %d)" % (self.port, self.pid))
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed (run scripts/install-deps)")
        os.makedirs(self.dir, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", HOST, "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--dir", self.dir, "--logfile", ""],
            cwd=self.dir, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        last = ""
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server exited with %s on port %d:\n%s"
                                   % (self.proc.returncode, self.port, self.log_tail()))
            try:
                p = subprocess.run(["redis-cli", "-h", HOST, "-p", str(self.port), "PING"],
                                   capture_output=True, text=True, timeout=5)
                last = p.stdout.strip() + p.stderr.strip()
                if p.returncode == 0 and p.stdout.strip() == "PONG":
                    return self
            except subprocess.TimeoutExpired:
                last = "redis-cli PING timed out"
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("redis-server on port %d did not answer PING within %.0fs (last: %r):\n%s"
                                   % (self.port, timeout, last, self.log_tail()))
            time.sleep(0.05)

    def stop(self, timeout=10.0):
        """SIGTERM by PID and wait; SIGKILL if it has not exited within timeout. Returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        if self._log:
            self._log.close()
            self._log = None
        return self.proc.returncode

    def cli(self, *args, timeout=10):
        p = subprocess.run(["redis-cli", "-h", HOST, "-p", str(self.port)] + [str(a) for a in args],
                           capture_output=True, text=True, timeout=timeout)
        if p.returncode != 0:
            raise RuntimeError("redis-cli %s: exit %d: %s" % (" ".join(map(str, args)), p.returncode,
                                                            p.stderr or p.stdout))
        return p.stdout

    def log_tail(self, n=30):
        try:
            with open(self.log_path, "rb") as f:
                return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-n:])
        except FileNotFoundError:
            return ""


@pytest.fixture
def redis_server(tmp_path):
    """A running redis-server on a free port (see RedisServer); stopped by PID at teardown."""
    r = RedisServer(tmp_path / "redis")
    r.start()
    yield r
    r.stop()
