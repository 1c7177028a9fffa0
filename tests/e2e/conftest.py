"""Fixtures for sekisho's end-to-end tests.

`sekisho` is a factory: `sk = sekisho(config)` writes the config (a dict, or YAML text) to the test's
tmp dir, starts `$SEKISHO_BIN run -c FILE`, waits until every listener accepts connections and returns a
handle (.port(name), .url, .pid, .log_lines(), .stderr_text(), .reload(cfg), .stop()). Listeners given
without `listen` get a free 127.0.0.1 port, kept across reloads. With an admin listener in the config,
.metrics() reads /metrics and .reload_and_wait(cfg) returns once the reload has landed (or was refused). At teardown each process is stopped by PID
and its stderr is checked for sanitizer reports.
"""

import json
import os
import resource
import signal
import subprocess
import time

import pytest
import yaml

from util import (HOST, SANITIZER_MARKERS, EchoOrigin, ScriptedOrigin, TcpEchoServer, WsEchoServer,
                  free_port, read_metrics, sekisho_bin, sekisho_env, wait_port, wait_until)
from redisutil import redis_server  # noqa

CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS, signal.SIGILL, signal.SIGFPE}


def pytest_collection_modifyitems(config, items):
    # The long WebSocket idle test goes last so a failure elsewhere shows up early.
    items.sort(key=lambda it: 1 if it.get_closest_marker("slow") else 0)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running test (run last)")


class Sekisho:
    def __init__(self, tmp_path, idx, env):
        self.dir = tmp_path
        self.idx = idx
        self.config_path = str(tmp_path / ("sekisho%d.yaml" % idx))
        self.access_log = str(tmp_path / ("access%d.log" % idx))
        self.stderr_path = str(tmp_path / ("stderr%d.txt" % idx))
        self.stdout_path = str(tmp_path / ("stdout%d.txt" % idx))
        self.env = env
        self.ports = {}
        self.proc = None
        self.returncode = None
        self.listeners = []
        self.admin_port = None
        self.proto = None  # "h2" when the test runs over HTTP/2 (the `proto` fixture)

    # config ----------------------------------------------------------------------------------------
    def _prepare(self, cfg):
        """Fills defaults (workers, access log, listener ports) and returns YAML text."""
        if isinstance(cfg, str):
            text = cfg
            data = yaml.safe_load(text) or {}
            self.listeners = [(l.get("name"), l.get("listen"), l.get("mode", "http"))
                              for l in data.get("listeners", []) if isinstance(l, dict)]
            for name, listen, _ in self.listeners:
                if listen:
                    self.ports[name] = int(str(listen).rsplit(":", 1)[1])
            self._note_admin(data)
            return text
        cfg = json.loads(json.dumps(cfg))  # deep copy
        if self.proto == "h2":  # the `proto` fixture: cleartext HTTP listeners take prior-knowledge h2c
            for l in cfg.get("listeners", []):
                if l.get("mode", "http") == "http" and "tls" not in l:
                    l["h2c"] = True
        cfg.setdefault("workers", 2)
        cfg.setdefault("access_log", {"path": self.access_log})
        cfg.setdefault("state", {"path": str(self.dir / ("var%d" % self.idx))})
        self.listeners = []
        for l in cfg.get("listeners", []):
            name = l["name"]
            if "listen" not in l:
                if name not in self.ports:
                    self.ports[name] = free_port()
                l["listen"] = "127.0.0.1:%d" % self.ports[name]
            else:
                self.ports[name] = int(str(l["listen"]).rsplit(":", 1)[1])
            self.listeners.append((name, l["listen"], l.get("mode", "http")))
        # Egress entries (DESIGN §5a) are listeners too: waited for, and named by port(name).
        for e in cfg.get("egress", []):
            self.ports[e["name"]] = int(str(e["listen"]).rsplit(":", 1)[1])
            self.listeners.append((e["name"], e["listen"], "egress"))
        self._note_admin(cfg)
        return yaml.safe_dump(cfg, sort_keys=False)

    def _note_admin(self, data):
        admin = data.get("admin") if isinstance(data, dict) else None
        listen = admin.get("listen") if isinstance(admin, dict) else None
        self.admin_port = int(str(listen).rsplit(":", 1)[1]) if listen else None

    def write_config(self, cfg):
        text = self._prepare(cfg)
        tmp = self.config_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.config_path)
        return text

    # lifecycle -------------------------------------------------------------------------------------
    def start(self, cfg, timeout=15.0, argv=None, nofile=None, wait=True):
        """argv: the arguments after the binary, with {config} for the config path (default
        ["run", "-c", "{config}"]). nofile: (soft, hard) RLIMIT_NOFILE for the process. wait=False: return
        at once, without waiting for the listeners (for a start that is expected to fail)."""
        self.write_config(cfg)
        argv = [a.replace("{config}", self.config_path) for a in (argv or ["run", "-c", "{config}"])]
        self._err = open(self.stderr_path, "wb")
        self._out = open(self.stdout_path, "wb")
        preexec = (lambda: resource.setrlimit(resource.RLIMIT_NOFILE, nofile)) if nofile else None
        self.proc = subprocess.Popen([sekisho_bin()] + argv, cwd=str(self.dir),
                                     env=self.env, stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=self._err, preexec_fn=preexec)
        if not wait:
            return self
        try:
            for name, listen, _ in self.listeners:
                host = str(listen).rsplit(":", 1)[0].strip("[]") if listen else HOST
                wait_port(self.ports[name], timeout=timeout, proc=self.proc,
                          host=HOST if host in ("", "*", "0.0.0.0") else host)
        except Exception as e:
            self.stop()
            raise RuntimeError("sekisho did not start: %s\n--- stderr ---\n%s" % (e, self.stderr_text()))
        return self

    @property
    def pid(self):
        return self.proc.pid

    def port(self, name="web"):
        return self.ports[name]

    @property
    def url(self):
        name = next(n for n, _, mode in self.listeners if mode not in ("tcp", "egress"))
        return "http://127.0.0.1:%d" % self.ports[name]

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def reload(self, cfg):
        """Rewrites the config file and sends SIGHUP. Does not wait: callers poll for the effect."""
        self.write_config(cfg)
        self.signal(signal.SIGHUP)

    def metrics(self):
        """/metrics as {'name{labels}': float}; needs an admin listener in the config."""
        if self.admin_port is None:
            raise AssertionError("the config has no admin listener: /metrics cannot be read")
        return read_metrics(self.admin_port)

    def generation(self):
        """The configuration generation every worker serves new connections with."""
        return int(self.metrics()["sekisho_config_generation"])

    def reload_and_wait(self, cfg, timeout=10.0):
        """reload(cfg), then waits until sekisho has handled that SIGHUP, as its log tells: True once every
        worker serves the new configuration ("generation N serving on every worker"), False when the reload
        was refused. No sleeping: the line comes within one turn of the main loop (200 ms)."""
        err = self.stderr_text()
        served0, refused0 = err.count("serving on every worker"), err.count("reload refused")
        self.reload(cfg)

        def handled():
            e = self.stderr_text()
            if e.count("reload refused") > refused0:
                return "refused"
            return "served" if e.count("serving on every worker") > served0 else None

        return wait_until(handled, timeout=timeout, what="the reload to be handled") == "served"

    def wait(self, timeout):
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def stop(self, timeout=8.0):
        """SIGTERM, wait, SIGKILL if needed. Returns (returncode, hung)."""
        if self.proc is None:
            return None, False
        hung = False
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                hung = True
                self.proc.kill()
                self.proc.wait(5)
        self.returncode = self.proc.returncode
        for f in (self._err, self._out):
            try:
                f.close()
            except Exception:
                pass
        return self.returncode, hung

    # observation -----------------------------------------------------------------------------------
    def stderr_text(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def stdout_text(self):
        try:
            with open(self.stdout_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_lines(self):
        """The access log as a list of parsed JSON objects (lines that fail to parse are kept as
        {"_unparsed": line} so a test can see them)."""
        out = []
        try:
            with open(self.access_log, "r", encoding="utf-8", errors="replace") as f:
                for line in f:
                    line = line.strip()
                    if not line:
                        continue
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        out.append({"_unparsed": line})
        except FileNotFoundError:
            pass
        return out

    def wait_log(self, pred, timeout=5.0):
        """Polls the access log until some entry satisfies pred; returns it."""
        deadline = time.monotonic() + timeout
        while True:
            for e in self.log_lines():
                if pred(e):
                    return e
            if time.monotonic() > deadline:
                raise AssertionError("no access-log entry matched within %.1fs; log: %r"
                                     % (timeout, self.log_lines()[-10:]))
            time.sleep(0.05)

    def vm_rss_kb(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0


@pytest.fixture
def sekisho(tmp_path, request):
    """Factory fixture: sekisho(config, env={...}) → running Sekisho handle."""
    started = []

    # A test that takes the `proto` fixture runs over both protocols: at "h2" its cleartext HTTP listeners
    # accept prior-knowledge h2c and util.get speaks HTTP/2 (DESIGN §2 "HTTP/2").
    proto = request.getfixturevalue("proto") if "proto" in request.fixturenames else None

    def start(cfg, env=None, timeout=15.0, argv=None, nofile=None, wait=True):
        sk = Sekisho(tmp_path, len(started), sekisho_env(env))
        started.append(sk)
        sk.proto = proto
        return sk.start(cfg, timeout=timeout, argv=argv, nofile=nofile, wait=wait)

    yield start

    problems = []
    for sk in reversed(started):
        expected_exit = sk.proc is not None and sk.proc.poll() is not None
        rc, hung = sk.stop()
        err = sk.stderr_text()
        tail = "\n".join(err.splitlines()[-60:])
        if any(m in err for m in SANITIZER_MARKERS):
            problems.append("sekisho #%d: sanitizer report on stderr:\n%s" % (sk.idx, tail))
        elif rc is not None and rc < 0 and -rc in CRASH_SIGNALS:
            problems.append("sekisho #%d: died with signal %d:\n%s" % (sk.idx, -rc, tail))
        elif hung:
            problems.append("sekisho #%d: did not exit within 8s of SIGTERM (killed):\n%s" % (sk.idx, tail))
        elif rc not in (0, None) and not expected_exit:
            problems.append("sekisho #%d: exit status %s after SIGTERM:\n%s" % (sk.idx, rc, tail))
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture(params=["http/1.1", "h2"])
def proto(request):
    """The viewer's protocol for tests that run over both (see the sekisho fixture and util.get)."""
    return request.param


@pytest.fixture
def origin():
    o = EchoOrigin("echo").start()
    yield o
    o.stop()


@pytest.fixture
def origin_factory():
    made = []

    def make(name="echo", port=None):
        o = EchoOrigin(name, port).start()
        made.append(o)
        return o

    yield make
    for o in made:
        o.stop()


@pytest.fixture
def ws_origin():
    s = WsEchoServer().start()
    yield s
    s.stop()


@pytest.fixture
def tcp_echo():
    s = TcpEchoServer().start()
    yield s
    s.stop()


@pytest.fixture
def scripted_origin():
    """Factory: scripted_origin(reply_bytes_or_None, close_after=True) → a ScriptedOrigin."""
    made = []

    def make(reply, close_after=True, silent_after_first=False, drain=False):
        o = ScriptedOrigin(reply, close_after, silent_after_first, drain).start()
        made.append(o)
        return o

    yield make
    for o in made:
        o.stop()
