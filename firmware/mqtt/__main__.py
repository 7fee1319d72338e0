"""``python -m firmware.mqtt``: the same as ``napekit mqtt``."""

from firmware.mqtt.service import main

raise SystemExit(main())
