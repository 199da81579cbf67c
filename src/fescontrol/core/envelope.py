"""Stimulation envelope: turns detector events into a per-sample stimulation level 0..1.

Heel off starts a burst (ramp up, plateau), heel strike ends it (extension, ramp down), and a
watchdog ends a burst whose heel strike never comes (gait-detection.md sections 2.1 and 4.3:
"a missing heel strike must end stimulation via a max-stim-time watchdog"). Ramps exist to
avoid a sudden contraction that could provoke a calf stretch reflex; the extension keeps the
dorsiflexors on briefly after heel strike against foot slap (SCORING.md allows 0.25 s).

The kernel is a pure function over arrays (house style 2.6 item 5): explicit float64 state in,
updated in place; no globals mutated, no I/O, no clock (time is the sample index at
``rate_hz``). Outputs are identical whether a stream is processed in one call or in chunks.

Level convention
----------------
``out_level[i]`` is the level that holds from sample ``i`` until sample ``i + 1`` (zero-order
hold, like a ``stim.csv`` row). During a ramp the held level is the ideal linear ramp's value at
the *end* of that sample interval, so an event changes the output at the very sample it arrives
(no extra sample of latency): with ``ramp_up_s * rate_hz = 6`` the levels from the heel-off
sample on are 1/6, 2/6, ..., 5/6, 1. Ramps are computed from a step counter
(``start +/- steps / ramp_samples``), not by accumulation, so they land exactly on their end
values; values within 1e-9 of 0 or 1 are snapped to it, and every level is clipped to [0, 1].

Phases (state slot ENV_SLOT_PHASE)
----------------------------------
``ENV_OFF``       level 0; a heel off starts a burst (RAMP_UP from 0, on-clock reset).
``ENV_RAMP_UP``   linear from the level the ramp started at to 1 at slope 1/ramp_up_s
                  (ramp_up_s = 0: a step to 1 at the heel-off sample), then PLATEAU.
``ENV_PLATEAU``   level 1 until heel strike (-> EXTENSION) or the watchdog (-> LOCKOUT).
``ENV_EXTENSION`` after a heel strike in RAMP_UP or PLATEAU: hold the current level for
                  ceil(extension_s * rate_hz) samples, counting the heel-strike sample, then
                  RAMP_DOWN. extension_s = 0: the ramp down starts at the heel-strike sample.
``ENV_RAMP_DOWN`` linear from the current level to 0 at slope 1/ramp_down_s (0: a step), then
                  OFF. A heel off during EXTENSION or RAMP_DOWN restarts RAMP_UP from the
                  current level (no drop to 0 and back: smoother, and the muscle is still on).
``ENV_LOCKOUT``   the watchdog fired: ramp down (slope 1/ramp_down_s) and stay at 0, ignoring
                  every heel off until a heel strike has been seen; that heel strike leaves
                  LOCKOUT (to RAMP_DOWN if the ramp is still running, else OFF). A missing heel
                  strike (switch failure, sitting down, flat-foot contact) therefore produces
                  one bounded burst and then nothing, instead of stimulating indefinitely or
                  re-triggering on every unloading.

Watchdog: the on-clock counts samples since the heel off that last started a ramp up (0 at that
sample), whether from OFF or as a restart during EXTENSION/RAMP_DOWN. While waiting for a heel
strike (RAMP_UP or PLATEAU), once the clock reaches floor(max_stim_s * rate_hz) the envelope
enters LOCKOUT at that sample, so stimulation without a heel strike never lasts longer than
max_stim_s before its ramp down starts. The clock restarts at a restarting heel off because a
heel strike has been seen since the previous one, so that one is not "missing"; counting from
the first heel off of an unbroken burst instead would lock out a real step whenever the level
does not reach 0 between steps (it always does when min contact >= extension + ramp down).
EXTENSION and RAMP_DOWN are bounded by their own durations after a heel strike, so the
watchdog does not act there (it must not swallow the next heel off after a long swing).

Other events: a heel strike in OFF, EXTENSION or RAMP_DOWN is ignored (it must not extend
stimulation); a heel off in RAMP_UP, PLATEAU or LOCKOUT is ignored.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
from numba import njit

from fescontrol.core.heelswitch import EV_HEEL_OFF, EV_HEEL_STRIKE, ceil_samples, floor_samples

__all__ = [
    "ENV_OFF",
    "ENV_RAMP_UP",
    "ENV_PLATEAU",
    "ENV_EXTENSION",
    "ENV_RAMP_DOWN",
    "ENV_LOCKOUT",
    "ENV_PHASE_NAMES",
    "ENV_SLOT_PHASE",
    "ENV_SLOT_LEVEL",
    "ENV_SLOT_RAMP_FROM",
    "ENV_SLOT_STEPS",
    "ENV_SLOT_ON_CLOCK",
    "ENVELOPE_STATE_SIZE",
    "LEVEL_SNAP",
    "new_envelope_state",
    "shape_envelope",
    "EnvelopeParams",
]

# --- envelope phases --------------------------------------------------------------------
ENV_OFF = 0
ENV_RAMP_UP = 1
ENV_PLATEAU = 2
ENV_EXTENSION = 3
ENV_RAMP_DOWN = 4
ENV_LOCKOUT = 5
ENV_PHASE_NAMES: dict[int, str] = {
    ENV_OFF: "off",
    ENV_RAMP_UP: "ramp_up",
    ENV_PLATEAU: "plateau",
    ENV_EXTENSION: "extension",
    ENV_RAMP_DOWN: "ramp_down",
    ENV_LOCKOUT: "lockout",
}

# --- state-vector layout (float64) --------------------------------------------------------
ENV_SLOT_PHASE = 0
"""Slot 0: current phase, one of the ENV_* codes (the controller reads it to log a lockout)."""
ENV_SLOT_LEVEL = 1
"""Slot 1: level of the last processed sample (0..1)."""
ENV_SLOT_RAMP_FROM = 2
"""Slot 2: level at which the current ramp (up, down or lockout ramp down) started."""
ENV_SLOT_STEPS = 3
"""Slot 3: samples elapsed in the current ramp, or in the EXTENSION hold."""
ENV_SLOT_ON_CLOCK = 4
"""Slot 4: watchdog on-clock, samples since the heel off that last started a ramp up (0 at that
sample); compared with floor(max_stim_s * rate_hz) in RAMP_UP and PLATEAU."""
ENVELOPE_STATE_SIZE = 5

LEVEL_SNAP = 1e-9
"""Levels within this of 0 or 1 are snapped to it, so float noise cannot add a ramp sample."""


@njit(cache=True)
def new_envelope_state() -> np.ndarray:
    """Fresh state: OFF at level 0 (compiled so the batch kernel can use it)."""
    state = np.zeros(ENVELOPE_STATE_SIZE, dtype=np.float64)
    state[ENV_SLOT_PHASE] = ENV_OFF
    return state


@njit(cache=True)
def shape_envelope(
    event: np.ndarray,
    state: np.ndarray,
    rate_hz: float,
    ramp_up_s: float,
    extension_s: float,
    ramp_down_s: float,
    max_stim_s: float,
    out_level: np.ndarray,
) -> None:
    """Write the stimulation level (0..1, 1 = plateau) for each sample of a chunk of events.

    ``event`` int8[:] holds detector codes (EV_HEEL_OFF starts a burst, EV_HEEL_STRIKE ends it);
    ``out_level`` float64[:] (same length) receives the level holding from each sample to the
    next; ``state`` (from :func:`new_envelope_state`) is updated in place. Durations in seconds.
    """
    n = event.shape[0]
    if out_level.shape[0] != n:
        raise ValueError("shape_envelope: out_level must match event in length")
    if state.shape[0] != ENVELOPE_STATE_SIZE:
        raise ValueError("shape_envelope: state has the wrong size (use new_envelope_state())")

    up_samples = ramp_up_s * rate_hz  # ramp 0 -> 1 length in samples (may be fractional)
    down_samples = ramp_down_s * rate_hz
    ext_samples = ceil_samples(extension_s, rate_hz)
    max_samples = floor_samples(max_stim_s, rate_hz)

    phase = int(state[ENV_SLOT_PHASE])
    level = state[ENV_SLOT_LEVEL]
    ramp_from = state[ENV_SLOT_RAMP_FROM]
    steps = int(state[ENV_SLOT_STEPS])
    on_clock = int(state[ENV_SLOT_ON_CLOCK])

    for i in range(n):
        ev = event[i]
        if phase != ENV_OFF:
            on_clock += 1

        # 1. events
        if ev == EV_HEEL_OFF:
            if phase == ENV_OFF:
                phase = ENV_RAMP_UP
                ramp_from = level
                steps = 0
                on_clock = 0
            elif phase == ENV_EXTENSION or phase == ENV_RAMP_DOWN:
                phase = ENV_RAMP_UP
                ramp_from = level
                steps = 0
                on_clock = 0
        elif ev == EV_HEEL_STRIKE:
            if phase == ENV_RAMP_UP or phase == ENV_PLATEAU:
                phase = ENV_EXTENSION
                steps = 0
            elif phase == ENV_LOCKOUT:
                # The missing heel strike has come: leave LOCKOUT, finishing its ramp if needed.
                phase = ENV_RAMP_DOWN if level > 0.0 else ENV_OFF

        # 2. watchdog: only while waiting for a heel strike
        if (phase == ENV_RAMP_UP or phase == ENV_PLATEAU) and on_clock >= max_samples:
            phase = ENV_LOCKOUT
            ramp_from = level
            steps = 0

        # 3. advance the level by one sample
        if phase == ENV_RAMP_UP:
            if up_samples > 0.0:
                steps += 1
                level = ramp_from + steps / up_samples
            else:
                level = 1.0
            if level >= 1.0 - LEVEL_SNAP:
                level = 1.0
                phase = ENV_PLATEAU
        elif phase == ENV_PLATEAU:
            level = 1.0
        elif phase == ENV_EXTENSION:
            if steps >= ext_samples:
                phase = ENV_RAMP_DOWN
                ramp_from = level
                steps = 0
            else:
                steps += 1
        if phase == ENV_RAMP_DOWN or phase == ENV_LOCKOUT:
            if level > 0.0:
                if down_samples > 0.0:
                    steps += 1
                    level = ramp_from - steps / down_samples
                else:
                    level = 0.0
                if level <= LEVEL_SNAP:
                    level = 0.0
            if level == 0.0 and phase == ENV_RAMP_DOWN:
                phase = ENV_OFF

        if level > 1.0:
            level = 1.0
        elif level < 0.0:
            level = 0.0
        out_level[i] = level

    state[ENV_SLOT_PHASE] = phase
    state[ENV_SLOT_LEVEL] = level
    state[ENV_SLOT_RAMP_FROM] = ramp_from
    state[ENV_SLOT_STEPS] = steps
    state[ENV_SLOT_ON_CLOCK] = on_clock


@dataclass(frozen=True)
class EnvelopeParams:
    """Validated envelope timing, seconds. Ramps and extension >= 0 (0 = step / none);
    ``max_stim_s`` > 0 is the watchdog limit on full stimulation without a heel strike."""

    ramp_up_s: float
    extension_s: float
    ramp_down_s: float
    max_stim_s: float

    def __post_init__(self) -> None:
        owner = type(self).__name__
        for name in ("ramp_up_s", "extension_s", "ramp_down_s", "max_stim_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ValueError(f"{owner}.{name} must be a number of seconds, got {value!r}")
            v = float(value)
            if not math.isfinite(v):
                raise ValueError(f"{owner}.{name} must be finite, got {value!r}")
            if v < 0.0:
                raise ValueError(f"{owner}.{name} must be >= 0 s, got {value!r}")
        if float(self.max_stim_s) <= 0.0:
            raise ValueError(f"{owner}.max_stim_s must be > 0 s, got {self.max_stim_s!r}")

    def kernel_args(self) -> tuple[float, float, float, float]:
        """(ramp_up_s, extension_s, ramp_down_s, max_stim_s) as Python floats: the kernel's
        argument types, so no new numba signature is compiled."""
        return (float(self.ramp_up_s), float(self.extension_s), float(self.ramp_down_s),
                float(self.max_stim_s))
