"""Stop on every exit path, judged by what the stimulator emulator recorded.

SIGTERM, SIGHUP, SIGQUIT or SIGTSTP to the controller mid-swing: the emulator records current 0 within 50 ms.
SIGKILL: nothing more comes from the host, and the emulator's own 1200 ms watchdog stops
the output no later than 1250 ms after the last packet it received.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import read_csv, read_jsonl, start_hil, stop_process, wait_for


@dataclass
class Rig:
    """Both emulators and `fescontrol run` against them, sharing one session-time origin t0."""

    t0: int
    stim: subprocess.Popen[str]
    sensor: subprocess.Popen[str]
    controller: subprocess.Popen[str]
    emu_dir: Path

    def wait_into_first_burst(self, after_s: float) -> None:
        wait_for(lambda: _first_burst_row(self.emu_dir / "stim.csv"), 20, "the first burst")
        time.sleep(after_s)


def _rig(tmp_path: Path, device: str) -> Iterator[Rig]:
    t0 = time.monotonic_ns() + 2_500_000_000
    emu_dir = tmp_path / "emulator"
    emu_dir.mkdir()
    emulator = ["stimulator"] if device == "rehastim2" else ["sm4-stimulator", "--device", device]
    stim, stim_port = start_hil(*emulator, "--out", str(emu_dir), "--t0-mono-ns", str(t0))
    sensor, sensor_port = start_hil("sensor", "--scenario", "healthy", "--seed", "3", "--duration", "30",
                                    "--t0-mono-ns", str(t0), "--truth", str(emu_dir / "truth.csv"))
    controller = subprocess.Popen(
        [sys.executable, "-m", "fescontrol", "run", "--device", device, "--sensor-port", sensor_port,
         "--stimulator-port", stim_port, "--yes", "--out", str(tmp_path / "run")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    yield Rig(t0, stim, sensor, controller, emu_dir)
    for p in (sensor, controller):
        if p.poll() is None:
            p.send_signal(signal.SIGCONT)  # in case a test froze it
    for p in (controller, sensor, stim):
        stop_process(p)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    """The RehaStim 2 (ScienceMode2) emulator."""
    yield from _rig(tmp_path, "rehastim2")


@pytest.fixture(params=["rehastim2", "rehamove3"])
def any_device_rig(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Rig]:
    """The RehaStim 2 and the RehaMove3 (ScienceMode4: its watchdog pauses the output, and a later
    Ml_update would start it again) emulators."""
    yield from _rig(tmp_path, request.param)


def _first_burst_row(stim_csv: Path) -> dict[str, str] | None:
    if not stim_csv.exists():
        return None
    rows = read_csv(stim_csv)
    return next((r for r in rows if float(r["current_mA"]) > 0), None)


def _zero_rows_after(stim_csv: Path, t_s: float) -> dict[str, float]:
    """The first time at or after t_s at which each channel's output was set to 0."""
    out: dict[str, float] = {}
    for r in read_csv(stim_csv):
        if float(r["t_s"]) >= t_s - 1e-4 and float(r["current_mA"]) == 0 and r["channel"] not in out:
            out[r["channel"]] = float(r["t_s"])
    return out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGTSTP],
                         ids=lambda s: s.name)
def test_stop_signal_mid_swing_stops_within_50_ms(rig: Rig, tmp_path: Path, sig: signal.Signals) -> None:
    """SIGTERM (a service manager), SIGHUP (the terminal or SSH link of `run` went away), SIGQUIT (Ctrl-\\),
    SIGTSTP (Ctrl-Z): each is a clean Stop; SIGHUP and SIGQUIT would otherwise end the process, and SIGTSTP
    suspend it, with the output on."""
    t0, controller, emu_dir = rig.t0, rig.controller, rig.emu_dir
    rig.wait_into_first_burst(0.08)  # inside the swing, on the plateau
    kill_ns = time.monotonic_ns()
    controller.send_signal(sig)
    _, stderr = controller.communicate(timeout=10)
    assert controller.returncode == 130, stderr
    t_kill = (kill_ns - t0) / 1e9
    zeros = wait_for(lambda: len(_zero_rows_after(emu_dir / "stim.csv", t_kill)) == 2
                     and _zero_rows_after(emu_dir / "stim.csv", t_kill), 2, "zero rows")
    print(f"{sig.name} -> current 0: {[round((t - t_kill) * 1000, 1) for t in zeros.values()]} ms")
    for channel, t_zero in zeros.items():
        assert 0 <= t_zero - t_kill <= 0.050, (channel, t_zero - t_kill)
    log = read_jsonl(tmp_path / "run" / "session.jsonl")
    end = [rec for rec in log if rec["kind"] == "session_end"][0]
    assert end["exit_status"] == 130 and sig.name in str(end["reason"])


def test_sigkill_leaves_it_to_the_device_watchdog(rig: Rig) -> None:
    t0, controller, emu_dir = rig.t0, rig.controller, rig.emu_dir
    rig.wait_into_first_burst(0.08)
    controller.send_signal(signal.SIGKILL)
    controller.wait(timeout=10)
    time.sleep(1.6)
    rx = [rec for rec in read_jsonl(emu_dir / "device.jsonl") if rec.get("dir") == "rx"]
    last_rx_s = (int(rx[-1]["t_mono_ns"]) - t0) / 1e9
    stim_rows = read_csv(emu_dir / "stim.csv")
    on_before = [r for r in stim_rows if float(r["t_s"]) <= last_rx_s and float(r["current_mA"]) > 0]
    zeros = _zero_rows_after(emu_dir / "stim.csv", last_rx_s + 1e-4)
    assert on_before, "the output was not on when the controller died"
    assert set(zeros) == {"1", "2"}, stim_rows[-4:]
    print(f"last packet -> watchdog stop: {[round((t - last_rx_s) * 1000, 1) for t in zeros.values()]} ms")
    # the emulator really acted in time: the Init it sends on expiry was handled by then
    last_rx_ns = int(rx[-1]["t_mono_ns"])
    init_after = [rec for rec in read_jsonl(emu_dir / "device.jsonl") if rec.get("dir") == "tx"
                  and rec.get("command") == "INIT" and int(rec["t_mono_ns"]) > last_rx_ns]
    assert init_after, "no Init after the watchdog expired"
    acted_s = (int(init_after[0]["t_logged_mono_ns"]) - last_rx_ns) / 1e9
    print(f"last packet -> emulator handled the expiry: {acted_s * 1000:.1f} ms")
    assert acted_s <= 1.25
    for channel, t_zero in zeros.items():
        gap = t_zero - last_rx_s
        assert 1.2 - 0.005 <= gap <= 1.25, (channel, gap)


def test_sensor_falling_silent_mid_swing_is_a_fault(rig: Rig) -> None:
    """SIGSTOP the sensor emulator while stimulating: no fresh sample, so Stop and exit 3."""
    t0, sensor, controller, emu_dir = rig.t0, rig.sensor, rig.controller, rig.emu_dir
    rig.wait_into_first_burst(0.05)
    freeze_ns = time.monotonic_ns()
    sensor.send_signal(signal.SIGSTOP)
    _, stderr = controller.communicate(timeout=10)
    assert controller.returncode == 3, stderr
    assert "sensor stale" in stderr
    t_freeze = (freeze_ns - t0) / 1e9
    zeros = _zero_rows_after(emu_dir / "stim.csv", t_freeze)
    assert set(zeros) == {"1", "2"}
    stale_s = 0.150  # sensor_stale_ms of the example profile
    print(f"sensor frozen -> current 0: {[round((t - t_freeze) * 1000, 1) for t in zeros.values()]} ms")
    for channel, t_zero in zeros.items():
        assert t_zero - t_freeze <= stale_s + 0.060, (channel, t_zero - t_freeze)


def test_a_controller_frozen_mid_burst_and_resumed_never_turns_the_output_on_again(any_device_rig: Rig) -> None:
    """SIGSTOP the controller mid-burst for 3 s (a debugger, a swapped-out laptop, an uncatchable
    stop), then SIGCONT. The device's watchdog ends the output (1.2 s after the last packet on the
    RehaStim 2, 2 s on the RehaMove3); when the controller resumes, with 3 s of old sensor samples
    waiting, it must not act on them: it faults (its loop was late far beyond loop_overrun_ms, or
    the device re-initialised) and Stops. The output never comes on again after the freeze."""
    rig = any_device_rig
    t0, controller, emu_dir = rig.t0, rig.controller, rig.emu_dir
    rig.wait_into_first_burst(0.08)
    freeze_ns = time.monotonic_ns()
    controller.send_signal(signal.SIGSTOP)
    time.sleep(3.0)
    controller.send_signal(signal.SIGCONT)
    _, stderr = controller.communicate(timeout=10)
    assert controller.returncode == 3, stderr
    t_freeze = (freeze_ns - t0) / 1e9
    rows = read_csv(emu_dir / "stim.csv")
    zeros = _zero_rows_after(emu_dir / "stim.csv", t_freeze)
    assert set(zeros) == {"1", "2"}
    assert all(t_zero - t_freeze <= 2.0 + 0.1 for t_zero in zeros.values()), zeros  # the device watchdog
    on_after = [r for r in rows if float(r["t_s"]) > max(zeros.values()) and float(r["current_mA"]) > 0]
    assert not on_after, on_after
    print(f"controller frozen 3 s -> {stderr.strip().splitlines()[-1]}")
