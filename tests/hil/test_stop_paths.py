"""Stop on every exit path, judged by what the stimulator emulator recorded (tight wall-clock bounds:
these run `alone`, tests/conftest.py).

SIGTERM to the controller mid-swing: the emulator records current 0 within 50 ms.
SIGKILL: nothing more comes from the host, and the emulator's own 1200 ms watchdog stops
the output no later than 1250 ms after the last packet it received.
The other stop signals and a frozen controller: test_stop_signals.py.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import read_csv, read_jsonl
from .stop_rig import Rig, signal_mid_swing_is_a_clean_stop, start_rig, zero_rows_after


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    """The RehaStim 2 (ScienceMode2) emulator."""
    yield from start_rig(tmp_path, "rehastim2")


def test_sigterm_mid_swing_stops_within_50_ms(rig: Rig, tmp_path: Path) -> None:
    signal_mid_swing_is_a_clean_stop(rig, tmp_path / "run", signal.SIGTERM, 0.050)


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
    zeros = zero_rows_after(emu_dir / "stim.csv", last_rx_s + 1e-4)
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
    zeros = zero_rows_after(emu_dir / "stim.csv", t_freeze)
    assert set(zeros) == {"1", "2"}
    stale_s = 0.150  # sensor_stale_ms of the example profile
    print(f"sensor frozen -> current 0: {[round((t - t_freeze) * 1000, 1) for t in zeros.values()]} ms")
    for channel, t_zero in zeros.items():
        assert t_zero - t_freeze <= stale_s + 0.060, (channel, t_zero - t_freeze)
