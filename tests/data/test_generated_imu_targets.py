"""Issue 13's IMU targets on the gait generator's scenarios: foot and shank gyro, default IMU profile.

"The same on the generated IMU scenarios over several seeds, and with the sensor axes permuted
and flipped, at 50 and 200 Hz, and with dropouts": every scenario of ``fescontrol_hil.gait``
(three seeds x 60 s, the seeds pooled with ``aggregate``), for the foot and the shank IMU
(``rec.imu(mount)``, gyro columns only, ``sagittal_axis = "auto"``), in five variants:

- ``100hz``: as generated at 100 Hz;
- ``permuted``: the sensor turned, x <- -y, y <- z, z <- -x (a proper rotation: the sagittal
  axis is now z, and the auto axis must find it);
- ``50hz`` / ``200hz``: generated at that rate;
- ``dropouts``: 10 runs of lost samples (NaN, 10-120 ms each) per minute.

Replayed in batch (numba kernels, :func:`fescontrol.replay.replay_in_memory`: detector,
envelope, policy, scorer), so the whole matrix takes a few seconds.

Targets (SCORING.md "Targets", the IMU rows): healthy-type walking (healthy, hemiparetic, light,
heavy, preload, mid-stride) coverage >= 0.99, stance intrusion <= 0.03, standing 0 s, false
bursts 0, median onset lead 0-150 ms; pathological (shuffling, stop-and-go, pivot-turns, stairs)
coverage >= 0.97, intrusion <= 0.05, standing 0 s, false bursts <= 1 per 100 swings, onset lead
0-200 ms. Targets not met are ``xfail(strict=True)`` with the measured value as the reason.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fescontrol_hil.gait import SCENARIOS, generate

from fescontrol.config.loading import default_device_path, default_imu_profile_path, load_device, load_profile
from fescontrol.records.readers import Event
from fescontrol.records.scoring import aggregate
from fescontrol.replay import replay_in_memory

SEEDS = (1, 2, 3)
DURATION_S = 60.0
MOUNTS = ("foot", "shank")
PATHOLOGICAL = ("shuffling", "stop-and-go", "pivot-turns", "stairs")
VARIANTS: dict[str, tuple[float, float, bool]] = {
    # name: (rate Hz, dropouts per minute, axes permuted and flipped)
    "100hz": (100.0, 0.0, False),
    "permuted": (100.0, 0.0, True),
    "50hz": (50.0, 0.0, False),
    "200hz": (200.0, 0.0, False),
    "dropouts": (100.0, 10.0, False),
}
METRICS = ("coverage", "stance_intrusion", "standing", "false_bursts", "onset_lead")
CASES = tuple((m, s, v) for m in MOUNTS for s in SCENARIOS for v in VARIANTS)

_PIVOT = ('pivot: a burst starts inside 4 of the 16 pivots (3 seeds, 100 Hz); the pivots are sized on '
          'real turns on the spot (heel lift and lowering 40-110 deg/s, yaw 250-650 deg/s; gait_imu.PIVOT_LIFT_DEG); ')
KNOWN_MISSES: dict[tuple[str, str, str, str], str] = {
    ('foot', 'pivot-turns', '100hz', 'standing'): _PIVOT + 'measured 0.54 s',
    ('foot', 'pivot-turns', '100hz', 'false_bursts'): _PIVOT + 'measured 2.9 per 100 swings (4 in 140)',
    ('foot', 'pivot-turns', 'permuted', 'standing'): _PIVOT + 'measured 0.54 s',
    ('foot', 'pivot-turns', 'permuted', 'false_bursts'): _PIVOT + 'measured 2.9 per 100 swings (4 in 140)',
    ('foot', 'pivot-turns', '50hz', 'standing'): _PIVOT + 'measured 0.52 s',
    ('foot', 'pivot-turns', '50hz', 'false_bursts'): _PIVOT + 'measured 2.9 per 100 swings (4 in 140)',
    ('foot', 'pivot-turns', '200hz', 'standing'): _PIVOT + 'measured 0.56 s',
    ('foot', 'pivot-turns', '200hz', 'false_bursts'): _PIVOT + 'measured 2.9 per 100 swings (4 in 140)',
    ('foot', 'pivot-turns', 'dropouts', 'standing'): _PIVOT + 'measured 0.54 s',
    ('foot', 'pivot-turns', 'dropouts', 'false_bursts'): _PIVOT + 'measured 2.9 per 100 swings (4 in 140)',
}
"""(mount, scenario, variant, metric) -> what was measured (three seeds pooled) where a target is not met."""


def _targets(scenario: str) -> dict[str, tuple[str, float, float]]:
    if scenario in PATHOLOGICAL:
        return {"coverage": (">=", 0.97, 0.0), "stance_intrusion": ("<=", 0.05, 0.0), "standing": ("==", 0.0, 0.0),
                "false_bursts": ("<=", 1.0, 0.0), "onset_lead": ("in", 0.0, 200.0)}
    return {"coverage": (">=", 0.99, 0.0), "stance_intrusion": ("<=", 0.03, 0.0), "standing": ("==", 0.0, 0.0),
            "false_bursts": ("==", 0.0, 0.0), "onset_lead": ("in", 0.0, 150.0)}


@pytest.fixture(scope="module")
def configs() -> tuple[Any, Any]:
    device, _ = load_device(default_device_path())
    profile, _ = load_profile(default_imu_profile_path(), device)
    return profile, device


_RECORDINGS: dict[tuple[str, int, str], Any] = {}
_RESULTS: dict[tuple[str, str, str], dict[str, Any]] = {}


def _columns(gyro: np.ndarray, permuted: bool) -> dict[str, np.ndarray]:
    g = np.asarray(gyro, dtype=np.float64)
    if permuted:
        return {"gyr_x_dps": -g[:, 1], "gyr_y_dps": g[:, 2].copy(), "gyr_z_dps": -g[:, 0]}
    return {"gyr_x_dps": g[:, 0].copy(), "gyr_y_dps": g[:, 1].copy(), "gyr_z_dps": g[:, 2].copy()}


def result(configs: tuple[Any, Any], mount: str, scenario: str, variant: str) -> dict[str, Any]:
    key = (mount, scenario, variant)
    if key not in _RESULTS:
        profile, device = configs
        rate, dropouts, permuted = VARIANTS[variant]
        section = profile.detector.model_copy(update={"kind": f"{mount}_imu"})
        reports = []
        for seed in SEEDS:
            rkey = (scenario, seed, f"{rate:g}/{dropouts:g}")
            if rkey not in _RECORDINGS:
                _RECORDINGS[rkey] = generate(scenario, seed, DURATION_S, rate, imu_dropouts_per_min=dropouts)
            rec = _RECORDINGS[rkey]
            truth = [Event(t, k) for t, k in rec.events]
            reports.append(replay_in_memory(_columns(rec.imu(mount)[:, :3], permuted), rec.rate_hz, truth,
                                            profile, device, section))
        total = aggregate(reports)
        total["standing"] = total["standing_stim_s"]
        total["false_bursts_per_100"] = 100.0 * total["false_bursts"] / total["swings"]
        onset = total.get("onset_lead_ms") or {}
        total["onset_lead"] = onset.get("median") if onset.get("n") else None
        _RESULTS[key] = total
    return _RESULTS[key]


def _params() -> list[Any]:
    out = []
    for mount, scenario, variant in CASES:
        for metric in METRICS:
            key = (mount, scenario, variant, metric)
            marks = [pytest.mark.xfail(strict=True, reason=KNOWN_MISSES[key])] if key in KNOWN_MISSES else []
            out.append(pytest.param(*key, marks=marks, id="-".join(key)))
    return out


@pytest.mark.parametrize("mount,scenario,variant,metric", _params())
def test_target(configs: tuple[Any, Any], mount: str, scenario: str, variant: str, metric: str) -> None:
    r = result(configs, mount, scenario, variant)
    op, bound, hi = _targets(scenario)[metric]
    value = r["false_bursts_per_100"] if metric == "false_bursts" else r[metric]
    where = f"{mount}, {scenario}, {variant}: {metric} = {value} (target {op} {bound:g}; {r['swings']} swings)"
    assert value is not None, where
    if op == ">=":
        assert value >= bound, where
    elif op == "<=":
        assert value <= bound, where
    elif op == "in":
        assert bound <= value <= hi, where
    else:
        assert value == bound, where
