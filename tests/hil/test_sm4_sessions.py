"""RehaMove3 and P24 (ScienceMode4 mid level) sessions over real ptys, judged by what the emulator delivered.

`fescontrol simulate --device rehamove3|p24` runs the same controller, loop and gate core as
for the RehaStim 2, with the ScienceMode4 backend and gate hook, against
`fescontrol-hil sm4-stimulator`. The report must be the rehastim2 report on the same walk:
the same fields, scored, the same coverage. Device faults injected in the emulator
(`--fault`) must end safe: every output at zero in the emulator's `stim.csv`, the fault
latched with its reason in `session.jsonl`, exit status 3; the time from the injected fault
to zero output is measured from the emulator's own records.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .conftest import read_csv, read_jsonl

DEVICES = ("rehastim2", "rehamove3", "p24")
SEED = 3
DURATION_S = 10.0
SPEED = 4.0
"""10 s of the seeded healthy walk at 4x: four swings in 2.5 s of wall time per session."""

FAULT_DURATION_S = 10.0
FAULT_SPEED = 2.0
"""Session time runs twice as fast as wall time: 5 s per fault session. Bounds are wall time."""
FAULT_AT_S = 4.3
"""Inside the plateau of the second burst of the seeded walk (4.23-4.77 s session time)."""
KEEPALIVE_S = 0.25
ACK_TIMEOUT_S = 0.2

# A session in a child process, exactly as `simulate` runs it, with emulator arguments passed through.
RUNNER = """
import sys
from pathlib import Path
from fescontrol.config.loading import default_device_path
from fescontrol.control.simulate import load_configs, run_against_emulators
from fescontrol.records.report import finish_records
out, device, duration, speed, *stimulator_args = sys.argv[1:]
configs = load_configs(default_device_path(device), None)
outcome = run_against_emulators(
    Path(out), configs, ["--scenario", "healthy", "--seed", "3", "--duration", duration, "--rate", "100"],
    rate_hz=100.0, speed=float(speed), metadata={"command": "test_sm4_sessions"}, stimulator_args=stimulator_args)
finish_records(Path(out), configs.profile, configs.profile_sha256, outcome)
print(outcome.reason, file=sys.stderr)
sys.exit(outcome.exit_status)
"""


def _simulate(out: Path, device: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fescontrol", "simulate", "--device", device, "--duration", str(DURATION_S),
         "--seed", str(SEED), "--speed", str(SPEED), "--out", str(out)],
        capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[subprocess.CompletedProcess[str], Path]]:
    root = tmp_path_factory.mktemp("sm4-sessions")
    with ThreadPoolExecutor(len(DEVICES)) as pool:
        done = {d: pool.submit(_simulate, root / d, d) for d in DEVICES}
        return {d: (f.result(), root / d) for d, f in done.items()}


@pytest.mark.parametrize("device", ["rehamove3", "p24"])
def test_sm4_device_scores_as_rehastim2_does(sessions, device: str) -> None:  # type: ignore[no-untyped-def]
    result, out = sessions[device]
    base_result, base = sessions["rehastim2"]
    assert result.returncode == 0, result.stderr
    assert base_result.returncode == 0, base_result.stderr
    report = json.loads((out / "report.json").read_text())
    reference = json.loads((base / "report.json").read_text())
    assert report.keys() == reference.keys()
    assert report["scored"] is True and report["exit_status"] == 0 and report["faults"] == 0
    assert report["blocked_commands"] == 0 and report["standing_stim_s"] == 0
    assert report["coverage"] >= 0.9 and report["coverage"] >= reference["coverage"] - 0.02, (report, reference)
    # the same walk and the same decisions: events are in sample time
    assert read_csv(out / "events.csv") == read_csv(base / "events.csv")
    for key in ("swings", "covered_swings", "detected_steps", "bursts", "false_bursts", "missed_swings"):
        assert report[key] == reference[key], key


@pytest.mark.parametrize("device", ["rehamove3", "p24"])
def test_sm4_session_speaks_mid_level_and_keeps_the_device_alive(sessions, device: str) -> None:  # type: ignore[no-untyped-def]
    _, out = sessions[device]
    packets = [r for r in read_jsonl(out / "device.jsonl") if "dir" in r]
    rx = [r["command"] for r in packets if r["dir"] == "rx"]
    assert rx[0] == "ML_INIT" and rx[-1] == "ML_STOP"
    assert set(rx) == {"ML_INIT", "ML_UPDATE", "ML_GET_CURRENT_DATA", "ML_STOP"}
    assert all(r.get("result") == 0 for r in packets if r["dir"] == "tx"), "every command answered 0"
    # the device watchdog (2 s) is fed well inside its time-out: the longest gap between two
    # commands that feed it, in the device's own monotonic time
    feeds = [int(str(r["t_mono_ns"])) for r in packets
             if r["dir"] == "rx" and r["command"] in ("ML_UPDATE", "ML_GET_CURRENT_DATA")]
    gaps = [(b - a) / 1e9 for a, b in zip(feeds, feeds[1:])]
    assert gaps and max(gaps) < 2 * KEEPALIVE_S + 0.1 < 2.0, max(gaps)
    # the pulses the emulator delivered: the profile's frequency, widths and currents
    rows = read_csv(out / "stim.csv")
    on = [r for r in rows if float(r["current_mA"]) > 0]
    assert {(r["channel"], r["pulse_width_us"], r["frequency_hz"]) for r in on} == {("1", "300", "40.0"), ("2", "250", "40.0")}
    assert max(float(r["current_mA"]) for r in on if r["channel"] == "1") == 30
    assert [r["current_mA"] for r in rows[-2:]] == ["0", "0"]


# -- device faults ------------------------------------------------------------------------------

FAULTS = {
    # id: (device, emulator arguments, words of the reason, longest time to zero output in s)
    "rehamove3-electrode-error": ("rehamove3", ["--fault", "electrode-error", "--fault-at", str(FAULT_AT_S)],
                                  "electrode error", KEEPALIVE_S + ACK_TIMEOUT_S + 0.15),
    "p24-no-ack": ("p24", ["--fault", "no-ack", "--fault-at", str(FAULT_AT_S)],
                   "no ack for", KEEPALIVE_S + ACK_TIMEOUT_S + 0.15),
    "p24-emergency-switch": ("p24", ["--fault", "emergency-switch", "--fault-at", str(FAULT_AT_S)],
                             "NOT_INITIALIZED_ERROR", 0.05),
}
"""Three of the emulator's faults, one session each (five take twice as long on two cores). Also run by
hand, with the same results: p24 electrode-error (202 ms to zero), rehamove3 no-ack (391 ms) and
p24 disconnect (0 ms: the P24 loses power; exit 3 on the failed port)."""


def _fault_session(out: Path, device: str, args: list[str]) -> subprocess.CompletedProcess[str]:
    out.mkdir(parents=True)
    return subprocess.run([sys.executable, "-c", RUNNER, str(out), device, str(FAULT_DURATION_S), str(FAULT_SPEED), *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def fault_sessions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[subprocess.CompletedProcess[str], Path]]:
    root = tmp_path_factory.mktemp("sm4-faults")
    with ThreadPoolExecutor(3) as pool:
        done = {name: pool.submit(_fault_session, root / name, device, args)
                for name, (device, args, _, _) in FAULTS.items()}
        return {name: (f.result(), root / name) for name, f in done.items()}


def time_to_zero(out: Path) -> tuple[float, float]:
    """(fault instant in session time, wall time from it until every channel's output is zero for good)."""
    injected = [r for r in read_jsonl(out / "device.jsonl") if r.get("kind") == "fault_injected"]
    assert len(injected) == 1, injected
    at = float(str(injected[0]["t_s"]))
    last: dict[str, dict[str, str]] = {}
    zero_since: dict[str, float] = {}
    for row in read_csv(out / "stim.csv"):
        if float(row["current_mA"]) == 0 and float(last.get(row["channel"], {"current_mA": "0"})["current_mA"]) != 0:
            zero_since[row["channel"]] = float(row["t_s"])
        last[row["channel"]] = row
    assert last and all(float(r["current_mA"]) == 0 for r in last.values()), "output at zero at the end"
    return at, max(0.0, max(zero_since.values()) - at) / FAULT_SPEED


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_sm4_device_fault_ends_safe(fault_sessions, name: str) -> None:  # type: ignore[no-untyped-def]
    result, out = fault_sessions[name]
    _, _, words, bound_s = FAULTS[name]
    assert result.returncode == 3, result.stderr
    assert words in result.stderr  # the reason on screen
    log = read_jsonl(out / "session.jsonl")
    faults = [r for r in log if r["kind"] == "fault"]
    assert faults and words in str(faults[0]["reason"]), faults
    assert any(r["kind"] == "gate_fault" for r in log), "the gate latched the fault"
    assert [r for r in log if r["kind"] == "state"][-1]["dest"] == "fault"
    end = [r for r in log if r["kind"] == "session_end"][-1]
    assert end["exit_status"] == 3 and end["faults"] == 1
    at, to_zero = time_to_zero(out)
    print(f"{name}: fault at {at:.3f} s, every output zero {to_zero * 1000:.0f} ms later (bound {bound_s * 1000:.0f} ms)")
    assert to_zero <= bound_s
    stops = [r for r in read_jsonl(out / "device.jsonl") if r.get("dir") == "rx" and r.get("command") == "ML_STOP"]
    assert stops, "the gate's stop frame (Ml_stop) reached the device"
