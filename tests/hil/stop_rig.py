"""The rig of the stop-path tests: both emulators and `fescontrol run` against them, one session-time
origin, and readers of what the emulated device delivered (its stim.csv)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .conftest import read_csv, read_jsonl, start_hil, stop_process, wait_for


@dataclass
class Rig:
    """Both emulators and `fescontrol run` against them, sharing one session-time origin t0."""

    t0: int
    stim: subprocess.Popen[str]
    sensor: subprocess.Popen[str]
    controller: subprocess.Popen[str]
    emu_dir: Path
    device: str

    def wait_into_first_burst(self, after_s: float) -> None:
        wait_for(lambda: first_burst_row(self.emu_dir / "stim.csv"), 20, "the first burst")
        time.sleep(after_s)


def start_rig(tmp_path: Path, device: str) -> Iterator[Rig]:
    """Start the rig, yield it, end every process (a frozen one is woken first)."""
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
    yield Rig(t0, stim, sensor, controller, emu_dir, device)
    for p in (sensor, controller):
        if p.poll() is None:
            p.send_signal(signal.SIGCONT)  # in case a test froze it
    for p in (controller, sensor, stim):
        stop_process(p)


def first_burst_row(stim_csv: Path) -> dict[str, str] | None:
    if not stim_csv.exists():
        return None
    rows = read_csv(stim_csv)
    return next((r for r in rows if float(r["current_mA"]) > 0), None)


def zero_rows_after(stim_csv: Path, t_s: float) -> dict[str, float]:
    """The first time at or after t_s at which each channel's output was set to 0."""
    out: dict[str, float] = {}
    for r in read_csv(stim_csv):
        if float(r["t_s"]) >= t_s - 1e-4 and float(r["current_mA"]) == 0 and r["channel"] not in out:
            out[r["channel"]] = float(r["t_s"])
    return out


def signal_mid_swing_is_a_clean_stop(rig: Rig, run_dir: Path, sig: signal.Signals, bound_s: float) -> None:
    """Send `sig` to the controller inside the first burst's plateau: exit 130, every channel's
    output at zero within `bound_s` of the signal (the device's own record), the signal named as
    the session's end."""
    t0, controller, emu_dir = rig.t0, rig.controller, rig.emu_dir
    rig.wait_into_first_burst(0.08)  # inside the swing, on the plateau
    kill_ns = time.monotonic_ns()
    controller.send_signal(sig)
    _, stderr = controller.communicate(timeout=10)
    assert controller.returncode == 130, stderr
    t_kill = (kill_ns - t0) / 1e9
    zeros = wait_for(lambda: len(zero_rows_after(emu_dir / "stim.csv", t_kill)) == 2
                     and zero_rows_after(emu_dir / "stim.csv", t_kill), 2, "zero rows")
    print(f"{sig.name} -> current 0: {[round((t - t_kill) * 1000, 1) for t in zeros.values()]} ms")
    for channel, t_zero in zeros.items():
        assert 0 <= t_zero - t_kill <= bound_s, (channel, t_zero - t_kill)
    end = [rec for rec in read_jsonl(run_dir / "session.jsonl") if rec["kind"] == "session_end"][0]
    assert end["exit_status"] == 130 and sig.name in str(end["reason"])
