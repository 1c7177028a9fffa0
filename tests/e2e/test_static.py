"""Static origins (`root: DIR`, DESIGN §1): files under DIR only, with validators and 304s."""

import os

import pytest
import requests

from util import RawConn, h2_request


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "www"
    (root / "sub").mkdir(parents=True)
    (root / "assets").mkdir()
    (root / "index.html").write_text("<h1>home</h1>\n")
    (root / "style.css").write_text("body { color: red }\n")
    (root / "app.js").write_text("console.log(1)\n")
    (root / "data.json").write_text('{"a": 1}\n')
    (root / "sub" / "index.html").write_text("<h1>sub</h1>\n")
    (root / "nodir").mkdir()  # a directory without index.html
    (root / "assets" / "logo.txt").write_text("logo\n")
    (root / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret\n")
    os.symlink(str(secret), str(root / "escape.txt"))
    os.symlink(str(tmp_path), str(root / "updir"))
    os.symlink("/etc/passwd", str(root / "passwd"))
    return root


def static_config(root):
    return {
        "listeners": [{"name": "web"}],
        "origins": {"site": {"root": str(root)}},
        "distributions": [{"name": "s", "aliases": ["static.test"], "behaviors": [
            {"path": "*", "origin": "site"}]}],
    }


def get(sk, path, method="GET", headers=None, **kw):
    h = {"Host": "static.test"}
    h.update(headers or {})
    if getattr(sk, "proto", None) == "h2":
        return h2_request(sk.port(), method, path, headers=h, body=kw.get("data"))
    return requests.request(method, sk.url + path, headers=h, timeout=10, allow_redirects=False, **kw)


def ctype(r):
    return r.headers.get("Content-Type", "").split(";")[0].strip().lower()


def test_index_at_root(sekisho, site, proto):
    sk = sekisho(static_config(site))
    r = get(sk, "/")
    assert r.status_code == 200
    assert r.text == "<h1>home</h1>\n"
    assert ctype(r) == "text/html"
    assert r.headers.get("Content-Length") == str(len("<h1>home</h1>\n"))


def test_content_types(sekisho, site, proto):
    sk = sekisho(static_config(site))
    assert ctype(get(sk, "/style.css")) == "text/css"
    assert ctype(get(sk, "/index.html")) == "text/html"
    assert ctype(get(sk, "/app.js")) == "text/javascript"
    assert ctype(get(sk, "/data.json")) == "application/json"
    assert get(sk, "/style.css").text == "body { color: red }\n"


def test_subdir_index_and_redirect(sekisho, site, proto):
    sk = sekisho(static_config(site))
    r = get(sk, "/sub/")
    assert r.status_code == 200
    assert r.text == "<h1>sub</h1>\n"
    r = get(sk, "/sub")
    assert r.status_code == 301
    assert r.headers["Location"].endswith("/sub/")
    r = get(sk, "/sub?x=1")
    assert r.status_code == 301
    assert r.headers["Location"].endswith("/sub/?x=1")


def test_directory_without_index_is_404_no_listing(sekisho, site):
    sk = sekisho(static_config(site))
    r = get(sk, "/nodir/")
    assert r.status_code == 404
    assert "index.html" not in r.text


def test_missing_file_404(sekisho, site, proto):
    sk = sekisho(static_config(site))
    assert get(sk, "/nope.html").status_code == 404
    assert get(sk, "/sub/nope/").status_code == 404


def test_symlinks_outside_root_are_404(sekisho, site):
    sk = sekisho(static_config(site))
    for p in ("/escape.txt", "/updir/secret.txt", "/passwd"):
        r = get(sk, p)
        assert r.status_code == 404, p
        assert "top secret" not in r.text and "root:" not in r.text


def test_etag_if_none_match_304(sekisho, site, proto):
    sk = sekisho(static_config(site))
    r = get(sk, "/style.css")
    etag = r.headers.get("ETag")
    assert etag
    r2 = get(sk, "/style.css", headers={"If-None-Match": etag})
    assert r2.status_code == 304
    assert r2.content == b""
    assert r2.headers.get("ETag") == etag
    r3 = get(sk, "/style.css", headers={"If-None-Match": '"something-else"'})
    assert r3.status_code == 200
    r4 = get(sk, "/style.css", headers={"If-None-Match": "*"})
    assert r4.status_code == 304


def test_last_modified_if_modified_since_304(sekisho, site, proto):
    sk = sekisho(static_config(site))
    r = get(sk, "/style.css")
    lm = r.headers.get("Last-Modified")
    assert lm and lm.endswith("GMT")
    r2 = get(sk, "/style.css", headers={"If-Modified-Since": lm})
    assert r2.status_code == 304
    assert r2.content == b""
    r3 = get(sk, "/style.css", headers={"If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"})
    assert r3.status_code == 200


def test_file_change_changes_etag(sekisho, site):
    sk = sekisho(static_config(site))
    etag = get(sk, "/style.css").headers["ETag"]
    (site / "style.css").write_text("body { color: blue; margin: 0 }\n")
    os.utime(site / "style.css", (1, 1))
    r = get(sk, "/style.css", headers={"If-None-Match": etag})
    assert r.status_code == 200
    assert r.text == "body { color: blue; margin: 0 }\n"


def test_head(sekisho, site):
    sk = sekisho(static_config(site))
    with RawConn(sk.port()) as c:
        c.send(b"HEAD /style.css HTTP/1.1\r\nHost: static.test\r\n\r\n")
        r = c.read_response(method="HEAD")
        assert r.status == 200
        assert r.header("Content-Length") == str(len("body { color: red }\n"))
        assert r.header("ETag")
        # Nothing follows the head: the next response parses cleanly.
        c.send(b"GET /index.html HTTP/1.1\r\nHost: static.test\r\n\r\n")
        r2 = c.read_response()
        assert r2.status == 200 and r2.body == b"<h1>home</h1>\n"


def test_post_is_405(sekisho, site, proto):
    sk = sekisho(static_config(site))
    r = get(sk, "/index.html", method="POST", data=b"x=1")
    assert r.status_code == 405
    allow = r.headers.get("Allow", "")
    assert "GET" in allow and "HEAD" in allow
    for m in ("PUT", "DELETE"):
        assert get(sk, "/index.html", method=m).status_code == 405


def test_large_file(sekisho, site):
    sk = sekisho(static_config(site))
    r = get(sk, "/big.bin")
    assert r.status_code == 200
    assert r.content == (site / "big.bin").read_bytes()


def test_range_not_required_but_no_corruption(sekisho, site):
    sk = sekisho(static_config(site))
    r = get(sk, "/style.css", headers={"Range": "bytes=0-3"})
    if r.status_code == 206:
        assert r.content == b"body"
    else:
        assert r.status_code == 200
        assert r.text == "body { color: red }\n"


def test_whole_path_maps_under_root_without_prefix_stripping(sekisho, site):
    cfg = static_config(site)
    cfg["distributions"][0]["behaviors"] = [{"path": "/assets/*", "origin": "site"}]
    sk = sekisho(cfg)
    assert get(sk, "/assets/logo.txt").text == "logo\n"  # → DIR/assets/logo.txt
    assert get(sk, "/assets/style.css").status_code == 404  # not DIR/style.css


def test_encoded_and_dotdot_paths(sekisho, site):
    sk = sekisho(static_config(site))
    assert get(sk, "/sub/../style.css").text == "body { color: red }\n"
    assert get(sk, "/%73tyle.css").status_code == 200  # %73 = 's', unreserved → decoded
    with RawConn(sk.port()) as c:
        c.send(b"GET /../secret.txt HTTP/1.1\r\nHost: static.test\r\n\r\n")
        assert c.read_response().status == 400


def test_encoded_names_queries_and_types(sekisho, site):
    (site / "a b.txt").write_text("spaced\n")
    (site / "file.unknownext").write_text("u\n")
    sk = sekisho(static_config(site))
    r = get(sk, "/a%20b.txt")
    assert r.status_code == 200 and r.text == "spaced\n"
    assert ctype(r) == "text/plain"
    r = get(sk, "/style.css?v=1")
    assert r.status_code == 200 and r.text == "body { color: red }\n"
    assert get(sk, "/style.css/").status_code == 404
    r = get(sk, "/file.unknownext")
    assert r.status_code == 200 and ctype(r) == "application/octet-stream"


def test_if_none_match_list(sekisho, site):
    sk = sekisho(static_config(site))
    etag = get(sk, "/style.css").headers["ETag"]
    assert get(sk, "/style.css", headers={"If-None-Match": '"nope", ' + etag}).status_code == 304
    # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2).
    r = get(sk, "/style.css", headers={"If-None-Match": '"nope"',
                                       "If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"})
    assert r.status_code == 200
