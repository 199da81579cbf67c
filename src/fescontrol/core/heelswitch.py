"""Heel-switch gait-event detector: force threshold with hysteresis, debounce and minimum phases.

Reference logic: ``shared/reference/gait-detection.md`` section 3.1. Heel off (the heel unloads
in terminal stance) is the classic ON trigger of drop-foot stimulators, heel strike (the heel
loads again) the OFF trigger (section 2.1).

The kernel is a pure function over arrays (house style 2.6 item 5): the caller owns a float64
state vector, passes it in with each chunk of samples and gets it back updated in place. No
globals are mutated, there is no I/O and no clock: time is the sample index. Running the kernel
over a recording in one call or in chunks of any size gives identical outputs, which is what
makes batch replay and the live loop agree.

Decisions and their reasons
---------------------------
* Hysteresis: a sample counts towards *contact* when ``force > contact_threshold_N`` and towards
  *unloading* when ``force < release_threshold_N`` (both strict). Anything in between, and NaN
  (no evidence either way), breaks the debounce run being watched and changes nothing else.
* Debounce: a transition needs ``debounce_samples`` consecutive samples beyond the threshold
  being watched. The event is written at the sample where it is *decided*; ``out_onset_back``
  says how many samples earlier the crossing began (the first sample of the run), so that event
  times can be backdated to the physical crossing.
* Minimum phase durations: a heel off is accepted only once the contact has lasted at least
  ``min_contact_samples`` (counted from the contact's backdated onset to the deciding sample),
  a heel strike only once the swing has lasted ``min_swing_samples``. A too-early crossing is
  not discarded: if it is still held when the minimum is reached, the transition is accepted
  then, with ``onset_back`` reaching back to where the run began. So a short bounce is rejected
  (the run breaks before the minimum), but a genuinely short phase is only delayed, never lost:
  losing a heel strike would leave the envelope stimulating into stance until its watchdog.
* Start-up: the detector starts in ``PH_UNKNOWN``. The first confirmed contact moves it to
  ``PH_CONTACT`` without an event, because we did not see the foot leave the ground before it,
  so it is not a heel strike and its time is meaningless for gait. While unloaded in
  ``PH_UNKNOWN`` nothing is emitted: the foot may be off the sensor (sitting, donning), and no
  stimulation may be triggered until a real contact has been seen.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numba import njit

# Event and phase codes are shared by every detector and live in fescontrol.core.events; they
# are re-exported here for code that imports them from this module.
from fescontrol.core.events import (
    EV_HEEL_OFF,
    EV_HEEL_STRIKE,
    EV_NONE,
    EVENT_NAMES,
    PH_CONTACT,
    PH_SWING,
    PH_UNKNOWN,
)

__all__ = [
    "EV_NONE",
    "EV_HEEL_STRIKE",
    "EV_HEEL_OFF",
    "EVENT_NAMES",
    "PH_UNKNOWN",
    "PH_CONTACT",
    "PH_SWING",
    "DET_PHASE",
    "DET_RUN",
    "DET_AGE",
    "DET_SEEN",
    "DETECTOR_STATE_SIZE",
    "SAMPLE_EPS",
    "ceil_samples",
    "floor_samples",
    "new_detector_state",
    "detect_heel_switch",
    "HeelSwitchParams",
    "DetectorSamples",
]

# --- state-vector layout (float64; counters are exact integers up to 2**53) ---------------
DET_PHASE = 0
"""Slot 0: current phase, one of PH_UNKNOWN / PH_CONTACT / PH_SWING."""
DET_RUN = 1
"""Slot 1: length of the current run of consecutive samples beyond the threshold being
watched (above contact_threshold_N in UNKNOWN/SWING, below release_threshold_N in CONTACT);
0 when the last sample did not cross it."""
DET_AGE = 2
"""Slot 2: samples since the last accepted transition, measured from its backdated onset:
(index of the last processed sample) - (index of the first sample of the debounce run that
confirmed the current phase). In UNKNOWN the onset is stream sample 0, so a fresh state holds -1
(no sample yet). This is what min_contact/min_swing are compared with."""
DET_SEEN = 3
"""Slot 3: number of samples processed with this state (stream index of the next sample);
bookkeeping for logs and tests, not used by the decision logic."""
DETECTOR_STATE_SIZE = 4

SAMPLE_EPS = 1e-6
"""Tolerance, in samples, when converting durations to sample counts, so that float noise such
as 0.07 s * 100 Hz = 7.000000000000001 does not add (or drop) a whole sample."""


@njit(cache=True)
def ceil_samples(duration_s: float, rate_hz: float) -> int:
    """Smallest whole number of samples covering ``duration_s`` (float noise tolerated).

    Used for minimum durations and holds: rounding up means "at least as long as asked".
    """
    x = duration_s * rate_hz
    n = int(math.ceil(x - SAMPLE_EPS))
    return n if n > 0 else 0


@njit(cache=True)
def floor_samples(duration_s: float, rate_hz: float) -> int:
    """Largest whole number of samples not exceeding ``duration_s`` (float noise tolerated).

    Used for limits (max stimulation time): rounding down means "never longer than allowed".
    """
    x = duration_s * rate_hz
    n = int(math.floor(x + SAMPLE_EPS))
    return n if n > 0 else 0


@njit(cache=True)
def new_detector_state() -> np.ndarray:
    """Fresh state: phase UNKNOWN, no run, no sample seen.

    Compiled so that the batch kernel starts from exactly the state the live loop starts from.
    """
    state = np.zeros(DETECTOR_STATE_SIZE, dtype=np.float64)
    state[DET_PHASE] = PH_UNKNOWN
    state[DET_AGE] = -1.0
    return state


@njit(cache=True)
def detect_heel_switch(
    force_N: np.ndarray,
    state: np.ndarray,
    contact_threshold_N: float,
    release_threshold_N: float,
    debounce_samples: int,
    min_contact_samples: int,
    min_swing_samples: int,
    out_event: np.ndarray,
    out_onset_back: np.ndarray,
) -> int:
    """Detect heel strike / heel off in one chunk of heel-force samples; return the event count.

    ``force_N`` float64[:] is the chunk; ``state`` (from :func:`new_detector_state`) carries
    everything needed to continue exactly at the next chunk and is updated in place.
    ``out_event`` int8[:] receives an ``EV_*`` code per sample (at the sample where the event is
    decided), ``out_onset_back`` int32[:] the number of samples from the first sample of the
    confirming run to that sample (0 where there is no event). Thresholds are in newtons,
    counts in samples (see :meth:`HeelSwitchParams.samples`). A debounce below 1 acts as 1.
    """
    n = force_N.shape[0]
    if out_event.shape[0] != n or out_onset_back.shape[0] != n:
        raise ValueError(
            "detect_heel_switch: out_event and out_onset_back must match force_N in length")
    if state.shape[0] != DETECTOR_STATE_SIZE:
        raise ValueError("detect_heel_switch: state has the wrong size (use new_detector_state())")
    debounce = debounce_samples if debounce_samples > 1 else 1

    phase = int(state[DET_PHASE])
    run = int(state[DET_RUN])
    age = int(state[DET_AGE])
    seen = int(state[DET_SEEN])
    n_events = 0

    for i in range(n):
        f = force_N[i]
        age += 1
        ev = EV_NONE
        if phase == PH_CONTACT:
            if f < release_threshold_N:
                run += 1
            else:
                run = 0
            if run >= debounce and age >= min_contact_samples:
                ev = EV_HEEL_OFF
                phase = PH_SWING
        else:  # PH_UNKNOWN or PH_SWING: both wait for a confirmed contact
            if f > contact_threshold_N:
                run += 1
            else:
                run = 0
            if run >= debounce:
                if phase == PH_UNKNOWN:
                    # First contact since start: accepted, but not a heel strike (no swing seen).
                    phase = PH_CONTACT
                    age = run - 1
                    run = 0
                elif age >= min_swing_samples:
                    ev = EV_HEEL_STRIKE
                    phase = PH_CONTACT
        if ev != EV_NONE:
            out_event[i] = ev
            out_onset_back[i] = run - 1
            age = run - 1  # the new phase began at the first sample of the run
            run = 0
            n_events += 1
        else:
            out_event[i] = EV_NONE
            out_onset_back[i] = 0

    state[DET_PHASE] = phase
    state[DET_RUN] = run
    state[DET_AGE] = age
    state[DET_SEEN] = seen + n
    return n_events


class DetectorSamples(NamedTuple):
    """Sample counts for :func:`detect_heel_switch`, in its argument order."""

    debounce_samples: int
    min_contact_samples: int
    min_swing_samples: int


def _check_finite(owner: str, name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{owner}.{name} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{owner}.{name} must be finite, got {value!r}")
    return v


@dataclass(frozen=True)
class HeelSwitchParams:
    """Validated heel-switch detector settings, with units in the names.

    Thresholds must be positive with ``contact_threshold_N > release_threshold_N`` (hysteresis;
    a release threshold of 0 would never see an unloaded switch reading 0). ``debounce_samples``
    is an integer >= 1. Minimum durations are seconds >= 0 (0 disables the check).
    """

    contact_threshold_N: float
    release_threshold_N: float
    debounce_samples: int
    min_contact_s: float
    min_swing_s: float

    def __post_init__(self) -> None:
        owner = type(self).__name__
        contact = _check_finite(owner, "contact_threshold_N", self.contact_threshold_N)
        release = _check_finite(owner, "release_threshold_N", self.release_threshold_N)
        if contact <= 0.0:
            raise ValueError(
                f"{owner}.contact_threshold_N must be > 0 N, got {self.contact_threshold_N!r}")
        if release <= 0.0:
            raise ValueError(
                f"{owner}.release_threshold_N must be > 0 N, got {self.release_threshold_N!r}")
        if not contact > release:
            raise ValueError(
                f"{owner}.release_threshold_N must be < contact_threshold_N (hysteresis), "
                f"got release {release!r} N >= contact {contact!r} N"
            )
        d = self.debounce_samples
        if isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 1:
            raise ValueError(f"{owner}.debounce_samples must be an integer >= 1, got {d!r}")
        for name in ("min_contact_s", "min_swing_s"):
            v = _check_finite(owner, name, getattr(self, name))
            if v < 0.0:
                raise ValueError(f"{owner}.{name} must be >= 0 s, got {getattr(self, name)!r}")

    def samples(self, rate_hz: float) -> DetectorSamples:
        """Integer sample counts at ``rate_hz`` (durations rounded up), as plain Python ints."""
        rate = _check_finite(type(self).__name__ + ".samples", "rate_hz", rate_hz)
        if rate <= 0.0:
            raise ValueError(f"{type(self).__name__}.samples: rate_hz must be > 0, got {rate_hz!r}")
        return DetectorSamples(
            debounce_samples=int(self.debounce_samples),
            min_contact_samples=int(ceil_samples(float(self.min_contact_s), rate)),
            min_swing_samples=int(ceil_samples(float(self.min_swing_s), rate)),
        )

    def kernel_args(self, rate_hz: float) -> tuple[float, float, int, int, int]:
        """Arguments 3-7 of :func:`detect_heel_switch` at ``rate_hz``, with the live loop's types
        (Python floats and ints, so no new numba signature is compiled)."""
        s = self.samples(rate_hz)
        return (float(self.contact_threshold_N), float(self.release_threshold_N),
                s.debounce_samples, s.min_contact_samples, s.min_swing_samples)
