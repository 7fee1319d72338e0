"""How hard the property tests search: fully under ``make test``, a fifth of it in the inner
loop (``pytest -m "not slow"`` or ``make test-fast``: conftest then sets
NAPEKIT_TEST_FAST=1, which may also be set by hand). The same properties run both ways;
only the number of generated cases differs."""

from __future__ import annotations

import os

FAST = os.environ.get("NAPEKIT_TEST_FAST") == "1"


def examples(n: int) -> int:
    """``n`` hypothesis examples, or a fifth of them (at least 3) in the fast loop."""
    return max(3, n // 5) if FAST else n
