"""Every block of the gate, with its exact verdict (command, reason, currents), fault cause, record and counter.

The reasons go to commands.csv and session.jsonl, which an operator reads to learn why a session
stopped; a change to one of them is a change of behaviour and must show here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from fescontrol.protocol import sciencemode2 as sm2
from fescontrol.safety.gate import GateState, SafetyGate, Verdict
from tests.safety.rig import (
    LIMITS,
    MS,
    STOP,
    TIMED,
    Records,
    S,
    Wire,
    init_frame,
    make_gate,
    start,
    stuffed_escape_everything,
)

Case = Callable[[], tuple[SafetyGate, Wire, Records, bytes, int]]


def _armed(limits: object = LIMITS, **kw: object) -> tuple[SafetyGate, Wire, Records]:
    return make_gate(limits, **kw)  # type: ignore[arg-type]


def _fresh(limits: object = LIMITS) -> tuple[SafetyGate, Wire, Records]:
    wire, records = Wire(), Records()
    gate = SafetyGate(wire, limits, on_record=records.append)  # type: ignore[arg-type]
    gate.sensor_sample(0)
    return gate, wire, records


def case(builder: Callable[[SafetyGate], bytes], *, armed: bool = True, fresh: bool = False, latched: bool = False,
         limits: object = LIMITS, now: int = 1, setup: Callable[[SafetyGate], None] | None = None,
         sample_ns: int | None = 0) -> Case:
    def make() -> tuple[SafetyGate, Wire, Records, bytes, int]:
        if fresh:
            gate, wire, records = _fresh(limits)
        else:
            gate, wire, records = _armed(limits, armed=armed, sample_ns=sample_ns)
        if setup is not None:
            setup(gate)
        if latched:
            gate.trip("earlier", 0)
        wire.clear()
        records.clear()
        return gate, wire, records, builder(gate), now
    return make


def _on_at(t0: int, ma: int = 10) -> Callable[[SafetyGate], None]:
    def setup(gate: SafetyGate) -> None:
        gate.sensor_sample(t0)
        assert gate.send(start(gate, (ma, 300), (0, 250)), t0).sent
    return setup


def _two_frames(gate: SafetyGate) -> bytes:
    return sm2.watchdog(gate.next_packet_number()) + sm2.watchdog(gate.next_packet_number())


CASES: dict[str, tuple[Case, str, str, tuple[int, ...]]] = {
    "empty": (case(lambda g: b""), "unknown", "frame does not decode to exactly one valid packet", ()),
    "garbage": (case(lambda g: b"\x01\x02\x03"), "unknown", "frame does not decode to exactly one valid packet", ()),
    "two frames in one write": (case(_two_frames), "unknown", "frame does not decode to exactly one valid packet", ()),
    "bad checksum": (case(lambda g: bytes([b ^ (1 if i == 2 else 0) for i, b in enumerate(sm2.watchdog(0))])),
                     "unknown", "frame does not decode to exactly one valid packet", ()),
    "trailing byte": (case(lambda g: sm2.watchdog(g.next_packet_number()) + b"\x00"),
                      "unknown", "frame does not round-trip through the codec", ()),
    "leading byte": (case(lambda g: b"\x00" + sm2.watchdog(g.next_packet_number())),
                     "unknown", "frame does not round-trip through the codec", ()),
    "over-escaped": (case(lambda g: stuffed_escape_everything(g.next_packet_number(), sm2.Cmd.WATCHDOG, b"")),
                     "unknown", "frame does not round-trip through the codec", ()),
    "unknown id": (case(lambda g: sm2.encode_packet(g.next_packet_number(), 99)),
                   "cmd99", "command not in the allow-list", ()),
    "unknown id 0": (case(lambda g: sm2.encode_packet(g.next_packet_number(), 0)),
                     "cmd0", "command not in the allow-list", ()),
    "single pulse": (case(lambda g: sm2.single_pulse(g.next_packet_number(), 0, 200, 10)),
                     "SinglePulse", "command not in the allow-list", ()),
    "device init": (case(lambda g: sm2.init(g.next_packet_number())), "Init", "command not in the allow-list", ()),
    "an ack": (case(lambda g: sm2.ack(g.next_packet_number(), sm2.Cmd.STOP_CHANNEL_LIST_MODE_ACK, 0)),
               "StopChannelListModeAck", "command not in the allow-list", ()),
    "malformed watchdog": (case(lambda g: sm2.encode_packet(g.next_packet_number(), sm2.Cmd.WATCHDOG, b"\x00")),
                           "Watchdog", "malformed: WATCHDOG needs 0 data bytes, got 1", ()),
    "malformed init": (case(lambda g: sm2.encode_packet(g.next_packet_number(), sm2.Cmd.INIT_CHANNEL_LIST_MODE,
                                                        b"\x00" * 6)),
                       "InitChannelListMode", "malformed: INIT_CHANNEL_LIST_MODE needs 7 data bytes, got 6", ()),
    "start with blocks for a wrong mask": (
        case(lambda g: start(g, (0, 300))), "StartChannelListMode",
        "malformed: START_CHANNEL_LIST_MODE has 1 channel blocks, the active-channel mask 0x03 needs 2", ()),
    "init while latched": (case(lambda g: init_frame(g), latched=True),
                           "InitChannelListMode", "latched fault: stimulation cannot be set up", ()),
    "mask zero": (case(lambda g: init_frame(g, 0)), "InitChannelListMode",
                  "channel mask 0x00 outside configured channels", ()),
    "mask outside": (case(lambda g: init_frame(g, 0b101)), "InitChannelListMode",
                     "channel mask 0x05 outside configured channels", ()),
    "mask channel 8": (case(lambda g: init_frame(g, 0x80)), "InitChannelListMode",
                       "channel mask 0x80 outside configured channels", ()),
    "low-frequency channels": (case(lambda g: init_frame(g, lf_channels=1)), "InitChannelListMode",
                               "low-frequency channels are not used", ()),
    "low-frequency factor": (case(lambda g: init_frame(g, lf_factor=1)), "InitChannelListMode",
                             "low-frequency channels are not used", ()),
    "main time code": (case(lambda g: init_frame(g, main=37)), "InitChannelListMode",
                       "main time code 37 below 38", ()),
    "group time code": (case(lambda g: init_frame(g, group=12)), "InitChannelListMode",
                        "group time code 12 below 13", ()),
    "channel execution": (case(lambda g: init_frame(g, execution=1)), "InitChannelListMode",
                          "channel execution must be 0", ()),
    "start before init": (case(lambda g: start(g, (0, 300), (0, 250)), fresh=True), "StartChannelListMode",
                          "no channel list initialised", ()),
    "no sample yet": (case(lambda g: start(g, (10, 300), (0, 250)), sample_ns=None), "StartChannelListMode",
                      "no sensor sample yet", (10, 0)),
    "stale sample": (case(lambda g: start(g, (10, 300), (0, 250)), limits=TIMED, now=150 * MS + 1),
                     "StartChannelListMode", "last sensor sample 150 ms old (limit 150 ms)", (10, 0)),
    "stale sample, later": (case(lambda g: start(g, (10, 300), (0, 250)), limits=TIMED, now=1234 * MS + 5),
                            "StartChannelListMode", "last sensor sample 1234 ms old (limit 150 ms)", (10, 0)),
    "stuck on": (case(lambda g: start(g, (12, 300), (0, 250)), limits=TIMED, setup=_on_at(0), now=3 * S + 7 * MS,
                      sample_ns=3 * S), "StartChannelListMode",
                 "channel 1: on for 3007 ms without a break (stuck-on limit 3000 ms)", (12, 0)),
    "mode 1": (case(lambda g: start(g, (0, 300), (0, 250), mode=1)), "StartChannelListMode",
               "channel 1: mode 1 (only single pulses allowed)", (0, 0)),
    "mode 2 on channel 2": (case(lambda g: sm2.start_channel_list_mode(
        g.next_packet_number(), [sm2.ChannelSetting(0, 300, 10), sm2.ChannelSetting(2, 250, 4)])),
        "StartChannelListMode", "channel 2: mode 2 (only single pulses allowed)", (10, 4)),
    "current": (case(lambda g: start(g, (42, 300), (0, 250)), limits=dataclasses.replace(LIMITS, max_ramp_step_ma=130)),
                "StartChannelListMode", "channel 1: current 42 mA > limit 40 mA", (42, 0)),
    "current channel 2": (case(lambda g: start(g, (40, 200), (32, 200)),
                               limits=dataclasses.replace(LIMITS, max_ramp_step_ma=130)),
                          "StartChannelListMode", "channel 2: current 32 mA > limit 30 mA", (40, 32)),
    "odd current": (case(lambda g: start(g, (11, 300), (0, 250))), "StartChannelListMode",
                    "channel 1: current 11 mA not a multiple of 2 mA", (11, 0)),
    "odd current while disarmed": (case(lambda g: start(g, (0, 300), (3, 250)), armed=False), "StartChannelListMode",
                                   "channel 2: current 3 mA not a multiple of 2 mA", (0, 3)),
    "pulse width": (case(lambda g: start(g, (10, 301), (0, 250))), "StartChannelListMode",
                    "channel 1: pulse width 301 us > limit 300 us", (10, 0)),
    "pulse width at zero current": (case(lambda g: start(g, (0, 300), (0, 251))), "StartChannelListMode",
                                    "channel 2: pulse width 251 us > limit 250 us", (0, 0)),
    "pulse width minimum": (case(lambda g: start(g, (10, 19), (0, 250))), "StartChannelListMode",
                            "channel 1: pulse width 19 us < minimum 20 us", (10, 0)),
    "charge": (case(lambda g: start(g, (22, 300), (0, 250)),
                    limits=dataclasses.replace(LIMITS, max_charge_per_phase_nc=6000)), "StartChannelListMode",
               "channel 1: phase charge 6600 nC > limit 6000 nC", (22, 0)),
    "disarmed": (case(lambda g: start(g, (10, 300), (0, 250)), armed=False), "StartChannelListMode",
                 "channel 1: non-zero current while disarmed", (10, 0)),
    "latched": (case(lambda g: start(g, (0, 300), (2, 250)), latched=True), "StartChannelListMode",
                "channel 2: non-zero current while latched_fault", (0, 2)),
    "ramp": (case(lambda g: start(g, (32, 300), (0, 250))), "StartChannelListMode",
             "channel 1: current step +32 mA > ramp limit 30 mA", (32, 0)),
    "ramp from a reference": (case(lambda g: start(g, (10, 300), (28, 250)),
                                   limits=dataclasses.replace(LIMITS, max_ramp_step_ma=10),
                                   setup=lambda g: None if g.send(start(g, (2, 300), (4, 250)), 1).sent else 1 / 0),
                              "StartChannelListMode", "channel 2: current step +24 mA > ramp limit 10 mA", (10, 28)),
}


def check_case(name: str) -> None:
    make, command, reason, currents = CASES[name]
    gate, wire, records, frame, now = make()
    verdict = gate.send(frame, now)
    assert verdict == Verdict(False, command, reason, currents)
    # the block stopped, latched and was recorded
    was_latched = name in ("init while latched", "latched")
    assert wire.commands() == [STOP]
    assert gate.state is GateState.LATCHED_FAULT
    cause = "earlier" if was_latched else f"blocked {command}: {reason}"
    assert gate.fault_cause == cause
    stop_pn = wire.packets()[0].packet_number
    expected = [{"kind": "gate_blocked", "now_ns": now, "command": command, "reason": reason,
                 "currents_ma": list(currents)},
                {"kind": "gate_stop", "now_ns": now, "command": "StopChannelListMode", "packet_number": stop_pn}]
    if not was_latched:
        expected.append({"kind": "gate_fault", "now_ns": now, "cause": cause})
    assert list(records) == expected
    assert gate.counters.blocked == 1
    assert gate.counters.blocked_by_reason == {reason: 1}
    assert gate.counters.stops == (2 if was_latched else 1)
    assert gate.last_currents([1, 2]) == (0, 0)


def test_every_block_has_its_exact_verdict_stop_latch_and_record() -> None:
    """One test over every case (not one per case: it runs for every mutant in the mutation run)."""
    failures = []
    for name in sorted(CASES):
        try:
            check_case(name)
        except AssertionError as exc:
            failures.append(f"{name}: {exc}")
    assert failures == [], "\n\n".join(failures)


def test_counters_by_reason_add_up() -> None:
    gate, _, _ = make_gate()
    gate.send(start(gate, (11, 300), (0, 250)), 1)
    gate.send(start(gate, (11, 300), (0, 250)), 2)
    gate.send(start(gate, (13, 300), (0, 250)), 3)
    assert gate.counters.blocked == 3
    assert gate.counters.blocked_by_reason == {"channel 1: current 11 mA not a multiple of 2 mA": 2,
                                               "channel 1: current 13 mA not a multiple of 2 mA": 1}
    assert gate.counters.sent == 1  # the Init of the rig
    assert gate.counters.stops == 3


def test_records_of_the_ordinary_path() -> None:
    wire, records = Wire(), Records()
    gate = SafetyGate(wire, LIMITS, on_record=records.append)
    gate.sensor_sample(0)
    gate.send(init_frame(gate), 1)
    gate.arm(2)
    gate.send(start(gate, (10, 300), (0, 250)), 3)
    gate.send(sm2.stop_channel_list_mode(gate.next_packet_number()), 4)
    gate.disarm(5)
    gate.trip("operator e-stop", 6)
    gate.acknowledge(7, "checked")
    assert list(records) == [
        {"kind": "gate_sent", "now_ns": 1, "command": "InitChannelListMode", "currents_ma": []},
        {"kind": "gate_arm", "now_ns": 2},
        {"kind": "gate_sent", "now_ns": 3, "command": "StartChannelListMode", "currents_ma": [10, 0]},
        {"kind": "gate_sent", "now_ns": 4, "command": "StopChannelListMode", "currents_ma": []},
        {"kind": "gate_stop", "now_ns": 5, "command": "StopChannelListMode", "packet_number": 3},
        {"kind": "gate_disarm", "now_ns": 5},
        {"kind": "gate_stop", "now_ns": 6, "command": "StopChannelListMode", "packet_number": 4},
        {"kind": "gate_fault", "now_ns": 6, "cause": "operator e-stop"},
        {"kind": "gate_acknowledge", "now_ns": 7, "cause": "operator e-stop", "note": "checked"},
    ]
    assert gate.counters.sent == 3
    assert gate.counters.stops == 3
    assert gate.counters.blocked == 0 and gate.counters.blocked_by_reason == {}


def test_a_gate_without_a_record_sink_works() -> None:
    gate = SafetyGate(Wire(), LIMITS)
    gate.sensor_sample(0)
    assert gate.send(init_frame(gate), 1).sent
    gate.trip("x", 2)
    assert gate.fault_cause == "x"


@pytest.mark.parametrize("frame,name", [
    (lambda g: sm2.watchdog(g.next_packet_number()), "Watchdog"),
    (lambda g: sm2.get_stimulation_mode(g.next_packet_number()), "GetStimulationMode"),
    (lambda g: sm2.init_ack(g.next_packet_number()), "InitAck"),
    (lambda g: sm2.stop_channel_list_mode(g.next_packet_number()), "StopChannelListMode"),
    (lambda g: init_frame(g), "InitChannelListMode"),
    (lambda g: start(g, (10, 300), (0, 250)), "StartChannelListMode"),
])
def test_ok_verdicts(frame: Callable[[SafetyGate], bytes], name: str) -> None:
    gate, wire, _ = make_gate()
    f = frame(gate)
    verdict = gate.send(f, 1)
    currents = (10, 0) if name == "StartChannelListMode" else ()
    assert verdict == Verdict(True, name, "ok", currents)
    assert wire.frames == [f]
