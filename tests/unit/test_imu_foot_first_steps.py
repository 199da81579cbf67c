"""Foot gyro detector, auto axis, first steps: a sign flip that ends a late burst's lobe keeps the
burst for the swing after it; before the first stride a foot still rotating as a whole keeps its
burst past the swing wait (the auto axis may not be the sagittal one yet), and a swing lobe that
comes after the swing wait is timed from its own start (``imu_gyro.detect_imu_gyro``,
``imu_gyro._foot_in_air``)."""

from __future__ import annotations

import numpy as np

from fescontrol.core import imu_gyro as ig
from fescontrol.core.detectors import ImuGyroDetector
from fescontrol.core.events import EV_HEEL_OFF, EV_HEEL_STRIKE, EV_STIM_ABORT
from tests.unit.imu_shapes import RATE, lobe, n_samples, still


def _run(gx: np.ndarray, gy: np.ndarray, gz: np.ndarray, axis: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    det = ImuGyroDetector(ig.ImuGyroParams(sagittal_axis=axis), RATE)
    return det.process({"gyr_x_dps": gx, "gyr_y_dps": gy, "gyr_z_dps": gz})


def _burst_on(event: np.ndarray, back: np.ndarray) -> np.ndarray:
    """Per sample: True while a burst is on (from each heel-off's backdated sample to the next
    heel strike or abort's backdated sample)."""
    on = np.zeros(event.shape[0], dtype=bool)
    start = -1
    for i in np.flatnonzero(event):
        at = int(i) - int(back[i])
        if event[i] == EV_HEEL_OFF:
            start = at
        elif event[i] in (EV_HEEL_STRIKE, EV_STIM_ABORT) and start >= 0:
            on[start:at] = True
            start = -1
    return on


def test_a_flip_at_the_end_of_a_late_bursts_lobe_keeps_the_burst_for_the_swing() -> None:
    """The sign was set wrong by a first movement (a foot put forward, read as a push-off) and a
    stride was walked with it. The next step's push-off then reads as a swing and starts a late
    burst; when it ends, it votes the sign over. That lobe was the push-off: the swing lobe right
    after it is stimulated (before: the flip aborted the burst and the swing went without)."""
    y = np.concatenate([
        still(2.0),
        lobe(0.20, 300.0), lobe(0.40, -350.0), lobe(0.10, 200.0),  # a "stride" with the sign wrong
        still(0.60),
        lobe(0.15, -390.0), lobe(0.35, 270.0), lobe(0.10, -200.0),  # push-off, swing, heel strike
        still(2.0),
    ])
    swing = slice(n_samples(2.0 + 0.70 + 0.60 + 0.15), n_samples(2.0 + 0.70 + 0.60 + 0.50))
    z = np.zeros_like(y)
    event, back = _run(z, y, z)
    on = _burst_on(event, back)
    assert on[swing].mean() >= 0.9
    assert np.count_nonzero(event[swing.start:] == EV_STIM_ABORT) == 0
    assert np.count_nonzero(event[swing.start:] == EV_HEEL_STRIKE) == 1


def _first_step(swing_dps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, slice]:
    """Standing, then a first step whose push-off turns the foot about x (the only motion so far,
    so the auto axis takes x), then a slow swing about y at ``swing_dps`` for 0.5 s (the projection
    on x reads nothing of it), then standing. Returns the axes and the swing's samples."""
    stand, push, swing_t = still(2.0), lobe(0.20, -150.0), 0.5
    t = np.arange(n_samples(swing_t)) / RATE
    swing = swing_dps * np.clip(np.minimum(t, swing_t - t) / 0.1, 0.0, 1.0)
    gx = np.concatenate([stand, push, np.zeros_like(swing), still(2.0)])
    gy = np.concatenate([stand, np.zeros_like(push), swing, still(2.0)])
    start = stand.shape[0] + push.shape[0]
    return gx, gy, np.zeros_like(gx), slice(start, start + swing.shape[0])


def test_before_the_first_stride_a_foot_rotating_about_another_axis_keeps_its_burst() -> None:
    """Auto axis, no stride yet: the swing (60 deg/s, under the 70 deg/s swing floor) is about an
    axis the auto axis has not found, but the foot as a whole still turns faster than the onset
    floor: the burst stays on past the swing wait and covers most of the swing's first 0.35 s
    (before: it ended at the swing wait, 0.2 s after the toe-off)."""
    gx, gy, gz, swing = _first_step(60.0)
    event, back = _run(gx, gy, gz)
    on = _burst_on(event, back)
    assert np.count_nonzero(event == EV_HEEL_OFF) >= 1
    assert on[swing.start:swing.start + n_samples(0.35)].mean() >= 0.9
    # the same push-off with no swing after it (a heel raise, the foot set down): the burst
    # still ends within the swing wait after the toe-off
    gx, gy, gz, swing = _first_step(0.0)
    event, _ = _run(gx, gy, gz)
    (end,) = np.flatnonzero(event == EV_STIM_ABORT)
    assert (end - swing.start) / RATE < 0.20 + 0.05


def test_a_swing_lobe_after_the_swing_wait_is_timed_from_its_own_start() -> None:
    """Auto axis, no stride yet: after the push-off the foot keeps turning (as a whole, about
    another axis) for 0.3 s, then a swing lobe rises on the axis and falls straight into a dip
    0.10 s later. A swing is never that short (``min_swing_s`` 0.15 s): that dip is no heel strike
    (before: the shortest swing counted from the toe-off 0.3 s earlier, so the dip ended the
    burst and taught a first stride)."""
    stand, push = still(2.0), lobe(0.20, -150.0)
    swing, dip = lobe(0.10, 200.0), lobe(0.06, -150.0)
    air = np.zeros(n_samples(0.30))
    gx = np.concatenate([stand, push, air, swing, dip, still(2.0)])
    turning = np.full(air.shape[0] + swing.shape[0] + dip.shape[0], 60.0)  # about z, all through
    gz = np.concatenate([stand, np.zeros_like(push), turning, still(2.0)])
    rise = stand.shape[0] + push.shape[0] + air.shape[0]
    event, back = _run(gx, np.zeros_like(gx), gz)
    assert np.count_nonzero(event == EV_HEEL_OFF) >= 1
    strikes = np.flatnonzero(event == EV_HEEL_STRIKE)
    assert all((i - back[i] - rise) / RATE >= 0.15 for i in strikes)
