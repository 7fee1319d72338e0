"""The napekit lines in the Raspberry Pi's ``config.txt``, edited idempotently.

``make install`` adds one marked block at the end of ``/boot/firmware/config.txt``
(Bookworm and later) or ``/boot/config.txt`` (older layouts)::

    # >>> napekit: added by make install; edit /etc/napekit/napekit.toml, then run it again
    [all]
    dtparam=spi=on
    gpio=17=op,dl
    dtparam=strict_gpiod
    # <<< napekit

``dtparam=spi=on`` enables SPI0 for the MCP3008. ``gpio=17=op,dl`` makes the Pi's
firmware drive the relay pin low (``dh``: high) a few seconds after power-on, before Linux
or the daemon run (Raspberry Pi's documentation: "a delay of a few seconds between power
being applied and the changes taking effect"); until then the pin is an input and the
10 kOhm pull-down on the relay input holds it off: the "boot" row of the safety table in
DESIGN.md. The ``[all]`` line keeps the block out of whatever conditional section
(``[pi4]``, ``[cm4]`` ...) ends the file.

``dtparam=strict_gpiod`` (Raspberry Pi kernels from April 2024; older ones ignore it)
returns a GPIO line to an input the moment its owner releases it. By default a Pi keeps
a released output at its last level, so a daemon killed with ``kill -9`` while heating
leaves the relay ON until systemd's ``ExecStopPost`` drives it off (about half a second
later). With strict mode the kernel releases the line as the process dies and the
pull-down turns the relay off at once; ``ExecStopPost`` then claims it, drives it off and
releases it again (the pull-down keeps it off). It is added only for an active-high
relay: an active-low module's input floats high when released, which is ON.

Hazard: the level must be the relay's OFF level, derived from ``relay.active_high`` in
the same config file the daemon reads (active-high relay: ``dl``; active-low: ``dh``).
A block left over from another pin or polarity is replaced, never duplicated; running the
edit again changes nothing; everything outside the block is kept byte for byte.

    python -m firmware.bootconfig --boot FILE [--config napekit.toml] [--remove]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

BEGIN = ("# >>> napekit: added by make install; edit /etc/napekit/napekit.toml, "
         "then run it again")
END = "# <<< napekit"
# Lines that can belong to a napekit block (to recover a block whose END was deleted).
_BLOCK_LINE = re.compile(r"\[all\]|dtparam=spi=on|gpio=\d+=op,d[lh]|dtparam=strict_gpiod")
STRICT = "dtparam=strict_gpiod"


def boot_line(pin: int, active_high: bool) -> str:
    """``gpio=PIN=op,dl`` for an active-high relay (off = low), ``...,dh`` for active-low."""
    return f"gpio={pin}=op,{'dl' if active_high else 'dh'}"


def block_lines(pin: int, active_high: bool) -> list[str]:
    """The block; with ``dtparam=strict_gpiod`` only for an active-high relay (a released
    line becomes an input, which the pull-down holds at off)."""
    strict = [STRICT] if active_high else []
    return [BEGIN, "[all]", "dtparam=spi=on", boot_line(pin, active_high), *strict, END]


def _split(text: str) -> tuple[list[str], str, bool]:
    newline = "\r\n" if "\r\n" in text else "\n"
    ends_with_newline = text.endswith(("\n", "\r\n")) or text == ""
    lines = text.splitlines()
    return lines, newline, ends_with_newline


def _find_block(lines: list[str]) -> tuple[int, int] | None:
    """``(start, end)`` (end exclusive) of the first napekit block, or None."""
    for start, line in enumerate(lines):
        if line.strip().startswith("# >>> napekit"):
            end = start + 1
            while end < len(lines):
                stripped = lines[end].strip()
                if stripped == END:
                    return start, end + 1
                if stripped.startswith("# >>> napekit") or not _BLOCK_LINE.fullmatch(stripped):
                    break
                end += 1
            return start, end
    return None


def _remove_blocks(lines: list[str]) -> tuple[list[str], int | None]:
    """Every napekit block removed (with the blank line the edit put before it); returns
    the lines and where the first block was."""
    first = None
    while (found := _find_block(lines)) is not None:
        start, end = found
        if start > 0 and lines[start - 1].strip() == "":
            start -= 1
        if first is None:
            first = start
        lines = lines[:start] + lines[end:]
    return lines, first


def ensure_boot_lines(text: str, pin: int, active_high: bool) -> str:
    """``text`` (a config.txt) with exactly one napekit block for ``pin``/``active_high``.

    A block already there is updated in place (a blank line, then the block); without
    one, the block is appended. Everything else is kept. Idempotent.
    """
    lines, newline, ends_with_newline = _split(text)
    rest, at = _remove_blocks(lines)
    block = block_lines(pin, active_high)
    if at is None:  # append, always ending with a newline
        at, ends_with_newline = len(rest), True
    before, after = rest[:at], rest[at:]
    if before:
        block = ["", *block]  # the blank line is the block's own: removed with it
    return newline.join(before + block + after) + (newline if ends_with_newline else "")


def remove_boot_lines(text: str) -> str:
    """``text`` without the napekit block(s) (``make uninstall --purge``)."""
    lines, newline, ends_with_newline = _split(text)
    rest, _ = _remove_blocks(lines)
    if not rest:
        return ""
    return newline.join(rest) + (newline if ends_with_newline else "")


def _gpio_spec_has(spec: str, pin: int) -> bool:
    """Whether a ``gpio=`` pin list (``17``, ``2-27``, ``4,17``) names ``pin``."""
    for part in spec.split(","):
        low, _, high = part.partition("-")
        try:
            if int(low) <= pin <= int(high or low):
                return True
        except ValueError:
            continue
    return False


def conflicts(text: str, pin: int, active_high: bool = True) -> list[str]:
    """Active lines outside the napekit block that may fight it (to warn about); for an
    active-low relay, a ``dtparam=strict_gpiod`` too (a released line would float ON)."""
    lines, _, _ = _split(text)
    rest, _ = _remove_blocks(lines)
    found = []
    for line in rest:
        stripped = line.split("#", 1)[0].strip().replace(" ", "")
        m = re.fullmatch(r"gpio=([^=]+)=.*", stripped)
        if stripped == "dtparam=spi=off" or (m and _gpio_spec_has(m.group(1), pin)) \
                or (not active_high and stripped == STRICT):
            found.append(line.strip())
    return found


def boot_config_path(root: Path = Path("/")) -> Path | None:
    """config.txt under ``root``: /boot/firmware (Bookworm on), else /boot, else None.

    On Bookworm /boot/config.txt may still exist as a stub that says "moved", so the
    newer place is looked at first.
    """
    for candidate in (root / "boot/firmware/config.txt", root / "boot/config.txt"):
        if candidate.is_file():
            return candidate
    return None


def _write(path: Path, text: str) -> None:
    backup = path.with_name(path.name + ".napekit-orig")
    if path.exists() and not backup.exists():
        backup.write_bytes(path.read_bytes())  # the file as it was before napekit, once
    tmp = path.with_name(path.name + ".napekit-tmp")
    tmp.write_text(text, encoding="utf-8", newline="")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m firmware.bootconfig",
                                     description="Add (or remove) the napekit lines in "
                                                 "the Raspberry Pi's config.txt.")
    parser.add_argument("--boot", type=Path, required=True, help="the config.txt to edit "
                        "(created if missing)")
    parser.add_argument("--config", type=Path, help="napekit hardware config (TOML) for "
                        "relay.pin and relay.active_high (default: the reference kit)")
    parser.add_argument("--remove", action="store_true", help="remove the napekit block")
    args = parser.parse_args(argv)

    try:
        old = args.boot.read_text(encoding="utf-8")
    except FileNotFoundError:
        old = ""
    if args.remove:
        new = remove_boot_lines(old)
        if new != old:
            _write(args.boot, new)
            print(f"{args.boot}: removed the napekit lines")
        else:
            print(f"{args.boot}: no napekit lines to remove")
        return 0

    from firmware.config import load_config
    from firmware.errors import ConfigError

    try:
        relay = load_config(args.config).relay
    except ConfigError as exc:
        print(f"napekit: bad config: {exc}", file=sys.stderr)
        return 2
    new = ensure_boot_lines(old, relay.pin, relay.active_high)
    line = boot_line(relay.pin, relay.active_high)
    if new != old:
        args.boot.parent.mkdir(parents=True, exist_ok=True)
        _write(args.boot, new)
        strict = " and dtparam=strict_gpiod" if relay.active_high else ""
        print(f"{args.boot}: set dtparam=spi=on, {line}{strict} (relay GPIO{relay.pin} "
              "driven off a few seconds after power-on; before that the pull-down holds it); "
              "takes effect after a reboot")
    else:
        print(f"{args.boot}: already has dtparam=spi=on and {line}")
    for other in conflicts(new, relay.pin, relay.active_high):
        print(f"napekit: warning: {args.boot} also has '{other}', which may fight the "
              f"napekit lines; check it by hand", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
