"""Shared rig of the gate battery: a wire that decodes what reached the 'stimulator', limits, builders."""

from __future__ import annotations

import dataclasses

from fescontrol.protocol import sciencemode2 as sm2
from fescontrol.safety.gate import SafetyGate
from fescontrol.safety.limits import ChannelLimits, GateLimits

STOP = sm2.Cmd.STOP_CHANNEL_LIST_MODE
START = sm2.Cmd.START_CHANNEL_LIST_MODE
INIT = sm2.Cmd.INIT_CHANNEL_LIST_MODE
MS = 1_000_000
S = 1_000_000_000

# Wall-time limits far away, so the per-frame tests never meet them by accident.
LIMITS = GateLimits(
    channels={1: ChannelLimits(max_current_ma=40, max_pulse_width_us=300),
              2: ChannelLimits(max_current_ma=30, max_pulse_width_us=250)},
    min_pulse_width_us=20, current_step_ma=2, max_charge_per_phase_nc=15000,
    min_main_time_code=38, min_group_time_code=13, max_ramp_step_ma=30,
    max_on_ns=10**12, duty_window_ns=10**13, max_duty_on_ns=10**13, max_session_on_ns=10**14,
    max_sample_age_ns=10**12)

# Wall-time limits small and distinct, for the timer tests (every value differs from the others,
# so a mutant that reads the wrong field shows).
TIMED = dataclasses.replace(
    LIMITS, max_on_ns=3 * S, duty_window_ns=10 * S, max_duty_on_ns=7 * S, max_session_on_ns=20 * S,
    max_sample_age_ns=150 * MS)


class Wire:
    """The far end of the transport: everything that reached the 'stimulator', decoded."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.frames.append(bytes(data))
        return len(data)

    def packets(self) -> list[sm2.Packet]:
        out = []
        for frame in self.frames:
            (packet,) = sm2.Decoder().feed(frame)
            assert isinstance(packet, sm2.Packet)
            out.append(packet)
        return out

    def commands(self) -> list[int]:
        return [p.command for p in self.packets()]

    def clear(self) -> None:
        self.frames.clear()


class Records(list):  # type: ignore[type-arg]
    """The gate's on_record sink."""

    def kinds(self) -> list[str]:
        return [str(r["kind"]) for r in self]


def init_frame(gate: SafetyGate, mask: int = 0b11, *, group: int = 13, main: int = 48,
               lf_channels: int = 0, lf_factor: int = 0, execution: int = 0) -> bytes:
    return sm2.init_channel_list_mode(gate.next_packet_number(), active_channels=mask,
                                      low_frequency_channels=lf_channels, low_frequency_factor=lf_factor,
                                      group_time_code=group, main_time_code=main,
                                      channel_execution=execution)


def start(gate: SafetyGate, *settings: tuple[int, int], mode: int = 0) -> bytes:
    """StartChannelListMode of (current_ma, pulse_width_us) blocks."""
    return sm2.start_channel_list_mode(
        gate.next_packet_number(), [sm2.ChannelSetting(mode, pw, ma) for ma, pw in settings])


def make_gate(limits: GateLimits = LIMITS, *, armed: bool = True, mask: int = 0b11,
              sample_ns: int | None = 0) -> tuple[SafetyGate, Wire, Records]:
    wire = Wire()
    records = Records()
    gate = SafetyGate(wire, limits, on_record=records.append)
    if sample_ns is not None:
        gate.sensor_sample(sample_ns)
    assert gate.send(init_frame(gate, mask, main=max(48, limits.min_main_time_code),
                                group=limits.min_group_time_code), 0).sent
    if armed:
        assert gate.arm(0)
    wire.clear()
    records.clear()
    return gate, wire, records


def stuffed_escape_everything(packet_number: int, command: int, data: bytes) -> bytes:
    """A frame whose body over-escapes every byte: it decodes to the packet, but does not round-trip."""
    plain = bytes((packet_number, command)) + data
    body = b"".join(bytes((sm2.ESC, b ^ sm2.KEY)) for b in plain)
    return bytes((sm2.START, sm2.ESC, sm2.crc8(body) ^ sm2.KEY, sm2.ESC, len(body) ^ sm2.KEY)) + body \
        + bytes((sm2.STOP,))
