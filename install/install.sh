#!/bin/sh
# napekit installer: `sudo make install` on the Raspberry Pi (Raspberry Pi OS Bookworm or
# later). Running it again upgrades in place: the config, pairings and history stay.
#
#   sudo make install                 install (or upgrade) and start the kit
#   make install DESTDIR=/some/dir    stage the same layout under /some/dir and touch
#                                     nothing else: no users, no systemctl, no apt, no pip,
#                                     no /boot outside it (for checking the layout anywhere)
#   sudo sh install/install.sh --force   (or NAPEKIT_FORCE=1) install on a machine that
#                                     does not say it is a Raspberry Pi; the units are
#                                     installed but neither enabled nor started
#
# What it does, in order (DESTDIR mode: only the steps marked [files], under DESTDIR):
#   0. refuses, before anything changes, on a machine whose /proc/device-tree/model does
#      not name a Raspberry Pi (the daemon would crash-loop without its GPIO), unless
#      forced; NAPEKIT_MODEL_FILE reads the model from another file (for tests)
#   1. checks python3 (>= 3.11) and an existing /etc/napekit/napekit.toml (a bad one stops
#      the install before anything changes)
#   2. apt: python3-venv, python3-lgpio, avahi-daemon, only those missing (NAPEKIT_NO_APT=1
#      skips this)
#   3. system users: napekit (groups gpio, spi) for the firmware daemon; napekit-web for
#      the web and napekit-mqtt for the MQTT bridge, which reach only the control socket
#      (through their units' group napekit)
#   4. stops the running units (upgrade: the heat goes off, the daemon comes back idle)
#   5. [files] /opt/napekit: a virtual environment with the system site packages (Pi OS's
#      python3-lgpio where no wheel fits) and napekit installed into it by pip.
#      DESTDIR mode creates the venv without pip and copies the two packages into its
#      site-packages instead (fast, offline; dependencies are not installed), and writes
#      /opt/napekit/STAGED saying so
#   6. [files] /usr/local/bin/napekit, a wrapper that knows the socket (`sudo napekit pair`)
#   7. [files] /etc/napekit/napekit.toml, only if missing (never overwritten)
#   8. [files] /var/lib/napekit, the daemon's store (mode 0700)
#   9. [files] config.txt (/boot/firmware/config.txt, else /boot/config.txt): SPI on and
#      the boot-safe relay line gpio=PIN=op,dl (active-high) or dh (active-low), from the
#      effective config, in one marked block (firmware/bootconfig.py); idempotent
#  10. [files] the systemd units and the avahi service file; then daemon-reload, enable,
#      (re)start, and the URL and a QR code to open on the phone. napekit-mqtt.service is
#      always installed, but enabled and started only when the config has [mqtt] enabled
#      (and disabled when it no longer has); its password_file is made readable by the
#      bridge's user alone (root:napekit-mqtt, 0640)
set -eu

FORCE=${NAPEKIT_FORCE:-}
for arg in "$@"; do
    case $arg in
        --force) FORCE=1 ;;
        -h|--help) sed -n '2,36p' "$0"; exit 0 ;;
        *) printf 'napekit install: unknown option %s (try --help)\n' "$arg" >&2; exit 2 ;;
    esac
done

SRC=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
DESTDIR=${DESTDIR:-}
PREFIX=/opt/napekit
CONF=/etc/napekit/napekit.toml
DATA=/var/lib/napekit

say() { printf 'napekit install: %s\n' "$*"; }
warn() { printf 'napekit install: warning: %s\n' "$*" >&2; }
die() { printf 'napekit install: error: %s\n' "$*" >&2; exit 1; }
staged() { [ -n "$DESTDIR" ]; }
# Python from the source tree, for the installer's own helpers; -B: no __pycache__ in the
# clone (this runs as root).
srcpy() { PYTHONPATH="$SRC" PYTHONDONTWRITEBYTECODE=1 "$PYTHON" -B "$@"; }

# 0. a Raspberry Pi? (staging is for any machine) ------------------------------------------
MODEL_FILE=${NAPEKIT_MODEL_FILE:-/proc/device-tree/model}
model=$(tr -d '\000' < "$MODEL_FILE" 2>/dev/null || true)
ON_PI=""
case $model in *"Raspberry Pi"*) ON_PI=yes ;; esac
if ! staged && [ -z "$ON_PI" ]; then
    if [ "$FORCE" = 1 ]; then
        warn "this machine does not say it is a Raspberry Pi (${model:-no $MODEL_FILE});" \
             "installing anyway (forced): the units are installed but not enabled"
    else
        die "this is not a Raspberry Pi (${model:-no $MODEL_FILE}): the kit's daemon needs" \
            "its GPIO and would restart in a loop. Nothing was changed. To try the kit" \
            "here, use 'make run' (simulation). To install anyway: sudo sh" \
            "install/install.sh --force"
    fi
fi

if staged; then
    mkdir -p "$DESTDIR"
    DESTDIR=$(cd "$DESTDIR" && pwd)
    [ "$DESTDIR" != / ] || die "DESTDIR=/ is not a staging directory; run without DESTDIR"
    say "staging under $DESTDIR (no users, services, apt or pip: files only)"
else
    [ "$(id -u)" = 0 ] || die "run it as root: sudo make install"
fi
D=$DESTDIR

# 1. checks ----------------------------------------------------------------------------
command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found (sudo apt install python3)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "napekit needs Python 3.11 or later (Raspberry Pi OS Bookworm or later)"
if [ -f "$D$CONF" ]; then
    srcpy -c 'import sys
from firmware.config import load_config
from firmware.errors import ConfigError
try:
    load_config(sys.argv[1])
except ConfigError as exc:
    sys.exit(f"bad config: {exc}")' "$D$CONF" \
        || die "fix $D$CONF first (nothing was changed)"
fi

# 2. apt packages ------------------------------------------------------------------------
if ! staged && [ "${NAPEKIT_NO_APT:-}" != 1 ] && command -v apt-get >/dev/null 2>&1; then
    need=""
    "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null || need="$need python3-venv"
    "$PYTHON" -c 'import lgpio' 2>/dev/null || need="$need python3-lgpio"
    [ -x /usr/sbin/avahi-daemon ] || need="$need avahi-daemon"
    if [ -n "$need" ]; then
        say "installing:$need"
        # shellcheck disable=SC2086 # word splitting of the package list is intended
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $need \
            || { apt-get update && DEBIAN_FRONTEND=noninteractive \
                 apt-get install -y --no-install-recommends $need; } \
            || warn "could not install$need; continuing (lgpio may still come from pip)"
    fi
fi

# 3. users --------------------------------------------------------------------------------
if ! staged; then
    for group in gpio spi; do
        getent group "$group" >/dev/null || groupadd --system "$group"
    done
    if ! getent passwd napekit >/dev/null; then
        useradd --system --user-group --home-dir "$DATA" --no-create-home \
            --shell /usr/sbin/nologin --comment "napekit firmware daemon" napekit
        say "created the system user napekit"
    fi
    usermod --append --groups gpio,spi napekit
    if ! getent passwd napekit-web >/dev/null; then
        useradd --system --user-group --home-dir /nonexistent --no-create-home \
            --shell /usr/sbin/nologin --comment "napekit web (phone page)" napekit-web
        say "created the system user napekit-web"
    fi
    if ! getent passwd napekit-mqtt >/dev/null; then
        useradd --system --user-group --home-dir /nonexistent --no-create-home \
            --shell /usr/sbin/nologin --comment "napekit MQTT bridge" napekit-mqtt
        say "created the system user napekit-mqtt"
    fi
fi

# 4. stop what runs (an upgrade) ---------------------------------------------------------
if ! staged && command -v systemctl >/dev/null 2>&1; then
    for unit in napekit-mqtt.service napekit-web.service napekit.service; do
        if systemctl is-active --quiet "$unit" 2>/dev/null; then
            say "stopping $unit for the upgrade (heat off)"
            systemctl stop "$unit"
        fi
    done
fi

# 5. the program ---------------------------------------------------------------------------
VENV=$D$PREFIX
pyver=$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
existing=$("$VENV/bin/python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")' 2>/dev/null || true)
if [ "$existing" = "$pyver" ]; then
    say "upgrading $PREFIX in place"
else
    # None yet, or one for another Python (an OS upgrade): make it afresh. Nothing of the
    # kit's own state lives here (config: /etc/napekit, data: /var/lib/napekit).
    rm -rf "$VENV"
    if staged; then
        "$PYTHON" -m venv --system-site-packages --without-pip "$VENV"
    else
        "$PYTHON" -m venv --system-site-packages "$VENV"
    fi
    say "created the virtual environment $PREFIX (Python $pyver, system site packages)"
fi
# A clean copy of the project to build from: pip would otherwise write build/ and
# *.egg-info into the clone, as root.
BUILD=$(mktemp -d "${TMPDIR:-/tmp}/napekit-build.XXXXXX")
trap 'rm -rf "$BUILD"' EXIT
trap 'exit 130' INT TERM
tar -C "$SRC" --exclude=__pycache__ --exclude='*.pyc' -cf - pyproject.toml firmware web \
    | tar -C "$BUILD" -xf -
if [ -f "$SRC/README.md" ]; then cp "$SRC/README.md" "$BUILD/"; else echo napekit > "$BUILD/README.md"; fi
if staged; then
    site=$VENV/lib/python$pyver/site-packages
    rm -rf "$site/firmware" "$site/web"
    cp -R "$BUILD/firmware" "$BUILD/web" "$site/"
    cat > "$VENV/bin/napekit" <<EOF
#!$PREFIX/bin/python
# napekit (staged by install/install.sh; on the Pi pip writes this script)
import sys

from firmware.cli import main

sys.exit(main())
EOF
    chmod 0755 "$VENV/bin/napekit"
    cat > "$VENV/STAGED" <<EOF
Staged by install/install.sh with DESTDIR: the firmware and web packages were copied
into lib/python$pyver/site-packages without pip, and their dependencies (gpiozero,
lgpio, flask, waitress, segno) were not installed. On the Pi, \`sudo make install\`
installs napekit and its dependencies into /opt/napekit with pip.
EOF
    say "staged napekit into $PREFIX (without pip; see $PREFIX/STAGED)"
else
    "$VENV/bin/python" -m pip --version >/dev/null 2>&1 || "$VENV/bin/python" -m ensurepip
    "$VENV/bin/python" -m pip install --disable-pip-version-check --no-cache-dir \
        --quiet --upgrade "$BUILD" || die "pip could not install napekit into $PREFIX"
    "$VENV/bin/python" -c 'import firmware.relay_off, firmware.daemon' \
        || die "napekit is installed in $PREFIX but does not import"
    say "installed napekit into $PREFIX"
fi

# 6. the command on PATH ------------------------------------------------------------------
mkdir -p "$D/usr/local/bin"
cat > "$D/usr/local/bin/napekit" <<EOF
#!/bin/sh
# napekit on the Pi (installed by make install): the running kit's socket by default.
# The daemon itself runs under systemd: sudo systemctl status napekit
: "\${NAPEKIT_SOCKET:=/run/napekit/control.sock}"
export NAPEKIT_SOCKET
exec $PREFIX/bin/napekit "\$@"
EOF
chmod 0755 "$D/usr/local/bin/napekit"

# 7. config (never overwritten) -----------------------------------------------------------
mkdir -p "$D/etc/napekit"
if [ -f "$D$CONF" ]; then
    say "kept the config $CONF"
else
    srcpy -c 'import sys
from firmware.config import HardwareConfig, to_toml
sys.stdout.write("""# napekit hardware config: the pins and parts of this kit.
# The values below are the reference kit of the hardware guide. Change what differs,
# then: sudo make install (updates config.txt) and sudo systemctl restart napekit.
# relay.active_high decides what "heat off" means on the wire: check it twice.
""")
sys.stdout.write(to_toml(HardwareConfig()).split("\n", 1)[1])' > "$D$CONF.tmp"
    chmod 0644 "$D$CONF.tmp"
    mv "$D$CONF.tmp" "$D$CONF"
    say "wrote the config $CONF: the reference kit, relay on GPIO17, active-high"
    say "CHECK YOUR RELAY: if it is active-low or on another pin, edit $CONF now and run" \
        "the install again (a wrong polarity turns 'heat off' into 'heat on')"
fi

# 8. data -----------------------------------------------------------------------------------
if staged; then
    mkdir -p "$D$DATA"
    chmod 0700 "$D$DATA"
else
    install -d -o napekit -g napekit -m 0700 "$DATA"
fi

# 9. config.txt -----------------------------------------------------------------------------
BOOT=""
for candidate in "$D/boot/firmware/config.txt" "$D/boot/config.txt"; do
    if [ -f "$candidate" ]; then BOOT=$candidate; break; fi
done
if [ -z "$BOOT" ] && staged; then
    BOOT=$D/boot/firmware/config.txt
fi
REBOOT=""
if [ -n "$BOOT" ]; then
    before=none
    if [ -f "$BOOT" ]; then before=$(cksum < "$BOOT"); fi
    srcpy -m firmware.bootconfig --boot "$BOOT" --config "$D$CONF" \
        || die "could not edit $BOOT"
    [ "$(cksum < "$BOOT")" = "$before" ] || REBOOT=yes
    if ! staged && [ ! -e /dev/spidev0.0 ] && command -v dtparam >/dev/null 2>&1; then
        dtparam spi=on 2>/dev/null || true  # SPI now, without waiting for the reboot
    fi
else
    warn "no /boot/firmware/config.txt or /boot/config.txt: not a Raspberry Pi? SPI and" \
         "the boot-safe relay line were NOT set"
fi

# 10. units, avahi ---------------------------------------------------------------------------
mkdir -p "$D/etc/systemd/system" "$D/etc/avahi/services"
for unit in napekit.service napekit-web.service napekit-mqtt.service; do
    cp "$SRC/firmware/systemd/$unit" "$D/etc/systemd/system/$unit.tmp"
    chmod 0644 "$D/etc/systemd/system/$unit.tmp"
    mv "$D/etc/systemd/system/$unit.tmp" "$D/etc/systemd/system/$unit"
done
cp "$SRC/firmware/systemd/napekit.avahi.service" "$D/etc/avahi/services/napekit.service.tmp"
chmod 0644 "$D/etc/avahi/services/napekit.service.tmp"
mv "$D/etc/avahi/services/napekit.service.tmp" "$D/etc/avahi/services/napekit.service"

# MQTT: the bridge's unit runs only when the config turns MQTT on.
MQTT_ON=$(srcpy -c 'import sys
from firmware.config import load_config
print("yes" if load_config(sys.argv[1]).mqtt.enabled else "")' "$D$CONF")
MQTT_PASS=$(srcpy -c 'import sys
from firmware.config import load_config
print(load_config(sys.argv[1]).mqtt.password_file)' "$D$CONF")
if [ -n "$MQTT_ON" ]; then
    say "MQTT is on in $CONF: the MQTT bridge (napekit-mqtt.service) runs with the kit"
else
    say "MQTT is off in $CONF: the MQTT bridge (napekit-mqtt.service) stays disabled"
fi

if staged; then
    say "staged: units in $D/etc/systemd/system, avahi in $D/etc/avahi/services," \
        "config.txt $BOOT"
    say "on the Pi the kit would then be at http://napekit.local/"
    exit 0
fi

if [ -z "$ON_PI" ]; then
    warn "not a Raspberry Pi: the units are installed but not enabled or started." \
         "Start them by hand if this machine has the kit's GPIO:" \
         "sudo systemctl enable --now napekit napekit-web (and napekit-mqtt for MQTT)"
    if command -v systemctl >/dev/null 2>&1; then systemctl daemon-reload 2>/dev/null || true; fi
elif command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable --quiet napekit.service napekit-web.service
    systemctl restart napekit.service napekit-web.service \
        || warn "a unit did not start; see: journalctl -u napekit -u napekit-web -b"
    systemctl try-reload-or-restart avahi-daemon.service 2>/dev/null || true
    running="napekit.service napekit-web.service"
    if [ -n "$MQTT_ON" ]; then
        if [ -n "$MQTT_PASS" ] && [ -f "$MQTT_PASS" ]; then
            # The bridge's user alone may read the broker password (not the web's).
            chown root:napekit-mqtt "$MQTT_PASS" && chmod 0640 "$MQTT_PASS"
        elif [ -n "$MQTT_PASS" ]; then
            warn "the MQTT password file $MQTT_PASS does not exist: write the password" \
                 "on its first line, then: sudo make install"
        fi
        systemctl enable --quiet napekit-mqtt.service
        systemctl restart napekit-mqtt.service \
            || warn "the MQTT bridge did not start; see: journalctl -u napekit-mqtt -b"
        running="$running napekit-mqtt.service"
    else
        systemctl disable --now --quiet napekit-mqtt.service 2>/dev/null || true
    fi
    for unit in $running; do
        if systemctl is-active --quiet "$unit"; then say "$unit is running"; else
            warn "$unit is not running: journalctl -u ${unit%.service} -b"; fi
    done
else
    warn "systemd is not running here: the units were installed but not started"
fi

# The address phones use, and a QR code of it -------------------------------------------------
host=$(hostname 2>/dev/null || echo napekit)
host=${host%%.*}
URL="http://$host.local/"
echo
say "done. Open $URL on a phone on the same network:"
"$VENV/bin/python" -c 'import sys, segno
segno.make(sys.argv[1], error="m").terminal(out=sys.stdout, compact=True)' "$URL" 2>/dev/null || true
echo "    $URL"
if [ "$host" != napekit ]; then
    say "this Pi is called '$host'; for http://napekit.local/ rename it:" \
        "sudo raspi-config nonint do_hostname napekit && sudo reboot"
fi
say "pair a phone: open the page, tap Pair, then hold the kit's button (or: sudo napekit pair)"
[ -z "$REBOOT" ] || say "reboot once (sudo reboot) so SPI and the boot-safe relay line take effect"
say "building the kit? keep it stopped while you wire and check it (hardware/README.md):" \
    "sudo systemctl disable --now napekit napekit-web napekit-mqtt"
