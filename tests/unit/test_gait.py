"""Gait generator: seeded, plausible timing per scenario, and forces like real heel and forefoot cells."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from fescontrol_hil import gait
from fescontrol_hil.gait import (
    SCENARIOS,
    GaitRecording,
    generate,
    stats,
    write_recording_csv,
    write_truth_csv,
)

from fescontrol.control import simulate
from fescontrol.errors import ConfigError

SEEDS = [1, 2, 3, 7, 42]
LEVEL = ["healthy", "hemiparetic"]
EDGE_STANDING = [sc for sc in SCENARIOS if sc != "mid-stride"]
# after each event, what may come next (a turn is no event: the stance just lasts longer)
NEXT = {
    "standing_end": {"heel_off"},
    "heel_off": {"toe_off"},
    "toe_off": {"heel_strike"},
    "heel_strike": {"heel_off", "standing_start"},
    "standing_start": {"standing_end"},
}


@pytest.fixture(scope="module")
def recs() -> dict[tuple[str, int], GaitRecording]:
    return {(sc, s): generate(sc, s, 90.0) for sc in SCENARIOS for s in SEEDS}


def times(rec: GaitRecording, kind: str) -> list[float]:
    return [t for t, k in rec.events if k == kind]


def window(rec: GaitRecording, a: float, b: float) -> np.ndarray:
    return (rec.t_s >= a) & (rec.t_s <= b)


def stances(rec: GaitRecording) -> list[tuple[float, float, float]]:
    """(heel strike, heel off, toe off) of every complete stance."""
    out = []
    ev = rec.events
    for i, (t, k) in enumerate(ev[:-2]):
        if k == "heel_strike" and ev[i + 1][1] == "heel_off" and ev[i + 2][1] == "toe_off":
            out.append((t, ev[i + 1][0], ev[i + 2][0]))
    return out


def test_scenario_names_match_simulate() -> None:
    # fescontrol must not import fescontrol_hil there, so it keeps its own tuple
    assert simulate.SCENARIOS == SCENARIOS
    assert len(set(SCENARIOS)) == len(SCENARIOS)


@pytest.mark.parametrize("sc", SCENARIOS)
def test_deterministic_by_seed(sc: str) -> None:
    a, b = generate(sc, 5, 30.0), generate(sc, 5, 30.0)
    assert a.fore_N is not None and b.fore_N is not None
    assert np.array_equal(a.heel_N, b.heel_N) and np.array_equal(a.fore_N, b.fore_N)
    assert a.events == b.events and a.pivots == b.pivots
    c = generate(sc, 6, 30.0)
    assert not np.array_equal(a.heel_N, c.heel_N) and a.events != c.events


def test_shape_and_types() -> None:
    rec = generate("hemiparetic", 1, 20.0, rate_hz=200.0)
    assert rec.t_s.dtype == np.float64 and rec.heel_N.dtype == np.float32
    assert rec.fore_N is not None and rec.fore_N.dtype == np.float32
    assert rec.t_s.size == rec.heel_N.size == rec.fore_N.size == 4000
    assert np.array_equal(rec.t_s, np.arange(4000) / 200.0)
    assert list(rec.events) == sorted(rec.events)
    assert rec.scenario == "hemiparetic" and rec.seed == 1
    assert rec.pivots == () and rec.heel_preload_N == rec.fore_preload_N == 0.0


@pytest.mark.parametrize("sc", LEVEL)
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
def test_truth_is_consistent(recs: dict, sc: str, seed: int) -> None:
    rec = recs[(sc, seed)]
    ev = rec.events
    kinds = [k for _, k in ev]
    t = [x for x, _ in ev]
    assert all(a < b for a, b in zip(t, t[1:]))
    assert 0.0 <= t[0] and t[-1] < rec.t_s[-1] + 1.0 / rec.rate_hz
    for a, b in zip(kinds, kinds[1:]):
        assert b in NEXT[a], (a, b)
    if sc in EDGE_STANDING:
        # walking starts with this leg lifting from standing and ends with a heel strike into it
        assert kinds[:3] == ["standing_end", "heel_off", "toe_off"]
        assert kinds[-2:] == ["heel_strike", "standing_start"]
    else:
        assert "standing_start" not in kinds and "standing_end" not in kinds
    if sc != "stop-and-go":
        assert kinds.count("standing_start") <= 1
    assert kinds.count("toe_off") >= 40


@pytest.mark.parametrize("sc", SCENARIOS)
@pytest.mark.parametrize("seed", SEEDS)
def test_forces_follow_the_gait_phases(recs: dict, sc: str, seed: int) -> None:
    rec = recs[(sc, seed)]
    t, heel, fore = rec.t_s, rec.heel_N, rec.fore_N
    assert fore is not None
    assert np.all(heel >= 0.0) and np.all(fore >= 0.0)
    base_h, base_f = rec.heel_preload_N + 12.0, rec.fore_preload_N + 12.0  # what "unloaded" reads
    hs = np.array(times(rec, "heel_strike"))
    for to in times(rec, "toe_off"):
        after = hs[hs > to]
        if not after.size:
            continue
        swing = window(rec, to + 0.03, after[0] - 0.01)
        assert heel[swing].max() < base_h + 8.0 and fore[swing].max() < base_f + 8.0
    for h, ho, to in stances(rec):
        # heel loads within 70 ms of heel strike; unloaded from heel off; forefoot loaded from
        # mid-stance to shortly before toe off, and not yet at heel strike
        assert heel[window(rec, h, h + 0.07)].max() > 0.8 * gait._PROFILES[sc].peak_clip_N[0] + rec.heel_preload_N
        assert heel[window(rec, ho, ho + 0.02)].max() < base_h + 8.0
        assert fore[window(rec, h - 0.02, h + 0.03)].max() < base_f + 8.0
        mid = h + 0.5 * (to - h)
        assert fore[window(rec, mid, to - 0.05)].min() > 0.2 * gait._PROFILES[sc].fore_peak_N[0] + rec.fore_preload_N
    if sc in EDGE_STANDING:
        standing = (t <= times(rec, "standing_end")[0]) | (t >= times(rec, "standing_start")[-1])
        # standing is loaded on both cells, and shifts weight (not a flat line)
        assert heel[standing].min() > 0.3 * gait._PROFILES[sc].peak_clip_N[0]
        assert fore[standing].min() > 20.0
        first = t <= times(rec, "standing_end")[0]
        assert heel[first].max() - heel[first].min() > 0.03 * heel[first].mean()


def stride_peaks(rec: GaitRecording) -> np.ndarray:
    return np.array([rec.heel_N[window(rec, h, ho)].max() for h, ho, _ in stances(rec)])


@pytest.mark.parametrize("seed", SEEDS)
def test_heel_peaks_like_real_heel_cells(recs: dict, seed: int) -> None:
    for sc in ("healthy", "hemiparetic", "pivot-turns", "stop-and-go", "mid-stride"):
        p = stride_peaks(recs[(sc, seed)])
        assert 95.0 <= p.min() and p.max() <= 610.0, (sc, p.min(), p.max())
        assert p.std() / p.mean() > 0.03  # varies from step to step
    light = stride_peaks(recs[("light", seed)])
    assert light.max() < 120.0 and light.min() > 25.0
    assert recs[("light", seed)].heel_N.max() < 120.0  # standing and noise included
    heavy = stride_peaks(recs[("heavy", seed)])
    assert np.median(heavy) > 450.0 and heavy.max() < 1000.0
    shuffling = stride_peaks(recs[("shuffling", seed)])
    assert shuffling.max() < 260.0 and np.median(shuffling) < np.median(stride_peaks(recs[("healthy", seed)]))


def test_heel_peaks_vary_between_wearers() -> None:
    means = [np.median(stride_peaks(generate("healthy", s, 40.0))) for s in range(12)]
    assert max(means) - min(means) > 100.0


def test_hemiparetic_timing_against_healthy(recs: dict) -> None:
    for seed in SEEDS:
        h, p = stats(recs[("healthy", seed)]), stats(recs[("hemiparetic", seed)])
        assert 0.59 <= h["stance_share_mean"] <= 0.63
        assert 0.40 <= h["heel_off_share_mean"] <= 0.45
        assert 0.65 <= p["stance_share_mean"] <= 0.72
        assert p["swing_cv"] > h["swing_cv"]
        assert p["swing_ms_mean"] > h["swing_ms_mean"]
        assert p["stance_share_mean"] + p["swing_share_mean"] == pytest.approx(1.0)


@pytest.mark.parametrize("seed", SEEDS)
def test_preload_never_reads_zero(recs: dict, seed: int) -> None:
    rec = recs[("preload", seed)]
    assert rec.fore_N is not None
    assert 30.0 <= rec.heel_preload_N <= 60.0 and 30.0 <= rec.fore_preload_N <= 60.0
    swing = np.zeros(rec.t_s.size, bool)
    hs = np.array(times(rec, "heel_strike"))
    for to in times(rec, "toe_off"):
        swing |= window(rec, to + 0.03, hs[hs > to][0] - 0.01)
    assert np.median(rec.heel_N[swing]) == pytest.approx(rec.heel_preload_N, abs=3.0)
    assert np.median(rec.fore_N[swing]) == pytest.approx(rec.fore_preload_N, abs=3.0)
    assert rec.heel_N.min() > rec.heel_preload_N - 12.0 > 15.0
    assert rec.fore_N.min() > rec.fore_preload_N - 12.0 > 15.0


@pytest.mark.parametrize("seed", SEEDS)
def test_shuffling_heel_unloads_early(recs: dict, seed: int) -> None:
    rec = recs[("shuffling", seed)]
    lead = np.array([to - ho for _, ho, to in stances(rec)])
    assert lead.size >= 40
    assert np.all((lead >= 0.30 - 1e-9) & (lead <= 0.45 + 1e-9)), (lead.min(), lead.max())
    # the forefoot carries the late stance alone
    for _, ho, to in stances(rec):
        assert rec.heel_N[window(rec, ho, to)].max() < 15.0
        assert rec.fore_N is not None and rec.fore_N[window(rec, ho + 0.05, to - 0.05)].min() > 50.0


@pytest.mark.parametrize("seed", SEEDS)
def test_pivot_turns_heel_unloaded_forefoot_loaded_no_swing(recs: dict, seed: int) -> None:
    rec = recs[("pivot-turns", seed)]
    assert rec.fore_N is not None
    assert len(rec.pivots) >= 5
    for p0, p1 in rec.pivots:
        assert 0.5 - 1e-9 <= p1 - p0 <= 1.5 + 1e-9
        turn = window(rec, p0, p1)
        assert rec.heel_N[turn].max() < 15.0
        assert rec.fore_N[turn].min() > 150.0
        # no event in the turn: the foot stays on the ground, heel strike before, heel off after
        assert not [k for t, k in rec.events if p0 - 0.25 <= t <= p1 + 0.25]
        before = [k for t, k in rec.events if t < p0][-1]
        after = [k for t, k in rec.events if t > p1][0]
        assert (before, after) == ("heel_strike", "heel_off")
        # and the heel comes down again before that heel off
        ho = [t for t, k in rec.events if t > p1][0]
        assert rec.heel_N[window(rec, p1, ho)].max() > 50.0


@pytest.mark.parametrize("seed", SEEDS)
def test_stop_and_go_pauses_are_standing(recs: dict, seed: int) -> None:
    rec = recs[("stop-and-go", seed)]
    assert rec.fore_N is not None
    starts, ends = times(rec, "standing_start"), times(rec, "standing_end")
    pauses = list(zip(starts[:-1], ends[1:]))
    assert len(pauses) >= 3
    for a, b in pauses:
        assert 2.0 - 1e-9 <= b - a <= 4.0 + 1e-9
        inside = window(rec, a, b)
        assert rec.heel_N[inside].min() > 80.0 and rec.fore_N[inside].min() > 20.0
        assert not [k for t, k in rec.events if a < t < b]


@pytest.mark.parametrize("seed", SEEDS)
def test_mid_stride_starts_and_ends_walking(recs: dict, seed: int) -> None:
    rec = recs[("mid-stride", seed)]
    kinds = [k for _, k in rec.events]
    assert kinds[0] in ("heel_strike", "heel_off", "toe_off") and kinds[-1] in ("heel_strike", "heel_off", "toe_off")
    assert rec.events[0][0] < 1.5 and rec.events[-1][0] > rec.t_s[-1] - 1.5


def test_phase_at_start_of_mid_stride_varies() -> None:
    firsts = {generate("mid-stride", s, 10.0).events[0][1] for s in range(20)}
    assert len(firsts) >= 2


def test_bad_inputs() -> None:
    with pytest.raises(ConfigError, match="'jogging'.*healthy, hemiparetic, light"):
        generate("jogging", 1, 30.0)
    with pytest.raises(ConfigError, match="too short"):
        generate("healthy", 1, 5.0)
    with pytest.raises(ConfigError):
        generate("healthy", 1, float("nan"))


@pytest.mark.parametrize("sc", SCENARIOS)
def test_shortest_duration_still_walks(sc: str) -> None:
    for seed in range(30):
        rec = generate(sc, seed, 10.0)
        assert len(stances(rec)) >= 1
        if sc in EDGE_STANDING:
            assert rec.t_s[-1] - times(rec, "standing_start")[-1] > 1.0
        else:
            assert stats(rec)["strides"] >= 5


@pytest.mark.parametrize("sc", ["pivot-turns", "stop-and-go"])
def test_a_turn_or_pause_from_20_s_on(sc: str) -> None:
    for seed in range(30):
        rec = generate(sc, seed, 20.0)
        assert (len(rec.pivots) if sc == "pivot-turns" else len(times(rec, "standing_start"))) >= 1 + (sc == "stop-and-go")


def test_csv_writers(tmp_path: Path) -> None:
    rec = generate("healthy", 2, 12.0)
    assert rec.fore_N is not None
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
    write_recording_csv(rec, path, insole=True)
    assert open(path).readline().strip() == "t_s,heel_N,fore_N"
    data = np.loadtxt(path, delimiter=",", skiprows=1)
    np.testing.assert_allclose(data[:, 2], rec.fore_N, atol=0.006)


# -- IMU channels (foot and shank; sensor frame x forward, y right, z down) ------------------------
GYR_Y, GYR_Z, ACC_X, ACC_Z = 1, 2, 3, 5
WALKING = ["healthy", "hemiparetic", "shuffling", "stop-and-go", "pivot-turns", "stairs", "mid-stride"]


def full_strides(rec: GaitRecording) -> list[tuple[float, float, float, float]]:
    """(heel strike, heel off, toe off, next heel strike) of every stride with its swing."""
    ev = rec.events
    return [(t, ev[i + 1][0], ev[i + 2][0], ev[i + 3][0]) for i, (t, k) in enumerate(ev[:-3])
            if k == "heel_strike" and [e[1] for e in ev[i + 1:i + 4]] == ["heel_off", "toe_off", "heel_strike"]]


@pytest.mark.parametrize("sc", WALKING)
@pytest.mark.parametrize("seed", SEEDS[:3])
def test_foot_gyro_has_the_stride_landmarks(recs: dict, sc: str, seed: int) -> None:
    rec = recs[(sc, seed)]
    foot = rec.imu("foot")
    assert foot.shape == (rec.t_s.size, 6) and foot.dtype == np.float32
    strides = full_strides(rec)
    assert len(strides) >= 30
    for hs, ho, to, nxt in strides:
        g = foot[:, GYR_Y]
        # push-off: the negative peak within 60 ms of toe off
        near = window(rec, to - 0.06, to + 0.06)
        assert g[near].min() < -40.0 and g[near].min() == g[window(rec, ho, nxt)].min()
        # swing: the positive peak, in the middle of the swing
        swing = window(rec, to, nxt)
        k = int(np.argmax(np.where(swing, g, -np.inf)))
        assert g[k] > 50.0 and to + 0.15 * (nxt - to) < rec.t_s[k] < to + 0.85 * (nxt - to)
        # foot flat: near zero (a pivot turn in this stance lifts the heel: not flat)
        if ho - hs > 0.35 and not any(hs < p0 < ho for p0, _ in rec.pivots):
            assert np.abs(g[window(rec, hs + 0.15, ho - 0.03)]).max() < 15.0
        # heel strike: the slap to flat, a spike (negative after a toe-up landing)
        if sc not in ("stairs", "shuffling", "hemiparetic"):
            assert g[window(rec, hs, hs + 0.12)].min() < -60.0


@pytest.mark.parametrize("sc", WALKING)
def test_shank_gyro_peaks_in_mid_swing(recs: dict, sc: str) -> None:
    rec = recs[(sc, 1)]
    g = rec.imu("shank")[:, GYR_Y]
    for _, _, to, nxt in full_strides(rec):
        swing = window(rec, to, nxt)
        k = int(np.argmax(np.where(swing, g, -np.inf)))
        assert g[k] > 60.0 and to + 0.2 * (nxt - to) < rec.t_s[k] < to + 0.8 * (nxt - to)
        assert g[window(rec, to - 0.1, to + 0.05)].min() < -20.0  # the pre-swing minimum near toe off


def test_swing_peaks_differ_by_scenario(recs: dict) -> None:
    def median_peak(sc: str, mount: str) -> float:
        rec = recs[(sc, 2)]
        g = rec.imu(mount)[:, GYR_Y]
        return float(np.median([g[window(rec, to, nxt)].max() for _, _, to, nxt in full_strides(rec)]))
    healthy, hemi, shuffle = (median_peak(sc, "foot") for sc in ("healthy", "hemiparetic", "shuffling"))
    assert 250.0 < healthy < 700.0 and max(shuffle, hemi) < 0.8 * healthy
    assert 200.0 < median_peak("healthy", "shank") < 500.0


@pytest.mark.parametrize("sc", EDGE_STANDING)
def test_standing_is_still_with_gravity_down(recs: dict, sc: str) -> None:
    rec = recs[(sc, 3)]
    standing = (rec.t_s <= times(rec, "standing_end")[0] - 0.05) | (rec.t_s >= times(rec, "standing_start")[-1] + 0.3)
    for mount in ("foot", "shank"):
        x = rec.imu(mount)[standing]
        assert np.abs(x[:, :3]).max() < 12.0  # sway, bias and noise: a few deg/s
        norm = np.linalg.norm(x[:, 3:], axis=1)
        assert np.all((norm > 0.9) & (norm < 1.1)) and np.all(x[:, ACC_Z] < -0.9)  # noise, bias, drift, tilt
        assert np.abs(x[:, :3].mean(axis=0)).max() > 0.05  # a bias: not an ideal sensor


@pytest.mark.parametrize("sc", WALKING)
def test_foot_pitch_closes_every_stride(recs: dict, sc: str) -> None:
    # gravity in foot flat stays on z all walk long: the pitch returns to zero, no drift builds up
    rec = recs[(sc, 1)]
    foot = rec.imu("foot")
    for hs, ho, _, _ in full_strides(rec):
        if ho - hs > 0.35 and not any(hs < p0 < ho for p0, _ in rec.pivots):
            flat = foot[window(rec, hs + 0.15, ho - 0.03)]
            assert np.abs(flat[:, ACC_X]).max() < 0.15 and flat[:, ACC_Z].max() < -0.9


@pytest.mark.parametrize("seed", SEEDS)
def test_pivot_turns_rotate_about_the_vertical(recs: dict, seed: int) -> None:
    rec = recs[("pivot-turns", seed)]
    for mount in ("foot", "shank"):
        x = rec.imu(mount)
        for p0, p1 in rec.pivots:
            turn = x[window(rec, p0, p1)]
            yaw = float(np.abs(turn[:, GYR_Z]).max())
            assert yaw > 2.0 * float(np.abs(turn[:, GYR_Y]).max()) and yaw > 60.0
            assert abs(float(turn[:, GYR_Z].sum()) / rec.rate_hz) > 40.0  # degrees turned


def test_saturation_dropouts_and_separate_stream() -> None:
    base = generate("healthy", 4, 30.0)
    low = generate("healthy", 4, 30.0, gyro_range_dps=250.0, imu_dropouts_per_min=20.0)
    assert np.array_equal(base.heel_N, low.heel_N) and base.events == low.events  # forces untouched
    assert base.foot_imu is not None and low.foot_imu is not None
    assert np.abs(base.foot_imu[:, :3]).max() <= 2000.0 and not np.isnan(base.foot_imu).any()
    assert np.nanmax(np.abs(low.foot_imu[:, :3])) == 250.0  # the swing peaks clip at the range
    lost = np.isnan(low.foot_imu).all(axis=1)
    assert 2 <= np.count_nonzero(np.diff(lost.astype(int)) == 1) and lost.mean() < 0.05
    again = generate("healthy", 4, 30.0)
    assert again.foot_imu is not None and np.array_equal(base.foot_imu, again.foot_imu)
    with pytest.raises(ConfigError, match="gyro_range_dps"):
        generate("healthy", 4, 30.0, gyro_range_dps=10.0)
    with pytest.raises(ConfigError, match="'knee'"):
        base.imu("knee")


def test_imu_recording_csv_reads_back(tmp_path: Path) -> None:
    from fescontrol.records.recording import KIND_IMU, read_recording
    rec = generate("stairs", 5, 12.0, imu_dropouts_per_min=30.0)
    write_recording_csv(rec, tmp_path / "walk.csv", imu="shank")
    back = read_recording(tmp_path / "walk.csv")
    assert back.kind == KIND_IMU and back.sidecar["mount"] == "shank" and back.rate_hz == 100.0
    data = rec.imu("shank")
    keep = np.isfinite(data).all(axis=1)
    assert back.missing_samples == int((~keep).sum()) > 0
    np.testing.assert_allclose(back.dense("gyr_y_dps")[keep], data[keep, GYR_Y], atol=0.006)
    np.testing.assert_allclose(back.dense("acc_z_g")[keep], data[keep, ACC_Z], atol=6e-5)
