"""Lighthouse (mobile, its default throttling) on every page of ``napekit run --sim``:
performance and accessibility scores, CLS and LCP per page, paired (a cookie header) and
the pairing screen unpaired.

Lighthouse comes from the npm registry (pinned by the Makefile's bench set-up into
``.venv/npm``) and drives Debian's Chromium (``CHROME_PATH``); when either is missing the
bench says so and goes on. Loopback only; each run is bounded in time.

``python -m bench.lighthouse_pages``
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from bench.kit_process import REPO, RunningKit

LIGHTHOUSE = REPO / ".venv" / "npm" / "node_modules" / ".bin" / "lighthouse"
CHROMIUM = Path(os.environ.get("NAPEKIT_CHROMIUM", "/usr/bin/chromium"))
PAGES = [("now", "/", True), ("settings", "/settings", True), ("history", "/history", True),
         ("guide", "/guide", True), ("pairing", "/", False)]
RUN_TIMEOUT_S = 180


def _one(url: str, headers: dict[str, str] | None, out: Path, home: Path) -> dict[str, Any]:
    env = dict(os.environ, CHROME_PATH=str(CHROMIUM), HOME=str(home))
    cmd = [str(LIGHTHOUSE), url, "--quiet", "--output=json", f"--output-path={out}",
           "--only-categories=performance,accessibility",
           "--chrome-flags=--headless --no-sandbox --disable-gpu --disable-quic "
           "--no-first-run --disable-background-networking --disable-sync",
           "--max-wait-for-load=20000"]
    if headers:
        cmd += ["--extra-headers", json.dumps(headers)]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    if run.returncode != 0 or not out.exists():
        return {"error": (run.stderr or "no report")[-300:]}
    report = json.loads(out.read_text())
    audits = report["audits"]
    return {
        "performance": round(report["categories"]["performance"]["score"] * 100),
        "accessibility": round(report["categories"]["accessibility"]["score"] * 100),
        "cls": round(audits["cumulative-layout-shift"]["numericValue"], 4),
        "lcp_ms": round(audits["largest-contentful-paint"]["numericValue"]),
        "total_kb": round(audits["total-byte-weight"]["numericValue"] / 1024, 1),
    }


def run_bench() -> dict[str, Any]:
    if not LIGHTHOUSE.exists():
        return {"skipped": f"lighthouse is not installed at {LIGHTHOUSE} (make bench's set-up "
                           "installs it with npm)"}
    if not CHROMIUM.exists():
        return {"skipped": f"no chromium at {CHROMIUM}"}
    kit = RunningKit(prefix="nk-lh-", log=False)
    tmp = kit.tmp
    result: dict[str, Any] = {}
    try:
        kit.__enter__()
        token = kit.pair()
        base = kit.base
        from web.auth import csrf_for

        cookie = {"Cookie": f"napekit_token={token}; napekit_csrf={csrf_for(token)}"}
        home = tmp / "home"
        home.mkdir()
        for name, path, paired in PAGES:
            result[name] = _one(base + path, cookie if paired else None,
                                tmp / f"{name}.json", home)
    finally:
        kit.close()
    return result


def print_table(result: dict[str, Any]) -> None:
    print("\n## Lighthouse, mobile (performance, accessibility, CLS, LCP, bytes)")
    if "skipped" in result:
        print(f"skipped: {result['skipped']}")
        return
    for name, r in result.items():
        if "error" in r:
            print(f"{name:10} error: {r['error']}")
        else:
            print(f"{name:10} perf {r['performance']:>3}  a11y {r['accessibility']:>3}  "
                  f"CLS {r['cls']:.3f}  LCP {r['lcp_ms']} ms  {r['total_kb']} KB")


if __name__ == "__main__":
    res = run_bench()
    print_table(res)
    print(json.dumps(res, indent=2))
