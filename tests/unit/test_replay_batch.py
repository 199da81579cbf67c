"""Batch replay: stim.csv is the kernels' levels through the policy; reports, folders, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fescontrol_hil.gait import (
    GaitRecording,
    generate,
    write_recording_csv,
    write_truth_csv,
)

from fescontrol.cli import main
from fescontrol.config.loading import (
    default_device_path,
    default_profile_path,
    load_device,
    load_profile,
)
from fescontrol.control.policy import channel_targets
from fescontrol.core.batch import run_detector_batch
from fescontrol.core.detectors import build_detector
from fescontrol.core.envelope import EnvelopeParams
from fescontrol.errors import ConfigError
from fescontrol.records.readers import read_events_csv, read_stim_csv
from fescontrol.records.recording import write_recording
from fescontrol.records.scoring import format_report_table
from fescontrol.replay import (
    ReplaySettings,
    format_replay_table,
    replay_path,
    summary_rows,
)

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / ".." / "shared" / "gait-data"
RATE = 100.0


@pytest.fixture(scope="module")
def settings() -> ReplaySettings:
    device_path, profile_path = default_device_path(), default_profile_path()
    device, device_sha = load_device(device_path)
    profile, profile_sha = load_profile(profile_path, device)
    return ReplaySettings(profile, profile_path, profile_sha, device, device_path, device_sha)


def make_recording(folder: Path, name: str, seed: int, scenario: str = "healthy",
                   group: str | None = None) -> GaitRecording:
    rec = generate(scenario, seed, 40.0, RATE)
    write_recording_csv(rec, folder / f"{name}.csv")
    write_truth_csv(rec, folder / f"{name}.events.csv")
    if group is not None:
        (folder / f"{name}.json").write_text(json.dumps({"rate_hz": RATE, "group": group}), encoding="utf-8")
    return rec


def expected_currents(force: np.ndarray, s: ReplaySettings) -> tuple[np.ndarray, list[tuple[float, str]]]:
    """Per-sample currents (samples x channels) from the kernels and the policy, computed here."""
    p, step = s.profile, s.device.device.current_step_ma
    env = p.envelope
    result = run_detector_batch(build_detector(p.detector, RATE), {"heel_N": force},
                                EnvelopeParams(env.ramp_up_s, env.extension_s, env.ramp_down_s, env.max_stim_s))
    plateau = [c.plateau_current_ma for c in sorted(p.channels, key=lambda c: c.number)]
    ref = tuple(0 for _ in plateau)
    out = np.zeros((force.shape[0], len(plateau)), dtype=np.int64)
    for k, lv in enumerate(result.level):
        ref = channel_targets(float(lv), plateau, step, ref, p.safety.max_ramp_step_ma)
        out[k] = ref
    return out, result.event_times(RATE)


def test_stim_csv_is_the_kernels_through_the_policy(tmp_path: Path, settings: ReplaySettings) -> None:
    rec = make_recording(tmp_path, "walk", seed=3)
    out = tmp_path / "out"
    [outcome] = replay_path(tmp_path / "walk.csv", out, settings)
    assert sorted(p.name for p in out.iterdir()) == ["events.csv", "report.json", "report.txt", "session.jsonl",
                                                      "stim.csv", "truth.csv"]
    want, events = expected_currents(rec.heel_N.astype(np.float64), settings)
    n = rec.heel_N.shape[0]
    rows = read_stim_csv(out / "stim.csv")
    channels = [c.number for c in sorted(settings.profile.channels, key=lambda c: c.number)]
    widths = {c.number: c.pulse_width_us for c in settings.profile.channels}
    got = np.zeros((n, len(channels)), dtype=np.int64)
    for r in rows:
        k = round(r.t_s * RATE)
        if k < n:
            assert r.pulse_width_us == widths[r.channel] and r.frequency_hz == 40.0
            got[k:, channels.index(r.channel)] = r.current_ma
    assert np.array_equal(got, want)
    # one row per change of a channel's output, never a repeated value
    last: dict[int, tuple[float, int, float]] = {}
    for r in rows:
        value = (r.current_ma, r.pulse_width_us, r.frequency_hz)
        assert last.get(r.channel) != value
        last[r.channel] = value
    # the session ends with Stop: every channel off at the end of the last sample
    assert [(r.channel, r.current_ma, r.pulse_width_us, r.frequency_hz) for r in rows[-2:]] == \
        [(1, 0, 0, 0.0), (2, 0, 0, 0.0)]
    assert rows[-1].t_s == rows[-2].t_s == pytest.approx(n / RATE)
    detected = read_events_csv(out / "events.csv")
    assert [(e.kind, e.source) for e in detected] == [(k, settings.profile.detector.kind) for _, k in events]
    assert [e.t_s for e in detected] == pytest.approx([t for t, _ in events], abs=1e-4)
    assert (out / "truth.csv").read_bytes() == (tmp_path / "walk.events.csv").read_bytes()
    report = json.loads((out / "report.json").read_text())
    assert report == outcome.report and report["scored"] and report["mode"] == "batch"
    assert report["coverage"] >= 0.99 and report["stance_intrusion"] <= 0.03
    assert report["standing_stim_s"] == 0 and report["false_bursts"] == 0
    assert report["controller_bursts"] == report["bursts"]
    first = json.loads((out / "session.jsonl").read_text().splitlines()[0])
    assert first["kind"] == "session_start" and first["profile_sha256"] == settings.profile_sha256
    assert len(first["recording_sha256"]) == 64
    text = (out / "report.txt").read_text()
    assert format_report_table(report) in text and "exit status     0: done" in text
    assert "command         replay" in text and f"recording       {tmp_path / 'walk.csv'}" in text


def test_folder_pools_per_group_and_in_total(tmp_path: Path, settings: ReplaySettings) -> None:
    src = tmp_path / "recs"
    src.mkdir()
    make_recording(src, "a", 1, "healthy", group="healthy")
    make_recording(src, "b", 2, "hemiparetic", group="stroke")
    calls: list[tuple[int, int, str]] = []
    outcomes = replay_path(src, tmp_path / "out", settings, progress=lambda d, t, w: calls.append((d, t, w)))
    assert [o.name for o in outcomes] == ["a", "b"] and calls[-1][:2] == (4, 4)
    rows = summary_rows(outcomes)
    assert [label for label, _ in rows] == ["a", "b", "total healthy", "total stroke", "total"]
    total = rows[-1][1]
    assert total["swings"] == outcomes[0].report["swings"] + outcomes[1].report["swings"]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["total"]["swings"] == total["swings"]
    assert (tmp_path / "out" / "a" / "stim.csv").exists()
    table = format_replay_table(rows)
    assert table.splitlines()[0].split()[:3] == ["recording", "swings", "coverage"] and "total stroke" in table


def test_imu_and_bad_recordings_are_refused_before_anything_is_written(
        tmp_path: Path, settings: ReplaySettings, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "recs"
    src.mkdir()
    make_recording(src, "a", 1)
    (src / "z_imu.csv").write_text("t_s,gyr_x_dps,gyr_y_dps,gyr_z_dps,acc_x_g,acc_y_g,acc_z_g\n"
                                   "0.00,1,2,3,0,0,1\n0.01,1,2,3,0,0,1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="an IMU recording, but the profile's detector is kind = 'adaptive_heel'"):
        replay_path(src, tmp_path / "out", settings)
    assert not (tmp_path / "out").exists()
    assert main(["replay", str(src), "--out", str(tmp_path / "o1")]) == 2
    assert "mixes IMU and force recordings" in capsys.readouterr().err
    assert main(["replay", str(src / "a.csv"), "--mode", "live", "--speed", "50", "--out", str(tmp_path / "o2")]) == 2
    assert "--speed 50.0: allowed 0.1 to 10" in capsys.readouterr().err
    assert main(["replay", str(src), "--events", str(src / "a.events.csv"), "--out", str(tmp_path / "o3")]) == 2
    assert main(["replay", str(tmp_path / "nothing.csv"), "--out", str(tmp_path / "o4")]) == 2
    assert not any((tmp_path / f"o{i}").exists() for i in range(1, 5))


def test_cli_replays_one_recording_with_events_given(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rec = generate("healthy", 5, 30.0, RATE)
    write_recording_csv(rec, tmp_path / "w.csv")
    write_truth_csv(rec, tmp_path / "truth_elsewhere.csv")
    out = tmp_path / "out"
    assert main(["replay", str(tmp_path / "w.csv"), "--events", str(tmp_path / "truth_elsewhere.csv"),
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "coverage" in text and str(out) in text
    assert json.loads((out / "report.json").read_text())["scored"] is True


def test_a_recording_without_truth_is_replayed_and_says_what_is_missing(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    rec = generate("healthy", 5, 10.0, RATE)
    write_recording_csv(rec, tmp_path / "w.csv")
    out = tmp_path / "out"
    assert main(["replay", str(tmp_path / "w.csv"), "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["scored"] is False and (out / "stim.csv").exists()
    assert report["not_scored_because"] == f"no truth.csv in {out}"  # stim.csv is there: only the truth is missing
    assert f"not scored: no truth.csv in {out}" in capsys.readouterr().out


def test_a_gaitpdb_walk_replays_and_is_scored(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = DATA / "gaitpdb"
    if not src.is_dir():
        pytest.skip(f"gait data not present: {src.resolve()} (shared/gait-data beside the repository)")
    recs = tmp_path / "recs"
    assert main(["data", "import", "gaitpdb", str(src), str(recs), "--only", "SiCo04_01"]) == 0
    out = tmp_path / "out"
    assert main(["replay", str(recs), "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "SiCo04_01_left" in table and "\ntotal" in table
    report = json.loads((out / "SiCo04_01_left" / "report.json").read_text())
    assert report["scored"] and report["sensor_kind"] == "insole" and report["input_column"] == "heel_N"
    assert report["swings"] > 100 and report["coverage"] is not None and report["coverage"] > 0.9
    assert report["event_f1"]["heel_strike"] > 0.9


def test_an_imu_recording_replays_on_the_default_imu_profile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No --profile: an IMU recording runs configs/patients/imu-default.toml; the mount comes
    from NAME.json, so a shank recording runs shank_imu."""
    rate = 100.0
    t = np.arange(int(12 * rate)) / rate
    sag = np.zeros_like(t)
    truth = []
    for k in range(8):  # strides of 1.1 s: push-off, swing, heel-strike lobes
        t0 = 2.0 + 1.1 * k
        for a, b, peak in ((t0, t0 + 0.2, -400.0), (t0 + 0.2, t0 + 0.6, 350.0), (t0 + 0.6, t0 + 0.7, -200.0)):
            m = (t >= a) & (t < b)
            sag[m] = peak * np.sin(np.pi * (t[m] - a) / (b - a))
        truth += [(t0 + 0.15, "toe_off", "synthetic"), (t0 + 0.6, "heel_strike", "synthetic")]
    zero = np.zeros_like(t)
    columns = {"gyr_x_dps": zero, "gyr_y_dps": -sag, "gyr_z_dps": zero, "acc_x_g": zero, "acc_y_g": zero,
               "acc_z_g": zero + 1.0}
    for mount in ("foot", "shank"):
        write_recording(tmp_path / "recs", f"walk_{mount}", t, columns, {"mount": mount, "rate_hz": rate}, truth)
    out = tmp_path / "out"
    assert main(["replay", str(tmp_path / "recs"), "--out", str(out)]) == 0
    capsys.readouterr()
    foot = json.loads((out / "walk_foot" / "report.json").read_text())
    shank = json.loads((out / "walk_shank" / "report.json").read_text())
    assert foot["detector"] == "foot_imu" and shank["detector"] == "shank_imu"
    assert foot["profile_sha256"] == shank["profile_sha256"]
    assert foot["coverage"] == 1.0 and foot["stance_intrusion"] <= 0.03
    assert shank["swings"] == 8


def test_a_signal_the_detector_cannot_use_is_said_on_screen_and_in_report_txt(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A heel cell that reads -5 N throughout (unplugged, or not under the foot): batch replay
    says so under its table, not only in session.jsonl."""
    rec = tmp_path / "stuck.csv"
    rec.write_text("t_s,heel_N\n" + "".join(f"{k / 100:.2f},-5\n" for k in range(1500)))
    assert main(["replay", str(rec), "--out", str(tmp_path / "out")]) == 0
    screen = capsys.readouterr().out
    said = screen.split("sensor signal (what the detector could not use):\n", 1)[1].splitlines()
    assert said[0].startswith("  4.99 s to 9.99 s: heel_N never crosses: range 0.0 N"), screen
    assert said[1] == "  9.99 s: heel_N stuck at -5.0 N for 15 s (sensor stuck, disconnected or not under the foot?)"
    text = (tmp_path / "out" / "report.txt").read_text()
    assert "sensor signal (what the detector could not use)\n  4.99 s to 9.99 s: heel_N never crosses" in text
    problems = json.loads((tmp_path / "out" / "report.json").read_text())["signal_problems"]
    assert [p[:2] for p in problems] == [[4.99, 9.99], [9.99, None]] and problems[1][2].startswith("heel_N stuck")


def test_a_folder_replay_names_the_recordings_whose_signal_could_not_be_used(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "recs"
    folder.mkdir()
    make_recording(folder, "walk", seed=3)
    (folder / "stuck.csv").write_text("t_s,heel_N\n" + "".join(f"{k / 100:.2f},-5\n" for k in range(1500)))
    assert main(["replay", str(folder), "--out", str(tmp_path / "out")]) == 0
    screen = capsys.readouterr().out
    assert "sensor signal the detector could not use, in 1 of 2 recordings (see their report.txt): stuck\n" in screen
