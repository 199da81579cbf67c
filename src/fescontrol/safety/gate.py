"""The safety gate: the only object that holds the stimulator transport.

Modelled on the panda/opendbc safety layer (house-style.md 1.4). Every outgoing frame is
decoded again with the protocol decoder, checked in integer units against the device caps
and the patient profile, and then forwarded or blocked. Any block trips the gate: Stop is
sent at once and the fault is latched until an operator acknowledges it. The gate starts
DISARMED (zero output only) and is ARMED only on an explicit rising edge. Time is passed in
(`now_ns`); the gate never reads a clock. Standard library only.

Besides the per-frame checks, the gate keeps wall-time accounts of what it let through:
a stuck-on timer per channel, the on-time of each channel over a sliding window (duty
cycle), the total on-time of the session, and the age of the last sensor sample. They are
checked on every non-zero frame and on every `tick`, so output the controller forgot to end
is ended here. A step toward zero always passes; every rise is measured from the last
current sent, and that reference is zero again after any Stop or violation.

The core is protocol-neutral: a decoder hook per protocol (`safety.hook`) turns each
outgoing frame into neutral settings, and writes the device's own stop frame. The hook is
chosen by the stimulator backend; a gate built without one speaks ScienceMode2 (RehaStim 2).
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Protocol

from fescontrol.safety.hook import ChannelSetting, Decoded, DecoderHook, Kind, Refused
from fescontrol.safety.hook_sciencemode2 import ScienceMode2Hook
from fescontrol.safety.limits import GateLimits

log = logging.getLogger(__name__)


class Transport(Protocol):
    def write(self, data: bytes) -> int | None: ...


class GateState(enum.Enum):
    DISARMED = "disarmed"
    ARMED = "armed"
    LATCHED_FAULT = "latched_fault"


@dataclass(frozen=True)
class Verdict:
    sent: bool
    command: str
    reason: str
    currents_ma: tuple[int, ...] = ()


@dataclass
class GateCounters:
    sent: int = 0
    blocked: int = 0
    stops: int = 0
    blocked_by_reason: dict[str, int] = field(default_factory=dict)


class SafetyGate:
    """Checks and forwards stimulator frames; trips, stops and latches on any violation."""

    def __init__(self, transport: Transport, limits: GateLimits,
                 on_record: Callable[[dict[str, object]], None] | None = None, *,
                 hook: DecoderHook | None = None) -> None:
        self._transport = transport
        self._limits = limits
        self._hook: DecoderHook = hook or ScienceMode2Hook()
        self._on_record = on_record or (lambda rec: None)
        self.reset()

    def reset(self) -> None:
        """Set every field to its start value (a fresh gate and a reset gate are equal)."""
        self.state = GateState.DISARMED
        self.fault_cause: str | None = None
        self.counters = GateCounters()
        self._setup: frozenset[int] | None = None
        self._last_current_ma: dict[int, int] = {n: 0 for n in self._limits.channels}
        self._packet_number = 0
        self._on_since_ns: dict[int, int | None] = {n: None for n in self._limits.channels}
        self._on_intervals: dict[int, deque[tuple[int, int]]] = {n: deque() for n in self._limits.channels}
        self._any_on_since_ns: int | None = None
        self._session_on_ns = 0
        self._last_sample_ns: int | None = None
        self.last_stop_packet_number: int | None = None
        self.last_stop_ns: int | None = None

    # -- packet numbers: one counter for every frame on this link -------------------------
    def next_packet_number(self) -> int:
        pn = self._packet_number
        self._packet_number = (pn + 1) % self._hook.packet_numbers
        return pn

    # -- arming ---------------------------------------------------------------------------
    def arm(self, now_ns: int) -> bool:
        """Rising edge of ARM: allowed only from DISARMED (a latched fault needs acknowledge first)."""
        if self.state is not GateState.DISARMED:
            return False
        self.state = GateState.ARMED
        self._record("arm", now_ns)
        return True

    def disarm(self, now_ns: int) -> None:
        """Leave ARMED; Stop goes out before anything else (every path out of ARMED stops)."""
        if self.state is GateState.ARMED:
            self.send_stop(now_ns)
            self.state = GateState.DISARMED
            self._record("disarm", now_ns)

    def sensor_sample(self, now_ns: int) -> None:
        """A valid sensor sample arrived now: non-zero output needs a young one."""
        self._last_sample_ns = now_ns

    def tick(self, now_ns: int) -> None:
        """Wall-time checks with no frame to judge: stuck-on, duty cycle, session total, sample age.

        Called every control cycle; a violation trips (Stop, latch) at once.
        """
        if self._any_on_since_ns is None:
            return
        why = self._time_violation(now_ns) or self._sample_age_violation(now_ns)
        if why is not None:
            self.trip(why, now_ns)

    def acknowledge(self, now_ns: int, operator_note: str) -> bool:
        """Clear a latched fault (logged with its cause); re-arming needs a separate edge."""
        if self.state is not GateState.LATCHED_FAULT:
            return False
        self._record("acknowledge", now_ns, cause=self.fault_cause, note=operator_note)
        self.state = GateState.DISARMED
        self.fault_cause = None
        return True

    # -- the one way out ------------------------------------------------------------------
    def send(self, frame: bytes, now_ns: int) -> Verdict:
        """Decode `frame`, check it, forward or block. A block trips the gate."""
        decoded = self._hook.decode(frame, self._setup)
        verdict = self._check(decoded, now_ns)
        if verdict.sent:
            assert isinstance(decoded, Decoded)  # a refused frame never passes
            self._write(frame)
            self.counters.sent += 1
            self._record("sent", now_ns, command=verdict.command, currents_ma=list(verdict.currents_ma))
            if decoded.kind is Kind.SETTINGS:
                self._remember_currents(decoded.settings, now_ns)
            elif decoded.kind is Kind.STOP:
                self._all_off(now_ns)
                self.counters.stops += 1
        else:
            self.counters.blocked += 1
            self.counters.blocked_by_reason[verdict.reason] = (
                self.counters.blocked_by_reason.get(verdict.reason, 0) + 1)
            self._record("blocked", now_ns, command=verdict.command, reason=verdict.reason,
                         currents_ma=list(verdict.currents_ma))
            self.trip(f"blocked {verdict.command}: {verdict.reason}", now_ns)
        return verdict

    def trip(self, cause: str, now_ns: int) -> int:
        """Stop first, then latch and explain; returns the Stop's packet number.

        Idempotent: the first cause is kept. If the transport fails, the fault is latched
        all the same before the error propagates.
        """
        try:
            return self.send_stop(now_ns)
        finally:
            self.latch(cause, now_ns)

    def latch(self, cause: str, now_ns: int) -> None:
        """Latch a fault found outside the gate when Stop was already sent (or cannot be)."""
        if self.state is not GateState.LATCHED_FAULT:
            self.state = GateState.LATCHED_FAULT
            self.fault_cause = cause
            self._record("fault", now_ns, cause=cause)

    def send_stop(self, now_ns: int) -> int:
        """Write the device's stop frame now, in any state; returns its packet number."""
        pn = self.next_packet_number()
        self.last_stop_packet_number = pn
        self.last_stop_ns = now_ns
        self._all_off(now_ns)  # the references are zero even if the write fails
        self._write(self._hook.stop_frame(pn))
        self.counters.stops += 1
        self._record("stop", now_ns, command=self._hook.stop_name, packet_number=pn)
        return pn

    def last_currents(self, numbers: list[int]) -> tuple[int, ...]:
        """The currents last let through for these channels: the reference every rise is measured from."""
        return tuple(self._last_current_ma[n] for n in numbers)

    def read_available(self) -> bytes:
        """What the device sent. Reading needs no check; only the gate may hold the port."""
        reader = self._transport
        waiting = getattr(reader, "in_waiting", 0)
        return reader.read(waiting) if waiting else b""  # type: ignore[attr-defined]

    def fileno(self) -> int:
        """For the control loop's wait on the port (it waits; it never writes)."""
        return int(self._transport.fileno())  # type: ignore[attr-defined]

    def forget_device_state(self, now_ns: int) -> None:
        """The device reset itself (watchdog or Init): its channel list is gone, its output off."""
        self._setup = None
        self._all_off(now_ns)

    # -- checks ---------------------------------------------------------------------------
    def _check(self, decoded: Decoded | Refused, now_ns: int) -> Verdict:
        if isinstance(decoded, Refused):
            return Verdict(False, decoded.name, decoded.reason)
        name = decoded.name
        if decoded.kind is Kind.SETUP:
            if self.state is GateState.LATCHED_FAULT:
                return Verdict(False, name, "latched fault: stimulation cannot be set up")
            channels = self._hook.check_setup(decoded, self._limits)
            if isinstance(channels, str):
                return Verdict(False, name, channels)
            self._setup = channels
            return Verdict(True, name, "ok")
        if decoded.kind is Kind.SETTINGS:
            return self._check_settings(decoded.settings, name, now_ns)
        return Verdict(True, name, "ok")

    def _check_settings(self, settings: tuple[ChannelSetting, ...], name: str, now_ns: int) -> Verdict:
        lim = self._limits
        if self._setup is None:
            return Verdict(False, name, "no channel list initialised")
        currents = tuple(s.current_ma for s in settings)
        if any(currents):
            why = self._time_violation(now_ns) or self._sample_age_violation(now_ns)
            if why is not None:
                return Verdict(False, name, why, currents)
        for s in settings:
            ch = lim.channels[s.number]
            where = f"channel {s.number}"
            if s.mode != 0:
                return Verdict(False, name, f"{where}: mode {s.mode} (only single pulses allowed)", currents)
            if s.current_ma > ch.max_current_ma:
                return Verdict(False, name, f"{where}: current {s.current_ma} mA > limit {ch.max_current_ma} mA", currents)
            if s.current_ma % lim.current_step_ma:
                return Verdict(False, name, f"{where}: current {s.current_ma} mA not a multiple of {lim.current_step_ma} mA", currents)
            if s.pulse_width_us > ch.max_pulse_width_us:
                return Verdict(False, name, f"{where}: pulse width {s.pulse_width_us} us > limit {ch.max_pulse_width_us} us", currents)
            if s.current_ma and s.pulse_width_us < lim.min_pulse_width_us:
                return Verdict(False, name, f"{where}: pulse width {s.pulse_width_us} us < minimum {lim.min_pulse_width_us} us", currents)
            if s.phase_charge_nc > lim.max_charge_per_phase_nc:
                return Verdict(False, name, f"{where}: phase charge {s.phase_charge_nc} nC > limit "
                                            f"{lim.max_charge_per_phase_nc} nC", currents)
            if s.current_ma and self.state is not GateState.ARMED:
                return Verdict(False, name, f"{where}: non-zero current while {self.state.value}", currents)
            step = s.current_ma - self._last_current_ma[s.number]
            if step > lim.max_ramp_step_ma:
                return Verdict(False, name, f"{where}: current step +{step} mA > ramp limit {lim.max_ramp_step_ma} mA", currents)
        return Verdict(True, name, "ok", currents)

    def _remember_currents(self, settings: tuple[ChannelSetting, ...], now_ns: int) -> None:
        for s in settings:
            self._last_current_ma[s.number] = s.current_ma
            self._set_on(s.number, s.current_ma > 0, now_ns)

    # -- wall-time accounts -----------------------------------------------------------------
    def _set_on(self, number: int, on: bool, now_ns: int) -> None:
        since = self._on_since_ns[number]
        if on and since is None:
            self._on_since_ns[number] = now_ns
        elif not on and since is not None:
            self._on_since_ns[number] = None
            self._on_intervals[number].append((since, now_ns))
        any_on = any(t is not None for t in self._on_since_ns.values())
        if any_on and self._any_on_since_ns is None:
            self._any_on_since_ns = now_ns
        elif not any_on and self._any_on_since_ns is not None:
            self._session_on_ns += now_ns - self._any_on_since_ns
            self._any_on_since_ns = None

    def _all_off(self, now_ns: int) -> None:
        for number in self._limits.channels:
            self._last_current_ma[number] = 0
            self._set_on(number, False, now_ns)

    def _time_violation(self, now_ns: int) -> str | None:
        """Why output may not stay on at `now_ns` (stuck-on, duty, session total), or None."""
        lim = self._limits
        for number, since in self._on_since_ns.items():
            if since is not None and now_ns - since >= lim.max_on_ns:
                return (f"channel {number}: on for {(now_ns - since) // 1_000_000} ms without a break "
                        f"(stuck-on limit {lim.max_on_ns // 1_000_000} ms)")
            on_ns = self._on_in_window(number, since, now_ns)
            if on_ns >= lim.max_duty_on_ns:
                return (f"channel {number}: on for {on_ns // 1_000_000} ms in the last "
                        f"{lim.duty_window_ns // 1_000_000} ms (duty limit {lim.max_duty_on_ns // 1_000_000} ms)")
        total = self._session_on_ns
        if self._any_on_since_ns is not None:
            total += now_ns - self._any_on_since_ns
        if total >= lim.max_session_on_ns:
            return (f"stimulated for {total // 1_000_000} ms this session "
                    f"(session limit {lim.max_session_on_ns // 1_000_000} ms)")
        return None

    def _on_in_window(self, number: int, since: int | None, now_ns: int) -> int:
        """On-time of a channel within (now - window, now]; drops intervals that left the window."""
        start = now_ns - self._limits.duty_window_ns
        intervals = self._on_intervals[number]
        while intervals and intervals[0][1] <= start:
            intervals.popleft()
        total = sum(end - max(begin, start) for begin, end in intervals)
        if since is not None:
            total += now_ns - max(since, start)
        return total

    def _sample_age_violation(self, now_ns: int) -> str | None:
        last = self._last_sample_ns
        if last is None:
            return "no sensor sample yet"
        if now_ns - last > self._limits.max_sample_age_ns:
            return (f"last sensor sample {(now_ns - last) // 1_000_000} ms old "
                    f"(limit {self._limits.max_sample_age_ns // 1_000_000} ms)")
        return None

    def _write(self, frame: bytes) -> None:
        self._transport.write(frame)

    def _record(self, kind: str, now_ns: int, **fields: object) -> None:
        self._on_record({"kind": f"gate_{kind}", "now_ns": now_ns, **fields})
