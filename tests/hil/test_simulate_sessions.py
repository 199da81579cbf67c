"""Whole simulated sessions, end to end, over real ptys: `fescontrol simulate` as a user runs it.

What is judged is what the stimulator emulator received (`stim.csv`), scored against the
gait generator's truth (`truth.csv`) with the one scorer of SCORING.md. The sessions run
concurrently (they are I/O bound) at real rate, since the ack latency of the device and the
pty hop are part of what is tested.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fescontrol.config.loading import default_profile_path, load_profile
from fescontrol.records.readers import read_events_csv, read_stim_csv
from fescontrol.records.scoring import score

from .conftest import read_csv, read_jsonl

CASES = [("healthy", 1), ("healthy", 7), ("hemiparetic", 2), ("hemiparetic", 11)]
DURATION_S = 30.0


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, int], tuple[Path, subprocess.CompletedProcess[str]]]:
    root = tmp_path_factory.mktemp("sessions")
    procs = {}
    for scenario, seed in CASES:
        out = root / f"{scenario}-{seed}"
        procs[(scenario, seed)] = (out, subprocess.Popen(
            [sys.executable, "-m", "fescontrol", "simulate", "--duration", str(DURATION_S), "--seed", str(seed),
             "--scenario", scenario, "--out", str(out)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    done = {}
    for key, (out, proc) in procs.items():
        stdout, stderr = proc.communicate(timeout=DURATION_S * 4 + 60)
        done[key] = (out, subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
    return done


@pytest.mark.parametrize("case", CASES, ids=[f"{s}-seed{k}" for s, k in CASES])
def test_session_meets_the_simulated_targets(sessions, case) -> None:  # type: ignore[no-untyped-def]
    out, result = sessions[case]
    assert result.returncode == 0, result.stderr
    assert f"output folder: {out}" in result.stdout
    # its normal end reads as one: the emulator's walk is over (a real sensor's port closing reads otherwise)
    assert ("session ended: sensor stream ended: the sensor emulator's walk is over (it closed its port; "
            "hil-sensor.log says if it failed) (exit status 0)") in result.stdout, result.stdout[-600:]
    for name in ("stim.csv", "events.csv", "commands.csv", "truth.csv", "session.jsonl", "report.json",
                 "report.txt", "device.jsonl"):
        assert (out / name).is_file(), name
    report = json.loads((out / "report.json").read_text())
    # the table the screen showed is in report.txt too, for whoever opens the folder later
    table = result.stdout.split("(exit status 0)\n", 1)[1].split("\noutput folder:", 1)[0].split("\nsensor signal", 1)[0]
    assert table.startswith("metric") and table in (out / "report.txt").read_text()
    assert report["swings"] >= 15
    assert report["coverage"] >= 0.99, report
    assert report["stance_intrusion"] <= 0.03, report
    assert report["standing_stim_s"] == 0, report
    assert report["false_bursts"] == 0, report
    assert report["faults"] == 0 and report["blocked_commands"] == 0
    assert report["event_f1"]["heel_strike"] >= 0.99


def test_report_is_the_scorer_applied_to_what_the_emulator_recorded(sessions) -> None:  # type: ignore[no-untyped-def]
    out, _ = sessions[CASES[0]]
    profile, sha = load_profile(default_profile_path())
    report = json.loads((out / "report.json").read_text())
    again = score(read_stim_csv(out / "stim.csv"), read_events_csv(out / "truth.csv"), profile.plateau_by_channel(),
                  read_events_csv(out / "events.csv"), end_s=report.get("end_s") or None)
    assert again["coverage"] == report["coverage"]
    assert again["swings"] == report["swings"]
    assert report["profile_sha256"] == sha
    # stim.csv is the emulator's: every non-zero row came through an acknowledged StartChannelListMode
    rows = read_csv(out / "stim.csv")
    assert any(float(r["current_mA"]) > 0 for r in rows)
    assert {r["channel"] for r in rows} == {"1", "2"}
    device = read_jsonl(out / "device.jsonl")
    assert any(rec.get("dir") == "rx" for rec in device)


def test_session_log_has_header_states_and_report(sessions) -> None:  # type: ignore[no-untyped-def]
    out, _ = sessions[CASES[2]]
    log = read_jsonl(out / "session.jsonl")
    first = log[0]
    assert first["kind"] == "session_start"
    assert first["versions"]["numba"] and first["versions"]["fescontrol"]
    for key in ("versions", "profile_path", "profile_sha256", "device", "sensor_port", "stimulator_port", "seed"):
        assert key in first, key
    kinds = [rec["kind"] for rec in log]
    assert "state" in kinds and kinds[-1] == "report"
    states = [(rec["source"], rec["dest"]) for rec in log if rec["kind"] == "state"]
    assert states[0] == ("idle", "armed")
    assert ("stance", "swing") in states and ("swing", "stance") in states


@pytest.mark.parametrize("case", CASES[1:3], ids=[f"{s}-seed{k}" for s, k in CASES[1:3]])
def test_live_events_equal_the_batch_runner_on_the_same_recording(sessions, case) -> None:  # type: ignore[no-untyped-def]
    """The live loop (chunks as they arrive over the pty) and the batch entry (the whole
    recording inside numba) run the same kernels: the same events at the same sample times."""
    from fescontrol_hil.gait import generate

    from fescontrol.core.batch import run_detector_batch
    from fescontrol.core.detectors import build_detector
    from fescontrol.core.envelope import EnvelopeParams

    out, _ = sessions[case]
    scenario, seed = case
    profile, _ = load_profile(default_profile_path())
    env = profile.envelope
    recording = generate(scenario, seed, DURATION_S)
    # the sensor sends forces at 0.1 N resolution; the batch sees the same quantised values
    force = (recording.heel_N.astype("float64") * 10.0 + 0.5) // 1 / 10.0
    batch = run_detector_batch(build_detector(profile.detector, recording.rate_hz), {"heel_N": force},
                               EnvelopeParams(env.ramp_up_s, env.extension_s, env.ramp_down_s, env.max_stim_s))
    live = [(round(e.t_s, 4), e.kind) for e in read_events_csv(out / "events.csv")]
    expected = [(round(t, 4), kind) for t, kind in batch.event_times(recording.rate_hz)]
    assert live == expected
    assert len(live) >= 20


def test_faster_than_real_time_gives_the_same_decisions(tmp_path: Path, sessions) -> None:  # type: ignore[no-untyped-def]
    """Decisions use sample time: the same seed at 4x speed detects the same events at the same
    session times as at real rate (the stimulator's own timing stays real, so only stim.csv
    timing may differ)."""
    scenario, seed = CASES[0]
    out = tmp_path / "fast"
    result = subprocess.run([sys.executable, "-m", "fescontrol", "simulate", "--duration", str(DURATION_S),
                             "--seed", str(seed), "--scenario", scenario, "--speed", "4", "--out", str(out)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    real_rate, _ = sessions[CASES[0]]
    fast = [(e.t_s, e.kind) for e in read_events_csv(out / "events.csv")]
    assert fast == [(e.t_s, e.kind) for e in read_events_csv(real_rate / "events.csv")]
    # Every burst decided is delivered, and none while standing. Coverage is not judged here: the
    # device keeps real time, so at 4x each ack costs four times as much session time (offset lag
    # about 0.2 s of session time), and a swing's coverage then depends on the machine's load.
    report = json.loads((out / "report.json").read_text())
    real_report = json.loads((real_rate / "report.json").read_text())
    assert report["bursts"] == report["controller_bursts"] == real_report["controller_bursts"], report
    assert report["false_bursts"] == 0 and report["standing_stim_s"] == 0 and report["faults"] == 0, report
    # and the operator is told so, under the report table
    assert "note: --speed 4: the controller decides in sample time" in result.stdout
    assert "note: --speed" not in sessions[CASES[0]][1].stdout
