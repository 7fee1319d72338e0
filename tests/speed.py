"""How hard the property tests search: fully under ``make test``, a fifth of it under
``make test-fast`` (NAPEKIT_TEST_FAST=1), the inner loop. The same properties run both ways;
only the number of generated cases differs."""

from __future__ import annotations

import os

FAST = os.environ.get("NAPEKIT_TEST_FAST") == "1"


def examples(n: int) -> int:
    """``n`` hypothesis examples, or a fifth of them (at least 3) in the fast loop."""
    return max(3, n // 5) if FAST else n
