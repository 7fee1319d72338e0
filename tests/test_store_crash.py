"""The store survives ``kill -9`` at any moment.

A real child process writes settings (several fields per transaction) and samples as fast
as it can, printing the index of each write once it is committed. The parent kills it
with SIGKILL at a random moment, many times over the same file, and checks each time:
the file passes SQLite's integrity check; the settings are one complete write (every
field from the same write, never a mix); and every sample the child reported committed is
there. On the kit samples are written once a second, so "nothing committed is lost" means
at most the last second of samples is lost.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from firmware.store import Store

KILLS = 40

CHILD = textwrap.dedent("""
    import sys
    from firmware.store import Store
    store = Store(sys.argv[1])
    start = int(sys.argv[2])
    session = store.start_session(40.0, 10)
    i = start
    while True:
        store.save_settings({"target_c": 30.0 + (i % 27) / 2, "hold_min": 1 + i % 20,
                             "auto_advance": i % 2 == 0, "stroke_ticks": i % 3 == 0,
                             "stage_s": {"effleurage": 10 + i % 500, "marker": i}})
        store.add_sample(session, float(i), 20.0 + (i % 100) / 10, i % 2 == 0)
        print(i, flush=True)
        i += 1
""")


def consistent(settings: dict) -> bool:
    i = settings["stage_s"]["marker"]
    return settings == {"target_c": 30.0 + (i % 27) / 2, "hold_min": 1 + i % 20,
                        "auto_advance": i % 2 == 0, "stroke_ticks": i % 3 == 0,
                        "stage_s": {"effleurage": 10 + i % 500, "marker": i}}


@pytest.mark.slow
def test_killing_the_writer_at_any_moment_loses_nothing_committed(tmp_path):
    path = tmp_path / "napekit.db"
    rng = random.Random(43)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    start = 0
    checked = 0
    for _ in range(KILLS):
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(start)],
                                 stdout=subprocess.PIPE, text=True, env=env)
        assert child.stdout is not None
        child.stdout.readline()  # the first write is committed: now kill it mid-stream
        time.sleep(rng.uniform(0.0, 0.05))  # a random moment inside the write loop
        child.send_signal(signal.SIGKILL)
        rest, _ = child.communicate()
        reported = [int(line) for line in rest.split()] or [start]
        last_committed = max(reported)

        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        store = Store(path)
        assert store.recovered_from is None
        settings = store.load_settings()
        assert consistent(settings), settings
        assert settings["stage_s"]["marker"] >= last_committed
        stored = {int(s["t_s"]) for row in store.sessions(limit=1000)
                  for s in store.session(row["id"])["samples"]}
        assert set(range(0, last_committed + 1)) <= stored
        store.close()
        start = max(stored) + 1
        checked += 1
    assert checked == KILLS


def test_a_corrupt_database_is_moved_aside_and_defaults_are_used(tmp_path, caplog):
    path = tmp_path / "napekit.db"
    path.write_bytes(b"this is not a database" * 100)
    store = Store(path)
    assert store.recovered_from is not None and store.recovered_from.exists()
    assert store.load_settings() == {}
    assert store.events()[0]["kind"] == "store_recovered"
    assert "STORE CORRUPT" in caplog.text
    store.close()
