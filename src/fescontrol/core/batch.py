"""Whole-recording runners: detector then envelope, with the kernels the live loop calls.

:func:`run_detector_batch` runs any detector of the seam (``fescontrol.core.detectors``) over
a whole recording in one ``process`` call (the detector kernels are numba; by their chunk
invariance one call over n samples is the live loop with one chunk of n samples), passes its
events through :func:`fescontrol.core.events.envelope_events` and shapes the envelope.
:func:`run_heel_switch_batch` / :func:`run_batch` are the fixed-threshold heel switch path,
kept for the benchmarks and older callers.

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
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from fescontrol.core.envelope import EnvelopeParams, new_envelope_state, shape_envelope
from fescontrol.core.events import EVENT_NAMES, envelope_events
from fescontrol.core.heelswitch import (
    HeelSwitchParams,
    detect_heel_switch,
    new_detector_state,
)

if TYPE_CHECKING:
    from fescontrol.core.detectors import Detector

__all__ = ["run_heel_switch_batch", "run_batch", "run_detector_batch", "BatchResult"]


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
    health: tuple[tuple[int, str | None], ...] = ()
    """(sample index, text) each time the detector's signal_health() changed, checked after
    every chunk as the live loop does (None: the problem cleared). Empty for run_batch."""

    def event_times(self, rate_hz: float) -> list[tuple[float, str]]:
        """Backdated detected gait events as ``(t_s, kind)``, t_s = (index - onset_back) / rate_hz.

        Times are seconds since sample 0 of the recording (sample time, as in ``events.csv``);
        kind is a name of :data:`fescontrol.core.events.EVENT_NAMES` ("heel_strike",
        "heel_off", "toe_off"); codes without a name (``EV_STIM_ABORT``) are not gait events
        and are left out. Ordered by deciding sample. A delayed burst onset (learned onset
        delay, insole) reaches further back than the events decided before it, so times are
        not always increasing; sort them when that matters.
        """
        if not (math.isfinite(rate_hz) and rate_hz > 0):
            raise ValueError(f"BatchResult.event_times: rate_hz must be > 0, got {rate_hz!r}")
        idx = np.flatnonzero(np.isin(self.event, np.array(sorted(EVENT_NAMES), dtype=np.int8)))
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


def run_detector_batch(detector: Detector, columns: Mapping[str, np.ndarray],
                       envelope: EnvelopeParams, chunk_samples: int | None = None) -> BatchResult:
    """Run a detector of the seam and the envelope over a whole recording.

    ``detector`` should be fresh (or reset); ``columns`` holds its ``required_columns`` as 1-D
    arrays of one length at ``detector.rate_hz`` (NaN in gaps). With ``chunk_samples`` the
    detector is called chunk by chunk, as the live loop calls it, and ``signal_health()`` is
    read after every chunk (``BatchResult.health``); by chunk invariance the events are the
    same as from one call. The envelope takes the detector's events through
    :func:`~fescontrol.core.events.envelope_events`; ``event`` in the result holds the
    detector's own codes.
    """
    n = -1
    for name in detector.required_columns:
        if name not in columns:
            raise ValueError(f"run_detector_batch: column {name!r} missing")
        n = len(columns[name])
    if chunk_samples is None or n <= 0:
        event, onset_back = detector.process(columns)
        health: list[tuple[int, str | None]] = []
        message = detector.signal_health()
        if message is not None:
            health.append((max(n - 1, 0), message))
    else:
        if chunk_samples < 1:
            raise ValueError(f"run_detector_batch: chunk_samples must be >= 1, got {chunk_samples!r}")
        events, backs, health = [], [], []
        last: str | None = None
        for start in range(0, n, chunk_samples):
            part = {k: np.asarray(columns[k])[start:start + chunk_samples] for k in detector.required_columns}
            ev, back = detector.process(part)
            events.append(ev)
            backs.append(back)
            message = detector.signal_health()
            if message != last:
                health.append((start + ev.shape[0] - 1, message))
                last = message
        event = np.concatenate(events).astype(np.int8)
        onset_back = np.concatenate(backs).astype(np.int32)
    level = np.zeros(event.shape[0], dtype=np.float64)
    shape_envelope(envelope_events(event), new_envelope_state(), float(detector.rate_hz),
                   *envelope.kernel_args(), level)
    for arr in (event, onset_back, level):
        arr.setflags(write=False)
    return BatchResult(event=event, onset_back=onset_back, level=level, health=tuple(health))
