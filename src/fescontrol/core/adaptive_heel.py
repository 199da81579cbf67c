"""Adaptive heel-force detector: thresholds learned from the wearer's own steps.

A fixed threshold (80 N on / 25 N off) fails real wearers: a light wearer's heel cell may
never reach 80 N (gaitpdb GaPt07: 95th percentile 31 N), a sensor with a preload never reads
below 25 N, and a heel that unloads slowly crosses 25 N long before the heel really leaves
the ground, so stimulation runs through late stance. This detector instead keeps running
estimates of the wearer's own *unloaded* and *loaded* heel force and puts both thresholds
inside that range (gait-detection.md section 6: "adaptive thresholds (per-user percentiles)").

Levels (all in newtons)
-----------------------
* ``unloaded``: moving average over swings of the minimum force seen in each swing (the
  automatic tare: a sensor preload, or a heel cell that never reads 0, becomes the zero).
  A reading below it lowers it at once (the tare only ever follows the sensor down at once;
  up, it follows swing by swing).
* ``loaded``: moving average over stances of the peak force of each stance.
* Before the first contact both come from the minimum and maximum seen since start.
* Each moving average is ``x += adapt_share * (new - x)`` once per phase, so the detector
  follows the wearer from the first steps and forgets a step in a few strides.
* A loaded level that is no longer reached (sensor slipped, gain dropped) is re-learned: when
  no contact has been found for ``relearn_s`` the loaded level falls to the peak seen since.

Thresholds, with ``range = loaded - unloaded``:
* contact when ``force > unloaded + max(contact_share * range, min_contact_delta_N)``;
* release when ``force < unloaded + max(release_share * range, min_release_delta_N)``
  (kept below the contact threshold: hysteresis);
* no transition at all while ``range < min_range_N``: a signal that never loads and unloads
  by more than this is not used, and :func:`signal_problem` says so.
The shares are relative, so the same profile works for any body weight or sensor gain
(x0.5, x2), and the tare makes a constant preload (+30 N) disappear.

Debounce, minimum phase durations and backdating are those of the fixed-threshold heel
switch (``heelswitch.py``): an event needs ``debounce`` samples beyond its threshold, is
written at the deciding sample, and ``onset_back`` reaches back to the first of them. The
minimum contact and swing are the larger of the profile's floors and a share
(``guard_share``) of the wearer's running median contact and unloaded times, so they scale
with cadence (a very slow walker's bounce is longer than a fast walker's step). A contact
present from the first sample (a recording cut mid-stance) has no heel strike to debounce:
the minimum contact does not hold its heel-off back (gaitpdb: three first swings).

Onset delay (item 4, "heel leaves early")
----------------------------------------
With a shuffling gait the heel leaves the ground 400-460 ms before toe-off, and a burst
started at heel-off stimulates the tibialis anterior against push-off. The heel alone cannot
see toe-off, but it sees the wearer's recent strides: the unloaded time ``U`` (heel-off to
heel strike) and the stride time ``T`` (heel strike to heel strike). A swing is about
``swing_share`` of a stride, so toe-off is expected ``U - swing_share * T`` after heel-off, and
the burst starts ``onset_lead_s`` before that::

    delay = clamp(median(U) - swing_share * median(T) - onset_lead_s, 0, max_onset_delay_s)

over the last ``HISTORY`` strides (none until ``MIN_HISTORY`` are known, so the first steps
start at heel-off). The heel-off event is then *emitted* ``delay`` later, so the envelope
starts the burst there, with ``onset_back`` reaching back to the physical heel-off (the time
``events.csv`` records). If the heel loads again before the delay has passed (a weight shift
or a pivot on the forefoot rather than a step), no burst starts at all. ``onset_delay = 0``
in the kernel parameters switches this off (burst at heel-off, as the plain heel switch).

Strides that include standing or turning (``T > max_stride_s``) are not learned.

Kernel conventions (house style 2.6 item 5): pure function over arrays, explicit float64
state updated in place, a float64 parameter vector (slots ``P_*``), no I/O, no clock, NaN is
"no evidence" (breaks a debounce run, updates nothing). One call over n samples equals n
calls over one sample. ``detect_adaptive_heel.py_func`` is the plain-Python twin.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from fescontrol.core.events import (
    EV_HEEL_OFF,
    EV_HEEL_STRIKE,
    EV_NONE,
    EV_STIM_ABORT,
    PH_CONTACT,
    PH_SWING,
    PH_UNKNOWN,
)

__all__ = [
    "HISTORY",
    "MIN_HISTORY",
    "AH_PARAM_SIZE",
    "AH_STATE_SIZE",
    "new_adaptive_heel_state",
    "detect_adaptive_heel",
    "ring_median",
    "signal_problem",
]

HISTORY = 8
"""Strides kept for the running medians (unloaded, contact and stride times)."""
MIN_HISTORY = 3
"""Strides needed before the medians are used (guards, onset delay)."""

# --- parameter vector (float64; counts are whole numbers) -------------------------------------
P_CONTACT_SHARE = 0
P_RELEASE_SHARE = 1
P_MIN_RANGE_N = 2
P_MIN_CONTACT_DELTA_N = 3
P_MIN_RELEASE_DELTA_N = 4
P_DEBOUNCE = 5
P_MIN_CONTACT = 6
"""Minimum contact floor, samples."""
P_MIN_SWING = 7
"""Minimum swing floor, samples."""
P_GUARD_SHARE = 8
"""Minimum contact / swing as a share of the running median contact / unloaded time."""
P_ADAPT_SHARE = 9
P_ONSET_DELAY = 10
"""1.0: learned onset delay on; 0.0: burst at heel-off."""
P_MAX_DELAY = 11
"""Samples."""
P_ONSET_LEAD = 12
"""Samples before the expected toe-off at which the burst should start."""
P_SWING_SHARE = 13
P_MAX_STRIDE = 14
"""Samples: longer strides (standing, turning) are not learned."""
P_RELEARN = 15
"""Samples without a contact after which the loaded level is re-learned."""
P_WEAK_SHARE = 16
"""Weak contact: above unloaded + this share of the range ..."""
P_WEAK_HOLD = 17
"""... held for this many samples (a heel that only grazes the ground is not a contact)."""
P_TIMEOUT_SHARE = 18
"""A swing longer than this multiple of the running median unloaded time is no swing: the
burst ends (EV_STIM_ABORT). 0 disables."""
AH_PARAM_SIZE = 19

# --- state vector (float64) -----------------------------------------------------------------------
S_PHASE = 0
S_RUN = 1
S_AGE = 2
"""Samples since the current phase's backdated onset (as heelswitch.DET_AGE); in UNKNOWN,
since start or since the last re-learning window began."""
S_SEEN = 3
"""Stream index of the next sample."""
S_LO = 4
"""Unloaded level, N (NaN until the first contact)."""
S_HI = 5
"""Loaded level, N (NaN until the first contact)."""
S_PHASE_MIN = 6
"""Minimum force since the last heel strike (since start in UNKNOWN), N."""
S_PHASE_MAX = 7
"""Maximum force since the last heel off (since start in UNKNOWN), N."""
S_PENDING = 8
"""Samples left until a delayed heel-off is emitted (0: none pending)."""
S_HO_ONSET = 9
"""Stream index of the physical onset of the last heel-off (-1: none)."""
S_HS_ONSET = 10
"""Stream index of the onset of the last contact (heel strike or first contact; -1: none)."""
S_N_HIST = 11
S_HIST_POS = 12
S_LAST_VALUE = 13
S_FLAT_RUN = 14
"""Samples the force has stayed exactly at S_LAST_VALUE."""
S_N_VALID = 15
"""Finite samples seen."""
S_N_STEPS = 16
"""Heel strikes accepted."""
S_MAX_EVER = 17
S_CEIL_RUN = 18
"""Samples in the current run at the highest force seen."""
S_STANCE_CEIL = 19
"""Longest such run in the current contact."""
S_CEIL_STANCES = 20
"""Consecutive stances with a flat top of >= CEIL_RUN_MIN samples at the highest value."""
S_LAST_DELAY = 21
"""Onset delay computed at the last heel-off, samples."""
S_WALKING = 22
"""1.0 when the last heel strike closed a walking stride (T <= max stride), else 0.0."""
S_RESEED = 23
"""1.0: the loaded level is a provisional guess (first contact, or re-learned); the next
stance peak replaces it instead of being averaged in."""
S_LO_GUESSED = 24
"""1.0 while the unloaded level is the start-up guess (0 N: a tared sensor) rather than seen."""
S_DIPS = 25
"""Deep dips (below the contact threshold) counted in a contact while the unloaded level is
guessed: a sensor with a preload never reaches the guessed release threshold, but its swings
show as regular dips; after PRELOAD_DIPS of them the dip floor becomes the unloaded level."""
S_BELOW = 26
"""1.0 while the force is below the contact threshold inside a contact (dip under way)."""
S_CMIN = 27
"""Minimum force in the current contact, N."""
S_WEAK_RUN = 28
"""Consecutive samples above the weak-contact threshold (UNKNOWN / SWING)."""
S_TIMED_OUT = 29
"""1.0 once the current swing has timed out (its burst was ended)."""
S_START_LEVEL = 30
"""Force at the first contact from start (while the unloaded level is guessed), N."""
S_DIP_LEN = 31
"""Samples the force has stayed flat (within FLOOR_TOL) deep below the loaded level, while the
unloaded level is guessed: a flat floor above the guess is a preload."""
S_DIP_LO = 32
S_DIP_HI = 33
S_BAND_LO = 34
S_BAND_HI = 35
S_BAND_RUN = 36
"""Samples the force has stayed within a band narrower than min_range (lowest/highest in it):
a quiet signal (standing still, or a stuck or preloaded sensor with nobody walking)."""
S_HIST_U = 40
S_HIST_T = S_HIST_U + HISTORY
S_HIST_C = S_HIST_T + HISTORY
AH_STATE_SIZE = S_HIST_C + HISTORY

CEIL_RUN_MIN = 10
"""A flat top of this many samples at the highest value ever seen looks like saturation."""
PRELOAD_DIPS = 3
REGULAR_LOW = 0.7
REGULAR_HIGH = 1.3
"""A contact within these multiples of the median contact time is regular walking."""
IRREGULAR_DELAY_SHARE = 0.3
"""After an irregular contact (a turning step, a hesitation) only this share of the learned
onset delay is used: toe-off is less predictable, so the burst starts earlier. After a standing
pause (a contact longer than max_stride_s) the full delay is kept: the heel-off that starts
walking again is not premature, and an early burst there would stimulate the standing."""
FLOOR_DEPTH = 0.75
FLOOR_TOL_SHARE = 0.02
FLOOR_TOL_N = 1.0
FLOOR_SAMPLES = 6
"""While the unloaded level is guessed: a force that stays within max(FLOOR_TOL_N,
FLOOR_TOL_SHARE x range) for FLOOR_SAMPLES, below FLOOR_DEPTH of the range, is the floor.
0.6 (was 0.4): a light heel on a preload (40 N steps on 30 N) has its floor at 43 % of the
highest force, and must be found in the first swing, not after PRELOAD_DIPS strides. 0.75 (was
0.6): a walk that starts at the end of a stance on a barely loaded heel (gaitpdb JuPt02 left,
SiPt05 right with +30 N: 44 N falling to a flat 30 N) has its floor at 68 % of the highest force
seen so far, and its first swing must not be lost."""
START_RISE = 2.5
"""A first contact whose force later rises to this multiple of its start level started on a
preload, not on a load."""
GUESSED_RELEASE_SHARE = 0.25
"""Release share while the unloaded level is the start-up guess (first stride only; 0.25, was
0.15: a preload under the guess must not hold the first swing's burst back)."""
"""Deep dips inside one contact that reveal a preload (see S_DIPS)."""


@njit(cache=True)
def new_adaptive_heel_state() -> np.ndarray:
    """Fresh state: phase UNKNOWN, levels unknown, no history."""
    s = np.zeros(AH_STATE_SIZE, dtype=np.float64)
    s[S_PHASE] = PH_UNKNOWN
    s[S_AGE] = -1.0
    s[S_LO] = np.nan
    s[S_HI] = np.nan
    s[S_PHASE_MIN] = np.inf
    s[S_PHASE_MAX] = -np.inf
    s[S_HO_ONSET] = -1.0
    s[S_HS_ONSET] = -1.0
    s[S_LAST_VALUE] = np.nan
    s[S_MAX_EVER] = -np.inf
    return s


@njit(cache=True)
def ring_median(state: np.ndarray, start: int, count: int) -> float:
    """Median of the first ``count`` (<= HISTORY) values of the ring at ``state[start:]``."""
    if count <= 0:
        return np.nan
    buf = np.sort(state[start:start + count].copy())
    mid = count // 2
    if count % 2 == 1:
        return float(buf[mid])
    return 0.5 * (float(buf[mid - 1]) + float(buf[mid]))


@njit(cache=True)
def onset_delay_samples(state: np.ndarray, params: np.ndarray) -> int:
    """The learned onset delay (samples, >= 0) from the stride history in ``state``."""
    n_hist = int(state[S_N_HIST])
    if params[P_ONSET_DELAY] <= 0.5 or n_hist < MIN_HISTORY:
        return 0
    d = ring_median(state, S_HIST_U, n_hist) \
        - params[P_SWING_SHARE] * ring_median(state, S_HIST_T, n_hist) - params[P_ONSET_LEAD]
    if d > params[P_MAX_DELAY]:
        d = params[P_MAX_DELAY]
    if d <= 0.0:
        return 0
    return int(d + 0.5)


@njit(cache=True)
def detect_adaptive_heel(
    force_N: np.ndarray,
    state: np.ndarray,
    params: np.ndarray,
    out_event: np.ndarray,
    out_onset_back: np.ndarray,
) -> int:
    """Detect heel strike / (possibly delayed) heel off in one chunk; return the event count.

    ``force_N`` float64[:] the chunk, ``state`` from :func:`new_adaptive_heel_state` (updated in
    place), ``params`` float64[AH_PARAM_SIZE] (from
    :meth:`fescontrol.core.detectors.AdaptiveHeelParams.kernel_params`), ``out_event`` int8[:]
    and ``out_onset_back`` int32[:] as in ``heelswitch.detect_heel_switch``.
    """
    n = force_N.shape[0]
    if out_event.shape[0] != n or out_onset_back.shape[0] != n:
        raise ValueError("detect_adaptive_heel: out arrays must match force_N in length")
    if state.shape[0] != AH_STATE_SIZE:
        raise ValueError("detect_adaptive_heel: state has the wrong size")
    if params.shape[0] != AH_PARAM_SIZE:
        raise ValueError("detect_adaptive_heel: params has the wrong size")

    on_share = params[P_CONTACT_SHARE]
    off_share = params[P_RELEASE_SHARE]
    min_range = params[P_MIN_RANGE_N]
    min_on_delta = params[P_MIN_CONTACT_DELTA_N]
    min_off_delta = params[P_MIN_RELEASE_DELTA_N]
    debounce = int(params[P_DEBOUNCE])
    if debounce < 1:
        debounce = 1
    guard_share = params[P_GUARD_SHARE]
    adapt = params[P_ADAPT_SHARE]
    max_stride = params[P_MAX_STRIDE]
    relearn = params[P_RELEARN]

    phase = int(state[S_PHASE])
    run = int(state[S_RUN])
    age = int(state[S_AGE])
    seen = int(state[S_SEEN])
    lo = state[S_LO]
    hi = state[S_HI]
    pmin = state[S_PHASE_MIN]
    pmax = state[S_PHASE_MAX]
    pending = int(state[S_PENDING])
    n_events = 0

    for i in range(n):
        idx = seen + i
        f = force_N[i]
        age += 1
        ev = EV_NONE
        back = 0
        finite = not math.isnan(f)

        if finite:
            state[S_N_VALID] += 1.0
            # stuck and saturated signal bookkeeping (read by signal_problem)
            if f == state[S_LAST_VALUE]:
                state[S_FLAT_RUN] += 1.0
            else:
                state[S_FLAT_RUN] = 1.0
            state[S_LAST_VALUE] = f
            if f > state[S_MAX_EVER]:
                state[S_MAX_EVER] = f
                state[S_CEIL_RUN] = 1.0
            elif f == state[S_MAX_EVER]:
                state[S_CEIL_RUN] += 1.0
            else:
                state[S_CEIL_RUN] = 0.0
            if state[S_CEIL_RUN] > state[S_STANCE_CEIL]:
                state[S_STANCE_CEIL] = state[S_CEIL_RUN]
            if f < pmin:
                pmin = f
            if f > pmax:
                pmax = f
            if state[S_BAND_RUN] == 0.0:
                state[S_BAND_LO] = f
                state[S_BAND_HI] = f
            if f < state[S_BAND_LO]:
                state[S_BAND_LO] = f
            if f > state[S_BAND_HI]:
                state[S_BAND_HI] = f
            if state[S_BAND_HI] - state[S_BAND_LO] >= min_range:
                state[S_BAND_LO] = f
                state[S_BAND_HI] = f
                state[S_BAND_RUN] = 1.0
            else:
                state[S_BAND_RUN] += 1.0
            if f < lo:  # the tare follows the sensor down at once (False while lo is NaN)
                lo = f

        # the levels in use
        relearning = phase == PH_SWING and age >= relearn
        if phase == PH_UNKNOWN:
            if age >= relearn:  # a new window: forget an old spike
                age = 0
                if finite:
                    pmax = f
            # start-up: assume a tared sensor (unloaded = 0 N) until a lower reading is seen, so
            # that the first step from standing is not lost; a preload is found later (S_DIPS)
            cur_lo = pmin if pmin < 0.0 else 0.0
            cur_hi = pmax
        elif relearning:
            # no contact found for a while: the loaded level is no longer reached; judge
            # contact against what this swing has reached instead
            cur_lo = lo
            cur_hi = pmax
        else:
            cur_lo = lo
            if phase == PH_SWING and state[S_LO_GUESSED] > 0.5 and pmin > lo:
                cur_lo = pmin  # first swing, unloaded level still a guess: its floor so far
            cur_hi = hi
            if state[S_RESEED] > 0.5 and pmax > hi:
                cur_hi = pmax  # a provisional loaded level: what this contact reached counts
        rng = cur_hi - cur_lo
        usable = rng >= min_range  # False while either level is +-inf or NaN
        on_delta = on_share * rng
        if on_delta < min_on_delta:
            on_delta = min_on_delta
        off_delta = off_share * rng
        if phase == PH_CONTACT and state[S_LO_GUESSED] > 0.5:
            # the unloaded level is only a guess (start-up): a heel cell that decays slowly
            # in its first swing must still release in time
            off_delta = GUESSED_RELEASE_SHARE * rng
        if off_delta < min_off_delta:
            off_delta = min_off_delta
        if off_delta > 0.9 * on_delta:
            off_delta = 0.9 * on_delta
        weak_delta = params[P_WEAK_SHARE] * rng
        if weak_delta < min_on_delta:
            weak_delta = min_on_delta
        if weak_delta > on_delta:
            weak_delta = on_delta
        on_th = cur_lo + on_delta
        off_th = cur_lo + off_delta
        weak_th = cur_lo + weak_delta

        n_hist = int(state[S_N_HIST])
        if phase == PH_CONTACT:
            min_contact = params[P_MIN_CONTACT]
            if n_hist >= MIN_HISTORY:
                g = guard_share * ring_median(state, S_HIST_C, n_hist)
                if g > min_contact:
                    min_contact = g
            if finite and f < state[S_CMIN]:
                state[S_CMIN] = f
            if state[S_LO_GUESSED] > 0.5 and finite:
                hi_eff = hi if hi > pmax else pmax
                s0 = state[S_START_LEVEL]
                if s0 > 0.0 and hi_eff >= START_RISE * s0 and hi_eff - s0 >= min_range:
                    # the start level was the floor (a preload), not a load: the heel has
                    # since risen to several times it
                    lo = s0
                    state[S_LO_GUESSED] = 0.0
            if state[S_LO_GUESSED] > 0.5 and finite:
                hi_eff = hi if hi > pmax else pmax
                if f < lo + FLOOR_DEPTH * (hi_eff - lo):
                    tol = FLOOR_TOL_SHARE * (hi_eff - lo)
                    if tol < FLOOR_TOL_N:
                        tol = FLOOR_TOL_N
                    if state[S_DIP_LEN] == 0.0:
                        state[S_DIP_LO] = f
                        state[S_DIP_HI] = f
                    if f < state[S_DIP_LO]:
                        state[S_DIP_LO] = f
                    if f > state[S_DIP_HI]:
                        state[S_DIP_HI] = f
                    if state[S_DIP_HI] - state[S_DIP_LO] > tol:
                        state[S_DIP_LO] = f
                        state[S_DIP_HI] = f
                        state[S_DIP_LEN] = 1.0
                    else:
                        state[S_DIP_LEN] += 1.0
                    if state[S_DIP_LEN] >= FLOOR_SAMPLES and hi_eff - state[S_DIP_LO] >= min_range:
                        # a flat floor well above the guessed 0 N: the sensor's preload
                        lo = state[S_DIP_LO]
                        state[S_LO_GUESSED] = 0.0
                        off_th = lo + max(off_share * (hi_eff - lo), min_off_delta)
                        usable = True
                        # the heel has been at this floor for the whole flat run: release now
                        run = int(state[S_DIP_LEN]) - 1
                else:
                    state[S_DIP_LEN] = 0.0
            if state[S_LO_GUESSED] > 0.5 and finite:
                # the guessed unloaded level may hide a preload: count deep dips
                hi_eff = hi if hi > pmax else pmax
                dip_th = lo + on_share * (hi_eff - lo)
                if f < dip_th:
                    if state[S_BELOW] < 0.5:
                        state[S_BELOW] = 1.0
                        state[S_DIPS] += 1.0
                        if state[S_DIPS] >= PRELOAD_DIPS and hi_eff - state[S_CMIN] >= min_range:
                            lo = state[S_CMIN]
                            hi = hi_eff
                            state[S_LO_GUESSED] = 0.0
                            state[S_RESEED] = 1.0
                elif f > dip_th:
                    state[S_BELOW] = 0.0
            if finite and usable and f < off_th:
                run += 1
            else:
                run = 0
            if run >= debounce and age >= min_contact:
                onset = idx - (run - 1)
                if state[S_RESEED] > 0.5:
                    hi = pmax
                    state[S_RESEED] = 0.0
                else:
                    hi = hi + adapt * (pmax - hi)  # learn the loaded level from this stance's peak
                if state[S_STANCE_CEIL] >= CEIL_RUN_MIN:
                    state[S_CEIL_STANCES] += 1.0
                else:
                    state[S_CEIL_STANCES] = 0.0
                state[S_STANCE_CEIL] = 0.0
                phase = PH_SWING
                age = run - 1
                run = 0
                pmax = f
                state[S_HO_ONSET] = onset
                # the delay runs from the physical heel-off, not from the deciding sample
                delay = onset_delay_samples(state, params)
                if delay > 0:
                    # only after a contact like the wearer's recent ones: after standing or a
                    # turning step the timing of the next toe-off is not predictable
                    c_med = ring_median(state, S_HIST_C, n_hist)
                    c_now = onset - state[S_HS_ONSET]
                    if c_now > max_stride:
                        pass  # a standing pause: the first heel-off is not premature, keep it all
                    elif c_now > REGULAR_HIGH * c_med or c_now < REGULAR_LOW * c_med:
                        cap = int(IRREGULAR_DELAY_SHARE * delay + 0.5)
                        delay = cap
                state[S_LAST_DELAY] = delay
                remaining = delay - (idx - onset)
                if remaining <= 0:
                    ev = EV_HEEL_OFF
                    back = idx - onset
                    pending = 0
                else:
                    pending = remaining
        else:  # PH_UNKNOWN or PH_SWING: both wait for a confirmed contact
            min_swing = params[P_MIN_SWING]
            if n_hist >= MIN_HISTORY:
                g = guard_share * ring_median(state, S_HIST_U, n_hist)
                if g > min_swing:
                    min_swing = g
            if finite and usable and f > on_th:
                run += 1
            else:
                run = 0
            if finite and usable and f > weak_th:
                state[S_WEAK_RUN] += 1.0
            else:
                state[S_WEAK_RUN] = 0.0
            weak_run = int(state[S_WEAK_RUN])
            loaded = run >= debounce or weak_run >= params[P_WEAK_HOLD]
            if loaded and (phase == PH_UNKNOWN or age >= min_swing):
                # the contact began where the force first rose above the weak threshold
                if weak_run > run:
                    run = weak_run
                state[S_WEAK_RUN] = 0.0
                onset = idx - (run - 1)
                if phase == PH_UNKNOWN:
                    # first contact since start: seed the levels; no event (no swing seen)
                    lo = cur_lo
                    hi = cur_hi
                    state[S_RESEED] = 1.0
                    state[S_LO_GUESSED] = 1.0 if pmin > cur_lo else 0.0
                    state[S_START_LEVEL] = pmin
                    state[S_DIP_LEN] = 0.0
                    state[S_DIPS] = 0.0
                    state[S_BELOW] = 0.0
                else:
                    if relearning:
                        hi = cur_hi
                        state[S_RESEED] = 1.0
                    if state[S_LO_GUESSED] > 0.5:
                        lo = pmin  # the first swing seen replaces the start-up guess
                        state[S_LO_GUESSED] = 0.0
                    else:
                        lo = lo + adapt * (pmin - lo)  # learn the unloaded level from this swing
                    pending = 0  # the heel is back before a delayed burst began: no burst
                    ev = EV_HEEL_STRIKE
                    back = run - 1
                    ho = state[S_HO_ONSET]
                    hs = state[S_HS_ONSET]
                    state[S_WALKING] = 0.0
                    if hs >= 0.0 and ho >= hs and onset - hs <= max_stride:
                        # a walking stride: learn its contact, unloaded and stride times
                        pos = int(state[S_HIST_POS])
                        state[S_HIST_C + pos] = ho - hs
                        state[S_HIST_U + pos] = onset - ho
                        state[S_HIST_T + pos] = onset - hs
                        state[S_HIST_POS] = float((pos + 1) % HISTORY)
                        if n_hist < HISTORY:
                            state[S_N_HIST] = float(n_hist + 1)
                        state[S_WALKING] = 1.0
                    state[S_N_STEPS] += 1.0
                state[S_HS_ONSET] = onset
                state[S_TIMED_OUT] = 0.0
                state[S_CMIN] = f
                phase = PH_CONTACT
                age = run - 1
                if onset <= 0:
                    # loaded from the first sample: the contact began before the stream did (a
                    # recording cut mid-stance), no heel strike to debounce, so the minimum
                    # contact does not hold its heel-off back
                    age = int(params[P_MIN_CONTACT])
                run = 0
                pmin = f
            elif phase == PH_SWING:
                if pending > 0:
                    pending -= 1
                    if pending == 0:
                        ev = EV_HEEL_OFF
                        back = idx - int(state[S_HO_ONSET])
                if ev == EV_NONE and state[S_TIMED_OUT] < 0.5 and params[P_TIMEOUT_SHARE] > 0.0 \
                        and n_hist >= MIN_HISTORY \
                        and age >= params[P_TIMEOUT_SHARE] * ring_median(state, S_HIST_U, n_hist):
                    state[S_TIMED_OUT] = 1.0
                    pending = 0
                    ev = EV_STIM_ABORT

        if ev != EV_NONE:
            n_events += 1
        out_event[i] = ev
        out_onset_back[i] = back

    state[S_PHASE] = phase
    state[S_RUN] = run
    state[S_AGE] = age
    state[S_SEEN] = seen + n
    state[S_LO] = lo
    state[S_HI] = hi
    state[S_PHASE_MIN] = pmin
    state[S_PHASE_MAX] = pmax
    state[S_PENDING] = pending
    return n_events


def signal_problem(state: np.ndarray, rate_hz: float, min_range_N: float, name: str = "heel_N",
                   grace_s: float = 5.0, flat_s: float = 10.0) -> str | None:
    """A short text when the signal in ``state`` cannot be used, else None (plain Python).

    Checked, in this order: a value stuck exactly constant for ``flat_s``; a flat top at the
    highest value in three stances in a row (saturation); after ``grace_s`` of signal, a learned
    range below ``min_range_N`` (naming a high preload as such); a signal that has stayed
    within ``min_range_N`` for ``flat_s`` (quiet: nobody walking, or a stuck or preloaded
    sensor). The text stays while the condition holds and clears when it ends.
    """
    valid_s = float(state[S_N_VALID]) / rate_hz
    if state[S_FLAT_RUN] / rate_hz >= flat_s:
        return (f"{name} stuck at {state[S_LAST_VALUE]:.1f} N for {state[S_FLAT_RUN] / rate_hz:.0f} s "
                "(sensor stuck, disconnected or not under the foot?)")
    if state[S_CEIL_STANCES] >= 3:
        return (f"{name} saturated: flat top at {state[S_MAX_EVER]:.1f} N in "
                f"{int(state[S_CEIL_STANCES])} stances in a row (sensor or amplifier at its limit)")
    if valid_s < grace_s:
        return None
    if int(state[S_PHASE]) == PH_UNKNOWN:
        lo, hi = float(state[S_PHASE_MIN]), float(state[S_PHASE_MAX])
    else:
        lo, hi = float(state[S_LO]), float(state[S_HI])
    if math.isfinite(lo) and math.isfinite(hi) and hi - lo < min_range_N:
        if lo >= min_range_N:
            return (f"{name} preload too high: never below {lo:.1f} N, range {hi - lo:.1f} N "
                    f"< {min_range_N:g} N needed: no steps detected")
        return (f"{name} never crosses: range {hi - lo:.1f} N ({lo:.1f}..{hi:.1f} N) "
                f"< {min_range_N:g} N needed: no steps detected")
    if state[S_BAND_RUN] / rate_hz >= flat_s:
        level = 0.5 * (float(state[S_BAND_LO]) + float(state[S_BAND_HI]))
        hint = " or preloaded" if level >= min_range_N else ""
        return (f"{name} flat at {level:.0f} N (within {min_range_N:g} N) for "
                f"{state[S_BAND_RUN] / rate_hz:.0f} s: no steps (standing still, or the sensor is "
                f"stuck{hint})")
    return None
