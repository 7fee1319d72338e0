"""What the supervisor must remember across restarts: the day's dose and the pad profile.

The supervisor is pure (no store, no clock); the kit owns one :class:`KitMemory` that moves
its memory to and from the store:

* **Dose.** Each :class:`~firmware.safety.dose.DoseBook` entry goes to the store's dose
  table as it is made (about every 0.05 CEM43, and at the end of every session), stamped
  with the kit's wall clock; at boot the last 24 hours are read back. So stops, new
  sessions and restarts (``kill -9`` included) all count against one budget.
* **Pad profile.** After a healthy session (it started from a pad at rest, held the
  target and ended without a fault) the control law's learnt model is stored, once, with
  the model the check fits to that session's readings (so the profile predicts exactly
  what the check compares): later sessions are judged against it
  (:mod:`firmware.safety.profile`) and the control law starts from its own model after a
  restart.
  It is kept until ``napekit profile reset`` (a new pad) forgets it; the next healthy
  session then stores the new pad.

Hazard: the profile is only as good as the session it was learnt in. It is stored once and
never drifts with later sessions, so sensors that loosen slowly over weeks are still
compared with the pad as it was when it was good.
"""

from __future__ import annotations

import logging
from typing import Any

from firmware import limits as L
from firmware.clock import Clock
from firmware.control import PadModel
from firmware.records import Records
from firmware.safety.dose import DoseBook
from firmware.safety.profile import PadProfile, SensorModel
from firmware.supervisor import Supervisor

log = logging.getLogger(__name__)


class KitMemory:
    def __init__(self, records: Records, supervisor: Supervisor, clock: Clock) -> None:
        self.records = records
        self.store = records.store
        self.supervisor = supervisor
        self.clock = clock

    # -- boot -----------------------------------------------------------------------------
    def restore(self, controller: Any) -> None:
        """The last day's dose and the stored profile into the supervisor; the profile into
        the control law too (when it takes one)."""
        wall_s = self.clock.wall()
        since = wall_s - L.DOSE_WINDOW_S
        self.supervisor.dose = DoseBook(self.records.read(
            "the day's dose", lambda: self.store.dose_since(since), []))
        profile = self.stored_profile()
        self.supervisor.set_profile(profile)
        if profile is not None:
            self.give_controller(controller, profile)

    def stored_profile(self) -> PadProfile | None:
        row = self.records.read("the pad profile", self.store.load_profile, None)
        if row is None:
            return None
        try:
            sensors = tuple(SensorModel(**{k: float(v) for k, v in m.items()})
                            for m in row["sensors"])
            profile = PadProfile(**{k: float(row[k]) for k in ("lag_s", "lag_sigma_s",
                                                               "rise_c_per_s", "tau_s",
                                                               "ambient_c")},
                                 sensors=sensors)
        except (KeyError, TypeError, ValueError, AttributeError):
            profile = None
        if profile is not None and len(profile.sensors) != self.supervisor.sensors:
            log.error("the stored pad profile is of a kit with %d sensor(s): ignored",
                      len(profile.sensors))
            return None
        if profile is None or not profile.usable:
            log.error("the stored pad profile is unusable (%r): ignored", row)
            return None
        return profile

    @staticmethod
    def give_controller(controller: Any, profile: PadProfile) -> None:
        restore = getattr(controller, "restore", None)
        if restore is not None:
            restore(PadModel(lag_s=profile.lag_s, lag_sigma_s=profile.lag_sigma_s,
                             rise_c_per_s=profile.rise_c_per_s, tau_s=profile.tau_s,
                             ambient_c=profile.ambient_c))

    # -- while running --------------------------------------------------------------------
    def flush_dose(self, force: bool = False) -> None:
        """The dose not yet stored, into the store (each step of FLUSH_CEM43, or all of it
        when ``force``)."""
        wall_s = self.clock.wall()
        amount = self.supervisor.dose.take_pending(wall_s, force)
        if amount is not None:  # kept if refused: a restart must still count it
            self.records.write("the day's dose", lambda: self.store.add_dose(wall_s, amount),
                               keep=True)

    def session_ended(self, controller: Any, healthy: bool) -> None:
        """The session's dose stored; the pad's profile stored after a first healthy one."""
        self.flush_dose(force=True)
        if not healthy or self.supervisor.profile.profile is not None:
            return
        learnt = PadProfile.from_model(getattr(controller, "learnt", None))
        profile = None if learnt is None else self.supervisor.profile.fit_profile(learnt)
        if profile is None:
            return  # nothing learnt, or not from a pad at rest: a later session stores it
        saved = profile.as_dict()
        self.records.write("the pad profile", lambda: self.store.save_profile(saved))
        self.supervisor.set_profile(profile)
        log.info("pad profile stored: %s", profile)

    def reset_profile(self) -> bool:
        """Forget the pad (a new pad is fitted): the next healthy session stores anew.
        False (nothing forgotten) if the store refused."""
        written, _ = self.records.write("the profile reset", self.store.clear_profile)
        if not written:
            return False
        self.supervisor.set_profile(None)
        log.warning("pad profile reset: the next healthy session stores the pad anew")
        return True

    def profile_status(self) -> dict[str, Any]:
        """The stored profile (what the kit judges by after its next boot, and now)."""
        profile = self.stored_profile()
        return {"profile": None if profile is None else profile.as_dict(),
                "saved_at": (self.records.read("the pad profile", self.store.load_profile, None)
                             or {}).get("saved_at")}
