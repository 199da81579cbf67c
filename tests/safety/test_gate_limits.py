"""Boundary battery of the gate (house-style 1.3.4): every value within +/-5 steps of every limit, plus sparse
values across each field's whole encodable range, armed and disarmed, judged against an oracle written from
the requirements; an exhaustive scan of command ids and lengths; the channel masks; frames that are not
exactly one round-tripping packet.

The battery functions take the gate *module*, so `test_gate_battery_meta.py` can run them against planted
mutants of gate.py and show they fail.
"""

from __future__ import annotations

import dataclasses
from types import ModuleType
from typing import Any

import pytest

import fescontrol.safety.gate as gate_module
from fescontrol.protocol import sciencemode2 as sm2
from fescontrol.safety.limits import ChannelLimits, GateLimits
from tests.safety.rig import LIMITS, START, STOP, Wire, init_frame, stuffed_escape_everything

# -- the oracle: what the requirements (safety/README.md SR-002..SR-005) allow ----------------------------


def oracle_start(lim: GateLimits, armed: bool, last: dict[int, int], numbers: list[int],
                 settings: list[tuple[int, int, int]]) -> bool:
    """Whether a StartChannelListMode of (mode, pulse width, current) blocks may pass."""
    for number, (mode, pw, ma) in zip(numbers, settings):
        ch = lim.channels[number]
        if mode != 0:
            return False
        if ma > ch.max_current_ma or ma % lim.current_step_ma != 0:
            return False
        if pw > ch.max_pulse_width_us:
            return False
        if ma > 0 and pw < lim.min_pulse_width_us:
            return False
        if ma * pw > lim.max_charge_per_phase_nc:
            return False
        if ma > 0 and not armed:
            return False
        if ma - last[number] > lim.max_ramp_step_ma:
            return False
    return True


def oracle_init(lim: GateLimits, mask: int, lf_channels: int, lf_factor: int, group: int, main: int,
                execution: int) -> bool:
    allowed = sum(1 << (n - 1) for n in lim.channels)
    return (mask != 0 and mask & ~allowed == 0 and lf_channels == 0 and lf_factor == 0
            and main >= lim.min_main_time_code and group >= lim.min_group_time_code and execution == 0)


# -- the generator -----------------------------------------------------------------------------------------


def around(limit: int, step: int, lo: int, hi: int) -> list[int]:
    """Every value within +/-5 steps of `limit`, inside the encodable range lo..hi."""
    return [v for v in range(limit - 5 * step, limit + 5 * step + 1, step) if lo <= v <= hi]


def sparse(lo: int, hi: int, n: int = 40) -> list[int]:
    """About n values spread across lo..hi, both ends included."""
    return sorted({lo + (hi - lo) * i // (n - 1) for i in range(n)})


def current_values(lim: GateLimits, number: int) -> list[int]:
    cap = lim.channels[number].max_current_ma
    return sorted(set(around(cap, 1, 0, 255) + around(0, 1, 0, 255) + around(lim.max_ramp_step_ma, 1, 0, 255)
                      + sparse(0, 255)))


def pulse_width_values(lim: GateLimits, number: int) -> list[int]:
    cap = lim.channels[number].max_pulse_width_us
    return sorted(set(around(cap, 1, 0, 0xFFFF) + around(lim.min_pulse_width_us, 1, 0, 0xFFFF)
                      + around(0, 1, 0, 0xFFFF) + sparse(0, 0xFFFF)))


# -- the battery -------------------------------------------------------------------------------------------


def new_gate(mod: ModuleType, lim: GateLimits, *, armed: bool, mask: int = 0b11) -> tuple[Any, Wire]:
    wire = Wire()
    gate = mod.SafetyGate(wire, lim)
    gate.sensor_sample(0)
    assert gate.send(init_frame(gate, mask, main=max(48, lim.min_main_time_code), group=lim.min_group_time_code),
                     0).sent
    if armed:
        assert gate.arm(0)
    wire.clear()
    return gate, wire


def judge_start(mod: ModuleType, lim: GateLimits, armed: bool, settings: list[tuple[int, int, int]],
                last: tuple[int, int] = (0, 0)) -> str | None:
    """Send one Start on a gate in the given state; a mismatch with the oracle, described, or None."""
    gate, wire = new_gate(mod, lim, armed=armed)
    now = 1
    if last != (0, 0):
        assert gate.send(sm2.start_channel_list_mode(
            gate.next_packet_number(), [sm2.ChannelSetting(0, lim.min_pulse_width_us, ma) for ma in last]), now).sent
        wire.clear()
        now = 2
    frame = sm2.start_channel_list_mode(gate.next_packet_number(),
                                        [sm2.ChannelSetting(m, pw, ma) for m, pw, ma in settings])
    want = oracle_start(lim, armed, {1: last[0], 2: last[1]}, [1, 2], settings)
    verdict = gate.send(frame, now)
    wire_ok = wire.frames == [frame] if want else wire.commands() == [STOP]
    state = gate.state.value
    state_ok = state == ("armed" if armed else "disarmed") if want else state == "latched_fault"
    if verdict.sent is not want or not wire_ok or not state_ok:
        return f"armed={armed} last={last} settings={settings}: sent={verdict.sent} want={want} " \
               f"wire={wire.commands()} state={state} ({verdict.reason})"
    if want and gate.last_currents([1, 2]) != tuple(s[2] for s in settings):
        return f"reference not updated for {settings}: {gate.last_currents([1, 2])}"
    return None


def charge_currents(lim: GateLimits, number: int) -> list[int]:
    """Currents at which the charge cap binds within the pulse-width range (exact divisors first)."""
    ch = lim.channels[number]
    fits = [ma for ma in range(lim.current_step_ma, ch.max_current_ma + 1, lim.current_step_ma)
            if lim.min_pulse_width_us <= lim.max_charge_per_phase_nc // ma <= ch.max_pulse_width_us]
    exact = [ma for ma in fits if lim.max_charge_per_phase_nc % ma == 0]
    return sorted(set(exact[:2] + fits[-1:] + [lim.current_step_ma * 5, ch.max_current_ma]))


def cap_cases(lim: GateLimits) -> list[tuple[list[tuple[int, int, int]], tuple[int, int]]]:
    """(settings, last currents) around every cap of both channels."""
    cases: list[tuple[list[tuple[int, int, int]], tuple[int, int]]] = []
    for idx, number in enumerate((1, 2)):
        other = (0, 200, 0)
        pw_ok = lim.min_pulse_width_us
        for ma in current_values(lim, number):
            s = [other, other]
            s[idx] = (0, pw_ok, ma)
            cases.append((s, (0, 0)))
        for pw in pulse_width_values(lim, number):
            for ma in (0, lim.current_step_ma):
                s = [other, other]
                s[idx] = (0, pw, ma)
                cases.append((s, (0, 0)))
        # phase charge: pulse widths around the charge cap at a few currents
        for ma in charge_currents(lim, number):
            for pw in around(lim.max_charge_per_phase_nc // ma, 1, 0, 0xFFFF):
                s = [other, other]
                s[idx] = (0, pw, ma)
                cases.append((s, (0, 0)))
        for mode in (0, 1, 2):
            for ma in (0, lim.current_step_ma):
                s = [other, other]
                s[idx] = (mode, pw_ok, ma)
                cases.append((s, (0, 0)))
        # the ramp: rises from a reference, +/-5 steps around the ramp limit, and every step down
        for ref in (0, 4, 10):
            for ma in around(ref + lim.max_ramp_step_ma, 1, 0, 255) + list(range(0, ref + 1)):
                s = [other, other]
                s[idx] = (0, pw_ok, ma)
                last = [0, 0]
                last[idx] = ref
                cases.append((s, (last[0], last[1])))
    return cases


def boundary_mismatches(mod: ModuleType, lim: GateLimits) -> list[str]:
    out = []
    for armed in (True, False):
        for settings, last in cap_cases(lim):
            if not armed and last != (0, 0):
                continue  # a reference needs a non-zero frame, which needs ARMED
            why = judge_start(mod, lim, armed, settings, last)
            if why is not None:
                out.append(why)
    return out


# Two channel sets with different caps; step 1 mA so the +/-1 neighbours of every cap are legal currents.
BOUNDARY_LIMITS = [
    dataclasses.replace(LIMITS, max_ramp_step_ma=130),
    dataclasses.replace(LIMITS, max_ramp_step_ma=130, max_charge_per_phase_nc=6000),  # the charge cap binds
    GateLimits(channels={1: ChannelLimits(21, 211), 2: ChannelLimits(17, 500)}, min_pulse_width_us=37,
               current_step_ma=1, max_charge_per_phase_nc=3333, min_main_time_code=14, min_group_time_code=13,
               max_ramp_step_ma=11, max_on_ns=10**12, duty_window_ns=10**13, max_duty_on_ns=10**13,
               max_session_on_ns=10**14, max_sample_age_ns=10**12),
]


@pytest.mark.parametrize("lim", BOUNDARY_LIMITS, ids=["rehastim2-example", "charge-binds", "odd-caps"])
def test_start_boundaries_armed_and_disarmed(lim: GateLimits) -> None:
    mismatches = boundary_mismatches(gate_module, lim)
    assert mismatches == [], "\n".join(mismatches[:20])


def init_mismatches(mod: ModuleType, lim: GateLimits) -> list[str]:
    out = []
    combos: list[tuple[int, int, int, int, int, int]] = []
    base = (0b1, 0, 0, lim.min_group_time_code, max(lim.min_main_time_code, 48), 0)
    for main in around(lim.min_main_time_code, 1, 0, sm2.MAIN_TIME_CODE_MAX) + sparse(0, sm2.MAIN_TIME_CODE_MAX):
        combos.append(base[:4] + (main, 0))
    for group in around(lim.min_group_time_code, 1, 0, 255) + sparse(0, 255):
        combos.append(base[:3] + (group,) + base[4:])
    for mask in range(256):
        combos.append((mask,) + base[1:])
    for lf in (1, 2, 0x80, 0xFF):
        combos.append((base[0], lf) + base[2:])
    for factor in range(8):
        combos.append((base[0], 0, factor) + base[3:])
    combos.append(base[:5] + (1,))
    for armed in (True, False):
        for mask, lf_ch, lf_f, group, main, execution in combos:
            wire = Wire()
            gate = mod.SafetyGate(wire, lim)
            if armed:
                gate.arm(0)
            frame = init_frame(gate, mask, lf_channels=lf_ch, lf_factor=lf_f, group=group, main=main,
                               execution=execution)
            want = oracle_init(lim, mask, lf_ch, lf_f, group, main, execution)
            verdict = gate.send(frame, 1)
            wire_ok = wire.frames == [frame] if want else wire.commands() == [STOP]
            if verdict.sent is not want or not wire_ok:
                out.append(f"armed={armed} mask={mask:#x} lf={lf_ch}/{lf_f} group={group} main={main} "
                           f"exec={execution}: sent={verdict.sent} want={want}")
    return out


INIT_LIMITS = [LIMITS, dataclasses.replace(LIMITS, channels={1: ChannelLimits(10, 100), 3: ChannelLimits(10, 100),
                                                              8: ChannelLimits(10, 100)},
                                           min_main_time_code=1000, min_group_time_code=200)]


@pytest.mark.parametrize("lim", INIT_LIMITS, ids=["channels-1-2", "channels-1-3-8"])
def test_init_boundaries_and_every_mask(lim: GateLimits) -> None:
    mismatches = init_mismatches(gate_module, lim)
    assert mismatches == [], "\n".join(mismatches[:20])


def test_start_follows_the_mask_of_the_init_in_force() -> None:
    lim = dataclasses.replace(LIMITS, channels={1: ChannelLimits(40, 300), 3: ChannelLimits(8, 300),
                                                8: ChannelLimits(20, 300)}, max_ramp_step_ma=130)
    wire = Wire()
    gate = gate_module.SafetyGate(wire, lim)
    gate.sensor_sample(0)
    gate.arm(0)
    assert gate.send(init_frame(gate, 0b1000_0100), 0).sent  # channels 3 and 8, blocks in that order
    assert gate.send(sm2.start_channel_list_mode(gate.next_packet_number(), [
        sm2.ChannelSetting(0, 300, 8), sm2.ChannelSetting(0, 300, 20)]), 1).sent
    assert gate.last_currents([1, 3, 8]) == (0, 8, 20)
    verdict = gate.send(sm2.start_channel_list_mode(gate.next_packet_number(), [
        sm2.ChannelSetting(0, 300, 8), sm2.ChannelSetting(0, 300, 22)]), 2)
    assert verdict.reason == "channel 8: current 22 mA > limit 20 mA"
    gate.acknowledge(3, "x")
    gate.arm(3)
    verdict = gate.send(sm2.start_channel_list_mode(gate.next_packet_number(), [
        sm2.ChannelSetting(0, 300, 10), sm2.ChannelSetting(0, 300, 0)]), 4)
    assert verdict.reason == "channel 3: current 10 mA > limit 8 mA"


# -- command scan --------------------------------------------------------------------------------------------

SENDABLE = {(sm2.Cmd.WATCHDOG, 0), (sm2.Cmd.GET_STIMULATION_MODE, 0), (sm2.Cmd.STOP_CHANNEL_LIST_MODE, 0),
            (sm2.Cmd.INIT_ACK, 1), (sm2.Cmd.START_CHANNEL_LIST_MODE, 8)}
"""(id, data length) that pass with all-zero data: a zero InitChannelListMode has mask 0 and is blocked."""


def scan_mismatches(mod: ModuleType, state: str) -> list[str]:
    out = []
    for command in range(256):
        for length in (0, 1, 2, 4, 7, 8, 12):
            wire = Wire()
            gate = mod.SafetyGate(wire, LIMITS)
            gate.sensor_sample(0)
            assert gate.send(init_frame(gate), 0).sent
            if state == "armed":
                gate.arm(0)
            elif state == "latched":
                gate.trip("scan", 0)
            wire.clear()
            frame = sm2.encode_packet(gate.next_packet_number(), command, bytes(length))
            want = (command, length) in SENDABLE
            verdict = gate.send(frame, 1)
            ok = wire.frames == [frame] if want else wire.commands() == [STOP]
            if verdict.sent is not want or not ok:
                out.append(f"{state}: id {command} length {length}: sent={verdict.sent} want={want}")
    return out


@pytest.mark.parametrize("state", ["disarmed", "armed", "latched"])
def test_exhaustive_command_scan(state: str) -> None:
    mismatches = scan_mismatches(gate_module, state)
    assert mismatches == [], "\n".join(mismatches[:20])


# -- frames that are not exactly one packet, or do not round-trip --------------------------------------------

FRAME_KINDS = ("watchdog", "stop", "zero start", "start", "init")
BAD_WAYS = ("trailing zero", "trailing start byte", "leading junk", "over-escaped", "half a second frame")


def _armed_gate(mod: ModuleType) -> tuple[Any, Wire]:
    wire = Wire()
    gate = mod.SafetyGate(wire, LIMITS)
    gate.sensor_sample(0)
    assert gate.send(init_frame(gate), 0).sent
    gate.arm(0)
    wire.clear()
    return gate, wire


def _frames(gate: Any) -> dict[str, bytes]:
    pn = gate.next_packet_number
    return {"watchdog": sm2.watchdog(pn()), "stop": sm2.stop_channel_list_mode(pn()),
            "zero start": sm2.start_channel_list_mode(pn(), [sm2.ChannelSetting(0, 200, 0)] * 2),
            "start": sm2.start_channel_list_mode(pn(), [sm2.ChannelSetting(0, 200, 10)] * 2),
            "init": init_frame(gate)}


def _bad(frame: bytes, how: str) -> bytes:
    (packet,) = sm2.Decoder().feed(frame)
    assert isinstance(packet, sm2.Packet)
    return {"trailing zero": frame + b"\x00", "trailing start byte": frame + bytes((sm2.START,)),
            "leading junk": b"\x55\x0f" + frame,
            "over-escaped": stuffed_escape_everything(packet.packet_number, packet.command, packet.data),
            "half a second frame": frame + frame[:4]}[how]


def framing_mismatches(mod: ModuleType) -> list[str]:
    """Several frames in one write, and single frames that decode but do not round-trip: all blocked."""
    out = []
    for first in FRAME_KINDS:
        for second in FRAME_KINDS:
            gate, wire = _armed_gate(mod)
            frames = _frames(gate)
            verdict = gate.send(frames[first] + frames[second], 1)
            if verdict.sent or verdict.reason != "frame does not decode to exactly one valid packet" \
                    or wire.commands() != [STOP]:
                out.append(f"{first} + {second}: {verdict}")
    for name in FRAME_KINDS:
        for how in BAD_WAYS:
            gate, wire = _armed_gate(mod)
            frame = _frames(gate)[name]
            bad = _bad(frame, how)
            verdict = gate.send(bad, 1)
            if verdict.sent or verdict.reason != "frame does not round-trip through the codec" \
                    or wire.commands() != [STOP] or gate.state.value != "latched_fault":
                out.append(f"{name}, {how}: {verdict}")
    return out


def test_several_frames_in_one_write_and_frames_that_do_not_round_trip_are_blocked() -> None:
    mismatches = framing_mismatches(gate_module)
    assert mismatches == [], "\n".join(mismatches[:20])


@pytest.mark.parametrize("name", FRAME_KINDS)
@pytest.mark.parametrize("how", BAD_WAYS)
def test_the_decoder_alone_would_accept_the_bad_frames(name: str, how: str) -> None:
    """So the gate's own round-trip check is what blocks them."""
    gate, _ = _armed_gate(gate_module)
    frame = _frames(gate)[name]
    (packet,) = sm2.Decoder().feed(frame)
    decoded = [p for p in sm2.Decoder().feed(_bad(frame, how)) if isinstance(p, sm2.Packet)]
    assert decoded[0] == packet


# -- latched: no set-up, no output; Stop and zero pass ------------------------------------------------------

def latched_init_mismatches(mod: ModuleType) -> list[str]:
    out = []
    wire = Wire()
    gate = mod.SafetyGate(wire, LIMITS)
    gate.sensor_sample(0)
    assert gate.send(init_frame(gate, 0b11), 0).sent
    gate.trip("fault", 1)
    wire.clear()
    for mask in (0b01, 0b10, 0b11):
        verdict = gate.send(init_frame(gate, mask), 2)
        if (verdict.sent, verdict.reason) != (False, "latched fault: stimulation cannot be set up"):
            out.append(f"mask {mask:#x} while latched: {verdict}")
    if wire.commands() != [STOP] * 3:
        out.append(f"wire {wire.commands()}")
    # the mask in force is still 0b11: a two-block zero Start passes, a one-block one is malformed
    if not gate.send(sm2.start_channel_list_mode(gate.next_packet_number(), [sm2.ChannelSetting(0, 200, 0)] * 2),
                     3).sent:
        out.append("two-block zero Start blocked")
    if gate.send(sm2.start_channel_list_mode(gate.next_packet_number(), [sm2.ChannelSetting(0, 200, 0)]), 4).sent:
        out.append("one-block Start passed")
    gate.acknowledge(5, "ok")
    if not gate.send(init_frame(gate, 0b01), 6).sent:
        out.append("Init blocked after acknowledge")
    return out


def test_init_channel_list_mode_is_blocked_while_latched_and_the_old_mask_stays() -> None:
    assert latched_init_mismatches(gate_module) == []


@pytest.mark.parametrize("state", ["disarmed", "armed", "latched"])
def test_zero_output_and_stop_pass_in_every_state(state: str) -> None:
    wire = Wire()
    gate = gate_module.SafetyGate(wire, LIMITS)
    gate.sensor_sample(0)
    assert gate.send(init_frame(gate), 0).sent
    if state == "armed":
        gate.arm(0)
    if state == "latched":
        gate.trip("x", 0)
    wire.clear()
    zero = sm2.start_channel_list_mode(gate.next_packet_number(), [sm2.ChannelSetting(0, 200, 0)] * 2)
    stop = sm2.stop_channel_list_mode(gate.next_packet_number())
    assert gate.send(zero, 1).sent
    assert gate.send(stop, 2).sent
    assert wire.frames == [zero, stop]
    assert gate.state.value == {"latched": "latched_fault"}.get(state, state)


def test_only_configured_channels_can_be_set_up_or_driven() -> None:
    lim = dataclasses.replace(LIMITS, channels={2: ChannelLimits(30, 250)})
    for mask in range(256):
        wire = Wire()
        gate = gate_module.SafetyGate(wire, lim)
        assert gate.send(init_frame(gate, mask), 0).sent is (mask == 0b10), mask
    wire = Wire()
    gate = gate_module.SafetyGate(wire, lim)
    gate.sensor_sample(0)
    gate.arm(0)
    assert gate.send(init_frame(gate, 0b10), 0).sent
    assert gate.send(sm2.start_channel_list_mode(gate.next_packet_number(), [sm2.ChannelSetting(0, 250, 30)]), 1).sent
    assert gate.last_currents([2]) == (30,)


def test_start_is_sent_unchanged_byte_for_byte() -> None:
    wire = Wire()
    gate = gate_module.SafetyGate(wire, LIMITS)
    gate.sensor_sample(0)
    gate.send(init_frame(gate), 0)
    gate.arm(0)
    frame = sm2.start_channel_list_mode(gate.next_packet_number(),
                                        [sm2.ChannelSetting(0, 300, 30), sm2.ChannelSetting(0, 250, 30)])
    assert gate.send(frame, 1).sent
    assert wire.frames[-1] == frame
    assert START in wire.commands()
