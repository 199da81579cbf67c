"""Compile (or load from cache) every core kernel at start-up, never on the first live step.

House style section 3b: the first call of a numba kernel costs ~0.2 s even with a warm cache
(~0.35 s cold), far beyond a 10 ms sample period. ``warm_up()`` must run before ARM is
possible. It uses exactly the argument types of the live loop and the batch runner:
C-contiguous 1-D float64 force and level arrays, int8 event and int32 onset arrays, float64
state and parameter vectors, Python ``float`` for thresholds, rates and durations and Python
``int`` for sample counts (what :meth:`HeelSwitchParams.kernel_args`,
:meth:`EnvelopeParams.kernel_args` and the detectors of :mod:`fescontrol.core.detectors`
pass). A caller passing other types (a non-contiguous slice, an np.int32 count, a read-only
array) would trigger a fresh compilation in the loop: don't.

Every detector kind of the seam is warmed through its own ``process`` and ``signal_health``
(the path the live loop and batch replay take), whichever kind the profile names, so that
switching kinds never compiles in a session.
"""

from __future__ import annotations

import numpy as np

from fescontrol.core.batch import run_heel_switch_batch
from fescontrol.core.detectors import DETECTOR_KINDS, build_detector
from fescontrol.core.envelope import new_envelope_state, shape_envelope
from fescontrol.core.heelswitch import (
    ceil_samples,
    detect_heel_switch,
    floor_samples,
    new_detector_state,
)

__all__ = ["warm_up"]


class _Kind:
    """A stand-in for a profile's [detector] section naming only the kind (defaults elsewhere)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind


def warm_up() -> None:
    """Call each kernel once on a tiny input with the live argument types (results discarded)."""
    rate_hz = 100.0
    force = np.array([0.0, 100.0, 100.0, 0.0], dtype=np.float64)
    event = np.zeros(force.shape[0], dtype=np.int8)
    onset_back = np.zeros(force.shape[0], dtype=np.int32)
    level = np.zeros(force.shape[0], dtype=np.float64)

    ceil_samples(0.25, rate_hz)
    floor_samples(1.5, rate_hz)
    det_state = new_detector_state()
    detect_heel_switch(force, det_state, 80.0, 40.0, 2, 25, 20, event, onset_back)
    env_state = new_envelope_state()
    shape_envelope(event, env_state, rate_hz, 0.06, 0.05, 0.08, 1.5, level)
    run_heel_switch_batch(force, rate_hz, 80.0, 40.0, 2, 25, 20, 0.06, 0.05, 0.08, 1.5)
    gyro = np.array([0.0, -200.0, 300.0, np.nan], dtype=np.float64)
    columns = {"heel_N": force, "fore_N": force[::-1].copy(),
               "gyr_x_dps": gyro, "gyr_y_dps": gyro[::-1].copy(), "gyr_z_dps": gyro.copy()}
    for kind in DETECTOR_KINDS:
        detector = build_detector(_Kind(kind), rate_hz)
        detector.process(columns)
        detector.signal_health()
        detector.in_contact()
