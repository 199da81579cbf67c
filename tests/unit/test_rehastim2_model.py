"""RehaStim 2 device model driven by a fake clock (integer nanoseconds)."""

from __future__ import annotations

import pytest
from fescontrol_hil.rehastim2_model import (
    OFF,
    FaultPlan,
    FaultRecord,
    OutputChange,
    PacketRecord,
    QuirkRecord,
    RehaStim2Model,
)

from fescontrol.protocol import sciencemode2 as sm2
from fescontrol.protocol.sciencemode2 import Ack, ChannelSetting, Cmd, Packet, StimMode

MS = 1_000_000
ACK = 10 * MS


def frames(model: RehaStim2Model, now: int) -> list[sm2.Message]:
    return [sm2.parse(sm2.decode_frame(f)) for f in model.poll(now)]


def linked(t: int = 0) -> RehaStim2Model:
    m = RehaStim2Model()
    (init,) = frames(m, t)
    assert isinstance(init, sm2.Init)
    m.receive(sm2.init_ack(init.packet_number), t + MS)
    assert m.linked
    return m


def command(m: RehaStim2Model, frame: bytes, t: int) -> sm2.Message:
    """Send one command at t and return its single reply, taken at t + ack delay."""
    m.receive(frame, t)
    assert m.poll(t) == []
    (reply,) = frames(m, t + ACK)
    return reply


def result(reply: sm2.Message) -> int:
    assert isinstance(reply, Ack)
    return reply.result


def init_2ch(pn: int = 0, **kw: int) -> bytes:
    args = dict(active_channels=0b11, group_time_code=13, main_time_code=48)
    args.update(kw)
    return sm2.init_channel_list_mode(pn, **args)


TWO = [ChannelSetting(0, 300, 30), ChannelSetting(0, 250, 20)]


def started(t: int = 0) -> RehaStim2Model:
    m = linked(t)
    assert result(command(m, init_2ch(0), t + 100 * MS)) == 0
    assert result(command(m, sm2.start_channel_list_mode(1, TWO), t + 200 * MS)) == 0
    return m


# ----------------------------------------------------------------- handshake


def test_init_repeats_every_500_ms_until_acked() -> None:
    m = RehaStim2Model()
    assert frames(m, 0) == [sm2.Init(0, 1)]
    assert m.next_deadline_ns() == 500 * MS
    assert frames(m, 499 * MS) == []
    assert frames(m, 500 * MS) == [sm2.Init(1, 1)]
    assert frames(m, 1600 * MS) == [sm2.Init(2, 1), sm2.Init(3, 1)]
    m.receive(sm2.init_ack(3), 1600 * MS)
    assert m.linked and m.mode is StimMode.START
    assert frames(m, 2700 * MS) == []  # watchdog runs from 1600 ms


@pytest.mark.parametrize("ack_frame", [sm2.init_ack(7), sm2.init_ack(0, -5)])
def test_init_ack_with_wrong_pn_or_result_is_ignored(ack_frame: bytes) -> None:
    m = RehaStim2Model()
    frames(m, 0)
    m.receive(ack_frame, 10 * MS)
    assert not m.linked
    assert frames(m, 500 * MS) == [sm2.Init(1, 1)]


def test_init_ack_for_previous_init_is_accepted() -> None:
    m = RehaStim2Model()
    frames(m, 0)
    frames(m, 500 * MS)
    m.receive(sm2.init_ack(0), 501 * MS)
    assert m.linked


def test_commands_before_handshake_get_wrong_mode() -> None:
    m = RehaStim2Model()
    frames(m, 0)
    assert command(m, sm2.get_stimulation_mode(5), 100 * MS) == Ack(5, Cmd.GET_STIMULATION_MODE_ACK, -3, b"")
    assert result(command(m, init_2ch(6), 200 * MS)) == -3
    m.receive(sm2.watchdog(7), 300 * MS)
    assert frames(m, 499 * MS) == []


# ----------------------------------------------------------------- acks and busy


def test_ack_comes_after_the_delay_and_echoes_pn() -> None:
    m = linked()
    m.receive(sm2.get_stimulation_mode(42), 100 * MS)
    assert m.next_deadline_ns() == 110 * MS
    assert frames(m, 110 * MS - 1) == []
    assert frames(m, 110 * MS) == [Ack(42, Cmd.GET_STIMULATION_MODE_ACK, 0, b"\x00")]


def test_second_command_while_processing_gets_busy_at_once() -> None:
    m = linked()
    m.receive(sm2.get_stimulation_mode(1), 100 * MS)
    m.receive(init_2ch(2), 101 * MS)
    m.receive(sm2.watchdog(3), 102 * MS)  # no ack, not busy-checked
    assert frames(m, 102 * MS) == [Ack(2, Cmd.INIT_CHANNEL_LIST_MODE_ACK, -8, b"")]
    assert frames(m, 110 * MS) == [Ack(1, Cmd.GET_STIMULATION_MODE_ACK, 0, b"\x00")]
    assert m.mode is StimMode.START  # the busy-rejected init was ignored
    assert result(command(m, init_2ch(4), 120 * MS)) == 0


def test_busy_get_stimulation_mode_ack_has_no_mode_byte() -> None:
    m = linked()
    m.receive(init_2ch(1), 100 * MS)
    m.receive(sm2.get_stimulation_mode(2), 105 * MS)
    assert m.poll(105 * MS) == [sm2.get_stimulation_mode_ack(2, -8)]


# ----------------------------------------------------------------- parameter and mode errors


@pytest.mark.parametrize("frame", [
    init_2ch(group_time_code=12),
    init_2ch(main_time_code=13),
    init_2ch(channel_execution=1),
    init_2ch(active_channels=0),
    sm2.encode_packet(0, Cmd.INIT_CHANNEL_LIST_MODE, bytes.fromhex("08 03 00 0D 00 30 00")),  # factor 8
    sm2.encode_packet(0, Cmd.INIT_CHANNEL_LIST_MODE, bytes.fromhex("00 03 00 0D 08 01 00")),  # code 2049
    sm2.encode_packet(0, Cmd.INIT_CHANNEL_LIST_MODE, bytes.fromhex("00 03 00 0D 00 30")),  # too short
], ids=["group 12", "main 13", "exec 1", "no channel", "factor 8", "main 2049", "6 bytes"])
def test_init_channel_list_mode_bad_parameters(frame: bytes) -> None:
    m = linked()
    assert result(command(m, frame, 100 * MS)) == -2
    assert m.mode is StimMode.START


def test_init_channel_list_mode_one_shot_code_is_accepted() -> None:
    m = linked()
    assert result(command(m, init_2ch(main_time_code=0), 100 * MS)) == 0


@pytest.mark.parametrize("frame", [
    sm2.start_channel_list_mode(1, [ChannelSetting(0, 10, 30), ChannelSetting(0, 250, 20)]),
    sm2.start_channel_list_mode(1, [ChannelSetting(0, 501, 30), ChannelSetting(0, 250, 20)]),
    sm2.start_channel_list_mode(1, [ChannelSetting(0, 300, 30), ChannelSetting(0, 250, 127)]),
    sm2.start_channel_list_mode(1, [ChannelSetting(0, 300, 30)]),  # mask has two channels
    sm2.start_channel_list_mode(1, TWO + [ChannelSetting(0, 300, 30)]),
    sm2.encode_packet(1, Cmd.START_CHANNEL_LIST_MODE, bytes.fromhex("03 01 2C 1E 00 00 FA 14")),  # mode 3
], ids=["pw<20", "pw>500", "current>126", "too few blocks", "too many blocks", "mode 3"])
def test_start_channel_list_mode_bad_parameters(frame: bytes) -> None:
    m = linked()
    assert result(command(m, init_2ch(0), 100 * MS)) == 0
    assert result(command(m, frame, 200 * MS)) == -2
    assert m.mode is StimMode.INITIALISED
    assert m.pop_output_changes() == []


def test_start_rejects_triplets_that_do_not_fit_the_main_interval() -> None:
    m = linked()
    assert result(command(m, init_2ch(0, main_time_code=38), 100 * MS)) == 0  # t1 20 ms, t2 8 ms
    triplet = [ChannelSetting(2, 300, 30), ChannelSetting(0, 250, 20)]
    assert result(command(m, sm2.start_channel_list_mode(1, triplet), 200 * MS)) == -2
    doublet = [ChannelSetting(1, 300, 30), ChannelSetting(0, 250, 20)]
    assert result(command(m, sm2.start_channel_list_mode(2, doublet), 300 * MS)) == 0


def test_start_accepts_zero_pulse_width_and_doublets_that_fit() -> None:
    m = linked()
    assert result(command(m, init_2ch(0), 100 * MS)) == 0
    ok = [ChannelSetting(1, 0, 30), ChannelSetting(0, 20, 126)]
    assert result(command(m, sm2.start_channel_list_mode(1, ok), 200 * MS)) == 0


def test_wrong_mode_errors() -> None:
    m = linked()
    assert result(command(m, sm2.start_channel_list_mode(1, TWO), 100 * MS)) == -3
    assert result(command(m, init_2ch(2), 200 * MS)) == 0
    assert result(command(m, init_2ch(3), 300 * MS)) == -3
    assert result(command(m, sm2.single_pulse(4, 0, 200, 20), 400 * MS)) == -3
    assert result(command(m, sm2.start_channel_list_mode(5, TWO), 500 * MS)) == 0
    assert result(command(m, init_2ch(6), 600 * MS)) == -3
    assert result(command(m, sm2.single_pulse(7, 0, 200, 20), 700 * MS)) == -3


def test_single_pulse_in_start_mode_and_its_limits() -> None:
    m = linked()
    assert result(command(m, sm2.single_pulse(1, 8 - 1, 200, 20), 100 * MS)) == 0
    t = 110 * MS
    assert m.pop_output_changes() == [OutputChange(t, 8, 20, 200, 0.0), OutputChange(t, 8, *OFF)]
    bad = sm2.encode_packet(2, Cmd.SINGLE_PULSE, bytes.fromhex("08 00 C8 14"))
    assert result(command(m, bad, 200 * MS)) == -2
    assert result(command(m, sm2.single_pulse(3, 0, 200, 127), 300 * MS)) == -2
    assert result(command(m, sm2.single_pulse(4, 0, 19, 20), 400 * MS)) == -2


# ----------------------------------------------------------------- outputs


def test_start_update_stop_output_changes() -> None:
    m = linked()
    assert command(m, sm2.get_stimulation_mode(0), 50 * MS) == Ack(0, Cmd.GET_STIMULATION_MODE_ACK, 0, b"\x00")
    assert result(command(m, init_2ch(1), 100 * MS)) == 0
    assert command(m, sm2.get_stimulation_mode(2), 150 * MS).extra == b"\x01"  # type: ignore[union-attr]
    assert m.pop_output_changes() == []
    assert result(command(m, sm2.start_channel_list_mode(3, TWO), 200 * MS)) == 0
    t = 210 * MS
    assert m.pop_output_changes() == [OutputChange(t, 1, 30, 300, 40.0), OutputChange(t, 2, 20, 250, 40.0)]
    assert command(m, sm2.get_stimulation_mode(4), 250 * MS).extra == b"\x02"  # type: ignore[union-attr]
    update = [ChannelSetting(0, 300, 40), ChannelSetting(0, 250, 20)]
    assert result(command(m, sm2.start_channel_list_mode(5, update), 300 * MS)) == 0
    assert m.pop_output_changes() == [OutputChange(310 * MS, 1, 40, 300, 40.0)]
    assert result(command(m, sm2.start_channel_list_mode(6, update), 400 * MS)) == 0
    assert m.pop_output_changes() == []  # same values: no row
    assert result(command(m, sm2.stop_channel_list_mode(7), 500 * MS)) == 0
    t = 510 * MS
    assert m.pop_output_changes() == [OutputChange(t, 1, *OFF), OutputChange(t, 2, *OFF)]
    assert m.mode is StimMode.START
    assert result(command(m, sm2.start_channel_list_mode(8, update), 600 * MS)) == -3  # must re-init


def test_stop_in_start_mode_is_accepted() -> None:
    m = linked()
    assert result(command(m, sm2.stop_channel_list_mode(1), 100 * MS)) == 0


def test_low_frequency_channels_and_one_shot_mode() -> None:
    m = linked()
    frame = init_2ch(0, low_frequency_factor=1, low_frequency_channels=0b10)
    assert result(command(m, frame, 100 * MS)) == 0
    assert result(command(m, sm2.start_channel_list_mode(1, TWO), 200 * MS)) == 0
    assert [c.frequency_hz for c in m.pop_output_changes()] == [40.0, 20.0]
    assert result(command(m, sm2.stop_channel_list_mode(2), 300 * MS)) == 0
    m.pop_output_changes()
    assert result(command(m, init_2ch(3, main_time_code=0), 400 * MS)) == 0
    assert result(command(m, sm2.start_channel_list_mode(4, TWO), 500 * MS)) == 0
    t = 510 * MS
    assert m.pop_output_changes() == [
        OutputChange(t, 1, 30, 300, 0.0), OutputChange(t, 2, 20, 250, 0.0),
        OutputChange(t, 1, *OFF), OutputChange(t, 2, *OFF)]


def test_frequency_is_1000_over_main_interval() -> None:
    m = linked()
    assert result(command(m, init_2ch(0, main_time_code=65), 100 * MS)) == 0  # 33.5 ms
    assert result(command(m, sm2.start_channel_list_mode(1, TWO), 200 * MS)) == 0
    assert m.pop_output_changes()[0].frequency_hz == round(1000 / 33.5, 4)


# ----------------------------------------------------------------- watchdog


def test_watchdog_expiry_stops_output_and_restarts_init() -> None:
    m = started()
    m.pop_output_changes()
    last_rx = 200 * MS  # the StartChannelListMode; its ack left at 210 ms
    assert m.next_deadline_ns() == last_rx + 1200 * MS
    assert frames(m, last_rx + 1200 * MS - 1) == []
    assert m.pop_output_changes() == []
    got = frames(m, last_rx + 1300 * MS)
    assert len(got) == 1 and isinstance(got[0], sm2.Init)
    t = last_rx + 1200 * MS
    assert m.pop_output_changes() == [OutputChange(t, 1, *OFF), OutputChange(t, 2, *OFF)]
    assert not m.linked and m.mode is StimMode.START
    assert [r.t_ns for r in m.pop_packet_records() if r.direction == "tx"][-1] == t
    assert frames(m, t + 500 * MS) == [sm2.Init(got[0].packet_number + 1, 1)]  # type: ignore[union-attr]
    assert result(command(m, sm2.get_stimulation_mode(9), t + 600 * MS)) == -3


def test_any_valid_packet_feeds_the_watchdog() -> None:
    m = started()
    for k in range(1, 6):
        m.receive(sm2.watchdog(k), k * 1000 * MS)
        assert frames(m, k * 1000 * MS) == []
    assert m.linked and m.mode is StimMode.STARTED
    m.receive(sm2.encode_packet(9, 99), 6000 * MS)  # unknown command is still a valid packet
    assert frames(m, 7100 * MS) == [sm2.UnknownCommand(9, 99)]
    assert m.linked


def test_bad_frames_do_not_feed_the_watchdog() -> None:
    m = linked(0)  # link up at 1 ms
    bad = bytearray(sm2.watchdog(1))
    bad[2] ^= 0xFF
    m.receive(bytes(bad), 1000 * MS)
    frames(m, 1201 * MS)
    assert not m.linked


# ----------------------------------------------------------------- transfer errors, unknown commands


def test_bad_checksum_gets_transfer_error_ack_at_once() -> None:
    m = started()
    frame = bytearray(sm2.start_channel_list_mode(0x0F, TWO))
    frame[-2] ^= 0x01
    m.receive(bytes(frame), 500 * MS)
    assert frames(m, 500 * MS) == [Ack(0x0F, Cmd.START_CHANNEL_LIST_MODE_ACK, -1, b"")]
    assert m.pop_output_changes()[-1].current_ma == 20  # outputs untouched


def test_truncated_frame_is_dropped_silently() -> None:
    m = linked()
    m.receive(sm2.get_stimulation_mode(1)[:5] + sm2.get_stimulation_mode(2), 100 * MS)
    assert frames(m, 110 * MS) == [Ack(2, Cmd.GET_STIMULATION_MODE_ACK, 0, b"\x00")]


@pytest.mark.parametrize("command_id", [99, Cmd.INIT, Cmd.START_CHANNEL_LIST_MODE_ACK, Cmd.STIMULATION_ERROR])
def test_unknown_command_gets_unknown_command_packet(command_id: int) -> None:
    m = linked()
    m.receive(sm2.encode_packet(0x81, command_id, b"\x01"), 100 * MS)
    assert frames(m, 100 * MS) == [sm2.UnknownCommand(0x81, command_id)]


# ----------------------------------------------------------------- faults, shutdown, records


def test_injected_stimulation_error_stops_and_needs_reinit() -> None:
    m = started()
    m.pop_output_changes()
    m.inject_stimulation_error(500 * MS, -2)
    (err,) = frames(m, 500 * MS)
    assert isinstance(err, sm2.StimulationError) and err.error == -2
    assert err.packet_number == 1  # own counter: Init 0 went before
    assert m.pop_output_changes() == [OutputChange(500 * MS, 1, *OFF), OutputChange(500 * MS, 2, *OFF)]
    assert m.mode is StimMode.START and m.linked
    assert result(command(m, sm2.start_channel_list_mode(5, TWO), 600 * MS)) == -3
    assert result(command(m, init_2ch(6), 700 * MS)) == 0


def test_power_off_zeros_outputs() -> None:
    m = started()
    m.pop_output_changes()
    m.power_off(300 * MS)
    assert m.pop_output_changes() == [OutputChange(300 * MS, 1, *OFF), OutputChange(300 * MS, 2, *OFF)]
    assert all(v == OFF for v in m.outputs.values())


def test_packet_records_keep_exact_bytes_in_and_out() -> None:
    m = RehaStim2Model()
    frames(m, 0)
    noisy = b"\x00" + sm2.init_ack(0)
    m.receive(noisy, 5 * MS)
    recs = m.pop_packet_records()
    assert [(r.t_ns, r.direction, r.raw) for r in recs] == [
        (0, "tx", sm2.init(0)), (5 * MS, "rx", sm2.init_ack(0))]
    assert recs[1].item == Packet(0, Cmd.INIT_ACK, b"\x00")


# ----------------------------------------------------------------- injected faults (FaultPlan)


def faulty(**plan: int) -> RehaStim2Model:
    """Started at 200 ms (outputs on from 210 ms) with the given faults scheduled."""
    m = RehaStim2Model(faults=FaultPlan(**plan))
    (init,) = frames(m, 0)
    m.receive(sm2.init_ack(init.packet_number), MS)  # type: ignore[union-attr]
    assert result(command(m, init_2ch(0), 100 * MS)) == 0
    assert result(command(m, sm2.start_channel_list_mode(1, TWO), 200 * MS)) == 0
    assert len(m.pop_output_changes()) == 2
    m.pop_records()
    return m


def faults_of(m: RehaStim2Model) -> list[tuple[int, str, dict[str, object]]]:
    return [(r.t_ns, r.fault, r.detail) for r in m.pop_records() if isinstance(r, FaultRecord)]


UPDATE = [ChannelSetting(0, 300, 50), ChannelSetting(0, 250, 20)]
ON = {1: (30, 300, 40.0), 2: (20, 250, 40.0)}


def test_no_fault_plan_records_no_fault() -> None:
    m = started()
    m.inject_stimulation_error(300 * MS, -3)  # the old API still works
    m.inject_stimulation_error(400 * MS, -5)  # not a documented error: no own name
    assert faults_of(m) == [(300 * MS, "module_error", {"effect": "outputs_off", "error": -3}),
                            (400 * MS, "stimulation_error", {"effect": "outputs_off", "error": -5})]
    assert FaultPlan().schedule() == []


def test_busy_from_refuses_start_at_once_but_stop_works() -> None:
    m = faulty(busy_from_ns=300 * MS)
    assert frames(m, 300 * MS) == []
    assert faults_of(m) == [(300 * MS, "busy", {"effect": "active"})]
    m.receive(sm2.start_channel_list_mode(2, UPDATE), 400 * MS)
    assert frames(m, 400 * MS) == [Ack(2, Cmd.START_CHANNEL_LIST_MODE_ACK, -8, b"")]
    assert frames(m, 420 * MS) == []
    assert m.pop_output_changes() == [] and {ch: m.outputs[ch] for ch in (1, 2)} == ON
    assert faults_of(m) == [(400 * MS, "busy", {"effect": "refused", "packet_number": 2,
                                                "command": "START_CHANNEL_LIST_MODE"})]
    assert m.next_deadline_ns() == 1600 * MS  # the refused Start still fed the watchdog
    assert command(m, sm2.get_stimulation_mode(3), 500 * MS) == Ack(3, Cmd.GET_STIMULATION_MODE_ACK, 0, b"\x02")
    assert result(command(m, sm2.stop_channel_list_mode(4), 600 * MS)) == 0
    assert m.pop_output_changes() == [OutputChange(610 * MS, 1, *OFF), OutputChange(610 * MS, 2, *OFF)]


def test_busy_from_before_the_first_start_refuses_it() -> None:
    m = RehaStim2Model(faults=FaultPlan(busy_from_ns=150 * MS))
    (init,) = frames(m, 0)
    m.receive(sm2.init_ack(init.packet_number), MS)  # type: ignore[union-attr]
    assert result(command(m, init_2ch(0), 100 * MS)) == 0
    m.receive(sm2.start_channel_list_mode(1, TWO), 200 * MS)
    assert frames(m, 200 * MS) == [Ack(1, Cmd.START_CHANNEL_LIST_MODE_ACK, -8, b"")]
    assert frames(m, 300 * MS) == []
    assert m.pop_output_changes() == [] and m.mode is StimMode.INITIALISED


def test_ack_then_busy_acks_ok_applies_nothing_then_acks_busy() -> None:
    m = faulty(ack_then_busy_from_ns=300 * MS)
    m.receive(sm2.start_channel_list_mode(2, UPDATE), 400 * MS)
    assert frames(m, 400 * MS) == [Ack(2, Cmd.START_CHANNEL_LIST_MODE_ACK, 0, b"")]
    assert m.next_deadline_ns() == 410 * MS
    assert frames(m, 410 * MS - 1) == []
    assert frames(m, 410 * MS) == [Ack(2, Cmd.START_CHANNEL_LIST_MODE_ACK, -8, b"")]
    m.receive(sm2.stop_channel_list_mode(3), 500 * MS)
    assert frames(m, 500 * MS) == [Ack(3, Cmd.STOP_CHANNEL_LIST_MODE_ACK, 0, b"")]
    assert frames(m, 510 * MS) == [Ack(3, Cmd.STOP_CHANNEL_LIST_MODE_ACK, -8, b"")]
    m.receive(sm2.get_stimulation_mode(4), 600 * MS)
    assert frames(m, 610 * MS) == [Ack(4, Cmd.GET_STIMULATION_MODE_ACK, 0, b"\x02"),
                                   Ack(4, Cmd.GET_STIMULATION_MODE_ACK, -8, b"")]
    assert m.pop_output_changes() == [] and m.mode is StimMode.STARTED
    assert {ch: m.outputs[ch] for ch in (1, 2)} == ON  # the old current goes on
    got = faults_of(m)
    assert got[0] == (300 * MS, "ack_then_busy", {"effect": "active"})
    assert [(t, d["effect"], d["packet_number"]) for t, _f, d in got[1:]] == [
        (400 * MS, "acked_not_applied", 2), (500 * MS, "acked_not_applied", 3), (600 * MS, "acked_not_applied", 4)]
    # only the watchdog (fed by those commands) ends it
    frames(m, 1800 * MS)
    assert m.pop_output_changes() == [OutputChange(1800 * MS, 1, *OFF), OutputChange(1800 * MS, 2, *OFF)]


def test_silent_device_applies_commands_and_runs_its_watchdog_but_sends_nothing() -> None:
    m = faulty(silent_from_ns=300 * MS)
    assert frames(m, 300 * MS) == [] and m.tx_cut
    m.receive(sm2.start_channel_list_mode(2, UPDATE), 400 * MS)
    assert frames(m, 410 * MS) == []
    assert m.pop_output_changes() == [OutputChange(410 * MS, 1, 50, 300, 40.0)]
    assert frames(m, 1610 * MS) == []  # watchdog expiry at 1600 ms: no Init goes out
    assert m.pop_output_changes() == [OutputChange(1600 * MS, 1, *OFF), OutputChange(1600 * MS, 2, *OFF)]
    assert not m.linked
    recs = m.pop_records()
    assert isinstance(recs[0], FaultRecord) and recs[0].fault == "silent"
    suppressed = [(r.t_ns, sm2.parse(r.item)) for r in recs if isinstance(r, PacketRecord)
                  and r.direction == "tx_suppressed"]
    assert suppressed[0] == (410 * MS, Ack(2, Cmd.START_CHANNEL_LIST_MODE_ACK, 0, b""))
    assert isinstance(suppressed[1][1], sm2.Init) and suppressed[1][0] == 1600 * MS
    assert not any(isinstance(r, PacketRecord) and r.direction == "tx" for r in recs)


def test_silent_stop_still_stops() -> None:
    m = faulty(silent_from_ns=300 * MS)
    m.receive(sm2.stop_channel_list_mode(2), 400 * MS)
    assert frames(m, 410 * MS) == []
    assert m.pop_output_changes() == [OutputChange(410 * MS, 1, *OFF), OutputChange(410 * MS, 2, *OFF)]


@pytest.mark.parametrize(("field", "name", "error"), [
    ("emergency_switch_at_ns", "emergency_switch", -1), ("electrode_error_at_ns", "electrode_error", -2),
    ("module_error_at_ns", "module_error", -3)])
def test_stimulation_error_turns_outputs_off_at_that_instant(field: str, name: str, error: int) -> None:
    m = faulty(**{field: 333 * MS})
    assert m.next_deadline_ns() == 333 * MS
    (err,) = frames(m, 340 * MS)
    assert err == sm2.StimulationError(1, error)  # Init 0 went before
    assert m.pop_output_changes() == [OutputChange(333 * MS, 1, *OFF), OutputChange(333 * MS, 2, *OFF)]
    recs = m.pop_records()
    assert recs[0] == FaultRecord(333 * MS, name, {"effect": "outputs_off", "error": error})
    assert isinstance(recs[1], PacketRecord) and recs[1].t_ns == 333 * MS  # the error frame, after
    assert m.linked and m.mode is StimMode.START
    assert result(command(m, sm2.start_channel_list_mode(5, TWO), 400 * MS)) == -3


def test_stimulation_error_while_a_start_is_processed_keeps_outputs_off() -> None:
    m = faulty(emergency_switch_at_ns=405 * MS)
    m.receive(sm2.start_channel_list_mode(2, UPDATE), 400 * MS)
    got = frames(m, 420 * MS)
    assert got == [sm2.StimulationError(1, -1), Ack(2, Cmd.START_CHANNEL_LIST_MODE_ACK, -3, b"")]
    assert m.pop_output_changes() == [OutputChange(405 * MS, 1, *OFF), OutputChange(405 * MS, 2, *OFF)]


def test_reset_turns_off_resets_and_sends_init_as_after_power_up() -> None:
    m = faulty(reset_at_ns=300 * MS)
    m.receive(sm2.get_stimulation_mode(2), 295 * MS)  # in processing at the reset: dropped
    assert frames(m, 300 * MS) == [sm2.Init(0, 1)]  # own counter from 0 again
    assert m.pop_output_changes() == [OutputChange(300 * MS, 1, *OFF), OutputChange(300 * MS, 2, *OFF)]
    assert not m.linked and m.mode is StimMode.START
    assert frames(m, 799 * MS) == []
    assert frames(m, 800 * MS) == [sm2.Init(1, 1)]
    assert faults_of(m) == [(300 * MS, "reset", {"effect": "outputs_off"})]
    m.receive(sm2.init_ack(1), 810 * MS)
    assert m.linked
    assert result(command(m, sm2.start_channel_list_mode(3, TWO), 900 * MS)) == -3  # must re-init
    assert result(command(m, init_2ch(4), 1000 * MS)) == 0


def test_a_late_poll_runs_the_fault_at_its_own_time_in_order() -> None:
    m = faulty(electrode_error_at_ns=1000 * MS, reset_at_ns=1000 * MS)
    m.receive(sm2.watchdog(2), 900 * MS)
    got = frames(m, 1300 * MS)
    assert got == [sm2.StimulationError(1, -2), sm2.Init(0, 1)]
    assert [(t, f) for t, f, _d in faults_of(m)] == [(1000 * MS, "electrode_error"), (1000 * MS, "reset")]
    assert m.pop_output_changes() == [OutputChange(1000 * MS, 1, *OFF), OutputChange(1000 * MS, 2, *OFF)]


def test_process_faults_are_recorded_and_cut_tx_suppresses_frames() -> None:
    m = started()
    m.record_fault(300 * MS, "unplug", effect="port_closed")
    m.cut_tx(300 * MS)
    assert m.tx_cut
    m.receive(sm2.get_stimulation_mode(2), 400 * MS)
    assert frames(m, 410 * MS) == []
    recs = m.pop_records()
    assert FaultRecord(300 * MS, "unplug", {"effect": "port_closed"}) in recs
    assert [r.direction for r in recs if isinstance(r, PacketRecord)][-1] == "tx_suppressed"


# ----------------------------------------------------------------- published hosts' quirks (lenient)


def quirks_of(m: RehaStim2Model) -> list[tuple[int, str, bool, dict[str, object]]]:
    return [(r.t_ns, r.quirk, r.accepted, r.detail) for r in m.pop_records() if isinstance(r, QuirkRecord)]


def test_first_packet_number_sets_the_device_counter() -> None:
    m = RehaStim2Model(first_packet_number=255)
    assert frames(m, 0) == [sm2.Init(255, 1)]
    assert frames(m, 500 * MS) == [sm2.Init(0, 1)]
    with pytest.raises(ValueError, match="first_packet_number = 256"):
        RehaStim2Model(first_packet_number=256)


@pytest.mark.parametrize("init_pn", [10, 15, 85, 129, 240])
@pytest.mark.parametrize("lenient", [False, True])
def test_pysciencemode_init_ack_packet_number(init_pn: int, lenient: bool) -> None:
    m = RehaStim2Model(lenient=lenient, first_packet_number=init_pn)
    assert frames(m, 0) == [sm2.Init(init_pn, 1)]
    garbled = sm2.pysciencemode_init_ack_pn(init_pn)
    assert garbled != init_pn
    m.pop_records()
    m.receive(sm2.init_ack(garbled), MS)
    assert m.linked is lenient
    assert quirks_of(m) == [(MS, sm2.QUIRK_XOR_PACKET_NUMBER, lenient,
                             {"packet_number": garbled, "init_packet_number": init_pn})]


def test_an_unrelated_wrong_init_ack_is_no_quirk() -> None:
    m = RehaStim2Model(lenient=True, first_packet_number=15)
    frames(m, 0)
    m.pop_records()
    m.receive(sm2.init_ack(0x00), MS)  # pysciencemode's answer to Init 85, not to Init 15
    assert not m.linked and quirks_of(m) == []


def test_xored_get_stimulation_mode_unknown_when_strict_answered_when_lenient() -> None:
    frame = bytes.fromhex("f0 81 da 81 57 01 5f 0f")  # pysciencemode's GetStimulationMode at pn 1
    strict = linked()
    strict.pop_records()
    strict.receive(frame, 100 * MS)
    assert frames(strict, 100 * MS) == [sm2.UnknownCommand(1, 0x5F)]
    assert quirks_of(strict) == [(100 * MS, sm2.QUIRK_XOR_COMMAND, False,
                                  {"packet_number": 1, "command": 0x5F, "meant": "GET_STIMULATION_MODE"})]
    m = RehaStim2Model(lenient=True)
    (init,) = frames(m, 0)
    m.receive(sm2.init_ack(init.packet_number), MS)  # type: ignore[union-attr]
    m.pop_records()
    assert command(m, frame, 100 * MS) == Ack(1, Cmd.GET_STIMULATION_MODE_ACK, 0, b"\x00")
    assert quirks_of(m) == [(100 * MS, sm2.QUIRK_XOR_COMMAND, True, {"packet_number": 1, "command": 10})]
    assert m.decoder.quirks == {sm2.QUIRK_XOR_COMMAND: 1}


def test_over_escaped_data_is_accepted_in_both_modes_and_recorded() -> None:
    body = bytes.fromhex("01 20 00 01 81 00 1e")  # 341 us (01 55) sent as 01 81 00
    frame = bytes((sm2.START, sm2.ESC, sm2.crc8(body) ^ sm2.KEY, sm2.ESC, len(body) ^ sm2.KEY)) + body + b"\x0f"
    for lenient in (False, True):
        m = RehaStim2Model(lenient=lenient)
        (init,) = frames(m, 0)
        m.receive(sm2.init_ack(init.packet_number), MS)  # type: ignore[union-attr]
        assert result(command(m, sm2.init_channel_list_mode(0, active_channels=1, group_time_code=13,
                                                             main_time_code=48), 100 * MS)) == 0
        m.pop_records()
        assert result(command(m, frame, 200 * MS)) == 0
        assert m.outputs[1] == (30, 341, 40.0)
        assert quirks_of(m) == [(200 * MS, sm2.QUIRK_OVER_ESCAPED, True, {"packet_number": 1, "command": 32})]


@pytest.mark.parametrize("lenient", [False, True])
def test_inter_pulse_interval_below_8_ms(lenient: bool) -> None:
    m = RehaStim2Model(lenient=lenient)
    (init,) = frames(m, 0)
    m.receive(sm2.init_ack(init.packet_number), MS)  # type: ignore[union-attr]
    m.pop_records()
    assert result(command(m, init_2ch(0, group_time_code=1), 100 * MS)) == (0 if lenient else -2)
    assert quirks_of(m) == [(110 * MS, sm2.QUIRK_SHORT_GROUP_TIME, lenient,
                             {"packet_number": 0, "group_time_code": 1, "group_interval_ms": 2.0})]
    # lenient: clamped to 8 ms, so a triplet needs t1 >= 24 ms (25 ms here: fits; 2 ms would fit anything)
    triplet = [ChannelSetting(2, 300, 30), ChannelSetting(0, 250, 20)]
    assert result(command(m, sm2.start_channel_list_mode(1, triplet), 200 * MS)) == (0 if lenient else -3)
    if lenient:
        m2 = RehaStim2Model(lenient=True)
        (init,) = frames(m2, 0)
        m2.receive(sm2.init_ack(init.packet_number), MS)  # type: ignore[union-attr]
        assert result(command(m2, init_2ch(0, group_time_code=1, main_time_code=44), 100 * MS)) == 0  # t1 = 23 ms
        assert result(command(m2, sm2.start_channel_list_mode(1, triplet), 200 * MS)) == -2  # 3 x 8 ms > 23 ms


def test_lenient_watchdog_accepts_gaps_up_to_2_s_and_records_each() -> None:
    m = RehaStim2Model(lenient=True)
    (init,) = frames(m, 0)
    m.receive(sm2.init_ack(init.packet_number), 0)  # type: ignore[union-attr]
    assert m.next_deadline_ns() == 2000 * MS
    m.receive(sm2.watchdog(1), 1100 * MS)  # within 1.2 s: no quirk
    m.receive(sm2.watchdog(2), 2680 * MS)  # 1.58 s: pysciencemode's gap
    assert m.linked and quirks_of(m) == [(2680 * MS, sm2.QUIRK_KEEPALIVE_GAP, True, {"gap_ms": 1580.0})]
    assert frames(m, 4679 * MS) == [] and m.linked
    assert frames(m, 4680 * MS) == [sm2.Init(1, 1)] and not m.linked  # 2 s: even lenient expires


def test_strict_watchdog_expires_at_1_2_s_and_records_no_quirk() -> None:
    m = RehaStim2Model()
    (init,) = frames(m, 0)
    m.receive(sm2.init_ack(init.packet_number), 0)  # type: ignore[union-attr]
    assert frames(m, 1200 * MS) == [sm2.Init(1, 1)] and not m.linked
    m.receive(sm2.watchdog(1), 1580 * MS)
    assert quirks_of(m) == []
