"""Property: whatever the controller asks, nothing non-zero reaches the wire unless armed and within caps."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fescontrol.protocol import sciencemode2 as sm2
from fescontrol.safety.gate import GateState, SafetyGate
from fescontrol.safety.limits import ChannelLimits, GateLimits

LIMITS = GateLimits(channels={1: ChannelLimits(40, 300), 2: ChannelLimits(30, 250)}, min_pulse_width_us=20,
                    current_step_ma=2, max_charge_per_phase_nc=11000, min_main_time_code=38,
                    min_group_time_code=13, max_ramp_step_ma=12,
    max_on_ns=10**12, duty_window_ns=10**13, max_duty_on_ns=10**13, max_session_on_ns=10**14, max_sample_age_ns=10**12)


class Wire:
    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.frames.append(bytes(data))
        return len(data)


# biased toward the edges: most draws are plausible commands near the caps, some are wild
setting = st.tuples(
    st.sampled_from([0, 0, 0, 0, 1, 2]),
    st.one_of(st.sampled_from([0, 19, 20, 200, 250, 251, 300, 301]), st.integers(0, 600)),
    st.one_of(st.integers(0, 22).map(lambda x: 2 * x), st.integers(0, 140)),
)
# a ramp: the next current of each channel relative to what the wire carries now
# (mostly valid, so that long ramps up to the caps happen before anything trips)
step = st.tuples(st.sampled_from([0] * 19 + [1]), st.sampled_from([200] * 8 + [250, 251, 300, 301]),
                 st.integers(-4, 8).map(lambda x: 2 * x))
action = st.one_of(
    st.tuples(st.just("step"), st.lists(step, min_size=2, max_size=2)),
    st.tuples(st.just("step"), st.lists(step, min_size=2, max_size=2)),
    st.tuples(st.just("start"), st.lists(setting, min_size=2, max_size=2)),
    st.tuples(st.just("start"), st.lists(setting, min_size=1, max_size=3)),
    st.tuples(st.just("arm"), st.none()),
    st.tuples(st.just("ack"), st.none()),
    st.tuples(st.just("stop"), st.none()),
    st.tuples(st.just("raw"), st.binary(max_size=20)),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(action, max_size=60))
def test_no_unchecked_output_ever_reaches_the_wire(actions: list[tuple[str, object]]) -> None:
    wire = Wire()
    gate = SafetyGate(wire, LIMITS)
    gate.sensor_sample(0)
    gate.send(sm2.init_channel_list_mode(gate.next_packet_number(), active_channels=0b11, group_time_code=13,
                                         main_time_code=48), 0)
    gate.arm(0)
    last = {1: 0, 2: 0}
    for now, (kind, arg) in enumerate(actions, start=1):
        before = len(wire.frames)
        state_before = gate.state
        if kind == "step":
            settings_ = [sm2.ChannelSetting(m, pw, max(0, last[n] + d))
                         for n, (m, pw, d) in zip((1, 2), arg)]  # type: ignore[arg-type]
            gate.send(sm2.start_channel_list_mode(gate.next_packet_number(), settings_), now)
        elif kind == "start":
            settings_ = [sm2.ChannelSetting(m, pw, ma) for m, pw, ma in arg]  # type: ignore[union-attr]
            gate.send(sm2.start_channel_list_mode(gate.next_packet_number(), settings_), now)
        elif kind == "arm":
            gate.arm(now)
        elif kind == "ack":
            gate.acknowledge(now, "property test")
        elif kind == "stop":
            gate.send_stop(now)
        else:
            gate.send(sm2.START.to_bytes(1, "big") + bytes(arg), now)  # type: ignore[arg-type]
        for frame in wire.frames[before:]:
            (packet,) = sm2.Decoder().feed(frame)
            if packet.command == sm2.Cmd.STOP_CHANNEL_LIST_MODE:
                last = {1: 0, 2: 0}
                continue
            msg = sm2.parse(packet, 0b11)
            if isinstance(msg, sm2.StartChannelListMode):
                for number, s in zip((1, 2), msg.settings):
                    lim = LIMITS.channels[number]
                    if s.current_ma:
                        assert state_before is GateState.ARMED
                        assert s.mode == 0
                        assert s.current_ma <= lim.max_current_ma and s.current_ma % 2 == 0
                        assert LIMITS.min_pulse_width_us <= s.pulse_width_us <= lim.max_pulse_width_us
                        assert s.current_ma * s.pulse_width_us <= LIMITS.max_charge_per_phase_nc
                        assert s.current_ma - last[number] <= LIMITS.max_ramp_step_ma
                    last[number] = s.current_ma
        if gate.state is GateState.LATCHED_FAULT and state_before is not GateState.LATCHED_FAULT:
            # a trip always puts Stop on the wire as its last frame
            (stop,) = sm2.Decoder().feed(wire.frames[-1])
            assert stop.command == sm2.Cmd.STOP_CHANNEL_LIST_MODE
