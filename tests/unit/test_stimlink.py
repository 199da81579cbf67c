"""The RehaStim 2 link against the device model on a fake clock: handshake, acks, device faults."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from fescontrol_hil.rehastim2_model import FaultPlan

from fescontrol.errors import AckTimeout, DeviceInitError, SafetyTrip
from fescontrol.protocol import sciencemode2 as sm2
from fescontrol.protocol import sciencemode4 as sm4
from fescontrol.safety.gate import GateState
from fescontrol.sensing.frames import encode_heel_frame
from fescontrol.stimulators.base import what_came, what_came_since_packet
from fescontrol.stimulators.sciencemode2 import MAX_INIT_CROSSINGS, InFlight, LinkTiming, _name
from tests.unit.loop_rig import MS, START_NS, LoopRig

START_ACK = sm2.Cmd.START_CHANNEL_LIST_MODE_ACK


def linked(tmp_path: Path, **kw: object) -> LoopRig:
    rig = LoopRig(tmp_path, **kw)  # type: ignore[arg-type]
    rig.connect()
    return rig


def answered(rig: LoopRig) -> None:
    """Deliver what the host sent now, let the device take its processing time, read its answer."""
    rig.pump()
    rig.sleep(rig.model.ack_delay_ns / 1e9)
    rig.link.poll(rig.t)


def kinds(rig: LoopRig) -> list[str]:
    return [r["kind"] for r in rig.session_log()]


# -- handshake -----------------------------------------------------------------------------------------
def test_handshake_answers_init_and_sets_up_the_channel_list(tmp_path: Path) -> None:
    rig = linked(tmp_path)
    assert rig.link.linked and rig.link.initialised and rig.link.in_flight is None
    assert rig.model.linked and rig.model.mode is sm2.StimMode.INITIALISED
    assert rig.link.active_mask == 0b11
    assert rig.t - START_NS <= 2 * rig.model.ack_delay_ns  # Init at once, then one command round trip
    assert kinds(rig)[:2] == ["stim_link_up", "stim_ack"]
    assert rig.gate.counters.sent == 2 and rig.gate.counters.blocked == 0  # InitAck, InitChannelListMode


def _crossed(rig: LoopRig) -> None:
    """The device's first Init is answered; before that InitAck reaches the device, its next Init
    (500 ms later) is already on the wire: the two cross."""
    rig.pump()  # Init pn 0 reaches the host
    rig.link.poll(rig.t)  # InitAck pn 0 goes out, not yet delivered
    assert rig.link.linked
    rig.t += rig.model.init_period_ns
    for frame in rig.model.poll(rig.t):  # the next Init goes out first
        rig.dev_stim.write(frame)
    rig.pump()  # then the InitAck arrives: the device takes it (one of its last two Inits)


def test_an_init_crossing_the_init_ack_is_answered_not_a_fault(tmp_path: Path) -> None:
    rig = LoopRig(tmp_path)
    _crossed(rig)
    rig.link.connect(rig.clock, rig.sleep)
    assert rig.link.linked and rig.link.initialised and rig.link.link_losses == 0
    assert rig.model.linked and rig.model.mode is sm2.StimMode.INITIALISED
    log = rig.session_log()
    assert [r["kind"] for r in log][:3] == ["stim_link_up", "stim_init_crossed", "stim_ack"]
    assert log[1]["device_packet_number"] == 1


def test_an_init_after_the_channel_list_or_too_many_crossings_is_a_fault(tmp_path: Path) -> None:
    rig = linked(tmp_path)  # channel list set up: an Init now is a reset
    rig.inject(sm2.init(7))
    with pytest.raises(SafetyTrip, match="reset itself"):
        rig.link.poll(rig.t)
    rig = LoopRig(tmp_path / "again")
    _crossed(rig)
    rig.link.poll(rig.t)  # the crossing Init: answered
    for pn in range(2, 2 + MAX_INIT_CROSSINGS):
        rig.inject(sm2.init(pn))
        if pn < 1 + MAX_INIT_CROSSINGS:
            rig.link.poll(rig.t)
    with pytest.raises(SafetyTrip, match="reset itself"):
        rig.link.poll(rig.t)
    assert rig.link.init_crossings == MAX_INIT_CROSSINGS


def test_handshake_times_out_without_init(tmp_path: Path) -> None:
    rig = LoopRig(tmp_path, faults=FaultPlan(silent_from_ns=0))
    with pytest.raises(DeviceInitError, match=r"^stimulator handshake failed after 3\.0 s: no Init from the device; "
                                              r"nothing arrived on the stimulator port: is it the stimulator's port, "
                                              r"is the device on, and does it speak ScienceMode2 \(--device\)\?$"):
        rig.connect()
    assert rig.t - START_NS <= 3000 * MS + 2 * MS


def test_a_handshake_with_the_sensor_on_the_stimulator_port_says_what_came(tmp_path: Path) -> None:
    """Ports swapped: heel frames where the device's Init should be. The failure counts them."""
    rig = LoopRig(tmp_path, faults=FaultPlan(silent_from_ns=0))
    frames = b"".join(encode_heel_frame(k, 300.0) for k in range(50))
    rig.inject(frames)
    with pytest.raises(DeviceInitError, match=rf"no Init from the device; {len(frames)} bytes arrived and none formed "
                                              r"a ScienceMode2 packet: is it the stimulator's port \(not the sensor's\)"):
        rig.connect()


def test_sciencemode4_packets_on_a_rehastim2_link_are_named(tmp_path: Path) -> None:
    """`--device rehastim2` on a ScienceMode4 device that answers something (a P24 sends nothing
    unasked; here an ack arrives): the failure names its protocol and the --device for it."""
    rig = LoopRig(tmp_path, faults=FaultPlan(silent_from_ns=0))
    packet = sm4.ack(3, sm4.Cmd.ML_INIT_ACK, sm4.Result.SUCCESSFUL)
    rig.inject(packet)
    with pytest.raises(DeviceInitError) as info:
        rig.connect()
    assert str(info.value).endswith(
        f"no Init from the device; {len(packet)} bytes arrived and none formed a ScienceMode2 packet; they are "
        "ScienceMode4 (1 packet): the device speaks ScienceMode4, run with --device rehamove3 or p24")


def test_handshake_times_out_without_the_channel_list_ack(tmp_path: Path) -> None:
    rig = LoopRig(tmp_path, faults=FaultPlan(silent_from_ns=START_NS + 1))  # Init gets out, nothing after
    rig.link.timing = LinkTiming(keepalive_ns=250 * MS, handshake_timeout_ns=100 * MS)
    with pytest.raises(DeviceInitError, match=r"after 0\.1 s: no InitChannelListMode ack; 1 ScienceMode2 packets "
                                              r"arrived, not the one awaited$"):
        rig.connect()
    assert rig.link.linked and not rig.link.initialised


def test_a_missing_ack_during_the_handshake_is_a_fault(tmp_path: Path) -> None:
    rig = LoopRig(tmp_path, faults=FaultPlan(silent_from_ns=START_NS + 1))
    with pytest.raises(AckTimeout, match="^no ack for InitChannelListMode within 200 ms; nothing arrived from the "
                                         "stimulator since its last packet: is it still on, and its cable or adapter "
                                         "in\\?$"):
        rig.connect()


def test_init_while_closing_is_not_answered(tmp_path: Path) -> None:
    rig = LoopRig(tmp_path)
    rig.link.closing = True
    rig.pump()  # the device sends Init
    rig.link.poll(rig.t)
    assert not rig.link.linked and rig.gate.counters.sent == 0


# -- answers from the device ---------------------------------------------------------------------------
def test_a_corrupted_frame_from_the_device_is_recorded_not_acted_on(tmp_path: Path) -> None:
    rig = linked(tmp_path)
    frame = sm2.ack(3, START_ACK, 0)
    bad = frame[:-2] + bytes((frame[-2] ^ 1,)) + frame[-1:]
    rig.inject(bad)
    rig.link.poll(rig.t)
    record = rig.session_log()[-1]
    assert record["kind"] == "stim_rx_bad_frame" and record["hex"] == bad.hex(" ")
    assert record["reason"].startswith("checksum field")
    assert rig.link.linked and rig.link.in_flight is None


@pytest.mark.parametrize(("error", "text"), [
    (-1, "emergency switch activated or not connected"), (-2, "electrode error"),
    (-3, "stimulation module error"), (-7, "error -7")])
def test_a_stimulation_error_is_a_fault(tmp_path: Path, error: int, text: str) -> None:
    rig = linked(tmp_path)
    rig.inject(sm2.stimulation_error(9, error))
    with pytest.raises(SafetyTrip) as exc:
        rig.link.poll(rig.t)
    assert exc.value.cause == f"stimulator reported {text}"


def test_an_unknown_command_answer_is_a_fault(tmp_path: Path) -> None:
    rig = linked(tmp_path)
    rig.inject(sm2.unknown_command(4, 36))
    with pytest.raises(SafetyTrip) as exc:
        rig.link.poll(rig.t)
    assert exc.value.cause == "stimulator did not know command 36"


def test_a_refused_command_is_a_fault(tmp_path: Path) -> None:
    rig = linked(tmp_path)
    rig.link.set_currents((0, 0), rig.t)
    assert rig.link.in_flight is not None
    rig.inject(sm2.ack(rig.link.in_flight.packet_number, START_ACK, sm2.Result.PARAMETER_ERROR))
    with pytest.raises(SafetyTrip) as exc:
        rig.link.poll(rig.t)
    assert exc.value.cause == "stimulator refused StartChannelListMode with result -2"


def test_an_accepted_start_is_what_the_device_now_delivers(tmp_path: Path) -> None:
    rig = linked(tmp_path)
    rig.gate.sensor_sample(rig.t)
    rig.link.set_currents((10, 8), rig.t)
    assert rig.link.acked_currents == (0, 0)  # not before the ack
    answered(rig)
    assert rig.link.acked_currents == (10, 8) and rig.current_ma(1) == 10 and rig.current_ma(2) == 8
    ack = rig.session_log()[-1]
    assert (ack["kind"], ack["command"], ack["result"], ack["latency_ms"]) == (
        "stim_ack", "StartChannelListModeAck", 0, 10.0)


def test_an_acked_stop_zeroes_the_output_and_the_channel_list(tmp_path: Path) -> None:
    rig = linked(tmp_path)
    rig.gate.sensor_sample(rig.t)
    rig.link.set_currents((10, 8), rig.t)
    answered(rig)
    assert rig.output_on()
    rig.link.send_stop(rig.t)
    assert rig.link.in_flight is not None and rig.link.in_flight.command == sm2.Cmd.STOP_CHANNEL_LIST_MODE
    answered(rig)
    assert rig.link.acked_currents == (0, 0) and not rig.link.initialised
    assert rig.link.last_ack_result == sm2.Result.OK and not rig.output_on()


def test_an_ack_for_a_command_the_link_does_not_track_changes_nothing(tmp_path: Path) -> None:
    rig = linked(tmp_path)
    rig.link.in_flight = InFlight(7, sm2.Cmd.GET_STIMULATION_MODE, rig.t)
    rig.inject(sm2.get_stimulation_mode_ack(7, sm2.Result.OK, sm2.StimMode.INITIALISED))
    rig.link.poll(rig.t)
    assert rig.link.in_flight is None and rig.link.initialised and rig.link.acked_currents == (0, 0)


def test_a_host_command_sent_by_the_device_is_ignored(tmp_path: Path) -> None:
    rig = linked(tmp_path)
    before = len(rig.session_log())
    rig.inject(sm2.watchdog(3))
    rig.link.poll(rig.t)
    assert rig.link.linked and rig.link.initialised and len(rig.session_log()) == before


def test_while_closing_an_unexpected_ack_is_recorded_not_raised(tmp_path: Path) -> None:
    rig = linked(tmp_path)
    rig.link.closing = True
    rig.inject(sm2.ack(200, START_ACK, 0))
    rig.link.poll(rig.t)
    assert rig.session_log()[-1]["kind"] == "stim_unexpected_ack"
    assert rig.session_log()[-1]["packet_number"] == 200


def test_poll_acts_on_everything_received_then_raises_the_first_fault(tmp_path: Path) -> None:
    rig = linked(tmp_path)
    rig.inject(sm2.stimulation_error(1, -2) + sm2.init(2))
    with pytest.raises(SafetyTrip) as exc:
        rig.link.poll(rig.t)
    assert exc.value.cause == "stimulator reported electrode error"
    assert not rig.link.linked and rig.link.link_losses == 1  # the Init behind it was handled too
    assert "stim_link_lost" in kinds(rig)


def test_a_malformed_packet_from_the_device_is_a_fault(tmp_path: Path) -> None:
    rig = linked(tmp_path)
    rig.inject(sm2.encode_packet(5, 99))
    with pytest.raises(SafetyTrip):
        rig.link.poll(rig.t)


# -- sending -------------------------------------------------------------------------------------------
def test_keepalive_goes_out_once_per_period_and_never_over_a_command_in_flight(tmp_path: Path) -> None:
    rig = linked(tmp_path)
    last = rig.link.last_tx_ns
    assert not rig.link.keepalive(last + 250 * MS - 1)
    assert rig.link.keepalive(last + 250 * MS)
    assert rig.link.last_tx_ns == last + 250 * MS and rig.link.in_flight is None  # no ack is defined
    rig.link.set_currents((0, 0), last + 260 * MS)
    assert not rig.link.keepalive(last + 600 * MS)
    rig.link.in_flight = None
    rig.link.linked = False
    assert not rig.link.keepalive(last + 600 * MS)


def test_a_command_the_gate_blocks_is_a_fault_and_trips_the_gate(tmp_path: Path) -> None:
    rig = linked(tmp_path)
    rig.gate.sensor_sample(rig.t)
    with pytest.raises(SafetyTrip) as exc:
        rig.link.set_currents((50, 0), rig.t)
    assert exc.value.cause == "gate blocked StartChannelListMode: channel 1: current 50 mA > limit 40 mA"
    assert rig.gate.state is GateState.LATCHED_FAULT
    assert rig.link.in_flight is None


def test_trip_sends_stop_latches_and_waits_for_its_ack(tmp_path: Path) -> None:
    rig = linked(tmp_path)
    rig.link.trip("test cause", rig.t)
    assert rig.gate.state is GateState.LATCHED_FAULT and rig.gate.fault_cause == "test cause"
    assert rig.link.in_flight is not None and rig.link.in_flight.command == sm2.Cmd.STOP_CHANNEL_LIST_MODE
    assert rig.link.last_tx_ns == rig.t


def test_command_names() -> None:
    assert _name(sm2.Cmd.START_CHANNEL_LIST_MODE_ACK) == "StartChannelListModeAck"
    assert _name(99) == "cmd99"


def test_what_came_names_silence_foreign_bytes_and_unexpected_packets() -> None:
    @dataclasses.dataclass
    class Rx:
        bytes_in: int = 0
        bytes_since_packet: int = 0
        frames_ok: int = 0
        frames_bad: int = 0
        bytes_discarded: int = 0

    assert what_came(Rx(), "ScienceMode4").startswith("nothing arrived on the stimulator port")
    assert what_came(Rx(bytes_in=90, frames_bad=3), "ScienceMode2") == (
        "90 bytes arrived and none formed a ScienceMode2 packet: is it the stimulator's port (not the sensor's), "
        "and does the device speak ScienceMode2 (--device)?")
    assert what_came(Rx(bytes_in=90, frames_ok=2), "ScienceMode2") == "2 ScienceMode2 packets arrived, not the one awaited"
    assert what_came_since_packet(Rx(bytes_in=90, frames_ok=2)).startswith("nothing arrived from the stimulator since")
    assert what_came_since_packet(Rx(bytes_in=90, bytes_since_packet=7, frames_ok=2)) == (
        "7 bytes arrived from the stimulator since its last packet and none formed one (noise on the line?)")
