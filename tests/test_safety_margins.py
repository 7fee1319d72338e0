"""Healthy pads raise no fault, with room to spare: a few random pads of the bench's range
through tests.safety_margins (the full measurement runs 120+ pads by hand:
``python -m tests.safety_margins``). Slow: each pad runs two whole sessions."""

from __future__ import annotations

import random

import pytest

from firmware import limits as L
from tests.safety_margins import random_case, run_case

SEED = 7


@pytest.mark.slow
@pytest.mark.parametrize("index", range(4))
def test_a_healthy_pad_of_the_range_raises_no_fault_and_keeps_its_margins(index):
    rng = random.Random(SEED)
    case = [random_case(rng, SEED * 1000 + i) for i in range(index + 1)][-1]
    fig = run_case(case)
    if not fig.feasible:
        pytest.skip("physics cannot reach this target in time (bench.pads.feasibility)")
    assert fig.faults == []
    assert fig.sessions_held == 2
    assert fig.detach_fall_c < L.DETACH_NOISE_C
    assert fig.disagree_excess_c < 0.0
    assert fig.runaway_excess_c < 0.0
    assert fig.profile_ratio is None or fig.profile_ratio > L.PROFILE_MIN_RATIO
