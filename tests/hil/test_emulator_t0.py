"""`--t0-mono-ns stdin`: an emulator reports its port, then waits for its time origin.

Why (control/simulate.py, T0_AFTER_PORTS_S): a host that fixes t0 before starting the emulators
must guess how long they take to report their ports. Under load they once reported after the
guess; the sensor then sent its first samples before the host held the port, they were lost, and
a WT901 (no sequence numbers) started the session clock late. With `stdin`, nothing is sent before
the host has both ports and has sent `T0 <ns>`, and a missing or garbled line ends the emulator
with exit status 2 instead of a guessed origin.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial

from fescontrol.control.simulate import T0_AFTER_PORTS_S
from fescontrol.emulator_lines import t0_line
from fescontrol.sensing.frames import FrameDecoder

from .conftest import read_jsonl, start_hil, stop_process

QUIET_S = 0.6
"""How long the port is watched before t0 is sent: longer than a RehaStim 2's Init period (0.5 s)."""


def _send(proc: subprocess.Popen[str], line: str) -> None:
    assert proc.stdin is not None
    proc.stdin.write(line)
    proc.stdin.close()


def _quiet_then_first_byte(port: serial.Serial, proc: subprocess.Popen[str], t0_ns: int) -> tuple[bytes, int]:
    """Nothing arrives during QUIET_S; after `T0 t0_ns` is sent, the first bytes and when they came."""
    time.sleep(QUIET_S)
    assert port.in_waiting == 0, f"{port.in_waiting} bytes arrived before the time origin was sent"
    _send(proc, t0_line(t0_ns))
    data = port.read(1)
    arrived = time.monotonic_ns()
    assert data, "nothing arrived within the read timeout after t0 was sent"
    return data + port.read(port.in_waiting), arrived


def test_the_sensor_sends_sample_0_at_the_t0_it_is_sent(tmp_path: Path) -> None:
    proc, path = start_hil("sensor", "--seed", "1", "--duration", "10", "--t0-mono-ns", "stdin",
                           "--truth", str(tmp_path / "truth.csv"), stdin=subprocess.PIPE)
    try:
        with serial.Serial(path, timeout=3.0) as port:
            t0 = time.monotonic_ns() + QUIET_S * 1e9 + int(T0_AFTER_PORTS_S * 1e9)
            data, arrived = _quiet_then_first_byte(port, proc, int(t0))
        assert arrived >= t0, f"the first frame came {(t0 - arrived) / 1e6:.1f} ms before t0"
        assert arrived - t0 < 0.2e9, f"the first frame came {(arrived - t0) / 1e6:.1f} ms after t0"
        samples = FrameDecoder().feed(data)
        assert len(samples) and int(samples.seq[0]) == 0, f"the first frame is not sample 0: {samples.seq[:1]}"
    finally:
        stop_process(proc)


def test_the_stimulator_says_nothing_before_its_t0_then_stamps_from_it(tmp_path: Path) -> None:
    proc, path = start_hil("stimulator", "--out", str(tmp_path), "--t0-mono-ns", "stdin", stdin=subprocess.PIPE)
    try:
        with serial.Serial(path, timeout=2.0) as port:
            t0 = time.monotonic_ns() + int(QUIET_S * 1e9)  # sent at about t0: the device powers on then
            data, _ = _quiet_then_first_byte(port, proc, t0)
        assert data[:1] == b"\xf0", f"the first bytes after t0 are not a ScienceMode 2 packet: {data.hex(' ')}"
    finally:
        assert stop_process(proc) == 0
    first = read_jsonl(tmp_path / "device.jsonl")[0]
    assert first["command"] == "INIT" and first["dir"] == "tx", first
    # its session time is counted from the t0 it was sent (sent about at t0: the Init follows at once;
    # counted from its own start, it would be QUIET_S or more)
    assert 0.0 <= first["t_s"] < QUIET_S / 2, first


def test_a_missing_or_garbled_t0_line_is_exit_2_and_names_it(tmp_path: Path) -> None:
    for line in ("hello\n", "T0 -5\n", ""):
        proc, _ = start_hil("sensor", "--seed", "1", "--duration", "10", "--t0-mono-ns", "stdin",
                            "--truth", str(tmp_path / "truth.csv"), stdin=subprocess.PIPE)
        _send(proc, line)
        assert proc.wait(10) == 2, line
        assert proc.stderr is not None
        assert "expected the line 'T0 <CLOCK_MONOTONIC ns>'" in proc.stderr.read(), line


def test_an_emulator_gone_before_its_t0_is_a_device_init_error() -> None:
    """simulate's side: the child ended after its PORT line (crashed, killed); sending t0 must say
    so by name, not raise a bare BrokenPipeError."""
    from fescontrol.control.simulate import _send_t0
    from fescontrol.errors import DeviceInitError

    proc = subprocess.Popen([sys.executable, "-c", "pass"], stdin=subprocess.PIPE, text=True)
    proc.wait(10)
    with pytest.raises(DeviceInitError, match="sensor emulator ended before it was sent its time origin"):
        _send_t0(proc, "sensor", time.monotonic_ns())
