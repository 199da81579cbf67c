"""Slew, arming, the one reset path, packet numbers, the port, and no clock read anywhere in safety/."""

from __future__ import annotations

import copy
import dataclasses
import time

import pytest

from fescontrol.protocol import sciencemode2 as sm2
from fescontrol.safety.gate import GateCounters, GateState, SafetyGate
from fescontrol.safety.liveness import Liveness, LivenessLimits
from tests.safety.rig import INIT, LIMITS, MS, START, STOP, TIMED, Records, S, Wire, init_frame, make_gate, start

STEP1 = dataclasses.replace(LIMITS, current_step_ma=1, max_ramp_step_ma=11)

# -- asymmetric slew -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("ref", [0, 1, 10, 11])
@pytest.mark.parametrize("channel", [1, 2])
def test_rise_to_the_ramp_limit_and_one_past(ref: int, channel: int) -> None:
    for rise, ok in ((STEP1.max_ramp_step_ma - 1, True), (STEP1.max_ramp_step_ma, True),
                     (STEP1.max_ramp_step_ma + 1, False)):
        gate, wire, _ = make_gate(STEP1)
        settings = [(0, 200), (0, 200)]
        if ref:
            settings[channel - 1] = (ref, 200)
            assert gate.send(start(gate, *settings), 1).sent
        settings[channel - 1] = (ref + rise, 200)
        verdict = gate.send(start(gate, *settings), 2)
        assert verdict.sent is ok, (ref, rise, verdict)
        if not ok:
            assert verdict.reason == f"channel {channel}: current step +{rise} mA > ramp limit 11 mA"


@pytest.mark.parametrize("down_to", [0, 1, 15, 29])
def test_any_step_toward_zero_passes(down_to: int) -> None:
    gate, wire, _ = make_gate(STEP1)
    for ma in (10, 20, 30):
        assert gate.send(start(gate, (ma, 200), (ma, 200)), ma).sent
    assert gate.send(start(gate, (down_to, 200), (0, 200)), 40).sent
    assert gate.last_currents([1, 2]) == (down_to, 0)
    # and the next rise is measured from there
    assert not gate.send(start(gate, (down_to + 12, 200), (0, 200)), 41).sent


@pytest.mark.parametrize("reset", ["violation", "stop frame", "send_stop", "trip", "disarm", "forget_device_state"])
def test_the_ramp_reference_is_zero_again_after(reset: str) -> None:
    gate, wire, _ = make_gate(STEP1)
    for ma in (10, 20):
        assert gate.send(start(gate, (ma, 200), (ma, 200)), ma).sent
    assert gate.last_currents([1, 2]) == (20, 20)
    if reset == "violation":
        assert not gate.send(start(gate, (21, 200), (20, 251)), 30).sent  # pw over the cap of channel 2
    elif reset == "stop frame":
        assert gate.send(sm2.stop_channel_list_mode(gate.next_packet_number()), 30).sent
    elif reset == "send_stop":
        gate.send_stop(30)
    elif reset == "trip":
        gate.trip("x", 30)
    elif reset == "disarm":
        gate.disarm(30)
    else:
        gate.forget_device_state(30)
        assert gate.send(init_frame(gate), 30).sent
    assert gate.last_currents([1, 2]) == (0, 0)
    gate.acknowledge(31, "x")
    gate.arm(31)
    # 22 mA would be a step of 2 from the old reference; from zero it is 22 > 11
    verdict = gate.send(start(gate, (22, 200), (0, 200)), 32)
    assert verdict.reason == "channel 1: current step +22 mA > ramp limit 11 mA"


def test_a_blocked_frame_does_not_move_the_reference_and_a_sent_one_does() -> None:
    gate, wire, _ = make_gate(STEP1)
    assert gate.send(start(gate, (11, 200), (5, 200)), 1).sent
    assert gate.last_currents([2, 1]) == (5, 11)
    assert gate.last_currents([]) == ()


def test_forget_device_state_needs_a_new_init() -> None:
    gate, wire, _ = make_gate()
    gate.forget_device_state(1)
    assert wire.frames == []  # the device is off already; nothing is written
    assert gate.state is GateState.ARMED
    assert gate.send(start(gate, (0, 200), (0, 200)), 2).reason == "no channel list initialised"


# -- arming and the latch ------------------------------------------------------------------------------------

def test_arm_is_an_edge_from_disarmed_only() -> None:
    gate, wire, records = make_gate(armed=False)
    assert gate.arm(1)
    assert not gate.arm(2)  # holding ARM is not a new edge
    assert records.kinds() == ["gate_arm"]
    gate.trip("x", 3)
    records.clear()
    assert not gate.arm(4)
    assert gate.state is GateState.LATCHED_FAULT
    assert records == []


def test_acknowledge_goes_to_disarmed_and_never_re_arms_by_itself() -> None:
    gate, wire, records = make_gate(TIMED)
    gate.trip("electrode", 1)
    assert gate.fault_cause == "electrode"
    assert gate.acknowledge(2, "electrode replaced")
    assert gate.state is GateState.DISARMED
    assert gate.fault_cause is None
    for t in (3, 10 * S):
        gate.tick(t)
        gate.sensor_sample(t)
        assert gate.state is GateState.DISARMED
    wire.clear()
    verdict = gate.send(start(gate, (2, 200), (0, 200)), 10 * S)
    assert verdict.reason == "channel 1: non-zero current while disarmed"
    assert wire.commands() == [STOP]


def test_acknowledge_outside_a_fault_does_nothing() -> None:
    for armed in (False, True):
        gate, wire, records = make_gate(armed=armed)
        assert not gate.acknowledge(1, "nothing to clear")
        assert gate.state is (GateState.ARMED if armed else GateState.DISARMED)
        assert records == [] and wire.frames == []


def test_disarm_sends_stop_first() -> None:
    gate, wire, records = make_gate()
    assert gate.send(start(gate, (10, 200), (0, 200)), 1).sent
    wire.clear()
    records.clear()
    gate.disarm(2)
    assert wire.commands() == [STOP]
    assert gate.state is GateState.DISARMED
    assert records.kinds() == ["gate_stop", "gate_disarm"]
    assert gate.last_currents([1, 2]) == (0, 0)
    assert gate.counters.stops == 1


@pytest.mark.parametrize("state", ["disarmed", "latched"])
def test_disarm_outside_armed_writes_nothing(state: str) -> None:
    gate, wire, records = make_gate(armed=False)
    if state == "latched":
        gate.trip("x", 1)
    wire.clear()
    records.clear()
    gate.disarm(2)
    assert wire.frames == [] and records == []
    assert gate.state is (GateState.DISARMED if state == "disarmed" else GateState.LATCHED_FAULT)


def test_trip_latches_even_when_the_transport_fails() -> None:
    class Broken(Wire):
        def write(self, data: bytes) -> int:
            raise OSError("port gone")

    records = Records()
    gate = SafetyGate(Broken(), LIMITS, on_record=records.append)
    gate.arm(0)
    with pytest.raises(OSError):
        gate.trip("cause", 1)
    assert gate.state is GateState.LATCHED_FAULT
    assert gate.fault_cause == "cause"
    assert records.kinds() == ["gate_arm", "gate_fault"]


def test_trip_returns_the_stop_packet_number_and_keeps_the_first_cause() -> None:
    gate, wire, records = make_gate()
    assert (gate.last_stop_packet_number, gate.last_stop_ns) == (None, None)
    pn = gate.trip("first", 1)
    assert wire.packets()[-1].packet_number == pn == 1
    assert (gate.last_stop_packet_number, gate.last_stop_ns) == (1, 1)
    assert gate.trip("second", 2) == 2
    assert gate.fault_cause == "first"
    assert records.kinds() == ["gate_stop", "gate_fault", "gate_stop"]


def test_latch_without_stop() -> None:
    gate, wire, records = make_gate()
    gate.latch("found outside", 1)
    gate.latch("later", 2)
    assert wire.frames == []
    assert gate.fault_cause == "found outside"
    assert list(records) == [{"kind": "gate_fault", "now_ns": 1, "cause": "found outside"}]


# -- packet numbers ------------------------------------------------------------------------------------------

def test_packet_numbers_count_every_frame_and_wrap_at_256() -> None:
    gate = SafetyGate(Wire(), LIMITS)
    assert [gate.next_packet_number() for _ in range(258)] == list(range(256)) + [0, 1]
    gate, wire, _ = make_gate()  # the Init took 0
    assert gate.send_stop(1) == 1
    assert gate.next_packet_number() == 2
    assert wire.packets()[0].packet_number == 1


# -- the one reset path --------------------------------------------------------------------------------------

def _drive_everything(gate: SafetyGate) -> None:
    """Leave every field of the gate away from its start value."""
    gate.sensor_sample(0)
    assert gate.send(init_frame(gate), 0).sent
    gate.arm(0)
    gate.sensor_sample(1 * S)
    assert gate.send(start(gate, (10, 300), (10, 250)), 1 * S).sent
    gate.sensor_sample(2 * S)
    assert gate.send(start(gate, (10, 300), (0, 250)), 2 * S).sent  # channel 2: an interval in the window
    gate.sensor_sample(2 * S + 1)
    gate.send(start(gate, (11, 300), (0, 250)), 2 * S + 2)  # blocked: counters, latch, session total


def test_reset_equals_a_fresh_gate_field_by_field() -> None:
    fresh = SafetyGate(Wire(), TIMED)
    start_values = copy.deepcopy({k: v for k, v in vars(fresh).items() if k not in ("_transport", "_on_record")})
    gate = SafetyGate(Wire(), TIMED)
    _drive_everything(gate)
    driven = {k: v for k, v in vars(gate).items() if k not in ("_transport", "_on_record", "_limits", "_hook")}
    assert driven.keys() == set(start_values) - {"_limits", "_hook"}
    unchanged = [k for k in driven if driven[k] == start_values[k]]
    assert unchanged == ["_last_current_ma", "_on_since_ns", "_any_on_since_ns"]  # all zero again after the trip
    gate.reset()
    assert {k: v for k, v in vars(gate).items() if k not in ("_transport", "_on_record")} == start_values
    assert start_values["state"] is GateState.DISARMED
    assert start_values["counters"] == GateCounters(0, 0, 0, {})
    assert start_values["_last_current_ma"] == {1: 0, 2: 0}
    assert start_values["_on_since_ns"] == {1: None, 2: None}
    assert start_values["_packet_number"] == 0
    assert start_values["_setup"] is None
    assert start_values["fault_cause"] is None
    assert start_values["_session_on_ns"] == 0
    assert start_values["_last_sample_ns"] is None
    assert start_values["last_stop_packet_number"] is None
    assert start_values["last_stop_ns"] is None
    assert start_values["_any_on_since_ns"] is None
    assert {n: list(d) for n, d in start_values["_on_intervals"].items()} == {1: [], 2: []}


def test_a_reset_gate_behaves_as_a_fresh_one() -> None:
    gate = SafetyGate(Wire(), TIMED)
    _drive_everything(gate)
    gate.reset()
    assert gate.send(start(gate, (0, 300), (0, 250)), 0).reason == "no channel list initialised"
    gate.reset()
    assert gate.send(init_frame(gate), 0).sent
    assert gate.arm(0)
    assert gate.send(start(gate, (10, 300), (0, 250)), 0).reason == "no sensor sample yet"
    gate.reset()
    gate.sensor_sample(100 * S)
    gate.send(init_frame(gate), 100 * S)
    gate.arm(100 * S)
    # the session total and the duty intervals of before the reset are gone
    assert gate.send(start(gate, (10, 300), (0, 250)), 100 * S).sent


# -- the port ------------------------------------------------------------------------------------------------

class Port(Wire):
    def __init__(self, pending: bytes) -> None:
        super().__init__()
        self.pending = pending

    @property
    def in_waiting(self) -> int:
        return len(self.pending)

    def read(self, n: int) -> bytes:
        out, self.pending = self.pending[:n], self.pending[n:]
        return out

    def fileno(self) -> int:
        return 7


def test_read_available_and_fileno() -> None:
    port = Port(b"\x01\x02\x03")
    gate = SafetyGate(port, LIMITS)
    assert gate.read_available() == b"\x01\x02\x03"
    assert gate.read_available() == b""
    assert gate.fileno() == 7
    assert SafetyGate(Wire(), LIMITS).read_available() == b""


# -- no clock is read -------------------------------------------------------------------------------------------

CLOCKS = ("monotonic", "monotonic_ns", "time", "time_ns", "perf_counter", "perf_counter_ns", "process_time",
          "process_time_ns", "thread_time", "thread_time_ns", "clock_gettime", "clock_gettime_ns")


def test_gate_and_liveness_never_read_a_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    import fescontrol.safety.gate as gate_module

    def boom(*a: object) -> None:
        raise AssertionError("the safety layer read a clock")

    monkeypatch.setattr(gate_module.log, "disabled", True)  # a log record's timestamp is not a decision
    for name in CLOCKS:
        if hasattr(time, name):
            monkeypatch.setattr(time, name, boom)
    with pytest.raises(AssertionError):
        time.monotonic_ns()
    gate, wire, _ = make_gate(TIMED)
    gate.send(start(gate, (10, 300), (0, 250)), 1)
    gate.tick(2 * S)
    gate.tick(4 * S)  # stuck-on trip
    gate.acknowledge(5 * S, "x")
    gate.arm(5 * S)
    gate.sensor_sample(5 * S)
    gate.send(start(gate, (10, 300), (0, 250)), 5 * S)
    gate.send(start(gate, (99, 300), (0, 250)), 5 * S + 1)
    gate.disarm(6 * S)
    gate.forget_device_state(6 * S)
    gate.reset()
    liveness = Liveness(LivenessLimits(rate_hz=100.0, speed=1.0, stale_ns=150 * MS, lost_ns=2 * S, first_sample_ns=10 * S, max_loss_pct=20,
                                       max_drift_ns=250 * MS, max_burst_ns=2 * S, ack_timeout_ns=200 * MS,
                                       max_busy_retries=3, loop_overrun_ns=100 * MS, loop_overrun_off_ns=500 * MS))
    for k in range(50):
        now = k * 10 * MS
        liveness.samples(now, [k])
        liveness.output(now, k > 10)
        liveness.command_sent(now, "StartChannelListMode")
        liveness.command_answered(busy=False)
        liveness.tick(now)
        liveness.check_ack(now)
        assert liveness.sample_fresh(now)
    assert wire.commands().count(STOP) >= 2
    assert INIT not in wire.commands() and START in wire.commands()


def test_stop_frames_through_send_are_counted() -> None:
    gate, wire, _ = make_gate()
    for _ in range(3):
        assert gate.send(sm2.stop_channel_list_mode(gate.next_packet_number()), 1).sent
    assert gate.counters.stops == 3
    assert gate.counters.sent == 4  # and the Init of the rig


def test_one_milliampere_is_output_for_the_timers() -> None:
    lim = dataclasses.replace(TIMED, current_step_ma=1, max_sample_age_ns=100 * S, max_duty_on_ns=10 * S)
    gate, wire, _ = make_gate(lim)
    assert gate.send(start(gate, (1, 300), (0, 250)), 0).sent
    gate.tick(3 * S - 1)
    assert gate.state is GateState.ARMED
    gate.tick(3 * S)
    assert gate.fault_cause == "channel 1: on for 3000 ms without a break (stuck-on limit 3000 ms)"
