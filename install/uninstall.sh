#!/bin/sh
# napekit uninstaller: `sudo make uninstall` on the Raspberry Pi.
#
#   sudo make uninstall                      stop and remove the units and the program;
#                                            keep the config, the data (settings, paired
#                                            phones, history), the users and config.txt
#   sudo sh install/uninstall.sh --purge     remove those too
#   make uninstall DESTDIR=/some/dir         the same on a staged tree (files only)
#
# The firmware unit is stopped first: its ExecStopPost drives the relay pin off. The
# config.txt block is kept by default because it keeps the relay input off at power-on
# for as long as the relay is still wired to the Pi.
set -eu

SRC=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
DESTDIR=${DESTDIR:-}
PURGE=""
for arg in "$@"; do
    case $arg in
        --purge) PURGE=yes ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) printf 'napekit uninstall: unknown option %s (try --help)\n' "$arg" >&2; exit 2 ;;
    esac
done
[ "${NAPEKIT_PURGE:-}" != 1 ] || PURGE=yes

say() { printf 'napekit uninstall: %s\n' "$*"; }
warn() { printf 'napekit uninstall: warning: %s\n' "$*" >&2; }
die() { printf 'napekit uninstall: error: %s\n' "$*" >&2; exit 1; }
staged() { [ -n "$DESTDIR" ]; }

if staged; then
    [ -d "$DESTDIR" ] || die "DESTDIR $DESTDIR does not exist"
    DESTDIR=$(cd "$DESTDIR" && pwd)
    [ "$DESTDIR" != / ] || die "DESTDIR=/ is not a staging directory; run without DESTDIR"
else
    [ "$(id -u)" = 0 ] || die "run it as root: sudo make uninstall"
fi
D=$DESTDIR
UNITS="napekit-mqtt.service napekit-web.service napekit.service"
systemd_up() { ! staged && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; }

if systemd_up; then
    for unit in $UNITS; do
        if systemctl cat "$unit" >/dev/null 2>&1; then
            systemctl disable --now --quiet "$unit" || warn "could not stop $unit"
        fi
    done
    say "stopped and disabled the napekit units (the relay pin was driven off)"
fi

for unit in $UNITS; do
    rm -f "$D/etc/systemd/system/$unit"
done
rm -f "$D/etc/avahi/services/napekit.service" "$D/usr/local/bin/napekit"
rm -rf "$D/opt/napekit"
say "removed the units, the avahi service file, /usr/local/bin/napekit and /opt/napekit"

if systemd_up; then
    systemctl daemon-reload
    # shellcheck disable=SC2086 # word splitting of the unit list is intended
    systemctl reset-failed $UNITS 2>/dev/null || true
fi

BOOT=""
for candidate in "$D/boot/firmware/config.txt" "$D/boot/config.txt"; do
    if [ -f "$candidate" ]; then BOOT=$candidate; break; fi
done

if [ -n "$PURGE" ]; then
    rm -rf "$D/var/lib/napekit" "$D/etc/napekit"
    say "purged /var/lib/napekit (settings, paired phones, history) and /etc/napekit"
    if [ -n "$BOOT" ]; then
        PYTHONPATH="$SRC" "$PYTHON" -B -m firmware.bootconfig --boot "$BOOT" --remove
        say "the relay input is no longer held off at power-on: unplug the heat pad supply" \
            "if the relay stays wired"
    fi
    if ! staged; then
        for user in napekit-mqtt napekit-web napekit; do
            if getent passwd "$user" >/dev/null; then
                userdel "$user" && say "removed the system user $user"
            fi
        done
    fi
    exit 0
fi

say "left in place (remove by hand, or run: sudo sh install/uninstall.sh --purge):"
[ ! -e "$D/var/lib/napekit" ] || say "  /var/lib/napekit    the store: settings, paired phones, session history"
[ ! -e "$D/etc/napekit" ] || say "  /etc/napekit        the hardware config (napekit.toml)"
if [ -n "$BOOT" ] && grep -q '^# >>> napekit' "$BOOT"; then
    say "  ${BOOT#"$D"}  the napekit block (SPI on; relay pin held off at power-on)"
fi
if ! staged; then
    for user in napekit napekit-web napekit-mqtt; do
        if getent passwd "$user" >/dev/null; then say "  user $user"; fi
    done
fi
