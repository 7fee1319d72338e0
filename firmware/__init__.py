"""napekit firmware: the part of the kit that owns the hardware.

It heats a pad on the back of a person's neck. Every module that can switch the heat
states its hazards in its docstring; the safety numbers live in :mod:`firmware.limits`.
"""

__version__ = "0.1.0"
