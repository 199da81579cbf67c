"""The gate with the ScienceMode4 decoder hook (RehaMove3, P24): the same core checks on Ml_update frames.

Golden frames are the vendor byte examples of stimulators.md B.6 (also golden-tested in
tests/unit/test_sciencemode4.py); everything else is built with the project's codec.
What reached the 'device' is decoded on the far side of the transport.
"""

from __future__ import annotations

import dataclasses

import pytest

from fescontrol.protocol import sciencemode4 as sm4
from fescontrol.safety.gate import GateState, SafetyGate
from fescontrol.safety.hook import ChannelSetting, Decoded, Kind, Refused
from fescontrol.safety.hook_sciencemode2 import channel_mask
from fescontrol.safety.hook_sciencemode4 import ScienceMode4Hook
from fescontrol.safety.limits import ChannelLimits, GateLimits

# B-1 Ml_init pn 0, B-2 Ml_update (ramp 3, 20 ms / 10 ms), B-4 Ml_stop pn 3, B-5 Ll_channel_config,
# B-7 Ml_update drop-foot (ch0 +-30 mA 300 us, ch1 +-15 mA 250 us, 25 ms), B-12 Ml_get_current_data pn 60,
# B-16 Get_stim_status pn 8
B1 = bytes.fromhex("F0 81 55 81 58 81 75 81 29 00 1E 00 0F")
B2 = bytes.fromhex("F0 81 55 81 7E 81 5D 81 42 04 20 03 23 00 50 0C 85 50 00 06 44 B0 00 0C 84 10 00 23 00 28 "
                   "06 45 00 00 06 44 B0 00 06 44 60 00 0F")
B4 = bytes.fromhex("F0 81 55 81 59 81 14 81 18 0C 22 0F")
B5 = bytes.fromhex("F0 81 55 81 4E 81 D3 81 AF 04 02 82 81 5A A5 50 00 06 44 B0 00 81 5A A4 10 00 0F")
B7 = bytes.fromhex("F0 81 55 81 78 81 9F 81 02 14 20 03 20 00 64 12 C5 A0 00 06 44 B0 00 12 C3 C0 00 20 00 64 "
                   "81 5A A5 28 00 06 44 B0 00 81 5A A4 38 00 0F")
B12 = bytes.fromhex("F0 81 55 81 5B 81 42 81 D5 81 A5 24 02 0F")
B16 = bytes.fromhex("F0 81 55 81 59 81 84 81 2E 20 3E 0F")

LIMITS = GateLimits(
    channels={1: ChannelLimits(max_current_ma=40, max_pulse_width_us=300),
              2: ChannelLimits(max_current_ma=30, max_pulse_width_us=250)},
    min_pulse_width_us=20, current_step_ma=1, max_charge_per_phase_nc=15000,
    min_main_time_code=38, min_group_time_code=0, max_ramp_step_ma=30,
    max_on_ns=10**12, duty_window_ns=10**13, max_duty_on_ns=10**13, max_session_on_ns=10**14,
    max_sample_age_ns=10**12)
HOOK = ScienceMode4Hook(LIMITS.min_period_us)
SETUP = frozenset({1, 2})


class Wire:
    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.frames.append(bytes(data))
        return len(data)

    def commands(self) -> list[int]:
        return [sm4.decode_frame(f).command for f in self.frames]


def make_gate(limits: GateLimits = LIMITS, *, armed: bool = True) -> tuple[SafetyGate, Wire]:
    wire = Wire()
    gate = SafetyGate(wire, limits, hook=ScienceMode4Hook(limits.min_period_us))
    gate.sensor_sample(0)
    assert gate.send(sm4.ml_init(gate.next_packet_number()), 0).sent
    if armed:
        assert gate.arm(0)
    wire.frames.clear()
    return gate, wire


def pulse(ma: int, pw: int, channel: int = 0, period_ms: float = 25.0) -> sm4.MlChannel:
    return sm4.MlChannel(channel, period_ms, (sm4.Point(pw, ma), sm4.Point(100, 0), sm4.Point(pw, -ma)))


def update(gate: SafetyGate, *channels: sm4.MlChannel) -> bytes:
    return sm4.ml_update(gate.next_packet_number(), channels)


def raw_frame(body: bytes) -> bytes:
    """A ScienceMode4 frame around an already stuffed body (for frames the codec would not build)."""
    def esc16(v: int) -> bytes:
        return bytes((0x81, (v >> 8) ^ 0x55, 0x81, (v & 0xFF) ^ 0x55))
    return b"\xf0" + esc16(9 + len(body) + 1) + esc16(sm4.crc16(body)) + body + b"\x0f"


# -- the hook alone: golden frames to neutral values ------------------------------------------------

def test_golden_ml_update_becomes_neutral_settings() -> None:
    decoded = HOOK.decode(B7, SETUP)
    assert isinstance(decoded, Decoded) and (decoded.kind, decoded.name) == (Kind.SETTINGS, "MlUpdate")
    assert decoded.settings == (ChannelSetting(1, 30, 300, 9000), ChannelSetting(2, 15, 250, 3750))


@pytest.mark.parametrize("frame,kind,name", [(B1, Kind.SETUP, "MlInit"), (B4, Kind.STOP, "MlStop"),
                                             (B12, Kind.OTHER, "MlGetCurrentData"),
                                             (B16, Kind.OTHER, "GetStimStatus")])
def test_golden_frames_decode_to_their_kind(frame: bytes, kind: Kind, name: str) -> None:
    decoded = HOOK.decode(frame, SETUP)
    assert isinstance(decoded, Decoded) and (decoded.kind, decoded.name, decoded.settings) == (kind, name, ())


def test_golden_update_with_a_device_ramp_is_refused() -> None:
    assert HOOK.decode(B2, SETUP) == Refused(
        "MlUpdate", "channel 1: device ramp 3 (the gate judges every rise; ramp must be 0)")


def test_low_level_and_reset_are_not_on_the_allow_list() -> None:
    assert HOOK.decode(B5, SETUP) == Refused("LlChannelConfig", "command not in the allow-list")
    assert HOOK.decode(sm4.reset(1), SETUP) == Refused("Reset", "command not in the allow-list")
    assert HOOK.decode(sm4.ack(1, sm4.Cmd.ML_INIT_ACK, 0), SETUP) == Refused("MlInitAck", "command not in the allow-list")
    assert HOOK.decode(sm4.encode_packet(1, 500), SETUP) == Refused("cmd500", "command not in the allow-list")


def test_frames_that_are_not_exactly_one_canonical_packet_are_refused() -> None:
    assert HOOK.decode(B7[:-1], SETUP) == Refused("unknown", "frame does not decode to exactly one valid packet")
    assert HOOK.decode(B4 + B4, SETUP) == Refused("unknown", "frame does not decode to exactly one valid packet")
    # 0x02 escaped although it is not special: the same packet, but not the codec's bytes
    over = raw_frame(bytes.fromhex("08 24 81 57"))
    assert sm4.decode_frame(over) == sm4.decode_frame(sm4.ml_get_current_data(2, 2))
    assert HOOK.decode(over, SETUP) == Refused("unknown", "frame does not round-trip through the codec")


def test_malformed_payloads_are_refused() -> None:
    got = HOOK.decode(sm4.encode_packet(0, sm4.Cmd.ML_INIT, b"\x02"), SETUP)
    assert isinstance(got, Refused) and got.name == "MlInit" and got.reason.startswith("malformed: ")
    got = HOOK.decode(sm4.encode_packet(0, sm4.Cmd.ML_STOP, b"\x00"), SETUP)
    assert isinstance(got, Refused) and got.reason.startswith("malformed: ")


def test_update_without_setup_carries_no_settings() -> None:
    decoded = HOOK.decode(B7, None)
    assert isinstance(decoded, Decoded) and decoded.kind is Kind.SETTINGS and decoded.settings == ()


def test_a_channel_the_update_does_not_enable_is_off() -> None:
    frame = sm4.ml_update(1, [pulse(20, 200, channel=1, period_ms=20.0)])
    decoded = HOOK.decode(frame, SETUP)
    assert isinstance(decoded, Decoded)
    assert decoded.settings == (ChannelSetting(1, 0, 0, 0), ChannelSetting(2, 20, 200, 4000))


@pytest.mark.parametrize("channel,reason", [
    (sm4.MlChannel(2, 25.0, (sm4.Point(100, 10), sm4.Point(100, -10))),
     "channel mask 0x04 outside configured channels"),
    (sm4.MlChannel(0, 25.0, (sm4.Point(100, 10), sm4.Point(100, -10)), fine_period=True),
     "channel 1: fine period flag set (unverified on this firmware)"),
    (sm4.MlChannel(0, 19.5, (sm4.Point(100, 10), sm4.Point(100, -10))),
     "channel 1: period 19500 us shorter than 20000 us"),
    (sm4.MlChannel(0, 25.0, (sm4.Point(100, 10.5), sm4.Point(100, -10.5))),
     "channel 1: current 10.5 mA is not a whole mA"),
    (sm4.MlChannel(0, 25.0, (sm4.Point(100, 10), sm4.Point(99, -10))),
     "channel 1: pulse is not charge balanced (net 10 nC)"),
    (sm4.MlChannel(0, 25.0, (sm4.Point(100, 10), sm4.Point(100, -9))),
     "channel 1: pulse is not charge balanced (net 100 nC)"),
])
def test_update_refusals(channel: sm4.MlChannel, reason: str) -> None:
    assert HOOK.decode(sm4.ml_update(1, [channel]), SETUP) == Refused("MlUpdate", reason)


def test_the_period_bound_is_inclusive() -> None:
    ok = HOOK.decode(sm4.ml_update(1, [sm4.MlChannel(0, 20.0, (sm4.Point(100, 10), sm4.Point(100, -10)))]), SETUP)
    assert isinstance(ok, Decoded) and ok.settings[0] == ChannelSetting(1, 10, 100, 1000)


def test_phase_width_and_charge_sum_over_the_points_of_one_sign() -> None:
    points = (sm4.Point(150, 20), sm4.Point(150, 20), sm4.Point(100, 0), sm4.Point(200, -30), sm4.Point(50, 0),
              sm4.Point(100, 10), sm4.Point(200, -5))
    decoded = HOOK.decode(sm4.ml_update(1, [sm4.MlChannel(0, 25.0, points)]), SETUP)
    # phases: +20 for 300 us (6000 nC), -30 for 200 us (6000 nC), +10 for 100 us, -5 for 200 us; net 0
    assert isinstance(decoded, Decoded) and decoded.settings[0] == ChannelSetting(1, 30, 300, 6000)


def test_the_largest_phase_charge_may_be_a_phase_of_several_points() -> None:
    points = (sm4.Point(150, 20), sm4.Point(150, 20), sm4.Point(100, 0), sm4.Point(300, -10), sm4.Point(100, 0),
              sm4.Point(300, -10))
    decoded = HOOK.decode(sm4.ml_update(1, [sm4.MlChannel(0, 25.0, points)]), SETUP)
    # +20 mA for 2 x 150 us (6000 nC), then two phases of -10 mA for 300 us (3000 nC each)
    assert isinstance(decoded, Decoded) and decoded.settings[0] == ChannelSetting(1, 20, 300, 6000)


@pytest.mark.parametrize("points,width", [((sm4.Point(200, 1), sm4.Point(100, -2)), 200),
                                          ((sm4.Point(100, 2), sm4.Point(200, -1)), 200)])
def test_a_one_milliampere_point_is_a_phase(points: tuple[sm4.Point, ...], width: int) -> None:
    decoded = HOOK.decode(sm4.ml_update(1, [sm4.MlChannel(0, 25.0, points)]), SETUP)
    assert isinstance(decoded, Decoded) and decoded.settings[0] == ChannelSetting(1, 2, width, 200)


def test_a_zero_pulse_has_no_phase() -> None:
    decoded = HOOK.decode(sm4.ml_update(1, [sm4.MlChannel(0, 25.0, (sm4.Point(300, 0),))]), SETUP)
    assert isinstance(decoded, Decoded) and decoded.settings[0] == ChannelSetting(1, 0, 0, 0)


def test_setup_prepares_every_configured_channel() -> None:
    decoded = HOOK.decode(B1, None)
    assert isinstance(decoded, Decoded)
    assert HOOK.check_setup(decoded, LIMITS) == frozenset({1, 2})
    assert channel_mask(frozenset({1, 3})) == 0b101


# -- the gate core driving ScienceMode4 frames -------------------------------------------------------

def test_drop_foot_update_passes_and_is_remembered() -> None:
    gate, wire = make_gate()
    verdict = gate.send(update(gate, pulse(30, 300), pulse(15, 250, channel=1)), 1)
    assert verdict.sent and verdict.currents_ma == (30, 15) and verdict.command == "MlUpdate"
    assert gate.last_currents([1, 2]) == (30, 15)
    assert wire.commands() == [sm4.Cmd.ML_UPDATE]


@pytest.mark.parametrize("channel,reason", [
    (pulse(41, 200), "channel 1: current 41 mA > limit 40 mA"),
    (pulse(20, 301), "channel 1: pulse width 301 us > limit 300 us"),
    (pulse(20, 19), "channel 1: pulse width 19 us < minimum 20 us"),
])
def test_caps_trip_and_stop_with_ml_stop(channel: sm4.MlChannel, reason: str) -> None:
    gate, wire = make_gate()
    verdict = gate.send(update(gate, channel), 1)
    assert not verdict.sent and verdict.reason == reason
    assert gate.state is GateState.LATCHED_FAULT and gate.fault_cause == f"blocked MlUpdate: {reason}"
    assert wire.commands() == [sm4.Cmd.ML_STOP]  # the refused frame never reached the device


def test_caps_at_the_limit_pass() -> None:
    gate, _ = make_gate()
    assert gate.send(update(gate, pulse(30, 300), pulse(30, 250, channel=1)), 1).sent
    assert gate.send(update(gate, pulse(40, 300), pulse(30, 250, channel=1)), 2).sent


def test_phase_charge_cap_counts_the_whole_phase() -> None:
    gate, _ = make_gate(dataclasses.replace(LIMITS, max_charge_per_phase_nc=5999))
    points = (sm4.Point(150, 20), sm4.Point(150, 20), sm4.Point(100, 0), sm4.Point(300, -20))
    verdict = gate.send(update(gate, sm4.MlChannel(0, 25.0, points)), 1)
    assert verdict.reason == "channel 1: phase charge 6000 nC > limit 5999 nC"


def test_slew_is_measured_from_the_last_current_sent() -> None:
    gate, _ = make_gate()
    assert gate.send(update(gate, pulse(30, 300)), 1).sent
    assert gate.send(update(gate, pulse(10, 300)), 2).sent  # down: any step
    assert gate.send(update(gate, pulse(40, 300)), 3).sent  # +30 mA: at the limit
    gate2, _ = make_gate()
    verdict = gate2.send(update(gate2, pulse(31, 300)), 1)
    assert verdict.reason == "channel 1: current step +31 mA > ramp limit 30 mA"


def test_omitted_channel_is_zero_for_the_slew_reference() -> None:
    gate, _ = make_gate()
    assert gate.send(update(gate, pulse(30, 300), pulse(30, 250, channel=1)), 1).sent
    assert gate.send(update(gate, pulse(30, 300)), 2).sent
    assert gate.last_currents([1, 2]) == (30, 0)


def test_non_zero_update_needs_arm() -> None:
    gate, wire = make_gate(armed=False)
    assert gate.send(update(gate, pulse(0, 300), pulse(0, 250, channel=1)), 1).sent
    verdict = gate.send(update(gate, pulse(2, 300)), 2)
    assert verdict.reason == "channel 1: non-zero current while disarmed"
    assert wire.commands() == [sm4.Cmd.ML_UPDATE, sm4.Cmd.ML_STOP]


def test_update_before_ml_init_is_refused() -> None:
    wire = Wire()
    gate = SafetyGate(wire, LIMITS, hook=HOOK)
    gate.arm(0)
    verdict = gate.send(update(gate, pulse(0, 300)), 1)
    assert verdict.reason == "no channel list initialised"
    assert wire.commands() == [sm4.Cmd.ML_STOP]


def test_ml_stop_passes_and_zeroes_the_references() -> None:
    gate, wire = make_gate()
    assert gate.send(update(gate, pulse(30, 300)), 1).sent
    assert gate.send(sm4.ml_stop(gate.next_packet_number()), 2).sent
    assert gate.last_currents([1, 2]) == (0, 0) and gate.counters.stops == 1
    assert wire.commands() == [sm4.Cmd.ML_UPDATE, sm4.Cmd.ML_STOP]


def test_latched_gate_refuses_ml_init_and_every_exit_writes_ml_stop() -> None:
    gate, wire = make_gate()
    pn = gate.trip("test", 1)
    assert sm4.decode_frame(wire.frames[-1]) == sm4.Packet(pn, sm4.Cmd.ML_STOP, b"")
    verdict = gate.send(sm4.ml_init(gate.next_packet_number()), 2)
    assert verdict.reason == "latched fault: stimulation cannot be set up"
    gate.acknowledge(3, "checked")
    gate.disarm(4)
    assert wire.commands() == [sm4.Cmd.ML_STOP, sm4.Cmd.ML_STOP]
    assert gate.send(sm4.ml_init(gate.next_packet_number()), 5).sent


def test_keepalive_passes_in_every_state() -> None:
    gate, _ = make_gate(armed=False)
    assert gate.send(sm4.ml_get_current_data(gate.next_packet_number(), 4), 1).sent
    gate.trip("x", 2)
    assert gate.send(sm4.ml_get_current_data(gate.next_packet_number(), 4), 3).sent


def test_gate_records_name_the_stop_frame() -> None:
    records: list[dict[str, object]] = []
    gate = SafetyGate(Wire(), LIMITS, records.append, hook=HOOK)
    pn = gate.send_stop(7)
    assert records == [{"kind": "gate_stop", "now_ns": 7, "command": "MlStop", "packet_number": pn}]


def test_packet_numbers_wrap_at_64() -> None:
    gate = SafetyGate(Wire(), LIMITS, hook=HOOK)
    numbers = [gate.next_packet_number() for _ in range(66)]
    assert numbers[:2] == [0, 1] and numbers[63:] == [63, 0, 1]
    assert ScienceMode4Hook.packet_numbers == 64


def test_forget_device_state_needs_a_new_ml_init() -> None:
    gate, _ = make_gate()
    gate.forget_device_state(1)
    assert gate.send(update(gate, pulse(0, 300)), 2).reason == "no channel list initialised"


@pytest.mark.parametrize("model", ["rehamove3", "p24"])
def test_limits_of_the_sciencemode4_devices(model: str) -> None:
    from fescontrol.config.loading import default_device_path, default_profile_path, load_device, load_profile
    from fescontrol.safety.limits import limits_from_config

    device, _ = load_device(default_device_path(model))
    profile, _ = load_profile(default_profile_path(), device)
    lim = limits_from_config(device, profile)
    # 40 Hz: 25 ms, the SM2 main time code 48 read as a period; no group interval on ScienceMode4
    assert (lim.min_main_time_code, lim.min_period_us, lim.min_group_time_code) == (48, 25000, 0)
    assert lim.current_step_ma == 1 and lim.channels[1].max_current_ma == 40
