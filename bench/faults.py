"""The fault campaign (``make bench``; alone: ``python -m bench.faults [--kills 50]``).

Real processes of the simulated kit, hurt the way a kit gets hurt, and what survived:

- **kill -9 of the daemon**, ``--kills`` times at random moments (mostly while heating,
  every third time with a fault latched just before): the relay is off on the next start
  and heat never resumes, the store passes SQLite's ``integrity_check``, no latched fault
  is lost, and the interrupted session is summed up from its samples.
- **kill -9 of the web** under ``napekit run``: restarted, and the kit (its session, its
  relay, its control loop) carries on; then **kill -9 of the daemon** under it: the web
  goes too and the port is freed.
- **a full disk while heating**: a small tmpfs in a private mount namespace (``unshare
  -rm``; no root needed where user namespaces are allowed) filled up: ``store_failed``
  latched, heat off, daemon and page up, a long press once there is room again; then a
  start on the full disk, and on a read-only store file.
- **a corrupt store** (pages garbled under a good header): moved aside and kept, the kit
  latched in ``store_recovered``, the faults latched in it kept; **a locked store**: not
  moved, a clear error.

:class:`Tmpfs` is also what the process tests use for a real full disk.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from bench.fault_tools import HEATING, Kit, Tmpfs, exited, integrity
from bench.kit_process import free_port, wait_for


# -- kill -9 of the daemon ----------------------------------------------------------------------
def _after_restart(kit: Kit, expected_fault: str | None, tally: dict[str, int]) -> None:
    """What the kit must look like just after a restart, watched for 0.5 s (10 s of
    simulated time): relay off, not heating, the fault it had still latched."""
    first = kit.status()
    tally["relay_on_at_start"] += bool(first["relay"])
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        status = kit.status()
        if status["relay"] or status["state"] in HEATING:
            tally["heat_resumed"] += 1
            break
        time.sleep(0.05)
    code = first["fault"]["code"] if first["fault"] else None
    if expected_fault is not None:
        tally["faults_kept"] += code == expected_fault
        tally["faults_lost"] += code != expected_fault
    elif code is not None:
        tally["unexpected_faults"] += 1


def _summed_up(kit: Kit, tally: dict[str, int]) -> None:
    """The session the kill interrupted: closed as interrupted, summed from its samples."""
    row = kit.client.call("sessions")["sessions"][0]
    tally["sessions_interrupted"] += row["outcome"] == "interrupted"
    summed = row["heat_on_s"] > 0 and row["max_temp_c"] is not None
    tally["sessions_summed_from_samples"] += row["outcome"] == "interrupted" and summed


def _clear(kit: Kit) -> None:
    kit.client.call("sim_clear_fault")
    kit.hold_button()
    wait_for(lambda: kit.status()["fault"] is None, 5, "the fault cleared by a long press")


def campaign_daemon_kills(kills: int, rng: random.Random, tmp: Path) -> dict[str, Any]:
    kit = Kit("daemon", tmp / "kills", tmp / "kills.sock", tmp / "kills.log")
    tally = dict.fromkeys(("relay_on_at_start", "heat_resumed", "faults_kept", "faults_lost",
                           "unexpected_faults", "integrity_failures", "killed_heating",
                           "killed_latched", "sessions_interrupted",
                           "sessions_summed_from_samples"), 0)
    restart_s: list[float] = []
    expected: str | None = None
    heating_kill = False
    for _ in range(kills):
        restart_s.append(kit.start())
        _after_restart(kit, expected, tally)
        if heating_kill:
            _summed_up(kit, tally)
        if kit.status()["fault"] is not None:
            _clear(kit)
        kit.heat()
        expected = None
        if rng.random() < 1 / 3:  # a fault latched just before the kill
            kit.client.call("sim_fault", fault=rng.choice(["thermistor_open", "thermistor_short"]))
            expected = wait_for(lambda: kit.status()["fault"], 5, "a fault")["code"]
        time.sleep(rng.uniform(0.0, 1.5))
        heating_kill = kit.status()["state"] in HEATING
        tally["killed_heating" if heating_kill else "killed_latched"] += 1
        kit.kill9()
        tally["integrity_failures"] += integrity(kit.data_dir / "napekit.db") != "ok"
    kit.start()
    _after_restart(kit, expected, tally)
    if heating_kill:
        _summed_up(kit, tally)
    kit.stop()
    restart_s.sort()
    return {"kills": kills, **tally,
            "restart_s_median": round(restart_s[len(restart_s) // 2], 2),
            "restart_s_max": round(restart_s[-1], 2)}


# -- kill -9 of the web, then of the daemon under it ----------------------------------------------
def campaign_web_kills(kills: int, tmp: Path) -> dict[str, Any]:
    kit = Kit("run", tmp / "web", tmp / "web.sock", tmp / "web.log", port=free_port())
    kit.start()
    before = kit.heat()
    session = kit.client.call("sessions")["sessions"][0]["id"]
    back_s: list[float] = []
    unaffected = 0
    for _ in range(kills):
        ticks = kit.client.call("loop_stats")["ticks"]
        old = kit.web_pid()
        assert old is not None
        t0 = time.monotonic()
        os.kill(old, signal.SIGKILL)
        def replaced(old: int = old) -> bool:
            return kit.web_pid() not in (None, old) and kit.page_up()
        wait_for(replaced, 30, "a new web")
        back_s.append(time.monotonic() - t0)
        status = kit.status()
        unaffected += (kit.alive and status["fault"] is None
                       and status["state"] == before["state"]
                       and kit.client.call("sessions")["sessions"][0]["id"] == session
                       and kit.client.call("loop_stats")["ticks"] > ticks)
    web = kit.web_pid()
    t0 = time.monotonic()
    kit.kill9()  # the daemon, with the web under it
    assert web is not None
    wait_for(lambda: exited(web) and _port_free(kit.port), 20, "the web gone with its daemon")
    gone_s = time.monotonic() - t0
    return {"web_kills": kills, "web_back_s": [round(t, 2) for t in back_s],
            "kit_unaffected": unaffected, "daemon_killed_web_gone_s": round(gone_s, 2)}


def _port_free(port: int | None) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port or 0), timeout=0.5):
            return False
    except OSError:
        return True


# -- a full disk, a read-only store ----------------------------------------------------------------
def _latched(kit: Kit, code: str, deadline_s: float = 20) -> float:
    t0 = time.monotonic()
    wait_for(lambda: (kit.status()["fault"] or {}).get("code") == code, deadline_s, code)
    return time.monotonic() - t0


def _samples(kit: Kit) -> int:
    sid = kit.client.call("sessions")["sessions"][0]["id"]
    return len(kit.client.call("session", id=sid)["samples"])


def campaign_disk_full(tmp: Path) -> dict[str, Any]:
    if not Tmpfs.available():
        return {"skipped": "no private mount namespace (unshare -rm) on this machine"}
    disk = Tmpfs(2048, tmp / "disk")
    kit = Kit("run", disk.inner / "data", tmp / "disk.sock", tmp / "disk.log",
              port=free_port(), prefix=disk.enter)
    try:
        kit.start()
        kit.client.call("settings", target_c=41.5)
        kit.heat()
        time.sleep(0.5)
        out: dict[str, Any] = {"filled_bytes": disk.fill()}
        out["store_failed_after_s"] = round(_latched(kit, "store_failed"), 2)
        status = kit.status()
        out.update(relay_off=not status["relay"], daemon_up=kit.alive, page_up=kit.page_up(),
                   samples_kept=_samples(kit))
        disk.free()
        kit.hold_button()
        out["cleared_by_long_press_once_freed"] = kit.status()["fault"] is None
        kit.stop()
        disk.fill()
        kit.start()  # on the full disk
        out["start_on_full_disk_s"] = round(_latched(kit, "store_failed", 5), 2)
        status = kit.status()
        out.update(full_start_relay_off=not status["relay"], full_start_page_up=kit.page_up(),
                   full_start_settings_kept=status["target_c"] == 41.5)
        kit.stop()
        disk.free()
        disk.read_only("data/napekit.db")
        kit.start()
        out["read_only_store_failed_s"] = round(_latched(kit, "store_failed", 5), 2)
        out["read_only_settings_kept"] = kit.status()["target_c"] == 41.5
        out["read_only_page_up"] = kit.page_up()
        return out
    finally:
        kit.stop()
        disk.close()


# -- a corrupt store, a locked store ---------------------------------------------------------------
def _garble_samples(path: Path) -> bytes:
    """Garble the pages of the samples table and its index under a good header (a flash
    card losing a few pages); the faults table's pages stay readable."""
    with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as db:
        roots = [r[0] for r in db.execute("SELECT rootpage FROM sqlite_master WHERE "
                                          "tbl_name = 'samples'")]
    data = bytearray(path.read_bytes())
    rng = random.Random(11)
    for page in roots:
        start = (page - 1) * 4096
        data[start + 8:start + 4096] = rng.randbytes(4088)
    path.write_bytes(bytes(data))
    return bytes(data)


def campaign_corrupt(tmp: Path) -> dict[str, Any]:
    kit = Kit("daemon", tmp / "corrupt", tmp / "corrupt.sock", tmp / "corrupt.log")
    kit.start()
    kit.client.call("settings", target_c=41.5)
    kit.heat()
    time.sleep(3.0)  # a minute of samples (simulated), so the file has pages to lose
    kit.client.call("sim_fault", fault="thermistor_open")
    _latched(kit, "sensor_open")
    kit.stop()
    db = kit.data_dir / "napekit.db"
    damaged = _garble_samples(db)
    kit.start()
    status = kit.status()
    kept = sorted(kit.data_dir.glob("napekit.db.corrupt-*"))
    out = {"latched": (status["fault"] or {}).get("code"), "relay_off": not status["relay"],
           "old_file_kept": bool(kept) and kept[0].read_bytes() == damaged,
           "settings_kept": status["target_c"] == 41.5}
    kit.client.call("sim_clear_fault")
    kit.hold_button()
    out["cleared_by_long_press"] = kit.status()["fault"] is None
    kit.stop()
    with sqlite3.connect(db) as fresh:
        out["faults_carried_over"] = [r[0] for r in fresh.execute(
            "SELECT code FROM faults ORDER BY id")]
    return out


LOCK_HOLDER = textwrap.dedent("""
    import sqlite3, sys
    db = sqlite3.connect(sys.argv[1], isolation_level=None)
    db.execute("PRAGMA locking_mode=EXCLUSIVE")
    db.execute("BEGIN EXCLUSIVE")
    db.execute("INSERT INTO settings(key, value) VALUES ('held', '1')")
    print("locked", flush=True)
    sys.stdin.read()
""")


def campaign_locked(tmp: Path) -> dict[str, Any]:
    kit = Kit("daemon", tmp / "locked", tmp / "locked.sock", tmp / "locked.log")
    kit.start()
    kit.client.call("settings", target_c=41.5)
    kit.stop()
    db = kit.data_dir / "napekit.db"
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(db)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        t0 = time.monotonic()
        try:
            kit.start()
            started = True
        except RuntimeError:
            started = False
        out = {"refused_to_start": not started, "exit_status": kit.proc.returncode
               if kit.proc else None, "gave_up_after_s": round(time.monotonic() - t0, 1),
               "said_locked": "locked" in kit.log.read_text(errors="replace"),
               "moved_aside": bool(list(kit.data_dir.glob("napekit.db.corrupt-*")))}
    finally:
        holder.kill()
        holder.wait(timeout=10)
        kit.stop()
    kit.start()
    out["settings_kept_after_the_lock"] = kit.status()["target_c"] == 41.5
    kit.stop()
    return out


# -- the campaign ------------------------------------------------------------------------------
def run_campaign(kills: int = 50, web_kills: int = 3, seed: int = 12) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="nkf-"))
    rng = random.Random(seed)
    t0 = time.monotonic()
    try:
        out: dict[str, Any] = {"daemon_kill9": campaign_daemon_kills(kills, rng, tmp),
               "web_kill9": campaign_web_kills(web_kills, tmp),
               "disk_full": campaign_disk_full(tmp),
               "store_corrupt": campaign_corrupt(tmp),
               "store_locked": campaign_locked(tmp)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out["wall_s"] = round(time.monotonic() - t0, 1)
    return out


def print_figures(results: dict[str, Any]) -> None:
    print(f"\n## Fault campaign (real processes, simulated kit; {results['wall_s']} s)")
    for name, figures in results.items():
        if isinstance(figures, dict):
            print(f"{name:14} " + ", ".join(f"{k}={v}" for k, v in figures.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__)
    parser.add_argument("--kills", type=int, default=50, help="kill -9 of the daemon, times")
    parser.add_argument("--web-kills", type=int, default=3, help="kill -9 of the web, times")
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args(argv)
    results = run_campaign(args.kills, args.web_kills, args.seed)
    print_figures(results)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
