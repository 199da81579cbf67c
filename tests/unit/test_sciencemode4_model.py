"""RehaMove3 / P24 device model (ScienceMode4 mid level) driven by a fake clock (integer ns)."""

from __future__ import annotations

from typing import Any

import pytest
from fescontrol_hil.sciencemode4_model import (
    DEVICES,
    OFF,
    EventRecord,
    FaultPlan,
    OutputChange,
    PacketRecord,
    ScienceMode4Model,
    output_of,
)

from fescontrol.protocol import sciencemode4 as sm4
from fescontrol.protocol.sciencemode4 import Ack, Cmd, CurrentDataAck, MlChannel, Point, Result, StimStatus

MS = 1_000_000
S = 1000 * MS
ACK = 10 * MS
SELECTION = {"rehamove3": 2, "p24": 4}
BOTH = pytest.mark.parametrize("device", ["rehamove3", "p24"])


def frames(m: ScienceMode4Model, now: int) -> list[sm4.Message]:
    return [sm4.parse(sm4.decode_frame(f)) for f in m.poll(now)]


def command(m: ScienceMode4Model, frame: bytes, t: int) -> sm4.Message:
    """Send one command at t; its single answer comes exactly one ack delay later."""
    m.receive(frame, t)
    assert m.poll(t + ACK - 1) == []
    (reply,) = frames(m, t + ACK)
    return reply


def result(reply: sm4.Message) -> int:
    assert isinstance(reply, (Ack, CurrentDataAck)), reply
    return reply.result


def pulse(channel: int, ma: float, us: int, period_ms: float = 25.0) -> MlChannel:
    return MlChannel(channel, period_ms, (Point(us, ma), Point(100, 0), Point(us, -ma)))


TWO = [pulse(0, 30, 300), pulse(1, 15, 250)]


def block(period_word: int, points: list[tuple[int, int]], ramp: int = 0) -> bytes:
    """An Ml_update channel block from raw fields (time us, current code), bypassing the codec's checks."""
    return bytes(((len(points) - 1) << 4 | ramp,)) + period_word.to_bytes(2, "big") + b"".join(
        (t << 20 | c << 10).to_bytes(4, "big") for t, c in points)


def raw_update(pn: int, mask: int, *blocks: bytes) -> bytes:
    return sm4.encode_packet(pn, Cmd.ML_UPDATE, bytes((mask,)) + b"".join(blocks))


def initialised(device: str = "p24", stop_all: bool = False, **kw: Any) -> ScienceMode4Model:
    m = ScienceMode4Model(device, **kw)
    assert result(command(m, sm4.ml_init(0, stop_all), 0)) == 0
    return m


def running(device: str = "p24", **kw: Any) -> ScienceMode4Model:
    """Initialised at 0, TWO running from 110 ms (the update arrived at 100 ms)."""
    m = initialised(device, **kw)
    assert result(command(m, sm4.ml_update(1, TWO), 100 * MS)) == 0
    assert m.stim_status is StimStatus.MID_LEVEL_RUNNING
    return m


def current_data(m: ScienceMode4Model, pn: int, t: int) -> CurrentDataAck:
    reply = command(m, sm4.ml_get_current_data(pn, SELECTION[m.spec.name]), t)
    assert isinstance(reply, CurrentDataAck)
    return reply


def injected(m: ScienceMode4Model) -> list[EventRecord]:
    return [r for r in m.pop_records() if isinstance(r, EventRecord) and r.injected]


# ----------------------------------------------------------------- golden frames (stimulators.md B.6)


def test_reference_session_frames_byte_exact() -> None:
    m = ScienceMode4Model("p24")
    m.receive(bytes.fromhex("F0 81 55 81 59 81 84 81 2E 20 3E 0F"), 0)  # B-16 Get_stim_status pn 8
    assert m.poll(ACK) == [sm4.stim_status_ack(8, 0, 0, 1)]
    m.receive(bytes.fromhex("F0 81 55 81 58 81 75 81 29 00 1E 00 0F"), 20 * MS)  # B-1 Ml_init pn 0
    assert m.poll(30 * MS) == [bytes.fromhex("F0 81 55 81 58 81 46 81 18 00 1F 00 0F")]  # B-6
    b7 = ("F0 81 55 81 78 81 9F 81 02 14 20 03 20 00 64 12 C5 A0 00 06 44 B0 00 12 C3 C0 00 20 00 64 81 5A A5 28 00 "
          "06 44 B0 00 81 5A A4 38 00 0F")
    m.receive(bytes.fromhex(b7), 40 * MS)
    assert m.poll(50 * MS) == [sm4.ack(5, Cmd.ML_UPDATE_ACK, 0)]
    m.receive(bytes.fromhex("F0 81 55 81 59 81 84 81 2E 20 3E 0F"), 60 * MS)
    assert m.poll(70 * MS) == [bytes.fromhex("F0 81 55 81 5A 81 90 81 73 20 3F 00 03 06 0F")]  # B-17
    m.receive(bytes.fromhex("F0 81 55 81 59 81 17 81 6B 1C 22 0F"), 80 * MS)  # B-14 Ml_stop pn 7
    assert m.poll(90 * MS) == [bytes.fromhex("F0 81 55 81 58 81 30 81 E2 1C 23 00 0F")]  # B-15
    assert [(c.t_ns, c.number, c.current_ma, c.pulse_width_us, c.frequency_hz) for c in m.pop_output_changes()] == [
        (50 * MS, 1, 30.0, 300, 40.0), (50 * MS, 2, 15.0, 250, 40.0), (90 * MS, 1, 0.0, 0, 0.0), (90 * MS, 2, 0.0, 0, 0.0)]


def test_rehamove3_answers_the_s9_keep_alive_with_selection_2() -> None:
    m = initialised("rehamove3")
    m.receive(bytes.fromhex("F0 81 55 81 7E 81 5D 81 42 04 20 03 23 00 50 0C 85 50 00 06 44 B0 00 0C 84 10 00 23 00 28 "
                            "06 45 00 00 06 44 B0 00 06 44 60 00 0F"), 100 * MS)  # B-2 (ramp 3, 20 and 10 ms)
    m.receive(bytes.fromhex("F0 81 55 81 58 81 16 81 94 08 24 02 0F"), 101 * MS)  # B-3
    assert m.poll(120 * MS) == [sm4.ack(1, Cmd.ML_UPDATE_ACK, 0), sm4.ml_get_current_data_ack(2, 0, 2, b"\x10")]
    assert m.outputs == {0: (20.0, 200, 50.0), 1: (10.0, 100, 100.0), 2: OFF, 3: OFF}


# ----------------------------------------------------------------- general commands


@BOTH
def test_general_commands(device: str) -> None:
    m = ScienceMode4Model(device)
    spec = DEVICES[device]
    assert command(m, sm4.get_version_main(1), 0) == sm4.VersionAck(1, Cmd.GET_VERSION_MAIN_ACK, 0, (1, 0, 0), (4, 0, 0))
    assert command(m, sm4.get_version_stim(2), S) == sm4.VersionAck(2, Cmd.GET_VERSION_STIM_ACK, 0, (1, 0, 0), (4, 0, 0))
    assert command(m, sm4.get_device_id(3), 2 * S) == sm4.DeviceIdAck(3, 0, spec.device_id)
    assert command(m, sm4.get_stim_status(4), 3 * S) == sm4.StimStatusAck(4, 0, StimStatus.NONE, sm4.HighVoltage.OFF)
    assert command(m, sm4.get_main_status(5), 4 * S) == sm4.MainStatusAck(5, 0, 0)
    battery = command(m, sm4.get_battery_status(6), 5 * S)
    extended = command(m, sm4.get_extended_version(7), 6 * S)
    if device == "rehamove3":
        assert battery == sm4.BatteryStatusAck(6, 0, 87, 4012)
        assert extended == Ack(7, Cmd.UNKNOWN_CMD, Result.INVALID_CMD_ERROR)
    else:
        assert battery == Ack(6, Cmd.UNKNOWN_CMD, Result.INVALID_CMD_ERROR)
        assert extended == sm4.ExtendedVersionAck(7, 0, (1, 0, 0), (4, 0, 0), 0, sm4.HashType.GIT, False)


def test_device_id_is_configurable_and_checked() -> None:
    assert command(ScienceMode4Model("p24", device_id="LAB-P24-07"), sm4.get_device_id(1), 0) == \
        sm4.DeviceIdAck(1, 0, "LAB-P24-07")
    with pytest.raises(Exception, match="10 ASCII"):
        ScienceMode4Model("p24", device_id="short")


@pytest.mark.parametrize("cmd", [Cmd.GET_DEVICE_ID, Cmd.GET_STIM_STATUS, Cmd.GET_VERSION_MAIN])
def test_request_with_data_is_a_parameter_error_result_only(cmd: Cmd) -> None:
    reply = command(ScienceMode4Model("p24"), sm4.encode_packet(9, cmd, b"\x01"), 0)
    assert reply == Ack(9, sm4.ACK_OF[cmd], Result.PARAMETER_ERROR)


@pytest.mark.parametrize("cmd", [999, Cmd.LL_INIT, Cmd.LL_CHANNEL_CONFIG, Cmd.ML_INIT_ACK, 56])
def test_unimplemented_commands_get_unknown_cmd(cmd: int) -> None:
    assert command(ScienceMode4Model("rehamove3"), sm4.encode_packet(12, cmd, b"\x00"), 0) == \
        Ack(12, Cmd.UNKNOWN_CMD, Result.INVALID_CMD_ERROR)


# ----------------------------------------------------------------- mid level


@BOTH
def test_init_update_keep_alive_stop(device: str) -> None:
    m = initialised(device)
    assert command(m, sm4.get_stim_status(1), 50 * MS) == \
        sm4.StimStatusAck(1, 0, StimStatus.MID_LEVEL_INITIALIZED, sm4.HighVoltage.V150)
    assert result(command(m, sm4.ml_update(2, TWO), 100 * MS)) == 0
    assert m.pop_output_changes() == [OutputChange(110 * MS, 0, 30.0, 300, 40.0),
                                      OutputChange(110 * MS, 1, 15.0, 250, 40.0)]
    data = current_data(m, 3, 200 * MS)
    assert data.result == 0 and data.stimulating and data.electrode_errors == 0
    if device == "p24":
        assert data.active_channels == 0b11
    # an update replaces the set of enabled channels: channel 1 stops, channel 0 changes
    assert result(command(m, sm4.ml_update(4, [pulse(0, 20.5, 200, period_ms=50.0)]), 300 * MS)) == 0
    assert m.pop_output_changes() == [OutputChange(310 * MS, 0, 20.5, 200, 20.0), OutputChange(310 * MS, 1, *OFF)]
    assert result(command(m, sm4.ml_stop(5), 400 * MS)) == 0
    assert m.pop_output_changes() == [OutputChange(410 * MS, 0, *OFF)]
    assert m.stim_status is StimStatus.NONE
    assert command(m, sm4.get_stim_status(6), 500 * MS) == sm4.StimStatusAck(6, 0, StimStatus.NONE, sm4.HighVoltage.OFF)


@BOTH
def test_mid_level_before_init_is_not_initialised(device: str) -> None:
    m = ScienceMode4Model(device)
    assert result(command(m, sm4.ml_update(1, TWO, channel_count=4), 0)) == Result.NOT_INITIALIZED_ERROR
    sel = SELECTION[device]
    reply = command(m, sm4.ml_get_current_data(2, sel), S)
    assert reply == CurrentDataAck(2, Result.NOT_INITIALIZED_ERROR, sel, bytes(sm4.STATUS_LEN[sel]))
    assert result(command(m, sm4.ml_stop(3), 2 * S)) == 0  # a stop is never refused
    assert m.pop_output_changes() == []


def test_ml_init_while_running_stops_outputs_and_reserved_flags_are_refused() -> None:
    m = running()
    assert result(command(m, sm4.encode_packet(2, Cmd.ML_INIT, b"\x02"), 200 * MS)) == Result.PARAMETER_ERROR
    assert m.stim_status is StimStatus.MID_LEVEL_RUNNING
    assert result(command(m, sm4.ml_init(3), 300 * MS)) == 0
    assert m.stim_status is StimStatus.MID_LEVEL_INITIALIZED and not m.stimulating


_P24_CH = block(50, [(300, 360), (100, 300), (300, 240)])  # 25 ms, +30/0/-30 mA


@pytest.mark.parametrize(("device", "frame"), [
    ("p24", raw_update(2, 0x00)),  # empty mask: "pause" is UNVERIFIED, refused
    ("p24", raw_update(2, 0x01)),  # mask without its block
    ("p24", raw_update(2, 0x01, _P24_CH, b"\x00")),  # trailing byte
    ("rehamove3", raw_update(2, 0x10, _P24_CH)),  # channel 4 does not exist on a RehaMove3
    ("p24", raw_update(2, 0x01, block(0, [(300, 360)]))),  # period 0
    ("rehamove3", raw_update(2, 0x01, block(2, [(300, 360)]))),  # 1 ms = 1000 Hz > 500 Hz
    ("rehamove3", raw_update(2, 0x01, block(4001, [(300, 360)]))),  # 2000 ms < 1 Hz
    ("rehamove3", raw_update(2, 0x01, block(101, [(300, 360)]))),  # period flag: reserved on S9
    ("p24", raw_update(2, 0x01, block(50, [(300, 300 + 2 * 131)]))),  # +131 mA
    ("p24", raw_update(2, 0x01, block(50, [(300, 300 - 2 * 131)]))),  # -131 mA
    ("p24", raw_update(2, 0x01, block(2, [(4095, 360), (4095, 240)]))),  # S12 duty check >= 1000
])
def test_update_refusals_are_parameter_errors_and_change_nothing(device: str, frame: bytes) -> None:
    m = running(device)
    before = m.outputs
    assert result(command(m, frame, 200 * MS)) == Result.PARAMETER_ERROR
    assert m.outputs == before and m.pop_output_changes() == [OutputChange(110 * MS, 0, 30.0, 300, 40.0),
                                                              OutputChange(110 * MS, 1, 15.0, 250, 40.0)]


def test_device_limits_accepted() -> None:
    m = initialised("p24")
    fine = raw_update(1, 0x80, block(3 << 1 | 1, [(10, 300 + 260)]))  # 0.75 ms needs the flag; +130 mA; channel 7
    assert result(command(m, fine, 100 * MS)) == 0
    assert m.outputs[7] == (130.0, 10, 1333.3333)
    m = initialised("rehamove3")
    assert result(command(m, raw_update(1, 0x08, block(2000 << 1, [(500, 300 - 260)])), 100 * MS)) == 0
    assert m.outputs[3] == (130.0, 500, 1.0)


@pytest.mark.parametrize(("device", "selection"), [("rehamove3", 4), ("rehamove3", 3), ("p24", 2), ("p24", 3)])
def test_other_data_selections_are_refused(device: str, selection: int) -> None:
    m = running(device)
    reply = command(m, sm4.ml_get_current_data(2, selection), 200 * MS)
    assert reply == CurrentDataAck(2, Result.PARAMETER_ERROR, selection, bytes(sm4.STATUS_LEN[selection]))


def test_output_of_takes_the_leading_phase() -> None:
    assert output_of(pulse(0, 30, 300)) == (30.0, 300, 40.0)
    assert output_of(MlChannel(0, 30.0, (Point(50, 0), Point(100, -10), Point(100, -20), Point(300, 5)))) == \
        (20.0, 200, 33.3333)
    assert output_of(MlChannel(0, 20.0, (Point(300, 0), Point(100, 0)))) == (0.0, 300, 50.0)


# ----------------------------------------------------------------- one command at a time


def test_commands_queue_fifo_without_busy_answers() -> None:
    m = initialised("p24")
    m.receive(sm4.get_stim_status(1) + sm4.ml_update(2, TWO) + sm4.get_stim_status(3), 100 * MS)
    assert m.next_deadline_ns() == 110 * MS
    assert frames(m, 110 * MS) == [sm4.StimStatusAck(1, 0, StimStatus.MID_LEVEL_INITIALIZED, sm4.HighVoltage.V150)]
    assert frames(m, 120 * MS) == [Ack(2, Cmd.ML_UPDATE_ACK, 0)]
    assert frames(m, 130 * MS) == [sm4.StimStatusAck(3, 0, StimStatus.MID_LEVEL_RUNNING, sm4.HighVoltage.V150)]
    assert m.next_deadline_ns() == 100 * MS + 2 * S  # only the watchdog is left


def test_queue_overflow_drops_unanswered() -> None:
    m = ScienceMode4Model("p24", queue_limit=3)
    m.receive(b"".join(sm4.get_device_id(pn) for pn in range(5)), 0)
    assert [r.note for r in m.pop_records() if isinstance(r, PacketRecord)] == \
        [None, None, None, "dropped: input queue full", "dropped: input queue full"]
    assert [msg.packet_number for msg in frames(m, S)] == [0, 1, 2]


def test_bad_checksum_is_a_transfer_error_and_no_keep_alive() -> None:
    m = running("p24")
    bad = bytearray(sm4.ml_get_current_data(7, 4))
    bad[-2] ^= 0x01  # the selection byte: the CRC no longer matches
    m.receive(bytes(bad) + b"\x00\x01\x02" + bytes.fromhex("F0 81 55 0F"), 1 * S)
    assert frames(m, 1 * S + ACK) == [Ack(7, Cmd.ML_GET_CURRENT_DATA_ACK, Result.TRANSFER_ERROR)]
    assert frames(m, 1 * S + 50 * MS) == []  # the headerless span was dropped silently
    assert m.stimulating
    frames(m, 2100 * MS)  # 2 s after the update that arrived at 100 ms
    assert not m.stimulating


# ----------------------------------------------------------------- watchdog


@BOTH
def test_watchdog_stops_output_2_s_after_the_last_keep_alive(device: str) -> None:
    m = running(device)
    current_data(m, 2, 1500 * MS)
    assert command(m, sm4.get_stim_status(3), 3 * S) is not None  # not a keep-alive
    assert m.next_deadline_ns() == 3500 * MS
    frames(m, 3500 * MS - 1)
    assert m.stimulating
    m.pop_output_changes()
    assert frames(m, 3500 * MS) == []  # nothing is sent
    assert m.pop_output_changes() == [OutputChange(3500 * MS, 0, *OFF), OutputChange(3500 * MS, 1, *OFF)]
    assert [r.event for r in m.pop_records() if isinstance(r, EventRecord)] == ["watchdog_expired"]
    assert m.stim_status is StimStatus.MID_LEVEL_INITIALIZED  # paused, still initialised
    data = current_data(m, 4, 4 * S)
    assert data.result == 0 and not data.stimulating
    assert result(command(m, sm4.ml_update(5, TWO, channel_count=4), 5 * S)) == 0  # restarts without Ml_init
    assert m.stimulating


def test_updates_alone_keep_it_alive_and_the_timeout_is_configurable() -> None:
    m = running("p24", watchdog_ns=500 * MS)
    for k in range(1, 6):
        assert result(command(m, sm4.ml_update(k, TWO), 100 * MS + k * 400 * MS)) == 0
    frames(m, 2600 * MS - 1)  # the last update arrived at 2100 ms
    assert m.stimulating
    frames(m, 2600 * MS)
    assert not m.stimulating


# ----------------------------------------------------------------- reset


@pytest.mark.parametrize(("device", "acked"), [("rehamove3", False), ("p24", True)])
def test_reset(device: str, acked: bool) -> None:
    m = running(device, reset_ns=3 * S)
    m.receive(sm4.reset(9) + sm4.get_device_id(10), 1 * S)
    reply = frames(m, 1 * S + ACK)
    assert reply == ([Ack(9, Cmd.RESET_ACK, 0)] if acked else [])
    assert not m.stimulating and m.stim_status is StimStatus.NONE and m.resetting
    assert frames(m, 2 * S) == []  # the queued Get_device_id was lost in the reset
    m.receive(sm4.get_device_id(11), 2 * S)
    assert frames(m, 3 * S) == []
    assert [r.note for r in m.pop_records() if isinstance(r, PacketRecord) and r.direction == "rx"][-1] == \
        "ignored: device resetting"
    assert command(m, sm4.get_device_id(12), 4010 * MS + ACK) == sm4.DeviceIdAck(12, 0, DEVICES[device].device_id)


# ----------------------------------------------------------------- injected faults


def test_fault_plan_names() -> None:
    assert FaultPlan.single("late-ack", 5).late_ack_from_ns == 5
    assert [name for _t, name in FaultPlan(disconnect_at_ns=1, no_ack_from_ns=1, busy_from_ns=0).schedule()] == \
        ["busy", "no-ack", "disconnect"]
    with pytest.raises(ValueError, match="unknown fault"):
        FaultPlan.single("fire", 0)
    with pytest.raises(ValueError, match="electrode_channel 4"):
        ScienceMode4Model("rehamove3", faults=FaultPlan.single("electrode-error", 0, 4))


def test_no_ack_applies_but_sends_nothing() -> None:
    m = running("p24", faults=FaultPlan(no_ack_from_ns=S))
    m.receive(sm4.ml_update(2, [pulse(0, 40, 300)]), 1500 * MS)
    assert m.poll(1600 * MS) == []
    assert m.outputs[0] == (40.0, 300, 40.0) and m.outputs[1] == OFF
    records = m.pop_records()
    assert [r.event for r in records if isinstance(r, EventRecord) and r.injected] == ["no-ack"]
    assert [(r.direction, r.item.command) for r in records if isinstance(r, PacketRecord)][-1] == \
        ("tx_suppressed", Cmd.ML_UPDATE_ACK)
    assert m.next_deadline_ns() == 3500 * MS  # still fed: the watchdog runs from the last update


def test_late_ack_takes_effect_on_time() -> None:
    m = running("p24", faults=FaultPlan(late_ack_from_ns=S), late_ack_ns=600 * MS)
    m.receive(sm4.ml_update(2, [pulse(0, 40, 300)]) + sm4.get_stim_status(3), 1500 * MS)
    assert frames(m, 1500 * MS + 2 * ACK) == []
    assert m.pop_output_changes()[-2:] == [OutputChange(1500 * MS + ACK, 0, 40.0, 300, 40.0),
                                           OutputChange(1500 * MS + ACK, 1, *OFF)]
    assert m.next_deadline_ns() == 2100 * MS + ACK
    assert frames(m, 2100 * MS + ACK) == [Ack(2, Cmd.ML_UPDATE_ACK, 0)]
    assert frames(m, 2100 * MS + 2 * ACK) == [
        sm4.StimStatusAck(3, 0, StimStatus.MID_LEVEL_RUNNING, sm4.HighVoltage.V150)]


def test_busy_refuses_updates_only() -> None:
    m = running("p24", faults=FaultPlan(busy_from_ns=S))
    assert result(command(m, sm4.ml_update(2, [pulse(0, 40, 300)]), 1500 * MS)) == Result.BUSY
    assert m.outputs[0] == (30.0, 300, 40.0)
    assert m.next_deadline_ns() == 3500 * MS  # the refused update still fed the watchdog
    assert current_data(m, 3, 3 * S).result == 0
    assert [r.event for r in injected(m)] == ["busy", "busy"]  # active, then the refusal
    assert result(command(m, sm4.ml_stop(4), 4 * S)) == 0 and not m.stimulating


def test_transfer_error_refuses_everything_and_starves_the_watchdog() -> None:
    m = running("p24", faults=FaultPlan(transfer_error_from_ns=S))
    assert command(m, sm4.ml_get_current_data(2, 4), 1500 * MS) == \
        Ack(2, Cmd.ML_GET_CURRENT_DATA_ACK, Result.TRANSFER_ERROR)
    assert command(m, sm4.ml_stop(3), 1600 * MS) == Ack(3, Cmd.ML_STOP_ACK, Result.TRANSFER_ERROR)
    assert m.stimulating
    frames(m, 2100 * MS)
    assert not m.stimulating  # 2 s after the update of 100 ms


@pytest.mark.parametrize(("stop_all", "still_on"), [(False, {1}), (True, set())])
def test_electrode_error_stops_the_channel_or_all(stop_all: bool, still_on: set[int]) -> None:
    m = initialised("p24", stop_all=stop_all, faults=FaultPlan(electrode_error_at_ns=S, electrode_channel=0))
    assert result(command(m, sm4.ml_update(1, TWO), 100 * MS)) == 0
    m.pop_output_changes()
    frames(m, S)
    assert {c.index for c in m.pop_output_changes()} == {0, 1} - still_on
    assert {i for i, v in m.outputs.items() if v != OFF} == still_on
    data = current_data(m, 2, 1200 * MS)
    assert data.result == 0 and data.electrode_errors == 0b1 and data.active_channels == sum(1 << c for c in still_on)
    assert data.channel_states[:2] == (sm4.ChannelState.ELECTRODE_ERROR, sm4.ChannelState.OK)
    assert result(command(m, sm4.ml_update(3, TWO), 1300 * MS)) == Result.ELECTRODE_ERROR
    assert result(command(m, sm4.ml_update(4, [pulse(1, 15, 250)]), 1400 * MS)) == 0
    assert result(command(m, sm4.ml_init(5), 1500 * MS)) == 0  # forgets the error
    assert result(command(m, sm4.ml_update(6, TWO), 1600 * MS)) == 0


def test_electrode_error_on_rehamove3_defaults_to_lowest_running_channel() -> None:
    m = initialised("rehamove3", faults=FaultPlan(electrode_error_at_ns=S))
    assert result(command(m, sm4.ml_update(1, [pulse(2, 20, 300), pulse(3, 20, 300)], channel_count=4), 0)) == 0
    frames(m, S)
    data = current_data(m, 2, 1100 * MS)
    assert data.status == bytes((0x10 | 0b0100,))  # running, electrode error on channel 2
    assert m.outputs[2] == OFF and m.outputs[3] == (20.0, 300, 40.0)


def test_electrode_error_without_stimulation_has_no_effect() -> None:
    m = initialised("p24", faults=FaultPlan(electrode_error_at_ns=S))
    frames(m, S)
    (rec,) = injected(m)
    assert rec.detail == {"effect": "no_effect", "channel": 0}
    assert current_data(m, 1, 1100 * MS).electrode_errors == 0


@BOTH
def test_emergency_switch(device: str) -> None:
    m = running(device, faults=FaultPlan(emergency_switch_at_ns=S))
    assert frames(m, S) == []  # SM4 has no unsolicited stimulation error
    assert not m.stimulating and m.stim_status is StimStatus.NONE
    assert current_data(m, 2, 1100 * MS).result == Result.NOT_INITIALIZED_ERROR
    assert result(command(m, sm4.ml_update(3, TWO, channel_count=4), 1200 * MS)) == Result.NOT_INITIALIZED_ERROR
    assert result(command(m, sm4.ml_init(4), 1300 * MS)) == 0
    assert result(command(m, sm4.ml_update(5, TWO, channel_count=4), 1400 * MS)) == 0


def test_device_reset_fault() -> None:
    m = running("p24", reset_ns=2 * S, faults=FaultPlan(device_reset_at_ns=S))
    assert frames(m, S) == []
    assert not m.stimulating and m.resetting
    m.receive(sm4.get_stim_status(2), 1500 * MS)
    assert frames(m, 2900 * MS) == []
    assert command(m, sm4.get_stim_status(3), 3 * S) == sm4.StimStatusAck(3, 0, StimStatus.NONE, sm4.HighVoltage.OFF)
    events = [(r.event, r.injected) for r in m.pop_records() if isinstance(r, EventRecord)]
    assert events == [("device-reset", True), ("reset_started", False), ("reset_done", False)]


def test_disconnect_rehamove3_runs_on_battery_until_the_watchdog() -> None:
    m = running("rehamove3", faults=FaultPlan(disconnect_at_ns=S))
    frames(m, S)
    assert m.disconnected and m.stimulating
    m.receive(sm4.ml_get_current_data(2, 2), 1500 * MS)  # nothing arrives any more
    frames(m, 2100 * MS - 1)
    assert m.stimulating
    frames(m, 2100 * MS)
    assert not m.stimulating


def test_disconnect_p24_is_a_power_loss() -> None:
    m = running("p24", faults=FaultPlan(disconnect_at_ns=S))
    m.pop_output_changes()
    frames(m, S)
    assert m.disconnected and not m.stimulating and m.stim_status is StimStatus.NONE
    assert m.pop_output_changes() == [OutputChange(S, 0, *OFF), OutputChange(S, 1, *OFF)]
    assert m.next_deadline_ns() is None
    assert [(r.event, r.detail) for r in injected(m)] == [("disconnect", {"effect": "power_lost"})]
