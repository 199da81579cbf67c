"""Foot gyro detector, before the first heel strike: a burst that a weight shift started (no swing
followed, the foot stayed on the ground) does not make the real first step wait a whole shortest
stance (``imu_gyro.S_SHIFT_ENDED``); a burst whose foot moved while it waited for a swing still does
(its landing must not start a burst)."""

from __future__ import annotations

import numpy as np

from fescontrol.core import imu_gyro as ig
from fescontrol.core.detectors import ImuGyroDetector
from fescontrol.core.events import EV_HEEL_OFF, EV_HEEL_STRIKE, EV_STIM_ABORT
from tests.unit.imu_shapes import RATE, lobe, n_samples, still


def _run(gx: np.ndarray, gy: np.ndarray, gz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    det = ImuGyroDetector(ig.ImuGyroParams(), RATE)
    return det.process({"gyr_x_dps": gx, "gyr_y_dps": gy, "gyr_z_dps": gz})


def _abort_at(event: np.ndarray) -> int:
    aborts = np.flatnonzero(event == EV_STIM_ABORT)
    assert aborts.size >= 1, "the first burst should end in the swing wait"
    return int(aborts[0])


def test_a_first_step_right_after_a_weight_shift_gets_its_burst() -> None:
    """Standing; a weight shift rocks the foot (a steep -90 deg/s lobe, no swing after it, the foot
    at rest), which starts a burst that ends in the swing wait; 0.1 s later the real first step
    pushes off. voisard2023 5-2_right's first step went without stimulation this way: the burst
    needed 0.2 s of quiet after the abort, and the push-off began sooner."""
    y = np.concatenate([
        still(2.0),
        lobe(0.10, -90.0),   # weight shift: heel lifts and sets down
        still(0.30),         # the burst it started ends in here (swing wait 0.2 s)
        lobe(0.15, -400.0), lobe(0.35, 300.0), lobe(0.10, -150.0),  # push-off, swing, heel strike
        still(1.0),
    ])
    z = np.zeros_like(y)
    event, back = _run(z, y, z)
    abort = _abort_at(event)
    step = n_samples(2.0 + 0.10 + 0.30)
    assert abort < step, "the weight shift's burst ends before the step (the case under test)"
    assert step - abort < n_samples(0.2), "the step comes before a whole shortest stance of quiet"
    onsets = [int(i) - int(back[i]) for i in np.flatnonzero(event == EV_HEEL_OFF) if i > abort]
    assert onsets and step <= onsets[0] <= step + n_samples(0.08), f"onsets after the abort: {onsets}"
    assert np.count_nonzero(event[abort + 1:] == EV_HEEL_STRIKE) == 1


def test_a_burst_whose_foot_moved_in_the_swing_wait_still_needs_the_long_quiet() -> None:
    """The first push-off's swing was not seen (the foot turned about another axis at 45 deg/s,
    below the in-air rotation, while the burst waited); its landing, just after the burst ended,
    has the push-off's sign and must not start a burst (truong2019 25-1_left's first step)."""
    y = np.concatenate([
        still(2.0),
        lobe(0.15, -150.0),  # push-off
        np.zeros(n_samples(0.30)),
        lobe(0.08, -150.0),  # landing: a steep lobe of the push-off's sign
        still(1.0),
    ])
    x = np.concatenate([np.zeros(n_samples(2.15)), np.full(n_samples(0.30), 45.0), np.zeros(y.size - n_samples(2.45))])
    z = np.zeros_like(y)
    event, back = _run(x, y, z)
    abort = _abort_at(event)
    landing = n_samples(2.15 + 0.30)
    assert abort < landing and landing - abort < n_samples(0.2)
    assert np.count_nonzero(event[abort + 1:] == EV_HEEL_OFF) == 0
