"""The pages in a real Chromium, against the real kit (``napekit run --sim``).

What a newcomer does, at a 360 x 740 phone viewport: open the page (no script errors,
nothing fetched from anywhere but the kit), pair through the virtual kit's Hold button,
set 41.5 °C and a 3-minute warm-up in Settings, start, watch the temperature rise into
the warm-up, skip to the massage with Next, see a stage advance by itself, stop; then
the session in History and the Guide. Also: no sideways scrolling at 320 px, and the page
riding out a daemon restart ("Reconnecting…", then live again).

Screenshots of each step go to ``tests/artifacts/`` (gitignored) for a person to look at.

Needs Debian's ``chromium`` (``/usr/bin/chromium``, installed by ``.ci/run``) and the
``playwright`` Python package; without either, these tests skip and say why. Playwright's
own browser download is never used.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser_tools import (
    PHONE,
    REPO,
    SPEED,
    Kit,
    Watch,
    _free_port,
    _no_sideways_scroll,
    _pair,
    _shot,
    _stop,
    _wait_healthy,
    expect,
    kit_call,
    launch_browser,
    start_kit,
    wait_ready,
)
from tests.browser_tools import pytestmark as pytestmark


@pytest.fixture(scope="module")
def kit() -> Iterator[Kit]:
    with start_kit() as k:
        yield k


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    yield from launch_browser()


# -- the walk-through -------------------------------------------------------------------------
def test_newcomer_pairs_sets_starts_follows_and_stops(kit: Kit, browser) -> None:
    context = browser.new_context(viewport=PHONE, device_scale_factor=1, locale="en-GB",
                                  color_scheme="light")
    context.set_default_timeout(15_000)
    page = context.new_page()
    watch = Watch(page)
    try:
        # 1. First visit: the pairing screen and the virtual kit; nothing from elsewhere.
        page.goto(kit.url + "/")
        expect(page.get_by_role("heading", name="Pair this phone")).to_be_visible()
        expect(page.locator("#simkit")).to_be_visible()
        expect(page.locator("#content")).to_be_hidden()
        expect(page.get_by_role("main")).to_be_visible()  # the pairing screen is the main
        wait_ready(page)
        page.wait_for_timeout(500)
        _shot(page, "01-first-visit")
        assert watch.errors == [], watch.errors
        assert watch.console == [], f"console errors on a first visit: {watch.console}"

        # 2. Pair with the virtual kit's Hold button.
        page.get_by_role("button", name="Pair this phone").click()
        expect(page.locator("#pair-code")).to_have_text(re.compile(r"^\d{4}$"))
        expect(page.get_by_text("Now hold the kit's button for 2 seconds.")).to_be_visible()
        _shot(page, "02-pairing-code", full=True)
        page.locator("#sim-hold").click()
        expect(page.locator("#state-word")).to_have_attribute("data-state", "idle")
        cookies = {c["name"]: c for c in context.cookies()}
        assert cookies["napekit_token"]["httpOnly"] is True
        assert cookies["napekit_csrf"]["httpOnly"] is False
        expect(page.locator("#btn-start")).to_be_enabled()
        expect(page.locator("#btn-stop")).to_be_disabled()
        _shot(page, "03-paired-now")

        # 3. Settings: 41.5 °C with the + button, a 3-minute warm-up; a bad stage time is
        #    refused by the kit and the error shows next to that field.
        page.get_by_role("link", name="Settings").click()
        target = page.get_by_label("Target temperature", exact=True)
        expect(target).to_have_value("40.0")
        raise_target = page.get_by_role("button", name="Raise the target by 0.5 °C")
        for _ in range(3):
            raise_target.click()
        expect(target).to_have_value("41.5")
        # A short warm-up; not 1 min: that is 2 s here, which would race the Next tap.
        page.get_by_label("Warm-up, after the pad is warm").fill("3")
        first_stage = page.locator("#stage-fields input").first
        first_stage.fill("5")
        page.get_by_role("button", name="Save").click()
        stage_error = page.locator("#stage-fields .field-error").first
        expect(stage_error).to_be_visible()
        expect(stage_error).to_contain_text("10")
        expect(first_stage).to_have_attribute("aria-invalid", "true")
        _shot(page, "04-settings-error")
        first_stage.fill("60")
        page.get_by_role("button", name="Save").click()
        expect(page.locator("#save-msg")).to_have_text("Saved.")
        expect(stage_error).to_be_hidden()
        _shot(page, "05-settings-saved")
        page.reload()
        expect(page.get_by_label("Target temperature", exact=True)).to_have_value("41.5")
        expect(page.get_by_label("Warm-up, after the pad is warm")).to_have_value("3")

        # 4. Start from Now: the safety notes come first, then the pad heats.
        page.get_by_role("link", name="Now", exact=True).click()
        expect(page.locator("#target")).to_have_text("41.5")
        start_temp = float(page.locator("#temp").inner_text())
        page.get_by_role("button", name="Start", exact=True).click()
        dialog = page.get_by_role("dialog", name="Before your first session")
        expect(dialog).to_be_visible()
        expect(dialog.locator("li").first).to_contain_text("relief")
        _shot(page, "06-first-start-safety")
        page.get_by_role("button", name="I have read this: start").click()
        expect(page.locator("#state-word")).to_have_attribute("data-state", "preheat")
        expect(page.locator("#relay")).to_have_text("heating")
        expect(page.locator("#chart-card")).to_be_visible()
        expect(page.locator("#first-note")).to_be_hidden()  # "New here?" only when idle
        expect(page.locator(".phase-strip [aria-current=step]")).to_have_text("Heating")
        expect(page.locator("#dose-text")).to_contain_text("Heat dose")
        assert page.evaluate("document.body.dataset.live") == "events"
        page.wait_for_function(
            "t => parseFloat(document.getElementById('temp').textContent) > t + 3",
            arg=start_temp, timeout=20_000)
        expect(page.locator("#chart path.line")).to_have_count(1)
        _shot(page, "07-preheat-rising")
        page.locator("#chart-card").evaluate("e => e.scrollIntoView({block: 'start'})")
        _shot(page, "07b-preheat-chart")
        page.evaluate("window.scrollTo(0, 0)")
        expect(page.locator("#state-word")).to_have_attribute("data-state", "warmup",
                                                              timeout=30_000)
        expect(page.locator("#ring-text")).to_have_text(re.compile(r"^\d+:\d\d$"))
        _shot(page, "08-warmup")

        # 5. Next skips to the massage; a stage advances by itself (auto-advance); stop.
        # Skipping the heat asks first, in a dialog: Keep heating changes nothing.
        next_btn = page.locator("#btn-next")
        expect(next_btn).to_have_accessible_name("Skip heating")
        next_btn.click()
        skip = page.get_by_role("dialog", name="Skip the heating?")
        expect(skip).to_be_visible()
        page.get_by_role("button", name="Keep heating").click()
        expect(skip).to_be_hidden()
        expect(page.locator("#state-word")).to_have_attribute("data-state", "warmup")
        next_btn.click()
        page.get_by_role("button", name="Yes, skip heating").click()
        expect(page.locator("#state-word")).to_have_attribute("data-state", "ready")
        expect(page.locator("#relay")).to_have_text("heat off")
        # Ready: the text names the button that does it, and that button is enabled.
        expect(page.locator("#state-sub")).to_contain_text("Start massage")
        start_massage = page.get_by_role("button", name="Start massage")
        expect(start_massage).to_be_enabled()
        expect(next_btn).to_be_disabled()
        _shot(page, "08b-ready")
        start_massage.click()
        expect(page.locator("#state-word")).to_have_attribute("data-state", "massage")
        expect(page.locator("#stage-count")).to_have_text("Stage 1 of 5")
        expect(page.locator("#stage-title")).to_have_text("Gliding strokes")
        expect(next_btn).to_have_accessible_name("Next stage")
        _shot(page, "09-massage-stage-1")
        next_btn.click()
        expect(page.locator("#stage-count")).to_have_text("Stage 2 of 5")
        expect(page.locator("#stage-title")).to_have_text("Left shoulder knead")
        expect(page.locator("#stage-caution")).to_be_visible()
        # 60 s of kit time is 2 s here: the next stage comes by itself.
        expect(page.locator("#stage-count")).to_have_text("Stage 3 of 5", timeout=10_000)
        expect(page.locator("#stage-title")).to_have_text("Right shoulder knead")
        _shot(page, "10-massage-stage-3")
        page.locator("#btn-stop").click()
        expect(page.locator("#state-word")).to_have_attribute("data-state", "idle")
        expect(page.locator("#btn-start")).to_be_enabled()
        # The session's summary stays (whole curve, stages done) until dismissed.
        summary = page.locator("#summary-card")
        expect(summary).to_be_visible()
        expect(page.locator("#summary-title")).to_have_text("Session stopped")
        expect(page.locator("#summary-stages")).to_contain_text("Left shoulder knead")
        expect(summary.locator("path.line")).to_have_count(1)
        _shot(page, "11-stopped-summary")
        page.wait_for_timeout(6000)  # longer than the kit's 5 s "done"
        expect(summary).to_be_visible()
        page.get_by_role("button", name="Dismiss").click()
        expect(summary).to_be_hidden()
        _shot(page, "11b-stopped")

        # 6. History shows the session with its curve; the Guide shows the routine.
        page.get_by_role("link", name="History").click()
        first = page.locator("#sessions .session").first
        expect(first).to_contain_text("Stopped before the end")
        expect(first).to_contain_text("41.5 °C")
        first.get_by_role("button").click()
        expect(first.locator("svg.chart path.line")).to_have_count(1)
        _shot(page, "12-history", full=True)
        page.get_by_role("link", name="Guide").click()
        expect(page.locator("#safety li")).to_have_count(5)
        expect(page.locator("#stages li")).to_have_count(5)
        _shot(page, "13-guide", full=True)

        assert watch.errors == [], watch.errors
        # Chrome logs every 4xx answer; the one refused save above is the only one expected.
        unexpected = [m for m in watch.console if "status of 400" not in m]
        assert unexpected == [], unexpected
        assert watch.foreign(kit.url) == [], "requests outside the kit"
    finally:
        context.close()


def test_no_sideways_scrolling_at_320px(kit: Kit, browser) -> None:
    context = browser.new_context(viewport={"width": 320, "height": 640},
                                  device_scale_factor=1, color_scheme="dark")
    context.set_default_timeout(15_000)
    page = context.new_page()
    watch = Watch(page)
    try:
        page.goto(kit.url + "/pair")
        page.locator("#simkit summary").click()
        _no_sideways_scroll(page, 320)
        _pair(page)
        expect(page.locator("#state-word")).to_have_attribute("data-state", "idle")
        for path in ("/", "/settings", "/history", "/guide", "/pair"):
            page.goto(kit.url + path)
            wait_ready(page)
            page.locator("#simkit summary").click()
            _no_sideways_scroll(page, 320)
        page.goto(kit.url + "/settings")
        expect(page.locator("#stage-fields input")).to_have_count(5)
        _no_sideways_scroll(page, 320)
        _shot(page, "14-settings-320-dark")
        page.goto(kit.url + "/")
        expect(page.locator("#state-word")).to_have_attribute("data-state", "idle")
        _shot(page, "15-now-320-dark")
        assert watch.errors == [], watch.errors
        assert watch.foreign(kit.url) == []
    finally:
        context.close()


def test_a_reload_while_the_summary_loads_still_brings_it_back(kit: Kit, browser) -> None:
    """The session ends and the page reloads before the session's record has arrived
    (a slow network): the reloaded page shows the summary all the same."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=1)
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        page.goto(kit.url + "/")
        _pair(page)
        expect(page.locator("#state-word")).to_have_attribute("data-state", "idle")
        page.evaluate("localStorage.setItem('napekit.guide_seen', '1')")
        kit_call(kit, context, "POST", "/api/session/start", {})
        expect(page.locator("#state-word")).to_have_attribute("data-state", "preheat")
        held = []
        page.route(re.compile(r".*/api/sessions(\?.*)?$"), lambda route: held.append(route))
        kit_call(kit, context, "POST", "/api/session/stop", {})
        expect(page.locator("#summary-card")).to_be_visible()  # shown, still loading
        page.wait_for_function("() => sessionStorage.getItem('napekit.summary') !== null")
        page.unroute(re.compile(r".*/api/sessions(\?.*)?$"))  # the held request goes on
        assert held, "the record's request was held"
        page.reload()
        expect(page.locator("#summary-title")).to_have_text("Session stopped")
        expect(page.locator("#summary-card")).to_be_visible()
        expect(page.locator("#summary-facts")).to_contain_text("Stopped before the end")
    finally:
        context.close()


def test_fault_shows_and_a_long_press_clears_it(kit: Kit, browser) -> None:
    """A thermistor wire cut while heating: heat off, the banner says why and how to clear
    it; a long press while the wire is still cut is refused and the kit says why (page and
    virtual kit); the long press clears it once the wire is back."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=1)
    context.set_default_timeout(15_000)
    page = context.new_page()
    watch = Watch(page)
    try:
        page.goto(kit.url + "/")
        _pair(page)
        expect(page.locator("#state-word")).to_have_attribute("data-state", "idle")
        page.get_by_role("button", name="Start", exact=True).click()
        page.get_by_role("button", name="I have read this: start").click()
        expect(page.locator("#state-word")).to_have_attribute("data-state", "preheat")
        page.locator("#simkit summary").click()
        page.get_by_label("Inject a fault").select_option("thermistor_open")
        page.get_by_role("button", name="Inject", exact=True).click()
        expect(page.locator("#state-word")).to_have_attribute("data-state", "fault")
        banner = page.locator("#fault")
        expect(banner).to_contain_text("thermistor")
        # Never a stale number: the cut sensor says so; the big one is sensor 2's, live.
        expect(page.locator("#sensors")).to_contain_text("Sensor 1: no reading")
        expect(banner).to_contain_text("hold the kit's button for 2 seconds to clear it")
        expect(page.locator("#relay")).to_have_text("heat off")
        expect(page.locator("#btn-start")).to_be_disabled()
        page.evaluate("window.scrollTo(0, 0)")
        _shot(page, "19-fault")
        # A long press while the wire is still cut: refused, and the kit says why.
        page.locator("#sim-hold").click()
        expect(page.locator("#fault-refused")).to_contain_text("out of range")
        expect(page.locator("#sim-refused")).to_contain_text("out of range")
        expect(page.locator("#state-word")).to_have_attribute("data-state", "fault")
        _shot(page, "19b-fault-clear-refused")
        page.get_by_role("button", name="Remove all injected faults").click()
        expect(page.locator("#sim-faults")).to_have_text("none")
        page.locator("#sim-hold").click()
        expect(page.locator("#state-word")).to_have_attribute("data-state", "idle")
        expect(page.locator("#fault")).to_be_hidden()
        expect(page.locator("#sim-refused")).to_be_hidden()
        assert watch.errors == []
    finally:
        context.close()


def test_one_time_link_pairs_once(kit: Kit, browser) -> None:
    """``napekit pair`` prints /pair#<secret>; opening it pairs that phone, once."""
    out = subprocess.run(
        [sys.executable, "-m", "firmware", "pair", "--json", "--url", kit.url,
         "--socket", str(kit.data_dir / "control.sock")],
        cwd=REPO, capture_output=True, text=True, timeout=20, check=True)
    link = json.loads(out.stdout)["url"]
    assert "/pair#" in link
    for attempt in ("first", "again"):
        context = browser.new_context(viewport=PHONE, device_scale_factor=1)
        context.set_default_timeout(15_000)
        page = context.new_page()
        watch = Watch(page)
        try:
            page.goto(link)
            if attempt == "first":
                expect(page.locator("#state-word")).to_have_attribute("data-state", re.compile("."))
                expect(page).to_have_url(kit.url + "/")
                assert "napekit_token" in {c["name"] for c in context.cookies()}
            else:
                expect(page.locator("#pair-msg")).to_contain_text("used already")
                expect(page.get_by_role("button", name="Pair this phone")).to_be_visible()
                _shot(page, "18-link-used")
            assert watch.errors == []
        finally:
            context.close()


# -- riding out a daemon restart ---------------------------------------------------------------
@contextlib.contextmanager
def _process(cmd: list[str], log: Path, env: dict[str, str]) -> Iterator[subprocess.Popen]:
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        _stop(proc)


def test_page_rides_out_a_daemon_restart(browser) -> None:
    """The daemon and the web as separate processes (as the systemd units run them): the
    daemon dies, the page says it is reconnecting, the daemon comes back, the page is
    live again without a reload, still paired."""
    tmp = Path(tempfile.mkdtemp(prefix="nkr-"))
    sock = tmp / "control.sock"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp / "kit.log"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    daemon_cmd = [sys.executable, "-m", "firmware", "daemon", "--sim", "--speed", str(SPEED),
                  "--data-dir", str(tmp / "data"), "--socket", str(sock)]
    web_cmd = [sys.executable, "-m", "web", "--socket", str(sock), "--host", "127.0.0.1",
               "--port", str(port)]
    context = browser.new_context(viewport=PHONE, device_scale_factor=1)
    context.set_default_timeout(15_000)
    page = context.new_page()
    watch = Watch(page)
    try:
        with _process(web_cmd, log, env) as web:
            with _process(daemon_cmd, log, env):
                _wait_healthy(url, web, 30.0, log)
                page.goto(url + "/")
                _pair(page)
                expect(page.locator("#state-word")).to_have_attribute("data-state", "idle")
            # the daemon is gone; the web still answers
            expect(page.locator("#conn")).to_have_text("Reconnecting…")
            expect(page.locator("#state-word")).to_have_text("Reconnecting…")
            expect(page.locator("#btn-start")).to_be_disabled()
            _shot(page, "16-reconnecting")
            with _process(daemon_cmd, log, env):
                expect(page.locator("#state-word")).to_have_attribute("data-state", "idle",
                                                                      timeout=20_000)
                expect(page.locator("#conn")).to_have_text("")
                expect(page.locator("#btn-start")).to_be_enabled()
                _shot(page, "17-reconnected")
        assert watch.errors == [], watch.errors
    finally:
        context.close()
        shutil.rmtree(tmp, ignore_errors=True)
