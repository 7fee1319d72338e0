"""firmware.routine: the massage routine as data, its pacing cues, and refused broken files."""

from __future__ import annotations

import copy
from importlib import resources

import pytest

from firmware.errors import RoutineError
from firmware.routine import load_routine, parse_routine

DEFAULT = load_routine()


def stage(routine, stage_id):
    return next(s for s in routine.stages if s.id == stage_id)


PHASE_TEXTS = {phase: {"title": phase.title(), "instruction": "Sit still."}
               for phase in ("preheat", "warmup", "ready")}


def minimal(**stage_fields) -> dict:
    """A valid one-stage routine; ``stage_fields`` override the stage's keys (None drops)."""
    raw = {"id": "neck", "title": "Neck", "instruction": "Knead.", "duration_s": 60}
    raw.update(stage_fields)
    return {"stages": [{k: v for k, v in raw.items() if v is not None}],
            **copy.deepcopy(PHASE_TEXTS)}


def refused(data) -> RoutineError:
    with pytest.raises(RoutineError) as info:
        parse_routine(data)
    return info.value


# -- the default routine -------------------------------------------------------------------------


def test_default_routine_has_the_guide_stages_in_order():
    assert DEFAULT.stage_ids() == ["effleurage", "trapezius_left", "trapezius_right",
                                   "suboccipital", "trigger_point"]


def test_default_routine_stage_durations():
    assert [s.duration_s for s in DEFAULT.stages] == [60, 60, 60, 90, 75]


def test_default_routine_has_a_short_pause_between_stages():
    assert 0 < DEFAULT.pause_s <= 2


def test_default_routine_every_stage_has_a_title_instruction_and_caution():
    for s in DEFAULT.stages:
        assert s.title and s.instruction and s.caution


def test_default_routine_has_texts_for_the_heat_phases():
    assert set(DEFAULT.phases) == {"preheat", "warmup", "ready"}
    assert all(p["title"] and p["instruction"] for p in DEFAULT.phases.values())


def test_default_routine_carries_safety_lines():
    assert len(DEFAULT.safety) >= 5


def test_default_routine_as_dict_lists_the_stages():
    data = DEFAULT.as_dict()
    assert [s["id"] for s in data["stages"]] == DEFAULT.stage_ids()


def test_load_routine_reads_a_file(tmp_path):
    path = tmp_path / "routine.toml"
    text = resources.files("firmware").joinpath("routines/default.toml").read_text("utf-8")
    path.write_text(text, encoding="utf-8")
    assert load_routine(path) == DEFAULT


# -- pacing cues -------------------------------------------------------------------------------


def test_effleurage_cues_a_stroke_every_6_s():
    cues = stage(DEFAULT, "effleurage").cues(60)
    assert cues == [(float(t), "stroke") for t in range(0, 60, 6)]


def test_effleurage_has_ten_strokes():
    assert len(stage(DEFAULT, "effleurage").cues(60)) == 10


def test_trigger_point_cues_hold_and_release_three_times():
    assert stage(DEFAULT, "trigger_point").cues(75) == [
        (0.0, "hold"), (15.0, "release"),
        (25.0, "hold"), (40.0, "release"),
        (50.0, "hold"), (65.0, "release"),
    ]


def test_unpaced_stage_has_no_cues():
    assert stage(DEFAULT, "trapezius_left").cues(60) == []


def test_cues_follow_a_shortened_stage():
    assert len(stage(DEFAULT, "effleurage").cues(30)) == 5


def test_hold_longer_than_the_stage_has_no_release():
    routine = parse_routine(minimal(duration_s=10, hold_s=15))
    assert routine.stages[0].cues(10) == [(0.0, "hold")]


def test_hold_without_rest_starts_the_next_hold_at_release():
    routine = parse_routine(minimal(duration_s=30, hold_s=10))
    assert routine.stages[0].cues(30) == [(0.0, "hold"), (10.0, "release"), (10.0, "hold"),
                                          (20.0, "release"), (20.0, "hold")]


# -- broken routines ------------------------------------------------------------------------------


def test_minimal_routine_is_accepted():
    routine = parse_routine(minimal())
    assert routine.stage_ids() == ["neck"]
    assert routine.stages[0].caution == ""


def test_missing_duration_is_refused_naming_stage_and_field():
    error = refused(minimal(duration_s=None))
    assert error.field == "stage 'neck'.duration_s"
    assert "10 to 600" in error.message


@pytest.mark.parametrize("duration", [0, 9, 9.9, 600.5, 601, -60, "60", True])
def test_duration_outside_10_to_600_is_refused(duration):
    error = refused(minimal(duration_s=duration))
    assert error.field == "stage 'neck'.duration_s"
    assert "10 to 600" in error.message


@pytest.mark.parametrize("duration", [10, 600])
def test_duration_at_the_edges_is_accepted(duration):
    assert parse_routine(minimal(duration_s=duration)).stages[0].duration_s == duration


def test_unknown_stage_key_is_refused_naming_stage_and_key():
    error = refused(minimal(colour="blue"))
    assert error.field == "stage 'neck'.colour"
    assert "duration_s" in error.message


def test_duplicate_stage_id_is_refused():
    data = minimal()
    data["stages"].append(copy.deepcopy(data["stages"][0]))
    error = refused(data)
    assert error.field == "stage 'neck'.id"
    assert "unique" in error.message


def test_both_stroke_and_hold_pacing_are_refused():
    error = refused(minimal(stroke_every_s=6, hold_s=15))
    assert error.field == "stage 'neck'"
    assert "stroke_every_s" in error.message and "hold_s" in error.message


def test_rest_without_hold_is_refused():
    assert refused(minimal(rest_s=10)).field == "stage 'neck'.rest_s"


@pytest.mark.parametrize(("key", "value"), [("stroke_every_s", 0), ("hold_s", 2),
                                            ("hold_s", 121)])
def test_pacing_out_of_range_is_refused(key, value):
    assert refused(minimal(**{key: value})).field == f"stage 'neck'.{key}"


def test_missing_title_is_refused():
    assert refused(minimal(title=None)).field == "stage 'neck'.title"


def test_blank_instruction_is_refused():
    assert refused(minimal(instruction="   ")).field == "stage 'neck'.instruction"


def test_stage_without_id_is_refused_by_position():
    assert refused(minimal(id=None)).field == "stages[0].id"


@pytest.mark.parametrize("stage_id", ["neck-left", "neck left", "nëck?"])
def test_stage_id_with_odd_characters_is_refused(stage_id):
    assert refused(minimal(id=stage_id)).field.endswith(".id")


def test_routine_without_stages_is_refused():
    assert refused({"stages": []}).field == "stages"


def test_stage_that_is_not_a_table_is_refused():
    assert refused({"stages": ["neck"]}).field == "stages[0]"


def test_unknown_top_level_key_is_refused():
    data = minimal()
    data["music"] = "on"
    assert refused(data).field == "music"


def test_pause_out_of_range_is_refused():
    data = minimal()
    data["pause_s"] = 11
    assert refused(data).field == "routine.pause_s"


def test_unknown_phase_key_is_refused():
    data = minimal()
    data["warmup"] = {"title": "Warm", "colour": "red"}
    assert refused(data).field == "warmup"


def test_phase_title_defaults_to_the_phase_name():
    data = minimal()
    del data["warmup"]["title"]
    assert parse_routine(data).phases["warmup"]["title"] == "Warmup"


@pytest.mark.parametrize("missing", ["table", "instruction"])
def test_phase_texts_are_optional(missing):
    data = minimal()
    if missing == "table":
        del data["preheat"]
    else:
        del data["preheat"]["instruction"]
    assert parse_routine(data).phases["preheat"]["instruction"] == ""


def test_safety_lines_must_be_text():
    data = minimal()
    data["safety"] = {"lines": ["fine", 3]}
    assert refused(data).field == "safety.lines"


def test_safety_that_is_not_a_table_is_refused():
    data = minimal()
    data["safety"] = ["Stop on sharp pain."]
    assert refused(data).field.startswith("safety")


def test_load_routine_with_a_missing_file_is_refused(tmp_path):
    with pytest.raises(RoutineError, match="cannot read"):
        load_routine(tmp_path / "nope.toml")


def test_load_routine_with_invalid_toml_is_refused(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[[stages]\nid = ", encoding="utf-8")
    with pytest.raises(RoutineError, match="not valid TOML"):
        load_routine(path)


def test_default_routine_names_the_phases_as_the_page_does():
    """One vocabulary: Heating -> Warm-up -> Ready -> Massage -> Done."""
    titles = [DEFAULT.phases[p]["title"] for p in ("preheat", "warmup", "ready")]
    assert titles == ["Heating", "Warm-up", "Ready"]


def test_default_ready_text_names_the_button_and_the_page_start():
    ready = DEFAULT.phases["ready"]["instruction"]
    assert "kit's button" in ready and "Start massage" in ready
    assert "(or Start)" not in ready
