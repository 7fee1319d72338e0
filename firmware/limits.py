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
# A loose connector: bad samples that keep coming back. A run of bad samples is one burst;
# this many bursts within the window latch the sensor's fault (a single spike does not).
INTERMITTENT_BURSTS = 3
INTERMITTENT_WINDOW_S = 60.0

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

# Relay energised this long in all while the raw count never changed: `sensor_stale`. On a
# two-sensor kit a noise-free sensor can hold one count through a steady hold, so there a
# frozen count must also be shown wrong: the count had changed in most seconds of the
# STUCK_COUNT_RELAY_ON_S before it froze (a live sensor's noise), or the other sensor's
# count moved STUCK_OTHER_MOVED_COUNTS meanwhile, or the relay has been on for
# STUCK_ON_STRETCH_S in one stretch (full power moves a live sensor's count far sooner; a
# hold's pulses are shorter).
STUCK_COUNT_RELAY_ON_S = 60.0
STUCK_OTHER_MOVED_COUNTS = 3
STUCK_ON_STRETCH_S = 20.0

# Heating check: relay on and reading below target - margin must gain this much per window.
# In the first HEATING_CHECK_SETTLE_S of heat the base may follow a reading that still falls
# (a lagging sensor on a pad that was cooling when the heat began); the window then counts
# from the turn, HEATING_CHECK_TURN_S longer (the sensor picks up speed over a lag).
HEATING_CHECK_MARGIN_C = 2.0
HEATING_CHECK_GAIN_C = 1.0
HEATING_CHECK_WINDOW_S = 60.0
HEATING_CHECK_SETTLE_S = 60.0
HEATING_CHECK_TURN_S = 30.0

# Runaway (kits without supply feedback), in every state: relay commanded off and the pad
# heating: the reading >= floor, above anything the pad had when the heat went off (the
# reading then, plus the most a sensor up to SENSOR_LAG_MAX_S behind could still catch up,
# plus the margin), and either above any room (ROOM_MAX_C + margin) or rising faster over
# the window than the hottest room could push the fastest pad. RUNAWAY_SETTLE_S after an
# off sets where the pad was; the check is asked from then on.
RUNAWAY_FLOOR_C = 35.0
RUNAWAY_RISE_C = 1.5  # rate test: at least this much over RUNAWAY_WINDOW_S, beyond the room
RUNAWAY_WINDOW_S = 60.0
RUNAWAY_SETTLE_S = 20.0
RUNAWAY_MARGIN_C = 1.0
RUNAWAY_CONFIRM_S = 5.0  # the evidence holds this long (1 s means) before it latches
ROOM_MAX_C = 40.0  # the hottest room a kit may sit in: a room cannot push a pad above it

# The pads a kit may drive (the bench's range): the quickest a healthy pad cools is
# (T - ambient) / PAD_TAU_MIN_S, towards an ambient no lower than AMBIENT_MIN_C; a sensor
# lags the pad by at most SENSOR_LAG_MAX_S.
PAD_TAU_MIN_S = 150.0  # 60 J/K over 0.4 W/K
AMBIENT_MIN_C = 10.0
SENSOR_LAG_MAX_S = 60.0  # 30 s, and a second sensor up to twice as slow

# Sensor detached: a reading (0.5 s mean) that falls below the highest 1 s mean of the last
# DETACH_WINDOW_S by more than a healthy pad cools (towards AMBIENT_MIN_C with
# DETACH_TAU_S, faster than any pad of the range) plus DETACH_NOISE_C: heat off at that
# sample; still so after DETACH_GRACE_S: fault `sensor_detached`.
DETACH_WINDOW_S = 10.0
DETACH_TAU_S = 100.0
DETACH_NOISE_C = 1.0
DETACH_GRACE_S = 1.0

# Sensor disagree (two sensors): over each window of 1 s means, the mean difference of the
# readings against what two healthy first-order sensors of lag <= SENSOR_LAG_MAX_S on one
# pad allow (their catch-up over the window), plus DISAGREE_TOL_C (offsets, noise);
# beyond it for DISAGREE_CONFIRM_S: fault `sensor_disagree`.
DISAGREE_WINDOWS_S = (20, 60)
DISAGREE_TOL_C = 1.0
DISAGREE_CONFIRM_S = 5.0

# Pad profile: each sensor's rise in a session from rest against the stored profile's
# prediction; every sensor's ratio below PROFILE_MIN_RATIO (supply voltage alone moves it
# ~10 %, the fit a few % more) for PROFILE_CONFIRM_S: fault `sensor_disagree`. Judged
# from when the predictions have risen PROFILE_MIN_RISE_C (earlier, an error in the lag
# weighs too much) until PROFILE_JUDGE_S into the session (the approach, where loose
# sensors overheat a pad; later a model's small error in the time constant adds up). The
# pad counts as at rest with PROFILE_REST_S of readings drifting no faster than
# PROFILE_REST_SLOPE_C_PER_S before the heat; a profile is stored only from a session that
# started truly at rest (PROFILE_STORE_REST_SLOPE_C_PER_S) and rose
# PROFILE_STORE_MIN_RISE_C.
PROFILE_MIN_RATIO = 0.75
PROFILE_MIN_RISE_C = 5.0
PROFILE_JUDGE_S = 600.0
PROFILE_STORE_MIN_RISE_C = 8.0
PROFILE_REST_S = 30
PROFILE_REST_SLOPE_C_PER_S = 0.02
PROFILE_STORE_REST_SLOPE_C_PER_S = 0.005
PROFILE_CONFIRM_S = 5.0

# Supply feedback: powered while the relay is commanded off (every tick for this long):
# fault `relay_welded` (within 0.5 s of the off command); commanded on without supply for
# this long in all: fault `no_heat`.
WELD_CONFIRM_S = 0.2
NO_SUPPLY_FAULT_S = 5.0

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

# CEM43 thermal dose (equivalent minutes at 43 C) of the hotter reading, in any 24 hours,
# counted across sessions, stops and restarts (kept in the store). Reaching the limit ends
# the heating; heat is available again once at most limit - DOSE_RESUME_CEM43 lies in the
# last 24 hours (one minute at 43 C, four at 42 C, sixteen at 41 C free).
DOSE_LIMIT_CEM43 = 15.0
DOSE_WINDOW_S = 24 * 3600.0
DOSE_RESUME_CEM43 = 1.0

# A long press: stops everything, clears a fault, approves a pairing.
LONG_PRESS_S = 2.0
