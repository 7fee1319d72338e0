"""Pairing at the kit (firmware.pairing through the real kit on the simulated pad).

DESIGN's rule: a long press approves only when exactly one request is waiting; with two
or more it refuses them all (the buzzer's refused pattern) and each phone is told to ask
again alone, so nobody can slip a request in ahead of the owner's.
"""

from __future__ import annotations

import argparse
import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.client import run as client_run
from firmware.clock import VirtualClock
from firmware.errors import CommandError
from firmware.pairing import (
    LINK_WINDOW_S,
    MAX_RECORDS,
    MAX_REQUESTS,
    PAIRING_WINDOW_S,
    REFUSED_PATTERN,
    Pairing,
)
from firmware.store import Store
from tests.speed import examples


def ask(bench, client: str | None = None, **args) -> dict:
    if client is not None:
        args["client"] = client
    return bench.kit.command("pair_request", args)


def poll(bench, request: dict) -> dict:
    return bench.kit.command("pair_status", {"id": request["id"]})


def phones(bench) -> list[dict]:
    return bench.kit.command("phones")["phones"]


# -- the hijack: a neighbour asks a second after the owner ----------------------------------
def test_a_long_press_with_two_requests_waiting_approves_neither(bench):
    owner = ask(bench, "192.168.1.20")
    bench.run(1.0)
    neighbour = ask(bench, "192.168.1.66")
    bench.press(hold_s=2.5)
    assert poll(bench, neighbour)["status"] == "refused"
    assert poll(bench, owner)["status"] == "refused"
    assert "token" not in poll(bench, neighbour)
    assert phones(bench) == []


def test_each_refused_phone_is_told_to_ask_again_alone(bench):
    first, second = ask(bench, "192.168.1.20"), ask(bench, "192.168.1.66")
    bench.press(hold_s=2.5)
    for request in (first, second):
        answer = poll(bench, request)
        assert answer["status"] == "refused" and answer["reason"] == "several"
        assert "ask again" in answer["message"].lower()


def test_the_refusal_sounds_the_refused_pattern(bench):
    played: list[str] = []
    bench.kit._listener = lambda row: played.append(row["pattern"]) \
        if row.get("kind") == "buzzer" else None
    ask(bench, "192.168.1.20")
    ask(bench, "192.168.1.66")
    bench.press(hold_s=2.5)
    assert played[-1] == "refused"


def test_a_long_press_with_one_request_waiting_approves_it(bench):
    request = ask(bench, "192.168.1.20")
    bench.press(hold_s=2.5)
    answer = poll(bench, request)
    assert answer["status"] == "approved" and answer["token"]
    assert [p["id"] for p in phones(bench)] == \
        [bench.kit.command("auth", {"token": answer["token"]})["phone"]["id"]]


def test_after_a_refusal_one_phone_asking_alone_is_approved(bench):
    ask(bench, "192.168.1.20")
    ask(bench, "192.168.1.66")
    bench.press(hold_s=2.5)
    again = ask(bench, "192.168.1.20")
    bench.press(hold_s=2.5)
    assert poll(bench, again)["status"] == "approved"
    assert len(phones(bench)) == 1


def test_requests_without_an_address_each_count_as_a_phone(bench):
    """The kit's own commands (a scenario, a test) give no address: never merged."""
    first, second = ask(bench), ask(bench)
    bench.press(hold_s=2.5)
    assert {poll(bench, first)["status"], poll(bench, second)["status"]} == {"refused"}


def test_a_pending_request_is_told_when_another_phone_asks_too(bench):
    owner = ask(bench, "192.168.1.20")
    assert poll(bench, owner)["others"] == 0
    ask(bench, "192.168.1.66")
    assert poll(bench, owner)["others"] == 1


def test_a_request_that_ran_out_a_moment_ago_still_counts(bench):
    """The owner's request runs out while a neighbour's still waits: a late press by the
    owner must not approve the neighbour's phone."""
    owner = ask(bench, "192.168.1.20")
    bench.run(PAIRING_WINDOW_S - 5)
    neighbour = ask(bench, "192.168.1.66")
    bench.run(10)
    assert poll(bench, owner)["status"] == "expired"
    bench.press(hold_s=2.5)
    assert poll(bench, neighbour)["status"] == "refused"
    assert phones(bench) == []


def test_a_request_long_gone_no_longer_counts(bench):
    ask(bench, "192.168.1.20")
    bench.run(2 * PAIRING_WINDOW_S + 1)
    late = ask(bench, "192.168.1.66")
    bench.press(hold_s=2.5)
    assert poll(bench, late)["status"] == "approved"


# -- the pieces of pairing on their own: a real store, a virtual people clock ----------------
@pytest.fixture
def people():
    return VirtualClock()


@pytest.fixture
def pairing(tmp_path, people):
    store = Store(tmp_path / "napekit.db", durable=False, wall=people.wall)
    beeps: list[str] = []
    p = Pairing(store, beeps.append, people.monotonic)
    p.beeps = beeps  # type: ignore[attr-defined]
    yield p
    store.close()


def command(p: Pairing, cmd: str, /, **args) -> dict:
    return p.commands()[cmd](0.0, args)


def test_each_request_beeps_and_waiting_codes_are_distinct(pairing):
    codes = {command(pairing, "pair_request", client=f"10.0.0.{n}")["code"]
             for n in range(MAX_REQUESTS)}
    assert len(codes) == MAX_REQUESTS
    assert pairing.beeps == ["pairing"] * MAX_REQUESTS


def test_a_full_kit_pushes_out_the_oldest_request(pairing, people):
    first = command(pairing, "pair_request", client="10.0.0.1")
    for n in range(2, MAX_REQUESTS + 2):
        people.advance(1)
        command(pairing, "pair_request", client=f"10.0.0.{n}")
    answer = command(pairing, "pair_status", id=first["id"])
    assert answer["status"] == "refused" and answer["reason"] == "crowded"
    assert len(pairing.pending()) == MAX_REQUESTS


def test_memory_stays_bounded_however_many_ask(pairing):
    for n in range(10 * MAX_RECORDS):
        command(pairing, "pair_request", client=f"10.{n // 250}.0.{n % 250}")
    assert len(pairing._requests) <= MAX_RECORDS
    assert len(pairing.pending()) == MAX_REQUESTS


def test_the_panel_shows_codes_names_and_what_the_press_did(pairing, people):
    assert pairing.display() == {"requests": [], "last_press": None}
    request = command(pairing, "pair_request", client="10.0.0.1", name="Pixel 7 (Chrome)")
    people.advance(10)
    assert pairing.display()["requests"] == [
        {"code": request["code"], "name": "Pixel 7 (Chrome)", "expires_in_s": 50.0}]
    assert pairing.long_press() is True
    people.advance(5)
    assert pairing.display() == {"requests": [], "last_press": {
        "outcome": "approved", "names": ["Pixel 7 (Chrome)"], "ago_s": 5.0}}
    people.advance(2 * PAIRING_WINDOW_S)
    assert pairing.display()["last_press"] is None


def test_a_long_press_with_nobody_asking_does_nothing(pairing):
    assert pairing.long_press() is False
    assert pairing.beeps == [] and pairing.display()["last_press"] is None


def test_a_refusal_is_what_the_panel_says_last(pairing):
    command(pairing, "pair_request", client="10.0.0.1", name="Mine")
    command(pairing, "pair_request", client="10.0.0.2", name="Theirs")
    pairing.long_press()
    assert pairing.beeps[-1] == REFUSED_PATTERN
    press = pairing.display()["last_press"]
    assert press["outcome"] == "refused" and sorted(press["names"]) == ["Mine", "Theirs"]
    assert pairing.store.phones() == []


def test_a_link_lasts_ten_minutes_of_people_time(pairing, people):
    early = command(pairing, "pair_link")["secret"]
    late = command(pairing, "pair_link")["secret"]
    people.advance(LINK_WINDOW_S - 1)
    assert command(pairing, "pair_redeem", secret=early, name="Tablet")["name"] == "Tablet"
    people.advance(2)
    with pytest.raises(CommandError) as refused:
        command(pairing, "pair_redeem", secret=late)
    assert refused.value.status == 403
    assert [p["name"] for p in pairing.store.phones()] == ["Tablet"]


def test_a_link_with_a_bad_name_is_refused_and_still_good(pairing):
    secret = command(pairing, "pair_link")["secret"]
    with pytest.raises(CommandError) as refused:
        command(pairing, "pair_redeem", secret=secret, name="a\tb")
    assert refused.value.field == "name" and pairing.store.phones() == []
    assert command(pairing, "pair_redeem", secret=secret)["name"] == "Phone (link)"


def test_a_removed_token_is_known_as_removed(pairing):
    secret = command(pairing, "pair_link")["secret"]
    token = command(pairing, "pair_redeem", secret=secret)["token"]
    phone = command(pairing, "auth", token=token)["phone"]
    command(pairing, "revoke_phone", id=phone["id"])
    assert command(pairing, "auth", token=token) == {"phone": None, "revoked": True}
    assert command(pairing, "auth", token="x" * 43) == {"phone": None, "revoked": False}


def test_a_failed_last_seen_write_still_lets_the_phone_in(pairing, monkeypatch):
    token = command(pairing, "pair_redeem",
                    secret=command(pairing, "pair_link")["secret"])["token"]

    def disk_full(phone_id):
        raise sqlite3.OperationalError("database or disk is full")
    monkeypatch.setattr(pairing.store, "touch_phone", disk_full)
    assert command(pairing, "auth", token=token)["phone"] is not None


def test_cancelling_takes_only_a_waiting_request(pairing):
    request = command(pairing, "pair_request", client="10.0.0.1")
    with pytest.raises(CommandError):
        command(pairing, "pair_cancel", id=request["id"], extra=1)
    assert len(pairing.pending()) == 1
    assert command(pairing, "pair_cancel", id=request["id"]) == {"status": "cancelled"}
    assert pairing.pending() == [] and pairing.long_press() is False


# -- napekit status: the kit's terminal shows the code --------------------------------------
def status_text(sim_daemon, capsys) -> str:
    args = argparse.Namespace(command="status", socket=sim_daemon.socket_path, json=False)
    assert client_run(args) == 0
    return capsys.readouterr().out


def test_napekit_status_shows_the_code_and_name_to_compare(sim_daemon, capsys):
    request = sim_daemon.daemon.handle("pair_request", {"name": "Pixel 7 (Chrome)"}, None)
    out = status_text(sim_daemon, capsys)
    assert f"\"Pixel 7 (Chrome)\" shows code {request['code']}" in out
    assert "hold the kit's button for 2 s (60 s left)" in out


def test_napekit_status_warns_that_two_phones_asking_will_be_refused(sim_daemon, capsys):
    a = sim_daemon.daemon.handle("pair_request", {"name": "Mine", "client": "10.0.0.1"}, None)
    b = sim_daemon.daemon.handle("pair_request", {"name": "Theirs", "client": "10.0.0.2"},
                                 None)
    out = status_text(sim_daemon, capsys)
    assert f"2 phones are asking at once: \"Mine\" (code {a['code']}), \"Theirs\" (code " \
           f"{b['code']})" in out
    assert "A long press now refuses them all" in out
    sim_daemon.hold_button()
    out = status_text(sim_daemon, capsys)
    assert "the last long press (1 s ago) refused \"Mine\", \"Theirs\"" in out


def test_napekit_status_says_what_the_press_approved(sim_daemon, capsys):
    sim_daemon.daemon.handle("pair_request", {"name": "Pixel 7 (Chrome)"}, None)
    sim_daemon.hold_button()
    assert "(1 s ago) approved \"Pixel 7 (Chrome)\"" in status_text(sim_daemon, capsys)


def test_the_virtual_kit_shows_the_waiting_code(sim_daemon):
    request = sim_daemon.daemon.handle("pair_request", {"name": "Pixel"}, None)
    shown = sim_daemon.daemon.handle("sim_state", {}, None)["pairing"]
    assert shown["requests"] == [{"code": request["code"], "name": "Pixel",
                                  "expires_in_s": 60.0}]


def test_napekit_status_still_shows_codes_from_an_older_daemon(sim_daemon, capsys,
                                                               monkeypatch):
    """A daemon without ``pair_display``: the codes come from the status."""
    from firmware.client import DaemonClient, DaemonError

    real_call = DaemonClient.call

    def older(self, cmd, /, **args):
        if cmd == "pair_display":
            raise DaemonError(400, "unknown command 'pair_display'", "command")
        return real_call(self, cmd, **args)
    monkeypatch.setattr(DaemonClient, "call", older)
    request = sim_daemon.daemon.handle("pair_request", {"name": "Pixel"}, None)
    assert f"\"Pixel\" shows code {request['code']}" in status_text(sim_daemon, capsys)


# -- the hijack, as a property: whatever phones do, a press never approves one phone while
# -- another phone's request (not cancelled, not yet answered) is less than two windows old
ACTIONS = st.lists(st.one_of(
    st.tuples(st.just("ask"), st.integers(0, 11)),
    st.tuples(st.just("wait"), st.floats(0.0, 1.5 * PAIRING_WINDOW_S)),
    st.tuples(st.just("cancel"), st.integers(0, 40)),
    st.tuples(st.just("press"), st.just(0))), max_size=40)


@settings(max_examples=examples(200), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=ACTIONS)
def test_a_press_never_approves_a_phone_while_another_is_in_play(tmp_path_factory, actions):
    people = VirtualClock()
    store = Store(tmp_path_factory.mktemp("p") / "napekit.db", durable=False, wall=people.wall)
    pairing = Pairing(store, lambda pattern: None, people.monotonic)
    asks: list[dict] = []  # id, address, at, settled (answered or cancelled before now)
    try:
        for action, value in actions:
            if action == "ask":
                answer = command(pairing, "pair_request", client=f"10.0.0.{value}")
                asks.append({"id": answer["id"], "address": value, "at": people.monotonic(),
                             "settled": False})
            elif action == "wait":
                people.advance(value)
            elif action == "cancel" and value < len(asks):
                try:
                    command(pairing, "pair_cancel", id=asks[value]["id"])
                    asks[value]["settled"] = True
                except CommandError:
                    pass
            elif action == "press":
                _press_and_check(pairing, people, store, asks)
            for ask in asks:  # answers the phone has seen (refused: replaced, crowded...)
                if command(pairing, "pair_status", id=ask["id"])["status"] in (
                        "approved", "refused"):
                    ask["settled"] = True
    finally:
        store.close()


def _press_and_check(pairing, people, store, asks) -> None:
    now = people.monotonic()
    before = len(store.phones())
    live = [a for a in asks if not a["settled"] and now - a["at"] <= 2 * PAIRING_WINDOW_S]
    pairing.long_press()
    approved = [a for a in live
                if command(pairing, "pair_status", id=a["id"])["status"] == "approved"]
    assert len(approved) <= 1 and len(store.phones()) == before + len(approved)
    if approved:
        others = [a for a in live if a["address"] != approved[0]["address"]]
        assert others == [], (approved, others)
        assert now - approved[0]["at"] <= PAIRING_WINDOW_S  # and only within its minute


def test_forbidden_name_characters_are_the_unicode_categories_the_rule_names():
    """The pattern's ranges are exactly the control, format, space (but ' '), separator,
    surrogate and private-use characters (checked on Unicode 14, which they were taken
    from; a later Unicode may add format characters, which the ranges then lack)."""
    import unicodedata

    from firmware.pairing import _FORBIDDEN_RANGES

    def forbidden(cp: int) -> bool:
        return unicodedata.category(chr(cp)) in ("Cc", "Cf", "Cs", "Co", "Zs", "Zl", "Zp")

    listed = {cp for lo, hi in _FORBIDDEN_RANGES for cp in range(lo, hi + 1)}
    assert all(forbidden(cp) or cp >= 0xF0000 for cp in listed)
    if unicodedata.unidata_version == "14.0.0":
        assert {cp for cp in range(0x110000) if forbidden(cp)} <= listed


@pytest.mark.parametrize("name", [" Pixel", "Pixel ", "a\u202eb", "tab\there", "\U000f0330",
                                  "", "x" * 41, "line\nbreak", "nbsp\u00a0"])
def test_names_outside_the_rule_are_refused_naming_the_field(name):
    from firmware.errors import CommandError
    from firmware.pairing import phone_name

    with pytest.raises(CommandError) as info:
        phone_name(name)
    assert info.value.field == "name"


@pytest.mark.parametrize("name", ["Pixel 7 (Chrome)", "Łódź", "😀 phone", "a", "x" * 40])
def test_names_inside_the_rule_are_kept_as_given(name):
    from firmware.pairing import phone_name

    assert phone_name(name) == name
