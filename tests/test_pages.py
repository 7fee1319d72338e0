"""The page shells and static files (``web.pages``), through Flask's test client.

The shells render with no pairing and no daemon (they hold no private data); nothing in
them runs inline (the CSP forbids it); nothing points outside the kit; a first visit
weighs under 150 KB; every element a page script looks up by id is in that page.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest

WEB = Path(__file__).resolve().parents[1] / "web"
TEMPLATES = WEB / "templates"
STATIC = WEB / "static"
PAGES = {"/": "now", "/settings": "settings", "/history": "history", "/guide": "guide",
         "/pair": "pair"}
PAGE_SCRIPT = {"now": "now.js", "settings": "settings.js", "history": "history.js",
               "guide": "guide.js"}
FIRST_VISIT_LIMIT = 150 * 1024
SVG_NS = "http://www.w3.org/2000/svg"  # a namespace name, never fetched


@pytest.fixture
def client(tmp_path):
    try:
        from web import create_app
    except ImportError:  # the backend's factory is not there: the blueprint alone
        from flask import Flask

        from web.pages import bp

        app = Flask("web", static_folder=None)
        app.register_blueprint(bp)
    else:
        # No daemon at all behind this socket: the shells must not need one.
        app = create_app({"TESTING": True, "SOCKET": str(tmp_path / "absent.sock")})
    return app.test_client()


class Page(HTMLParser):
    """What a shell refers to, and anything inline in it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.assets: list[str] = []
        self.ids: set[str] = set()
        self.inline_scripts = 0
        self.style_blocks = 0
        self.style_attrs: list[str] = []
        self.handlers: list[str] = []
        self._in_script = False
        self._script_text = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if "style" in a:
            self.style_attrs.append(tag)
        self.handlers += [k for k in a if k.startswith("on")]
        if tag == "script":
            if a.get("src"):
                self.assets.append(a["src"])
            self._in_script = True
            self._script_text = ""
            if not a.get("src"):
                self.inline_scripts += 1
        elif tag == "style":
            self.style_blocks += 1
        elif tag == "link" and a.get("href"):
            self.assets.append(a["href"])
        elif tag == "img" and a.get("src"):
            self.assets.append(a["src"])

    def handle_endtag(self, tag):
        if tag == "script":
            if self._script_text.strip():
                self.inline_scripts += 1
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self._script_text += data


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    return page


@pytest.mark.parametrize("path", sorted(PAGES))
def test_shell_renders_without_pairing_or_daemon(client, path):
    r = client.get(path)
    assert r.status_code == 200
    assert r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    assert f'data-page="{PAGES[path]}"' in html
    assert "<title>" in html and "napekit" in html
    assert 'name="viewport"' in html
    # the navigation and the virtual kit panel (shown by script only in simulation)
    for link in ("/", "/history", "/guide", "/settings"):
        assert f'href="{link}"' in html
    assert 'id="simkit"' in html and 'id="pair-start"' in html


@pytest.mark.parametrize("path", sorted(PAGES))
def test_nothing_inline_for_the_csp(client, path):
    page = parse(client.get(path).get_data(as_text=True))
    assert page.inline_scripts == 0
    assert page.style_blocks == 0
    assert page.style_attrs == []
    assert page.handlers == []


@pytest.mark.parametrize("path", sorted(PAGES))
def test_assets_are_served_and_versioned(client, path):
    page = parse(client.get(path).get_data(as_text=True))
    assert page.assets
    kinds = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml",
             ".webmanifest": "application/manifest+json"}
    for url in page.assets:
        parts = urlsplit(url)
        assert parts.path.startswith("/static/") and re.fullmatch(r"v=[0-9a-f]{10}", parts.query)
        r = client.get(url)
        assert r.status_code == 200, url
        assert "immutable" in r.headers.get("Cache-Control", ""), url  # the URL names the content
        suffix = Path(parts.path).suffix
        if suffix in kinds and suffix != ".webmanifest":
            assert r.mimetype == kinds[suffix] or (suffix == ".js" and "javascript" in r.mimetype)
        r.close()


def test_shells_and_stale_versions_are_not_kept(client):
    assert "immutable" not in client.get("/").headers.get("Cache-Control", "")
    r = client.get("/static/app.js?v=0000000000")
    assert r.status_code == 200 and "immutable" not in r.headers.get("Cache-Control", "")
    r.close()


def _first_visit_bytes(client, path: str) -> tuple[int, list[str]]:
    html = client.get(path).get_data()
    page = parse(html.decode())
    total, seen = len(html), []
    queue = list(page.assets)
    while queue:
        url = queue.pop()
        if url in seen:
            continue
        seen.append(url)
        r = client.get(url)
        body = r.get_data()
        r.close()
        total += len(body)
        if url.split("?")[0].endswith(".webmanifest"):
            import json

            queue += [icon["src"] for icon in json.loads(body).get("icons", [])]
    return total, seen


def test_first_visit_is_under_150_kb(client):
    worst = max(_first_visit_bytes(client, path)[0] for path in PAGES)
    assert worst < FIRST_VISIT_LIMIT, f"a first visit weighs {worst} bytes"
    # Even every page's files together stay under the limit.
    everything = sum(p.stat().st_size for p in STATIC.rglob("*") if p.is_file())
    everything += max(len(client.get(path).get_data()) for path in PAGES)
    assert everything < FIRST_VISIT_LIMIT, f"all static files: {everything} bytes"


def test_no_external_urls_anywhere():
    url = re.compile(r"""(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}""")
    css_import = re.compile(r"@import|url\(\s*['\"]?(?:https?:|//)")
    found = []
    for path in list(TEMPLATES.rglob("*")) + list(STATIC.rglob("*")):
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        for m in url.finditer(text.replace(SVG_NS, "")):
            found.append(f"{path.name}: {m.group(0)}")
        if path.suffix == ".css" and css_import.search(text):
            found.append(f"{path.name}: @import or external url()")
    assert found == []


def test_pages_only_register_their_shells():
    from web.pages import bp

    assert bp.name == "pages"
    from flask import Flask

    app = Flask("check", static_folder=None)
    app.register_blueprint(bp)
    rules = {r.rule for r in app.url_map.iter_rules()}
    assert rules == set(PAGES) | {"/static/<path:filename>"}


def _ids_used(script: str) -> set[str]:
    text = (STATIC / script).read_text(encoding="utf-8")
    return set(re.findall(r"""\$\("([A-Za-z0-9_-]+)"\)""", text))


@pytest.mark.parametrize("path", sorted(p for p, n in PAGES.items() if n in PAGE_SCRIPT))
def test_page_script_finds_its_elements(client, path):
    page = parse(client.get(path).get_data(as_text=True))
    missing = _ids_used(PAGE_SCRIPT[PAGES[path]]) - page.ids
    assert missing == set()


@pytest.mark.parametrize("path", sorted(PAGES))
@pytest.mark.parametrize("script", ["app.js", "pairing.js", "simkit.js"])
def test_shared_script_finds_its_elements(client, path, script):
    page = parse(client.get(path).get_data(as_text=True))
    optional = {"paired"}  # only on /pair; looked up with a null check
    missing = _ids_used(script) - page.ids - optional
    assert missing == set()


def test_the_summary_script_finds_its_elements_on_now(client):
    page = parse(client.get("/").get_data(as_text=True))
    assert _ids_used("summary.js") - page.ids == set()


def test_kit_facts_come_from_the_firmware(client):
    """Limits and fault codes reach the scripts from firmware.limits / firmware.states."""
    from firmware import limits
    from firmware.states import Fault

    html = client.get("/").get_data(as_text=True)
    assert f'data-dose-limit="{limits.DOSE_LIMIT_CEM43}"' in html
    powered = re.search(r'data-powered-faults="([^"]*)"', html).group(1).split()
    assert set(powered) == {f.value for f in Fault if f.pad_powered}


def test_every_control_is_labelled(client):
    """Inputs have a <label for> or aria-label; buttons have text or aria-label."""
    for path in PAGES:
        html = client.get(path).get_data(as_text=True)
        labelled = set(re.findall(r'<label[^>]*\bfor="([^"]+)"', html))
        for m in re.finditer(r"<(input|select)\b([^>]*)>", html):
            attrs = m.group(2)
            ident = re.search(r'\bid="([^"]+)"', attrs)
            assert "aria-label=" in attrs or (ident and ident.group(1) in labelled) \
                or 'type="checkbox"' in attrs, f"{path}: unlabelled {m.group(0)}"
        for m in re.finditer(r"<button\b([^>]*)>(.*?)</button>", html, re.S):
            text = re.sub(r"<[^>]+>", "", m.group(2)).strip()
            assert text or "aria-label=" in m.group(1), f"{path}: unlabelled {m.group(0)}"
