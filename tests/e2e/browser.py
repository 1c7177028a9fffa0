"""A real browser for the end-to-end tests: Debian's /usr/bin/chromium driven by playwright-core
(tests/browser/run.js, installed by scripts/install-deps into tests/browser/node_modules).

    results = run_browser([{"goto": "http://app.test:%d/" % port}, {"text": "h1"}, {"cookies": True}])

Every host name resolves to 127.0.0.1 inside the browser, so any alias reaches sekisho on the URL's port.
The steps and the result fields are described at the top of run.js. One call is one browser and one
cookie jar. A missing node, chromium or playwright-core is an error (the test fails and says so), never a
skip: install-deps is meant to install them.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RUN_JS = os.path.join(REPO, "tests", "browser", "run.js")
CHROMIUM = "/usr/bin/chromium"
PLAYWRIGHT = os.path.join(REPO, "tests", "browser", "node_modules", "playwright-core")


class BrowserError(AssertionError):
    """The scenario could not run to its end. .results holds the step results up to and including the
    failing one (which has "error"), .stderr the driver's stderr."""

    def __init__(self, msg, results=None, stderr=""):
        super().__init__(msg)
        self.results = results or []
        self.stderr = stderr


def _check_tools():
    node = shutil.which("node")
    missing = []
    if node is None:
        missing.append("node (not on PATH)")
    if not os.path.exists(CHROMIUM):
        missing.append(CHROMIUM + " (apt package chromium)")
    if not os.path.isdir(PLAYWRIGHT):
        missing.append(PLAYWRIGHT + " (npm playwright-core, tests/browser/package.json)")
    if missing:
        raise BrowserError("browser tests need: %s; run scripts/install-deps" % ", ".join(missing))
    return node


def run_browser(steps, timeout=60, step_timeout_ms=10000, **options):
    """Runs steps (a list of dicts, see run.js) in one fresh browser; returns the list of step results.
    options: scenario options of run.js (javascript=False, viewport={"width": 375, "height": 700}).
    Raises BrowserError when a step fails, the driver fails or it takes longer than timeout seconds."""
    node = _check_tools()
    fd, path = tempfile.mkstemp(prefix="scenario-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(dict(options, steps=steps, timeout_ms=step_timeout_ms), f)
        # Its own process group, so a timeout can signal it as a whole. SIGTERM first: playwright then closes
        # the browser it launched (in a process group of its own) before node exits.
        proc = subprocess.Popen([node, RUN_JS, path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, cwd=REPO, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                out, err = proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                out, err = proc.communicate()
            raise BrowserError("browser scenario took longer than %ss\nsteps: %s\nstdout: %s\nstderr:\n%s"
                               % (timeout, json.dumps(steps), out[-2000:], err[-4000:]), None, err)
    finally:
        os.unlink(path)
    results = None
    try:
        results = json.loads(out) if out.strip() else None
    except ValueError:
        pass
    if proc.returncode != 0 or not isinstance(results, list):
        failing = ""
        if isinstance(results, list) and results and "error" in results[-1]:
            r = results[-1]
            failing = "step %d %s failed: %s\n" % (r["step"], json.dumps(steps[r["step"]]), r["error"])
        raise BrowserError("browser scenario failed (exit %s)\n%sresults: %s\nstderr:\n%s"
                           % (proc.returncode, failing, json.dumps(results, indent=1) if results else out[-4000:],
                              err[-4000:]),
                           results if isinstance(results, list) else None, err)
    return results
