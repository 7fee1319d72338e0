"""``python -m firmware`` is the ``napekit`` command."""

from firmware.cli import main

raise SystemExit(main())
