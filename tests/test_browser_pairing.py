"""Pairing in a real Chromium against the real kit (``napekit run --sim --speed 30``): what
the page says the kit heard when two phones ask at once (both refused), the code on the
virtual kit's panel, names at pairing and in Settings, and a removed phone told so. Each
state: a screenshot into ``tests/artifacts/``, axe-core with no violation, layout shift
within the limit.

The second phone asking is a neighbour on another address (127.0.0.2, which Linux routes
to the loopback like 127.0.0.1): the kit keeps one request per address, so a second
browser on the same address would merely replace the first one's request.
"""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.browser_tools import (
    Kit,
    Watch,
    _pair,
    check_state,
    expect,
    launch_browser,
    new_context,
    start_kit,
    wait_ready,
)
from tests.browser_tools import pytestmark as pytestmark

PIXEL_UA = ("Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0.0.0 Mobile Safari/537.36")


@pytest.fixture(scope="module")
def kit() -> Iterator[Kit]:
    with start_kit("nkp-") as k:
        yield k


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    yield from launch_browser()


def neighbour(kit: Kit, method: str, path: str, body: dict | None = None) -> dict:
    """A request from another phone on the network (source address 127.0.0.2)."""
    parts = urlsplit(kit.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10,
                                      source_address=("127.0.0.2", 0))
    try:
        data = None if body is None else json.dumps(body)
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        answer = json.loads(response.read() or b"null")
        assert response.status == 200, (response.status, answer)
        return answer
    finally:
        conn.close()


def test_two_phones_asking_are_both_refused_and_the_page_says_so(kit: Kit, browser):
    context = new_context(browser, 390, "light", user_agent=PIXEL_UA)
    page = context.new_page()
    watch = Watch(page)
    try:
        page.goto(kit.url + "/")
        wait_ready(page)
        name = page.get_by_label("Name for this phone")
        expect(name).to_have_value("Pixel 7 (Chrome)")  # a default from the browser
        name.fill("Owner's Pixel")
        page.get_by_role("button", name="Pair this phone").click()
        expect(page.locator("#pair-code")).to_have_text(re.compile(r"^\d{4}$"))
        code = page.locator("#pair-code").inner_text()

        # A neighbour asks a second later: the owner's page warns at its next poll.
        theirs = neighbour(kit, "POST", "/api/pairing", {"name": "Neighbour"})
        expect(page.locator("#pair-others")).to_be_visible()
        check_state(page, "p01-another-phone-asks", full=True)
        # The settling took seconds of real time, minutes of the kit's (--speed 30): the
        # person's minute runs on real time all the same.
        waiting = neighbour(kit, "GET", f"/api/pairing/{theirs['id']}")
        assert waiting["status"] == "pending" and waiting["expires_in_s"] > 45, waiting

        # The virtual kit's panel shows both codes and the rule, as napekit status does.
        panel = page.locator("#sim-pairing")
        expect(panel).to_contain_text(code)
        expect(panel).to_contain_text(theirs["code"])
        expect(page.locator("#sim-pair-rule")).to_have_text(
            "2 phones are asking at once: a long press refuses them all.")

        # The owner holds the kit's button: both are refused, nobody is paired.
        page.locator("#sim-hold").click()
        expect(page.locator("#pair-do")).to_have_text("Refused: two phones asked at once")
        expect(page.locator("#pair-countdown")).to_contain_text(
            "Another phone asked to pair at the same time, so the kit refused both")
        expect(page.locator("#sim-pair-last")).to_contain_text("refused")
        page.evaluate("window.scrollTo(0, 0)")
        check_state(page, "p02-refused-two-phones", full=True)
        answer = neighbour(kit, "GET", f"/api/pairing/{theirs['id']}")
        assert answer["status"] == "refused" and "token" not in answer
        assert not [c for c in context.cookies() if c["name"] == "napekit_token"]

        # Alone, the owner asks again and the press approves this phone, by its name.
        page.get_by_role("button", name="Ask again").click()
        page.get_by_role("button", name="Pair this phone").click()
        expect(page.locator("#pair-code")).to_have_text(re.compile(r"^\d{4}$"))
        expect(page.locator("#pair-others")).to_be_hidden()
        page.locator("#sim-hold").click()
        expect(page.locator("#pair-countdown")).to_contain_text(
            "The kit approved this phone as “Owner's Pixel”")
        expect(page.locator("#state-word")).to_have_attribute("data-state", "idle")
        assert watch.errors == [], watch.errors
    finally:
        context.close()


def test_a_removed_phone_is_told_it_was_removed(kit: Kit, browser):
    mine = new_context(browser, 390, "light")
    other = new_context(browser, 320, "dark")
    page, page_b = mine.new_page(), other.new_page()
    watch = Watch(page_b)
    try:
        for p, label in ((page, "Kitchen tablet"), (page_b, "Old phone")):
            p.goto(kit.url + "/")
            wait_ready(p)
            p.get_by_label("Name for this phone").fill(label)
            _pair(p)
            expect(p.locator("#state-word")).to_have_attribute("data-state", "idle")

        # Settings lists both phones by name, with when each was last seen.
        page.goto(kit.url + "/settings")
        phones = page.locator("#phones")
        expect(phones).to_contain_text("Kitchen tablet")
        expect(phones).to_contain_text("Old phone")
        expect(phones).to_contain_text("last seen")

        # A bad name is refused, naming the field, and changes nothing.
        page.get_by_role("button", name="Rename Kitchen tablet").click()
        field = page.get_by_label("New name for Kitchen tablet")
        field.fill("   ")
        page.get_by_role("button", name="Save name").click()
        expect(page.locator("#phones .field-error:not([hidden])")).to_contain_text(
            "name must be 1 to 40")
        check_state(page, "p03-rename-refused", full=True)
        field.fill("Kitchen tablet 2")
        page.get_by_role("button", name="Save name").click()
        expect(phones).to_contain_text("Kitchen tablet 2")

        # Remove the other phone (two taps), then the other phone opens a page.
        remove = page.get_by_role("button", name="Remove Old phone")
        remove.click()
        remove.click()
        expect(phones).not_to_contain_text("Old phone")
        page_b.goto(kit.url + "/settings")
        banner = page_b.locator("#pair-removed")
        expect(banner).to_be_visible()
        expect(banner).to_contain_text("This phone was removed from the kit")
        expect(page_b.get_by_role("button", name="Pair this phone")).to_be_visible()
        check_state(page_b, "p04-removed-phone")
        # It stays said after a reload (the dead cookie is gone by then).
        page_b.reload()
        wait_ready(page_b)
        expect(banner).to_be_visible()
        assert watch.errors == [], watch.errors
    finally:
        mine.close()
        other.close()


def test_default_names_come_from_the_browser(kit: Kit, browser):
    context = new_context(browser, 390, "light")
    page = context.new_page()
    try:
        page.goto(kit.url + "/pair")
        wait_ready(page)
        cases = {
            PIXEL_UA: "Pixel 7 (Chrome)",
            "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0.0.0 Mobile Safari/537.36": "Android phone (Chrome)",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1": "iPhone (Safari)",
            "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko)"
            " SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36":
                "SM-S918B (Samsung Internet)",
            "Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0":
                "Android phone (Firefox)",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0": "Windows PC (Edge)",
            "": "Phone",
        }
        for ua, expected in cases.items():
            assert page.evaluate("ua => NK.defaultPhoneName(ua)", ua) == expected, ua
    finally:
        context.close()
