"""The supervisor's concerns, one module each (:mod:`firmware.supervisor` runs them in
its fixed order and owns the verdict):

* :mod:`~firmware.safety.sensors`: one thermistor on its own: range, rails, bursts of bad
  samples, staleness, a frozen count;
* :mod:`~firmware.safety.blocks`: one-second means of the readings for the slower checks;
* :mod:`~firmware.safety.detach`: a reading that falls faster than the pad can cool;
* :mod:`~firmware.safety.disagree`: two readings further apart than a healthy pad explains;
* :mod:`~firmware.safety.profile`: the stored pad profile, and a session checked against it;
* :mod:`~firmware.safety.feedback`: the supply feedback against the relay's command;
* :mod:`~firmware.safety.heating`: heat on well below the target must show in a reading;
* :mod:`~firmware.safety.runaway`: a pad that heats with the relay off (kits without
  feedback);
* :mod:`~firmware.safety.dose`: CEM43 per session and in any 24 hours.

Like the supervisor, these modules read no clock and import no hardware, control, session
or kit: time and readings are passed in, and each only finds; the supervisor decides.
"""
