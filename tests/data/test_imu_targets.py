"""The IMU detector on real walks, against issue 13's "Done when" numbers (default IMU profile).

Reads `../shared/gait-data` in place through the project's own importers (into a tmp folder,
once per session) and runs the batch replay kernels in memory. Targets not met yet are
``xfail(strict=True)`` with the measured value as the reason: the threshold stays, and the
test turns into a failure the day it passes (so the mark is removed then).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fescontrol.config.loading import default_device_path, default_imu_profile_path, load_device, load_profile
from fescontrol.records.footstep_scoring import aggregate_footsteps, truth_outside_masks
from fescontrol.records.readers import Event
from fescontrol.records.recording import Recording, read_recording
from fescontrol.records.scoring import aggregate
from fescontrol.replay import detector_section_for, find_recordings, replay_in_memory

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "gait-data"
GYRO = ("gyr_x_dps", "gyr_y_dps", "gyr_z_dps")
Columns = dict[str, np.ndarray]


def _import(name: str, tmp: Path) -> list[Recording]:
    from fescontrol_hil.datasets import get_importer

    src = DATA / name
    if not src.is_dir():
        pytest.skip(f"{src} not present (the shared gait data are not on this machine)")
    out = tmp / name
    get_importer(name).run(src, out, None)
    return [read_recording(p) for p in find_recordings(out)]


@pytest.fixture(scope="session")
def sets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Recording]]:
    tmp = tmp_path_factory.mktemp("imu-sets")
    return {name: _import(name, tmp) for name in ("voisard2023", "gaitmap-example", "truong2019")}


@pytest.fixture(scope="session")
def configs() -> tuple[Any, Any]:
    device, _ = load_device(default_device_path())
    profile, _ = load_profile(default_imu_profile_path(), device)
    return profile, device


def _run(rec: Recording, configs: tuple[Any, Any], variant: Callable[[Columns, float], tuple[Columns, float]] | None = None,
         truth: list[Event] | None = None) -> dict[str, Any]:
    profile, device = configs
    cols = {c: rec.dense(c) for c in GYRO}
    rate = rec.rate_hz
    if variant is not None:
        cols, rate = variant(cols, rate)
    return replay_in_memory(cols, rate, rec.truth or () if truth is None else truth, profile, device,
                            detector_section_for(profile, rec))


def _run_masked(rec: Recording, configs: tuple[Any, Any]) -> list[dict[str, Any]]:
    """One report per piece of truth outside the sidecar's ``turn_swings_s`` masks; the event
    counts (F1) are those of the whole recording, carried once."""
    full = _run(rec, configs)
    pieces = truth_outside_masks(rec.truth or (), rec.sidecar.get("turn_swings_s", []))
    return [{**_run(rec, configs, truth=piece), "event_counts": full["event_counts"] if i == 0 else {}}
            for i, piece in enumerate(pieces)]


@pytest.fixture(scope="session")
def voisard(sets: dict[str, list[Recording]], configs: tuple[Any, Any]) -> dict[str, Any]:
    return aggregate([_run(r, configs) for r in sets["voisard2023"]])


# ------------------------------------------------------------------ voisard2023

@pytest.mark.xfail(strict=True, reason="measured 0.952 (668/702); the 34 misses (tools/results/imu_tables.py): 17 "
                                       "U-turn steps (the foot turns 150-380 deg/s about the vertical axis, the push-off "
                                       "lobe stays under the running onset, or no sagittal swing at all), 14 last steps, 1 "
                                       "first step, 2 in straight walking")
def test_voisard_coverage(voisard: dict[str, Any]) -> None:
    assert voisard["coverage"] >= 0.99


def test_voisard_stance_intrusion(voisard: dict[str, Any]) -> None:
    assert voisard["stance_intrusion"] <= 0.03


@pytest.mark.xfail(strict=True, reason="measured 2.55 s: 1.86 s in bursts while the foot moved with no swing marked "
                                       "(U-turn steps in > 2 s event gaps, steps after the trial boundary of trials "
                                       "whose other foot's reference also stops there; the foot "
                                       "accelerates 0.8-7.6 g beyond 1 g there), 0.40 s of bursts running on past a last "
                                       "step's extension window (a landing's rebound, a heel-strike dip taken for a "
                                       "push-off), 0.27 s of first steps starting before the 0.2 s pre-swing "
                                       "window, 0.02 s with the foot still; disarming after a small forward lobe, "
                                       "against a closing step's landing dip, gives 1.81 s but coverage 0.942; the "
                                       "sagittal axis fixed to the true one, y, instead of auto does no better: "
                                       "2.87 s, coverage 0.942, 19 false bursts)")
def test_voisard_standing(voisard: dict[str, Any]) -> None:
    assert voisard["standing_stim_s"] == 0.0


@pytest.mark.xfail(strict=True, reason="measured 13 false bursts in 702 swings (1.9 per 100): bursts that overlap "
                                       "no marked swing, in the U-turns and at the trial ends, where the foot moves "
                                       "(180-860 deg/s) as in the steps and pivots the reference leaves unmarked "
                                       "(see test_voisard_standing)",
                   raises=AssertionError)
def test_voisard_false_bursts(voisard: dict[str, Any]) -> None:
    """SCORING.md, real recordings: at most 1 false burst per 100 swings."""
    assert voisard["false_bursts"] <= voisard["swings"] / 100.0


def test_voisard_onset_lead(voisard: dict[str, Any]) -> None:
    assert 0.0 <= voisard["onset_lead_ms"]["median"] <= 150.0


@pytest.mark.xfail(strict=True, reason="measured toe_off F1 0.951, heel_strike F1 0.965 (turning steps missed, "
                                       "unmarked U-turn steps detected)")
def test_voisard_event_f1(voisard: dict[str, Any]) -> None:
    assert voisard["event_f1"]["toe_off"] >= 0.99
    assert voisard["event_f1"]["heel_strike"] >= 0.99


def test_voisard_event_timing(voisard: dict[str, Any]) -> None:
    assert voisard["event_mae_ms"]["toe_off"] <= 20.0
    assert voisard["event_mae_ms"]["heel_strike"] <= 20.0


# ------------------------------------------------------------------ gaitmap-example

@pytest.fixture(scope="session")
def gaitmap(sets: dict[str, list[Recording]], configs: tuple[Any, Any]) -> tuple[dict[str, Any], int]:
    """Scored with the turn masked (gait-data README): the one reference "swing" through the
    180 deg turn (left stride 13, toe off -> heel strike 1.5 s, no reference events for the
    turning steps inside it) is neither a swing nor standing nor stance; 56 regular swings."""
    recs = sets["gaitmap-example"]
    turns = sum(len(r.sidecar.get("turn_swings_s", [])) for r in recs)
    return aggregate([p for r in recs for p in _run_masked(r, configs)]), turns


def test_gaitmap_regular_swings_covered(gaitmap: tuple[dict[str, Any], int]) -> None:
    """All 56 regular swings (57 in the reference minus the masked turn "swing") are covered."""
    report, turns = gaitmap
    assert turns == 1
    assert report["swings"] == 57 - turns
    assert report["coverage"] == 1.0


def test_gaitmap_standing(gaitmap: tuple[dict[str, Any], int]) -> None:
    assert gaitmap[0]["standing_stim_s"] == 0.0


def test_gaitmap_stance_intrusion(gaitmap: tuple[dict[str, Any], int]) -> None:
    assert gaitmap[0]["stance_intrusion"] <= 0.03


def test_truth_outside_masks() -> None:
    """The masked toe off -> heel strike is neither swing nor stance: the piece before ends at
    its toe off, the piece after starts at its heel strike."""
    truth = [Event(1.0, "toe_off"), Event(1.4, "heel_strike"), Event(2.0, "toe_off"), Event(3.5, "heel_strike"),
             Event(4.0, "toe_off"), Event(4.4, "heel_strike")]
    pieces = truth_outside_masks(truth, [[2.00004, 3.49996]])
    assert [[e.t_s for e in p] for p in pieces] == [[1.0, 1.4, 2.0], [3.5, 4.0, 4.4]]
    assert truth_outside_masks(truth, []) == [truth]


# ------------------------------------------------------------------ truong2019

@pytest.fixture(scope="session")
def truong(sets: dict[str, list[Recording]], configs: tuple[Any, Any]) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = {"patients": [], "healthy": []}
    for rec in sets["truong2019"]:
        groups["healthy" if rec.group == "healthy" else "patients"].append(_run(rec, configs))
    groups["all"] = groups["patients"] + groups["healthy"]
    return {k: aggregate_footsteps(v) for k, v in groups.items()}


def test_truong_patients_coverage(truong: dict[str, dict[str, Any]]) -> None:
    assert truong["patients"]["footstep_coverage"] >= 0.97


def test_truong_healthy_coverage(truong: dict[str, dict[str, Any]]) -> None:
    assert truong["healthy"]["footstep_coverage"] >= 0.97


@pytest.mark.xfail(strict=True, reason="measured 2.82 s of 283 s standing (patients 1.48 s, healthy 1.34 s; "
                                       "SCORING.md's 2 s gap rule on each foot's footsteps): 2.01 s in bursts while the "
                                       "foot moved before its first marked footstep (small steps and repositioning the "
                                       "reference leaves out), 0.81 s from a first wobble (60-75 deg/s) before any "
                                       "stride, while the automatic sagittal axis is not yet known (a deeper onset "
                                       "before the first stride, 80-100 deg/s, removes those 0.81 s but misses first "
                                       "footsteps whose push-off peaks near 80 deg/s: patients 0.971 -> 0.963-0.968)",
                   raises=AssertionError)
def test_truong_no_stimulation_while_standing(truong: dict[str, dict[str, Any]]) -> None:
    assert truong["all"]["standing_stim_s"] == 0.0


def test_truong_standing_is_found(truong: dict[str, dict[str, Any]]) -> None:
    """The gap rule finds the standing at the start, at the end and in pauses (283 s of 750 s)."""
    assert 250.0 < truong["all"]["standing_time_s"] < 320.0


def test_truong_patients_outside(truong: dict[str, dict[str, Any]]) -> None:
    assert truong["patients"]["outside_share"] <= 0.05


def test_truong_healthy_outside(truong: dict[str, dict[str, Any]]) -> None:
    assert truong["healthy"]["outside_share"] <= 0.05


# ------------------------------------------------------------------ robustness (voisard2023)

def _permute_flip(cols: Columns, rate: float) -> tuple[Columns, float]:
    """Sensor turned: x <- -z, y <- x, z <- -y (a rotation; the sagittal axis is now x, flipped)."""
    return {"gyr_x_dps": -cols["gyr_y_dps"], "gyr_y_dps": cols["gyr_z_dps"], "gyr_z_dps": -cols["gyr_x_dps"]}, rate


def _upside_down(cols: Columns, rate: float) -> tuple[Columns, float]:
    return {"gyr_x_dps": -cols["gyr_x_dps"], "gyr_y_dps": -cols["gyr_y_dps"], "gyr_z_dps": cols["gyr_z_dps"]}, rate


def _resample(to_hz: float) -> Callable[[Columns, float], tuple[Columns, float]]:
    def go(cols: Columns, rate: float) -> tuple[Columns, float]:
        n = next(iter(cols.values())).shape[0]
        t = np.arange(n) / rate
        t_new = np.arange(int(t[-1] * to_hz) + 1) / to_hz
        # linear interpolation; a new sample next to a gap stays NaN (never invent data)
        return {k: np.interp(t_new, t, v, left=np.nan, right=np.nan) for k, v in cols.items()}, to_hz
    return go


def _dropouts(cols: Columns, rate: float) -> tuple[Columns, float]:
    """Runs of 1-10 lost samples, about 5 % of the time, the same in every axis."""
    n = next(iter(cols.values())).shape[0]
    rng = np.random.default_rng(13)
    lost = np.zeros(n, dtype=bool)
    for start in rng.choice(n, size=max(1, n // 110), replace=False):
        lost[start:start + int(rng.integers(1, 11))] = True
    return {k: np.where(lost, np.nan, v) for k, v in cols.items()}, rate


VARIANTS = {"permuted_flipped": _permute_flip, "upside_down": _upside_down, "50hz": _resample(50.0),
            "200hz": _resample(200.0), "dropouts": _dropouts}


@pytest.fixture(scope="session")
def variants(sets: dict[str, list[Recording]], configs: tuple[Any, Any]) -> dict[str, dict[str, Any]]:
    recs = sets["voisard2023"]
    return {name: aggregate([_run(r, configs, fn) for r in recs]) for name, fn in VARIANTS.items()}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_variant_close_to_plain(name: str, variants: dict[str, dict[str, Any]], voisard: dict[str, Any]) -> None:
    """The auto axis, the rate conversion and the NaN handling keep the plain run's results."""
    v = variants[name]
    assert v["swings"] == voisard["swings"]
    assert v["coverage"] >= voisard["coverage"] - 0.02
    assert v["stance_intrusion"] <= 0.03
    assert 0.0 <= v["onset_lead_ms"]["median"] <= 150.0
