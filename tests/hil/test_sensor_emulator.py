"""Sensor emulator (heel, insole and IMU frames, WT901 packets; generated or recorded gait) as a
real process on a real pty, read with pyserial."""

from __future__ import annotations

import csv
import datetime
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import serial
from fescontrol_hil.gait import generate, write_recording_csv

from fescontrol.emulator_lines import parse_port_line, t0_line
from fescontrol.records.recording import read_recording, write_recording
from fescontrol.sensing.csv_lines import CsvLineDecoder
from fescontrol.sensing.frames import FrameDecoder, ImuFrameDecoder
from fescontrol.sensing.imu_samples import ImuSamples
from fescontrol.sensing.wt901 import Wt901Decoder

RUN = "import sys; from fescontrol_hil.sensor import run; sys.exit(run(sys.argv[1:]))"
DURATION_S = 12.0
RATE_HZ = 100.0
LEAD_NS = 250_000_000
"""t0 this long after the port is open: the emulator waits for it on stdin (`--t0-mono-ns stdin`),
so no guess of its start-up time is needed (it was a fixed 1.5 s ahead of the start)."""


@dataclass
class Session:
    t0_ns: int
    speed: float
    seq: np.ndarray
    heel_N: np.ndarray
    fore_N: np.ndarray
    recv_ns: np.ndarray
    decoder: FrameDecoder
    stdout: str
    returncode: int


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", RUN, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def open_port_then_t0(proc: subprocess.Popen[str]) -> tuple[str, serial.Serial, int]:
    """The PORT line, the port opened with pyserial, then t0 (LEAD_NS from now) sent to the emulator."""
    assert proc.stdout is not None and proc.stdin is not None
    line = proc.stdout.readline()
    path = parse_port_line(line)
    assert path is not None, (line, proc.stderr.read() if proc.stderr else "")
    ser = serial.Serial(path, timeout=0.05)
    t0 = time.monotonic_ns() + LEAD_NS
    proc.stdin.write(t0_line(t0))
    proc.stdin.flush()  # communicate() closes it at the end
    return line, ser, t0


def stream(tmp: Path, speed: float, seed: int, *extra: str) -> Session:
    return run_stream(tmp, speed, DURATION_S, "--duration", str(DURATION_S), "--rate", str(RATE_HZ),
                      "--seed", str(seed), *extra)


def run_stream(tmp: Path, speed: float, duration_s: float, *args: str) -> Session:
    proc = start(*args, "--speed", str(speed), "--t0-mono-ns", "stdin", "--truth", str(tmp / "truth.csv"))
    try:
        line, ser, t0 = open_port_then_t0(proc)
        dec = FrameDecoder()
        seqs, forces, fores, recv = [], [], [], []
        deadline = time.monotonic() + duration_s / speed + LEAD_NS / 1e9 + 10.0
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
            fores.append(out.fore_N)
            recv.append(np.full(out.seq.size, now, dtype=np.int64))
        ser.close()
        tail = dec.finish()
        seqs.append(tail.seq)
        forces.append(tail.heel_N)
        fores.append(tail.fore_N)
        recv.append(np.full(tail.seq.size, time.monotonic_ns(), dtype=np.int64))
        rest, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return Session(t0, speed, np.concatenate(seqs), np.concatenate(forces), np.concatenate(fores), np.concatenate(recv),
                   dec, line + rest, proc.returncode)


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


@pytest.mark.parametrize("option,value", [("--rate", "-5"), ("--seed", "-1")])
def test_bad_argument_exits_2(option: str, value: str) -> None:
    proc = start(option, value)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 2 and not out, err  # before the PORT line: nothing opened
    assert f"{option} {value}" in err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_a_stop_signal_exits_0_promptly(sig: signal.Signals) -> None:
    """SIGTERM, or SIGHUP (the terminal an emulator was started from by hand closed)."""
    proc = start("--duration", "30", "--speed", "1")
    try:
        assert proc.stdout is not None
        assert parse_port_line(proc.stdout.readline()) is not None
        time.sleep(0.3)
        t = time.monotonic()
        proc.send_signal(sig)
        assert proc.wait(timeout=5) == 0
        assert time.monotonic() - t < 1.0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def read_truth(path: Path) -> list[list[str]]:
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def quantised(x: np.ndarray) -> np.ndarray:
    return np.floor(np.clip(x.astype(np.float64), 0.0, 6553.5) * 10.0 + 0.5) / 10.0


def test_insole_frames_of_a_scenario(tmp_path: Path) -> None:
    s = stream(tmp_path, 6.0, 2, "--scenario", "pivot-turns", "--kind", "insole",
               "--recording", str(tmp_path / "rec.csv"))
    n = int(DURATION_S * RATE_HZ)
    assert s.returncode == 0 and s.stdout.splitlines()[-1] == f"DONE {n}"
    assert s.seq.tolist() == list(range(n))
    assert s.decoder.frames_insole == n and s.decoder.frames_heel == 0 and s.decoder.frames_bad == 0
    rec = generate("pivot-turns", 2, DURATION_S, RATE_HZ)
    assert rec.fore_N is not None
    np.testing.assert_allclose(s.heel_N, rec.heel_N.astype(np.float64), atol=0.05 + 1e-6)
    np.testing.assert_allclose(s.fore_N, rec.fore_N.astype(np.float64), atol=0.05 + 1e-6)
    assert read_truth(tmp_path / "truth.csv")[1:] == [[f"{t:.4f}", k] for t, k in rec.events]
    assert (tmp_path / "rec.csv").read_text().splitlines()[0] == "t_s,heel_N,fore_N"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, np.ndarray, np.ndarray, list]:
    """A CONTRACT insole recording at 50 Hz whose time starts at 5 s, with a 3-sample gap, and
    its events file."""
    folder = tmp_path_factory.mktemp("recorded")
    rec = generate("stop-and-go", 4, 10.0, 50.0)
    assert rec.fore_N is not None
    keep = np.ones(rec.t_s.size, bool)
    keep[200:203] = False
    heel, fore = np.round(rec.heel_N.astype(np.float64), 1), np.round(rec.fore_N.astype(np.float64), 1)
    events = [(t + 5.0, k, "generator") for t, k in rec.events]
    path = write_recording(folder, "walk", rec.t_s[keep] + 5.0, {"heel_N": heel[keep], "fore_N": fore[keep]},
                           events=events)
    return path, keep, heel, fore, list(rec.events)


def test_from_recording_streams_the_file_with_its_truth(tmp_path: Path, recorded) -> None:  # type: ignore[no-untyped-def]
    path, keep, heel, fore, events = recorded
    s = run_stream(tmp_path, 5.0, 10.0, "--from-recording", str(path), "--kind", "insole")
    assert s.returncode == 0, s.stdout
    idx = np.flatnonzero(keep)
    assert s.stdout.splitlines()[-1] == f"DONE {idx.size}"
    assert s.seq.tolist() == idx.tolist()  # the gap stays a gap: the counter skips it
    assert s.decoder.samples_dropped == 3 and s.decoder.frames_bad == 0
    np.testing.assert_allclose(s.heel_N, quantised(heel[keep]), atol=1e-6)
    np.testing.assert_allclose(s.fore_N, quantised(fore[keep]), atol=1e-6)
    # truth: the events file, on session time (seconds since the first row)
    assert read_truth(tmp_path / "truth.csv")[1:] == [[f"{t:.4f}", k] for t, k in events]
    # 50 Hz: the schedule follows the file's rate, not a default
    due = s.t0_ns + s.seq * (1e9 / (50.0 * s.speed))
    assert np.percentile((s.recv_ns - due) / 1e6, 95) < 20.0


def test_from_recording_heel_kind_with_faults(tmp_path: Path, recorded) -> None:  # type: ignore[no-untyped-def]
    path, keep, heel, _, _ = recorded
    s = run_stream(tmp_path, 6.0, 10.0, "--from-recording", str(path), "--stick", "unloaded",
                   "--stick-from", "swing:2", "--keep-every", "2", "--loss-from", "6")
    assert s.returncode == 0
    assert s.decoder.frames_heel == s.seq.size and s.decoder.frames_insole == 0
    assert np.isnan(s.fore_N).all()
    toe_offs = [float(r[0]) for r in read_truth(tmp_path / "truth.csv")[1:] if r[1] == "toe_off"]
    k_stick = int(np.ceil((toe_offs[1] + 0.1) * 50.0 - 1e-6))
    k_loss = 300
    idx = np.flatnonzero(keep)
    want = idx[(idx < k_loss) | ((idx - k_loss + 1) % 2 == 0)]
    assert s.seq.tolist() == want.tolist()
    got = dict(zip(s.seq.tolist(), s.heel_N.tolist()))
    assert all(got[k] == 0.0 for k in want if k >= k_stick)
    early = [k for k in want if k < k_stick]
    np.testing.assert_allclose([got[k] for k in early], quantised(heel[early]), atol=1e-6)


@pytest.mark.parametrize("extra,needle", [
    (("--kind", "insole"), "fore_N"),
    (("--scenario", "healthy"), "--scenario"),
    (("--rate", "100"), "50 Hz"),
])
def test_from_recording_bad_arguments_exit_2(tmp_path: Path, extra: tuple[str, ...], needle: str) -> None:
    rec = generate("healthy", 1, 10.0, 50.0)
    path = write_recording(tmp_path, "heel", rec.t_s, {"heel_N": np.round(rec.heel_N.astype(np.float64), 1)})
    proc = start("--from-recording", str(path), *extra)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 2 and not out
    assert needle in err


# -- IMU kinds: our 6-axis frame, WT901 packets; axes as mounted; IMU recordings -------------------
@dataclass
class ImuSession:
    samples: ImuSamples
    decoder: Any
    stdout: str
    returncode: int


def run_imu_stream(tmp: Path, speed: float, duration_s: float, decoder: Any, *args: str) -> ImuSession:
    """Start the emulator, read its pty with pyserial until it ends, decode with `decoder`."""
    proc = start(*args, "--speed", str(speed), "--t0-mono-ns", "stdin", "--truth", str(tmp / "truth.csv"))
    outs = []
    try:
        line, ser, _ = open_port_then_t0(proc)
        deadline = time.monotonic() + duration_s / speed + LEAD_NS / 1e9 + 10.0
        while time.monotonic() < deadline:
            try:
                data = ser.read(max(1, ser.in_waiting))
            except (OSError, serial.SerialException):
                break
            if data:
                outs.append(decoder.feed(data))
            elif proc.poll() is not None:
                break
        ser.close()
        outs.append(decoder.finish())
        rest, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    samples = ImuSamples(seq=np.concatenate([o.seq for o in outs]), gyr_dps=np.vstack([o.gyr_dps for o in outs]),
                         acc_g=np.vstack([o.acc_g for o in outs]))
    return ImuSession(samples, decoder, line + rest, proc.returncode)


IMU_DURATION_S = 10.0


def test_foot_imu_frames_of_a_scenario(tmp_path: Path) -> None:
    s = run_imu_stream(tmp_path, 10.0, IMU_DURATION_S, ImuFrameDecoder(), "--kind", "foot-imu", "--scenario",
                       "pivot-turns", "--seed", "2", "--duration", str(IMU_DURATION_S),
                       "--recording", str(tmp_path / "foot.csv"))
    n = int(IMU_DURATION_S * RATE_HZ)
    assert s.returncode == 0 and s.stdout.splitlines()[-1] == f"DONE {n}"
    assert s.samples.seq.tolist() == list(range(n))
    assert s.decoder.frames_bad == s.decoder.bytes_discarded == s.decoder.frames_skipped == 0
    rec = generate("pivot-turns", 2, IMU_DURATION_S, RATE_HZ)
    foot = rec.imu("foot").astype(np.float64)
    np.testing.assert_allclose(s.samples.gyr_dps, foot[:, :3], atol=0.05 + 1e-4)
    np.testing.assert_allclose(s.samples.acc_g, foot[:, 3:], atol=0.0005 + 1e-6)
    assert read_truth(tmp_path / "truth.csv")[1:] == [[f"{t:.4f}", k] for t, k in rec.events]
    written = read_recording(tmp_path / "foot.csv")
    assert written.kind == "imu" and written.sidecar["mount"] == "foot"
    np.testing.assert_allclose(written.columns["gyr_y_dps"], foot[:, 1], atol=0.006)


def test_shank_imu_axes_as_mounted_with_garbage(tmp_path: Path) -> None:
    s = run_imu_stream(tmp_path, 10.0, IMU_DURATION_S, ImuFrameDecoder(), "--kind", "shank-imu", "--axes=-y,z,-x",
                       "--scenario", "stairs", "--seed", "3", "--duration", str(IMU_DURATION_S),
                       "--noise-garbage-every", "9")
    n = int(IMU_DURATION_S * RATE_HZ)
    assert s.returncode == 0
    assert s.samples.seq.tolist() == list(range(n))  # garbage costs no sample
    assert s.decoder.bytes_discarded > 0
    shank = generate("stairs", 3, IMU_DURATION_S, RATE_HZ).imu("shank").astype(np.float64)
    for block, got in ((shank[:, :3], s.samples.gyr_dps), (shank[:, 3:], s.samples.acc_g)):
        want = np.stack((-block[:, 1], block[:, 2], -block[:, 0]), axis=1)
        np.testing.assert_allclose(got, want, atol=0.05 + 1e-4)


def test_wt901_packets_of_the_foot_imu(tmp_path: Path) -> None:
    s = run_imu_stream(tmp_path, 10.0, IMU_DURATION_S, Wt901Decoder(), "--kind", "wt901", "--scenario", "healthy",
                       "--seed", "5", "--duration", str(IMU_DURATION_S), "--rate", "50", "--baud", "19200")
    n = int(IMU_DURATION_S * 50)
    assert s.returncode == 0 and s.stdout.splitlines()[-1] == f"DONE {n}"
    assert s.samples.seq.tolist() == list(range(n))  # arrival order: WT901 has no counter
    assert s.decoder.frames_ok == 2 * n and s.decoder.frames_bad == s.decoder.pairs_broken == 0
    foot = generate("healthy", 5, IMU_DURATION_S, 50.0).imu("foot").astype(np.float64)
    np.testing.assert_allclose(s.samples.gyr_dps, foot[:, :3], atol=2000 / 32768)
    np.testing.assert_allclose(s.samples.acc_g, foot[:, 3:], atol=16 / 32768)


def test_wt901_time_packets_place_the_samples_across_dropouts(tmp_path: Path) -> None:
    """`--wt901-time`: each cycle starts with its time packet (the emulated clock reads 2026-01-01
    at sample 0); with dropouts (whole cycles not sent) a decoder told the rate numbers every
    sample where it belongs, and counts the lost ones."""
    args = ("--kind", "wt901", "--wt901-time", "--scenario", "healthy", "--seed", "6", "--duration",
            str(IMU_DURATION_S), "--rate", "200", "--imu-dropouts-per-min", "30")
    s = run_imu_stream(tmp_path, 10.0, IMU_DURATION_S, Wt901Decoder(rate_hz=200.0), *args)
    foot = generate("healthy", 6, IMU_DURATION_S, 200.0, imu_dropouts_per_min=30.0).imu("foot").astype(np.float64)
    sent = np.flatnonzero(np.isfinite(foot[:, 0]))
    n = int(IMU_DURATION_S * 200)
    assert s.returncode == 0 and s.stdout.splitlines()[-1] == f"DONE {len(sent)}"  # samples sent
    assert len(sent) < n - 5  # dropouts happened
    assert s.samples.seq.tolist() == sent.tolist()
    assert s.decoder.samples_dropped == n - len(sent) - (n - 1 - sent[-1])  # lost after the last sample: unseen
    assert s.decoder.frames_ok == 3 * len(sent) and s.decoder.frames_bad == s.decoder.pairs_broken == 0
    assert s.decoder.last_time_ms == (datetime.date(2026, 1, 1) - datetime.date(2000, 1, 1)).days * 86_400_000 \
        + 5 * int(sent[-1])
    np.testing.assert_allclose(s.samples.gyr_dps, foot[sent, :3], atol=2000 / 32768)


def test_csv_lines_of_the_foot_imu_with_garbage_lines(tmp_path: Path) -> None:
    """A sketch printing CSV lines: the header first, one line per sample; injected garbage is a
    bad line of its own, so no sample is lost to it."""
    s = run_imu_stream(tmp_path, 10.0, IMU_DURATION_S, CsvLineDecoder(skip_first_line=True), "--kind", "csv-imu",
                       "--scenario", "healthy", "--seed", "4", "--duration", str(IMU_DURATION_S),
                       "--noise-garbage-every", "7")
    n = int(IMU_DURATION_S * RATE_HZ)
    assert s.returncode == 0 and s.stdout.splitlines()[-1] == f"DONE {n}"
    assert s.samples.seq.tolist() == list(range(n))
    assert s.decoder.header_lines == 1 and s.decoder.lines_bad >= n // 7 and s.decoder.samples_dropped == 0
    foot = generate("healthy", 4, IMU_DURATION_S, RATE_HZ).imu("foot").astype(np.float64)
    np.testing.assert_allclose(s.samples.gyr_dps, foot[:, :3], atol=0.005 + 1e-6)
    np.testing.assert_allclose(s.samples.acc_g, foot[:, 3:], atol=0.00005 + 1e-7)


def test_imu_recording_with_dropouts_streams_its_gaps(tmp_path: Path) -> None:
    rec = generate("hemiparetic", 6, 10.0, 50.0, imu_dropouts_per_min=30.0)
    write_recording_csv(rec, tmp_path / "walk.csv", imu="shank")
    src = read_recording(tmp_path / "walk.csv")
    want = np.flatnonzero(np.all(np.isfinite(rec.imu("shank")), axis=1))
    assert src.missing_samples > 0
    s = run_imu_stream(tmp_path, 10.0, 10.0, ImuFrameDecoder(), "--kind", "shank-imu",
                       "--from-recording", str(tmp_path / "walk.csv"))
    assert s.returncode == 0
    assert s.samples.seq.tolist() == want.tolist()  # a dropout is a gap in the counter, not a held value
    assert s.decoder.samples_dropped == src.missing_samples
    np.testing.assert_allclose(s.samples.gyr_dps[:, 1], src.columns["gyr_y_dps"], atol=0.05 + 1e-6)
    np.testing.assert_allclose(s.samples.acc_g[:, 2], src.columns["acc_z_g"], atol=0.0005 + 1e-6)


def test_generated_dropouts_and_saturation(tmp_path: Path) -> None:
    s = run_imu_stream(tmp_path, 10.0, IMU_DURATION_S, ImuFrameDecoder(), "--kind", "foot-imu", "--seed", "8",
                       "--duration", str(IMU_DURATION_S), "--gyro-range", "250", "--imu-dropouts-per-min", "30")
    foot = generate("healthy", 8, IMU_DURATION_S, RATE_HZ, gyro_range_dps=250.0, imu_dropouts_per_min=30.0).imu("foot")
    want = np.flatnonzero(np.all(np.isfinite(foot), axis=1))
    assert s.returncode == 0 and 0 < s.decoder.samples_dropped == foot.shape[0] - want.size
    assert s.samples.seq.tolist() == want.tolist()
    assert np.abs(s.samples.gyr_dps).max() == pytest.approx(250.0)  # the swing clips at the gyro's range
    np.testing.assert_allclose(s.samples.gyr_dps, foot[want, :3], atol=0.05 + 1e-4)


@pytest.mark.parametrize("extra,needle", [
    (("--kind", "foot-imu", "--axes=x,x,z"), "--axes"),
    (("--kind", "heel", "--imu-dropouts-per-min", "5"), "IMU kind"),
    (("--kind", "foot-imu", "--stick", "loaded"), "--stick"),
    (("--kind", "heel", "--axes=y,x,z"), "IMU kind"),
    (("--kind", "wt901", "--rate", "150"), "WT901 sends at"),
    (("--kind", "wt901", "--rate", "200", "--baud", "38400"), "bit/s"),
    (("--kind", "foot-imu", "--baud", "9600"), "--baud"),
    (("--kind", "wt901", "--restart-at", "5"), "carry no counter"),
    (("--kind", "wt901", "--rate", "200", "--baud", "57600", "--wt901-time"), "200 Hz of wt901-time samples (33 bytes "
                                                                               "each) need 66000 bit/s"),
    (("--kind", "foot-imu", "--wt901-time"), "--wt901-time: only with --kind wt901"),
])
def test_imu_bad_arguments_exit_2(extra: tuple[str, ...], needle: str) -> None:
    proc = start("--duration", "10", *extra)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 2 and not out, err
    assert needle in err


@pytest.mark.parametrize("extra,needle", [(("--kind", "heel"), "IMU kind"), (("--kind", "shank-imu"), "mount"),
                                          (("--kind", "foot-imu", "--gyro-range", "250"), "--gyro-range")])
def test_imu_recording_bad_kind_exits_2(tmp_path: Path, extra: tuple[str, ...], needle: str) -> None:
    write_recording_csv(generate("healthy", 1, 10.0, 50.0), tmp_path / "imu.csv", imu="foot")
    proc = start("--from-recording", str(tmp_path / "imu.csv"), *extra)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 2 and not out and needle in err, err
