"""Who may import whom: the dependency rules of docs/architecture.md, checked in a fresh
interpreter (so nothing another test imported hides a violation)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# module -> modules it must not pull in (directly or through anything it imports)
FORBIDDEN = {
    "firmware.supervisor": ["gpiozero", "firmware.devices", "firmware.kit", "firmware.control",
                            "firmware.session", "firmware.store"],
    "firmware.thermistor": ["gpiozero"],
    "firmware.states": ["gpiozero", "firmware.kit"],
    "firmware.control_socket": ["firmware.kit", "gpiozero"],
    "firmware.session": ["gpiozero", "firmware.devices"],
    "firmware.pairing": ["gpiozero", "firmware.kit"],
    # the MQTT bridge and the child runner are processes without GPIO or authority
    "firmware.mqtt.service": ["gpiozero", "firmware.kit", "firmware.devices",
                              "firmware.daemon", "firmware.supervisor", "firmware.control"],
    "firmware.child": ["gpiozero", "firmware.kit", "firmware.daemon"],
}

CHECK = """
import importlib, json, sys
forbidden = json.loads(sys.argv[1])
bad = {}
for module, banned in forbidden.items():
    for name in list(sys.modules):
        if name.startswith(("firmware", "gpiozero")):
            del sys.modules[name]
    importlib.import_module(module)
    pulled = [b for b in banned if b in sys.modules]
    if pulled:
        bad[module] = pulled
print(json.dumps(bad))
"""


def test_layers_import_only_what_they_may():
    import json

    result = subprocess.run([sys.executable, "-c", CHECK, json.dumps(FORBIDDEN)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {}
