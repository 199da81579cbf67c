"""Liveness interlocks: everything that must happen in time, judged with injected wall time.

The control loop decides in sample time (the sensor's counter over its rate), so a recording
can be replayed faster than real time. Sample time alone can be outrun: lost frames stretch
it, a wrong rate setting scales it. Every limit here therefore holds in wall time as well,
and whichever ends the output first wins:

- stale sensor (no valid sample for `stale_ns` while output is on) and lost sensor (none for
  `lost_ns` at all; before the first sample, none for `first_sample_ns` from the first tick: a
  sensor that never sends a valid sample, on a wrong port, format or baud rate, is lost too);
- frame loss: the share of sequence numbers missing over the last second of the stream;
- clock drift: sample time against wall time (a sensor slower or faster than configured);
- the maximum stimulation per step, counted from the burst's first non-zero output both in
  wall time and in sequence time (so lost samples count too);
- ack time-out for the command in flight, and a bounded number of consecutive busy answers;
- loop overrun: the gap between two ticks. While the output was on, `loop_overrun_ns` ends the
  session; while it was off, a stall (this machine's scheduler, a disk, a laptop's power saving)
  leaves nothing on and the gate still refuses output on an old sample, so a gap up to
  `loop_overrun_off_ns` is counted and the session goes on, a longer one ends it.

Each check raises `SafetyTrip` with the limit, the measured value and the sample time; the
loop turns that into Stop, a latched fault and exit 3. Standard library only; no clock is read.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from fescontrol.errors import AckTimeout, SafetyTrip, SensorLost

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000
RATE_MIN_SPAN_NS = 100 * NS_PER_MS
"""Wall time since the first sample before a drift fault names the rate the samples came at."""
RATE_MIN_SHARE = 0.01
"""How far from the configured rate that rate must be to be named (1 %: at a steady drift's
trip the measured rate is off by far more than the arrival jitter, 250 ms against a few ms)."""


@dataclass(frozen=True)
class LivenessLimits:
    """Every liveness limit in integer nanoseconds, samples or percent."""

    rate_hz: float
    """Sample rate of the sensor's counter (sample time = sequence / rate_hz)."""
    speed: float
    """Replay speed: sample time runs `speed` times as fast as wall time."""
    stale_ns: int
    lost_ns: int
    first_sample_ns: int
    """Longest wait, from the first tick, for the first valid sample (>= lost_ns)."""
    max_loss_pct: int
    max_drift_ns: int
    max_burst_ns: int
    """Longest burst (output continuously non-zero), wall time and sample time alike."""
    ack_timeout_ns: int
    max_busy_retries: int
    loop_overrun_ns: int
    """Longest gap between two ticks while the output is on (or being ramped down)."""
    loop_overrun_off_ns: int
    """Longest gap between two ticks while the output was off at the tick before."""
    max_rate_error_pct: int = 0
    """How far the sensor's real rate may be off `rate_hz`: the drift limit grows by this share of
    the wall time since the first sample (0: the drift limit alone)."""

    @property
    def loss_window_samples(self) -> int:
        """One second of sequence numbers (at least 10)."""
        return max(10, round(self.rate_hz))

    @property
    def max_burst_samples(self) -> int:
        return int(self.max_burst_ns * self.rate_hz // NS_PER_S)


def limits_from_config(profile: object, device: object, rate_hz: float, speed: float = 1.0) -> LivenessLimits:
    """The profile's safety section and the device link timing, as liveness limits."""
    safety = profile.safety  # type: ignore[attr-defined]
    env = profile.envelope  # type: ignore[attr-defined]
    link = device.link  # type: ignore[attr-defined]
    # a burst may last: max_stim_s (then the envelope locks out) + extension + ramp down, plus
    # one command round trip for the device to take the zero
    burst_s = float(env.max_stim_s) + float(env.extension_s) + float(env.ramp_down_s)
    return LivenessLimits(
        rate_hz=float(rate_hz), speed=float(speed),
        stale_ns=int(safety.sensor_stale_ms) * NS_PER_MS,
        lost_ns=int(safety.sensor_lost_ms) * NS_PER_MS,
        first_sample_ns=int(safety.sensor_first_sample_ms) * NS_PER_MS,
        max_loss_pct=int(safety.max_sensor_loss_pct),
        max_drift_ns=int(safety.max_clock_drift_ms) * NS_PER_MS,
        max_burst_ns=round(burst_s * NS_PER_S) + int(link.max_response_ms) * NS_PER_MS,
        ack_timeout_ns=2 * int(link.max_response_ms) * NS_PER_MS,
        max_busy_retries=int(safety.max_busy_retries),
        loop_overrun_ns=int(safety.loop_overrun_ms) * NS_PER_MS,
        loop_overrun_off_ns=int(safety.loop_overrun_off_ms) * NS_PER_MS,
        max_rate_error_pct=int(safety.max_sensor_rate_error_pct),
    )


class Liveness:
    """Wall-time and sequence-time watchdogs of one session (one instance per session)."""

    def __init__(self, limits: LivenessLimits) -> None:
        self.limits = limits
        self._first_tick_ns: int | None = None
        self._last_tick: tuple[int, bool] | None = None
        """When the last tick was, and whether the output was on then (through the gap after it)."""
        self._last_sample_ns: int | None = None
        self._last_seq: int | None = None
        self._origin: tuple[int, int, int] | None = None
        """(wall minus sample time, wall ns, sequence) of the first sample: the drift's zero, and
        where the rate the sensor really sends is measured from, for a drift fault."""
        self._half_drift: tuple[int, int] | None = None
        """(wall ns, sequence) where the drift's excess first passed half its limit: a drift that
        grew steadily is a rate, measured from here (past any backlog of the first reads)."""
        self._window: deque[int] = deque()
        self._burst_start_ns: int | None = None
        self._burst_start_seq: int | None = None
        self._in_flight: tuple[str, int] | None = None
        self._busy_in_a_row = 0
        self.max_tick_gap_ns = 0
        self.overruns_off = 0
        """Gaps over `loop_overrun_ns` with the output off, which the session survived."""
        self.overrun_off_ns = 0
        """The last tick's gap if it was such an overrun, else 0 (for the loop to record)."""

    # -- what happened -----------------------------------------------------------------------
    def _measured_rate(self, now_ns: int, seq: int, t0: int, half: tuple[int, int]) -> str:
        """The rate the samples came at, as the operator sets it: what to put in `--rate`, or set
        the sensor to. Said only when the drift is a rate: it grew steadily (its excess over the
        rate error allowed passed half the limit neither in the first nor in the last quarter of
        the time since the first sample, `t0`: a stall or a burst of late samples jumps), over at
        least `RATE_MIN_SPAN_NS`. Measured from that half-way sample to this one, by the counter
        (lost frames do not lower it), not from the first sample: the first reads may be a backlog
        read late, which would make the rate look higher. Named when at least `RATE_MIN_SHARE` off
        the configured rate, in whole Hz ('about': arrival jitter moves it a little)."""
        half_ns, half_seq = half
        whole, first_half = now_ns - t0, half_ns - t0
        if whole < RATE_MIN_SPAN_NS or not whole <= 4 * first_half <= 3 * whole:
            return ""
        rate = (seq - half_seq) * NS_PER_S / ((now_ns - half_ns) * self.limits.speed)
        configured = self.limits.rate_hz
        if abs(rate - configured) < RATE_MIN_SHARE * configured:
            return ""
        shown = f"{rate:.0f}"
        return f"; its samples came at about {shown} Hz: run with --rate {shown}, or set the sensor to {configured:g} Hz"

    def samples(self, now_ns: int, seqs: list[int]) -> None:
        """Valid samples (absolute, increasing sequence numbers) arrived at `now_ns`."""
        if not seqs:
            return
        lim = self.limits
        self._last_sample_ns = now_ns
        self._last_seq = seqs[-1]
        # wall time minus sample time (both in wall ns): constant for a sensor at the configured rate
        offset = now_ns - round(seqs[-1] * NS_PER_S / (lim.rate_hz * lim.speed))
        if self._origin is None:
            self._origin = (offset, now_ns, seqs[0])
        offset0, t0, _ = self._origin
        drift = offset - offset0
        # a sensor whose clock is a little off its rate drifts steadily: allowed, up to the rate error
        excess = abs(drift) - (now_ns - t0) * lim.max_rate_error_pct // 100
        if 2 * excess > lim.max_drift_ns:
            if self._half_drift is None:
                self._half_drift = (now_ns, seqs[-1])
            if excess > lim.max_drift_ns:
                direction = "behind" if drift > 0 else "ahead of"
                allowance = (f" + {lim.max_rate_error_pct} % of the {(now_ns - t0) / NS_PER_S:.1f} s since its first "
                             "sample" if lim.max_rate_error_pct else "")
                raise SafetyTrip(
                    f"sensor clock {abs(drift) // NS_PER_MS} ms {direction} wall time (limit "
                    f"{lim.max_drift_ns // NS_PER_MS} ms{allowance}): the sensor's real rate is not {lim.rate_hz:g} Hz"
                    f"{self._measured_rate(now_ns, seqs[-1], t0, self._half_drift)}", t_s=self._t_s())
        window = self._window
        window.extend(seqs)
        horizon = seqs[-1] - lim.loss_window_samples
        while window[0] <= horizon:
            window.popleft()
        span = seqs[-1] - window[0] + 1
        if span >= lim.loss_window_samples // 4:
            lost_pct = 100 * (span - len(window)) // span
            if lost_pct > lim.max_loss_pct:
                raise SafetyTrip(
                    f"sensor losing frames: {lost_pct} % of the last {span} samples missing "
                    f"(limit {lim.max_loss_pct} %)", t_s=self._t_s())

    def output(self, now_ns: int, on: bool) -> None:
        """Whether any channel is (or is being made) non-zero now; starts and ends a burst."""
        if on and self._burst_start_ns is None:
            self._burst_start_ns = now_ns
            self._burst_start_seq = self._last_seq
        elif not on:
            self._burst_start_ns = None
            self._burst_start_seq = None

    def command_sent(self, now_ns: int, name: str) -> None:
        """A command that the device answers went out; its ack is due within the time-out."""
        self._in_flight = (name, now_ns)

    def command_answered(self, busy: bool) -> None:
        """The command in flight was answered; busy answers in a row are bounded."""
        name = self._in_flight[0] if self._in_flight is not None else "command"
        self._in_flight = None
        if not busy:
            self._busy_in_a_row = 0
            return
        self._busy_in_a_row += 1
        if self._busy_in_a_row > self.limits.max_busy_retries:
            raise SafetyTrip(f"stimulator answered {name} busy {self._busy_in_a_row} times in a row "
                             f"(limit {self.limits.max_busy_retries} retries)", t_s=self._t_s())

    # -- the checks, every tick ----------------------------------------------------------------
    def tick(self, now_ns: int) -> None:
        """Check every wall-time limit at `now_ns`; raise SafetyTrip on the first one broken."""
        lim = self.limits
        last_tick, self._last_tick = self._last_tick, (now_ns, self._burst_start_ns is not None)
        self.overrun_off_ns = 0
        if self._first_tick_ns is None:
            self._first_tick_ns = now_ns
        if last_tick is not None:
            last_ns, was_on = last_tick
            gap = now_ns - last_ns
            self.max_tick_gap_ns = max(self.max_tick_gap_ns, gap)
            if gap > lim.loop_overrun_ns and was_on:
                raise SafetyTrip(f"control loop overrun: {gap // NS_PER_MS} ms between ticks "
                                 f"(limit {lim.loop_overrun_ns // NS_PER_MS} ms)", t_s=self._t_s())
            if gap > lim.loop_overrun_off_ns:
                raise SafetyTrip(f"control loop overrun: {gap // NS_PER_MS} ms between ticks with the output "
                                 f"off (limit {lim.loop_overrun_off_ns // NS_PER_MS} ms)", t_s=self._t_s())
            if gap > lim.loop_overrun_ns:
                self.overruns_off += 1
                self.overrun_off_ns = gap
        self.check_ack(now_ns)
        if self._last_sample_ns is None:
            silent = now_ns - self._first_tick_ns
            if silent > lim.first_sample_ns:
                raise SensorLost(f"sensor lost: no valid sample in the first {silent // NS_PER_MS} ms of the "
                                 f"session (limit {lim.first_sample_ns // NS_PER_MS} ms)")
        else:
            age = now_ns - self._last_sample_ns
            if age > lim.stale_ns and self._burst_start_ns is not None:
                raise SafetyTrip(f"sensor stale: no sample for {age // NS_PER_MS} ms while stimulating "
                                 f"(limit {lim.stale_ns // NS_PER_MS} ms)", t_s=self._t_s())
            if age > lim.lost_ns:
                raise SensorLost(f"sensor lost: no sample for {age // NS_PER_MS} ms "
                                 f"(limit {lim.lost_ns // NS_PER_MS} ms)", t_s=self._t_s())
        if self._burst_start_ns is not None:
            on_ns = now_ns - self._burst_start_ns
            if on_ns > lim.max_burst_ns:
                raise SafetyTrip(f"stimulation on for {on_ns // NS_PER_MS} ms of wall time in one step "
                                 f"(limit {lim.max_burst_ns // NS_PER_MS} ms)", t_s=self._t_s())
            if self._burst_start_seq is not None and self._last_seq is not None:
                on_samples = self._last_seq - self._burst_start_seq
                if on_samples > lim.max_burst_samples:
                    raise SafetyTrip(f"stimulation on for {on_samples} samples of sensor time in one step "
                                     f"(limit {lim.max_burst_samples} samples)", t_s=self._t_s())

    def check_ack(self, now_ns: int) -> None:
        """The command in flight must be answered within the ack time-out."""
        if self._in_flight is not None:
            name, sent = self._in_flight
            if now_ns - sent > self.limits.ack_timeout_ns:
                raise AckTimeout(f"no ack for {name} within {self.limits.ack_timeout_ns // NS_PER_MS} ms",
                                 t_s=self._t_s())

    def sample_fresh(self, now_ns: int) -> bool:
        """A valid sample arrived within the stale limit: the only condition for non-zero output."""
        return self._last_sample_ns is not None and now_ns - self._last_sample_ns <= self.limits.stale_ns

    def _t_s(self) -> float | None:
        return None if self._last_seq is None else self._last_seq / self.limits.rate_hz
