"""The documentation a clone carries stays true to the code (issue 9 item 12).

- docs/configuration.md names every key the configuration reader accepts: the key lists are read from
  src/config/*.c (the `static const char *const ...[] = { "key", ..., NULL }` tables each section checks
  unknown keys against, and the auth-method table), so a key added to the reader without a line in the
  reference fails here.
- Every relative link in README.md and docs/**/*.md leads to a file or folder of the repository, and none
  leads outside it (a clone has no ../shared/).
"""

import glob
import os
import re

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def read(path):
    with open(os.path.join(REPO, path), encoding="utf-8") as f:
        return f.read()


def reader_keys():
    keys = set()
    for path in glob.glob(os.path.join(REPO, "src", "config", "*.c")):
        with open(path, encoding="utf-8") as f:
            src = f.read()
        for m in re.finditer(r"static const char \*const (\w+)\[\] = \{(.*?)\};", src, re.S):
            if m.group(1) == "managed_headers":  # header names refused in origin headers, not keys
                continue
            keys.update(re.findall(r'"([^"]+)"', m.group(2)))
        keys.update(re.findall(r'\.name = "([a-z_]+)"', src))  # auth methods
    return keys


def documented_words(md):
    """Identifiers written in `code` spans or headings (fenced examples do not count as documentation)."""
    md = re.sub(r"```.*?```", "", md, flags=re.S)
    spans = re.findall(r"`([^`]+)`", md) + re.findall(r"(?m)^#+ (.*)$", md)
    words = set()
    for s in spans:
        words.update(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", s))
    return words


def test_configuration_reference_names_every_key():
    keys = reader_keys()
    # The reader's tables were found (a refactoring that hides them must update this test).
    assert {"workers", "listeners", "origins", "distributions", "servers", "aliases", "unlock_time",
            "client_cert", "max_retry"} <= keys, sorted(keys)
    words = documented_words(read("docs/configuration.md"))
    missing = sorted(k for k in keys if k not in words)
    assert not missing, "keys accepted by src/config/ but not described in docs/configuration.md: %s" % missing


def test_doc_links_stay_inside_the_repository():
    pages = ["README.md"] + [os.path.relpath(p, REPO) for p in
                             glob.glob(os.path.join(REPO, "docs", "**", "*.md"), recursive=True)]
    assert "docs/configuration.md" in pages and "docs/cookbook.md" in pages and "docs/README.md" in pages
    bad = []
    for page in pages:
        text = read(page)
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if re.match(r"[a-z]+:", target):
                continue  # an absolute URL
            path = os.path.normpath(os.path.join(REPO, os.path.dirname(page), target))
            if not path.startswith(REPO + os.sep) or not os.path.exists(path):
                bad.append("%s -> %s" % (page, target))
        if "../shared/" in text:
            bad.append("%s names ../shared/, which a clone does not have" % page)
    assert not bad, bad
