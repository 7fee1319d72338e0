"""firmware.buzzer: named patterns played on the injected clock, the alarm wins."""

from __future__ import annotations

import pytest
from gpiozero.pins.mock import MockPWMPin

from firmware.buzzer import ALARM, PATTERNS, REPEATING, BuzzerPlayer
from firmware.devices import KitBuzzer

ONE_SHOT = sorted(set(PATTERNS) - REPEATING)


class FakeSink:
    """A sound sink that records ``(time, tone)`` for every change, on the test's clock."""

    def __init__(self, clock) -> None:
        self.clock = clock
        self.changes: list[tuple[float, float]] = []

    def __call__(self, tone_hz: float) -> None:
        self.changes.append((self.clock.monotonic(), tone_hz))

    @property
    def tone(self) -> float:
        return self.changes[-1][1] if self.changes else 0.0


@pytest.fixture
def sink(clock):
    return FakeSink(clock)


@pytest.fixture
def player(sink):
    return BuzzerPlayer(sink)


def run_until(player: BuzzerPlayer, clock, until_s: float) -> None:
    """Wake exactly when the player asks to, as the kit's loop does."""
    while True:
        due = player.update(clock.monotonic())
        if due is None or due > until_s:
            return
        clock.set(due)


def expected_changes(name: str, start_s: float = 0.0) -> list[tuple[float, float]]:
    changes, t, last = [], start_s, 0.0
    for tone, duration in PATTERNS[name]:
        if tone != last:
            changes.append((t, tone))
            last = tone
        t += duration
    if last != 0.0:
        changes.append((t, 0.0))
    return changes


def assert_changes(actual, expected):
    assert [tone for _, tone in actual] == [tone for _, tone in expected]
    assert [t for t, _ in actual] == pytest.approx([t for t, _ in expected], abs=1e-9)


# -- timing ------------------------------------------------------------------------------------


def test_start_pattern_plays_a_rising_pair_with_exact_timing(player, sink, clock):
    player.play("start", 0.0)
    run_until(player, clock, 10.0)
    assert_changes(sink.changes, [(0.0, 1000), (0.1, 0), (0.18, 1500), (0.33, 0)])


def test_ready_pattern_plays_three_even_beeps(player, sink, clock):
    player.play("ready", 0.0)
    run_until(player, clock, 10.0)
    assert_changes(sink.changes, [(0.0, 1300), (0.3, 0), (0.5, 1300), (0.8, 0), (1.0, 1300),
                                  (1.3, 0)])


@pytest.mark.parametrize("name", ONE_SHOT)
def test_each_pattern_plays_its_segments_with_exact_timing(player, sink, clock, name):
    clock.set(100.0)
    player.play(name, 100.0)
    run_until(player, clock, 200.0)
    assert_changes(sink.changes, expected_changes(name, start_s=100.0))


@pytest.mark.parametrize("name", ONE_SHOT)
def test_non_repeating_pattern_ends_silent(player, sink, clock, name):
    player.play(name, 0.0)
    total = sum(d for _, d in PATTERNS[name])
    assert player.update(total) is None
    assert player.current is None
    assert sink.tone == 0.0


def test_update_says_when_the_next_change_is_due(player):
    player.play("start", 0.0)
    assert player.update(0.0) == pytest.approx(0.1)
    assert player.update(0.05) == pytest.approx(0.1)
    assert player.update(0.1) == pytest.approx(0.18)


def test_update_between_changes_does_not_touch_the_sink(player, sink):
    player.play("stop", 0.0)
    player.update(0.2)
    player.update(0.5)
    assert sink.changes == [(0.0, 600)]


def test_play_sounds_at_once(player, sink):
    player.play("stage", 0.0)
    assert sink.tone == 1200


def test_unknown_pattern_is_refused(player):
    with pytest.raises(ValueError, match="chirp"):
        player.play("chirp", 0.0)


def test_on_play_hears_every_pattern_started():
    heard: list[str] = []
    player = BuzzerPlayer(lambda tone: None, on_play=heard.append)
    player.play("start", 0.0)
    player.play("stage", 1.0)
    assert heard == ["start", "stage"]


# -- the alarm ----------------------------------------------------------------------------------


def test_alarm_repeats_until_silenced(player, sink):
    player.play(ALARM, 0.0)
    for cycle in (0, 1, 40):
        assert player.update(cycle * 0.5 + 0.1) is not None
        assert sink.tone == 2500
        player.update(cycle * 0.5 + 0.3)
        assert sink.tone == 0.0
    assert player.current == ALARM


def test_alarm_timeline_over_two_cycles(player, sink, clock):
    player.play(ALARM, 0.0)
    run_until(player, clock, 1.0)
    assert_changes(sink.changes, [(0.0, 2500), (0.25, 0), (0.5, 2500), (0.75, 0), (1.0, 2500)])


def test_nothing_replaces_the_alarm(player, sink):
    player.play(ALARM, 0.0)
    for name in ONE_SHOT:
        assert player.play(name, 0.1) is False
    assert player.current == ALARM
    assert sink.tone == 2500


def test_refused_pattern_is_not_reported_as_played():
    heard: list[str] = []
    player = BuzzerPlayer(lambda tone: None, on_play=heard.append)
    player.play(ALARM, 0.0)
    player.play("done", 0.1)
    assert heard == [ALARM]


def test_playing_the_alarm_again_does_not_restart_it(player, sink):
    player.play(ALARM, 0.0)
    assert player.play(ALARM, 0.3) is True
    player.update(0.3)
    assert sink.tone == 0.0  # still in the first cycle's gap, not restarted


def test_alarm_replaces_any_other_pattern(player, sink):
    player.play("done", 0.0)
    assert player.play(ALARM, 0.1) is True
    assert player.current == ALARM
    assert sink.tone == 2500


def test_silence_stops_the_alarm(player, sink):
    player.play(ALARM, 0.0)
    player.silence(0.1)
    assert player.current is None
    assert sink.tone == 0.0
    assert player.update(0.5) is None
    assert sink.tone == 0.0


def test_after_silence_other_patterns_play_again(player, sink):
    player.play(ALARM, 0.0)
    player.silence(0.1)
    assert player.play("stage", 0.2) is True
    assert sink.tone == 1200


# -- replacement --------------------------------------------------------------------------------


def test_newer_pattern_replaces_an_older_one(player, sink, clock):
    player.play("ready", 0.0)
    run_until(player, clock, 0.35)
    clock.set(0.35)
    assert player.play("stage", 0.35) is True
    run_until(player, clock, 10.0)
    assert player.current is None
    assert_changes(sink.changes, [(0.0, 1300), (0.3, 0), (0.35, 1200), (0.75, 0)])


def test_silence_stops_a_pattern_midway(player, sink):
    player.play("done", 0.0)
    player.silence(0.1)
    assert player.update(0.35) is None
    assert sink.tone == 0.0


# -- through the real KitBuzzer on a mock pin ---------------------------------------------------


def pin_levels(player, clock, pin, times):
    levels = []
    for t in times:
        clock.set(t)
        player.update(t)
        levels.append(bool(pin.state))
    return levels


def test_active_buzzer_pin_follows_the_ready_pattern(mock_factory, closing, clock):
    buzzer = closing(KitBuzzer(18, pin_factory=mock_factory))
    player = BuzzerPlayer(buzzer.sound)
    pin = mock_factory.pin(18)
    player.play("ready", 0.0)
    assert bool(pin.state) is True
    assert pin_levels(player, clock, pin, [0.1, 0.35, 0.55, 0.9, 1.1, 1.3, 5.0]) == [
        True, False, True, False, True, False, False]


def test_active_low_buzzer_pin_is_low_while_sounding(mock_factory, closing, clock):
    buzzer = closing(KitBuzzer(18, active_high=False, pin_factory=mock_factory))
    player = BuzzerPlayer(buzzer.sound)
    pin = mock_factory.pin(18)
    player.play("stage", 0.0)
    assert pin_levels(player, clock, pin, [0.2, 0.4]) == [False, True]


def test_alarm_on_the_pin_repeats_and_silence_leaves_it_low(mock_factory, closing, clock):
    buzzer = closing(KitBuzzer(18, pin_factory=mock_factory))
    player = BuzzerPlayer(buzzer.sound)
    pin = mock_factory.pin(18)
    player.play(ALARM, 0.0)
    assert pin_levels(player, clock, pin, [0.1, 0.3, 60.1, 60.3]) == [True, False, True, False]
    player.play("stage", 60.5)  # refused: the alarm keeps sounding
    assert pin_levels(player, clock, pin, [60.6]) == [True]
    player.silence(60.7)
    assert bool(pin.state) is False


def test_passive_buzzer_plays_the_pattern_pitch_on_the_pwm_pin(sim_factory, closing):
    # SimFactory is a MockFactory whose pins are MockPWMPins.
    buzzer = closing(KitBuzzer(18, kind="passive", pin_factory=sim_factory))
    player = BuzzerPlayer(buzzer.sound)
    pin = sim_factory.pin(18)
    assert isinstance(pin, MockPWMPin)
    player.play("stop", 0.0)  # 600 Hz for 0.8 s
    assert pin.frequency == pytest.approx(600)
    assert pin.state > 0
    player.update(0.8)
    assert pin.frequency is None
    assert pin.state == 0


def test_every_pattern_differs_from_the_others_by_rhythm_alone():
    """An active buzzer plays no pitch: each pattern must be told apart by its rhythm."""
    rhythms = {name: tuple((tone > 0, round(d, 3)) for tone, d in segments)
               for name, segments in PATTERNS.items()}
    assert len(set(rhythms.values())) == len(rhythms)


def test_pause_and_resume_have_patterns_of_their_own():
    assert {"pause", "resume"} <= set(PATTERNS) and PATTERNS["pause"] != PATTERNS["resume"]
