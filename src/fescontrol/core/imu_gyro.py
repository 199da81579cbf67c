"""Causal swing detector on a foot- or shank-mounted gyroscope (sagittal angular velocity).

Why a gyroscope: the sagittal angular velocity of the foot or shank draws every stride the
same way whatever the wearer weighs or the shoe does (gait-detection.md section 3: foot and
shank gyro detectors are as accurate as foot switches in healthy gait). With the sign chosen
so that the swing is positive (``s``):

* stance: the foot is nearly still (|s| small); the shank turns backward all through it (the
  knee passes over the foot: a slow negative lobe of a fifth to a third of the swing peak);
* push-off (heel off -> toe off): a negative lobe, deepest about at toe-off (foot); on the
  shank the pre-swing dip (knee flexion) with its minimum near toe-off, often little deeper
  than the stance's lobe;
* swing: the largest positive lobe (the foot or shank rotates forward);
* heel strike: ``s`` falls through zero at the end of the swing lobe (foot), or reaches the
  negative minimum after it (shank).

Events (``fescontrol.core.events``)
-----------------------------------
* ``EV_HEEL_OFF`` (the burst starts here): ``s`` falls below ``-onset`` after a stance guard,
  ``onset = max(min_onset_dps, onset_share x running push-off peak)`` (shank: ``max(min_onset_dps,
  shank_onset_share x running swing peak)``, armed only once the stance's backward lobe has come
  back to ``SHANK_BACK_SHARE`` of its depth (latched: a short stance or a dropout may hide that
  return before the pre-swing dip begins), or after ``shank_guard_share`` of the running
  stride; the first swing peak replaces the default at once). The shank also starts a burst on a
  shallower pre-swing cue: within a running stride of a heel strike it saw, once the stance's
  backward rotation has come back near zero, a renewed backward rotation past
  ``SHANK_EARLY_SHARE`` of the running swing peak (knee flexion before toe-off; shuffling has
  no deeper dip), not in a stance that turned faster than ``TURN_DPS``. Before the first
  stride the crossing must also be steep (faster than ``onset / 3`` per ``max_rise_s``: a slow rotation, such as
  a turn on the spot seen by a not yet settled auto axis, is no push-off; the shank's pre-swing
  cue is exempt once a sign flip has shown a swing-sized lobe on the axis: a shuffler's dip deepens
  slowly). A gait with no
  push-off lobe (shuffling, most shank signals of slow walkers) still starts a burst, late:
  when the swing lobe rises above the swing threshold (shank, once a stride is known: also
  above ``SHANK_LATE_SHARE`` of the running swing peak).
  Once a stride is known the burst is delayed so that it starts ``onset_lead_s`` before the
  expected toe-off (crossing + running crossing-to-toe-off time, at most
  ``max_onset_delay_s``; a toe-off always starts it), as the adaptive heel's onset delay does:
  the event is then emitted at the delayed sample and reaches back to the crossing.
* ``EV_TOE_OFF``: the push-off lobe has risen back to 60 % of its depth (where the
  voisard2023 reference puts toe-off, about 30 ms after the deepest sample).
* ``EV_HEEL_STRIKE`` (the burst ends): foot, ``s`` below ``-max(min_strike_dps,
  strike_share x running swing peak)`` after the swing peak; shank, the minimum after that;
  either way not before ``max(min_swing_s, swing_guard_share x running swing)`` after
  toe-off. A swing lobe that sinks below ``LOW_SHARE`` of its peak and stays there for
  ``LOW_HOLD_S`` (a foot put down flat, no dip; the shank: twice as long, dip or not, so the
  slow return to upright after a last step does not hold the burst on) ends it too,
  backdated to where it sank. On the foot, once the swing lobe has passed the swing threshold,
  a foot at rest (the whole rotation, the gyro vector's length, below ``REST_DPS`` for
  ``REST_HOLD_S``) is on the ground: heel strike, backdated to where the rest began, whatever
  the swing's age (a last step set down gently shows no dip, and the landing's small rebounds
  or a zero not yet relearned keep ``s`` above ``LOW_SHARE`` of a low peak).
* ``EV_STIM_ABORT``: the push-off lobe lasts too long (a heel raise, standing on the toes),
  no swing lobe follows the toe-off soon enough (a weight shift; on the foot, once a stride is
  known, not while the foot still turns faster than ``AIR_DPS`` about another axis or as a
  whole: a foot swung out sideways, as in a circumduction, or turned in a turning step, is in
  the air; nor while it still rotates forward faster than the onset floor, before a stride
  than the swing floor, or with the auto axis as a whole faster than the onset floor: a slow
  swing lobe still rising, see ``_foot_in_air``; a swing lobe that comes after the swing wait
  is timed from its upward zero crossing), or the swing lasts
  longer than ``timeout_share`` x the running swing (a stumble, a pivot): the burst ends, no step.

Guards: after a heel strike the next burst needs ``max(min_stance_s, guard_share x running
stride)`` and a fresh crossing (the heel-strike lobe has the push-off's sign and must not
start a burst); before any heel strike (a recording that starts mid-walk) ``min_stance_s`` of
quiet, except on the foot after a burst that ended in the swing wait with the whole rotation
below ``MOTION_DPS`` all through it (a weight shift: the foot stayed on the ground, so no swing is
under way whose landing could pass for a push-off, and a first step that follows at once keeps
its burst). A swing lobe must reach ``max(min_swing_dps, swing_share x running swing
peak)``. Running peaks and times adapt stride by stride (``x += adapt_share (new - x)``) and
start from defaults, so the first step works without a calibration walk. Standing, weight
shifting and turning on the spot stay below the floors in the sagittal direction (a turn is
a rotation about the vertical axis), so they start nothing. A step taken while turning is a
swing like any other, but pushes off weakly in the sagittal direction: on the foot, a stance
that has turned faster than ``TURN_DPS`` about another axis (50 ms mean, since the stance was
armed) lowers the onset to its floor ``min_onset_dps`` for the push-off that ends it.

Sagittal axis and sign: fixed by the profile (``x``, ``-y`` ...), or ``auto``: the direction
of the largest angular-velocity variance while moving (a leaky 3x3 covariance of the gyro
vector over samples above ``MOTION_DPS``, one power-iteration step per sample), so a sensor
rotated in any way still works; the sign comes from the first steep lobe after a quiet stance:
on the foot the push-off, on the shank the knee moving forward as the heel rises, both
negative. On the foot it is checked on every later lobe that follows a quiet stance: one with
the swing's sign flips it while at most one stride was walked with it, then two in a row (three
from four strides on) (a first guess spoiled by a weight shift is recovered; the
swing lobe right after a push-off the detector saw does not vote). On the shank, a wrong sign
makes every swing lobe a "dip" with no swing after it: two such aborts in a row (one before
the first stride) flip it. On the foot, a flip that ends a lobe which had started a late burst
(taken for a swing: it was the push-off, seen with the wrong sign) keeps the burst on, now at
its toe-off, waiting for the swing lobe. The shank's lobe that sets the sign also starts the
first burst at once (the gait initiation's knee flexion; the shank's onset is a share of a swing peak not seen yet),
and that burst teaches no onset delay: its crossing was the sign test's, far shallower. The
pre-swing cue and the onset each learn their own crossing-to-toe-off time.

Conditioning: each axis's zero (bias) is learned while the sensor is still (every axis
within ``still_dps`` of its 50 ms mean for 0.2 s; the shank 1 s, its smooth stance lobe looks
still for 0.2 s, and its 50 ms mean must also stay within ``still_dps`` of where the still run
began: a slow lean, such as the backward lean of a gait initiation, is no zero), so a gyro that
reads tens of deg/s at rest
still works; a median of three drops one-sample spikes (shoe impacts), and every event is
backdated by its one sample of delay.

Kernel conventions (house style): pure functions over arrays with explicit float64 state and
a float64 parameter vector (slots ``P_*``), no I/O, no clock; NaN in any axis is "no
evidence" (time passes, nothing else changes). One call over n samples == n calls over 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from fescontrol.core.events import (
    EV_HEEL_OFF,
    EV_HEEL_STRIKE,
    EV_NONE,
    EV_STIM_ABORT,
    EV_TOE_OFF,
    PH_CONTACT,
    PH_SWING,
    PH_UNKNOWN,
)

__all__ = [
    "AXES",
    "ImuGyroParams",
    "IMU_PARAM_SIZE",
    "IMU_STATE_SIZE",
    "MOUNT_FOOT",
    "MOUNT_SHANK",
    "MOTION_DPS",
    "SATURATION_DPS",
    "new_imu_state",
    "detect_imu_gyro",
    "signal_problem",
]

MOUNT_FOOT = 0
MOUNT_SHANK = 1
MOTION_DPS = 40.0
"""Gyro samples faster than this (vector norm) feed the auto-axis covariance."""
SATURATION_DPS = 1990.0
"""A reading at or beyond this is at a +-2000 deg/s range limit."""

# --- parameter vector -------------------------------------------------------------------------
P_MOUNT = 0
P_AXIS = 1
"""-1: auto; 0, 1, 2: x, y, z."""
P_SIGN = 2
"""+1 / -1 for a fixed axis (swing positive); 0 with auto."""
P_ONSET_SHARE = 3
P_MIN_ONSET = 4
P_SWING_SHARE = 5
P_MIN_SWING = 6
P_STRIKE_SHARE = 7
P_MIN_STRIKE = 8
P_MIN_STANCE = 9
"""Samples."""
P_GUARD_SHARE = 10
P_MAX_PUSHOFF = 11
"""Samples from burst onset to toe-off at most."""
P_SWING_WAIT = 12
"""Samples from toe-off to the swing threshold at most."""
P_TIMEOUT_SHARE = 13
P_MIN_TIMEOUT = 14
"""Samples: floor of the swing time-out."""
P_ADAPT = 15
P_MAX_STRIDE = 16
"""Samples: longer strides are not learned."""
P_AXIS_MEMORY = 17
"""Samples: time constant of the auto-axis covariance."""
P_INIT_PUSHOFF = 18
P_INIT_SWING_PEAK = 19
P_INIT_STRIDE = 20
"""Samples."""
P_INIT_SWING = 21
"""Samples."""
P_QUIET = 22
"""Samples of stance below the onset threshold before a burst may start (0 = none)."""
P_MIN_SWING_T = 23
"""Samples: floor of the shortest swing (toe-off to heel strike)."""
P_SWING_GUARD_SHARE = 24
"""Shortest swing as this share of the running swing time."""
P_LOW_HOLD = 25
"""Samples (LOW_HOLD_S at the rate)."""
P_RISE = 26
"""Samples: a burst-starting lobe rises from a third of the onset threshold to it within this."""
P_FAST_W = 27
"""Weight of a sample in the fast mean / deviation (per sample)."""
P_BIAS_W = 28
"""Weight of a still sample in the bias (per sample)."""
P_STILL_HOLD = 29
"""Samples of stillness before the bias follows."""
P_STILL_DPS = 30
P_ONSET_LEAD = 31
"""Samples: the burst should start this long before the expected toe-off."""
P_MAX_DELAY = 32
"""Samples: the onset delay never exceeds this."""
P_SHANK_ONSET_SHARE = 33
"""Shank: onset as this share of the running swing peak (the stance's slower backward rotation stays above it)."""
P_SHANK_GUARD_SHARE = 34
"""Shank: stance guard as this share of the running stride time (past the mid-stance lobe)."""
P_REST_HOLD = 35
"""Samples (REST_HOLD_S at the rate)."""
IMU_PARAM_SIZE = 36

# --- state vector -----------------------------------------------------------------------------
S_N = 0
"""Samples seen (NaN included): the time base."""
S_PHASE = 1
"""PH_UNKNOWN / PH_CONTACT / PH_SWING (for in_contact)."""
S_SUB = 2
"""0 stance, 1 push-off (burst on), 2 waiting for the swing lobe, 3 swing."""
S_T_HS = 3
"""Sample of the last heel strike (-1e18: none)."""
S_T_ON = 4
"""Sample of the burst onset."""
S_T_TO = 5
S_MIN = 6
S_I_MIN = 7
S_MAX = 8
S_PUSHOFF = 9
"""Running push-off peak magnitude, dps."""
S_SWING_PEAK = 10
S_STRIDE = 11
"""Running stride time, samples."""
S_SWING = 12
"""Running swing time, samples."""
S_STRIDES = 13
"""Confirmed strides."""
S_ARMED = 14
S_QUIET_RUN = 15
S_POLARITY = 16
"""+1/-1 applied to the projection; 0 = not known yet."""
S_C = 17
"""Covariance xx, yy, zz, xy, xz, yz (slots 17..22)."""
S_V = 23
"""Axis estimate (slots 23..25)."""
S_N_MOTION = 26
S_N_VALID = 27
S_MAX_ABS = 28
"""Largest |s| seen (dps)."""
S_SAT_RUN = 29
S_LAST_ZC = 30
"""Sample of the last upward zero crossing of s."""
S_LAST_S = 31
S_HS_MIN = 32
S_HS_I = 33
S_HS_SEEN = 34
S_PREV_HS = 35
S_SIGN_FIXED = 36
"""1.0 when the sign is given by the profile."""
S_EXC_SIGN = 37
"""Sign of the excursion under way (|s| >= min_onset_dps), 0: none."""
S_EXC_QUIET = 38
"""Quiet samples before the excursion under way began."""
S_EXC_PEAK = 39
"""Largest |s| of the excursion under way."""
S_FLIP_VOTES = 40
"""Excursions after a quiet stance in a row whose sign says the polarity is wrong."""
S_CALM_RUN = 41
"""Samples in a row with |s| < min_onset_dps."""
S_BUF = 42
"""The last two valid samples of each axis (slots 42..47), for the median of three."""
S_BUF_N = 48
S_LOW_RUN = 49
"""Samples in a row, after the swing peak, with s below LOW_SHARE of it."""
S_HOLD = 50
"""Leaky hold of the highest recent s (falls by a third of the onset threshold per max_rise_s):
s far below it means s is falling fast."""
S_MEAN = 51
"""Fast running mean of each axis (slots 51..53), for the stillness test."""
S_DEV = 54
"""Fast running mean absolute deviation of each axis (slots 54..56)."""
S_BIAS = 57
"""Gyro bias of each axis (slots 57..59), learned while the sensor is still."""
S_STILL_RUN = 60
S_PENDING = 61
"""1.0 while a detected push-off waits for its learned onset delay (no burst yet)."""
S_DELAY = 62
"""Samples of onset delay for the push-off under way."""
S_PUSH_DUR = 63
"""Running time from the onset crossing to toe-off, samples (0: none yet)."""
S_TO_DUE = 64
"""1.0: a toe-off decided at the sample the delayed burst started is still to be written."""
S_TURN = 65
"""Fastest rotation off the sagittal axis (50 ms mean) seen in this stance since it was armed (foot)."""
S_OFF = 66
"""50 ms mean of the rotation off the sagittal axis (dps)."""
S_SHANK_REST = 67
"""Shank: 1.0 once s, in an armed stance, has come back near zero after the stance's backward lobe."""
S_STILL_REF = 68
"""Shank: the fast mean of each axis (slots 68..70) where the still run under way began."""
S_SHANK_FIRST = 71
"""Shank: peak of a first swing lobe that a sign flip showed (dps, 0: none), before any stride."""
S_SHANK_PAST = 72
"""Shank: 1.0 once the stance's backward lobe has come back (latched until the next heel strike)."""
S_SHANK_CUE = 73
"""Shank: 1.0 when the burst under way was started by the pre-swing cue (not the onset)."""
S_SHANK_CUE_DUR = 74
"""Shank: running time from the pre-swing cue's crossing to toe-off, samples (0: none yet)."""
S_GAP_N = 75
"""Samples lost (NaN) since the toe-off under way: the swing wait does not count them."""
S_REST_RUN = 76
"""Foot: valid samples in a row, in the swing, with the whole rotation below REST_DPS."""
S_WAIT_NORM = 77
"""Foot: fastest whole rotation (gyro vector length) since the toe-off under way, while waiting for the swing lobe."""
S_SHIFT_ENDED = 78
"""Foot: 1.0 when the last burst ended in the swing wait with the foot on the ground all through it
(a weight shift or heel raise, not a step): the next burst needs only the usual quiet."""
IMU_STATE_SIZE = 79

NO_TIME = -1.0e18
TOE_OFF_SHARE = 0.6
"""Toe-off when the push-off lobe has risen back to this share of its depth."""
SHANK_LATE_SHARE = 0.5
"""Shank: a swing lobe starts a late burst only above this share of the running swing peak."""
SHANK_BACK_SHARE = 0.6
"""Shank: the stance's backward lobe has passed when s is back above this share of its depth."""
SHANK_EARLY_SHARE = 0.15
"""Shank: once the stance's backward lobe has come back near zero (above half of this share of the
running swing peak), a renewed backward rotation past this share starts the burst (pre-swing knee
flexion; see detect_imu_gyro)."""
SHANK_STILL_HOLD_S = 1.0
"""Shank: stillness needed before the gyro bias follows (the foot's is 0.2 s)."""
TURN_DPS = 200.0
"""Foot: a stance that turns this fast about another axis is a turn: the onset falls to its floor
(voisard2023 U-turn steps turn 150-380 deg/s; lower values also start bursts earlier on steps
the reference leaves unmarked, which the scorer counts as standing). Shank: a stance that turned
this fast is a pivot, no pre-swing cue (see detect_imu_gyro)."""
VOTE_SHARE = 0.5
"""A lobe after a quiet stance votes on the sign only if at least this share of the running
push-off peak."""
LOW_SHARE = 0.15
"""A swing lobe that sinks below this share of its peak ..."""
LOW_HOLD_S = 0.08
"""... and stays there this long has ended: a heel strike without the usual negative dip
(a foot placed flat in a turn), backdated to where it sank."""
REST_DPS = 30.0
"""Foot: once the swing lobe has passed the swing threshold, the whole rotation (the gyro vector's
length, bias removed) staying below this ...  A foot in the air rotates: a slow first step's
mid-swing pause reads 29-33 deg/s for 30 ms (voisard2023 1-1_right), a turning step's 27-42 deg/s
(8-2_left); a foot flat on the ground reads 10-25 deg/s once its landing's rebounds have died out
(5-2_left, its zero not yet relearned)."""
REST_HOLD_S = 0.03
"""... for this long means the foot is on the ground: heel strike, backdated to where the rest
began, even before the shortest swing. Why: the level falls only when the heel strike is decided
(extension and ramp-down add 0.13 s), and a last step set down gently shows no heel-strike dip,
while its landing's small rebounds, or a zero not yet relearned, keep s above LOW_SHARE of a low
peak (voisard2023: bursts ran on 0.25 s past the heel strike for 1.07 s in all, 0.40 s with this)."""
MAX_BIAS_DPS = 100.0
"""The learned gyro bias is kept within this (a slow steady turn must not become the zero)."""
MEDIAN_DELAY = 1
"""Samples by which the median of three delays the signal: every event is backdated by it."""
DROPOUT_WAIT = 2.0
"""Foot: lost samples after a toe-off do not count toward the swing wait (the swing lobe may rise
in the gap), but the wait ends this many swing waits after the toe-off whatever was lost."""
AIR_DPS = 80.0
"""Foot: after a toe-off with no sagittal swing lobe yet, a rotation this fast about another axis
(50 ms mean), or of the foot as a whole (the gyro vector's length), means the foot is in the air,
swung out sideways or around (a hemiparetic circumduction, a turning step: truong2019 9-1_left
swings at +39 deg/s sagittal while turning 100-235 deg/s about the others, and at 35.7 s turns
75 deg/s off the axis and 38 deg/s backward, 85 deg/s as a whole, for 0.2 s past the swing wait),
not a heel raise or a weight shift, which ends with the heel set down and the foot still: the
burst is kept on past the swing wait (so is it while the foot still rotates forward:
``_foot_in_air``) ..."""
AIR_MAX = 2.0
"""... for at most this many swing waits after the toe-off (then it ends as any missing swing does)."""


@njit(cache=True)
def new_imu_state() -> np.ndarray:
    """A fresh state: nothing learned, axis unknown."""
    s = np.zeros(IMU_STATE_SIZE, dtype=np.float64)
    s[S_PHASE] = PH_UNKNOWN
    s[S_T_HS] = NO_TIME
    s[S_PREV_HS] = NO_TIME
    s[S_LAST_ZC] = NO_TIME
    s[S_V + 0] = 0.577350269
    s[S_V + 1] = 0.577350269
    s[S_V + 2] = 0.577350269
    s[S_PUSHOFF] = -1.0
    return s


@njit(cache=True)
def _project(gx: float, gy: float, gz: float, state: np.ndarray, p: np.ndarray) -> float:
    """The sagittal angular velocity before the polarity (auto: update the axis first)."""
    axis = int(p[P_AXIS])
    if axis == 0:
        return gx
    if axis == 1:
        return gy
    if axis == 2:
        return gz
    norm2 = gx * gx + gy * gy + gz * gz
    if norm2 > MOTION_DPS * MOTION_DPS:
        state[S_N_MOTION] += 1.0
        w = max(1.0 / state[S_N_MOTION], 1.0 / p[P_AXIS_MEMORY])
        state[S_C + 0] += w * (gx * gx - state[S_C + 0])
        state[S_C + 1] += w * (gy * gy - state[S_C + 1])
        state[S_C + 2] += w * (gz * gz - state[S_C + 2])
        state[S_C + 3] += w * (gx * gy - state[S_C + 3])
        state[S_C + 4] += w * (gx * gz - state[S_C + 4])
        state[S_C + 5] += w * (gy * gz - state[S_C + 5])
        vx, vy, vz = state[S_V], state[S_V + 1], state[S_V + 2]
        ux = state[S_C + 0] * vx + state[S_C + 3] * vy + state[S_C + 4] * vz
        uy = state[S_C + 3] * vx + state[S_C + 1] * vy + state[S_C + 5] * vz
        uz = state[S_C + 4] * vx + state[S_C + 5] * vy + state[S_C + 2] * vz
        un = math.sqrt(ux * ux + uy * uy + uz * uz)
        if un > 1e-9:
            state[S_V], state[S_V + 1], state[S_V + 2] = ux / un, uy / un, uz / un
    return gx * state[S_V] + gy * state[S_V + 1] + gz * state[S_V + 2]


@njit(cache=True)
def _median3(state: np.ndarray, slot: int, v: float, full: bool) -> float:
    """Median of this and the axis's last two valid samples: one-sample spikes (shoe impacts,
    cable knocks) are dropped, at one sample of delay."""
    a, b = state[S_BUF + 2 * slot], state[S_BUF + 2 * slot + 1]
    state[S_BUF + 2 * slot], state[S_BUF + 2 * slot + 1] = b, v
    if not full:
        return v
    return max(min(a, b), min(max(a, b), v))


@njit(cache=True)
def _track_bias(state: np.ndarray, p: np.ndarray, x: float, y: float, z: float) -> None:
    """Learn each axis's zero while the sensor is still (standing, foot flat): a gyro reading
    40 deg/s at rest (truong2019's TCon sensors) would otherwise look like a rotation."""
    w = p[P_FAST_W]
    if state[S_N_VALID] <= 1.0:
        state[S_MEAN], state[S_MEAN + 1], state[S_MEAN + 2] = x, y, z
        state[S_DEV] = state[S_DEV + 1] = state[S_DEV + 2] = p[P_STILL_DPS]
    still = True
    for j in range(3):
        v = x if j == 0 else (y if j == 1 else z)
        dev = abs(v - state[S_MEAN + j])
        state[S_MEAN + j] += w * (v - state[S_MEAN + j])
        state[S_DEV + j] += w * (dev - state[S_DEV + j])
        if state[S_DEV + j] > p[P_STILL_DPS] or dev > 2.0 * p[P_STILL_DPS]:
            still = False
    if still and int(p[P_MOUNT]) == MOUNT_SHANK:
        # a shank sensor is still only when its mean stays put too: the slow backward lean of a
        # gait initiation (15-20 deg over most of a second) passes the 50 ms test sample by sample
        # and would become the zero, hiding every later stance's rotation by as much
        if state[S_STILL_RUN] == 0.0:
            for j in range(3):
                state[S_STILL_REF + j] = state[S_MEAN + j]
        for j in range(3):
            if abs(state[S_MEAN + j] - state[S_STILL_REF + j]) > p[P_STILL_DPS]:
                still = False
    if not still:
        state[S_STILL_RUN] = 0.0
        return
    state[S_STILL_RUN] += 1.0
    if state[S_STILL_RUN] < p[P_STILL_HOLD]:
        return
    for j in range(3):
        v = x if j == 0 else (y if j == 1 else z)
        b = state[S_BIAS + j] + p[P_BIAS_W] * (v - state[S_BIAS + j])
        state[S_BIAS + j] = min(MAX_BIAS_DPS, max(-MAX_BIAS_DPS, b))


@njit(cache=True)
def _learn(state: np.ndarray, key: int, value: float, p: np.ndarray, init: float) -> None:
    if state[key] <= 0.0:
        state[key] = init
    state[key] += p[P_ADAPT] * (value - state[key])


@njit(cache=True)
def _end_stride(state: np.ndarray, p: np.ndarray, k: float) -> None:
    """Heel strike at sample k: learn the stride's times and peaks, back to stance."""
    stride = k - state[S_T_HS]
    if state[S_T_HS] > NO_TIME and stride <= p[P_MAX_STRIDE]:
        _learn(state, S_STRIDE, stride, p, p[P_INIT_STRIDE])
    swing = k - state[S_T_TO]
    if swing <= p[P_MAX_STRIDE]:
        _learn(state, S_SWING, swing, p, p[P_INIT_SWING])
    if int(p[P_MOUNT]) == MOUNT_SHANK and state[S_SWING_PEAK] <= 0.0:
        # the shank's first swing peak is taken as it is: the shank's onset is a share of it,
        # and a default far from the wearer's would delay the bursts for several strides
        state[S_SWING_PEAK] = state[S_MAX]
    else:
        _learn(state, S_SWING_PEAK, state[S_MAX], p, p[P_INIT_SWING_PEAK])
    if state[S_MIN] < 0.0:
        _learn(state, S_PUSHOFF, -state[S_MIN], p, p[P_INIT_PUSHOFF])
    if int(p[P_MOUNT]) == MOUNT_SHANK:
        state[S_FLIP_VOTES] = 0.0  # a stride: the shank's sign is right
        state[S_HS_MIN] = 0.0  # from here: the stance's backward lobe
        state[S_SHANK_PAST] = 0.0
    state[S_TURN] = 0.0
    state[S_PREV_HS] = state[S_T_HS]
    state[S_T_HS] = k
    state[S_STRIDES] += 1.0
    state[S_SUB] = 0.0
    state[S_PHASE] = PH_CONTACT
    state[S_ARMED] = 0.0
    state[S_QUIET_RUN] = 0.0
    state[S_HS_SEEN] = 0.0
    state[S_LOW_RUN] = 0.0
    state[S_REST_RUN] = 0.0
    state[S_PENDING] = 0.0
    state[S_TO_DUE] = 0.0


@njit(cache=True)
def _learn_push(state: np.ndarray, p: np.ndarray) -> None:
    """Toe-off: learn the crossing-to-toe-off time (for the onset delay)."""
    dur = state[S_T_TO] - state[S_T_ON]
    if int(p[P_MOUNT]) == MOUNT_SHANK and state[S_STRIDES] < 1.0:
        # the shank's first burst starts on the lobe that set the sign, at the sign test's
        # threshold: far shallower than the running onset, so its crossing comes far earlier and
        # its time to toe-off would delay every later burst past its toe-off
        return
    # the shank's pre-swing cue crosses a shallower threshold than its onset, so earlier in the
    # same dip: each trigger learns its own crossing-to-toe-off time (one shared time delays an
    # onset-started burst by the cue's longer lead, past the toe-off)
    key = S_SHANK_CUE_DUR if state[S_SHANK_CUE] != 0.0 else S_PUSH_DUR
    if dur <= p[P_MAX_PUSHOFF]:
        if state[key] <= 0.0:
            state[key] = dur
        state[key] += p[P_ADAPT] * (dur - state[key])


@njit(cache=True)
def _abort(state: np.ndarray) -> bool:
    """Back to stance, no step; True when a burst was on (it must be ended: EV_STIM_ABORT)."""
    burst = state[S_PENDING] == 0.0
    state[S_PENDING] = 0.0
    state[S_TO_DUE] = 0.0
    state[S_SUB] = 0.0
    state[S_PHASE] = PH_CONTACT
    state[S_ARMED] = 0.0
    state[S_QUIET_RUN] = 0.0
    state[S_HS_SEEN] = 0.0
    state[S_LOW_RUN] = 0.0
    state[S_REST_RUN] = 0.0
    state[S_SHIFT_ENDED] = 0.0
    if state[S_SIGN_FIXED] == 0.0 and state[S_STRIDES] < 1.0:
        state[S_POLARITY] = 0.0  # the lobe that set it was no push-off: guess again
    return burst


@njit(cache=True)
def detect_imu_gyro(gx: np.ndarray, gy: np.ndarray, gz: np.ndarray, state: np.ndarray, p: np.ndarray,
                    out_event: np.ndarray, out_back: np.ndarray) -> None:
    """Run the detector over a chunk of gyro samples (deg/s); writes out_event / out_back."""
    n = gx.shape[0]
    shank = int(p[P_MOUNT]) == MOUNT_SHANK
    if p[P_SIGN] != 0.0 and state[S_POLARITY] == 0.0:
        state[S_POLARITY] = p[P_SIGN]
        state[S_SIGN_FIXED] = 1.0
    for i in range(n):
        out_event[i] = EV_NONE
        out_back[i] = 0
        k = state[S_N]
        state[S_N] = k + 1.0
        x, y, z = gx[i], gy[i], gz[i]
        sub = int(state[S_SUB])
        if not (math.isfinite(x) and math.isfinite(y) and math.isfinite(z)):
            # no evidence; time-outs still run so that a dropout cannot hold a burst on (the foot's
            # swing wait only up to DROPOUT_WAIT: it counts samples seen)
            if sub == 1 and k - state[S_T_ON] > p[P_MAX_PUSHOFF]:
                if _abort(state):
                    out_event[i] = EV_STIM_ABORT
            elif sub == 2:
                # foot: the swing lobe may be under way in the gap, so the swing wait counts only
                # samples seen, up to DROPOUT_WAIT swing waits of time in all (the shank's swing
                # wait also decides its sign votes: it keeps counting time)
                if not shank:
                    state[S_GAP_N] += 1.0
                if k - state[S_T_TO] > (DROPOUT_WAIT if not shank else 1.0) * p[P_SWING_WAIT]:
                    if _abort(state):
                        out_event[i] = EV_STIM_ABORT
            elif sub == 3:
                limit = max(p[P_MIN_TIMEOUT], p[P_TIMEOUT_SHARE] * _swing_time(state, p))
                if k - state[S_T_TO] > limit:
                    if _abort(state):
                        out_event[i] = EV_STIM_ABORT
            continue
        state[S_N_VALID] += 1.0
        full = state[S_BUF_N] >= 2.0
        state[S_BUF_N] = min(state[S_BUF_N] + 1.0, 2.0)
        if abs(x) >= SATURATION_DPS or abs(y) >= SATURATION_DPS or abs(z) >= SATURATION_DPS:
            state[S_SAT_RUN] += 1.0
        else:
            state[S_SAT_RUN] = 0.0
        _track_bias(state, p, x, y, z)
        x -= state[S_BIAS]
        y -= state[S_BIAS + 1]
        z -= state[S_BIAS + 2]
        x = _median3(state, 0, x, full)
        y = _median3(state, 1, y, full)
        z = _median3(state, 2, z, full)
        raw = _project(x, y, z, state, p)
        off = math.sqrt(max(0.0, x * x + y * y + z * z - raw * raw))
        state[S_OFF] += p[P_FAST_W] * (off - state[S_OFF])
        pol = state[S_POLARITY]
        s = raw * pol if pol != 0.0 else raw
        a = abs(s)
        if a > state[S_MAX_ABS]:
            state[S_MAX_ABS] = a
        pushoff = state[S_PUSHOFF] if state[S_PUSHOFF] > 0.0 else p[P_INIT_PUSHOFF]
        swing_peak = state[S_SWING_PEAK] if state[S_SWING_PEAK] > 0.0 else p[P_INIT_SWING_PEAK]
        sign_onset = max(p[P_MIN_ONSET], p[P_ONSET_SHARE] * pushoff)
        if not shank and state[S_TURN] >= TURN_DPS:
            sign_onset = p[P_MIN_ONSET]  # turning: the push-off of a step in a turn is weak
        onset = max(p[P_MIN_ONSET], p[P_SHANK_ONSET_SHARE] * swing_peak) if shank else sign_onset
        swing_thr = max(p[P_MIN_SWING], p[P_SWING_SHARE] * swing_peak)
        strike = max(p[P_MIN_STRIKE], p[P_STRIKE_SHARE] * swing_peak)
        last_s = state[S_LAST_S]
        if pol != 0.0 and last_s <= 0.0 < s:
            state[S_LAST_ZC] = k
        state[S_LAST_S] = s
        if _vote(state, p, s, shank):
            # two lobes after a quiet stance in a row had the swing's sign: the polarity is wrong
            state[S_POLARITY] = -state[S_POLARITY]
            state[S_EXC_SIGN] = -state[S_EXC_SIGN]
            s = -s
            state[S_LAST_S] = s
            if sub == 3 and not shank:
                # the lobe that started this burst late (taken for a swing: no push-off before it)
                # was the push-off seen with the wrong sign, and it has just ended: the foot is at
                # toe-off, and its swing lobe comes now. The burst stays on and waits for it as
                # after any toe-off (a weight shift's lobe finds no swing and ends in the swing wait)
                state[S_SUB] = 2.0
                state[S_T_TO] = k
                state[S_GAP_N] = 0.0
                state[S_WAIT_NORM] = 0.0
                state[S_MIN] = -state[S_MAX]
                state[S_I_MIN] = k
                state[S_MAX] = 0.0
                state[S_LOW_RUN] = 0.0
                state[S_REST_RUN] = 0.0
                continue
            if sub != 0:
                if _abort(state):
                    out_event[i] = EV_STIM_ABORT
                continue

        # until a first stride confirms the axis, only a steep lobe may start a burst (with
        # nothing but a turn on the spot to go by, the auto axis would be the vertical one):
        # s must fall faster than the hold, which sinks onset / 3 per max_rise_s
        hold_s = s if pol != 0.0 else -a
        state[S_HOLD] = max(hold_s, state[S_HOLD] - sign_onset / (3.0 * p[P_RISE]))
        steep = state[S_STRIDES] >= 1.0 or state[S_HOLD] - hold_s >= sign_onset / 3.0

        sign_lobe = False  # this sample's lobe set the (auto) sign: see below
        if sub == 0:
            stride = state[S_STRIDE] if state[S_STRIDE] > 0.0 else p[P_INIT_STRIDE]
            guard = max(p[P_MIN_STANCE], p[P_GUARD_SHARE] * stride)
            since = k - state[S_T_HS]
            # calm: the foot is still; the shank rotates backward (knee over the ankle) all through
            # stance, so for it calm only means "not yet in the pre-swing dip"
            calm = a < onset if (not shank or pol == 0.0) else s > -onset
            if calm:
                state[S_QUIET_RUN] += 1.0
            else:
                state[S_QUIET_RUN] = 0.0
            if state[S_ARMED] == 0.0:
                past_mid = True
                if shank and pol != 0.0 and state[S_STRIDES] >= 1.0:
                    # the shank's stance holds a backward lobe (mid-stance) that can be as deep as
                    # a small pre-swing dip: armed once it has come a little way back, or after
                    # shank_guard_share of the running stride
                    if since >= p[P_MIN_STANCE] and s < state[S_HS_MIN]:
                        state[S_HS_MIN] = s
                    if state[S_HS_MIN] <= -p[P_MIN_STRIKE] and s > SHANK_BACK_SHARE * state[S_HS_MIN]:
                        # latched: the lobe has passed even if the guard still runs then, and a
                        # short stance (or a dropout) may hide its return before the dip begins
                        state[S_SHANK_PAST] = 1.0
                    past_mid = since >= p[P_SHANK_GUARD_SHARE] * stride or state[S_SHANK_PAST] != 0.0
                # before any heel strike (a recording that starts mid-walk) the quiet must last a
                # whole shortest stance: the heel-strike lobe of a swing under way must not start a burst
                # (or after a burst that a weight shift started: the foot stayed on the ground, so
                # no swing is under way)
                quiet = (p[P_QUIET] if state[S_T_HS] > NO_TIME or state[S_SHIFT_ENDED] != 0.0
                         else max(p[P_QUIET], p[P_MIN_STANCE]))
                if since >= guard and calm and state[S_QUIET_RUN] >= quiet and past_mid:
                    state[S_ARMED] = 1.0
                    state[S_MIN] = 0.0
                    if shank:
                        state[S_SHANK_REST] = 0.0
                if state[S_PHASE] == PH_UNKNOWN and a < onset:
                    state[S_PHASE] = PH_CONTACT
                continue
            if shank and s < state[S_MIN]:
                state[S_MIN] = s  # the stance's deepest backward rotation: learned as the pre-swing dip
            if state[S_OFF] > state[S_TURN]:
                state[S_TURN] = state[S_OFF]
            if pol == 0.0:
                # sign not known yet: the first lobe after a quiet stance decides it (foot: the
                # push-off; shank: the knee moving forward over the foot as the heel rises; both
                # have the stance's sign, opposite to the swing); the shank's own onset share is
                # high (its stance is not still), so the foot's decides here
                if a >= sign_onset and steep:
                    state[S_POLARITY] = -1.0 if raw > 0.0 else 1.0
                    state[S_EXC_SIGN] = -1.0  # the lobe under way is now the negative one
                    s = -a
                    pol = state[S_POLARITY]
                    sign_lobe = shank
                else:
                    continue
            early = False
            # time since the last heel strike; before the first stride, since the end of the swing
            # lobe a sign flip took for a dip (its "toe-off": the lobe falling back, near heel strike)
            since_hs = since if state[S_STRIDES] >= 1.0 else k - state[S_T_TO]
            early_peak = state[S_SWING_PEAK] if state[S_SWING_PEAK] > 0.0 else state[S_SHANK_FIRST]
            # the cue needs a stance that began at a heel strike the detector saw: after an abort
            # (a heel strike lost in a dropout, a stumble) the heel strike's own backward dip would
            # pass for the renewed rotation. And not in a stance that turned about another axis
            # faster than TURN_DPS (a pivot on the spot turns the shank about the vertical at
            # 250-650 deg/s and leaks a little into s; a shuffling step stays far below)
            seen_hs = state[S_STRIDES] < 1.0 or state[S_T_HS] >= state[S_T_ON]
            if shank and early_peak > 0.0 and since_hs < stride and seen_hs and state[S_TURN] < TURN_DPS:
                # the shank's pre-swing cue: after mid-stance its backward rotation slows to near
                # zero (the tibia waits while the ankle dorsiflexes and the heel unloads); then the
                # knee flexes for the swing and the shank turns backward again, faster and faster
                # until toe-off. A second backward lobe after that near-still point can only be
                # this knee flexion, however shallow (shuffling: a third of the stance's lobe, below
                # the onset). Only within a running stride of the heel strike: later the wearer
                # stands, and a weight shift keeps the usual onset. The running swing peak is
                # known from the first stride on, or from a first swing lobe a sign flip revealed.
                early_thr = SHANK_EARLY_SHARE * early_peak
                if s > -0.5 * early_thr:
                    state[S_SHANK_REST] = 1.0
                early = state[S_SHANK_REST] != 0.0 and s <= -early_thr
            if sign_lobe:
                # the shank's first steep lobe after a quiet stance is the gait initiation's knee
                # flexion (the pre-swing dip; standing sway, weight shifts and a turn on the spot
                # rotate the shank too slowly or too little to pass the steep sign test): it starts
                # the burst at once, as the foot's push-off does, since the shank's onset is a share
                # of a swing peak not yet seen (a slow walker's first dip never reaches it). A wrong
                # guess (a shuffler's swing lobe came first) still covers that swing, and the missing
                # swing after it flips the sign (_shank_vote).
                early = True
            if early and not steep and state[S_SHANK_FIRST] > 0.0:
                # the steep test keeps a slow rotation on a not yet settled auto axis (a turn on
                # the spot) from starting a burst; once a sign flip has shown a swing-sized lobe on
                # this axis, the axis is the sagittal one, and the pre-swing cue (a renewed backward
                # rotation after the near-still point, within a stride of that swing) is the knee
                # flexion of the next step however slowly it deepens: a shuffler's dip falls about
                # 40 deg/s over 0.3 s, never steep
                steep = True
            if (s <= -onset or early) and steep:
                state[S_SUB] = 1.0
                state[S_PHASE] = PH_SWING
                state[S_T_ON] = k
                state[S_MIN] = s
                state[S_I_MIN] = k
                state[S_MAX] = 0.0
                delay = 0.0
                cue = early and s > -onset
                state[S_SHANK_CUE] = 1.0 if cue else 0.0
                push_dur = state[S_SHANK_CUE_DUR] if cue else state[S_PUSH_DUR]
                if push_dur > 0.0:
                    delay = min(p[P_MAX_DELAY], max(0.0, push_dur - p[P_ONSET_LEAD]))
                state[S_DELAY] = delay
                if delay >= 1.0:
                    state[S_PENDING] = 1.0
                else:
                    out_event[i] = EV_HEEL_OFF
                    out_back[i] = MEDIAN_DELAY
            elif s >= (max(swing_thr, SHANK_LATE_SHARE * swing_peak) if shank and state[S_STRIDES] >= 1.0
                       else swing_thr):
                # no push-off lobe: start late, toe-off at the last upward zero crossing (on
                # the shank only a lobe near swing size counts)
                state[S_SUB] = 3.0
                state[S_PHASE] = PH_SWING
                state[S_T_ON] = k
                zc = state[S_LAST_ZC] if k - state[S_LAST_ZC] < p[P_SWING_WAIT] else k
                state[S_T_TO] = zc
                if not shank:
                    state[S_MIN] = 0.0
                state[S_MAX] = s
                out_event[i] = EV_HEEL_OFF
                out_back[i] = MEDIAN_DELAY
        elif sub == 1:
            if s < state[S_MIN]:
                state[S_MIN] = s
                state[S_I_MIN] = k
            if s > TOE_OFF_SHARE * state[S_MIN]:
                # toe-off: the push-off lobe has risen back to 60 % of its depth (the voisard2023
                # reference puts it there, about 30 ms after the deepest sample)
                state[S_SUB] = 2.0
                state[S_GAP_N] = 0.0
                state[S_WAIT_NORM] = 0.0
                state[S_T_TO] = k
                _learn_push(state, p)
                if state[S_PENDING] != 0.0:
                    # toe-off came before the delay ran out: the burst starts now, and the
                    # toe-off is written at the next sample
                    state[S_PENDING] = 0.0
                    state[S_TO_DUE] = 1.0
                    out_event[i] = EV_HEEL_OFF
                    out_back[i] = int(k - state[S_T_ON]) + MEDIAN_DELAY
                else:
                    out_event[i] = EV_TOE_OFF
                    out_back[i] = MEDIAN_DELAY
                if s >= swing_thr:
                    state[S_SUB] = 3.0
                    state[S_MAX] = s
            elif k - state[S_T_ON] > p[P_MAX_PUSHOFF]:
                if _abort(state):
                    out_event[i] = EV_STIM_ABORT
        elif sub == 2:
            wait_over = k - state[S_T_TO] - state[S_GAP_N] > p[P_SWING_WAIT]  # lost samples do not count
            norm = math.sqrt(x * x + y * y + z * z)
            if norm > state[S_WAIT_NORM]:
                state[S_WAIT_NORM] = norm
            if s >= swing_thr:
                state[S_SUB] = 3.0
                state[S_MAX] = s
                if not shank and wait_over and state[S_LAST_ZC] > state[S_T_TO]:
                    # the foot stayed in the air past the swing wait: the swing began where the
                    # swing lobe rose through zero, and its shortest time and time-out count from
                    # there (voisard2023 4-1_left's first step: counted from the toe-off 0.2 s
                    # earlier, a dip 4 samples after the lobe crossed the threshold, on an auto axis
                    # still turning, passed for a heel strike and taught a first stride)
                    state[S_T_TO] = state[S_LAST_ZC]
            elif s < state[S_MIN]:
                # a second, deeper push-off minimum: toe-off was not yet
                state[S_MIN] = s
                state[S_I_MIN] = k
                state[S_SUB] = 1.0
            elif (wait_over and not shank and k - state[S_T_TO] <= AIR_MAX * p[P_SWING_WAIT]
                  and _foot_in_air(state, p, s, norm)):
                pass  # the foot still rotates fast, forward or about another axis: in the air, not a heel raise
            elif wait_over:
                old_pol = state[S_POLARITY]
                flip = shank and _shank_vote(state, p, swing_thr)
                on_ground = not shank and state[S_WAIT_NORM] < MOTION_DPS
                if _abort(state):
                    out_event[i] = EV_STIM_ABORT
                if on_ground:
                    state[S_SHIFT_ENDED] = 1.0
                if flip:
                    state[S_POLARITY] = -old_pol
                    if state[S_SWING_PEAK] <= 0.0:
                        # the "dip" was the wearer's first swing lobe: its size scales the
                        # pre-swing cue until a first stride is known (not the onset: a stance
                        # lobe must not start a burst on it)
                        state[S_SHANK_FIRST] = -state[S_MIN]
        else:
            if s > state[S_MAX]:
                state[S_MAX] = s
            shortest = max(p[P_MIN_SWING_T], p[P_SWING_GUARD_SHARE] * _swing_time(state, p))
            if not shank:
                # the foot at rest after its swing lobe is on the ground, whatever the swing's age
                # or s's share of a low peak: the whole rotation counts (a turning step can pause
                # in the sagittal plane while the foot still turns in the air)
                if state[S_MAX] >= swing_thr and x * x + y * y + z * z < REST_DPS * REST_DPS:
                    state[S_REST_RUN] += 1.0
                else:
                    state[S_REST_RUN] = 0.0
                if state[S_REST_RUN] >= p[P_REST_HOLD]:
                    back = state[S_REST_RUN] - 1.0
                    _end_stride(state, p, k - back)
                    out_event[i] = EV_HEEL_STRIKE
                    out_back[i] = int(back) + MEDIAN_DELAY
                    continue
            if k - state[S_T_TO] < shortest:
                pass
            elif shank:
                # the shank's heel-strike dip is small (a tenth to a quarter of the swing peak):
                # only the floor counts, then its minimum is the heel strike. A swing lobe that
                # stays low twice as long as the foot's has ended too, backdated to where it sank:
                # no dip, one the median of three removed, or the slow return to upright of a
                # last step before standing (its stimulation must not wait for that)
                if state[S_MAX] >= swing_thr and s < LOW_SHARE * state[S_MAX]:
                    state[S_LOW_RUN] += 1.0
                else:
                    state[S_LOW_RUN] = 0.0
                if state[S_HS_SEEN] == 0.0:
                    if s <= -p[P_MIN_STRIKE]:
                        state[S_HS_SEEN] = 1.0
                        state[S_HS_MIN] = s
                        state[S_HS_I] = k
                else:
                    if s < state[S_HS_MIN]:
                        state[S_HS_MIN] = s
                        state[S_HS_I] = k
                    elif s > 0.5 * state[S_HS_MIN]:
                        back = k - state[S_HS_I]
                        _end_stride(state, p, state[S_HS_I])
                        out_event[i] = EV_HEEL_STRIKE
                        out_back[i] = int(back) + MEDIAN_DELAY
                        continue
                if state[S_LOW_RUN] >= 2.0 * p[P_LOW_HOLD]:
                    back = state[S_LOW_RUN] - 1.0
                    _end_stride(state, p, k - back)
                    out_event[i] = EV_HEEL_STRIKE
                    out_back[i] = int(back) + MEDIAN_DELAY
                    continue
            elif s <= -strike:
                _end_stride(state, p, k)
                out_event[i] = EV_HEEL_STRIKE
                out_back[i] = MEDIAN_DELAY
                continue
            elif state[S_MAX] >= swing_thr and s < LOW_SHARE * state[S_MAX]:
                state[S_LOW_RUN] += 1.0
                if state[S_LOW_RUN] >= p[P_LOW_HOLD]:
                    back = state[S_LOW_RUN] - 1.0
                    _end_stride(state, p, k - back)
                    out_event[i] = EV_HEEL_STRIKE
                    out_back[i] = int(back) + MEDIAN_DELAY
                    continue
            else:
                state[S_LOW_RUN] = 0.0
            limit = max(p[P_MIN_TIMEOUT], p[P_TIMEOUT_SHARE] * _swing_time(state, p))
            if k - state[S_T_TO] > limit:
                if _abort(state):
                    out_event[i] = EV_STIM_ABORT
        if out_event[i] == EV_NONE:
            if state[S_TO_DUE] != 0.0:
                state[S_TO_DUE] = 0.0
                out_event[i] = EV_TOE_OFF
                out_back[i] = int(k - state[S_T_TO]) + MEDIAN_DELAY
            elif state[S_PENDING] != 0.0 and k - state[S_T_ON] >= state[S_DELAY]:
                state[S_PENDING] = 0.0
                out_event[i] = EV_HEEL_OFF
                out_back[i] = int(k - state[S_T_ON]) + MEDIAN_DELAY


@njit(cache=True)
def _vote(state: np.ndarray, p: np.ndarray, s: float, shank: bool) -> bool:
    """Track excursions of s; True when the polarity should flip (auto sign, foot only).

    A lobe that follows a quiet stance is a push-off, so it should be negative. When it ends,
    a lobe at least VOTE_SHARE of the running push-off peak votes: one positive one while at
    most one stride is known, then two in a row (three once four strides are known) say the sign
    is wrong. Small lobes (turning steps, weight shifts) do not vote."""
    a = abs(s)
    floor = p[P_MIN_ONSET]
    if a < floor:
        state[S_CALM_RUN] += 1.0
        if a < 0.5 * floor and state[S_EXC_SIGN] != 0.0:
            flip = _count_vote(state, p, shank)
            state[S_EXC_SIGN] = 0.0
            return flip
        return False
    sign = 1.0 if s > 0.0 else -1.0
    flip = False
    if state[S_EXC_SIGN] != sign:
        if state[S_EXC_SIGN] != 0.0:
            flip = _count_vote(state, p, shank)
        state[S_EXC_SIGN] = sign
        state[S_EXC_QUIET] = state[S_CALM_RUN]
        state[S_EXC_PEAK] = a
    elif a > state[S_EXC_PEAK]:
        state[S_EXC_PEAK] = a
    state[S_CALM_RUN] = 0.0
    return flip


@njit(cache=True)
def _count_vote(state: np.ndarray, p: np.ndarray, shank: bool) -> bool:
    """The excursion that just ended votes (see :func:`_vote`)."""
    if shank or state[S_SIGN_FIXED] != 0.0 or state[S_POLARITY] == 0.0 or state[S_EXC_QUIET] < 0.5 * p[P_QUIET]:
        return False
    pushoff = state[S_PUSHOFF] if state[S_PUSHOFF] > 0.0 else p[P_INIT_PUSHOFF]
    if state[S_EXC_PEAK] < max(p[P_MIN_SWING], VOTE_SHARE * pushoff):
        return False
    if state[S_EXC_SIGN] < 0.0:
        state[S_FLIP_VOTES] = 0.0
        return False
    if state[S_SUB] == 3.0 and state[S_MIN] < 0.0:
        # the swing lobe after a push-off this detector saw: what a right sign looks like, even
        # where a short pause between the two (shuffling) makes it look like a lobe after stance
        return False
    state[S_FLIP_VOTES] += 1.0
    # a wrong first guess is undone by the first such lobe while at most one stride was walked
    # with it (that "stride" was most likely the small first movement that set the sign: a foot
    # put in place before the walk), after two lobes within four strides; a sign that walked
    # several strides needs three (a turn or a stumble can make two odd lobes). truong2019: the
    # first lobe flips it two footsteps sooner in 15-1_right (patients 0.957 -> 0.959)
    if state[S_FLIP_VOTES] >= (1.0 if state[S_STRIDES] < 2.0 else 2.0 if state[S_STRIDES] < 4.0 else 3.0):
        state[S_FLIP_VOTES] = 0.0
        return True
    return False


@njit(cache=True)
def _shank_vote(state: np.ndarray, p: np.ndarray, swing_thr: float) -> bool:
    """Shank, auto sign: True when the polarity should flip. With the sign wrong, every swing
    lobe looks like a pre-swing dip with no swing after it: two such swing-sized "dips" in a
    row, with no stride between them, flip it (one before the first stride: a slow stance, as in
    shuffling, lets the swing lobe be the first steep one and set the sign wrong)."""
    if state[S_SIGN_FIXED] != 0.0 or state[S_POLARITY] == 0.0 or -state[S_MIN] < swing_thr:
        return False
    state[S_FLIP_VOTES] += 1.0
    if state[S_FLIP_VOTES] >= (1.0 if state[S_STRIDES] < 1.0 else 2.0):
        state[S_FLIP_VOTES] = 0.0
        return True
    return False


@njit(cache=True)
def _foot_in_air(state: np.ndarray, p: np.ndarray, s: float, norm: float) -> bool:
    """Foot, swing wait over with no swing lobe past the threshold yet: True while the foot still
    rotates as only a foot in the air does, so the burst stays on (up to AIR_MAX swing waits).

    Once a stride is known (the axis and sign are settled): a rotation about another axis faster
    than AIR_DPS (swung out sideways), the whole rotation faster than AIR_DPS (a turning step
    whose foot turns partly off the axis, partly back in pitch), or a forward rotation (the
    swing's sign) faster than the onset floor ``min_onset_dps``. Before it: a forward rotation past the swing floor
    ``min_swing_dps`` (the sign is still a guess; a gait initiation's odd first lobes stay below),
    or, with the auto axis, the whole rotation (``norm``, the gyro vector's length) past the onset
    floor: the axis was set by the first movements and can be far from the sagittal one, so the
    projection misses a swing the foot makes about the true axis (truong2019 15-1_right's first
    step: the detector's projection reads -86 deg/s where the settled axis reads +9, and 26 deg/s
    on a 60-70 deg/s swing; 13-1_right: a 50 deg/s first swing that the projection reads as
    -23). Either way the burst ends if the foot is still.
    Why: a slow walker's swing lobe can rise for longer than the swing wait and stay below the
    running threshold for a while (truong2019 9-1_left: 60-90 deg/s for 0.4 s after a
    -136 deg/s push-off; 18-1_right's first step: 82 deg/s at the wait's end, 150 later); a heel
    raise or a weight shift ends with the heel set down and the foot still, not turning on."""
    if s >= p[P_MIN_SWING]:
        return True
    if state[S_STRIDES] < 1.0:
        return int(p[P_AXIS]) == -1 and norm >= p[P_MIN_ONSET]
    return state[S_OFF] >= AIR_DPS or norm >= AIR_DPS or s >= p[P_MIN_ONSET]


@njit(cache=True)
def _swing_time(state: np.ndarray, p: np.ndarray) -> float:
    return state[S_SWING] if state[S_SWING] > 0.0 else p[P_INIT_SWING]


def signal_problem(state: np.ndarray, rate_hz: float, min_swing_dps: float, grace_s: float = 5.0) -> str | None:
    """A short text when the gyro signal cannot be used, else None (plain Python, reads the state)."""
    if state[S_SAT_RUN] >= 0.05 * rate_hz:
        return (f"gyro saturated (|value| >= {SATURATION_DPS:g} deg/s for "
                f"{state[S_SAT_RUN] / rate_hz * 1000:.0f} ms): swing timing unreliable")
    if state[S_N_VALID] / rate_hz >= grace_s and state[S_STRIDES] < 1.0 and state[S_MAX_ABS] < min_swing_dps:
        return (f"sagittal gyro never exceeds {min_swing_dps:g} deg/s (largest {state[S_MAX_ABS]:.0f} deg/s): "
                "no steps detected (standing still, sensor not on the leg, or wrong unit?)")
    return None


AXES = ("auto", "x", "y", "z", "-x", "-y", "-z", "+x", "+y", "+z")
"""Allowed ``sagittal_axis`` values: the gyro axis on which the swing is positive, or auto."""


@dataclass(frozen=True)
class ImuGyroParams:
    """Settings of the gyro swing detector; dps = deg/s, shares are of the wearer's running
    peaks / times, seconds are converted to samples at the sensor rate."""

    mount: str = "foot"
    """foot or shank (the kind: foot_imu / shank_imu)."""
    sagittal_axis: str = "auto"
    """auto, or x / y / z with an optional sign: the axis (and sign) on which the swing is positive."""
    onset_share: float = 0.25
    """Burst onset when the push-off lobe passes this share of the running push-off peak ..."""
    min_onset_dps: float = 50.0
    """... and at least this far below zero (floor: standing sway and weight shifts stay above)."""
    swing_share: float = 0.25
    """A swing lobe must pass this share of the running swing peak ..."""
    min_swing_dps: float = 70.0
    """... and at least this (a real swing, not a turn or a shuffle in place)."""
    strike_share: float = 0.30
    """Heel strike (foot) when s falls this share of the running swing peak below zero ..."""
    min_strike_dps: float = 30.0
    """... and at least this far."""
    min_stance_s: float = 0.20
    """Floor of the stance guard after a heel strike."""
    guard_share: float = 0.25
    """Stance guard as this share of the running stride time."""
    max_pushoff_s: float = 0.60
    """Burst onset to toe-off at most this, else abort (a heel raise, standing on the toes)."""
    swing_wait_s: float = 0.20
    """Toe-off to the swing threshold at most this, else abort (a weight shift)."""
    timeout_share: float = 2.5
    """A swing longer than this multiple of the running swing time ends the burst ..."""
    min_timeout_s: float = 0.80
    """... but never before this."""
    adapt_share: float = 0.25
    max_stride_s: float = 2.5
    axis_memory_s: float = 10.0
    init_pushoff_dps: float = 250.0
    init_swing_peak_dps: float = 350.0
    init_stride_s: float = 1.1
    init_swing_s: float = 0.40
    quiet_s: float = 0.05
    """Stance below the onset threshold before a burst may start."""
    min_swing_s: float = 0.15
    """Floor of the shortest swing: no heel strike before this after toe-off ..."""
    swing_guard_share: float = 0.50
    """... nor before this share of the running swing time."""
    onset_lead_s: float = 0.14
    """Once a stride is known, the burst starts this long before the expected toe-off (the
    onset crossing plus the running crossing-to-toe-off time; 0.14 s rather than 0.12 s covers
    the middle of truong2019's healthy footsteps 0.984 instead of 0.968, outside share 0.041) ..."""
    max_onset_delay_s: float = 0.20
    """... delayed after the crossing by at most this (0: burst at the crossing)."""
    bias_tau_s: float = 0.5
    """Time constant of the gyro bias, learned while the sensor is still ..."""
    still_dps: float = 8.0
    """... that is, each axis within this of its own 50 ms mean for 0.2 s (shank: 1 s)."""
    shank_onset_share: float = 0.30
    """Shank: the burst starts when s falls this share of the running swing peak below zero (the
    pre-swing dip reaches a third to three quarters of the swing peak) ..."""
    shank_guard_share: float = 0.45
    """... but only once the stance's backward lobe (the knee passing over the foot, mid-stance,
    which can be as deep as a small dip) has come back to 60 % of its depth, or after this share
    of the running stride from the heel strike."""
    max_rise_s: float = 0.15
    """Before the first stride, a push-off lobe must fall faster than a third of the onset
    threshold per this time; slower rotations (turning on the spot, leaning) start nothing."""

    def __post_init__(self) -> None:
        owner = type(self).__name__
        if self.mount not in ("foot", "shank"):
            raise ValueError(f"{owner}.mount = {self.mount!r}: allowed foot, shank")
        if self.sagittal_axis not in AXES:
            raise ValueError(f"{owner}.sagittal_axis = {self.sagittal_axis!r}: allowed {', '.join(AXES)}")
        ranges = {"onset_share": (0.0, 1.0), "shank_onset_share": (0.0, 1.0), "shank_guard_share": (0.0, 1.0),
                  "swing_share": (0.0, 1.0), "strike_share": (0.0, 1.0),
                  "guard_share": (0.0, 1.0), "adapt_share": (0.001, 1.0),
                  "min_onset_dps": (1.0, 2000.0), "min_swing_dps": (1.0, 2000.0), "min_strike_dps": (0.0, 2000.0),
                  "min_stance_s": (0.0, 2.0), "max_pushoff_s": (0.05, 5.0), "swing_wait_s": (0.01, 2.0),
                  "timeout_share": (1.0, 10.0), "min_timeout_s": (0.1, 10.0), "max_stride_s": (0.5, 60.0),
                  "axis_memory_s": (0.5, 600.0), "init_pushoff_dps": (1.0, 2000.0),
                  "init_swing_peak_dps": (1.0, 2000.0), "init_stride_s": (0.3, 10.0),
                  "init_swing_s": (0.1, 5.0), "quiet_s": (0.0, 2.0),
                  "min_swing_s": (0.0, 2.0), "swing_guard_share": (0.0, 1.0),
                  "max_rise_s": (0.01, 2.0), "bias_tau_s": (0.05, 60.0), "still_dps": (0.1, 100.0),
                  "onset_lead_s": (0.0, 1.0), "max_onset_delay_s": (0.0, 1.0)}
        for name, (lo, hi) in ranges.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
                raise ValueError(f"{owner}.{name} = {v!r} outside [{lo:g}, {hi:g}]")

    def kernel_params(self, rate_hz: float) -> np.ndarray:
        """The kernel's float64 parameter vector at ``rate_hz`` (slots ``P_*``)."""
        if isinstance(rate_hz, bool) or not isinstance(rate_hz, (int, float)) or not 0.0 < rate_hz <= 100000.0:
            raise ValueError(f"{type(self).__name__}.kernel_params: rate_hz = {rate_hz!r} outside (0, 100000]")
        r = float(rate_hz)
        p = np.zeros(IMU_PARAM_SIZE, dtype=np.float64)
        p[P_MOUNT] = MOUNT_SHANK if self.mount == "shank" else MOUNT_FOOT
        axis = self.sagittal_axis
        if axis == "auto":
            p[P_AXIS], p[P_SIGN] = -1.0, 0.0
        else:
            p[P_AXIS] = "xyz".index(axis[-1])
            p[P_SIGN] = -1.0 if axis.startswith("-") else 1.0
        p[P_ONSET_SHARE] = self.onset_share
        p[P_MIN_ONSET] = self.min_onset_dps
        p[P_SWING_SHARE] = self.swing_share
        p[P_MIN_SWING] = self.min_swing_dps
        p[P_STRIKE_SHARE] = self.strike_share
        p[P_MIN_STRIKE] = self.min_strike_dps
        p[P_MIN_STANCE] = math.ceil(self.min_stance_s * r - 1e-9)
        p[P_GUARD_SHARE] = self.guard_share
        p[P_MAX_PUSHOFF] = math.ceil(self.max_pushoff_s * r - 1e-9)
        p[P_SWING_WAIT] = math.ceil(self.swing_wait_s * r - 1e-9)
        p[P_TIMEOUT_SHARE] = self.timeout_share
        p[P_MIN_TIMEOUT] = math.ceil(self.min_timeout_s * r - 1e-9)
        p[P_ADAPT] = self.adapt_share
        p[P_MAX_STRIDE] = self.max_stride_s * r
        p[P_AXIS_MEMORY] = max(1.0, self.axis_memory_s * r)
        p[P_INIT_PUSHOFF] = self.init_pushoff_dps
        p[P_INIT_SWING_PEAK] = self.init_swing_peak_dps
        p[P_INIT_STRIDE] = self.init_stride_s * r
        p[P_INIT_SWING] = self.init_swing_s * r
        p[P_QUIET] = math.ceil(self.quiet_s * r - 1e-9)
        p[P_MIN_SWING_T] = math.ceil(self.min_swing_s * r - 1e-9)
        p[P_SWING_GUARD_SHARE] = self.swing_guard_share
        p[P_LOW_HOLD] = max(1, math.ceil(LOW_HOLD_S * r - 1e-9))
        p[P_RISE] = max(1, math.ceil(self.max_rise_s * r - 1e-9))
        p[P_FAST_W] = min(1.0, 1.0 / (0.05 * r))
        p[P_BIAS_W] = min(1.0, 1.0 / (self.bias_tau_s * r))
        # the shank turns slowly all through stance (a smooth lobe looks still for 0.2 s): its
        # zero is learned only when it has been still for as long as a stance lasts
        p[P_STILL_HOLD] = max(1, math.ceil((SHANK_STILL_HOLD_S if self.mount == "shank" else 0.2) * r - 1e-9))
        p[P_STILL_DPS] = self.still_dps
        p[P_ONSET_LEAD] = self.onset_lead_s * r
        p[P_MAX_DELAY] = math.floor(self.max_onset_delay_s * r + 1e-9)
        p[P_SHANK_ONSET_SHARE] = self.shank_onset_share
        p[P_SHANK_GUARD_SHARE] = self.shank_guard_share
        p[P_REST_HOLD] = max(1, math.ceil(REST_HOLD_S * r - 1e-9))
        return p
