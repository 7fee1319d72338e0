"""The bring-up commands' own code stays small and typed: no file in firmware/ over 500
lines, no function of the bring-up modules above radon cyclomatic complexity 15, and
``selftest`` / ``calibrate`` (with the modules they are cut into) pass mypy. Each check
skips, saying so, where its tool is not installed (``pip install -e '.[dev]'``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BRINGUP = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "firmware").glob("*.py")
                 if p.stem.startswith(("selftest", "calibrate", "bringup")))
MAX_LINES = 500
MAX_COMPLEXITY = 15


def test_the_bring_up_modules_are_the_ones_checked_here():
    assert {"firmware/selftest.py", "firmware/calibrate.py", "firmware/bringup.py"} <= \
        set(BRINGUP)


@pytest.mark.parametrize("path", BRINGUP)
def test_bring_up_module_is_at_most_500_lines(path):
    lines = (ROOT / path).read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{path}: {lines} lines"


def test_no_bring_up_function_is_above_complexity_15():
    radon = pytest.importorskip("radon.complexity")
    too_complex = []
    for path in BRINGUP:
        for block in radon.cc_visit((ROOT / path).read_text(encoding="utf-8")):
            if block.complexity > MAX_COMPLEXITY:
                too_complex.append(f"{path}:{block.lineno} {block.name} {block.complexity}")
    assert too_complex == []


@pytest.mark.slow
def test_selftest_and_calibrate_pass_mypy():
    if shutil.which("mypy", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("mypy is not installed (pip install -e '.[dev]')")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--ignore-missing-imports", "--follow-imports=silent",
         "--no-error-summary", *BRINGUP],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
