"""Heel-switch sensor emulator as a real process on a real pty, read with pyserial."""

from __future__ import annotations

import csv
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import serial
from fescontrol_hil.gait import generate

from fescontrol.sensing.frames import FrameDecoder

RUN = "import sys; from fescontrol_hil.sensor import run; sys.exit(run(sys.argv[1:]))"
DURATION_S = 12.0
RATE_HZ = 100.0
LEAD_NS = 1_500_000_000  # t0 this far ahead: the process must start and we must open the port


@dataclass
class Session:
    t0_ns: int
    speed: float
    seq: np.ndarray
    heel_N: np.ndarray
    recv_ns: np.ndarray
    decoder: FrameDecoder
    stdout: str
    returncode: int
    port_seen_ns: int


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", RUN, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def stream(tmp: Path, speed: float, seed: int, *extra: str) -> Session:
    t0 = time.monotonic_ns() + LEAD_NS
    proc = start("--duration", str(DURATION_S), "--rate", str(RATE_HZ), "--seed", str(seed),
                 "--speed", str(speed), "--t0-mono-ns", str(t0), "--truth", str(tmp / "truth.csv"),
                 *extra)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        port_seen = time.monotonic_ns()
        assert line.startswith("PORT "), line
        ser = serial.Serial(line.split(" ", 1)[1].strip(), timeout=0.05)
        dec = FrameDecoder()
        seqs, forces, recv = [], [], []
        deadline = time.monotonic() + DURATION_S / speed + LEAD_NS / 1e9 + 10.0
        while time.monotonic() < deadline:
            try:
                data = ser.read(max(1, ser.in_waiting))
            except (OSError, serial.SerialException):
                break  # the emulator exited: the pty is gone, the stream has ended
            now = time.monotonic_ns()
            if not data:
                if proc.poll() is not None:
                    break
                continue
            out = dec.feed(data)
            seqs.append(out.seq)
            forces.append(out.heel_N)
            recv.append(np.full(out.seq.size, now, dtype=np.int64))
        ser.close()
        tail = dec.finish()
        seqs.append(tail.seq)
        forces.append(tail.heel_N)
        recv.append(np.full(tail.seq.size, time.monotonic_ns(), dtype=np.int64))
        rest, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return Session(t0, speed, np.concatenate(seqs), np.concatenate(forces), np.concatenate(recv),
                   dec, line + rest, proc.returncode, port_seen)


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Session, Path]:
    tmp = tmp_path_factory.mktemp("clean")
    return stream(tmp, 2.0, 3, "--scenario", "hemiparetic"), tmp


def test_all_samples_arrive_intact(clean: tuple[Session, Path]) -> None:
    s, _ = clean
    n = int(DURATION_S * RATE_HZ)
    assert s.returncode == 0
    assert s.stdout.splitlines()[-1] == f"DONE {n}"
    assert s.seq.tolist() == list(range(n))
    assert s.decoder.frames_bad == 0 and s.decoder.bytes_discarded == 0
    assert s.decoder.samples_dropped == 0
    rec = generate("hemiparetic", 3, DURATION_S, RATE_HZ)
    np.testing.assert_allclose(s.heel_N, rec.heel_N.astype(np.float64), atol=0.05 + 1e-6)


def test_timing_follows_the_absolute_schedule(clean: tuple[Session, Path]) -> None:
    s, _ = clean
    assert s.port_seen_ns < s.t0_ns, "emulator started too slowly for this test's lead time"
    due = s.t0_ns + s.seq * (1e9 / (RATE_HZ * s.speed))
    late_ms = (s.recv_ns - due) / 1e6
    assert late_ms.min() > -0.5  # never sent ahead of its deadline
    assert np.percentile(late_ms, 95) < 20.0
    # no drift: the last samples are as punctual as the first ones
    assert np.median(late_ms[-200:]) < 20.0


def test_truth_csv_matches_generator(clean: tuple[Session, Path]) -> None:
    _, tmp = clean
    rec = generate("hemiparetic", 3, DURATION_S, RATE_HZ)
    with open(tmp / "truth.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["t_s", "event"]
    assert rows[1:] == [[f"{t:.4f}", k] for t, k in rec.events]


def test_garbage_injection_bad_frames_but_no_lost_samples(tmp_path: Path) -> None:
    s = stream(tmp_path, 4.0, 5, "--noise-garbage-every", "25")
    n = int(DURATION_S * RATE_HZ)
    assert s.returncode == 0
    assert s.decoder.frames_bad > 0
    assert s.decoder.bytes_discarded > 0
    assert s.seq.tolist() == list(range(n))
    rec = generate("healthy", 5, DURATION_S, RATE_HZ)
    np.testing.assert_allclose(s.heel_N, rec.heel_N.astype(np.float64), atol=0.05 + 1e-6)


def test_bad_argument_exits_2() -> None:
    proc = start("--rate", "-5")
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 2
    assert "--rate" in err and "-5" in err


def test_sigterm_exits_0_promptly() -> None:
    proc = start("--duration", "30", "--speed", "1")
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("PORT ")
        time.sleep(0.3)
        t = time.monotonic()
        proc.terminate()
        assert proc.wait(timeout=5) == 0
        assert time.monotonic() - t < 1.0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
