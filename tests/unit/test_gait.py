"""Gait generator: seeded, plausible timing per scenario, and a force a detector can trust."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from fescontrol.errors import ConfigError
from fescontrol_hil.gait import (
    GaitRecording,
    generate,
    stats,
    write_recording_csv,
    write_truth_csv,
)

SEEDS = [1, 2, 3, 7, 42]
SCENARIOS = ["healthy", "hemiparetic"]


@pytest.fixture(scope="module")
def recs() -> dict[tuple[str, int], GaitRecording]:
    return {(sc, s): generate(sc, s, 90.0) for sc in SCENARIOS for s in SEEDS}


def times(rec: GaitRecording, kind: str) -> list[float]:
    return [t for t, k in rec.events if k == kind]


def test_deterministic_by_seed() -> None:
    a, b = generate("healthy", 5, 30.0), generate("healthy", 5, 30.0)
    assert np.array_equal(a.heel_N, b.heel_N) and a.events == b.events
    c = generate("healthy", 6, 30.0)
    assert not np.array_equal(a.heel_N, c.heel_N) and a.events != c.events


def test_shape_and_types() -> None:
    rec = generate("hemiparetic", 1, 20.0, rate_hz=200.0)
    assert rec.t_s.dtype == np.float64 and rec.heel_N.dtype == np.float32
    assert rec.t_s.size == rec.heel_N.size == 4000
    assert np.array_equal(rec.t_s, np.arange(4000) / 200.0)
    assert list(rec.events) == sorted(rec.events)
    assert rec.scenario == "hemiparetic" and rec.seed == 1


@pytest.mark.parametrize("sc", SCENARIOS)
@pytest.mark.parametrize("seed", SEEDS)
def test_every_stride_frequency_in_range(recs: dict, sc: str, seed: int) -> None:
    hs = np.array(times(recs[(sc, seed)], "heel_strike"))
    f = 1.0 / np.diff(hs)
    assert f.size >= 40
    assert np.all((f >= 0.6) & (f <= 1.2)), (f.min(), f.max())
    band = (0.85, 1.15) if sc == "healthy" else (0.6, 0.85)
    assert band[0] <= stats(recs[(sc, seed)])["stride_hz_mean"] <= band[1]


@pytest.mark.parametrize("sc", SCENARIOS)
@pytest.mark.parametrize("seed", SEEDS)
def test_event_order(recs: dict, sc: str, seed: int) -> None:
    ev = recs[(sc, seed)].events
    kinds = [k for _, k in ev]
    assert kinds[0] == "standing_end" and kinds[-1] == "standing_start"
    # walking starts with this leg lifting from standing and ends with a heel strike into it
    assert kinds[1:3] == ["heel_off", "toe_off"] and kinds[-2] == "heel_strike"
    strides = kinds[3:-2]
    assert strides == ["heel_strike", "heel_off", "toe_off"] * (len(strides) // 3)
    t = [x for x, _ in ev]
    assert all(a < b for a, b in zip(t, t[1:]))


def test_stance_share_and_swing_variability(recs: dict) -> None:
    for seed in SEEDS:
        h, p = stats(recs[("healthy", seed)]), stats(recs[("hemiparetic", seed)])
        assert 0.59 <= h["stance_share_mean"] <= 0.63
        assert 0.40 <= h["heel_off_share_mean"] <= 0.45
        assert 0.65 <= p["stance_share_mean"] <= 0.72
        assert p["stance_share_mean"] > h["stance_share_mean"]
        assert p["swing_cv"] > h["swing_cv"]
        assert p["swing_ms_mean"] > h["swing_ms_mean"]
        assert p["stance_share_mean"] + p["swing_share_mean"] == pytest.approx(1.0)


@pytest.mark.parametrize("sc", SCENARIOS)
@pytest.mark.parametrize("seed", SEEDS)
def test_force_standing_and_swing(recs: dict, sc: str, seed: int) -> None:
    rec = recs[(sc, seed)]
    t, f = rec.t_s, rec.heel_N
    assert np.all(f >= 0.0)
    standing = (t <= times(rec, "standing_end")[0]) | (t >= times(rec, "standing_start")[0])
    assert f[standing].min() > 150.0
    assert (t <= times(rec, "standing_end")[0]).sum() >= 250  # ~3 s at both ends
    assert (t >= times(rec, "standing_start")[0]).sum() >= 200
    hs = np.array(times(rec, "heel_strike"))
    for to in times(rec, "toe_off"):
        nxt = hs[hs > to][0]
        swing = (t >= to + 0.03) & (t <= nxt - 0.01)
        assert f[swing].max() < 20.0
    # heel loads within 60 ms of heel strike and is unloaded at heel off
    for h in hs:
        assert f[(t >= h) & (t <= h + 0.07)].max() > 300.0
    for ho in times(rec, "heel_off"):
        assert f[(t >= ho) & (t <= ho + 0.02)].max() < 20.0


def test_standing_has_weight_shifts() -> None:
    rec = generate("healthy", 3, 30.0)
    f = rec.heel_N[rec.t_s <= times(rec, "standing_end")[0]]
    assert f.max() - f.min() > 15.0  # sway is there, a detector cannot rely on a flat line


def test_bad_inputs() -> None:
    with pytest.raises(ConfigError, match="'jogging'.*healthy, hemiparetic"):
        generate("jogging", 1, 30.0)
    with pytest.raises(ConfigError, match="too short"):
        generate("healthy", 1, 5.0)
    with pytest.raises(ConfigError):
        generate("healthy", 1, float("nan"))


def test_shortest_duration_still_walks() -> None:
    for seed in range(30):
        for sc in SCENARIOS:
            rec = generate(sc, seed, 10.0)
            assert stats(rec)["strides"] >= 1
            assert rec.t_s[-1] - times(rec, "standing_start")[0] > 2.0


def test_csv_writers(tmp_path: Path) -> None:
    rec = generate("healthy", 2, 12.0)
    truth = tmp_path / "truth.csv"
    write_truth_csv(rec, truth)
    write_truth_csv(rec, truth)  # replaced, not appended
    with open(truth, newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["t_s", "event"]
    assert rows[1:] == [[f"{t:.4f}", k] for t, k in rec.events]
    path = tmp_path / "rec.csv"
    write_recording_csv(rec, path)
    data = np.loadtxt(path, delimiter=",", skiprows=1)
    assert open(path).readline().strip() == "t_s,heel_N"
    assert data.shape == (rec.t_s.size, 2)
    np.testing.assert_allclose(data[:, 0], rec.t_s, atol=5e-5)
    np.testing.assert_allclose(data[:, 1], rec.heel_N, atol=0.006)
