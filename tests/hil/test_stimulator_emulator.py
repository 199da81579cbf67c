"""The RehaStim 2 emulator as a real process on a real pty, driven through pyserial."""

from __future__ import annotations

import csv
import json
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest
import serial

from fescontrol.emulator_lines import parse_port_line
from fescontrol.protocol import sciencemode2 as sm2
from fescontrol.protocol.sciencemode2 import Ack, ChannelSetting, Cmd, Decoder

TWO = [ChannelSetting(0, 300, 30), ChannelSetting(0, 250, 20)]


class Emulator:
    def __init__(self, out: Path, *extra: str) -> None:
        self.out = out
        self.t0_ns = time.monotonic_ns()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fescontrol_hil", "stimulator", "--out", str(out),
             "--t0-mono-ns", str(self.t0_ns), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 10.0)
        assert ready, "emulator printed no PORT line"
        line = self.proc.stdout.readline()
        port = parse_port_line(line)
        assert port is not None, line
        self.port = port

    def t_s(self, t_mono_ns: int) -> float:
        return (t_mono_ns - self.t0_ns) / 1e9

    def terminate(self, sig: signal.Signals = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=5)

    def stim_rows(self) -> list[dict[str, str]]:
        with open(self.out / "stim.csv", newline="") as f:
            return list(csv.DictReader(f))

    def device_log(self) -> list[dict[str, object]]:
        with open(self.out / "device.jsonl") as f:
            return [json.loads(line) for line in f]


class Host:
    """A minimal ScienceMode2 host: enough to drive the emulator in tests."""

    def __init__(self, port: str) -> None:
        self.ser = serial.Serial(port, baudrate=460800, parity=serial.PARITY_EVEN, timeout=0.01)
        self.decoder = Decoder()
        self.inbox: list[sm2.Message] = []
        self.pn = 0

    def close(self) -> None:
        self.ser.close()

    def next_pn(self) -> int:
        self.pn = (self.pn + 1) % 256
        return self.pn

    def pump(self) -> None:
        for item in self.decoder.feed(self.ser.read(256)):
            assert isinstance(item, sm2.Packet), item
            self.inbox.append(sm2.parse(item))

    def expect(self, match: Callable[[sm2.Message], bool], timeout: float = 1.0) -> sm2.Message:
        end = time.monotonic() + timeout
        while True:
            for i, msg in enumerate(self.inbox):
                if match(msg):
                    return self.inbox.pop(i)
            assert time.monotonic() < end, f"nothing matched within {timeout} s; got {self.inbox}"
            self.pump()

    def handshake(self) -> None:
        init = self.expect(lambda m: isinstance(m, sm2.Init), timeout=1.5)
        self.ser.write(sm2.init_ack(init.packet_number))

    def command(self, build: Callable[[int], bytes]) -> Ack:
        pn = self.next_pn()
        frame = build(pn)
        ack_cmd = sm2.ACK_OF[sm2.Cmd(sm2.decode_frame(frame).command)]
        self.ser.write(frame)
        reply = self.expect(lambda m: isinstance(m, Ack) and m.command is ack_cmd and m.packet_number == pn)
        assert isinstance(reply, Ack)
        return reply


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Callable[..., Emulator]]:
    started: list[Emulator] = []

    def start(*extra: str) -> Emulator:
        emu = Emulator(tmp_path, *extra)
        started.append(emu)
        return emu

    yield start
    for emu in started:
        if emu.proc.poll() is None:
            emu.proc.kill()
            emu.proc.wait(timeout=5)


def _init(pn: int) -> bytes:
    return sm2.init_channel_list_mode(pn, active_channels=0b11, group_time_code=13, main_time_code=48)


def test_handshake_start_update_stop_and_logs(emulator: Callable[..., Emulator]) -> None:
    emu = emulator()
    host = Host(emu.port)
    try:
        host.handshake()
        # two commands back to back: the second is refused as busy at once
        host.ser.write(sm2.get_stimulation_mode(100) + _init(101))
        busy = host.expect(lambda m: isinstance(m, Ack) and m.packet_number == 101)
        mode = host.expect(lambda m: isinstance(m, Ack) and m.packet_number == 100)
        assert busy == Ack(101, Cmd.INIT_CHANNEL_LIST_MODE_ACK, -8, b"")
        assert mode == Ack(100, Cmd.GET_STIMULATION_MODE_ACK, 0, b"\x00")
        assert host.command(_init).result == 0
        t_send = time.monotonic_ns()
        assert host.command(lambda pn: sm2.start_channel_list_mode(pn, TWO)).result == 0
        t_ack = time.monotonic_ns()
        update = [ChannelSetting(0, 300, 40), ChannelSetting(0, 250, 20)]
        assert host.command(lambda pn: sm2.start_channel_list_mode(pn, update)).result == 0
        assert host.command(sm2.stop_channel_list_mode).result == 0
    finally:
        host.close()
    assert emu.terminate() == 0

    rows = emu.stim_rows()
    assert [(r["channel"], r["current_mA"], r["pulse_width_us"], float(r["frequency_hz"])) for r in rows] == [
        ("1", "30", "300", 40.0), ("2", "20", "250", 40.0), ("1", "40", "300", 40.0),
        ("1", "0", "0", 0.0), ("2", "0", "0", 0.0)]
    times = [float(r["t_s"]) for r in rows]
    assert all(len(r["t_s"].split(".")[1]) == 4 for r in rows)
    assert times == sorted(times)
    assert emu.t_s(t_send) - 1e-4 <= times[0] <= emu.t_s(t_ack) + 1e-4

    entries = emu.device_log()
    for e in entries:
        assert {"t_mono_ns", "t_s", "dir", "hex", "command"} <= e.keys()
        assert sm2.decode_frame(bytes.fromhex(str(e["hex"]))).command == e["command_id"]
    rx = [e["command"] for e in entries if e["dir"] == "rx"]
    assert rx == ["INIT_ACK", "GET_STIMULATION_MODE", "INIT_CHANNEL_LIST_MODE", "INIT_CHANNEL_LIST_MODE",
                  "START_CHANNEL_LIST_MODE", "START_CHANNEL_LIST_MODE", "STOP_CHANNEL_LIST_MODE"]
    tx = [(e["command"], e.get("result")) for e in entries if e["dir"] == "tx" and e["command"] != "INIT"]
    assert tx == [("INIT_CHANNEL_LIST_MODE_ACK", -8), ("GET_STIMULATION_MODE_ACK", 0),
                  ("INIT_CHANNEL_LIST_MODE_ACK", 0), ("START_CHANNEL_LIST_MODE_ACK", 0),
                  ("START_CHANNEL_LIST_MODE_ACK", 0), ("STOP_CHANNEL_LIST_MODE_ACK", 0)]
    start_rx = [e for e in entries if e["command"] == "START_CHANNEL_LIST_MODE"][0]
    assert start_rx["fields"]["settings"][0] == {"mode": 0, "pulse_width_us": 300, "current_ma": 30}  # type: ignore[index]


def test_watchdog_stops_output_1200_ms_after_last_packet(emulator: Callable[..., Emulator]) -> None:
    emu = emulator()
    host = Host(emu.port)
    try:
        host.handshake()
        assert host.command(_init).result == 0
        assert host.command(lambda pn: sm2.start_channel_list_mode(pn, TWO)).result == 0
        # silence: the device must stop by itself and start asking for a handshake again
        host.expect(lambda m: isinstance(m, sm2.Init), timeout=1.6)
    finally:
        host.close()
    assert emu.terminate() == 0

    entries = emu.device_log()
    last_rx = [e for e in entries if e["dir"] == "rx"][-1]
    assert last_rx["command"] == "START_CHANNEL_LIST_MODE"
    t_last = emu.t_s(int(last_rx["t_mono_ns"]))  # type: ignore[call-overload]
    off = [r for r in emu.stim_rows() if r["current_mA"] == "0"]
    assert sorted(r["channel"] for r in off) == ["1", "2"]
    for r in off:
        assert 1.200 - 1e-4 <= float(r["t_s"]) - t_last <= 1.250
    last_rx_ns = int(last_rx["t_mono_ns"])  # type: ignore[call-overload]
    init_after = [int(e["t_mono_ns"]) for e in entries  # type: ignore[call-overload]
                  if e["dir"] == "tx" and e["command"] == "INIT" and int(e["t_mono_ns"]) > last_rx_ns]  # type: ignore[call-overload]
    assert init_after and init_after[0] - last_rx_ns == 1_200_000_000  # Init resumes at the expiry


def test_sigterm_while_stimulating_writes_zero_rows(emulator: Callable[..., Emulator]) -> None:
    emu = emulator()
    host = Host(emu.port)
    try:
        host.handshake()
        assert host.command(_init).result == 0
        assert host.command(lambda pn: sm2.start_channel_list_mode(pn, TWO)).result == 0
        t_term = time.monotonic_ns()
        assert emu.terminate() == 0
    finally:
        host.close()
    rows = emu.stim_rows()
    assert [(r["channel"], r["current_mA"]) for r in rows] == [("1", "30"), ("2", "20"), ("1", "0"), ("2", "0")]
    assert float(rows[-1]["t_s"]) >= emu.t_s(t_term) - 1e-4


def test_injected_electrode_error(emulator: Callable[..., Emulator]) -> None:
    emu = emulator("--electrode-error-at", "1.0")
    host = Host(emu.port)
    try:
        host.handshake()
        assert host.command(_init).result == 0
        assert host.command(lambda pn: sm2.start_channel_list_mode(pn, TWO)).result == 0
        err = host.expect(lambda m: isinstance(m, sm2.StimulationError), timeout=1.5)
        assert isinstance(err, sm2.StimulationError) and err.error == -2
        again = host.command(lambda pn: sm2.start_channel_list_mode(pn, TWO))
        assert again.result == -3  # back in start mode: the host must re-initialise
    finally:
        host.close()
    assert emu.terminate() == 0
    off = [r for r in emu.stim_rows() if r["current_mA"] == "0"]
    assert len(off) == 2 and all(1.0 <= float(r["t_s"]) <= 1.2 for r in off)


def test_lenient_emulator_takes_pysciencemode_bytes_and_logs_each_quirk(emulator: Callable[..., Emulator]) -> None:
    emu = emulator("--lenient", "--init-packet-number", "14")
    host = Host(emu.port)
    try:
        host.expect(lambda m: isinstance(m, sm2.Init) and m.packet_number == 15, timeout=1.5)
        host.ser.write(sm2.init_ack(0xD4))  # pysciencemode's answer to Init 15 (raw offset 5 = 81, ^ 55)
        host.ser.write(bytes.fromhex("F0 81 DA 81 57 01 5F 0F"))  # its GetStimulationMode at pn 1
        mode = host.expect(lambda m: isinstance(m, Ack))
        assert mode == Ack(1, Cmd.GET_STIMULATION_MODE_ACK, 0, b"\x00")
    finally:
        host.close()
    assert emu.terminate(signal.SIGHUP) == 0  # its terminal closed: a clean end, records complete
    quirks = [(e["quirk"], e["accepted"]) for e in emu.device_log() if e.get("kind") == "quirk"]
    assert quirks == [(sm2.QUIRK_XOR_PACKET_NUMBER, True), (sm2.QUIRK_XOR_COMMAND, True)]
    assert emu.proc.stderr is not None
    stderr = emu.proc.stderr.read()
    assert "accepted pysciencemode quirk xor_packet_number_without_escape" in stderr
    assert "accepted pysciencemode quirk xor_command_without_escape" in stderr


def test_bad_init_packet_number_is_refused_with_exit_2(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "fescontrol_hil", "stimulator", "--out", str(tmp_path),
                           "--init-packet-number", "256"], capture_output=True, text=True, timeout=20)
    assert done.returncode == 2 and "--init-packet-number must be 0..255, got 256" in done.stderr
    assert not (tmp_path / "device.jsonl").exists()


def test_infinite_or_nan_speed_is_refused_with_exit_2(tmp_path: Path) -> None:
    for value in ("inf", "nan", "0"):
        done = subprocess.run([sys.executable, "-m", "fescontrol_hil", "stimulator", "--out", str(tmp_path),
                               "--speed", value], capture_output=True, text=True, timeout=20)
        assert done.returncode == 2 and "--speed must be a finite number > 0" in done.stderr, (value, done.stderr)
        assert not (tmp_path / "device.jsonl").exists()
