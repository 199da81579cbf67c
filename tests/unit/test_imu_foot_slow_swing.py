"""Foot gyro detector: a slow swing lobe that is still rising at the end of the swing wait keeps
its burst (``imu_gyro._foot_in_air``), a heel set down after a heel raise does not."""

from __future__ import annotations

import numpy as np

from fescontrol.core import imu_gyro as ig
from fescontrol.core.detectors import ImuGyroDetector
from fescontrol.core.events import EV_HEEL_OFF, EV_HEEL_STRIKE, EV_STIM_ABORT
from tests.unit.imu_shapes import RATE, lobe, n_samples


def _slow_swing(plateau: float) -> np.ndarray:
    """A slow walker's swing lobe (deg/s, swing positive): up to ``plateau`` in 0.1 s, held
    there until 0.3 s (past the 0.2 s swing wait, below the 87.5 deg/s swing threshold), then up
    to 150 deg/s at 0.45 s and down to zero at 0.6 s; then the heel-strike dip."""
    t = np.arange(n_samples(0.6)) / RATE
    swing = np.interp(t, [0.0, 0.1, 0.3, 0.45, 0.6], [0.0, plateau, plateau, 150.0, 0.0])
    return np.concatenate([swing, lobe(0.10, -200.0)])


def _run(s: np.ndarray) -> np.ndarray:
    z = np.zeros_like(s)
    det = ImuGyroDetector(ig.ImuGyroParams(sagittal_axis="y"), RATE)
    event, _ = det.process({"gyr_x_dps": z, "gyr_y_dps": s, "gyr_z_dps": z})
    return event


def _walk(strides: int, last: list[np.ndarray]) -> tuple[np.ndarray, int]:
    """Standing, ``strides`` brisk strides (swing peak 350 deg/s, so the running swing threshold
    stays 87.5 deg/s), then ``last``; returns the signal and where ``last`` starts."""
    parts = [np.zeros(n_samples(2.0))]
    for _ in range(strides):
        parts += [lobe(0.20, -400.0), lobe(0.40, 350.0), lobe(0.10, -200.0), np.zeros(n_samples(0.60))]
    start = sum(p.shape[0] for p in parts)
    return np.concatenate([*parts, *last, np.zeros(n_samples(2.0))]), start


def test_a_slow_swing_after_known_strides_keeps_its_burst() -> None:
    """Three strides known, then a push-off and a swing lobe held at 65 deg/s (above the 50 deg/s
    onset floor, below the threshold) past the swing wait: the foot still rotates forward, so the
    burst stays on and ends at a heel strike, not in an abort."""
    s, start = _walk(3, [lobe(0.20, -300.0), _slow_swing(65.0)])
    ev = _run(s)
    assert np.count_nonzero(ev == EV_STIM_ABORT) == 0
    assert np.count_nonzero(ev[start:] == EV_HEEL_OFF) == 1
    assert np.count_nonzero(ev[start:] == EV_HEEL_STRIKE) == 1


def test_a_slow_first_swing_past_the_swing_floor_keeps_its_burst() -> None:
    """No stride yet: a first step whose swing lobe holds 80 deg/s (above the 70 deg/s swing floor,
    below the default threshold 0.25 x 350) past the swing wait keeps its burst; one holding only
    60 deg/s does not (before a stride the sign is a guess: the onset floor is not enough)."""
    s, _ = _walk(0, [lobe(0.20, -300.0), _slow_swing(80.0)])
    ev = _run(s)
    assert np.count_nonzero(ev == EV_STIM_ABORT) == 0
    assert np.count_nonzero(ev == EV_HEEL_STRIKE) == 1
    s, _ = _walk(0, [lobe(0.20, -300.0), _slow_swing(60.0)])
    assert np.count_nonzero(_run(s) == EV_STIM_ABORT) == 1


def test_a_heel_set_down_after_a_heel_raise_still_ends_at_the_swing_wait() -> None:
    """A heel raise, then the heel set down (a forward rotation of 40 deg/s over 0.3 s, under the
    onset floor): no swing, the burst ends within the swing wait after the toe-off."""
    s, start = _walk(3, [lobe(0.20, -300.0), lobe(0.30, 40.0)])
    ev = _run(s)
    (end,) = np.flatnonzero(ev == EV_STIM_ABORT)
    assert (end - start) / RATE < 0.40 + 0.05  # toe-off about 0.15 s in, then the 0.2 s wait
    assert np.count_nonzero(ev[start:] == EV_HEEL_STRIKE) == 0


def _turning_step(backward: float, sideways: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Three strides known, then a push-off, then 0.35 s in which the foot turns at ``sideways``
    deg/s about x while still rotating ``backward`` deg/s in pitch (no forward swing lobe), then
    rest: (x, y, where the push-off starts)."""
    y, start = _walk(3, [lobe(0.20, -300.0), np.full(n_samples(0.35), -backward)])
    x = np.zeros_like(y)
    x[start + n_samples(0.20):start + n_samples(0.55)] = sideways
    return x, y, start


def _abort_after(x: np.ndarray, y: np.ndarray, start: int) -> float:
    det = ImuGyroDetector(ig.ImuGyroParams(sagittal_axis="y"), RATE)
    ev, _ = det.process({"gyr_x_dps": x, "gyr_y_dps": y, "gyr_z_dps": np.zeros_like(y)})
    (end,) = np.flatnonzero(ev[start:] == EV_STIM_ABORT)
    assert np.count_nonzero(ev[start:] == EV_HEEL_OFF) == 1
    return float(end) / RATE


def test_a_foot_still_turning_as_a_whole_keeps_its_burst_past_the_swing_wait() -> None:
    """A turning step whose swing is not sagittal (truong2019 9-1_left at 35.7 s: at the swing
    wait's end the foot turns 75 deg/s off the sagittal axis and 38 deg/s backward, 85 deg/s as a
    whole, and goes on so for 0.2 s): the whole rotation is past AIR_DPS, so the foot is in the
    air and the burst stays on until the rotation stops or AIR_MAX swing waits have passed. A foot
    turning slower as a whole (73 deg/s) ends its burst at the swing wait, as before."""
    assert _abort_after(*_turning_step(45.0, 70.0)) >= 0.50  # toe-off ~0.15 s, + 2 swing waits
    assert _abort_after(*_turning_step(20.0, 70.0)) < 0.40  # toe-off ~0.15 s, + the 0.2 s wait
