"""Pairing through the web against the real daemon (``sim_daemon``: real kit, real SQLite,
real control socket, virtual time): fair limits per address, what each phone is told,
names, last seen, removed phones. Every refusal is checked to change nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from firmware.pairing import NAME_MAX_CHARS, PAIRING_WINDOW_S
from tests.test_web_api import assert_error, bearer, csrf, set_cookies
from web.auth import NOT_PAIRED, REVOKED
from web.ratelimit import client_key


def addr(address: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": address}}


def ask(client, address: str = "127.0.0.1", **body):
    return client.post("/api/pairing", json=body or None, **addr(address))


def poll(client, request_id: str, address: str = "127.0.0.1") -> dict:
    return client.get(f"/api/pairing/{request_id}", **addr(address)).json


def pending(sim_daemon) -> list[dict]:
    return sim_daemon.kit.status()["pairing_requests"]


def daemon_phones(sim_daemon) -> list[dict]:
    return sim_daemon.daemon.handle("phones", {}, None)["phones"]


# -- lock-out: noisy addresses cannot keep a new phone out --------------------------------
def test_four_noisy_addresses_cannot_block_a_fifth(client, sim_daemon):
    for n in range(4):
        for _ in range(5):  # each as often as the web lets it
            assert ask(client, f"192.168.1.{10 + n}").status_code == 200
    r = ask(client, "192.168.1.99")
    assert r.status_code == 200, r.json
    assert len(pending(sim_daemon)) == 5  # one per address


@pytest.mark.parametrize("noisy", [8, 30])
def test_many_noisy_addresses_cannot_block_a_new_one(client, sim_daemon, noisy):
    for n in range(noisy):
        for _ in range(5):
            ask(client, f"10.0.{n // 200}.{n % 200 + 1}")
    r = ask(client, "192.168.1.99")
    assert r.status_code == 200, r.json
    assert r.json["code"] in {p["code"] for p in pending(sim_daemon)}


def test_a_new_ask_from_the_same_address_replaces_its_old_one(client, sim_daemon):
    old = ask(client, "192.168.1.20").json
    new = ask(client, "192.168.1.20").json
    assert [p["code"] for p in pending(sim_daemon)] == [new["code"]]
    answer = poll(client, old["id"], "192.168.1.20")
    assert answer["status"] == "refused" and answer["reason"] == "replaced"
    sim_daemon.hold_button()
    assert poll(client, new["id"], "192.168.1.20")["status"] == "approved"


def test_the_rate_limit_counts_an_ipv6_host_by_its_64(client, sim_daemon):
    """One host can hold a whole /64: new addresses inside it share one budget."""
    for n in range(5):
        assert ask(client, f"2001:db8:1:2::{n + 1:x}").status_code == 200
    assert_error(ask(client, "2001:db8:1:2:ffff::9"), 429)
    assert ask(client, "2001:db8:1:3::1").status_code == 200  # another /64


def test_the_rate_limit_counts_ipv4_per_address(client, sim_daemon):
    for _ in range(5):
        assert ask(client, "192.168.1.20").status_code == 200
    assert_error(ask(client, "192.168.1.20"), 429)
    assert_error(ask(client, "::ffff:192.168.1.20"), 429)  # the same host, mapped
    assert ask(client, "192.168.1.21").status_code == 200


@pytest.mark.parametrize("address, key", [
    ("192.168.1.20", "192.168.1.20"), ("::ffff:192.168.1.20", "192.168.1.20"),
    ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"), ("fe80::1", "fe80::/64"),
    ("not an address", "not an address"), (None, "?")])
def test_client_keys(address, key):
    assert client_key(address) == key


def test_a_rate_limited_ask_changes_nothing(client, sim_daemon):
    for _ in range(5):
        ask(client, "192.168.1.20")
    sim_daemon.advance(3)  # the request beep is over
    before = pending(sim_daemon)
    assert_error(ask(client, "192.168.1.20"), 429)
    assert pending(sim_daemon) == before
    assert sim_daemon.kit.buzzer.current is None  # no beep either


# -- the hijack, as the phones see it -------------------------------------------------------
def test_two_phones_asking_are_both_refused_and_told_why(client, sim_daemon):
    owner = ask(client, "192.168.1.20").json
    neighbour = ask(client, "192.168.1.66").json
    assert poll(client, owner["id"], "192.168.1.20")["others"] == 1
    sim_daemon.hold_button()
    for request, address in ((owner, "192.168.1.20"), (neighbour, "192.168.1.66")):
        answer = poll(client, request["id"], address)
        assert answer["status"] == "refused" and answer["reason"] == "several"
        assert "token" not in answer and "ask again" in answer["message"].lower()
    assert daemon_phones(sim_daemon) == []
    assert_error(client.get("/api/status"), 401)


def test_a_phone_that_cancels_no_longer_counts(client, sim_daemon):
    first = ask(client, "192.168.1.20").json
    r = client.delete(f"/api/pairing/{first['id']}", **addr("192.168.1.20"))
    assert r.status_code == 200 and r.json == {"status": "cancelled"}
    assert poll(client, first["id"])["status"] == "expired"
    second = ask(client, "192.168.1.66").json
    sim_daemon.hold_button()
    assert poll(client, second["id"], "192.168.1.66")["status"] == "approved"


def test_cancelling_an_unknown_or_answered_request_is_404_and_changes_nothing(
        client, sim_daemon):
    request = ask(client, "192.168.1.20").json
    assert_error(client.delete("/api/pairing/no-such-request"), 404, "id")
    assert [p["code"] for p in pending(sim_daemon)] == [request["code"]]
    sim_daemon.hold_button()
    assert_error(client.delete(f"/api/pairing/{request['id']}"), 404, "id")
    assert poll(client, request["id"])["status"] == "approved"


def test_the_link_path_is_not_a_pairing_id(client):
    r = client.get("/api/pairing/link")
    assert_error(r, 405)
    allowed = {m.strip() for m in r.headers["Allow"].split(",")}
    assert "POST" in allowed and not allowed & {"GET", "DELETE"}
    assert_error(client.delete("/api/pairing/link"), 405)


def test_pairing_runs_on_people_time(short_tmp):
    """A sped-up simulation (the kit's clock at 100x) keeps the person's minute."""
    from firmware.clock import VirtualClock
    from firmware.config import HardwareConfig
    from firmware.daemon import KitDaemon

    kit_clock, people = VirtualClock(), VirtualClock()
    daemon = KitDaemon(HardwareConfig(), short_tmp / "d2", short_tmp / "c2.sock", sim=True,
                       clock=kit_clock, people_clock=people)
    try:
        request = daemon.handle("pair_request", {"client": "192.168.1.20"}, None)
        kit_clock.advance(100 * PAIRING_WINDOW_S)  # what 60 real seconds are at --speed 100
        people.advance(PAIRING_WINDOW_S / 2)
        answer = daemon.handle("pair_status", {"id": request["id"]}, None)
        assert answer["status"] == "pending" and answer["expires_in_s"] == PAIRING_WINDOW_S / 2
        people.advance(PAIRING_WINDOW_S / 2 + 0.1)
        assert daemon.handle("pair_status", {"id": request["id"]}, None)["status"] == "expired"
    finally:
        daemon.stop()


def test_a_sped_up_simulation_pairs_on_the_real_clock(short_tmp):
    from firmware.clock import RealClock, ScaledClock
    from firmware.config import HardwareConfig
    from firmware.daemon import KitDaemon

    daemon = KitDaemon(HardwareConfig(), short_tmp / "d3", short_tmp / "c3.sock", sim=True,
                       speed=100)
    try:
        assert isinstance(daemon.clock, ScaledClock)
        assert isinstance(daemon.kit.people_clock, RealClock)
    finally:
        daemon.stop()


# -- names ----------------------------------------------------------------------------------
def test_a_phone_is_named_at_pairing(client, sim_daemon):
    r = ask(client, name="Pixel 7 (Chrome)")
    assert r.status_code == 200 and r.json["name"] == "Pixel 7 (Chrome)"
    assert pending(sim_daemon)[0]["name"] == "Pixel 7 (Chrome)"
    sim_daemon.hold_button()
    answer = poll(client, r.json["id"])
    assert answer["status"] == "approved" and answer["name"] == "Pixel 7 (Chrome)"
    assert [p["name"] for p in client.get("/api/phones").json["phones"]] == ["Pixel 7 (Chrome)"]


def test_a_phone_without_a_name_gets_one_from_its_code(client, sim_daemon):
    r = ask(client)
    assert r.json["name"] == f"Phone {r.json['code']}"


BAD_NAMES = ["", "   ", "  Pixel 7 (Chrome) ", "x" * (NAME_MAX_CHARS + 1), "two\nlines",
             "tab\there", "nul\x00", "evil\u202ename", "zero\u200bwidth", 5, None, ["Pixel"],
             {"n": 1}]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_bad_name_is_refused_naming_the_field_and_asks_nothing(client, sim_daemon, name):
    assert_error(client.post("/api/pairing", json={"name": name}), 400, "name")
    assert pending(sim_daemon) == []
    assert sim_daemon.kit.buzzer.current is None


def test_names_in_other_scripts_and_with_punctuation_are_fine(client):
    for name in ("Jörg's iPhone", "手机", "Tablet #2 / kitchen", "x" * NAME_MAX_CHARS):
        assert ask(client, f"10.1.1.{len(name)}", name=name).json["name"] == name


def test_unknown_pairing_fields_are_refused(client, sim_daemon):
    assert_error(client.post("/api/pairing", json={"name": "a", "code": "1234"}), 400, "code")
    assert_error(client.post("/api/pairing", json={"client": "10.0.0.1"}), 400, "client")
    assert pending(sim_daemon) == []


def test_a_phone_is_renamed_in_settings(paired_client, sim_daemon):
    me = paired_client.get("/api/phones").json["phones"][0]
    r = paired_client.patch(f"/api/phones/{me['id']}", json={"name": "Kitchen tablet"},
                            headers=csrf(paired_client))
    assert r.status_code == 200
    assert [(p["name"], p["current"]) for p in r.json["phones"]] == [("Kitchen tablet", True)]
    assert [p["name"] for p in daemon_phones(sim_daemon)] == ["Kitchen tablet"]


@pytest.mark.parametrize("body, field", [({"name": "a\nb"}, "name"), ({"name": ""}, "name"),
                                         ({}, "name"), ({"name": "ok", "x": 1}, "x"),
                                         ({"name": 7}, "name")])
def test_a_refused_rename_changes_nothing(paired_client, sim_daemon, body, field):
    me = paired_client.get("/api/phones").json["phones"][0]
    r = paired_client.patch(f"/api/phones/{me['id']}", json=body, headers=csrf(paired_client))
    assert_error(r, 400, field)
    assert daemon_phones(sim_daemon) == [{k: me[k] for k in me if k != "current"}]


def test_renaming_needs_csrf_and_a_known_phone(paired_client, sim_daemon):
    me = paired_client.get("/api/phones").json["phones"][0]
    assert_error(paired_client.patch(f"/api/phones/{me['id']}", json={"name": "x"}), 403,
                 "X-CSRF-Token")
    assert_error(paired_client.patch("/api/phones/999", json={"name": "x"},
                                     headers=csrf(paired_client)), 404, "id")
    assert [p["name"] for p in daemon_phones(sim_daemon)] == [me["name"]]


# -- last seen --------------------------------------------------------------------------------
def test_last_seen_follows_use_at_most_once_a_minute(app, token, sim_daemon):
    assert daemon_phones(sim_daemon)[0]["last_seen"] is None  # not used yet
    phone = app.test_client()
    phone.get("/api/status", headers=bearer(token))
    first = daemon_phones(sim_daemon)[0]["last_seen"]
    assert first == pytest.approx(sim_daemon.clock.wall())
    sim_daemon.advance(30)
    phone.get("/api/status", headers=bearer(token))
    assert daemon_phones(sim_daemon)[0]["last_seen"] == first  # within the minute
    sim_daemon.advance(31)
    phone.get("/api/status", headers=bearer(token))
    assert daemon_phones(sim_daemon)[0]["last_seen"] == pytest.approx(sim_daemon.clock.wall())


# -- a removed phone is told so ---------------------------------------------------------------
def test_a_removed_phone_is_told_it_was_removed(app, paired_client, sim_daemon):
    other = app.test_client()
    other_token = sim_daemon.pair(other)
    me = next(p for p in paired_client.get("/api/phones").json["phones"] if p["current"])
    r = other.delete(f"/api/phones/{me['id']}", headers=csrf(other))
    assert r.status_code == 200
    r = paired_client.get("/api/status")
    assert_error(r, 401)
    assert r.json["error"] == REVOKED == "this phone was removed from the kit; pair again"
    assert "napekit_token=;" in set_cookies(r)["napekit_token"]
    assert app.test_client().get("/api/status", headers=bearer(other_token)).status_code == 200


def test_a_never_paired_token_is_still_just_not_paired(app, sim_daemon):
    r = app.test_client().get("/api/status", headers=bearer("x" * 43))
    assert_error(r, 401)
    assert r.json["error"] == NOT_PAIRED


def test_a_removed_bearer_phone_is_told_too(app, token, sim_daemon):
    phone_id = daemon_phones(sim_daemon)[0]["id"]
    sim_daemon.daemon.handle("revoke_phone", {"id": phone_id}, None)
    sim_daemon.advance(2.1)  # past the web's positive cache
    r = app.test_client().get("/api/phones", headers=bearer(token))
    assert_error(r, 401)
    assert r.json["error"] == REVOKED


def test_a_refused_press_pairs_nobody_and_a_later_single_ask_works(client, sim_daemon):
    ask(client, "192.168.1.20")
    ask(client, "192.168.1.66")
    sim_daemon.hold_button()
    sim_daemon.advance(2 * PAIRING_WINDOW_S)
    assert daemon_phones(sim_daemon) == [] and pending(sim_daemon) == []
    request = ask(client, "192.168.1.20").json
    sim_daemon.hold_button()
    assert poll(client, request["id"], "192.168.1.20")["status"] == "approved"


# -- the page's copies of the kit's words and numbers ---------------------------------------
STATIC = Path(__file__).resolve().parents[1] / "web" / "static"


def test_the_page_knows_the_kit_s_removed_answer_and_name_limit(client):
    for script in ("pairing.js", "phones.js"):
        text = (STATIC / script).read_text(encoding="utf-8")
        assert f"var NAME_MAX = {NAME_MAX_CHARS};" in text, script
    assert f'var REMOVED = "{REVOKED}";' in (STATIC / "pairing.js").read_text(encoding="utf-8")
    html = client.get("/pair").get_data(as_text=True)
    assert re.search(rf'id="pair-name"[^>]*maxlength="{NAME_MAX_CHARS}"', html)


def test_settings_loads_the_phone_list_script(client):
    html = client.get("/settings").get_data(as_text=True)
    assert "/static/phones.js?v=" in html
    ids = set(re.findall(r"""\$\("([A-Za-z0-9_-]+)"\)""",
                         (STATIC / "phones.js").read_text(encoding="utf-8")))
    assert ids and all(f'id="{i}"' in html for i in ids)
