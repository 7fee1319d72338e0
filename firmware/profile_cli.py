"""``napekit profile show`` / ``napekit profile reset``: the stored pad profile.

The kit stores what it learnt of the pad after its first healthy session and judges every
later session against it (:mod:`firmware.safety.profile`): sensors that have both come
loose read far less heat than the pad gave before, and the kit stops with
``sensor_disagree``. A genuinely new pad (or a different supply) looks the same, so after
fitting one the owner resets the profile here, on the kit's own terminal (the daemon
refuses a reset from any other user, the web's included); the next healthy session stores
the new pad.

Hazard: a reset makes the kit blind to two equally loose sensors until a new profile is
stored. Reset only after fitting a new pad and checking both thermistors sit flat on it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from firmware.client import DaemonClient


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("action", choices=["show", "reset"],
                        help="show the stored pad profile, or forget it (a new pad)")
    parser.add_argument("--socket", type=Path, help="the daemon's control socket")
    parser.add_argument("--json", action="store_true", help="print JSON")


def _describe(answer: dict) -> str:
    profile = answer.get("profile")
    if profile is None:
        return ("No pad profile is stored: the next session that starts with the pad at rest "
                "and holds its target stores one.")
    saved = answer.get("saved_at")
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(saved)) if saved else "unknown"
    sensors = "; ".join(
        f"sensor {i}: heats {m['rise_c_per_s'] * 60:.1f} °C/min at full power, lag "
        f"{m['lag_s']:.1f} s" for i, m in enumerate(profile["sensors"], start=1))
    return (f"Pad profile stored {when}: time constant {profile['tau_s'] / 60:.0f} min; "
            f"{sensors}.")


def run(args: argparse.Namespace) -> int:
    client = DaemonClient(args.socket)
    answer = client.call("profile_reset" if args.action == "reset" else "profile")
    if args.json:
        print(json.dumps(answer, indent=2))
    elif args.action == "reset":
        print("Pad profile forgotten. The next session that starts with the pad at rest and "
              "holds its target stores the new pad.")
    else:
        print(_describe(answer))
    return 0
