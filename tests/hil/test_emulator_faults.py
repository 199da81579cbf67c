"""Fault injection in both emulators, as real processes on real ptys: each flag does what it says.

Kept short: fault times are about a second after the emulator starts, the sensor streams
10 s at 20x speed. Device behaviour in detail is covered with a fake clock in
tests/unit/test_rehastim2_model.py; here the I/O and the logs are checked.
"""

from __future__ import annotations

import math
import os
import select
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pytest
import serial
from fescontrol_hil.gait import generate

from fescontrol.protocol import sciencemode2 as sm2
from fescontrol.protocol.sciencemode2 import Ack, ChannelSetting
from fescontrol.sensing.frames import FrameDecoder, encode_heel_frame

from .conftest import read_csv, read_jsonl, start_hil, stop_process

TWO = [ChannelSetting(0, 300, 30), ChannelSetting(0, 250, 20)]
UPDATE = [ChannelSetting(0, 300, 45), ChannelSetting(0, 250, 20)]
FAULT_S = 0.8  # emulator fault time: after the handshake, init and start of `started_host`


# ======================================================================= stimulator


class Stim:
    """The stimulator emulator with t0 = just before it was started."""

    def __init__(self, out: Path, *extra: str) -> None:
        self.out = out
        self.t0_ns = time.monotonic_ns()
        self.proc, self.port = start_hil("stimulator", "--out", str(out), "--t0-mono-ns", str(self.t0_ns), *extra)

    def t_s(self, t_mono_ns: int) -> float:
        return (t_mono_ns - self.t0_ns) / 1e9

    def wait_until(self, s: float) -> None:
        time.sleep(max(0.0, self.t0_ns / 1e9 + s - time.monotonic_ns() / 1e9))

    def stim(self) -> list[tuple[float, int, int]]:
        return [(float(r["t_s"]), int(r["channel"]), int(r["current_mA"])) for r in read_csv(self.out / "stim.csv")]

    def log(self) -> list[dict[str, object]]:
        return read_jsonl(self.out / "device.jsonl")

    def faults(self) -> list[dict[str, object]]:
        return [e for e in self.log() if e.get("kind") == "fault_injected"]


class Host:
    """A minimal ScienceMode2 host that keeps every raw byte and every message with its arrival time."""

    def __init__(self, port: str) -> None:
        self.ser = serial.Serial(port, baudrate=460800, parity=serial.PARITY_EVEN, timeout=0.01)
        self.decoder = sm2.Decoder()
        self.raw = bytearray()
        self.inbox: list[tuple[int, sm2.Message]] = []
        self.bad: list[sm2.BadFrame] = []
        self.pn = 0

    def close(self) -> None:
        self.ser.close()

    def pump(self) -> None:
        data = self.ser.read(max(1, self.ser.in_waiting))  # returns as soon as a byte is there
        now = time.monotonic_ns()
        self.raw += data
        for item in self.decoder.feed(data):
            if isinstance(item, sm2.BadFrame):
                self.bad.append(item)
            else:
                self.inbox.append((now, sm2.parse(item)))

    def expect(self, match: Callable[[sm2.Message], bool], timeout: float = 1.0) -> tuple[int, sm2.Message]:
        end = time.monotonic() + timeout
        while True:
            for i, (_t, msg) in enumerate(self.inbox):
                if match(msg):
                    return self.inbox.pop(i)
            assert time.monotonic() < end, f"nothing matched within {timeout} s; got {self.inbox}"
            self.pump()

    def listen(self, seconds: float) -> list[sm2.Message]:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.pump()
        out = [m for _t, m in self.inbox]
        self.inbox.clear()
        return out

    def send(self, build: Callable[[int], bytes]) -> int:
        self.pn = (self.pn + 1) % 256
        self.ser.write(build(self.pn))
        return self.pn

    def ack(self, pn: int, result: int | None = None, timeout: float = 1.0) -> Ack:
        _t, msg = self.expect(lambda m: isinstance(m, Ack) and m.packet_number == pn
                              and (result is None or m.result == result), timeout)
        assert isinstance(msg, Ack)
        return msg

    def command(self, build: Callable[[int], bytes]) -> Ack:
        return self.ack(self.send(build))


def _init(pn: int) -> bytes:
    return sm2.init_channel_list_mode(pn, active_channels=0b11, group_time_code=13, main_time_code=48)


def started_host(stim: Stim) -> Host:
    host = Host(stim.port)
    _t, init = host.expect(lambda m: isinstance(m, sm2.Init), timeout=1.5)
    host.ser.write(sm2.init_ack(init.packet_number))
    assert host.command(_init).result == 0
    assert host.command(lambda pn: sm2.start_channel_list_mode(pn, TWO)).result == 0
    assert time.monotonic_ns() < stim.t0_ns + FAULT_S * 1e9, "emulator too slow for this test's fault time"
    return host


@pytest.fixture
def stimulator(tmp_path: Path) -> Iterator[Callable[..., Stim]]:
    started: list[Stim] = []

    def start(*extra: str) -> Stim:
        emu = Stim(tmp_path, *extra)
        started.append(emu)
        return emu

    yield start
    for emu in started:
        stop_process(emu.proc)


def _fault(stim: Stim, name: str) -> list[dict[str, object]]:
    return [e for e in stim.faults() if e["fault"] == name]


def test_busy_from_refuses_start_at_once_stop_still_works(stimulator: Callable[..., Stim]) -> None:
    stim = stimulator("--busy-from", str(FAULT_S))
    host = started_host(stim)
    try:
        stim.wait_until(FAULT_S + 0.05)
        t_send = time.monotonic_ns()
        pn = host.send(lambda pn: sm2.start_channel_list_mode(pn, UPDATE))
        t_ack, _ = host.expect(lambda m: isinstance(m, Ack) and m.packet_number == pn and m.result == -8)
        assert (t_ack - t_send) / 1e6 < 8.0  # at once, not after the 10 ms processing time
        assert host.command(sm2.get_stimulation_mode).extra == b"\x02"  # still started, old values
        assert host.command(sm2.stop_channel_list_mode).result == 0
    finally:
        host.close()
    assert stop_process(stim.proc) == 0
    rows = stim.stim()
    assert [(ch, ma) for _t, ch, ma in rows] == [(1, 30), (2, 20), (1, 0), (2, 0)]  # the update never applied
    assert rows[2][0] > FAULT_S
    busy = _fault(stim, "busy")
    assert busy[0]["effect"] == "active" and busy[0]["t_s"] == pytest.approx(FAULT_S, abs=1e-6)
    assert busy[1]["effect"] == "refused" and busy[1]["packet_number"] == pn
    rx, tx = [e for e in stim.log() if e.get("packet_number") == pn and "dir" in e]
    assert (rx["dir"], tx["dir"], tx["result"]) == ("rx", "tx", -8) and rx["t_mono_ns"] == tx["t_mono_ns"]
    assert "busy" in (stim.proc.stderr.read() if stim.proc.stderr else "")


def test_ack_then_busy_acks_ok_then_busy_and_keeps_the_old_current(stimulator: Callable[..., Stim]) -> None:
    stim = stimulator("--ack-then-busy-from", str(FAULT_S))
    host = started_host(stim)
    try:
        stim.wait_until(FAULT_S + 0.05)
        for build in (lambda pn: sm2.start_channel_list_mode(pn, UPDATE), sm2.stop_channel_list_mode):
            pn = host.send(build)

            def answer(m: sm2.Message, pn: int = pn) -> bool:
                return isinstance(m, Ack) and m.packet_number == pn

            t_ok, ok = host.expect(answer)
            t_busy, busy = host.expect(answer)
            assert isinstance(ok, Ack) and isinstance(busy, Ack)
            assert (ok.result, busy.result) == (0, -8) and ok.command == busy.command
            assert 3.0 < (t_busy - t_ok) / 1e6 < 60.0  # one ack delay (10 ms) apart
        t_stop = time.monotonic_ns()
        host.listen(0.1)
    finally:
        host.close()
    assert stop_process(stim.proc) == 0
    rows = stim.stim()
    # after the "accepted" Stop the old current went on until the emulator was terminated
    assert [(ch, ma) for _t, ch, ma in rows] == [(1, 30), (2, 20), (1, 0), (2, 0)]
    assert rows[2][0] > stim.t_s(t_stop) + 0.05
    effects = [e["effect"] for e in _fault(stim, "ack_then_busy")]
    assert effects == ["active", "acked_not_applied", "acked_not_applied"]


def test_garbage_bytes_between_frames_never_start_a_frame(stimulator: Callable[..., Stim]) -> None:
    stim = stimulator("--garbage-bytes", "7", "--garbage-every-ms", "20", "--garbage-seed", "3")
    host = Host(stim.port)
    try:
        _t, init = host.expect(lambda m: isinstance(m, sm2.Init), timeout=1.5)
        host.ser.write(sm2.init_ack(init.packet_number))
        assert host.command(_init).result == 0
        host.listen(0.4)
        t_end = time.monotonic_ns() - 5_000_000  # bursts before this have been read
    finally:
        host.close()
    assert stop_process(stim.proc) == 0
    records = _fault(stim, "garbage")
    garbage = [bytes.fromhex(str(e["hex"])) for e in records]
    assert len(garbage) >= 15 and all(len(g) == 7 and 0xF0 not in g for g in garbage)
    assert host.bad == []  # noise between frames: every frame still decodes
    assert host.decoder.bytes_discarded >= 7 * 15
    got = bytes(host.raw)
    pos = 0
    for e, g in zip(records, garbage):  # every burst reached the host, whole and in order
        if int(str(e["t_mono_ns"])) < t_end:
            pos = got.index(g, pos) + len(g)
    times = [float(str(e["t_s"])) for e in _fault(stim, "garbage")]
    assert 0.018 < float(np.median(np.diff(times))) < 0.022


def test_silent_device_applies_stop_but_sends_nothing(stimulator: Callable[..., Stim]) -> None:
    stim = stimulator("--silent-from", str(FAULT_S))
    host = started_host(stim)
    try:
        stim.wait_until(FAULT_S + 0.05)
        host.listen(0.01)
        t_stop = time.monotonic_ns()
        host.send(sm2.stop_channel_list_mode)
        assert host.listen(0.2) == []
    finally:
        host.close()
    assert stop_process(stim.proc) == 0
    rows = stim.stim()
    assert [(ch, ma) for _t, ch, ma in rows] == [(1, 30), (2, 20), (1, 0), (2, 0)]
    assert stim.t_s(t_stop) < rows[2][0] < stim.t_s(t_stop) + 0.05  # applied after the ack delay
    suppressed = [e for e in stim.log() if e.get("dir") == "tx_suppressed"]
    assert suppressed and suppressed[0]["command"] == "STOP_CHANNEL_LIST_MODE_ACK"
    assert not [e for e in stim.log() if e.get("dir") == "tx" and float(str(e["t_s"])) >= FAULT_S]


@pytest.mark.parametrize(("flag", "error", "name"), [("--emergency-switch-at", -1, "emergency_switch"),
                                                     ("--electrode-error-at", -2, "electrode_error"),
                                                     ("--module-error-at", -3, "module_error")])
def test_stimulation_error_turns_outputs_off_at_that_instant(stimulator: Callable[..., Stim], flag: str,
                                                             error: int, name: str) -> None:
    stim = stimulator(flag, str(FAULT_S))
    host = started_host(stim)
    try:
        _t, err = host.expect(lambda m: isinstance(m, sm2.StimulationError), timeout=1.5)
        assert isinstance(err, sm2.StimulationError) and err.error == error
    finally:
        host.close()
    assert stop_process(stim.proc) == 0
    assert stim.stim()[2:] == [(FAULT_S, 1, 0), (FAULT_S, 2, 0)]
    (rec,) = _fault(stim, name)
    assert rec["effect"] == "outputs_off" and rec["error"] == error


def test_reset_turns_off_and_sends_init_every_500_ms(stimulator: Callable[..., Stim]) -> None:
    stim = stimulator("--reset-at", str(FAULT_S))
    host = started_host(stim)
    try:
        t1, first = host.expect(lambda m: isinstance(m, sm2.Init), timeout=1.5)
        t2, second = host.expect(lambda m: isinstance(m, sm2.Init), timeout=1.0)
        assert (first.packet_number, second.packet_number) == (0, 1)  # counter restarts as after power-up
        assert 0.45 < (t2 - t1) / 1e9 < 0.55
        assert stim.t_s(t1) >= FAULT_S
        host.ser.write(sm2.init_ack(1))
        assert host.command(lambda pn: sm2.start_channel_list_mode(pn, TWO)).result == -3  # must re-init
    finally:
        host.close()
    assert stop_process(stim.proc) == 0
    assert stim.stim()[2:] == [(FAULT_S, 1, 0), (FAULT_S, 2, 0)]
    assert [e["effect"] for e in _fault(stim, "reset")] == ["outputs_off"]


def test_unplug_closes_the_port_and_the_watchdog_stops_the_output(stimulator: Callable[..., Stim]) -> None:
    stim = stimulator("--unplug-at", str(FAULT_S))
    host = started_host(stim)
    failed_at = None
    try:
        for _ in range(100):  # keep-alive every 50 ms until the port goes away
            try:
                host.ser.write(sm2.watchdog(0))
                host.pump()
            except (OSError, serial.SerialException):
                failed_at = time.monotonic_ns()
                break
            time.sleep(0.05)
    finally:
        host.close()
    assert failed_at is not None and FAULT_S <= stim.t_s(failed_at) < FAULT_S + 0.2
    assert stim.proc.wait(timeout=2.0) == 0  # exits by itself once the watchdog stopped the output
    last_rx = [e for e in stim.log() if e.get("dir") == "rx"][-1]
    t_last = float(str(last_rx["t_s"]))
    rows = stim.stim()
    assert [(ch, ma) for _t, ch, ma in rows] == [(1, 30), (2, 20), (1, 0), (2, 0)]
    assert rows[2][0] == pytest.approx(t_last + 1.2, abs=2e-4)
    (rec,) = _fault(stim, "unplug")
    assert rec["effect"] == "port_closed" and float(str(rec["t_s"])) >= FAULT_S


def test_bad_fault_arguments_exit_2() -> None:
    for args in (["--garbage-bytes", "3"], ["--garbage-bytes", "3", "--garbage-every-ms", "0"],
                 ["--busy-from", "nan"]):
        r = subprocess.run([sys.executable, "-m", "fescontrol_hil", "stimulator", *args],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 2, (args, r.stderr)


# ======================================================================= sensor

DURATION_S = 10.0
RATE_HZ = 100.0
SPEED = 20.0
SEED = 4
UNREAD_AT_HANGUP_S = 0.010
N = int(DURATION_S * RATE_HZ)


@dataclass
class SensorRun:
    t0_ns: int
    seq: np.ndarray
    heel_N: np.ndarray
    recv_ns: np.ndarray
    decoder: FrameDecoder
    returncode: int
    stdout: str
    stderr: str
    ended_ns: int  # the port hung up (EIO/EOF)
    exited_ns: int
    raw: bytearray = field(default_factory=bytearray)

    def due_ns(self, k: int) -> float:
        return self.t0_ns + k * 1e9 / (RATE_HZ * SPEED)


def sense(tmp: Path, *extra: str) -> SensorRun:
    """Stream 10 s at 20x; read the slave with os.read (no flush on open, so no lead is needed)."""
    t0 = time.monotonic_ns() + 600_000_000
    proc, port = start_hil("sensor", "--duration", str(DURATION_S), "--rate", str(RATE_HZ), "--seed", str(SEED),
                           "--speed", str(SPEED), "--t0-mono-ns", str(t0), "--truth", str(tmp / "truth.csv"), *extra)
    fd = os.open(port, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    dec = FrameDecoder()
    seqs, forces, recv = [], [], []
    raw = bytearray()
    ended = 0
    try:
        deadline = time.monotonic() + DURATION_S / SPEED + 5.0
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.01)
            if not ready:
                continue
            try:
                data = os.read(fd, 4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            now = time.monotonic_ns()
            if not data:
                ended = now
                break
            raw += data
            out = dec.feed(data)
            seqs.append(out.seq)
            forces.append(out.heel_N)
            recv.append(np.full(out.seq.size, now, dtype=np.int64))
        tail = dec.finish()
        seqs.append(tail.seq)
        forces.append(tail.heel_N)
        recv.append(np.full(tail.seq.size, time.monotonic_ns(), dtype=np.int64))
        rc = proc.wait(timeout=5)
        exited = time.monotonic_ns()
        out_text = proc.stdout.read() if proc.stdout else ""
        err_text = proc.stderr.read() if proc.stderr else ""
    finally:
        os.close(fd)
        stop_process(proc)
    return SensorRun(t0, np.concatenate(seqs), np.concatenate(forces), np.concatenate(recv), dec, rc,
                     out_text, err_text, ended, exited, raw)


REC = generate("healthy", SEED, DURATION_S, RATE_HZ)
HEEL = REC.heel_N.astype(np.float64)
TOE_OFFS = [t for t, kind in REC.events if kind == "toe_off"]


def swing_index(n: int) -> int:
    return math.ceil((TOE_OFFS[n - 1] + 0.1) * RATE_HZ - 1e-6)


def test_corrupt_k_of_m_from_loss_from(tmp_path: Path) -> None:
    run = sense(tmp_path, "--corrupt", "3/4", "--loss-from", "2.0")
    assert run.returncode == 0
    good = list(range(200)) + [k for k in range(200, N) if (k - 200) % 4 == 3]
    assert run.seq.tolist() == good
    assert run.decoder.frames_bad == sum(1 for k in range(200, N) if (k - 200) % 4 < 3)
    np.testing.assert_allclose(run.heel_N, HEEL[good], atol=0.05 + 1e-6)
    assert "fault injected" in run.stderr and run.stdout.strip() == f"DONE {N}"


def test_keep_every_drops_frames_but_the_counter_advances(tmp_path: Path) -> None:
    run = sense(tmp_path, "--keep-every", "3", "--loss-from", "1.0")
    kept = list(range(100)) + [k for k in range(100, N) if (k - 100) % 3 == 2]
    assert run.returncode == 0 and run.seq.tolist() == kept
    assert run.decoder.frames_bad == 0 and run.decoder.samples_dropped == N - len(kept)
    assert run.stdout.strip() == f"DONE {len(kept)}"


def test_stick_loaded_from_mid_swing_and_truth_unchanged(tmp_path: Path) -> None:
    run = sense(tmp_path, "--stick", "loaded", "--stick-from", "swing:2")
    k = swing_index(2)
    assert run.seq.tolist() == list(range(N))
    np.testing.assert_allclose(run.heel_N[:k], HEEL[:k], atol=0.05 + 1e-6)
    assert HEEL[k] < 40.0  # it really starts in swing
    assert (run.heel_N[k:] == 600.0).all()
    rows = (tmp_path / "truth.csv").read_text().splitlines()
    assert rows[1:] == [f"{t:.4f},{kind}" for t, kind in REC.events]


def test_stick_unloaded_from_seconds(tmp_path: Path) -> None:
    run = sense(tmp_path, "--stick", "unloaded", "--stick-from", "1.5")
    np.testing.assert_allclose(run.heel_N[:150], HEEL[:150], atol=0.05 + 1e-6)
    assert (run.heel_N[150:] == 0.0).all() and run.seq.tolist() == list(range(N))


def test_chatter_alternates_every_two_samples(tmp_path: Path) -> None:
    run = sense(tmp_path, "--chatter-from", "swing:1")
    k = swing_index(1)
    np.testing.assert_allclose(run.heel_N[:k], HEEL[:k], atol=0.05 + 1e-6)
    assert run.heel_N[k:k + 8].tolist() == [600.0, 600.0, 0.0, 0.0, 600.0, 600.0, 0.0, 0.0]
    j = np.arange(N - k)
    assert (run.heel_N[k:] == np.where((j // 2) % 2 == 0, 600.0, 0.0)).all()


def test_unplug_closes_the_port_at_that_time_and_exits_0(tmp_path: Path) -> None:
    run = sense(tmp_path, "--unplug-at", "swing:2")
    k = swing_index(2)
    assert run.returncode == 0
    # Closing the master hangs up the slave, and Linux discards what the host had not read yet (as an
    # unplugged cable loses the bytes in flight): at 20x a frame lasts 0.5 ms, so a reader on a busy
    # core may miss the last few. What arrived is gap-free, and only frames due within the last
    # UNREAD_AT_HANGUP_S before the hangup may be missing; the emulator says it wrote all k.
    got = run.seq.size
    assert run.seq.tolist() == list(range(got))
    assert got <= k and (run.due_ns(k) - run.due_ns(got)) / 1e9 <= UNREAD_AT_HANGUP_S
    assert run.ended_ns and 0 <= (run.ended_ns - run.due_ns(k)) / 1e6 < 50.0  # the port hung up at WHEN
    assert (run.exited_ns - run.ended_ns) / 1e9 < 0.5
    assert run.stdout.strip() == f"DONE {k}" and "unplug" in run.stderr


def test_freeze_stops_sending_but_keeps_the_port_open_until_the_end(tmp_path: Path) -> None:
    run = sense(tmp_path, "--freeze-at", "4.0")
    assert run.returncode == 0
    assert run.seq.tolist() == list(range(400))
    assert run.recv_ns[-1] < run.due_ns(400) + 50e6
    assert run.ended_ns >= run.due_ns(N - 1)  # the port stayed open to the end of the stream
    assert run.stdout.strip() == "DONE 400" and "freeze" in run.stderr


def test_default_stream_is_unchanged_byte_for_byte(tmp_path: Path) -> None:
    run = sense(tmp_path)
    assert bytes(run.raw) == b"".join(encode_heel_frame(k, float(f)) for k, f in enumerate(REC.heel_N.tolist()))


@pytest.mark.parametrize("args", [["--corrupt", "5/4"], ["--corrupt", "x"], ["--keep-every", "0"],
                                  ["--stick-from", "1.0"], ["--chatter-from", "swing:999"],
                                  ["--freeze-at", "12.0"], ["--unplug-at", "soon"]])
def test_bad_sensor_fault_arguments_exit_2(args: list[str]) -> None:
    r = subprocess.run([sys.executable, "-m", "fescontrol_hil", "sensor", "--duration", "10", *args],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 2, r.stderr
    assert args[0] in r.stderr
