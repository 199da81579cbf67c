"""RehaMove3 and P24 (ScienceMode4 mid level) sessions over real ptys, judged by what the emulator delivered.

`fescontrol simulate --device rehamove3|p24` runs the same controller, loop and gate core as
for the RehaStim 2, with the ScienceMode4 backend and gate hook, against
`fescontrol-hil sm4-stimulator`. The report must be the rehastim2 report on the same walk:
the same fields, scored, the same coverage. Device faults injected in the emulator
(`--fault`) must end safe: every output at zero in the emulator's `stim.csv`, the fault
latched with its reason in `session.jsonl`, exit status 3; the time from the injected fault
to zero output is measured from the emulator's own records. Every fault the emulator has is run
(`FAULTS`); the emulator is not ended while its output is on, so a device the host cannot reach
is seen to stop by its own watchdog. With FES_SM4_FAULT_TABLE=path the measurements are written
as JSON for `tools/fault_table.py --sm4` (`make fault-table`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from fescontrol.config.loading import default_device_path, default_profile_path, load_device, load_profile
from fescontrol.control.emulated_device_end import DEVICE_STOP_GRACE_S

from .conftest import read_csv, read_jsonl

DEVICES = ("rehastim2", "rehamove3", "p24")
SEED = 3
DURATION_S = 10.0
SPEED = 2.0
"""10 s of the seeded healthy walk at 2x: four swings in 5 s of wall time per session. The device
keeps real time, so its lag in session time grows with the speed: at 4x, with another module's
sessions on the other core, one burst ran a sample past the on-time limit (174 of 173 samples)."""

FAULT_DURATION_S = 10.0
FAULT_SPEED = 2.0
"""Session time runs twice as fast as wall time: 5 s per fault session. Bounds are wall time."""
FAULT_AT_S = 4.3
"""Inside the plateau of the second burst of the seeded walk (4.23-4.77 s session time)."""


def _link_numbers() -> dict[str, float]:
    """The protocol numbers every bound is built from, as the device configs and the profile give them
    (the two devices share them)."""
    numbers = set()
    for device in ("rehamove3", "p24"):
        cfg, _ = load_device(default_device_path(device))
        profile, _ = load_profile(default_profile_path(), cfg)
        link = cfg.link
        numbers.add((link.keepalive_interval_ms / 1000, 2 * link.max_response_ms / 1000, link.watchdog_timeout_ms / 1000,
                     profile.safety.max_busy_retries, profile.safety.loop_overrun_ms / 1000))
    assert len(numbers) == 1, numbers
    keepalive, ack_timeout, watchdog, retries, loop = numbers.pop()
    return {"keepalive_s": keepalive, "ack_timeout_s": ack_timeout, "watchdog_s": watchdog,
            "max_busy_retries": retries, "loop_overrun_s": loop}


LINK = _link_numbers()
KEEPALIVE_S = LINK["keepalive_s"]
"""Ml_get_current_data goes out when nothing else did for this long (device configs, 250 ms)."""
ACK_TIMEOUT_S = LINK["ack_timeout_s"]
"""Liveness: 2 x max_response_ms (200 ms) for the answer to the command in flight."""
WATCHDOG_S = LINK["watchdog_s"]
"""The device pauses its output this long after the last Ml_update / Ml_get_current_data (2 s, B)."""
MAX_BUSY_RETRIES = int(LINK["max_busy_retries"])
"""Busy / Transfer_Error answers in a row the host sends again; one more is a fault (3)."""
LOOP_OVERRUN_S = LINK["loop_overrun_s"]
"""The longest gap between two control-loop ticks the controller tolerates (100 ms)."""
ACK_DELAY_S = 0.010
"""The emulated device's processing time (sm4-stimulator --ack-delay-ms default): when it applies Ml_stop."""
DEVICE_OFF_S = 0.05
"""The device's own output-off instant against its fault instant: the emulator's 5 ms loop plus time stamps."""
MARGIN_S = 0.15
"""Process scheduling: nine sessions (controller, two emulators each) share two cores with other tests."""
TAIL_S = WATCHDOG_S + DEVICE_STOP_GRACE_S
"""After the session, the emulator runs on until its output is zero (a device is not stopped by the host
being done), at most this long: its watchdog, plus time to see it act."""

# A session in a child process through `simulate`'s own path (`run_against_emulators`: warm up, a shared t0,
# both emulators, `run_session`, then the stimulator emulator left to run until its output is off, at most its
# watchdog + DEVICE_STOP_GRACE_S; how it was left goes to session.jsonl as `emulator_end`), with emulator
# arguments (a fault) passed through, which the `simulate` command does not take.
RUNNER = """
import sys
from pathlib import Path
from fescontrol.config.loading import default_device_path
from fescontrol.control.simulate import load_configs, run_against_emulators
from fescontrol.records.report import finish_records
out, device, duration, speed, *stimulator_args = sys.argv[1:]
configs = load_configs(default_device_path(device), None)
outcome = run_against_emulators(Path(out), configs, ["--scenario", "healthy", "--seed", "3", "--duration", duration,
                                                      "--rate", "100"], rate_hz=100.0, speed=float(speed),
                                metadata={"command": "test_sm4_sessions"}, stimulator_args=stimulator_args)
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


@dataclass(frozen=True)
class Fault:
    """One injected device fault: what the host must say, and the bounds (wall seconds) with their source."""

    device: str
    fault: str
    words: str
    """In the reason on screen and in session.jsonl."""
    bound_s: float
    """Longest time from the reference instant to every output at zero for good, in the emulator's stim.csv."""
    requirement: str
    detect_s: float
    """Longest time from the reference instant to the host's latched fault (session.jsonl; one monotonic clock)."""
    from_first_refusal: bool = False
    """Measure from the device's first refused command instead of the fault's start (busy)."""
    host_stop_reaches_device: bool = True


FAULTS = {f"{f.device}-{f.fault}": f for f in (
    # commands are still applied, answers never leave: the next command is due within one keep-alive period,
    # its ack times out, the device applies the Ml_stop in its processing time
    Fault("p24", "no-ack", "no ack for", KEEPALIVE_S + ACK_TIMEOUT_S + ACK_DELAY_S + MARGIN_S,
          "keep-alive + ack time-out + device processing + margin", KEEPALIVE_S + ACK_TIMEOUT_S + MARGIN_S),
    # answers leave 600 ms late, later than the 200 ms ack time-out: the same as no ack (the late answers are
    # recorded, not acted on)
    Fault("rehamove3", "late-ack", "no ack for", KEEPALIVE_S + ACK_TIMEOUT_S + ACK_DELAY_S + MARGIN_S,
          "keep-alive + ack time-out + device processing + margin", KEEPALIVE_S + ACK_TIMEOUT_S + MARGIN_S),
    # every Ml_update refused (output holds, the keep-alive still works): from the first refusal, the retries
    # and the one over the limit, each answered within the ack time-out, then Ml_stop (not refused)
    Fault("p24", "busy", f"busy {MAX_BUSY_RETRIES + 1} times in a row",
          (MAX_BUSY_RETRIES + 1) * ACK_TIMEOUT_S + ACK_DELAY_S + MARGIN_S,
          "from the first refused Ml_update: (max_busy_retries + 1) x ack time-out + device processing + margin",
          (MAX_BUSY_RETRIES + 1) * ACK_TIMEOUT_S + MARGIN_S, from_first_refusal=True),
    # every frame fails its checksum, Ml_stop too: nothing the host sends reaches the device, whose watchdog
    # pauses the output 2 s after the last good feed (before the fault)
    Fault("rehamove3", "transfer-error", f"transfer error (1) {MAX_BUSY_RETRIES + 1} times in a row", WATCHDOG_S + DEVICE_OFF_S,
          "device watchdog after the last good feed + emulator loop (host cannot stop it)",
          KEEPALIVE_S + (MAX_BUSY_RETRIES + 1) * ACK_TIMEOUT_S + MARGIN_S),
    # the device stops the failing channel; the host reads the state in the next Ml_get_current_data (one
    # keep-alive period), answered within the ack time-out, then Ml_stop ends the other channel
    Fault("rehamove3", "electrode-error", "electrode error", KEEPALIVE_S + ACK_TIMEOUT_S + ACK_DELAY_S + MARGIN_S,
          "keep-alive + ack time-out + device processing + margin", KEEPALIVE_S + ACK_TIMEOUT_S + MARGIN_S),
    # outputs off at the switch; the next command is refused Not_Initialized
    Fault("p24", "emergency-switch", "emergency switch", DEVICE_OFF_S, "device off at the fault + emulator loop",
          KEEPALIVE_S + ACK_TIMEOUT_S + MARGIN_S),
    # outputs off at the reset, then the device is deaf (SM4 announces no reset): the host sees no ack
    Fault("rehamove3", "device-reset", "no ack for", DEVICE_OFF_S, "device off at the fault + emulator loop",
          KEEPALIVE_S + ACK_TIMEOUT_S + MARGIN_S),
    # the P24 is USB-powered: it loses power with the link; the host reads the port every tick (ticks at most
    # loop_overrun_ms apart), and that read fails
    Fault("p24", "disconnect", "stimulator port failed", DEVICE_OFF_S, "device off at the fault (power lost) + emulator loop",
          LOOP_OVERRUN_S + MARGIN_S, host_stop_reaches_device=False),
    # the RehaMove3 runs on its battery: it stimulates until its watchdog, 2 s after the last feed
    Fault("rehamove3", "disconnect", "stimulator port failed", WATCHDOG_S + DEVICE_OFF_S,
          "device watchdog after the last feed + emulator loop (host cannot stop it)", LOOP_OVERRUN_S + MARGIN_S,
          host_stop_reaches_device=False),
)}
"""Every fault the emulator has, one session each, the devices alternating; disconnect on both (the P24 loses
power, the RehaMove3 does not). The emulator cannot make a busy that clears again: that a short run of busy
answers is not a fault is a unit test (test_stimlink_sm4)."""
FAULT_WORKERS = 5
"""Sessions at once: a session takes about 2 s of CPU over 5 to 7 s of wall time (two waves on two cores)."""


def _fault_session(out: Path, device: str, args: list[str]) -> subprocess.CompletedProcess[str]:
    out.mkdir(parents=True)
    return subprocess.run([sys.executable, "-c", RUNNER, str(out), device, str(FAULT_DURATION_S), str(FAULT_SPEED),
                           *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def fault_sessions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[subprocess.CompletedProcess[str], Path]]:
    root = tmp_path_factory.mktemp("sm4-faults")
    with ThreadPoolExecutor(FAULT_WORKERS) as pool:
        done = {name: pool.submit(_fault_session, root / name, f.device, ["--fault", f.fault, "--fault-at", str(FAULT_AT_S)])
                for name, f in FAULTS.items()}
        return {name: (fut.result(), root / name) for name, fut in done.items()}


@pytest.fixture(scope="module")
def sm4_fault_table() -> Iterator[list[dict[str, object]]]:
    """Rows for safety/fault-table.md: with FES_SM4_FAULT_TABLE=path they are written there as JSON
    (`make fault-table`; tools/fault_table.py renders them)."""
    rows: list[dict[str, object]] = []
    yield rows
    path = os.environ.get("FES_SM4_FAULT_TABLE")
    if path:
        payload = {"generated_by": "tests/hil/test_sm4_sessions.py", "speed": FAULT_SPEED, "fault_at_s": FAULT_AT_S,
                   "limits": {**LINK, "ack_delay_s": ACK_DELAY_S, "device_off_s": DEVICE_OFF_S, "margin_s": MARGIN_S},
                   "rows": sorted(rows, key=lambda r: list(FAULTS).index(str(r["id"])))}
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


def _mono(record: dict[str, object], key: str) -> int:
    return int(str(record[key]))


def time_to_zero(out: Path, since_ns: int) -> float:
    """Wall time from `since_ns` (device clock) until every channel's output is zero for good, from stim.csv
    (session time over the speed); 0 if it already was."""
    injected = [r for r in read_jsonl(out / "device.jsonl") if r.get("kind") == "fault_injected"]
    t0_s = float(str(injected[0]["t_s"])) - (_mono(injected[0], "t_mono_ns") - since_ns) / 1e9 * FAULT_SPEED
    last: dict[str, dict[str, str]] = {}
    zero_since: dict[str, float] = {}
    for row in read_csv(out / "stim.csv"):
        if float(row["current_mA"]) == 0 and float(last.get(row["channel"], {"current_mA": "0"})["current_mA"]) != 0:
            zero_since[row["channel"]] = float(row["t_s"])
        last[row["channel"]] = row
    assert last and all(float(r["current_mA"]) == 0 for r in last.values()), "output at zero at the end"
    return max(0.0, max(zero_since.values(), default=t0_s) - t0_s) / FAULT_SPEED


@pytest.mark.parametrize("name", list(FAULTS))
def test_sm4_device_fault_ends_safe(fault_sessions, sm4_fault_table, name: str) -> None:  # type: ignore[no-untyped-def]
    result, out = fault_sessions[name]
    f = FAULTS[name]
    row: dict[str, object] = {"id": name, "device": f.device, "fault": f.fault, "requirement": f.requirement,
                              "requirement_s": round(f.bound_s, 3), "exit_status": result.returncode, "passed": False,
                              "test": f"test_sm4_sessions.py::test_sm4_device_fault_ends_safe[{name}]"}
    sm4_fault_table.append(row)
    assert result.returncode == 3, result.stderr
    assert f.words in result.stderr  # the reason on screen
    log = read_jsonl(out / "session.jsonl")
    faults = [r for r in log if r["kind"] == "fault"]
    assert faults and f.words in str(faults[0]["reason"]), faults
    row["reason"] = str(faults[0]["reason"])
    assert any(r["kind"] == "gate_fault" for r in log), "the gate latched the fault"
    assert [r for r in log if r["kind"] == "state"][-1]["dest"] == "fault"
    end = [r for r in log if r["kind"] == "session_end"][-1]
    assert end["exit_status"] == 3 and end["faults"] == 1
    device = read_jsonl(out / "device.jsonl")
    injected = [r for r in device if r.get("kind") == "fault_injected" and r.get("fault") == f.fault]
    assert injected and injected[0]["t_s"] == FAULT_AT_S, injected
    fault_ns = _mono(injected[0], "t_mono_ns")
    # the device's output went to zero before the emulator was ended: by itself or by the host, not by its end
    ended = [r for r in log if r["kind"] == "emulator_end"]
    assert len(ended) == 1 and ended[0]["device_output_on"] is False, ended
    assert ended[0]["wait_limit_s"] == pytest.approx(TAIL_S)
    since_ns = fault_ns
    if f.from_first_refusal:
        refused = [r for r in injected if r.get("effect") == "refused"]
        assert len(refused) == MAX_BUSY_RETRIES + 1, refused  # the retries, and the one over the limit
        since_ns = _mono(refused[0], "t_mono_ns")
    to_zero = time_to_zero(out, since_ns)
    detect = (_mono(faults[0], "t_mono") - since_ns) / 1e9
    row.update(measured_s=round(to_zero, 3), host_fault_s=round(detect, 3), host_fault_bound_s=round(f.detect_s, 3))
    print(f"{name}: from the {'first refusal' if f.from_first_refusal else 'fault'}, every output zero {to_zero * 1000:.0f} ms "
          f"(bound {f.bound_s * 1000:.0f} ms), host fault {detect * 1000:.0f} ms (bound {f.detect_s * 1000:.0f} ms)")
    assert to_zero <= f.bound_s
    assert 0 <= detect <= f.detect_s
    stops = [r for r in device if r.get("dir") == "rx" and r.get("command") == "ML_STOP"]
    if f.host_stop_reaches_device:
        assert stops, "the gate's stop frame (Ml_stop) reached the device"
    else:
        assert not stops, "the port was gone: nothing reached the device"
    row["passed"] = True
