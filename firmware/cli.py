"""The ``napekit`` command line (also ``python -m firmware``).

| command | does |
| --- | --- |
| ``napekit run`` | the kit: daemon, web (and MQTT bridge if enabled); simulated off a Pi |
| ``napekit simulate SCENARIO.toml [--trace FILE]`` | a scenario on virtual time |
| ``napekit selftest`` | bring-up checks on a real kit (``--sim`` for the simulated one) |
| ``napekit calibrate`` | thermistor calibration against a reference thermometer |
| ``napekit status``, ``napekit pair`` | ask the running daemon |
| ``napekit profile show``, ``reset`` | the stored pad profile; reset it after fitting a new pad |
| ``napekit config show`` | the effective hardware config as TOML |
| ``napekit mqtt`` | the MQTT / Home Assistant bridge alone, on the daemon's socket |
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import ModuleType

from firmware import __version__, calibrate, client, launch, profile_cli, selftest
from firmware.errors import ConfigError, NapekitError, ScenarioError
from firmware.mqtt import service as mqtt_service
from web import cli as web_cli


def _cmd_simulate(args: argparse.Namespace) -> int:
    from firmware.config import load_config
    from firmware.scenario import load_scenario
    from firmware.simulate import run_scenario

    try:
        config = load_config(args.config)
        scenario = load_scenario(args.scenario, base_config=config)
    except (ScenarioError, ConfigError) as exc:
        print(f"napekit simulate: bad scenario: {exc}", file=sys.stderr)
        return 2
    # The kit is the config file's with the scenario's [hardware.*] tables over it.
    if args.trace:
        with open(args.trace, "w", encoding="utf-8") as out:
            run_scenario(scenario, out)
    else:
        run_scenario(scenario, sys.stdout)
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    from firmware.config import load_config, to_toml

    if args.action != "show":
        print("napekit config: only 'show' is supported", file=sys.stderr)
        return 2
    sys.stdout.write(to_toml(load_config(args.config)))
    return 0


# Subcommands that live in their own modules: each has add_arguments(parser) and run(args).
# The web ships with the firmware (one package), so `napekit web` is always there.
_MODULE_COMMANDS: dict[str, tuple[ModuleType, str]] = {
    "run": (launch, "the kit: firmware daemon and web (simulation off a Pi)"),
    "daemon": (launch, "the firmware daemon alone (a systemd unit runs this)"),
    "web": (web_cli, "the web server alone (a systemd unit runs this)"),
    "mqtt": (mqtt_service, "the MQTT / Home Assistant bridge alone (a systemd unit runs "
                           "this)"),
    "selftest": (selftest, "check each part of a real kit in turn"),
    "calibrate": (calibrate, "calibrate the thermistor against a thermometer"),
    "status": (client, "the running kit's state"),
    "pair": (client, "a one-time pairing link and QR code for a new phone"),
    "profile": (profile_cli, "the stored pad profile: show it, or reset it after fitting a "
                             "new pad"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="napekit", description="napekit: a warm neck and a guided self-massage")
    parser.add_argument("--version", action="version", version=f"napekit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("simulate", help="run a scenario on virtual time and write its trace")
    p.add_argument("scenario", type=Path, help="scenario file (TOML)")
    p.add_argument("--trace", type=Path, help="write the trace here (default: stdout)")
    p.add_argument("--config", type=Path, help="hardware config (TOML)")
    p.set_defaults(func=_cmd_simulate)

    p = sub.add_parser("config", help="show the effective hardware config")
    p.add_argument("action", choices=["show"])
    p.add_argument("--config", type=Path, help="hardware config (TOML)")
    p.set_defaults(func=_cmd_config)

    for name, (module, help_text) in _MODULE_COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p, name)
        p.set_defaults(func=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"napekit {args.command}: bad config: {exc}", file=sys.stderr)
        return 2
    except NapekitError as exc:
        print(f"napekit {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
