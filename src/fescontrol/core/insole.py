"""Insole detector: heel cell and forefoot cells (``heel_N``, ``fore_N``).

A heel switch cannot tell a pivot on the forefoot, or weight shifted onto the toes, from a
step: the heel unloads either way (SCORING.md). An insole can: the foot leaves the ground only
when the *forefoot* unloads too. So this detector

* finds initial contact (``EV_HEEL_STRIKE``) when either cell loads (a forefoot landing is a
  contact as much as a heel strike);
* finds toe-off (``EV_TOE_OFF``, informational) when both cells are unloaded;
* starts the burst (``EV_HEEL_OFF``) from the forefoot: once the heel has left the ground
  *and* the forefoot has unloaded to ``fore_onset_share`` of its own range (push-off is
  ending, toe-off is tens of milliseconds away). ``onset_back`` reaches back to the moment the
  heel left the ground (the ``heel_off`` time in ``events.csv``). While the forefoot stays
  loaded (turning on the spot, standing on the toes, shifting weight) no burst starts,
  however long the heel is off the ground. If the foot leaves the ground without that
  pattern (flat-foot lift), the burst starts at toe-off.
* ends such a flat-foot burst (``EV_STIM_ABORT``) as soon as either cell takes weight again
  (``debounce`` samples above its weak-contact threshold, without the weak-contact hold) when
  one cell never came down to within ``NEAR_SHARE`` of its range of its unloaded level since
  toe-off: a near-lift in a turn (the midfoot keeps the weight), not a swing. If both cells
  release again before a contact is found, that second lift is a step: the burst starts again.
* in a contact longer than ``long_contact_share`` of the running median stride (standing,
  turning on the spot), starts the burst only when the forefoot is within
  ``long_onset_share`` of its range of its unloaded level: there, heel and forefoot near
  unloaded with the midfoot still loaded is often a near-lift, not a push-off (gaitpdb: in
  the six bursts this removes the total force never fell below the truth's contact
  threshold; it costs two of the 3332 Parkinson's swings, started a little later).
* at start, a contact present from the first sample (a recording cut mid-stance) has no heel
  strike to debounce: the minimum contact does not hold its first burst back.

Each cell has its own running unloaded and loaded levels (moving averages of the swing minima
and stance peaks, the unloaded level following the sensor down at once), so body weight,
gain and a constant offset do not matter; thresholds are shares of each cell's own range,
with the absolute floors of the heel detector. A cell whose range stays below its
``min_range`` is ignored (a heel cell that never loads, as in toe walking: then the burst
waits only for the forefoot). Debounce, minimum contact and swing (floors and shares of the
running medians) and the weak-contact rule are those of ``adaptive_heel.py``; the parameter
vector starts with the adaptive heel's slots (``P_*``, which apply to both cells unless a
``Q_FORE_*`` slot overrides them for the forefoot).

Kernel conventions as ``adaptive_heel.py``: explicit float64 state, float64 parameters, NaN in
either column = no evidence, chunk-invariant, ``detect_insole.py_func`` is the twin.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from fescontrol.core import adaptive_heel as ah
from fescontrol.core.adaptive_heel import MIN_HISTORY, ring_median
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
    "INS_PARAM_SIZE",
    "INS_STATE_SIZE",
    "new_insole_state",
    "detect_insole",
    "signal_problem",
]

HISTORY = ah.HISTORY
RELOAD_SHARE = 0.15
"""After the burst onset, the forefoot rising this share of its range above the onset
threshold means it took weight again: no toe-off is coming."""

# --- parameters: the adaptive heel's slots, then the forefoot's -------------------------------
Q_FORE_CONTACT_SHARE = ah.AH_PARAM_SIZE
Q_FORE_RELEASE_SHARE = ah.AH_PARAM_SIZE + 1
Q_FORE_ONSET_SHARE = ah.AH_PARAM_SIZE + 2
"""The burst starts when the forefoot is below unloaded + this share of its range."""
Q_FORE_MIN_RANGE_N = ah.AH_PARAM_SIZE + 3
Q_FORE_WEAK_SHARE = ah.AH_PARAM_SIZE + 4
Q_ABORT = ah.AH_PARAM_SIZE + 5
"""Samples after the burst onset within which toe-off must follow, else EV_STIM_ABORT."""
Q_FORE_DROP_SHARE = ah.AH_PARAM_SIZE + 6
"""The forefoot must have fallen at least this share of its range below its recent peak."""
Q_PEAK_DECAY = ah.AH_PARAM_SIZE + 7
"""Decay of the recent-peak tracker, share of the range per sample."""
Q_GATE_DEBOUNCE = ah.AH_PARAM_SIZE + 8
"""Samples the burst-onset condition must hold (a time, GATE_DEBOUNCE_S, at any rate: the
onset is close to toe-off, so it must not cost 40 ms at 50 Hz)."""
Q_LONG_CONTACT = ah.AH_PARAM_SIZE + 9
"""A contact longer than this multiple of the running median stride (contact + swing) is
standing or turning on the spot, not a step (0 disables) ..."""
Q_LONG_ONSET_SHARE = ah.AH_PARAM_SIZE + 10
"""... and in it the burst starts only when the forefoot is below unloaded + this share of its
range (instead of Q_FORE_ONSET_SHARE): the foot is really leaving the ground."""
INS_PARAM_SIZE = ah.AH_PARAM_SIZE + 11
GATE_DEBOUNCE_S = 0.015
NEAR_SHARE = 0.01
"""A flat-foot lift in which a cell stays above unloaded + this share of its range is a
near-lift (see the module docstring)."""

# --- state ------------------------------------------------------------------------------------
I_PHASE = 0
I_RUN_ON = 1
"""Consecutive samples with either cell above its contact threshold (UNKNOWN / SWING)."""
I_RUN_WEAK = 2
"""Consecutive samples with either cell above its weak-contact threshold."""
I_RUN_OFF = 3
"""Consecutive samples with both cells below their release thresholds (CONTACT)."""
I_AGE = 4
I_SEEN = 5
I_HEEL_RUN = 6
"""Consecutive samples with the heel below its release threshold (CONTACT)."""
I_GATE_RUN = 7
"""Consecutive samples with the heel off and the forefoot below its onset threshold."""
I_HO_ONSET = 8
"""Stream index where the heel left the ground in this contact (-1: it has not)."""
I_STARTED = 9
"""1.0 once the burst of this contact has been started."""
I_TO_PENDING = 10
"""onset_back of an EV_TOE_OFF to be written at the next sample, because the burst start took
the toe-off's own sample (0: none)."""
I_CO_ONSET = 11
"""Stream index of the onset of the current contact (-1: none)."""
I_TO_ONSET = 12
"""Stream index of the onset of the last toe-off (-1: none)."""
I_N_HIST = 13
I_HIST_POS = 14
I_N_VALID = 15
I_N_STEPS = 16
I_START_IDX = 17
"""Stream index where the burst of this contact started."""
I_FORE_PEAK = 19
"""Leaky recent peak of the forefoot force, N: falls by Q_PEAK_DECAY x range per sample."""
I_DISARMED = 18
"""1.0 after an abort, until the forefoot (or the heel) takes weight again: no new burst."""
# per cell: base + (0 lo, 1 hi, 2 min since contact onset, 3 max since toe-off, 4 last value,
# 5 flat run, 6 max ever, 7 reseed, 8 lo guessed, 9..11 flat-floor run: length, min, max)
I_HEEL = 20
I_FORE = 32
C_LO = 0
C_HI = 1
C_MIN = 2
C_MAX = 3
C_LAST = 4
C_FLAT = 5
C_MAX_EVER = 6
C_RESEED = 7
C_GUESSED = 8
"""1.0 while the cell's unloaded level is the start-up guess (0 N)."""
C_DIP_LEN = 9
C_DIP_LO = 10
C_DIP_HI = 11
I_SW_MIN_H = 44
"""Lowest heel force since the last toe-off, N."""
I_SW_MIN_G = 45
"""Lowest forefoot force since the last toe-off, N."""
I_FLAT_LIFT = 46
"""1.0 when the burst of this swing was started at toe-off, without the push-off pattern."""
I_HIST_C = 47
"""Contact times (contact onset -> toe-off), samples."""
I_HIST_S = I_HIST_C + HISTORY
"""Swing times (toe-off -> contact onset), samples."""
INS_STATE_SIZE = I_HIST_S + HISTORY


@njit(cache=True)
def new_insole_state() -> np.ndarray:
    """Fresh state: phase UNKNOWN, levels unknown, no history."""
    s = np.zeros(INS_STATE_SIZE, dtype=np.float64)
    s[I_PHASE] = PH_UNKNOWN
    s[I_AGE] = -1.0
    s[I_HO_ONSET] = -1.0
    s[I_CO_ONSET] = -1.0
    s[I_TO_ONSET] = -1.0
    for base in (I_HEEL, I_FORE):
        s[base + C_LO] = np.nan
        s[base + C_HI] = np.nan
        s[base + C_MIN] = np.inf
        s[base + C_MAX] = -np.inf
        s[base + C_LAST] = np.nan
        s[base + C_MAX_EVER] = -np.inf
    return s


@njit(cache=True)
def _cell_update(state: np.ndarray, base: int, f: float) -> None:
    """Per-sample bookkeeping of one cell (extremes, flat run, tare following down)."""
    if f == state[base + C_LAST]:
        state[base + C_FLAT] += 1.0
    else:
        state[base + C_FLAT] = 1.0
    state[base + C_LAST] = f
    if f > state[base + C_MAX_EVER]:
        state[base + C_MAX_EVER] = f
    if f < state[base + C_MIN]:
        state[base + C_MIN] = f
    if f > state[base + C_MAX]:
        state[base + C_MAX] = f
    if f < state[base + C_LO]:  # False while NaN
        state[base + C_LO] = f


@njit(cache=True)
def _cell_floor(state: np.ndarray, base: int, f: float, min_range: float) -> None:
    """While a cell's unloaded level is guessed (0 N), find a preload: the force staying flat
    deep below the loaded level (adaptive_heel's FLOOR_* rule) becomes the unloaded level."""
    if state[base + C_GUESSED] < 0.5:
        return
    lo = state[base + C_LO]
    hi = state[base + C_HI]
    if state[base + C_MAX] > hi:
        hi = state[base + C_MAX]
    if not f < lo + ah.FLOOR_DEPTH * (hi - lo):
        state[base + C_DIP_LEN] = 0.0
        return
    tol = ah.FLOOR_TOL_SHARE * (hi - lo)
    if tol < ah.FLOOR_TOL_N:
        tol = ah.FLOOR_TOL_N
    if state[base + C_DIP_LEN] == 0.0:
        state[base + C_DIP_LO] = f
        state[base + C_DIP_HI] = f
    if f < state[base + C_DIP_LO]:
        state[base + C_DIP_LO] = f
    if f > state[base + C_DIP_HI]:
        state[base + C_DIP_HI] = f
    if state[base + C_DIP_HI] - state[base + C_DIP_LO] > tol:
        state[base + C_DIP_LO] = f
        state[base + C_DIP_HI] = f
        state[base + C_DIP_LEN] = 1.0
    else:
        state[base + C_DIP_LEN] += 1.0
    if state[base + C_DIP_LEN] >= ah.FLOOR_SAMPLES and hi - state[base + C_DIP_LO] >= min_range:
        state[base + C_LO] = state[base + C_DIP_LO]
        state[base + C_GUESSED] = 0.0


@njit(cache=True)
def _cell_levels(state: np.ndarray, base: int, phase: int) -> tuple[float, float]:
    """(unloaded, loaded) level of one cell in use now."""
    if phase == PH_UNKNOWN:
        lo = state[base + C_MIN]
        if lo > 0.0:
            lo = 0.0  # start-up: assume a tared cell (as adaptive_heel)
        return lo, state[base + C_MAX]
    hi = state[base + C_HI]
    if state[base + C_RESEED] > 0.5 and state[base + C_MAX] > hi:
        hi = state[base + C_MAX]
    return state[base + C_LO], hi


@njit(cache=True)
def _thresholds(lo: float, hi: float, on_share: float, weak_share: float, off_share: float,
                min_range: float, min_on: float, min_off: float) -> tuple[bool, float, float, float]:
    """(usable, contact, weak contact, release) thresholds of one cell, N."""
    rng = hi - lo
    usable = rng >= min_range
    on_d = on_share * rng
    if on_d < min_on:
        on_d = min_on
    weak_d = weak_share * rng
    if weak_d < min_on:
        weak_d = min_on
    if weak_d > on_d:
        weak_d = on_d
    off_d = off_share * rng
    if off_d < min_off:
        off_d = min_off
    if off_d > 0.9 * weak_d:
        off_d = 0.9 * weak_d
    return usable, lo + on_d, lo + weak_d, lo + off_d


@njit(cache=True)
def detect_insole(
    heel_N: np.ndarray,
    fore_N: np.ndarray,
    state: np.ndarray,
    params: np.ndarray,
    out_event: np.ndarray,
    out_onset_back: np.ndarray,
) -> int:
    """Detect contact, burst onset and toe-off in one chunk of heel and forefoot force.

    Arrays as in ``adaptive_heel.detect_adaptive_heel``; ``params`` float64[INS_PARAM_SIZE]
    (from :meth:`fescontrol.core.detectors.InsoleParams.kernel_params`). Returns the number of
    events written.
    """
    n = heel_N.shape[0]
    if fore_N.shape[0] != n or out_event.shape[0] != n or out_onset_back.shape[0] != n:
        raise ValueError("detect_insole: heel_N, fore_N and the out arrays must have one length")
    if state.shape[0] != INS_STATE_SIZE:
        raise ValueError("detect_insole: state has the wrong size")
    if params.shape[0] != INS_PARAM_SIZE:
        raise ValueError("detect_insole: params has the wrong size")

    debounce = int(params[ah.P_DEBOUNCE])
    if debounce < 1:
        debounce = 1
    weak_hold = params[ah.P_WEAK_HOLD]
    adapt = params[ah.P_ADAPT_SHARE]
    guard_share = params[ah.P_GUARD_SHARE]
    max_stride = params[ah.P_MAX_STRIDE]
    min_on = params[ah.P_MIN_CONTACT_DELTA_N]
    min_off = params[ah.P_MIN_RELEASE_DELTA_N]

    phase = int(state[I_PHASE])
    age = int(state[I_AGE])
    seen = int(state[I_SEEN])
    n_events = 0

    for i in range(n):
        idx = seen + i
        h = heel_N[i]
        g = fore_N[i]
        age += 1
        ev = EV_NONE
        back = 0
        finite = not (math.isnan(h) or math.isnan(g))
        if finite:
            state[I_N_VALID] += 1.0
            _cell_update(state, I_HEEL, h)
            _cell_update(state, I_FORE, g)

        lo_h, hi_h = _cell_levels(state, I_HEEL, phase)
        lo_g, hi_g = _cell_levels(state, I_FORE, phase)
        use_h, on_h, weak_h, off_h = _thresholds(
            lo_h, hi_h, params[ah.P_CONTACT_SHARE], params[ah.P_WEAK_SHARE],
            params[ah.P_RELEASE_SHARE], params[ah.P_MIN_RANGE_N], min_on, min_off)
        use_g, on_g, weak_g, off_g = _thresholds(
            lo_g, hi_g, params[Q_FORE_CONTACT_SHARE], params[Q_FORE_WEAK_SHARE],
            params[Q_FORE_RELEASE_SHARE], params[Q_FORE_MIN_RANGE_N], min_on, min_off)
        onset_g = lo_g + params[Q_FORE_ONSET_SHARE] * (hi_g - lo_g)
        reload_g = onset_g + RELOAD_SHARE * (hi_g - lo_g)

        if finite and phase == PH_CONTACT:
            _cell_floor(state, I_HEEL, h, params[ah.P_MIN_RANGE_N])
            _cell_floor(state, I_FORE, g, params[Q_FORE_MIN_RANGE_N])
        n_hist = int(state[I_N_HIST])
        if finite:
            leak = state[I_FORE_PEAK] - params[Q_PEAK_DECAY] * (hi_g - lo_g)
            state[I_FORE_PEAK] = g if (g > leak or math.isnan(leak)) else leak
        fast_drop = state[I_FORE_PEAK] - g >= params[Q_FORE_DROP_SHARE] * (hi_g - lo_g)

        # an EV_TOE_OFF that had to wait one sample behind the burst start
        if state[I_TO_PENDING] > 0.0:
            ev = EV_TOE_OFF
            back = int(state[I_TO_PENDING])
            state[I_TO_PENDING] = 0.0

        if phase == PH_CONTACT:
            min_contact = params[ah.P_MIN_CONTACT]
            if n_hist >= MIN_HISTORY:
                gc = guard_share * ring_median(state, I_HIST_C, n_hist)
                if gc > min_contact:
                    min_contact = gc
            heel_off_now = (not use_h) or (finite and h < off_h)
            fore_off_now = (not use_g) or (finite and g < off_g)
            # the heel leaving the ground (and coming back: a weight shift, not a heel-off)
            if finite and heel_off_now:
                state[I_HEEL_RUN] += 1.0
            elif finite and use_h and h > weak_h:
                state[I_HEEL_RUN] = 0.0
                state[I_HO_ONSET] = -1.0
                state[I_GATE_RUN] = 0.0
            if state[I_HO_ONSET] < 0.0 and state[I_HEEL_RUN] >= debounce:
                state[I_HO_ONSET] = idx - (state[I_HEEL_RUN] - 1.0)
            # burst onset: heel off and the forefoot unloading (not again right after an abort)
            if state[I_DISARMED] > 0.5 and finite and ((use_g and g > reload_g) or (use_h and h > on_h)):
                state[I_DISARMED] = 0.0
            gate_g = onset_g
            if n_hist >= MIN_HISTORY and params[Q_LONG_CONTACT] > 0.0 and age > params[Q_LONG_CONTACT] * (
                    ring_median(state, I_HIST_C, n_hist) + ring_median(state, I_HIST_S, n_hist)):
                # standing or turning on the spot: heel and forefoot cells near their unloaded
                # levels are often a near-lift with the midfoot still loaded, so wait until the
                # forefoot has (almost) left the ground
                gate_g = lo_g + params[Q_LONG_ONSET_SHARE] * (hi_g - lo_g)
            if state[I_HO_ONSET] >= 0.0 and finite and use_g and g < gate_g and state[I_DISARMED] < 0.5 \
                    and (fast_drop or state[I_GATE_RUN] > 0.0):
                state[I_GATE_RUN] += 1.0
            else:
                state[I_GATE_RUN] = 0.0
            # toe-off: both cells unloaded
            if finite and use_g and heel_off_now and fore_off_now:
                state[I_RUN_OFF] += 1.0
            else:
                state[I_RUN_OFF] = 0.0
            run_off = int(state[I_RUN_OFF])
            if ev == EV_NONE and state[I_STARTED] < 0.5 and state[I_GATE_RUN] >= params[Q_GATE_DEBOUNCE] \
                    and age >= min_contact:
                ev = EV_HEEL_OFF
                back = idx - int(state[I_HO_ONSET])
                state[I_STARTED] = 1.0
                state[I_START_IDX] = idx
            elif ev == EV_NONE and state[I_STARTED] > 0.5 and run_off < debounce and finite and (
                    (use_g and g > reload_g) or (use_h and h > on_h)
                    or idx - state[I_START_IDX] >= params[Q_ABORT]):
                # the foot did not leave the ground after all: the forefoot (or the heel) took
                # weight again, or toe-off is overdue. No step: end the burst.
                ev = EV_STIM_ABORT
                state[I_DISARMED] = 1.0
                state[I_STARTED] = 0.0
                state[I_HO_ONSET] = -1.0
                state[I_HEEL_RUN] = 0.0
                state[I_GATE_RUN] = 0.0
            if run_off >= debounce and age >= min_contact:
                to_onset = idx - (run_off - 1)
                # learn each cell's loaded level from this contact's peak
                for base in (I_HEEL, I_FORE):
                    if state[base + C_RESEED] > 0.5:
                        state[base + C_HI] = state[base + C_MAX]
                        state[base + C_RESEED] = 0.0
                    else:
                        state[base + C_HI] += adapt * (state[base + C_MAX] - state[base + C_HI])
                    state[base + C_MAX] = -np.inf
                    if finite:
                        state[base + C_MAX] = h if base == I_HEEL else g
                co = state[I_CO_ONSET]
                if co >= 0.0 and to_onset - co <= max_stride:
                    pos = int(state[I_HIST_POS])
                    state[I_HIST_C + pos] = to_onset - co
                state[I_TO_ONSET] = to_onset
                if ev == EV_NONE and state[I_STARTED] < 0.5:
                    # the foot left the ground without the push-off pattern: start now
                    ev = EV_HEEL_OFF
                    ho = state[I_HO_ONSET]
                    back = idx - int(ho if ho >= 0.0 else to_onset)
                    state[I_TO_PENDING] = float(run_off)  # written next sample, one further back
                elif ev == EV_NONE:
                    ev = EV_TOE_OFF
                    back = run_off - 1
                else:
                    state[I_TO_PENDING] = float(run_off)
                state[I_FLAT_LIFT] = 1.0 if state[I_STARTED] < 0.5 else 0.0
                state[I_STARTED] = 0.0
                state[I_DISARMED] = 0.0
                state[I_SW_MIN_H] = h if finite else np.inf
                state[I_SW_MIN_G] = g if finite else np.inf
                state[I_RUN_OFF] = 0.0
                state[I_RUN_ON] = 0.0
                state[I_RUN_WEAK] = 0.0
                phase = PH_SWING
                age = run_off - 1
        else:  # UNKNOWN or SWING: wait for either cell to load
            min_swing = params[ah.P_MIN_SWING]
            if n_hist >= MIN_HISTORY:
                gs = guard_share * ring_median(state, I_HIST_S, n_hist)
                if gs > min_swing:
                    min_swing = gs
            strong = finite and ((use_h and h > on_h) or (use_g and g > on_g))
            weak = finite and ((use_h and h > weak_h) or (use_g and g > weak_g))
            state[I_RUN_ON] = state[I_RUN_ON] + 1.0 if strong else 0.0
            state[I_RUN_WEAK] = state[I_RUN_WEAK] + 1.0 if weak else 0.0
            loaded = state[I_RUN_ON] >= debounce or state[I_RUN_WEAK] >= weak_hold
            if phase == PH_SWING and finite:
                if h < state[I_SW_MIN_H]:
                    state[I_SW_MIN_H] = h
                if g < state[I_SW_MIN_G]:
                    state[I_SW_MIN_G] = g
            if phase == PH_SWING and not loaded and state[I_DISARMED] < 0.5 and state[I_FLAT_LIFT] > 0.5 \
                    and state[I_RUN_WEAK] >= debounce and (
                        (use_h and state[I_SW_MIN_H] > lo_h + NEAR_SHARE * (hi_h - lo_h))
                        or (use_g and state[I_SW_MIN_G] > lo_g + NEAR_SHARE * (hi_g - lo_g))):
                # a near-lift: a cell never reached its unloaded level, and one takes weight
                # again: the foot did not leave the ground (turning), end the burst now
                ev = EV_STIM_ABORT
                state[I_DISARMED] = 1.0
                state[I_RUN_OFF] = 0.0
            elif phase == PH_SWING and state[I_DISARMED] > 0.5 and not loaded:
                # after such an abort, the foot lifting again (both cells released) is a step
                if finite and (not use_h or h < off_h) and use_g and g < off_g:
                    state[I_RUN_OFF] += 1.0
                else:
                    state[I_RUN_OFF] = 0.0
                if state[I_RUN_OFF] >= debounce:
                    ev = EV_HEEL_OFF
                    back = int(state[I_RUN_OFF]) - 1
                    state[I_DISARMED] = 0.0
                    state[I_RUN_OFF] = 0.0
                    state[I_SW_MIN_H] = h
                    state[I_SW_MIN_G] = g
            if loaded and (phase == PH_UNKNOWN or age >= min_swing):
                run = int(state[I_RUN_WEAK])
                onset = idx - (run - 1)
                if phase == PH_UNKNOWN:
                    for base in (I_HEEL, I_FORE):
                        lo0 = state[base + C_MIN]
                        state[base + C_LO] = lo0 if lo0 < 0.0 else 0.0
                        state[base + C_GUESSED] = 1.0 if lo0 > 0.0 else 0.0
                        state[base + C_DIP_LEN] = 0.0
                        state[base + C_HI] = state[base + C_MAX]
                        state[base + C_RESEED] = 1.0
                else:
                    ev = EV_HEEL_STRIKE  # (replaces a toe-off still being written, if any)
                    back = run - 1
                    for base in (I_HEEL, I_FORE):
                        if state[base + C_GUESSED] > 0.5:
                            state[base + C_LO] = state[base + C_MIN]  # the first swing replaces the guess
                            state[base + C_GUESSED] = 0.0
                        else:
                            state[base + C_LO] += adapt * (state[base + C_MIN] - state[base + C_LO])
                    to = state[I_TO_ONSET]
                    co = state[I_CO_ONSET]
                    if to >= 0.0 and co >= 0.0 and onset - co <= max_stride and to >= co:
                        pos = int(state[I_HIST_POS])
                        state[I_HIST_S + pos] = onset - to
                        state[I_HIST_POS] = float((pos + 1) % HISTORY)
                        if n_hist < HISTORY:
                            state[I_N_HIST] = float(n_hist + 1)
                    state[I_N_STEPS] += 1.0
                for base in (I_HEEL, I_FORE):
                    state[base + C_MIN] = np.inf
                    if finite:
                        state[base + C_MIN] = h if base == I_HEEL else g
                state[I_CO_ONSET] = onset
                state[I_HO_ONSET] = -1.0
                state[I_HEEL_RUN] = 0.0
                state[I_GATE_RUN] = 0.0
                state[I_STARTED] = 0.0
                state[I_DISARMED] = 0.0
                state[I_RUN_ON] = 0.0
                state[I_RUN_WEAK] = 0.0
                phase = PH_CONTACT
                age = run - 1
                if onset <= 0:
                    # loaded from the first sample: the contact began before the stream did (as
                    # adaptive_heel), so the minimum contact does not hold its burst back
                    age = int(params[ah.P_MIN_CONTACT])

        if ev != EV_NONE:
            n_events += 1
        out_event[i] = ev
        out_onset_back[i] = back

    state[I_PHASE] = phase
    state[I_AGE] = age
    state[I_SEEN] = seen + n
    return n_events


def _cell_problem(state: np.ndarray, base: int, rate_hz: float, min_range_N: float, name: str,
                  flat_s: float) -> str | None:
    if state[base + C_FLAT] / rate_hz >= flat_s:
        return (f"{name} stuck at {state[base + C_LAST]:.1f} N for {state[base + C_FLAT] / rate_hz:.0f} s "
                "(sensor stuck, disconnected or not under the foot?)")
    if int(state[I_PHASE]) == PH_UNKNOWN:
        lo, hi = float(state[base + C_MIN]), float(state[base + C_MAX])
    else:
        lo, hi = float(state[base + C_LO]), float(state[base + C_HI])
    if math.isfinite(lo) and math.isfinite(hi) and hi - lo < min_range_N:
        if lo >= min_range_N:
            return (f"{name} preload too high: never below {lo:.1f} N, range {hi - lo:.1f} N "
                    f"< {min_range_N:g} N needed")
        return f"{name} never crosses: range {hi - lo:.1f} N ({lo:.1f}..{hi:.1f} N) < {min_range_N:g} N needed"
    return None


def signal_problem(state: np.ndarray, rate_hz: float, heel_min_range_N: float, fore_min_range_N: float,
                   grace_s: float = 5.0, flat_s: float = 10.0) -> str | None:
    """A short text when the insole signals cannot be used, else None (plain Python).

    A heel cell alone that never crosses is reported but is not fatal (the forefoot still
    detects steps: the text says so); the forefoot cell is needed.
    """
    if float(state[I_N_VALID]) / rate_hz < grace_s:
        for base, name in ((I_HEEL, "heel_N"), (I_FORE, "fore_N")):
            if state[base + C_FLAT] / rate_hz >= flat_s:
                return _cell_problem(state, base, rate_hz, 0.0, name, flat_s)
        return None
    fore = _cell_problem(state, I_FORE, rate_hz, fore_min_range_N, "fore_N", flat_s)
    if fore is not None:
        return fore + ": no steps detected"
    heel = _cell_problem(state, I_HEEL, rate_hz, heel_min_range_N, "heel_N", flat_s)
    if heel is not None:
        return heel + " (steps from the forefoot only)"
    return None
