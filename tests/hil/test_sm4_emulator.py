"""The RehaMove3 / P24 emulator as a real process on a real pty, driven through pyserial."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import serial

from fescontrol.protocol import sciencemode4 as sm4
from fescontrol.protocol.sciencemode4 import Ack, Cmd, CurrentDataAck, MlChannel, Point

from .conftest import read_csv, read_jsonl, start_hil, stop_process, wait_for

LINE: dict[str, dict[str, Any]] = {
    "rehamove3": {"baudrate": 3_000_000, "stopbits": serial.STOPBITS_TWO, "rtscts": True},
    "p24": {},  # USB CDC: line settings do not matter
}
SELECTION = {"rehamove3": 2, "p24": 4}


def pulse(channel: int, ma: float, us: int) -> MlChannel:
    return MlChannel(channel, 25.0, (Point(us, ma), Point(100, 0), Point(us, -ma)))


class Host:
    """A minimal ScienceMode4 host: enough to drive the emulator in tests."""

    def __init__(self, port: str, **line: Any) -> None:
        self.ser = serial.Serial(port, timeout=0.01, **line)
        self.decoder = sm4.Decoder()
        self.inbox: list[sm4.Message] = []
        self.pn = 0

    def close(self) -> None:
        self.ser.close()

    def pump(self) -> None:
        for item in self.decoder.feed(self.ser.read(256)):
            assert isinstance(item, sm4.Packet), item
            self.inbox.append(sm4.parse(item))

    def command(self, build: Callable[[int], bytes], timeout: float = 1.0) -> sm4.Message:
        pn, self.pn = self.pn, sm4.next_packet_number(self.pn)
        frame = build(pn)
        ack_cmd = sm4.ACK_OF[Cmd(sm4.decode_frame(frame).command)]
        self.ser.write(frame)
        end = time.monotonic() + timeout
        while True:
            for i, msg in enumerate(self.inbox):
                if getattr(msg, "packet_number", None) == pn and getattr(msg, "command", ack_cmd) is ack_cmd:
                    return self.inbox.pop(i)
            assert time.monotonic() < end, f"no answer to pn {pn} within {timeout} s; got {self.inbox}"
            self.pump()


@pytest.fixture
def started(tmp_path: Path) -> Iterator[Callable[..., tuple[Any, str, int]]]:
    procs = []

    def start(*args: str) -> tuple[Any, str, int]:
        t0 = time.monotonic_ns()
        proc, port = start_hil("sm4-stimulator", "--out", str(tmp_path), "--t0-mono-ns", str(t0), *args)
        procs.append(proc)
        return proc, port, t0

    yield start
    for proc in procs:
        stop_process(proc)


@pytest.mark.parametrize("device", ["rehamove3", "p24"])
def test_session_over_a_real_pty(device: str, started: Callable[..., tuple[Any, str, int]], tmp_path: Path) -> None:
    proc, port, t0 = started("--device", device)
    host = Host(port, **LINE[device])
    channels = 4 if device == "rehamove3" else 8
    try:
        reply = host.command(sm4.get_device_id)
        assert reply == sm4.DeviceIdAck(0, 0, "RM3-EMU-01" if device == "rehamove3" else "P24-EMU-01")
        assert host.command(sm4.get_stim_status) == sm4.StimStatusAck(1, 0, sm4.StimStatus.NONE, sm4.HighVoltage.OFF)
        assert host.command(sm4.ml_init) == Ack(2, Cmd.ML_INIT_ACK, 0)
        t_update = time.monotonic_ns()
        two = [pulse(0, 30, 300), pulse(1, 15, 250)]
        assert host.command(lambda pn: sm4.ml_update(pn, two, channel_count=channels)) == Ack(3, Cmd.ML_UPDATE_ACK, 0)
        t_acked = time.monotonic_ns()
        data = host.command(lambda pn: sm4.ml_get_current_data(pn, SELECTION[device]))
        assert isinstance(data, CurrentDataAck) and data.result == 0 and data.stimulating
        assert host.command(lambda pn: sm4.ml_update(pn, [pulse(0, 32.5, 300)], channel_count=channels)).result == 0  # type: ignore[union-attr]
        assert host.command(sm4.ml_stop) == Ack(6, Cmd.ML_STOP_ACK, 0)
    finally:
        host.close()
    assert stop_process(proc) == 0

    rows = read_csv(tmp_path / "stim.csv")
    assert [(r["channel"], r["current_mA"], r["pulse_width_us"], r["frequency_hz"]) for r in rows] == [
        ("1", "30", "300", "40.0"), ("2", "15", "250", "40.0"), ("1", "32.5", "300", "40.0"), ("2", "0", "0", "0.0"),
        ("1", "0", "0", "0.0")]
    times = [float(r["t_s"]) for r in rows]
    assert times == sorted(times)
    assert (t_update - t0) / 1e9 - 1e-4 <= times[0] <= (t_acked - t0) / 1e9 + 1e-4

    log = read_jsonl(tmp_path / "device.jsonl")
    assert log[0]["kind"] == "device_event" and log[0]["event"] == "power_on" and log[0]["device"] == device
    packets = [e for e in log if "dir" in e]
    for e in packets:
        assert sm4.decode_frame(bytes.fromhex(str(e["hex"]))).command == e["command_id"]
    assert [e["command"] for e in packets if e["dir"] == "rx"] == [
        "GET_DEVICE_ID", "GET_STIM_STATUS", "ML_INIT", "ML_UPDATE", "ML_GET_CURRENT_DATA", "ML_UPDATE", "ML_STOP"]
    assert [(e["command"], e["result"]) for e in packets if e["dir"] == "tx"] == [
        ("GET_DEVICE_ID_ACK", 0), ("GET_STIM_STATUS_ACK", 0), ("ML_INIT_ACK", 0), ("ML_UPDATE_ACK", 0),
        ("ML_GET_CURRENT_DATA_ACK", 0), ("ML_UPDATE_ACK", 0), ("ML_STOP_ACK", 0)]
    update = next(e for e in packets if e["command"] == "ML_UPDATE")
    assert update["fields"]["enable_mask"] == 3  # type: ignore[index]
    assert update["fields"]["channels"][0]["points"][0] == {"time_us": 300, "current_ma": 30.0}  # type: ignore[index]
    assert not any(e.get("kind") == "device_event" and e.get("event") == "line_settings_mismatch" for e in log)


def test_rehamove3_ignores_a_host_at_the_wrong_rate(started: Callable[..., tuple[Any, str, int]], tmp_path: Path) -> None:
    proc, port, _t0 = started("--device", "rehamove3")
    host = Host(port, baudrate=115200)
    try:
        host.ser.write(sm4.get_device_id(0))
        time.sleep(0.2)
        host.pump()
        assert host.inbox == []
        host.ser.apply_settings(LINE["rehamove3"])
        assert host.command(sm4.get_device_id) == sm4.DeviceIdAck(0, 0, "RM3-EMU-01")
    finally:
        host.close()
    assert stop_process(proc) == 0
    events = [e for e in read_jsonl(tmp_path / "device.jsonl") if e.get("kind") == "device_event"]
    mismatch = next(e for e in events if e["event"] == "line_settings_mismatch")
    assert mismatch["effect"] == "bytes dropped" and "115200" in str(mismatch["garbling"])
    assert any(e["event"] == "line_settings_ok" and e["bytes_dropped_before"] == 12 for e in events)
    garbled = [e for e in events if e["event"] == "rx_garbled"]
    assert bytes.fromhex("".join(str(e["hex"]) for e in garbled)) == sm4.get_device_id(0)  # every byte is logged


@pytest.mark.parametrize(("device", "off_after_s"), [("p24", 0.0), ("rehamove3", 2.0)])
def test_disconnect_fault(device: str, off_after_s: float, started: Callable[..., tuple[Any, str, int]],
                          tmp_path: Path) -> None:
    """P24 is USB-powered: off at once; RehaMove3 runs on its battery until the 2 s watchdog."""
    proc, port, t0 = started("--device", device, "--fault", "disconnect", "--fault-at", "0.5")
    host = Host(port, **LINE[device])
    channels = 4 if device == "rehamove3" else 8
    try:
        assert host.command(sm4.ml_init) == Ack(0, Cmd.ML_INIT_ACK, 0)
        t_update = time.monotonic_ns()
        assert host.command(lambda pn: sm4.ml_update(pn, [pulse(0, 20, 300)], channel_count=channels)).result == 0  # type: ignore[union-attr]
        assert (time.monotonic_ns() - t0) / 1e9 < 0.5, "the machine was too slow to stimulate before the fault"
        wait_for(lambda: proc.poll() is not None, 4.0, "the emulator to exit after the disconnect")
        with pytest.raises(serial.SerialException):
            host.ser.write(sm4.get_device_id(9))
            host.ser.read(1)
    finally:
        host.close()
    assert proc.returncode == 0
    rows = read_csv(tmp_path / "stim.csv")
    assert [(r["channel"], r["current_mA"]) for r in rows] == [("1", "20"), ("1", "0")]
    t_off = float(rows[1]["t_s"])
    if device == "p24":
        assert 0.5 <= t_off <= 0.55
    else:
        assert t_off - (t_update - t0) / 1e9 == pytest.approx(2.0, abs=0.05)
    faults = [e for e in read_jsonl(tmp_path / "device.jsonl") if e.get("kind") == "fault_injected"]
    assert [f["fault"] for f in faults] == ["disconnect"]
