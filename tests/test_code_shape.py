"""The firmware and the web stay in small, simple pieces (issue 9's house rules): no file
in firmware/ or web/ over 500 lines, and no function above radon cyclomatic complexity
15. The complexity check skips, saying so, where radon is not installed
(``pip install -e '.[dev]'``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(str(p.relative_to(ROOT)) for folder in ("firmware", "web")
                 for p in (ROOT / folder).rglob("*.py"))
MAX_LINES = 500
MAX_COMPLEXITY = 15


def test_the_sources_checked_include_the_kit_and_the_web():
    assert {"firmware/kit.py", "firmware/supervisor.py", "web/api.py"} <= set(SOURCES)


def test_no_source_file_is_over_500_lines():
    long = {path: n for path in SOURCES
            if (n := (ROOT / path).read_text(encoding="utf-8").count("\n")) > MAX_LINES}
    assert long == {}


def test_no_function_is_above_complexity_15():
    radon = pytest.importorskip("radon.complexity")
    too_complex = [f"{path}:{block.lineno} {block.name} {block.complexity}"
                   for path in SOURCES for block in _functions(radon, path)
                   if block.complexity > MAX_COMPLEXITY]
    assert too_complex == []


def _functions(radon, path: str) -> list:
    """Every function and method of ``path`` (radon lists a class's methods inside it)."""
    found = []
    for block in radon.cc_visit((ROOT / path).read_text(encoding="utf-8")):
        found.extend([*getattr(block, "methods", []), *getattr(block, "closures", [])]
                     if hasattr(block, "methods") else [block, *block.closures])
    return found
