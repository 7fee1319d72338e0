"""The control law: whether the heat pad's relay should be closed in the next tick.

Control only *proposes* a relay state. The safety supervisor (:mod:`firmware.supervisor`)
may veto any proposal to off, and :class:`firmware.devices.HeatRelay` is the one choke point
that writes the pin (it never delays an off, and refuses an on sooner than
:data:`firmware.limits.RELAY_MIN_OFF_S` after an off). Nothing here reads a clock or
sleeps: time is passed in.

The package:

* :mod:`~firmware.control.base`: the :class:`Controller` protocol and its factory type;
* :mod:`~firmware.control.fitting`: least-squares line and streaming least squares;
* :mod:`~firmware.control.model`: the learnt :class:`PadModel`, its identifier, the observer;
* :mod:`~firmware.control.estimator`: learning and the true-temperature estimates;
* :mod:`~firmware.control.hold`: the hold's time-proportioned PI windows;
* :mod:`~firmware.control.pad`: :class:`PadController`, the kit's controller, one method
  per :class:`~firmware.control.pad.Mode`; :mod:`~firmware.control.tuning` its tunables;
* :mod:`~firmware.control.peers`: bang-bang and time-proportioned PID, for the bench and
  the tests only.

Hazards, which every controller here has to respect:

* The reading lags the pad. The thermistor sits behind a first-order lag of a few seconds
  to a quarter of a minute, so when the *reading* reaches the target at full power the
  *pad* is already well past it. A controller that switches on the reading alone
  overshoots the skin-side temperature; :class:`PadController` switches on an estimate of
  the true pad temperature instead, and until it has learnt the lag it assumes a long one
  (a lag assumed too short is a late cut: 5 °C over on a fast pad behind a 30 s sensor).
* A pad profile stored from an earlier session may be wrong (another pad, a bead since
  re-glued, another room): :meth:`PadController.restore` trusts it only where a wrong
  value costs hold quality, never where it would cut the heat later.
* The reading is coarse (one MCP3008 count is about 0.1 °C near 40 °C) and noisy, so a raw
  two-point derivative is mostly noise; slopes here are least-squares fits over seconds.
* A controller that dithers at a low duty far below the target trips the supervisor's
  heating check (``no_heat``): below ``target - 2 °C`` the reading must gain 1 °C per 60 s
  of heat. :class:`PadController` heats at full power when it is far below the target.
* A reading that stops changing while heating means the sensor may be stuck: the pad
  could be heating unseen. The supervisor faults (``sensor_stale``) after 60 s of relay-on
  time with an unchanged count; :class:`PadController` stops proposing heat on its own
  after ``stuck_on_s`` (75 s) as a backstop behind it, never before it, so the fault is
  raised and shown rather than masked by a controller that quietly gave up.
* A proposal is never a promise: whatever a controller returns, the supervisor and the
  hardware thermal cutoff stay the last word.
"""

from __future__ import annotations

from firmware.control.base import Controller, ControllerFactory
from firmware.control.model import PadModel
from firmware.control.pad import Mode, PadController
from firmware.control.peers import BangBangController, TimeProportionalPID
from firmware.control.tuning import PadTuning

__all__ = [
    "BangBangController",
    "Controller",
    "ControllerFactory",
    "Mode",
    "PadController",
    "PadModel",
    "PadTuning",
    "TimeProportionalPID",
    "default_controller",
]


def default_controller() -> PadController:
    """A new instance of the kit's controller with its tuned defaults."""
    return PadController()
