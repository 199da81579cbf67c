"""Rule-based stateful test of the safety gate plus liveness, as the control loop wires them.

Rules: arm, disarm, tick (a fake clock advances; samples may or may not arrive), Start frames with random
currents, Stop, fault, acknowledge. The invariants are judged on what reached the wire (every frame written
to a fake transport is decoded) against a model written from the requirements:

- nothing above a cap (current, step, pulse width, phase charge, ramp from the last current on the wire);
- nothing non-zero unless the model is ARMED: never while disarmed, never after a fault until acknowledge
  and then a new arm edge; and never without a sensor sample younger than the age limit;
- no burst (a channel continuously non-zero on the wire) reaches max_on_ns of fake wall time, and the
  session total stays below its limit, without a Stop being written;
- the gate's state follows the model (edges only from the right states; every trip writes Stop).
"""

from __future__ import annotations

import dataclasses
import os

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from fescontrol.errors import SafetyTrip
from fescontrol.protocol import sciencemode2 as sm2
from fescontrol.safety.gate import GateState, SafetyGate
from fescontrol.safety.limits import ChannelLimits, GateLimits
from fescontrol.safety.liveness import Liveness, LivenessLimits

MS = 1_000_000
S = 1_000_000_000

LIMITS = GateLimits(
    channels={1: ChannelLimits(max_current_ma=40, max_pulse_width_us=300),
              2: ChannelLimits(max_current_ma=30, max_pulse_width_us=250)},
    min_pulse_width_us=20, current_step_ma=2, max_charge_per_phase_nc=9000, min_main_time_code=48,
    min_group_time_code=13, max_ramp_step_ma=12,
    max_on_ns=600 * MS, duty_window_ns=1500 * MS, max_duty_on_ns=900 * MS, max_session_on_ns=1600 * MS,
    max_sample_age_ns=150 * MS)
LIVENESS = LivenessLimits(rate_hz=100.0, speed=1.0, stale_ns=150 * MS, lost_ns=1 * S, first_sample_ns=10 * S, max_loss_pct=50,
                          max_drift_ns=250 * MS, max_burst_ns=2500 * MS, ack_timeout_ns=200 * MS,
                          max_busy_retries=3, loop_overrun_ns=400 * MS, loop_overrun_off_ns=400 * MS)
NUMBERS = (1, 2)

# In the mutation run (tools/mutation) each surviving mutant pays for every example: fewer there.
EXAMPLES = int(os.environ.get("FES_STATEFUL_EXAMPLES", "200"))


class Wire:
    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.frames.append(bytes(data))
        return len(data)


# mostly what a controller sends (small rises, holds, falls; single pulses at a normal width), so bursts get
# long enough to meet the timers; sometimes anything at all
_step = st.sampled_from([0, 0, 0, 2, 4, 6, 8, 10, 12, -2, -4, -40])
setting = st.tuples(
    st.sampled_from([0] * 80 + [1, 2]),                                      # mode
    st.sampled_from([200] * 80 + [19, 20, 250, 251, 300, 301]),              # pulse width
    st.one_of(*[_step.map(lambda d: ("within caps", d))] * 30,               # current
              st.sampled_from([2, 14, 16]).map(lambda d: ("rise", d)),
              st.integers(0, 140).map(lambda ma: ("abs", ma))),
)


class GateAndLiveness(RuleBasedStateMachine):
    @initialize(armed=st.booleans())
    def setup(self, armed: bool) -> None:
        self.now = 0
        self.wire = Wire()
        self.gate = SafetyGate(self.wire, LIMITS)
        self.live = Liveness(LIVENESS)
        self.seen = 0                    # frames of the wire already judged
        self.model = GateState.DISARMED  # what the requirements say the state is
        self.last_sample: int | None = None
        self.next_seq = 0
        # what the wire carries: current per channel and since when it is non-zero
        self.on_wire = {n: 0 for n in NUMBERS}
        self.on_since: dict[int, int | None] = {n: None for n in NUMBERS}
        self.any_on_since: int | None = None
        self.session_on = 0
        self.intervals: dict[int, list[tuple[int, int]]] = {n: [] for n in NUMBERS}
        self.deliver(0, drop=0)
        assert self.gate.send(sm2.init_channel_list_mode(self.gate.next_packet_number(), active_channels=0b11,
                                                         group_time_code=13, main_time_code=48), 0).sent
        self.judge_wire()
        if armed:
            self.arm()

    # -- helpers ----------------------------------------------------------------------------------------------
    def deliver(self, now: int, drop: int) -> None:
        """Sensor samples up to `now` arrive (sequence from wall time: no drift), the last `drop` of them lost."""
        upto = now * round(LIVENESS.rate_hz) // S
        seqs = list(range(self.next_seq, upto + 1))
        if drop:
            seqs = seqs[:-drop] if drop < len(seqs) else []
        self.next_seq = upto + 1
        if not seqs:
            return
        try:
            self.live.samples(now, seqs)
        except SafetyTrip as exc:
            self.fault(str(exc))
        self.gate.sensor_sample(now)
        self.last_sample = now

    def fault(self, cause: str) -> None:
        before = len(self.wire.frames)
        self.gate.trip(cause, self.now)
        assert self.stop_written_since(before)
        self.model = GateState.LATCHED_FAULT

    def stop_written_since(self, index: int) -> bool:
        return any(sm2.Decoder().feed(f)[0].command == sm2.Cmd.STOP_CHANNEL_LIST_MODE  # type: ignore[union-attr]
                   for f in self.wire.frames[index:])

    def set_on(self, number: int, current: int) -> None:
        self.on_wire[number] = current
        if current and self.on_since[number] is None:
            self.on_since[number] = self.now
        elif not current and self.on_since[number] is not None:
            self.intervals[number].append((self.on_since[number], self.now))  # type: ignore[arg-type]
            self.on_since[number] = None
        any_on = any(v is not None for v in self.on_since.values())
        if any_on and self.any_on_since is None:
            self.any_on_since = self.now
        elif not any_on and self.any_on_since is not None:
            self.session_on += self.now - self.any_on_since
            self.any_on_since = None

    def judge_wire(self) -> None:
        """Decode every new frame on the wire and check it against the model."""
        for frame in self.wire.frames[self.seen:]:
            items = sm2.Decoder().feed(frame)
            assert len(items) == 1 and isinstance(items[0], sm2.Packet), frame
            assert sm2.encode(items[0]) == frame
            packet = items[0]
            cmd = packet.command
            assert cmd in (sm2.Cmd.INIT_CHANNEL_LIST_MODE, sm2.Cmd.START_CHANNEL_LIST_MODE,
                           sm2.Cmd.STOP_CHANNEL_LIST_MODE, sm2.Cmd.WATCHDOG), cmd
            if cmd == sm2.Cmd.STOP_CHANNEL_LIST_MODE:
                for n in NUMBERS:
                    self.set_on(n, 0)
                continue
            msg = sm2.parse(packet, 0b11)
            if not isinstance(msg, sm2.StartChannelListMode):  # Init (set-up) or Watchdog (keep-alive)
                continue
            for number, s in zip(NUMBERS, msg.settings):
                cap = LIMITS.channels[number]
                assert s.mode == 0
                assert s.pulse_width_us <= cap.max_pulse_width_us
                if s.current_ma:
                    assert self.model is GateState.ARMED, (self.model, msg)
                    assert self.last_sample is not None and self.now - self.last_sample <= LIMITS.max_sample_age_ns
                    assert s.current_ma <= cap.max_current_ma
                    assert s.current_ma % LIMITS.current_step_ma == 0
                    assert s.pulse_width_us >= LIMITS.min_pulse_width_us
                    assert s.current_ma * s.pulse_width_us <= LIMITS.max_charge_per_phase_nc
                    assert s.current_ma - self.on_wire[number] <= LIMITS.max_ramp_step_ma
                self.set_on(number, s.current_ma)
        self.seen = len(self.wire.frames)

    def after(self, before: int) -> None:
        """A trip of the gate during the last rule: Stop must have been written, and the model latches."""
        if self.gate.state is GateState.LATCHED_FAULT and self.model is not GateState.LATCHED_FAULT:
            assert self.stop_written_since(before)
            self.model = GateState.LATCHED_FAULT
            cause = str(self.gate.fault_cause)
            event("trip: " + next((k for k in ("stuck-on", "duty", "session", "sample", "ramp", "disarmed",
                                                 "mode", "current", "pulse", "charge") if k in cause), "other"))
        self.judge_wire()

    # -- rules ------------------------------------------------------------------------------------------------
    @rule()
    def arm(self) -> None:
        edge = self.gate.arm(self.now)
        assert edge is (self.model is GateState.DISARMED)
        if edge:
            self.model = GateState.ARMED

    @rule()
    def disarm(self) -> None:
        before = len(self.wire.frames)
        self.gate.disarm(self.now)
        if self.model is GateState.ARMED:
            assert self.stop_written_since(before)
            self.model = GateState.DISARMED
        else:
            assert len(self.wire.frames) == before
        self.judge_wire()

    @rule(dt_ms=st.one_of(*[st.integers(1, 150)] * 3, st.integers(150, 500)),
          samples=st.sampled_from(["all", "all", "some lost", "none"]))
    def tick(self, dt_ms: int, samples: str) -> None:
        before = len(self.wire.frames)
        self.now += dt_ms * MS
        if samples != "none":
            self.deliver(self.now, drop=3 if samples == "some lost" else 0)
        self.live.output(self.now, any(self.gate.last_currents(list(NUMBERS))))
        try:
            self.live.tick(self.now)
        except SafetyTrip as exc:
            event("liveness: " + str(exc).split(":")[0])
            self.fault(str(exc))
        self.gate.tick(self.now)
        self.after(before)

    @rule(settings_=st.lists(setting, min_size=2, max_size=2))
    def start(self, settings_: list[tuple[int, int, tuple[str, int]]]) -> None:
        before = len(self.wire.frames)
        blocks = []
        for number, (mode, pw, (kind, value)) in zip(NUMBERS, settings_):
            if kind == "abs":
                ma = value
            elif kind == "rise":
                ma = max(0, self.on_wire[number] + value)
            else:
                ma = min(LIMITS.channels[number].max_current_ma, max(0, self.on_wire[number] + value))
            blocks.append(sm2.ChannelSetting(mode, pw, ma))
        frame = sm2.start_channel_list_mode(self.gate.next_packet_number(), blocks)
        verdict = self.gate.send(frame, self.now)
        if not verdict.sent:
            assert self.gate.state is GateState.LATCHED_FAULT
            assert self.stop_written_since(before)
            assert frame not in self.wire.frames[before:]
        self.after(before)

    @rule(goal=st.tuples(st.integers(0, 20), st.integers(0, 15)), cycles=st.integers(1, 40),
          dt_ms=st.integers(5, 60), drop_every=st.sampled_from([0, 0, 0, 2, 5]))
    def drive(self, goal: tuple[int, int], cycles: int, dt_ms: int, drop_every: int) -> None:
        """The control loop for a while: tick, samples, and a Start stepping toward a target within the ramp."""
        for cycle in range(cycles):
            self.tick(dt_ms, "none" if drop_every and cycle % drop_every == 0 else "all")
            if self.gate.state is GateState.LATCHED_FAULT:
                return
            before = len(self.wire.frames)
            blocks = []
            for number, half in zip(NUMBERS, goal):
                want = 2 * half
                now_ma = self.on_wire[number]
                ma = min(want, now_ma + LIMITS.max_ramp_step_ma) if want > now_ma else want
                blocks.append(sm2.ChannelSetting(0, 200, ma))
            if tuple(b.current_ma for b in blocks) == tuple(self.on_wire[n] for n in NUMBERS):
                # as the loop does: no change, so only a keep-alive; a stuck burst is then the gate tick's to end
                self.gate.send(sm2.watchdog(self.gate.next_packet_number()), self.now)
            else:
                self.gate.send(sm2.start_channel_list_mode(self.gate.next_packet_number(), blocks), self.now)
            self.after(before)
            self.check()

    # rules are drawn uniformly: more ticks and drives than stops, so that bursts grow long
    tick_2 = tick
    drive_2 = drive
    drive_3 = drive

    def check(self) -> None:
        self.state_follows_the_model()
        self.nothing_on_unless_armed()
        self.no_burst_outlasts_the_stuck_on_limit()
        self.session_total_stays_below_its_limit()
        self.duty_stays_below_its_limit()
        self.the_gate_reference_is_what_the_wire_carries()

    @rule(via_gate=st.booleans())
    def stop(self, via_gate: bool) -> None:
        before = len(self.wire.frames)
        if via_gate:
            assert self.gate.send(sm2.stop_channel_list_mode(self.gate.next_packet_number()), self.now).sent
        else:
            self.gate.send_stop(self.now)
        assert self.stop_written_since(before)
        self.after(before)

    @rule()
    def device_fault(self) -> None:
        self.fault("stimulation error -2 (electrode)")
        self.judge_wire()

    @rule()
    def acknowledge(self) -> None:
        cleared = self.gate.acknowledge(self.now, "operator")
        assert cleared is (self.model is GateState.LATCHED_FAULT)
        if cleared:
            self.model = GateState.DISARMED

    @precondition(lambda self: self.model is GateState.LATCHED_FAULT)
    @rule()
    def acknowledge_and_arm(self) -> None:
        assert self.gate.acknowledge(self.now, "operator")
        assert self.gate.state is GateState.DISARMED
        assert self.gate.arm(self.now)
        self.model = GateState.ARMED

    # -- invariants -------------------------------------------------------------------------------------------
    @invariant()
    def state_follows_the_model(self) -> None:
        assert self.gate.state is self.model

    @invariant()
    def nothing_on_unless_armed(self) -> None:
        if self.model is not GateState.ARMED:
            assert all(v == 0 for v in self.on_wire.values()), (self.model, self.on_wire)

    @invariant()
    def no_burst_outlasts_the_stuck_on_limit(self) -> None:
        for number, since in self.on_since.items():
            if since is not None:
                assert self.now - since < LIMITS.max_on_ns, (number, since, self.now)

    @invariant()
    def session_total_stays_below_its_limit(self) -> None:
        """While output is on (the gate can only act when consulted, so the last tick may overshoot)."""
        if self.any_on_since is not None:
            assert self.session_on + self.now - self.any_on_since < LIMITS.max_session_on_ns

    @invariant()
    def duty_stays_below_its_limit(self) -> None:
        start = self.now - LIMITS.duty_window_ns
        for number, since in self.on_since.items():
            if since is not None:
                spans = self.intervals[number] + [(since, self.now)]
                on = sum(max(0, end - max(begin, start)) for begin, end in spans)
                assert on < LIMITS.max_duty_on_ns, (number, spans, self.now)

    @invariant()
    def the_gate_reference_is_what_the_wire_carries(self) -> None:
        assert self.gate.last_currents(list(NUMBERS)) == tuple(self.on_wire[n] for n in NUMBERS)


GateAndLiveness.TestCase.settings = settings(
    max_examples=EXAMPLES, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
test_gate_and_liveness = GateAndLiveness.TestCase


def test_the_limits_make_the_timers_reachable() -> None:
    """The model only means something if bursts can reach the gate's timers within 40 steps."""
    assert LIMITS.max_on_ns < LIVENESS.max_burst_ns
    assert LIMITS.max_on_ns < 20 * 75 * MS
    assert dataclasses.replace(LIMITS).max_sample_age_ns == LIVENESS.stale_ns
