"""The gate's wall-time accounts, with an injected clock: stuck-on per channel, duty over a sliding window,
total stimulation per session, sample age. Each at its threshold -1 ns, exactly, and +1 ns, through `send`
(a non-zero frame is blocked) and through `tick` (output already on is ended: Stop, latch)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from fescontrol.protocol import sciencemode2 as sm2
from fescontrol.safety.gate import GateState, SafetyGate
from tests.safety.rig import MS, START, STOP, TIMED, S, Wire, make_gate, start

ON = (10, 300)
OFF = (0, 300)
ZERO2 = (0, 250)


def on(gate: SafetyGate, t: int, ch1: tuple[int, int] = ON, ch2: tuple[int, int] = ZERO2) -> None:
    gate.sensor_sample(t)
    verdict = gate.send(start(gate, ch1, ch2), t)
    assert verdict.sent, (t, verdict)


def off(gate: SafetyGate, t: int) -> None:
    assert gate.send(start(gate, OFF, ZERO2), t).sent


def probe(gate: SafetyGate, wire: Wire, via: str, t: int) -> bool:
    """True if the gate lets output go on at `t` (send: a non-zero frame passes; tick: no trip)."""
    wire.clear()
    if via == "send":
        gate.sensor_sample(t)
        verdict = gate.send(start(gate, ON, ZERO2), t)
        if verdict.sent:
            assert wire.commands() == [START]
        else:
            assert wire.commands() == [STOP]
        return verdict.sent
    gate.tick(t)
    tripped = gate.state is GateState.LATCHED_FAULT
    assert wire.commands() == ([STOP] if tripped else [])
    return not tripped


VIA = ["send", "tick"]


# -- stuck-on ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("via", VIA)
@pytest.mark.parametrize("dt,ok", [(-1, True), (0, False), (1, False)])
def test_stuck_on_at_the_threshold(via: str, dt: int, ok: bool) -> None:
    lim = dataclasses.replace(TIMED, max_duty_on_ns=10 * S, max_sample_age_ns=10 * S)
    gate, wire, _ = make_gate(lim)
    on(gate, 1 * S)
    on(gate, 2 * S, (12, 300))  # a new non-zero value does not restart the timer
    t = 1 * S + lim.max_on_ns + dt
    assert probe(gate, wire, via, t) is ok
    if not ok:
        assert gate.fault_cause == ("blocked StartChannelListMode: " if via == "send" else "") + \
            f"channel 1: on for {(t - S) // MS} ms without a break (stuck-on limit 3000 ms)"
        assert gate.last_currents([1, 2]) == (0, 0)


@pytest.mark.parametrize("via", VIA)
def test_stuck_on_timer_is_per_channel_and_restarts_after_a_break(via: str) -> None:
    lim = dataclasses.replace(TIMED, max_duty_on_ns=10 * S, max_sample_age_ns=10 * S)
    gate, wire, _ = make_gate(lim)
    on(gate, 0, ON, (10, 250))            # both on at 0
    on(gate, 2 * S, ON, ZERO2)            # channel 2 off at 2 s
    on(gate, 2 * S + 500 * MS, ON, (10, 250))  # and on again at 2.5 s
    on(gate, 2900 * MS, OFF, (10, 250))   # channel 1 off at 2.9 s
    on(gate, 3 * S, ON, (10, 250))        # and on again at 3 s
    # channel 1 restarted at 3 s, channel 2 at 2.5 s: channel 2 is the first to reach 3 s
    if via == "send":
        for t, ok in ((5500 * MS - 1, True), (5500 * MS, False)):
            gate.sensor_sample(t)
            verdict = gate.send(start(gate, ON, (10, 250)), t)
            assert verdict.sent is ok
        assert verdict.reason == "channel 2: on for 3000 ms without a break (stuck-on limit 3000 ms)"
    else:
        assert probe(gate, wire, via, 5500 * MS - 1)
        gate.tick(5500 * MS)
        assert gate.fault_cause == "channel 2: on for 3000 ms without a break (stuck-on limit 3000 ms)"


def test_zero_frames_pass_and_end_the_timer_even_past_every_limit() -> None:
    gate, wire, _ = make_gate(TIMED)
    on(gate, 0)
    off(gate, 100 * S)  # far past every limit: a step to zero still passes
    assert gate.state is GateState.ARMED
    assert wire.commands() == [START, START]
    gate.tick(200 * S)
    assert gate.state is GateState.ARMED


# -- duty over a sliding window ------------------------------------------------------------------------------

def duty_gate() -> tuple[SafetyGate, Wire]:
    """Channel 1 on for 2.9 s twice (0-2.9 s, 3-5.9 s), then on again from 6 s: 7 s of 10 s at 7.2 s."""
    lim = dataclasses.replace(TIMED, max_sample_age_ns=100 * S)
    gate, wire, _ = make_gate(lim)
    on(gate, 0)
    off(gate, 2900 * MS)
    on(gate, 3 * S)
    off(gate, 5900 * MS)
    on(gate, 6 * S)
    return gate, wire


@pytest.mark.parametrize("via", VIA)
@pytest.mark.parametrize("dt,ok", [(-1, True), (0, False), (1, False)])
def test_duty_at_the_threshold(via: str, dt: int, ok: bool) -> None:
    gate, wire = duty_gate()
    t = 7200 * MS + dt
    assert probe(gate, wire, via, t) is ok
    if not ok:
        assert gate.fault_cause == ("blocked StartChannelListMode: " if via == "send" else "") + \
            "channel 1: on for 7000 ms in the last 10000 ms (duty limit 7000 ms)"


@pytest.mark.parametrize("via", VIA)
def test_duty_window_slides_and_clips_the_oldest_burst(via: str) -> None:
    """On 0-2.9 s and 3-5.9 s, off, then on from 10 s: within any 10 s up to 12.9 s that is 5.8 s at most."""
    lim = dataclasses.replace(TIMED, max_sample_age_ns=100 * S, max_duty_on_ns=5800 * MS + 1)
    gate, wire, _ = make_gate(lim)
    on(gate, 0)
    off(gate, 2900 * MS)
    on(gate, 3 * S)
    off(gate, 5900 * MS)
    on(gate, 10 * S)
    for t in range(10 * S, 12900 * MS + 1, 100 * MS):
        assert probe(gate, wire, via, t), t
    # with a budget of exactly 5.8 s, going on at 10 s is already too much; 1 ns later the oldest burst has
    # lost 1 ns to the window and it passes
    lim = dataclasses.replace(lim, max_duty_on_ns=5800 * MS)
    gate, wire, _ = make_gate(lim)
    on(gate, 0)
    off(gate, 2900 * MS)
    on(gate, 3 * S)
    off(gate, 5900 * MS)
    gate.sensor_sample(10 * S)
    verdict = gate.send(start(gate, ON, ZERO2), 10 * S)
    assert verdict.reason == "channel 1: on for 5800 ms in the last 10000 ms (duty limit 5800 ms)"
    gate.acknowledge(10 * S, "x")
    gate.arm(10 * S)
    on(gate, 10 * S + 1)
    assert probe(gate, wire, via, 12 * S)


@pytest.mark.parametrize("via", VIA)
def test_bursts_that_left_the_window_no_longer_count(via: str) -> None:
    lim = dataclasses.replace(TIMED, max_sample_age_ns=100 * S)
    gate, wire, _ = make_gate(lim)
    on(gate, 0)
    off(gate, 2900 * MS)
    on(gate, 3 * S)
    off(gate, 5900 * MS)
    # the first burst ended 2.9 s in: from 12.9 s it is out of the window, the second counts 2.9 s
    on(gate, 12900 * MS)
    # 2.9 + (t - 12.9) reaches 7 s at 17 s, but the stuck-on 3 s comes first at 15.9 s; the second burst
    # leaves the window from 15.9 s on as well, so neither trips before the stuck-on timer
    assert probe(gate, wire, via, 15900 * MS - 1)
    assert not probe(gate, wire, via, 15900 * MS)
    assert "stuck-on" in str(gate.fault_cause)


def test_duty_counts_each_channel_separately() -> None:
    lim = dataclasses.replace(TIMED, max_sample_age_ns=100 * S)
    gate, wire, _ = make_gate(lim)
    # channel 1 for 2.9 s, then channel 2 for 2.9 s, ... : neither reaches 7 s in 10 s though together they do
    t = 0
    for _ in range(3):
        on(gate, t, ON, ZERO2)
        on(gate, t + 2900 * MS, OFF, (10, 250))
        off(gate, t + 5800 * MS)
        t += 5800 * MS
    assert gate.state is GateState.ARMED


# -- session total -------------------------------------------------------------------------------------------

def session_gate() -> tuple[SafetyGate, Wire]:
    """Channel 1 on 0-2 s, channel 2 on 1-3 s (3 s of stimulation, not 4), then channel 1 again from 4 s."""
    lim = dataclasses.replace(TIMED, max_duty_on_ns=10 * S, max_session_on_ns=5 * S, max_sample_age_ns=100 * S)
    gate, wire, _ = make_gate(lim)
    on(gate, 0, ON, ZERO2)
    on(gate, 1 * S, ON, (10, 250))
    on(gate, 2 * S, OFF, (10, 250))
    off(gate, 3 * S)
    on(gate, 4 * S)
    return gate, wire


@pytest.mark.parametrize("via", VIA)
@pytest.mark.parametrize("dt,ok", [(-1, True), (0, False), (1, False)])
def test_session_total_at_the_threshold(via: str, dt: int, ok: bool) -> None:
    gate, wire = session_gate()
    t = 6 * S + dt
    assert probe(gate, wire, via, t) is ok
    if not ok:
        assert gate.fault_cause == ("blocked StartChannelListMode: " if via == "send" else "") + \
            f"stimulated for {(t - 4 * S + 3 * S) // MS} ms this session (session limit 5000 ms)"


def test_session_total_survives_stop_and_disarm_but_not_reset() -> None:
    lim = dataclasses.replace(TIMED, max_duty_on_ns=10 * S, max_session_on_ns=5 * S, max_sample_age_ns=100 * S)
    gate, wire, _ = make_gate(lim)
    on(gate, 0)
    gate.send_stop(2 * S)
    on(gate, 3 * S)
    gate.disarm(5 * S)
    gate.arm(6 * S)
    on(gate, 7 * S)
    gate.tick(8 * S - 1)
    assert gate.state is GateState.ARMED
    gate.tick(8 * S)
    assert gate.fault_cause == "stimulated for 5000 ms this session (session limit 5000 ms)"
    gate.reset()
    gate.sensor_sample(0)
    assert gate.send(start(gate, OFF, ZERO2), 0).reason == "no channel list initialised"


# -- sample age ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("via", VIA)
@pytest.mark.parametrize("dt,ok", [(-1, True), (0, True), (1, False)])
def test_sample_age_at_the_threshold(via: str, dt: int, ok: bool) -> None:
    gate, wire, _ = make_gate(TIMED)
    on(gate, 1 * S)
    t = 1 * S + TIMED.max_sample_age_ns + dt
    wire.clear()
    if via == "send":
        verdict = gate.send(start(gate, (12, 300), ZERO2), t)  # no new sample
        assert verdict.sent is ok
    else:
        gate.tick(t)
        assert (gate.state is GateState.ARMED) is ok
    assert wire.commands() == ([START] if via == "send" else []) if ok else [STOP]
    if not ok:
        assert gate.fault_cause == ("blocked StartChannelListMode: " if via == "send" else "") + \
            "last sensor sample 150 ms old (limit 150 ms)"


def test_sample_age_does_not_matter_for_zero_output() -> None:
    gate, wire, _ = make_gate(TIMED)
    assert gate.send(start(gate, OFF, ZERO2), 10 * S).sent
    gate.tick(20 * S)
    assert gate.state is GateState.ARMED
    assert wire.commands() == [START]


def test_no_sample_ever_blocks_non_zero_output() -> None:
    gate, wire, _ = make_gate(TIMED, sample_ns=None)
    verdict = gate.send(start(gate, ON, ZERO2), 0)
    assert verdict.reason == "no sensor sample yet"


def test_a_new_sample_makes_output_allowed_again() -> None:
    gate, wire, _ = make_gate(TIMED)
    on(gate, 0)
    gate.sensor_sample(1 * S)
    assert gate.send(start(gate, (12, 300), ZERO2), 1 * S + 150 * MS).sent


# -- tick with nothing on ------------------------------------------------------------------------------------

def test_tick_with_output_off_never_trips() -> None:
    lim = dataclasses.replace(TIMED, max_on_ns=1, max_duty_on_ns=1, max_session_on_ns=1, max_sample_age_ns=1)
    gate, wire, _ = make_gate(lim)
    for t in (0, 1, 10**15):
        gate.tick(t)
    assert gate.state is GateState.ARMED and wire.frames == []


@pytest.mark.parametrize("ending", ["zero frame", "stop frame", "send_stop", "trip", "disarm", "forget_device_state"])
def test_every_way_of_ending_output_stops_the_timers(ending: str) -> None:
    gate, wire, _ = make_gate(TIMED)
    on(gate, 0)
    end: dict[str, Callable[[], object]] = {
        "zero frame": lambda: gate.send(start(gate, OFF, ZERO2), 1 * S),
        "stop frame": lambda: gate.send(sm2.stop_channel_list_mode(gate.next_packet_number()), 1 * S),
        "send_stop": lambda: gate.send_stop(1 * S),
        "trip": lambda: gate.trip("x", 1 * S),
        "disarm": lambda: gate.disarm(1 * S),
        "forget_device_state": lambda: gate.forget_device_state(1 * S),
    }
    end[ending]()
    state = gate.state
    gate.tick(100 * S)
    assert gate.state is state
    assert gate.last_currents([1, 2]) == (0, 0)
