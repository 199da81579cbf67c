"""The safety gate's battery (house-style 1.4): default deny, caps in integer units, latch, Stop always."""

from __future__ import annotations

import dataclasses
import time

import pytest

from fescontrol.protocol import sciencemode2 as sm2
from fescontrol.safety.gate import GateState, SafetyGate
from fescontrol.safety.limits import ChannelLimits, GateLimits

STOP_CMD = sm2.Cmd.STOP_CHANNEL_LIST_MODE


class WireLog:
    """The far end of the transport: everything that reached the 'stimulator', decoded."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.frames.append(bytes(data))
        return len(data)

    def commands(self) -> list[int]:
        out = []
        for frame in self.frames:
            (packet,) = sm2.Decoder().feed(frame)
            out.append(packet.command)
        return out


LIMITS = GateLimits(
    channels={1: ChannelLimits(max_current_ma=40, max_pulse_width_us=300),
              2: ChannelLimits(max_current_ma=30, max_pulse_width_us=250)},
    min_pulse_width_us=20, current_step_ma=2, max_charge_per_phase_nc=15000,
    min_main_time_code=38, min_group_time_code=13, max_ramp_step_ma=30,
    max_on_ns=10**12, duty_window_ns=10**13, max_duty_on_ns=10**13, max_session_on_ns=10**14, max_sample_age_ns=10**12)


def make_gate(limits: GateLimits = LIMITS, *, armed: bool = True, mask: int = 0b11) -> tuple[SafetyGate, WireLog]:
    wire = WireLog()
    gate = SafetyGate(wire, limits)
    gate.sensor_sample(0)
    assert gate.send(sm2.init_channel_list_mode(gate.next_packet_number(), active_channels=mask,
                                                group_time_code=13, main_time_code=48), 0).sent
    if armed:
        assert gate.arm(0)
    wire.frames.clear()
    return gate, wire


def start(gate: SafetyGate, *settings: tuple[int, int]) -> bytes:
    return sm2.start_channel_list_mode(
        gate.next_packet_number(), [sm2.ChannelSetting(0, pw, ma) for ma, pw in settings])


def test_fresh_gate_is_disarmed_and_blocks_stimulation_then_stops() -> None:
    gate, wire = make_gate(armed=False)
    assert gate.state is GateState.DISARMED
    verdict = gate.send(start(gate, (10, 300), (0, 250)), 1)
    assert not verdict.sent
    assert "while disarmed" in verdict.reason
    assert gate.state is GateState.LATCHED_FAULT
    assert wire.commands() == [STOP_CMD]  # the blocked frame never reached the wire; Stop did


def test_zero_output_passes_while_disarmed() -> None:
    gate, wire = make_gate(armed=False)
    assert gate.send(start(gate, (0, 300), (0, 250)), 1).sent
    assert wire.commands() == [sm2.Cmd.START_CHANNEL_LIST_MODE]


def test_only_the_allow_list_passes() -> None:
    """All 256 command ids with no data (one test, not 256: it runs for every mutant in the mutation run)."""
    allowed_without_data = {sm2.Cmd.INIT_ACK.value: False,  # InitAck needs its result byte
                            sm2.Cmd.WATCHDOG.value: True, sm2.Cmd.GET_STIMULATION_MODE.value: True,
                            sm2.Cmd.STOP_CHANNEL_LIST_MODE.value: True,
                            sm2.Cmd.START_CHANNEL_LIST_MODE.value: True}  # zero blocks for zero channels
    for command in range(256):
        gate, wire = make_gate(armed=False)
        verdict = gate.send(sm2.encode_packet(gate.next_packet_number(), command, b""), 1)
        expected = allowed_without_data.get(command, False)
        if command == sm2.Cmd.START_CHANNEL_LIST_MODE:
            expected = False  # the active mask has two channels: zero blocks is malformed
        assert verdict.sent is expected, (command, verdict)
        if not expected:
            assert wire.commands() == [STOP_CMD], command
            assert gate.state is GateState.LATCHED_FAULT, command


def test_single_pulse_is_denied_by_default() -> None:
    gate, wire = make_gate()
    assert not gate.send(sm2.single_pulse(gate.next_packet_number(), 0, 200, 10), 1).sent
    assert wire.commands() == [STOP_CMD]


@pytest.mark.parametrize("channel,field,at_limit,over", [
    (1, "current", 40, 42), (2, "current", 30, 32), (1, "pw", 300, 301), (2, "pw", 250, 251)])
def test_caps_at_and_above_the_limit(channel: int, field: str, at_limit: int, over: int) -> None:
    limits = dataclasses.replace(LIMITS, max_ramp_step_ma=130)
    for value, ok in ((at_limit - (2 if field == "current" else 1), True), (at_limit, True), (over, False)):
        gate, wire = make_gate(limits)
        settings = [(20, 200), (20, 200)]
        settings[channel - 1] = (value, 200) if field == "current" else (20, value)
        verdict = gate.send(start(gate, *settings), 1)
        assert verdict.sent is ok, (value, verdict)
        assert (wire.commands() == [sm2.Cmd.START_CHANNEL_LIST_MODE]) is ok


def test_odd_current_is_blocked_on_a_2_ma_device() -> None:
    gate, _ = make_gate()
    verdict = gate.send(start(gate, (11, 300), (0, 250)), 1)
    assert not verdict.sent and "multiple of 2" in verdict.reason


def test_pulse_width_below_device_minimum_with_current_is_blocked() -> None:
    gate, _ = make_gate()
    assert not gate.send(start(gate, (10, 19), (0, 250)), 1).sent


def test_phase_charge_cap() -> None:
    limits = dataclasses.replace(LIMITS, max_charge_per_phase_nc=6000, max_ramp_step_ma=130)
    gate, _ = make_gate(limits)
    assert gate.send(start(gate, (20, 300), (0, 250)), 1).sent  # 6000 nC
    gate, _ = make_gate(limits)
    verdict = gate.send(start(gate, (22, 300), (0, 250)), 1)  # 6600 nC
    assert not verdict.sent and "charge" in verdict.reason


def test_ramp_limit_up_but_any_step_down() -> None:
    limits = dataclasses.replace(LIMITS, max_ramp_step_ma=10)
    gate, _ = make_gate(limits)
    assert gate.send(start(gate, (10, 300), (10, 250)), 1).sent
    assert gate.send(start(gate, (20, 300), (20, 250)), 2).sent
    assert gate.send(start(gate, (0, 300), (0, 250)), 3).sent  # straight to zero
    verdict = gate.send(start(gate, (12, 300), (0, 250)), 4)
    assert not verdict.sent and "ramp" in verdict.reason


def test_init_checks_mask_rate_and_low_frequency() -> None:
    wire = WireLog()
    gate = SafetyGate(wire, LIMITS)
    gate.sensor_sample(0)
    pn = gate.next_packet_number
    assert not gate.send(sm2.init_channel_list_mode(pn(), active_channels=0b100, group_time_code=13,
                                                    main_time_code=48), 0).sent
    gate.reset()
    assert not gate.send(sm2.init_channel_list_mode(pn(), active_channels=0b1, group_time_code=13,
                                                    main_time_code=37), 0).sent  # faster than allowed
    gate.reset()
    assert not gate.send(sm2.init_channel_list_mode(pn(), active_channels=0b1, group_time_code=12,
                                                    main_time_code=48), 0).sent
    gate.reset()
    assert not gate.send(sm2.init_channel_list_mode(pn(), active_channels=0b1, low_frequency_channels=1,
                                                    low_frequency_factor=2, group_time_code=13,
                                                    main_time_code=48), 0).sent
    gate.reset()
    assert gate.send(sm2.init_channel_list_mode(pn(), active_channels=0b1, group_time_code=13,
                                                main_time_code=38), 0).sent


def test_start_before_init_is_blocked() -> None:
    wire = WireLog()
    gate = SafetyGate(wire, LIMITS)
    gate.sensor_sample(0)
    assert not gate.send(start(gate, (0, 300), (0, 250)), 0).sent


def test_corrupted_frame_is_blocked() -> None:
    gate, wire = make_gate()
    frame = bytearray(start(gate, (10, 300), (0, 250)))
    frame[2] ^= 0x01  # checksum byte
    assert not gate.send(bytes(frame), 1).sent
    assert wire.commands() == [STOP_CMD]


def test_latched_fault_survives_arm_and_needs_acknowledge_then_a_new_arm_edge() -> None:
    gate, wire = make_gate()
    gate.trip("test cause", 5)
    assert gate.state is GateState.LATCHED_FAULT
    assert not gate.arm(6)
    assert not gate.send(start(gate, (10, 300), (0, 250)), 7).sent
    assert gate.acknowledge(8, "operator checked electrodes")
    assert gate.state is GateState.DISARMED  # acknowledge alone does not stimulate
    assert not gate.send(start(gate, (10, 300), (0, 250)), 9).sent
    gate.acknowledge(10, "again")
    assert gate.arm(11)
    assert gate.send(start(gate, (10, 300), (0, 250)), 12).sent


def test_first_fault_cause_is_kept() -> None:
    gate, _ = make_gate()
    gate.trip("first", 1)
    gate.trip("second", 2)
    assert gate.fault_cause == "first"


@pytest.mark.parametrize("state", ["disarmed", "armed", "fault"])
def test_stop_passes_in_every_state(state: str) -> None:
    gate, wire = make_gate(armed=state != "disarmed")
    if state == "fault":
        gate.trip("x", 1)
        wire.frames.clear()
    assert gate.send(sm2.stop_channel_list_mode(gate.next_packet_number()), 2).sent
    gate.send_stop(3)
    assert wire.commands() == [STOP_CMD, STOP_CMD]


def test_reset_equals_a_fresh_gate() -> None:
    gate, _ = make_gate()
    gate.send(start(gate, (10, 300), (0, 250)), 1)
    gate.trip("x", 2)
    gate.reset()
    fresh = SafetyGate(WireLog(), LIMITS)
    skip = {"_transport", "_on_record"}
    assert {k: v for k, v in vars(gate).items() if k not in skip} == \
        {k: v for k, v in vars(fresh).items() if k not in skip}


def test_blocked_counters_by_reason() -> None:
    gate, _ = make_gate()
    gate.send(start(gate, (11, 300), (0, 250)), 1)
    gate.send(start(gate, (13, 300), (0, 250)), 2)
    assert gate.counters.blocked == 2
    assert sum(gate.counters.blocked_by_reason.values()) == 2


def test_gate_never_reads_a_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*a: object) -> None:
        raise AssertionError("the gate read a clock")

    import fescontrol.safety.gate as gate_module

    # logging stamps its records with the wall clock; that is the log's clock, not a decision's
    monkeypatch.setattr(gate_module.log, "disabled", True)
    for name in ("monotonic", "monotonic_ns", "time", "time_ns", "perf_counter", "perf_counter_ns"):
        monkeypatch.setattr(time, name, boom)
    gate, _ = make_gate()
    gate.send(start(gate, (10, 300), (0, 250)), 1)
    gate.send(start(gate, (99, 300), (0, 250)), 2)
    gate.acknowledge(3, "x")
    gate.arm(4)


def test_gate_imports_only_the_standard_library_and_the_codec() -> None:
    import ast
    import pathlib

    import fescontrol.safety as pkg

    allowed_project = {"fescontrol.protocol", "fescontrol.safety", "fescontrol.errors"}
    for path in pathlib.Path(pkg.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top == "fescontrol":
                    assert any(name.startswith(p) for p in allowed_project), (path.name, name)
                else:
                    assert top in {"__future__", "collections", "dataclasses", "enum", "logging", "math", "typing"}, (path.name, name)
