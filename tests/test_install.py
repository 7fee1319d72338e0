"""Install on the Pi (issue 6): the staged layout, the units, config.txt, relay-off, watchdog.

- ``install/install.sh`` with ``DESTDIR`` lays everything out under a temporary directory;
  fake ``useradd``/``systemctl``/``pip``/``apt-get``... first on PATH record any call, and
  there must be none.
- ``systemd-analyze verify`` on the staged units (their ``/opt/napekit`` paths rewritten to
  the staged tree, so every ``Exec*=`` binary exists off a Pi) and the exposure from
  ``systemd-analyze security --offline=yes`` (printed; web <= 2.5, MQTT bridge <= 1.5,
  firmware <= 4.5). Both
  skip, saying so, where systemd-analyze is missing (``apt-get install systemd``).
- ``firmware.bootconfig``: the config.txt block, idempotent, both layouts, both polarities.
- ``firmware.relay_off``: the pin at its OFF level on gpiozero's MockFactory.
- The watchdog: the daemon's control loop, on a virtual clock, pinging a real AF_UNIX
  datagram socket standing in for systemd's ``NOTIFY_SOCKET``.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import textwrap
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from gpiozero import OutputDevice

from firmware import bootconfig, relay_off
from firmware.clock import RealClock, VirtualClock
from firmware.config import HardwareConfig, load_config
from firmware.daemon import STALL_S, KitDaemon
from firmware.launch import systemd_notifier

ROOT = Path(__file__).resolve().parent.parent
INSTALL = ROOT / "install" / "install.sh"
UNINSTALL = ROOT / "install" / "uninstall.sh"
UNITS = ROOT / "firmware" / "systemd"
FIRMWARE_UNIT = UNITS / "napekit.service"
WEB_UNIT = UNITS / "napekit-web.service"
MQTT_UNIT = UNITS / "napekit-mqtt.service"
SERVICE_UNITS = ("napekit.service", "napekit-web.service", "napekit-mqtt.service")
AVAHI = UNITS / "napekit.avahi.service"

# Commands that change the machine. In DESTDIR mode the installer must call none of them.
SYSTEM_COMMANDS = ("useradd", "groupadd", "usermod", "userdel", "groupdel", "systemctl",
                   "pip", "pip3", "apt-get", "apt", "dpkg", "dtparam", "hostnamectl",
                   "raspi-config", "install", "chown", "sudo", "systemd-sysusers")
# What a real install writes on the machine: none of it may appear or change in DESTDIR mode.
SYSTEM_PATHS = ("/opt/napekit", "/etc/napekit", "/var/lib/napekit", "/usr/local/bin/napekit",
                "/etc/systemd/system/napekit.service", "/etc/systemd/system/napekit-web.service",
                "/etc/systemd/system/napekit-mqtt.service",
                "/etc/avahi/services/napekit.service", "/boot/firmware/config.txt",
                "/boot/config.txt", "/run/napekit")

needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (Debian/Ubuntu: apt-get install systemd)")


# -- running the installer ----------------------------------------------------------------------


def _snapshot(paths=SYSTEM_PATHS) -> dict[str, object]:
    state = {}
    for path in paths:
        p = Path(path)
        try:
            st = p.lstat()
            state[path] = (st.st_mode, st.st_size, st.st_mtime_ns)
        except OSError:
            state[path] = None
    return state


class Installer:
    """Runs install.sh / uninstall.sh with fake system commands first on PATH."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.fakebin = tmp / "fakebin"
        self.fakebin.mkdir()
        self.calls = tmp / "calls.log"
        for name in SYSTEM_COMMANDS:
            script = self.fakebin / name
            script.write_text(f'#!/bin/sh\necho "{name} $*" >> "{self.calls}"\nexit 0\n')
            script.chmod(0o755)
        (tmp / "home").mkdir()
        (tmp / "tmp").mkdir()

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NAPEKIT_", "PYTHON"))}
        env.update(PATH=f"{self.fakebin}{os.pathsep}{os.environ.get('PATH', '')}",
                   HOME=str(self.tmp / "home"), TMPDIR=str(self.tmp / "tmp"),
                   PYTHON=sys.executable)
        env.update(extra)
        return env

    def run(self, script: Path, destdir: Path, *args: str, check: bool = True):
        start = time.monotonic()
        result = subprocess.run(["sh", str(script), *args], cwd=self.tmp, env=self.env(
            DESTDIR=str(destdir)), capture_output=True, text=True, timeout=120)
        result.elapsed_s = time.monotonic() - start
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    def recorded_calls(self) -> list[str]:
        return self.calls.read_text().splitlines() if self.calls.exists() else []


@pytest.fixture
def installer(tmp_path):
    return Installer(tmp_path)


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    """One staged install, shared by the read-only layout and systemd-analyze tests."""
    tmp = tmp_path_factory.mktemp("staged")
    inst = Installer(tmp)
    dest = tmp / "dest"
    result = inst.run(INSTALL, dest)
    assert inst.recorded_calls() == []
    return dest, result


@pytest.mark.slow
def test_staged_install_is_fast_offline_and_touches_nothing_outside_destdir(installer, tmp_path):
    before = _snapshot()
    build_before = (ROOT / "build").exists(), sorted(ROOT.glob("*.egg-info"))
    dest = tmp_path / "dest"
    result = installer.run(INSTALL, dest)
    assert installer.recorded_calls() == [], "DESTDIR mode ran system commands"
    assert _snapshot() == before, "DESTDIR mode changed files outside DESTDIR"
    assert ((ROOT / "build").exists(), sorted(ROOT.glob("*.egg-info"))) == build_before, \
        "the install built into the clone"
    assert result.elapsed_s < 30, f"staged install took {result.elapsed_s:.1f} s"
    assert "http://napekit.local/" in result.stdout


@pytest.mark.slow
def test_staged_layout(staged):
    dest, _ = staged
    for unit in SERVICE_UNITS:
        installed = dest / "etc/systemd/system" / unit
        assert installed.read_bytes() == (UNITS / unit).read_bytes()
        assert stat.S_IMODE(installed.stat().st_mode) == 0o644
    assert (dest / "etc/avahi/services/napekit.service").read_bytes() == AVAHI.read_bytes()

    conf = dest / "etc/napekit/napekit.toml"
    assert stat.S_IMODE(conf.stat().st_mode) == 0o644
    assert load_config(conf) == HardwareConfig()  # the reference kit, valid

    data = dest / "var/lib/napekit"
    assert data.is_dir() and stat.S_IMODE(data.stat().st_mode) == 0o700

    boot = (dest / "boot/firmware/config.txt").read_text()
    assert "dtparam=spi=on" in boot.splitlines() and "gpio=17=op,dl" in boot.splitlines()
    assert "dtparam=strict_gpiod" in boot.splitlines()  # active-high: released = off
    assert not (dest / "boot/config.txt").exists()

    venv = dest / "opt/napekit"
    assert (venv / "pyvenv.cfg").read_text().count("include-system-site-packages = true") == 1
    assert (venv / "STAGED").is_file()
    script = venv / "bin/napekit"
    assert os.access(script, os.X_OK)
    assert script.read_text().startswith("#!/opt/napekit/bin/python\n")
    wrapper = (dest / "usr/local/bin/napekit").read_text()
    assert "/run/napekit/control.sock" in wrapper and "exec /opt/napekit/bin/napekit" in wrapper

    # The staged venv's own python finds the staged package (the relay-off command).
    out = subprocess.run([str(venv / "bin/python"), "-I", "-m", "firmware.relay_off", "--help"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "OFF level" in out.stdout, out.stderr


@pytest.mark.slow
def test_reinstall_upgrades_in_place_and_keeps_config_and_data(installer, tmp_path):
    dest = tmp_path / "dest"
    installer.run(INSTALL, dest)
    conf = dest / "etc/napekit/napekit.toml"
    conf.write_text("# mine\n[relay]\npin = 24\nactive_high = false\n")
    store = dest / "var/lib/napekit/napekit.db"
    store.write_bytes(b"settings, pairings, history")
    (dest / "opt/napekit/lib").joinpath("old-file").write_text("x")

    result = installer.run(INSTALL, dest)
    assert "kept the config" in result.stdout
    assert conf.read_text() == "# mine\n[relay]\npin = 24\nactive_high = false\n"
    assert store.read_bytes() == b"settings, pairings, history"
    boot = (dest / "boot/firmware/config.txt").read_text().splitlines()
    assert "gpio=24=op,dh" in boot and "gpio=17=op,dl" not in boot
    assert boot.count("dtparam=spi=on") == 1
    assert "dtparam=strict_gpiod" not in boot  # active-low: a released line would float on
    assert installer.recorded_calls() == []

    again = (dest / "boot/firmware/config.txt").read_bytes()
    installer.run(INSTALL, dest)
    assert (dest / "boot/firmware/config.txt").read_bytes() == again  # idempotent


@pytest.mark.slow
@pytest.mark.parametrize("active_high, line", [(True, "gpio=5=op,dl"), (False, "gpio=5=op,dh")])
def test_staged_install_edits_the_older_boot_config_layout(installer, tmp_path, active_high, line):
    dest = tmp_path / "dest"
    original = "# old Raspberry Pi OS\ndtparam=audio=on\n[pi4]\narm_boost=1\n"
    (dest / "boot").mkdir(parents=True)
    (dest / "boot/config.txt").write_text(original)
    (dest / "etc/napekit").mkdir(parents=True)
    (dest / "etc/napekit/napekit.toml").write_text(
        f"[relay]\npin = 5\nactive_high = {'true' if active_high else 'false'}\n")
    installer.run(INSTALL, dest)
    installer.run(INSTALL, dest)
    text = (dest / "boot/config.txt").read_text()
    assert text.startswith(original)
    assert text[len(original):] == "\n" + "\n".join(bootconfig.block_lines(5, active_high)) + "\n"
    assert line in text.splitlines()
    assert not (dest / "boot/firmware").exists()


@pytest.mark.slow
def test_a_bad_config_stops_the_install_before_anything_changes(installer, tmp_path):
    dest = tmp_path / "dest"
    (dest / "etc/napekit").mkdir(parents=True)
    (dest / "etc/napekit/napekit.toml").write_text("[relay]\npin = 9\n")  # SPI MISO
    result = installer.run(INSTALL, dest, check=False)
    assert result.returncode != 0
    assert "relay.pin" in result.stderr
    assert not (dest / "opt").exists() and not (dest / "boot").exists()


def _run_on_machine(installer: Installer, model: str | None, *args: str, **env: str):
    """install.sh for real (no DESTDIR) on a machine whose board model is ``model``; a fake
    ``id`` says "not root", so nothing past the checks can ever run, even as root."""
    fake_id = installer.fakebin / "id"
    fake_id.write_text("#!/bin/sh\necho 1000\n")
    fake_id.chmod(0o755)
    model_file = installer.tmp / "model"
    if model is None:
        model_file.unlink(missing_ok=True)
    else:
        model_file.write_bytes(model.encode() + b"\x00")
    before = _snapshot()
    result = subprocess.run(["sh", str(INSTALL), *args], cwd=installer.tmp, capture_output=True,
                            text=True, timeout=60,
                            env=installer.env(NAPEKIT_MODEL_FILE=str(model_file), **env))
    assert _snapshot() == before
    assert installer.recorded_calls() == []
    return result


@pytest.mark.parametrize("model", ["Generic x86 laptop", None])
def test_install_refuses_a_machine_that_is_not_a_raspberry_pi(installer, model):
    result = _run_on_machine(installer, model)
    assert result.returncode == 1
    assert "not a Raspberry Pi" in result.stderr and "Nothing was changed" in result.stderr
    assert "--force" in result.stderr and "make run" in result.stderr
    assert "run it as root" not in result.stderr  # refused before anything else


@pytest.mark.parametrize("how", [("--force",), ()])
def test_install_can_be_forced_on_another_machine(installer, how):
    result = _run_on_machine(installer, "Generic x86 laptop", *how,
                             **({} if how else {"NAPEKIT_FORCE": "1"}))
    assert "installing anyway (forced)" in result.stderr
    assert "run it as root" in result.stderr  # got past the board check


def test_install_goes_ahead_on_a_raspberry_pi(installer):
    result = _run_on_machine(installer, "Raspberry Pi 4 Model B Rev 1.5")
    assert "Raspberry Pi" not in result.stderr.replace("sudo make install", "")
    assert "run it as root" in result.stderr


def test_install_rejects_an_unknown_option(installer):
    result = _run_on_machine(installer, "Raspberry Pi 5 Model B Rev 1.0", "--frobnicate")
    assert result.returncode == 2 and "unknown option" in result.stderr


def test_forced_install_off_a_pi_leaves_the_units_disabled():
    """The forced path never reaches systemctl enable (read in the script: a forced run
    on a real machine cannot be exercised without root)."""
    text = INSTALL.read_text()
    guard = text.index('if [ -z "$ON_PI" ]; then\n    warn "not a Raspberry Pi: the units')
    enable = text.index("systemctl enable --quiet napekit.service")
    assert guard < enable and "elif command -v systemctl" in text[guard:enable]


@pytest.mark.slow
def test_uninstall_removes_the_program_and_says_what_it_left(installer, tmp_path):
    dest = tmp_path / "dest"
    installer.run(INSTALL, dest)
    (dest / "var/lib/napekit/napekit.db").write_bytes(b"history")
    result = installer.run(UNINSTALL, dest)
    for gone in ("etc/systemd/system/napekit.service", "etc/systemd/system/napekit-web.service",
                 "etc/systemd/system/napekit-mqtt.service",
                 "etc/avahi/services/napekit.service", "opt/napekit", "usr/local/bin/napekit"):
        assert not (dest / gone).exists(), gone
    assert (dest / "var/lib/napekit/napekit.db").read_bytes() == b"history"
    assert (dest / "etc/napekit/napekit.toml").exists()
    for left in ("/var/lib/napekit", "/etc/napekit", "/boot/firmware/config.txt"):
        assert left in result.stdout
    assert "gpio=17=op,dl" in (dest / "boot/firmware/config.txt").read_text()

    result = installer.run(UNINSTALL, dest, "--purge")
    assert not (dest / "var/lib/napekit").exists() and not (dest / "etc/napekit").exists()
    assert "napekit" not in (dest / "boot/firmware/config.txt").read_text()
    assert installer.recorded_calls() == []


@pytest.mark.skipif(shutil.which("shellcheck") is None,
                    reason="shellcheck is not installed (apt-get install shellcheck)")
@pytest.mark.slow
def test_install_scripts_pass_shellcheck():
    result = subprocess.run(["shellcheck", "-s", "sh", str(INSTALL), str(UNINSTALL)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


# -- the units ----------------------------------------------------------------------------------


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None,
                                       dict_type=_MultiDict, empty_lines_in_values=False)
    parser.optionxform = str  # keys are case-sensitive
    parser.read_string(path.read_text())
    return parser


class _MultiDict(dict):
    """Repeated keys (DeviceAllow=, Environment=...) kept as one newline-joined value."""

    def __setitem__(self, key, value):
        if key in self and isinstance(value, list) and isinstance(self[key], list):
            self[key].extend(value)
        else:
            super().__setitem__(key, value)


def _values(unit: configparser.ConfigParser, key: str) -> list[str]:
    raw = unit["Service"].get(key, "")
    return [v.strip() for v in raw.splitlines() if v.strip()]


def _seconds(value: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(ms|s|min)?", value)
    assert m, value
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "min": 60, None: 1}[m.group(2)]


def test_firmware_unit_has_the_safety_layer_and_a_dedicated_user():
    unit = _unit(FIRMWARE_UNIT)
    service = unit["Service"]
    assert service["Type"] == "notify"
    assert service["User"] == "napekit" and set(service["SupplementaryGroups"].split()) == {
        "gpio", "spi"}
    assert service["Restart"] == "on-failure"
    watchdog_s = _seconds(service["WatchdogSec"])
    # The loop pings every tick (0.1 s) while late by less than STALL_S: the watchdog must
    # be well above both, and short enough that a stalled loop dies within seconds.
    assert 2 * STALL_S <= watchdog_s <= 10
    start = service["ExecStart"]
    config = re.search(r"--config (\S+)", start).group(1)
    assert config == "/etc/napekit/napekit.toml"
    assert " daemon " in start and "--socket /run/napekit/control.sock" in start
    for key in ("ExecStartPre", "ExecStopPost"):
        command = service[key]
        assert "-m firmware.relay_off" in command and f"--config {config}" in command, key
        assert command.startswith("/opt/napekit/bin/python -I "), key
    assert service["RuntimeDirectory"] == "napekit" and service["StateDirectory"] == "napekit"
    assert service["StateDirectoryMode"] == "0700"
    hardening = {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
                 "PrivateTmp": "yes", "DevicePolicy": "closed", "RestrictAddressFamilies":
                 "AF_UNIX", "CapabilityBoundingSet": "", "MemoryDenyWriteExecute": "yes",
                 "LockPersonality": "yes", "ProtectKernelTunables": "yes",
                 "ProtectKernelModules": "yes", "PrivateNetwork": "yes"}
    for key, value in hardening.items():
        assert service[key] == value, key
    allowed = " ".join(_values(unit, "DeviceAllow"))
    assert allowed.split() == ["char-gpiochip", "rw", "char-spi", "rw", "char-*gpiomem*", "rw"]
    assert "@system-service" in service["SystemCallFilter"]


def test_web_unit_depends_on_the_firmware_and_reaches_only_the_socket():
    web, firmware = _unit(WEB_UNIT), _unit(FIRMWARE_UNIT)
    service = web["Service"]
    assert web["Unit"]["Requires"] == "napekit.service"
    assert "napekit.service" in web["Unit"]["After"].split()
    assert service["User"] == "napekit-web" and service["User"] != firmware["Service"]["User"]
    # The socket's group is the daemon's group; the web joins it, and nothing else.
    assert service["SupplementaryGroups"] == firmware["Service"]["Group"] == "napekit"
    socket_path = re.search(r"--socket (\S+)", firmware["Service"]["ExecStart"]).group(1)
    assert f"--socket {socket_path}" in service["ExecStart"]
    assert " web " in service["ExecStart"] and "--port 80" in service["ExecStart"]
    assert service["AmbientCapabilities"] == "CAP_NET_BIND_SERVICE"
    assert service["CapabilityBoundingSet"] == "CAP_NET_BIND_SERVICE"
    assert "WatchdogSec" not in service
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict",
                       "ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes",
                       "MemoryDenyWriteExecute": "yes"}.items():
        assert service[key] == value, key
    assert set(service["RestrictAddressFamilies"].split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}


def test_mqtt_unit_reaches_the_socket_and_the_home_network_only():
    mqtt, firmware, web = _unit(MQTT_UNIT), _unit(FIRMWARE_UNIT), _unit(WEB_UNIT)
    service = mqtt["Service"]
    assert "napekit.service" in mqtt["Unit"]["Wants"].split()
    assert "napekit.service" in mqtt["Unit"]["After"].split()
    assert "Requires" not in mqtt["Unit"] and "BindsTo" not in mqtt["Unit"]  # outlives it
    assert service["User"] == "napekit-mqtt"
    assert service["User"] not in (firmware["Service"]["User"], web["Service"]["User"])
    assert service["SupplementaryGroups"] == firmware["Service"]["Group"] == "napekit"
    start = firmware["Service"]["ExecStart"]
    for option in ("--socket", "--config"):
        value = re.search(rf"{option} (\S+)", start).group(1)
        assert f"{option} {value}" in service["ExecStart"], option
    assert service["ExecStart"].startswith("/opt/napekit/bin/python -m firmware.mqtt ")
    assert service["RestartPreventExitStatus"] == "2"
    assert service["CapabilityBoundingSet"] == "" and service["AmbientCapabilities"] == ""
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict",
                       "ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes",
                       "MemoryDenyWriteExecute": "yes", "IPAddressDeny": "any"}.items():
        assert service[key] == value, key
    assert set(service["RestrictAddressFamilies"].split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}
    allowed = service["IPAddressAllow"].split()
    assert "any" not in allowed and "localhost" in allowed and "192.168.0.0/16" in allowed


def test_the_daemon_keeps_no_network_and_nothing_tells_to_open_it():
    assert _unit(FIRMWARE_UNIT)["Service"]["PrivateNetwork"] == "yes"
    readme = (ROOT / "README.md").read_text()
    assert "PrivateNetwork=no" not in readme and "systemctl edit napekit`" not in readme


@pytest.mark.slow
@pytest.mark.parametrize("enabled, said", [
    (True, "MQTT is on in /etc/napekit/napekit.toml: the MQTT bridge (napekit-mqtt.service) "
           "runs with the kit"),
    (False, "the MQTT bridge (napekit-mqtt.service) stays disabled")])
def test_the_mqtt_unit_runs_only_when_the_config_turns_mqtt_on(installer, tmp_path, enabled,
                                                                said):
    dest = tmp_path / "dest"
    (dest / "etc/napekit").mkdir(parents=True)
    (dest / "etc/napekit/napekit.toml").write_text(
        f"[mqtt]\nenabled = {'true' if enabled else 'false'}\n")
    result = installer.run(INSTALL, dest)
    assert said in result.stdout
    assert (dest / "etc/systemd/system/napekit-mqtt.service").read_bytes() == \
        MQTT_UNIT.read_bytes()
    assert installer.recorded_calls() == []


def test_the_installer_enables_the_mqtt_unit_only_under_mqtt_on():
    """Read in the script: the enabling branch cannot run without root on a Pi."""
    text = INSTALL.read_text()
    guard = text.index('    if [ -n "$MQTT_ON" ]; then\n        if [ -n "$MQTT_PASS" ]')
    enable = text.index("systemctl enable --quiet napekit-mqtt.service")
    otherwise = text.index("systemctl disable --now --quiet napekit-mqtt.service")
    assert guard < enable < otherwise
    assert "napekit-mqtt.service" not in text[text.index("systemctl enable --quiet napekit."):
                                              text.index("systemctl restart napekit.service")]


def test_avahi_service_file_advertises_http_on_port_80():
    root = ET.fromstring(AVAHI.read_bytes())
    assert root.tag == "service-group"
    assert root.findtext("name") == "napekit"
    services = root.findall("service")
    assert [(s.findtext("type"), s.findtext("port")) for s in services] == [("_http._tcp", "80")]


def _verifiable_units(dest: Path, tmp: Path) -> list[Path]:
    """The staged units with /opt/napekit pointing into the staged tree, so that systemd
    finds every Exec*= binary on a machine that has no /opt/napekit."""
    out = []
    for name in SERVICE_UNITS:
        text = (dest / "etc/systemd/system" / name).read_text()
        path = tmp / name
        path.write_text(text.replace("/opt/napekit/", f"{dest}/opt/napekit/"))
        out.append(path)
    return out


@pytest.mark.slow
@needs_systemd_analyze
def test_units_pass_systemd_analyze_verify(staged, tmp_path):
    dest, _ = staged
    units = _verifiable_units(dest, tmp_path)
    result = subprocess.run(["systemd-analyze", "verify", *map(str, units)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 and output == "", output


@pytest.mark.slow
@needs_systemd_analyze
def test_unit_exposure(capsys):
    figures = {}
    for path in (FIRMWARE_UNIT, WEB_UNIT, MQTT_UNIT):
        result = subprocess.run(
            ["systemd-analyze", "security", "--offline=yes", "--no-pager", str(path)],
            capture_output=True, text=True, timeout=60)
        m = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", result.stdout)
        assert m, result.stdout + result.stderr
        figures[path.name] = float(m.group(1))
    with capsys.disabled():
        print("\nsystemd-analyze security --offline=yes: " + ", ".join(
            f"{name} {value}" for name, value in figures.items()))
    assert figures["napekit.service"] <= 4.5, figures
    assert figures["napekit-web.service"] <= 2.5, figures
    assert figures["napekit-mqtt.service"] <= 1.5, figures


@pytest.mark.slow
def test_python_and_the_kit_run_under_memory_deny_write_execute(tmp_path):
    """MemoryDenyWriteExecute=yes: the daemon (simulated), ctypes, the web stack and the
    relay-off command run with W^X memory enforced (PR_SET_MDWE, Linux >= 6.3)."""
    script = textwrap.dedent("""
        import ctypes, mmap, sys
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN
            print("SKIP: this kernel has no PR_SET_MDWE"); sys.exit(0)
        try:
            mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
            sys.exit("W+X memory was not refused")
        except OSError:
            pass
        from pathlib import Path
        from gpiozero.pins.mock import MockFactory
        from firmware.clock import VirtualClock
        from firmware.config import HardwareConfig
        from firmware.daemon import KitDaemon
        from firmware import relay_off
        import sqlite3, flask, waitress, segno
        tmp = Path(sys.argv[1])
        daemon = KitDaemon(HardwareConfig(), tmp / "data", tmp / "c.sock", sim=True,
                           clock=VirtualClock())
        daemon.server.serve_in_thread()
        for _ in range(20):
            daemon.clock.advance(0.1)
            daemon.step_sim()
            daemon.kit.tick()
        daemon.stop()
        assert relay_off.drive_off(17, True, MockFactory()) is False
        callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)(lambda x: x + 1)
        assert callback(1) == 2
        print("OK")
    """)
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    if result.stdout.startswith("SKIP"):
        pytest.skip(result.stdout.strip())
    assert result.stdout.strip().endswith("OK")


# -- config.txt ------------------------------------------------------------------------------

PI_OS_CONFIG = """\
# For more options and information see
# http://rptl.io/configtxt
#dtparam=i2c_arm=on
#dtparam=i2s=on
#dtparam=spi=on
dtparam=audio=on
camera_auto_detect=1
display_auto_detect=1
auto_initramfs=1
dtoverlay=vc4-kms-v3d
max_framebuffers=2
disable_fw_kms_setup=1
arm_64bit=1
disable_overscan=1
arm_boost=1

[cm4]
otg_mode=1

[cm5]
dtoverlay=dwc2,dr_mode=host

[all]
"""


@pytest.mark.parametrize("active_high, level", [(True, "dl"), (False, "dh")])
def test_boot_lines_added_once_everything_else_kept(active_high, level):
    once = bootconfig.ensure_boot_lines(PI_OS_CONFIG, 17, active_high)
    assert once.startswith(PI_OS_CONFIG)
    added = once[len(PI_OS_CONFIG):].splitlines()
    strict = ["dtparam=strict_gpiod"] if active_high else []
    assert added == ["", bootconfig.BEGIN, "[all]", "dtparam=spi=on", f"gpio=17=op,{level}",
                     *strict, bootconfig.END]
    assert bootconfig.ensure_boot_lines(once, 17, active_high) == once
    assert bootconfig.remove_boot_lines(once) == PI_OS_CONFIG


def test_boot_lines_replace_an_older_napekit_block_in_place():
    later = "# added later\nhdmi_force_hotplug=1\n"
    old = bootconfig.ensure_boot_lines(PI_OS_CONFIG, 17, True) + later
    new = bootconfig.ensure_boot_lines(old, 22, False)
    lines = new.splitlines()
    assert "gpio=22=op,dh" in lines and "gpio=17=op,dl" not in lines
    assert lines.count(bootconfig.BEGIN) == 1 and lines.count("dtparam=spi=on") == 1
    assert new.endswith(later)  # stays where it was
    assert new.replace("gpio=22=op,dh", "gpio=17=op,dl\ndtparam=strict_gpiod") == old
    assert bootconfig.ensure_boot_lines(new, 22, False) == new


def test_boot_lines_edge_cases():
    assert bootconfig.ensure_boot_lines("", 17, True) == "\n".join(
        bootconfig.block_lines(17, True)) + "\n"
    no_newline = bootconfig.ensure_boot_lines("arm_boost=1", 17, True)
    assert no_newline.startswith("arm_boost=1\n\n") and no_newline.endswith("\n")
    crlf = bootconfig.ensure_boot_lines("a=1\r\nb=2\r\n", 17, True)
    assert crlf.startswith("a=1\r\nb=2\r\n\r\n") and "\n" not in crlf.replace("\r\n", "")
    # A block whose end marker was deleted by hand is still found and replaced.
    broken = "x=1\n\n" + bootconfig.BEGIN + "\n[all]\ndtparam=spi=on\ngpio=4=op,dl\ny=2\n"
    fixed = bootconfig.ensure_boot_lines(broken, 17, True)
    assert "gpio=4=op,dl" not in fixed and fixed.count(bootconfig.BEGIN) == 1
    assert "y=2" in fixed.splitlines() and fixed.startswith("x=1\n")
    # Two blocks (a merge gone wrong) become one.
    twice = PI_OS_CONFIG + "\n".join(bootconfig.block_lines(3, True)) + "\n" + "\n".join(
        bootconfig.block_lines(4, False)) + "\n"
    assert bootconfig.ensure_boot_lines(twice, 17, True).count(bootconfig.BEGIN) == 1


def test_boot_config_conflicts_are_reported():
    text = bootconfig.ensure_boot_lines("dtparam=spi=off\ngpio=2-27=ip,pu\ngpio=4=op\n", 17, True)
    assert bootconfig.conflicts(text, 17) == ["dtparam=spi=off", "gpio=2-27=ip,pu"]
    assert bootconfig.conflicts(bootconfig.ensure_boot_lines(PI_OS_CONFIG, 17, True), 17) == []


def test_strict_gpiod_outside_the_block_is_a_conflict_for_an_active_low_relay():
    text = bootconfig.ensure_boot_lines("dtparam=strict_gpiod\n", 17, False)
    assert bootconfig.conflicts(text, 17, active_high=False) == ["dtparam=strict_gpiod"]
    assert bootconfig.conflicts(text, 17, active_high=True) == []


def test_switching_to_an_active_low_relay_removes_strict_gpiod():
    high = bootconfig.ensure_boot_lines(PI_OS_CONFIG, 17, True)
    low = bootconfig.ensure_boot_lines(high, 17, False)
    assert "dtparam=strict_gpiod" in high and "dtparam=strict_gpiod" not in low


@pytest.mark.parametrize("layout", ["boot/firmware/config.txt", "boot/config.txt"])
def test_boot_config_path_prefers_the_bookworm_layout(tmp_path, layout):
    assert bootconfig.boot_config_path(tmp_path) is None
    (tmp_path / layout).parent.mkdir(parents=True)
    (tmp_path / layout).write_text("")
    if layout == "boot/firmware/config.txt":  # Bookworm keeps a stub at the old place
        (tmp_path / "boot/config.txt").write_text("# moved to /boot/firmware/config.txt\n")
    assert bootconfig.boot_config_path(tmp_path) == tmp_path / layout


def test_bootconfig_command_backs_up_once_and_is_idempotent(tmp_path, capsys):
    boot = tmp_path / "config.txt"
    boot.write_text(PI_OS_CONFIG)
    conf = tmp_path / "napekit.toml"
    conf.write_text("[relay]\npin = 24\nactive_high = false\n")
    assert bootconfig.main(["--boot", str(boot), "--config", str(conf)]) == 0
    edited = boot.read_text()
    assert "gpio=24=op,dh" in edited.splitlines()
    assert (tmp_path / "config.txt.napekit-orig").read_text() == PI_OS_CONFIG
    assert bootconfig.main(["--boot", str(boot), "--config", str(conf)]) == 0
    assert boot.read_text() == edited
    assert "already has" in capsys.readouterr().out
    conf.write_text("[relay]\npin = 8\n")
    assert bootconfig.main(["--boot", str(boot), "--config", str(conf)]) == 2
    assert boot.read_text() == edited


# -- relay off ----------------------------------------------------------------------------------


@pytest.mark.parametrize("active_high", [True, False])
def test_relay_off_drives_a_pin_left_on_to_the_off_level(mock_factory, active_high):
    device = OutputDevice(17, active_high=active_high, pin_factory=mock_factory)
    device.on()  # the daemon died with the heat on (kill -9: the pin keeps its level)
    assert mock_factory.pin(17).state == active_high
    level = relay_off.drive_off(17, active_high, mock_factory)
    assert level == (not active_high)
    assert mock_factory.pin(17).state == (not active_high)
    assert mock_factory.pin(17).function == "output"


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("active_high", [True, False])
def test_relay_off_command_reads_the_config(mock_factory, tmp_path, capsys, active_high):
    conf = _write(tmp_path / "napekit.toml",
                  f"[relay]\npin = 24\nactive_high = {str(active_high).lower()}\n"
                  "[thermistor]\noffset_c = 99\n")  # invalid elsewhere: the relay still counts
    assert relay_off.main(["--config", str(conf)], pin_factory=mock_factory) == 0
    assert mock_factory.pin(24).state == (not active_high)
    assert "relay off" in capsys.readouterr().err


def test_relay_off_without_a_config_file_uses_the_reference_kit(mock_factory, tmp_path, capsys):
    mock_factory.pin(17).output_with_state(True)
    assert relay_off.main(["--config", str(tmp_path / "absent.toml")],
                          pin_factory=mock_factory) == 0
    assert mock_factory.pin(17).state is False
    assert "warning" not in capsys.readouterr().err.lower()


def test_relay_off_reads_the_relay_lines_of_a_broken_toml(mock_factory, tmp_path, capsys):
    conf = _write(tmp_path / "napekit.toml",
                  "[relay]\npin = 24   # moved\nactive_high = false\n\n[button\npin = 27\n")
    assert relay_off.main(["--config", str(conf)], pin_factory=mock_factory) == 0
    assert mock_factory.pin(24).state is True  # active-low: off is high
    err = capsys.readouterr().err
    assert "not valid TOML" in err and "GPIO24 active-low" in err


@pytest.mark.parametrize("text", ["\x00\x01 garbage", "[relay]\npin = 9\n", "[relay]\npin = 'x'\n",
                                  "relay = 3\n"])
def test_relay_off_falls_back_to_the_reference_pin_and_says_so(mock_factory, tmp_path, capsys,
                                                               text):
    conf = _write(tmp_path / "napekit.toml", text)
    mock_factory.pin(17).output_with_state(True)
    assert relay_off.main(["--config", str(conf)], pin_factory=mock_factory) == 0
    assert mock_factory.pin(17).state is False
    err = capsys.readouterr().err
    assert "GPIO17" in err and ("reference relay" in err or "not valid TOML" in err)


def test_relay_off_also_drives_the_pin_recorded_at_start(mock_factory, tmp_path):
    """The relay pin was edited while the daemon ran, then the daemon died: ExecStopPost
    turns off the pin the daemon really used as well as the one the config names now."""
    conf = _write(tmp_path / "napekit.toml", "[relay]\npin = 24\nactive_high = false\n")
    state = tmp_path / "relay-off.json"
    assert relay_off.main(["--config", str(conf), "--state", str(state)],
                          pin_factory=mock_factory) == 0  # ExecStartPre
    mock_factory.pin(24).state = False  # the daemon turned the heat on (active-low) ...
    _write(conf, "[relay]\npin = 23\nactive_high = true\n")  # ... the config was edited ...
    mock_factory.pin(23).output_with_state(True)
    assert relay_off.main(["--config", str(conf), "--state", str(state)],
                          pin_factory=mock_factory) == 0  # ... and ExecStopPost runs
    assert mock_factory.pin(24).state is True
    assert mock_factory.pin(23).state is False


def test_relay_off_without_gpio_fails_loudly(tmp_path, capsys):
    class NoGpio:
        def pin(self, spec):
            raise OSError("no /dev/gpiochip0")

    assert relay_off.main([], pin_factory=NoGpio()) == 1
    assert "could not drive the relay pin off" in capsys.readouterr().err


def test_relay_off_constants_match_the_config_module():
    """relay_off keeps its own copy of the reference relay (to import nothing of the kit)."""
    from firmware.config import SPI0_PINS, USABLE_GPIO, RelayConfig

    reference = RelayConfig()
    copied = (relay_off.REFERENCE_PIN, relay_off.REFERENCE_ACTIVE_HIGH)
    assert copied == (reference.pin, reference.active_high)
    relay_pins = relay_off._RELAY_PINS
    assert relay_pins == set(USABLE_GPIO) - set(SPI0_PINS)


@pytest.mark.slow
def test_relay_off_imports_nothing_else_of_the_kit():
    code = ("import sys, firmware.relay_off; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('firmware', 'web', "
            "'gpiozero', 'flask')))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=30)
    assert result.stdout.strip() == "['firmware', 'firmware.relay_off']", result.stderr


# -- the watchdog --------------------------------------------------------------------------------


class FakeSystemd:
    """systemd's end of NOTIFY_SOCKET: a real AF_UNIX datagram socket; every message is
    stamped with the virtual time at which it arrived."""

    def __init__(self, path: Path, clock) -> None:
        self.path = path
        self.clock = clock
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.setblocking(False)
        self.messages: list[tuple[float, str]] = []

    def drain(self) -> None:
        while True:
            try:
                data = self.sock.recv(4096)
            except BlockingIOError:
                return
            self.messages.append((self.clock.monotonic(), data.decode()))

    def pings(self) -> list[float]:
        self.drain()
        return [t for t, message in self.messages if message == "WATCHDOG=1"]

    def close(self) -> None:
        self.sock.close()


class LoopDriver:
    """Stands in for the loop's stop event. The loop sleeps only in ``wait``: here that
    moves the virtual clock by the time asked (plus ``oversleep_s`` once at ``stall_at_s``:
    the loop was not scheduled, or waited on a lock), and the loop stops at ``until_s``."""

    def __init__(self, clock: VirtualClock, systemd: FakeSystemd, until_s: float,
                 stall_at_s: float | None = None, oversleep_s: float = 0.0) -> None:
        self.clock, self.systemd, self.until_s = clock, systemd, until_s
        self.stall_at_s, self.oversleep_s = stall_at_s, oversleep_s
        self.resumed_at_s: float | None = None  # when the loop ran again after the stall

    def is_set(self) -> bool:
        return self.clock.monotonic() >= self.until_s

    def set(self) -> None:
        self.until_s = self.clock.monotonic()

    def wait(self, timeout: float | None = None) -> bool:
        self.systemd.drain()  # stamped now: nothing has moved since the loop sent them
        step = max(timeout or 0.0, 1e-6)
        stalled = self.stall_at_s is not None and self.clock.monotonic() >= self.stall_at_s
        if stalled:
            step += self.oversleep_s
            self.stall_at_s = None
        self.clock.advance(step)
        if stalled:
            self.resumed_at_s = self.clock.monotonic()
        return self.is_set()


@pytest.fixture
def watched_daemon(short_tmp, monkeypatch):
    """A simulated daemon on a virtual clock whose notifier is the real systemd_notifier()
    talking to a FakeSystemd at $NOTIFY_SOCKET."""
    clock = VirtualClock()
    systemd = FakeSystemd(short_tmp / "notify", clock)
    monkeypatch.setenv("NOTIFY_SOCKET", str(systemd.path))
    notify = systemd_notifier()
    assert notify is not None
    daemon = KitDaemon(HardwareConfig(), short_tmp / "data", short_tmp / "control.sock",
                       sim=True, clock=clock, notify=notify)
    daemon.server.serve_in_thread()
    yield daemon, clock, systemd
    daemon._stop = threading.Event()
    daemon.stop()
    systemd.close()


def _watchdog_s() -> float:
    return _seconds(_unit(FIRMWARE_UNIT)["Service"]["WatchdogSec"])


def test_watchdog_pings_every_tick_while_the_loop_is_on_time(watched_daemon):
    daemon, clock, systemd = watched_daemon
    daemon._stop = LoopDriver(clock, systemd, until_s=30.0)
    daemon.loop()
    pings = systemd.pings()
    assert daemon.ticks >= 295 and len(pings) == daemon.ticks
    gaps = [b - a for a, b in zip(pings, pings[1:], strict=False)]
    assert max(gaps) <= 0.1 + 1e-6
    assert max(gaps) < _watchdog_s() / 4


def test_watchdog_pings_stop_while_the_loop_stalls(watched_daemon):
    daemon, clock, systemd = watched_daemon
    watchdog_s = _watchdog_s()
    stall_s = watchdog_s + 1.0
    driver = LoopDriver(clock, systemd, until_s=20.0, stall_at_s=5.0, oversleep_s=stall_s)
    daemon._stop = driver
    daemon.loop()
    pings = systemd.pings()
    resumed = driver.resumed_at_s
    before = [t for t in pings if t < resumed]
    after = [t for t in pings if t >= resumed]
    assert before and after, pings
    # No ping during the stall: systemd sees a gap longer than WatchdogSec and aborts the
    # daemon (ExecStopPost then forces the relay off) ...
    silence = after[0] - before[-1]
    assert silence > watchdog_s, (silence, watchdog_s)
    # ... nor from the late tick that ends it (it is judged unhealthy) ...
    assert after[0] >= resumed + 0.1 - 1e-6, (after[0], resumed)
    # ... and once the loop is on time again the pings come back.
    assert len(after) > 50


def test_watchdog_no_ping_from_a_tick_later_than_the_stall_limit(watched_daemon):
    daemon, clock, systemd = watched_daemon
    driver = LoopDriver(clock, systemd, until_s=10.0, stall_at_s=5.0, oversleep_s=2 * STALL_S)
    daemon._stop = driver
    daemon.loop()
    pings = systemd.pings()
    resumed = driver.resumed_at_s
    assert not [t for t in pings if resumed - 2 * STALL_S < t < resumed + 0.1 - 1e-6], pings


def test_a_tick_late_by_less_than_the_stall_limit_still_pings(watched_daemon):
    daemon, clock, systemd = watched_daemon
    daemon._stop = LoopDriver(clock, systemd, until_s=10.0, stall_at_s=5.0,
                              oversleep_s=STALL_S / 2)
    daemon.loop()
    pings = systemd.pings()
    gaps = [b - a for a, b in zip(pings, pings[1:], strict=False)]
    assert max(gaps) < STALL_S + 0.2


def test_watchdog_no_ping_from_a_tick_that_itself_hung(watched_daemon):
    daemon, clock, systemd = watched_daemon
    real_tick = daemon.kit.tick
    hung = []

    def tick():
        real_tick()
        if clock.monotonic() >= 5.0 and not hung:
            hung.append(clock.monotonic())
            clock.advance(3 * STALL_S)  # shorter than WatchdogSec, far past STALL_S
    daemon.kit.tick = tick
    daemon._stop = LoopDriver(clock, systemd, until_s=10.0)
    daemon.loop()
    pings = systemd.pings()
    assert not any(hung[0] < t <= hung[0] + 3 * STALL_S + 1e-6 for t in pings), pings


@pytest.mark.slow
def test_watchdog_pings_stop_when_the_loop_thread_blocks(short_tmp, monkeypatch):
    """The real thing on the real clock: the loop thread blocks on the kit's lock (held
    here, as a wedged socket handler would) and no ping is sent until it is free again."""
    systemd = FakeSystemd(short_tmp / "notify", RealClock())
    monkeypatch.setenv("NOTIFY_SOCKET", str(systemd.path))
    daemon = KitDaemon(HardwareConfig(), short_tmp / "data", short_tmp / "control.sock",
                       sim=True, clock=RealClock(), notify=systemd_notifier())
    daemon.server.serve_in_thread()
    thread = threading.Thread(target=daemon.loop, daemon=True)
    try:
        thread.start()

        def count(seconds: float, stop_at_first: bool = False) -> int:
            deadline = time.monotonic() + seconds
            n = 0
            while time.monotonic() < deadline and not (stop_at_first and n):
                time.sleep(0.02)
                n += len(systemd.pings())
                systemd.messages.clear()
            return n

        assert count(3.0, stop_at_first=True) >= 1, "no pings from a healthy loop"
        with daemon.kit.locked():
            count(0.2)  # a tick already past the lock may still finish
            while_blocked = count(0.8)  # 8 ticks' worth
        assert while_blocked == 0, "pings while the loop was blocked"
        assert count(3.0, stop_at_first=True) >= 1, "pings did not come back"
    finally:
        daemon._stop.set()
        thread.join(timeout=5)
        daemon.stop()
        systemd.close()
