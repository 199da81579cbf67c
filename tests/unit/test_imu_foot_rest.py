"""Foot gyro detector: a foot that has come to rest after its swing lobe is on the ground, so the
burst ends there (``imu_gyro.REST_DPS`` / ``REST_HOLD_S``), even when the foot was set down with
no heel-strike dip and its gyro still reads above ``LOW_SHARE`` of a low swing peak, or before
the shortest swing; a pause of the sagittal rotation while the foot still turns about another
axis is no rest."""

from __future__ import annotations

import numpy as np

from fescontrol.core import imu_gyro as ig
from fescontrol.core.detectors import ImuGyroDetector
from fescontrol.core.events import EV_HEEL_STRIKE, EV_STIM_ABORT
from tests.unit.imu_shapes import RATE, lobe, n_samples


def _walk(last: list[np.ndarray], strides: int = 3) -> tuple[np.ndarray, int]:
    """Standing, ``strides`` brisk strides (swing peak 350 deg/s: the running swing threshold
    stays 87.5 deg/s), then ``last`` and standing; returns the signal and where ``last`` starts."""
    parts = [np.zeros(n_samples(2.0))]
    for _ in range(strides):
        parts += [lobe(0.20, -400.0), lobe(0.40, 350.0), lobe(0.10, -200.0), np.zeros(n_samples(0.60))]
    start = sum(p.shape[0] for p in parts)
    return np.concatenate([*parts, *last, np.zeros(n_samples(2.0))]), start


def _run(s: np.ndarray, off: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Events and backdating over a sagittal signal on y (``off``: a rotation about x)."""
    z = np.zeros_like(s)
    det = ImuGyroDetector(ig.ImuGyroParams(sagittal_axis="y"), RATE)
    event, back = det.process({"gyr_x_dps": z if off is None else off, "gyr_y_dps": s, "gyr_z_dps": z})
    return event, back


def test_a_last_step_set_down_gently_ends_when_the_foot_comes_to_rest() -> None:
    """A last step: a swing lobe of 110 deg/s that sinks to 20 deg/s and stays there (the foot
    flat on the ground, its zero not yet relearned: voisard2023 5-2_left reads 10-17 deg/s at rest
    after an 85 deg/s lobe), no dip. 20 deg/s stays above LOW_SHARE x 110, so without the rest rule
    the burst runs on until the zero is relearned (0.65 s here); with it the burst ends REST_HOLD_S
    after the rotation fell below REST_DPS, and the heel strike is backdated to there."""
    swing = lobe(0.40, 110.0)
    peak = int(swing.argmax())
    swing[peak:] = np.maximum(swing[peak:], 20.0)
    s, start = _walk([lobe(0.20, -300.0), swing, np.full(n_samples(1.5), 20.0)])
    ev, back = _run(s)
    rest = start + n_samples(0.20) + peak + int(np.argmax(swing[peak:] < ig.REST_DPS))
    assert np.count_nonzero(ev[start:] == EV_STIM_ABORT) == 0
    (hs,) = np.flatnonzero(ev[start:] == EV_HEEL_STRIKE) + start
    assert hs - rest <= n_samples(ig.REST_HOLD_S) + ig.MEDIAN_DELAY  # emitted within the hold
    assert abs(hs - back[hs] - rest) <= 1  # timed where the rest began


def test_a_foot_at_rest_before_the_shortest_swing_ends_the_burst() -> None:
    """A short swing lobe (140 deg/s over 0.1 s, as the detector sees a small last step) and then
    the foot still: the burst used to wait for the shortest swing (0.2 s after the toe-off) plus
    LOW_HOLD_S; a foot at rest is on the ground whatever the swing's age, so it ends within
    REST_HOLD_S of the rest."""
    s, start = _walk([lobe(0.20, -300.0), lobe(0.10, 140.0)])
    ev, _ = _run(s)
    rest = start + n_samples(0.20) + n_samples(0.10)
    (hs,) = np.flatnonzero(ev[start:] == EV_HEEL_STRIKE) + start
    assert hs - rest <= n_samples(ig.REST_HOLD_S) + 2 * ig.MEDIAN_DELAY
    assert np.count_nonzero(ev[start:] == EV_STIM_ABORT) == 0


def test_a_sagittal_pause_while_the_foot_turns_about_another_axis_is_no_rest() -> None:
    """Mid-swing the sagittal rotation pauses for 40 ms (with the lobes' ends, shorter than LOW_HOLD_S) while the foot
    still turns at 50 deg/s about another axis (a turning step): the foot is in the air, and the
    burst ends only at the heel-strike dip after the second half of the swing."""
    pause = np.zeros(n_samples(0.04))
    last = [lobe(0.20, -300.0), lobe(0.20, 200.0), pause, lobe(0.20, 200.0), lobe(0.10, -200.0)]
    s, start = _walk(last)
    off = np.zeros_like(s)
    a = start + n_samples(0.20) + n_samples(0.20)
    off[a - 2:a + pause.size + 2] = 50.0
    ev, back = _run(s, off)
    dip = a + pause.size + n_samples(0.20)
    (hs,) = np.flatnonzero(ev[start:] == EV_HEEL_STRIKE) + start
    assert hs - back[hs] >= dip
    assert np.count_nonzero(ev[start:] == EV_STIM_ABORT) == 0
