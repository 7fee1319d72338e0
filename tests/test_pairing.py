"""Pairing at the kit (firmware.pairing through the real kit on the simulated pad).

DESIGN's rule: a long press approves only when exactly one request is waiting; with two
or more it refuses them all (the buzzer's refused pattern) and each phone is told to ask
again alone, so nobody can slip a request in ahead of the owner's.
"""

from __future__ import annotations

from firmware.pairing import PAIRING_WINDOW_S


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
