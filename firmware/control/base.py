"""What a control law is: it proposes a relay state from the latest reading, nothing more.

Time is passed in; no controller reads a clock or sleeps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol, TypeAlias


class Controller(Protocol):
    """A control law for the pad. Time is passed in; no clock, no sleeping."""

    def reset(self, now_s: float) -> None:
        """Start afresh: called at the start of each pre-heat and when the target changes."""

    def propose(self, now_s: float, temp_c: float, target_c: float) -> bool:
        """Desired relay state for the next tick (``True`` = heat), from the latest reading."""


ControllerFactory: TypeAlias = Callable[[], Controller]
"""What the kit, the simulator and the bench take to build their control law."""


def finite(*values: float) -> bool:
    """Whether every value is a real, finite number (a NaN compares false with every limit)."""
    return all(isinstance(v, int | float) and math.isfinite(v) for v in values)
