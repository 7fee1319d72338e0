"""Shared pieces of the browser tests: the real kit as a subprocess, Debian's Chromium
through Playwright, and the checks every page state gets (axe-core, layout shift,
screenshots into ``tests/artifacts/``).

axe-core comes from the npm registry, pinned by the Makefile's test set-up into
``.venv/npm``; without it the accessibility check skips and says why (CI, with
``NAPEKIT_REQUIRE_BROWSER=1``, fails instead).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("NAPEKIT_CHROMIUM", "/usr/bin/chromium"))
REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
SPEED = 30  # the simulated kit's clock runs 30 times real time
PHONE = {"width": 360, "height": 740}
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

# CI sets NAPEKIT_REQUIRE_BROWSER=1 (and installs chromium): there a missing browser is a
# failure, not a quiet skip. A developer without chromium sees the tests skipped, saying why.
if not CHROMIUM.exists() and os.environ.get("NAPEKIT_REQUIRE_BROWSER") == "1":
    raise RuntimeError(f"NAPEKIT_REQUIRE_BROWSER=1 but there is no chromium at {CHROMIUM}")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason=f"browser tests need Debian's chromium at {CHROMIUM} "
                              "(apt-get install chromium)"),
]

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="browser tests need the playwright package (pip install "
                                  "playwright; its own browser download is not needed)")
expect = sync_api.expect


# -- the real kit as a subprocess -----------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen | None, deadline_s: float,
                  log: Path | None = None) -> None:
    end = time.monotonic() + deadline_s
    last = ""
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            text = log.read_text(errors="replace")[-3000:] if log else ""
            raise AssertionError(f"the kit exited with {proc.returncode}:\n{text}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as r:
                body = r.read().decode()
                if r.status == 200 and '"daemon":true' in body.replace(" ", ""):
                    return
                last = body
        except (OSError, urllib.error.URLError) as exc:
            last = str(exc)
        time.sleep(0.1)
    text = log.read_text(errors="replace")[-3000:] if log else ""
    raise AssertionError(f"{url}/healthz not healthy in {deadline_s} s ({last}):\n{text}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # Ctrl-C: both processes stop, heat off
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


class Kit:
    def __init__(self, url: str, proc: subprocess.Popen, data_dir: Path, log: Path) -> None:
        self.url = url
        self.proc = proc
        self.data_dir = data_dir
        self.log = log


@contextlib.contextmanager
def start_kit(prefix: str = "nkb-") -> Iterator[Kit]:
    """``napekit run --sim --speed 30`` on a free loopback port, with its own data dir."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))  # short: the control socket lives here
    port = _free_port()
    log = tmp / "kit.log"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("NAPEKIT_SOCKET", None)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "firmware", "run", "--sim", "--speed", str(SPEED),
             "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(tmp / "data")],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, 30.0, log)
        yield Kit(url, proc, tmp / "data", log)
    finally:
        _stop(proc)
        _print_faults(log)
        shutil.rmtree(tmp, ignore_errors=True)


def _print_faults(log: Path) -> None:
    """The faults the kit latched, into the test's captured output (shown when a test of
    this kit fails: a fault nobody injected is the first thing to look at)."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return
    for line in lines:
        if "FAULT" in line or "late" in line:
            print("kit log:", line)


# -- the browser ----------------------------------------------------------------------------
def launch_browser() -> Iterator[object]:
    """Debian's Chromium, headless, with HOME and XDG dirs of its own (a generator)."""
    home = Path(tempfile.mkdtemp(prefix="nkb-home-"))
    env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_CACHE_HOME=str(home / ".cache"), XDG_DATA_HOME=str(home / ".local/share"),
               XDG_RUNTIME_DIR=str(home / "run"))
    (home / "run").mkdir(mode=0o700)
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, env=env,
                              timeout=30_000)
        try:
            yield b
        finally:
            b.close()
    shutil.rmtree(home, ignore_errors=True)


class Watch:
    """Console errors, script errors and every request a page makes."""

    def __init__(self, page) -> None:
        self.console: list[str] = []
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on("console", lambda m: self.console.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: self.requests.append(r.url))

    def foreign(self, base: str) -> list[str]:
        return [u for u in self.requests if not (u == base or u.startswith(base + "/"))]


def _shot(page, name: str, *, full: bool = False) -> Path:
    """What the phone shows (``full``: the whole page; sticky bars then sit mid-page)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full)
    return path


def _no_sideways_scroll(page, width: int) -> None:
    sw = page.evaluate("document.documentElement.scrollWidth")
    assert sw <= width, f"{page.url}: content is {sw} px wide in a {width} px viewport"


def _pair(page) -> None:
    """Pair through the virtual kit, as a newcomer would: Pair, then the kit's Hold."""
    page.get_by_role("button", name="Pair this phone").click()
    expect(page.locator("#pair-code")).to_have_text(re.compile(r"^\d{4}$"))
    expect(page.locator("#simkit")).to_have_attribute("open", "")
    page.locator("#sim-hold").click()




# -- driving the kit as the paired phone does ------------------------------------------------
def kit_call(kit: Kit, context, method: str, path: str, body=None) -> dict:
    """An API call with the browser context's pairing (its token as Bearer)."""
    import json

    token = next(c["value"] for c in context.cookies() if c["name"] == "napekit_token")
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(kit.url + path, data=data, method=method,
                                 headers={"Authorization": f"Bearer {token}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"null")


def sim_call(kit: Kit, method: str, path: str, body=None) -> dict:
    """The virtual kit (no pairing: it stands for touching the kit)."""
    import json

    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(kit.url + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"null")


def wait_status(kit: Kit, context, check, deadline_s: float = 60.0) -> dict:
    end = time.monotonic() + deadline_s
    status: dict = {}
    while time.monotonic() < end:
        status = kit_call(kit, context, "GET", "/api/status")
        if check(status):
            return status
        time.sleep(0.2)
    raise AssertionError(f"the kit never reached the state wanted; last: {status}")


# -- what every page state is checked for ------------------------------------------------------
AXE = REPO / ".venv" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
CLS_LIMIT = 0.05
# After the first data: long enough for the late pieces (the summary's record, the chart,
# fonts) to land locally, which they do in tens of milliseconds.
SETTLE_MS = 700

# Sums layout shifts not caused by a tap (as Lighthouse's CLS does), from the first paint.
CLS_OBSERVER = """
window.__nkShift = 0; window.__nkShifts = [];
try {
  new PerformanceObserver(function (list) {
    list.getEntries().forEach(function (e) {
      if (e.hadRecentInput) return;
      window.__nkShift += e.value;
      window.__nkShifts.push({value: e.value, at_ms: Math.round(e.startTime),
        nodes: (e.sources || []).map(function (s) {
          var n = s.node;
          if (n && n.nodeType === 3) n = n.parentNode;
          return (n ? (n.id || n.className || n.nodeName) : "?") + " y " +
            Math.round(s.previousRect.y) + "->" + Math.round(s.currentRect.y) + " h " +
            Math.round(s.previousRect.height) + "->" + Math.round(s.currentRect.height);
        })});
    });
  }).observe({type: "layout-shift", buffered: true});
} catch (e) {}
"""


def new_context(browser, width: int, scheme: str, storage_state: dict | None = None,
                **options):
    """A phone-sized context; ``storage_state`` carries an earlier pairing's cookies;
    ``options`` go to Playwright (e.g. ``user_agent``)."""
    context = browser.new_context(viewport={"width": width, "height": 740},
                                  device_scale_factor=1, locale="en-GB", color_scheme=scheme,
                                  storage_state=storage_state, **options)
    context.set_default_timeout(15_000)
    context.add_init_script(CLS_OBSERVER)
    return context


def wait_ready(page) -> None:
    """The page has drawn its data (app.js removes body.loading)."""
    page.wait_for_function("() => !document.body.classList.contains('loading')")


def layout_shift(page) -> tuple[float, list]:
    return page.evaluate("[window.__nkShift || 0, window.__nkShifts || []]")


def axe_violations(page) -> list[dict]:
    if not AXE.exists():
        if os.environ.get("NAPEKIT_REQUIRE_BROWSER") == "1":
            raise AssertionError(f"axe-core is missing at {AXE}: run make test's set-up")
        pytest.skip(f"axe-core is not installed at {AXE} (make test installs it with npm)")
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
    }""")
    return result


def check_state(page, name: str, *, full: bool = False) -> dict:
    """Settle, then: a screenshot, no axe-core violation, layout shift within the limit."""
    wait_ready(page)
    page.wait_for_timeout(SETTLE_MS)
    _shot(page, name, full=full)
    violations = axe_violations(page)
    shift, shifts = layout_shift(page)
    assert violations == [], f"{name}: axe-core found {violations}"
    assert shift <= CLS_LIMIT, f"{name}: layout shift {shift:.3f} > {CLS_LIMIT}: {shifts}"
    return {"state": name, "cls": round(shift, 4), "axe": len(violations)}
