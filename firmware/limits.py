"""The safety numbers of DESIGN.md, in one place.

These are the limits the supervisor enforces. A user setting may make a limit stricter,
never looser; nothing outside this module should spell these numbers again.
"""

# Target temperature the user may choose.
TARGET_MIN_C = 30.0
TARGET_MAX_C = 43.0
TARGET_STEP_C = 0.5
TARGET_DEFAULT_C = 40.0

# A reading at or above this turns heat off at once and latches `overtemp`.
OVERTEMP_C = 45.0
# A latched fault may be cleared (long press) only with a valid reading below this.
FAULT_CLEAR_BELOW_C = OVERTEMP_C - 2.0

# A calibration offset moves every limit judged on that sensor: at most this, either way.
CALIBRATION_OFFSET_MAX_C = 3.0

# A kit built with one thermistor cannot cross-check it: its target is capped lower.
ONE_SENSOR_TARGET_MAX_C = 41.0

# Plausible sensor range; outside it (or a raw count at the rails) is not a reading.
SENSOR_MIN_C = 0.0
SENSOR_MAX_C = 80.0
RAW_LOW_LIMIT = 8  # raw <= this: thermistor shorted (NTC to ground)
RAW_HIGH_LIMIT = 1015  # raw >= this: thermistor open
OUT_OF_RANGE_SAMPLES_TO_LATCH = 3

# Sampling and reaction: relay off within REACTION_S of the first sample past a limit.
SAMPLE_HZ = 10.0
TICK_S = 1.0 / SAMPLE_HZ
REACTION_S = 0.2

# Relay wear: an on is refused sooner than this after an off (firmware.devices.HeatRelay).
# It never delays an off.
RELAY_MIN_OFF_S = 2.0

# No valid sample for this long: heat off; for the longer time: fault `sensor_stale`.
NO_SAMPLE_HEAT_OFF_S = 0.5
NO_SAMPLE_FAULT_S = 2.0

# Relay energised this long in all while the raw count never changed: `sensor_stale`.
STUCK_COUNT_RELAY_ON_S = 60.0

# Heating check: relay on and reading below target - margin must gain this much per window.
HEATING_CHECK_MARGIN_C = 2.0
HEATING_CHECK_GAIN_C = 1.0
HEATING_CHECK_WINDOW_S = 60.0

# Runaway, in every state: relay commanded off, reading >= floor and rising this much.
RUNAWAY_FLOOR_C = 35.0
RUNAWAY_RISE_C = 1.5
RUNAWAY_WINDOW_S = 60.0
# After an off the lagging reading still climbs towards the pad's temperature for a while:
# the runaway check starts this long after the relay was commanded off.
RUNAWAY_SETTLE_S = 30.0

# Pre-heat must reach the target within this time. It ends when the reading first comes
# within TARGET_BAND_C of the target (DESIGN.md: time_to_target_s); control plans its
# hold around the same band.
PREHEAT_LIMIT_S = 15 * 60.0
TARGET_BAND_C = 0.5

# Warm-up hold, in minutes.
HOLD_MIN_MIN = 1
HOLD_MIN_MAX = 20
HOLD_MIN_DEFAULT = 10

# Hard cap on relay-energised time in one session.
SESSION_HEAT_LIMIT_S = 30 * 60.0

# CEM43 thermal dose per session (equivalent minutes at 43 C).
DOSE_LIMIT_CEM43 = 15.0

# A long press: stops everything, clears a fault, approves a pairing.
LONG_PRESS_S = 2.0
