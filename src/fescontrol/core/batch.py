"""Whole-recording runner for the heel-switch path: detector then envelope, inside numba.

The batch kernel calls the very same kernels the live loop calls chunk by chunk
(:func:`~fescontrol.core.heelswitch.detect_heel_switch`,
:func:`~fescontrol.core.envelope.shape_envelope`) with fresh states, so batch replay and live
replay cannot drift apart: a single call over n samples is, by the kernels' chunk invariance,
the live loop with one chunk of n samples.

Numba caching note: ``cache=True`` keys the cached batch kernel on this file only; after
editing heelswitch.py or envelope.py, clear ``__pycache__`` (or touch this file) so the batch
kernel is recompiled against the new callees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from fescontrol.core.envelope import EnvelopeParams, new_envelope_state, shape_envelope
from fescontrol.core.heelswitch import (
    EV_HEEL_OFF,
    EV_HEEL_STRIKE,
    EVENT_NAMES,
    HeelSwitchParams,
    detect_heel_switch,
    new_detector_state,
)

__all__ = ["run_heel_switch_batch", "run_batch", "BatchResult"]


@njit(cache=True)
def run_heel_switch_batch(
    force_N: np.ndarray,
    rate_hz: float,
    contact_threshold_N: float,
    release_threshold_N: float,
    debounce_samples: int,
    min_contact_samples: int,
    min_swing_samples: int,
    ramp_up_s: float,
    extension_s: float,
    ramp_down_s: float,
    max_stim_s: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run detector and envelope over a whole recording from fresh states.

    Returns ``(event int8[:], onset_back int32[:], level float64[:])``, one entry per sample,
    with the meanings of the two kernels' outputs.
    """
    n = force_N.shape[0]
    event = np.zeros(n, dtype=np.int8)
    onset_back = np.zeros(n, dtype=np.int32)
    level = np.zeros(n, dtype=np.float64)
    det_state = new_detector_state()
    env_state = new_envelope_state()
    detect_heel_switch(force_N, det_state, contact_threshold_N, release_threshold_N,
                       debounce_samples, min_contact_samples, min_swing_samples,
                       event, onset_back)
    shape_envelope(event, env_state, rate_hz, ramp_up_s, extension_s, ramp_down_s, max_stim_s,
                   level)
    return event, onset_back, level


@dataclass(frozen=True)
class BatchResult:
    """Per-sample outputs of a batch run (read-only arrays, index = sample number)."""

    event: np.ndarray
    """int8 EV_* code at the sample where each event was decided."""
    onset_back: np.ndarray
    """int32 samples from the crossing's first sample to the deciding sample (0 elsewhere)."""
    level: np.ndarray
    """float64 stimulation level 0..1 holding from each sample to the next."""

    def event_times(self, rate_hz: float) -> list[tuple[float, str]]:
        """Backdated detected events as ``(t_s, kind)``, t_s = (index - onset_back) / rate_hz.

        Times are seconds since sample 0 of the recording (sample time, as in ``events.csv``);
        kind is "heel_strike" or "heel_off". Ordered by deciding sample (hence also by time:
        a new crossing can only begin after the previous event was decided).
        """
        if not (math.isfinite(rate_hz) and rate_hz > 0):
            raise ValueError(f"BatchResult.event_times: rate_hz must be > 0, got {rate_hz!r}")
        idx = np.flatnonzero((self.event == EV_HEEL_STRIKE) | (self.event == EV_HEEL_OFF))
        return [
            ((int(i) - int(self.onset_back[i])) / rate_hz, EVENT_NAMES[int(self.event[i])])
            for i in idx
        ]


def run_batch(force_N: np.ndarray, rate_hz: float, detector: HeelSwitchParams,
              envelope: EnvelopeParams) -> BatchResult:
    """Run the heel-switch path over a whole force recording (newtons at ``rate_hz``).

    Converts the input to a contiguous float64 1-D array and the settings to the kernel's
    Python scalar types, so the signature is the one :func:`fescontrol.core.warmup.warm_up`
    compiled.
    """
    force = np.ascontiguousarray(force_N, dtype=np.float64)
    if force.ndim != 1:
        raise ValueError(f"run_batch: force_N must be 1-D, got shape {force.shape}")
    rate = float(rate_hz)
    if not (math.isfinite(rate) and rate > 0.0):
        raise ValueError(f"run_batch: rate_hz must be > 0, got {rate_hz!r}")
    event, onset_back, level = run_heel_switch_batch(
        force, rate, *detector.kernel_args(rate), *envelope.kernel_args())
    for arr in (event, onset_back, level):
        arr.setflags(write=False)
    return BatchResult(event=event, onset_back=onset_back, level=level)
