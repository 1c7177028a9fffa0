"""Smoke tests of the test infrastructure itself, against the real binary.

A real browser (Debian's chromium through playwright-core, tests/e2e/browser.py) loads a static page that
sekisho serves for the alias site.test, and a real redis-server (tests/e2e/redisutil.py) stores and returns
a value through redis-cli. A missing chromium, node, playwright-core or redis-server fails these tests
(scripts/install-deps installs them).
"""

import pytest

from browser import run_browser

INDEX = ("<!doctype html>\n<html><head><title>Smoke title</title></head>\n"
         "<body><h1>Hello from sekisho</h1><p id=\"p\">static page</p></body></html>\n")


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "index.html").write_text(INDEX)
    return root


def static_config(root):
    return {
        "listeners": [{"name": "web"}],
        "origins": {"site": {"root": str(root)}},
        "distributions": [{"name": "s", "aliases": ["site.test"], "behaviors": [
            {"path": "*", "origin": "site"}]}],
    }


def test_browser_loads_static_page_through_sekisho(sekisho, site):
    sk = sekisho(static_config(site))
    base = "http://site.test:%d" % sk.port()
    res = run_browser([
        {"goto": base + "/"},
        {"text": "h1"},
        {"text": "title"},
        {"count": "p#p"},
        {"goto": "http://other.test:%d/" % sk.port()},  # no distribution has this alias
        {"text": "h1"},
    ])
    goto, h1, title, count, other, other_h1 = res
    assert goto["status"] == 200, res
    assert goto["url"] == base + "/"
    assert [n["status"] for n in goto["nav"]] == [200]
    assert h1["text"] == "Hello from sekisho"
    assert title["text"] == "Smoke title"
    assert count["count"] == 1
    # The same browser, another host name: sekisho refuses it, so the page above really came from the
    # site.test distribution and not from any server that answers everything.
    assert other["status"] == 421, res
    assert other_h1["text"] != "Hello from sekisho"
    # sekisho logged the browser's request with the alias as Host.
    e = sk.wait_log(lambda e: e.get("path") == "/" and e.get("status") == 200)
    assert e["host"].split(":")[0] == "site.test"
    assert e["distribution"] == "s"


def test_redis_set_get(redis_server):
    assert redis_server.url == "redis://127.0.0.1:%d/0" % redis_server.port
    assert redis_server.cli("PING").strip() == "PONG"
    assert redis_server.cli("SET", "smoke:key", "value 1").strip() == "OK"
    assert redis_server.cli("GET", "smoke:key").strip() == "value 1"
    assert redis_server.cli("GET", "smoke:absent").strip() == ""
    # Stop and start on the same port: without persistence the value is gone, the port answers again.
    pid = redis_server.pid
    redis_server.stop()
    with pytest.raises(RuntimeError):
        redis_server.cli("PING")
    redis_server.start()
    assert redis_server.pid != pid
    assert redis_server.cli("PING").strip() == "PONG"
    assert redis_server.cli("GET", "smoke:key").strip() == ""
