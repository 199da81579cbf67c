"""The control loop: it only wires sensor, detector, state machine, policy, liveness and device.

One tick: read what the sensor sent, decode it (`control.sensor_input`: heel / insole frames,
or an IMU as frame type 0x02, WT901 packets or CSV lines), fill lost frames (a force holds the
last value, so sample time is sequence time and no interlock can be outrun by lost samples; an
IMU gives NaN, no evidence to its detector), run the profile's detector (the seam in
`core.detectors`: heel switch, adaptive heel, insole, foot or shank gyroscope) and
the envelope kernel over the chunk, feed the detected events to the state machine, report a
signal the detector cannot use (on screen and in the session log, never silently), read
the stimulator's answers, run every liveness and gate check, then send at most one command
(the level as currents, or the keep-alive). Output follows sample time as batch replay does:
each sample's level gets its own command slot, so frames that arrive together after a stall,
or while a command is in flight, still give one command per sample and the same ramp;
only a backlog longer than `CATCH_UP_SAMPLES` is dropped (the oldest first). A fault or a
stale sensor zeroes the output at once, ahead of anything waiting. Time comes in as `now_ns`; the ports come in as
objects with `read`/`in_waiting`, so unit tests drive the loop sample by sample over an
in-process virtual port pair with a fake clock.

A fault is entered where it happens: Stop goes out through the gate and latches, the
machine enters FAULT and the session log says why, before the exception unwinds the session.
"""

from __future__ import annotations

import errno
import logging
from collections import deque
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np
import serial

from fescontrol.control.format_sniff import FormatSniffer, one_of
from fescontrol.control.machine import ControllerMachine
from fescontrol.control.policy import channel_targets
from fescontrol.control.sensor_input import FORCE_FORMAT, make_sensor_input
from fescontrol.control.session_records import SessionRecords
from fescontrol.core import envelope as env_kernels
from fescontrol.core import events as ev
from fescontrol.core.detectors import Detector, build_detector
from fescontrol.errors import AckTimeout, SafetyTrip, SensorFormatMismatch, SensorLost
from fescontrol.safety.gate import GateState
from fescontrol.safety.liveness import Liveness
from fescontrol.stimulators.base import StimulatorBackend, what_came_since_packet

log = logging.getLogger(__name__)

LOOP_WAIT_S = 0.005
"""Longest wait for either port before the loop checks liveness and keep-alive again."""
MAX_READ_BYTES = 4096
"""Bytes read from the sensor per tick: a flood cannot make one tick unbounded."""
SIGNAL_REPEAT_NS = 10_000_000_000
"""A signal problem still present is logged again at most this often."""
CATCH_UP_SAMPLES = 3
"""Sample levels that may wait for a command slot (one command in flight at a time): enough
for a stall of a few samples, few enough that output never lags the sensor by more."""
HEALTH_PERIOD_NS = 1_000_000_000
"""How often the counts of bad frames and discarded bytes are logged when they changed."""


class SensorPort(Protocol):
    """What the loop needs of the sensor's serial port (pyserial or the virtual port)."""

    @property
    def in_waiting(self) -> int: ...

    def read(self, size: int = 1) -> bytes: ...


SENSOR_PORT_CLOSED = "the sensor closed its port or was unplugged"
EMULATOR_PORT_CLOSED = "the sensor emulator's walk is over (it closed its port; hil-sensor.log says if it failed)"
"""The end reason's note when the sensor is our emulator (simulate, live replay): its normal end."""


@dataclass(frozen=True)
class LoopSettings:
    """Everything the loop computes with, converted once from the profile and device."""

    rate_hz: float
    detector: object
    """The profile's detector section; `core.detectors.build_detector` makes the detector of it."""
    envelope_args: tuple[float, float, float, float]
    channel_numbers: tuple[int, ...]
    plateau_ma: tuple[int, ...]
    current_step_ma: int
    max_rise_ma: int
    max_gap_samples: int
    """A longer run of lost samples is a fault, not something to hold a value through."""
    stream_end_mid_step_is_fault: bool = True
    """A sensor port that closes while stimulating is a lost sensor (a device); a replayed
    recording that simply ends mid-step is not (live replay sets this False)."""
    sensor_format: str = FORCE_FORMAT
    """The sensor's wire format (`control.sensor_input.sensor_format_for`): `force`, or the IMU's
    `imu6`, `wt901`, `csv`."""
    port_closed_means: str = SENSOR_PORT_CLOSED
    """What a sensor port that hangs up (EIO) means here, for the end reason: a real sensor's, or
    (simulate, live replay) the emulator's normal end."""


@dataclass
class Progress:
    elapsed_s: float
    t_s: float
    steps: int
    bursts: int
    faults: int
    phase: str


@dataclass
class LoopCounts:
    """What the loop saw, for the session's outcome and report."""

    samples: int = 0
    steps: int = 0
    bursts: int = 0
    sensor_frames_bad: int = 0
    sensor_samples_dropped: int = 0
    loop_overruns_output_off: int = 0
    end_reason: str = ""


def hold_through_gaps(seq: np.ndarray, values: np.ndarray, next_index: int | None,
                      last_value: float) -> tuple[np.ndarray, np.ndarray]:
    """Fill missing sequence numbers by holding the last value before each gap.

    `next_index` is the index expected next (None before the first sample); `last_value`
    the value of the sample before it. Returns contiguous (sequence, values).
    """
    start = int(seq[0]) if next_index is None else next_index
    full_seq = np.arange(start, int(seq[-1]) + 1, dtype=np.int64)
    if len(full_seq) == len(seq):
        return seq, values
    source = np.full(len(full_seq), -1, dtype=np.int64)
    source[seq - start] = np.arange(len(seq))
    source = np.maximum.accumulate(source)
    padded = np.concatenate(([last_value], values))
    return full_seq, padded[source + 1]


def blank_gaps(seq: np.ndarray, values: np.ndarray, next_index: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Fill missing sequence numbers with NaN (no evidence): what an IMU detector gets for a lost
    sample, as batch replay gives it for a gap in a recording. Returns contiguous (sequence, values)."""
    start = int(seq[0]) if next_index is None else next_index
    full_seq = np.arange(start, int(seq[-1]) + 1, dtype=np.int64)
    if len(full_seq) == len(seq):
        return seq, values
    out = np.full(len(full_seq), np.nan)
    out[seq - start] = values
    return full_seq, out


class ControlLoop:
    """Wires one session's parts; `tick` is one pass, `run` ticks until the stream ends."""

    def __init__(self, settings: LoopSettings, sensor: SensorPort, link: StimulatorBackend,
                 machine: ControllerMachine, liveness: Liveness, records: SessionRecords) -> None:
        self.settings = settings
        self.sensor = sensor
        self.link = link
        self.gate = link.gate
        self.machine = machine
        self.liveness = liveness
        self.records = records
        self.counts = LoopCounts()
        self.decoder = make_sensor_input(settings.sensor_format, settings.rate_hz)
        self.detector: Detector = build_detector(settings.detector, settings.rate_hz)
        self.env_state = env_kernels.new_envelope_state()
        self.level = 0.0
        self.pending_levels: deque[float] = deque(maxlen=CATCH_UP_SAMPLES)
        self.next_index: int | None = None
        self.last_values: dict[str, float] = {name: 0.0 for name in self.detector.required_columns}
        self.signal_problem: str | None = None
        self._signal_logged_ns = 0
        self._zero = tuple(0 for _ in settings.plateau_ma)
        self._next_health_ns = 0
        self._health_seen: tuple[int, ...] = (0, 0, 0, 0, 0)
        self._bytes_since_sample = 0
        """Sensor bytes read since the last valid sample (all of them before the first): what a lost
        sensor sent instead, for the fault's reason."""
        self._bad_at_sample = 0
        """The decoder's bad frames at the last valid sample: a rejection after it is what a lost sensor sent."""
        self._sniffer: FormatSniffer | None = FormatSniffer(settings.sensor_format, settings.rate_hz)
        """Until the first valid sample: the other wire formats tried on the same bytes."""

    # -- running ------------------------------------------------------------------------------
    def run(self, clock: Callable[[], int], wait: Callable[[float], set[str]],
            progress: Callable[[Progress], None] | None = None, progress_period_s: float = 0.5) -> None:
        """Tick until the sensor stream ends (returns) or a fault or stop unwinds (raises)."""
        started = clock()
        next_progress = started
        while True:
            ready = wait(LOOP_WAIT_S)
            now = clock()
            if self.tick(now, "sensor" in ready):
                return
            if progress is not None and now >= next_progress:
                next_progress = now + int(progress_period_s * 1e9)
                progress(Progress((now - started) / 1e9, self.records.t_s, self.counts.steps,
                                  self.counts.bursts, 0, self.machine.phase.value))

    def tick(self, now_ns: int, sensor_ready: bool) -> bool:
        """One pass of the loop; True when the sensor stream has ended (output at zero)."""
        try:
            return self._tick(now_ns, sensor_ready)
        except SafetyTrip as exc:
            self.enter_fault(str(exc), now_ns)
            raise

    def enter_fault(self, cause: str, now_ns: int) -> None:
        """Stop (through the gate, latched), FAULT in the machine, the cause in the log: now."""
        try:
            self.link.trip(cause, now_ns)
        finally:
            self.machine.on_fault()
            self.records.log("fault", reason=cause)
            log.warning("fault: %s", cause)

    # -- one tick -----------------------------------------------------------------------------
    def _tick(self, now_ns: int, sensor_ready: bool) -> bool:
        if self.records.broken is not None:
            raise SafetyTrip(f"cannot write the session records: {self.records.broken}")
        if now_ns >= self._next_health_ns:
            self._next_health_ns = now_ns + HEALTH_PERIOD_NS
            self._log_link_health()
        if sensor_ready:
            ended = self._read_sensor(now_ns)
            if ended is not None:
                return self._end_of_stream(ended)
        self.link.poll(now_ns)
        fresh = self.liveness.sample_fresh(now_ns)
        reference = self.gate.last_currents(list(self.settings.channel_numbers))
        target, from_sample = self._wanted(self.machine.output_allowed(fresh), reference)
        self.liveness.output(now_ns, target != self._zero or self.link.acked_currents != self._zero
                             or reference != self._zero)
        try:
            self.liveness.tick(now_ns)
        except SensorLost as exc:  # say what did arrive on the port, and what to check
            raise SensorLost(f"{exc.cause}; {self._why_no_sample()}", t_s=exc.t_s) from exc
        except AckTimeout as exc:
            raise AckTimeout(f"{exc.cause}; {what_came_since_packet(self.link.rx_decoder)}", t_s=exc.t_s) from exc
        if self.liveness.overrun_off_ns:
            self._log_overrun_with_output_off(self.liveness.overrun_off_ns)
        self.gate.tick(now_ns)
        if self.gate.state is GateState.LATCHED_FAULT:
            raise SafetyTrip(f"safety gate: {self.gate.fault_cause}")
        if self.link.ready():
            if target != self.link.acked_currents:
                if self.link.acked_currents == self._zero and target != self._zero:
                    self.counts.bursts += 1
                self.link.set_currents(target, now_ns)
                if from_sample:
                    self.pending_levels.popleft()
            else:
                self.link.keepalive(now_ns)
        return False

    def _wanted(self, allowed: bool, reference: tuple[int, ...]) -> tuple[tuple[int, ...], bool]:
        """The currents to ask for now, and whether they are the oldest waiting sample's (to be
        consumed when sent). Zero at once when output is not allowed (a fault, a stale sensor);
        otherwise the first waiting level that changes the output, as batch replay takes one
        sample at a time (levels that change nothing are consumed while no command is in flight).
        The envelope's own end waits its turn like any level: at most CATCH_UP_SAMPLES - 1 slots."""
        waiting = self.pending_levels
        if not allowed:
            waiting.clear()
            return self._zero, False
        settled = self.link.ready()
        while waiting:
            target = self._targets(waiting[0], reference)
            if target != reference or not settled:
                return target, True
            waiting.popleft()
        return reference, False

    def _targets(self, level: float, reference: tuple[int, ...]) -> tuple[int, ...]:
        s = self.settings
        return channel_targets(level, s.plateau_ma, s.current_step_ma, reference, s.max_rise_ma)

    def _why_no_sample(self) -> str:
        """What came from a sensor gone silent (or never heard): the likely cause, for the operator."""
        fmt = one_of(self.settings.sensor_format)
        junk = self._bytes_since_sample
        rejected = self.decoder.last_rejected if self.decoder.frames_bad > self._bad_at_sample else None
        last = "" if rejected is None else f" (the last one rejected: {rejected})"
        if self.next_index is None:
            if not junk:
                return ("nothing arrived on the sensor port: is it the sensor's port, and is the sensor on and "
                        "sending?")
            why = self.decoder.no_sample_because
            if why is not None:
                return f"{junk} bytes arrived and formed no sample: {why}"
            return (f"{junk} bytes arrived and none formed a valid {fmt}{last}: does the sensor send that format "
                    "(--sensor-format and the profile choose it), at the port's baud rate (--sensor-baud)?")
        if not junk:
            return "nothing arrived since the last sample: the sensor stopped sending (its power, cable or radio link?)"
        return (f"{junk} bytes arrived since the last sample and none formed a valid {fmt}{last} (noise on the "
                "line, or the sensor changed its output format or baud rate?)")

    def _log_overrun_with_output_off(self, gap_ns: int) -> None:
        """A stall that left nothing on: the session goes on, the record keeps it."""
        lim = self.liveness.limits
        self.counts.loop_overruns_output_off = self.liveness.overruns_off
        self.records.log("loop_overrun", gap_ms=gap_ns // 1_000_000, output="off",
                         limit_on_ms=lim.loop_overrun_ns // 1_000_000, limit_off_ms=lim.loop_overrun_off_ns // 1_000_000)
        log.warning("control loop stalled %d ms with the output off; the session goes on", gap_ns // 1_000_000)

    def _log_link_health(self) -> None:
        """Once a second, when anything changed: bad frames and discarded bytes on both links,
        so garbage that never forms a frame still leaves a trace in the session log."""
        stim = self.link.rx_decoder
        seen = (self.decoder.frames_bad, self.decoder.bytes_discarded, self.decoder.samples_dropped,
                stim.frames_bad, stim.bytes_discarded)
        if seen != self._health_seen:
            self._health_seen = seen
            self.records.log("link_health", sensor_frames_bad=seen[0], sensor_bytes_discarded=seen[1],
                             sensor_samples_dropped=seen[2], stimulator_frames_bad=seen[3],
                             stimulator_bytes_discarded=seen[4])

    def _read_sensor(self, now_ns: int) -> str | None:
        """Read and process what the sensor sent; the reason if its port has closed."""
        try:
            # in_waiting first: a port whose far end is gone raises EIO there (a tty); a network port
            # (socket://) says only whether bytes wait (0 or 1), so read up to the bound either way
            data = self.sensor.read(MAX_READ_BYTES if self.sensor.in_waiting else 1)
        except serial.SerialException:
            return "sensor stream ended"
        except OSError as exc:
            if exc.errno == errno.EIO:  # what a read gives once the far end of a pty or a USB adapter is gone
                means = self.settings.port_closed_means
                if means == EMULATOR_PORT_CLOSED:  # the normal end of a simulation: no error to show
                    return f"sensor stream ended: {means}"
                return f"sensor stream ended ({means}: {exc.strerror})"
            return f"sensor stream ended ({exc.strerror})"
        self._bytes_since_sample += len(data)
        seq, decoded = self.decoder.feed(data)
        self.counts.sensor_frames_bad = self.decoder.frames_bad
        self.counts.sensor_samples_dropped = self.decoder.samples_dropped
        restart = self.decoder.sensor_restart
        if restart is not None:
            raise SafetyTrip(f"the sensor restarted: its sample counter went back from {restart[0]} to {restart[1]} "
                             "(a power dip or a reset?); its samples no longer follow the session's")
        if len(seq):
            self._bytes_since_sample = 0
            self._bad_at_sample = self.decoder.frames_bad
            self._sniffer = None
            self._process(now_ns, seq, decoded)
        elif self._sniffer is not None:
            self._sniffer.feed(data)
            if self._sniffer.found() is not None:
                raise SensorFormatMismatch(self._sniffer.reason())
        return None

    def _process(self, now_ns: int, seq: np.ndarray, decoded: dict[str, np.ndarray]) -> None:
        s = self.settings
        before = int(seq[0]) - 1 if self.next_index is None else self.next_index - 1
        gaps = np.diff(seq, prepend=before) - 1
        gap = int(gaps.max())
        if gap > s.max_gap_samples:
            at = int(seq[int(gaps.argmax())]) - gap
            raise SafetyTrip(f"sensor lost {gap} samples in one gap (limit {s.max_gap_samples})",
                             t_s=at / s.rate_hz)
        self.liveness.samples(now_ns, seq.tolist())
        self.gate.sensor_sample(now_ns)
        columns: dict[str, np.ndarray] = {}
        for name in self.detector.required_columns:
            if self.decoder.holds_lost:
                full_seq, values = hold_through_gaps(seq, decoded[name], self.next_index, self.last_values[name])
            else:
                full_seq, values = blank_gaps(seq, decoded[name], self.next_index)
            columns[name] = np.ascontiguousarray(values, dtype=np.float64)
            self.last_values[name] = float(values[-1])
        n = len(full_seq)
        event, back = self.detector.process(columns)
        levels = np.zeros(n, dtype=np.float64)
        env_kernels.shape_envelope(ev.envelope_events(event), self.env_state, s.rate_hz, *s.envelope_args, levels)
        self.next_index = int(full_seq[-1]) + 1
        self.records.t_s = self.next_index / s.rate_hz
        self.counts.samples += n
        for i in np.flatnonzero(event):
            t_event = (int(full_seq[i]) - int(back[i])) / s.rate_hz
            self._on_event(int(event[i]), t_event)
        if self.detector.in_contact():
            self.machine.on_contact()
        self.level = float(levels[-1])
        self.pending_levels.extend(levels[-CATCH_UP_SAMPLES:].tolist())
        self._check_signal(now_ns)

    def _on_event(self, code: int, t_s: float) -> None:
        source = self.detector.kind
        if code == ev.EV_HEEL_OFF:
            self.records.event(t_s, "heel_off", source)
            self.machine.on_heel_off()
        elif code == ev.EV_HEEL_STRIKE:
            self.records.event(t_s, "heel_strike", source)
            self.counts.steps += 1
            self.machine.on_heel_strike()
        elif code == ev.EV_TOE_OFF:
            self.records.event(t_s, "toe_off", source)
        else:  # EV_STIM_ABORT: the detector ends the burst (no gait event: the foot did not swing)
            self.records.log("stim_abort", detector=source, t_event_s=round(t_s, 4))
            self.machine.on_abort()

    def _check_signal(self, now_ns: int) -> None:
        """Say at once when the detector finds the signal unusable, and when it is usable again;
        a problem whose wording changes (a growing duration) is repeated every SIGNAL_REPEAT_NS."""
        problem = self.detector.signal_health()
        if problem == self.signal_problem:
            return
        appeared_or_cleared = (problem is None) != (self.signal_problem is None)
        if appeared_or_cleared or now_ns - self._signal_logged_ns >= SIGNAL_REPEAT_NS:
            self.signal_problem = problem
            self._signal_logged_ns = now_ns
            self.records.log("signal_health", detector=self.detector.kind, problem=problem)
            if problem is not None:
                log.warning("sensor signal: %s", problem)

    def _end_of_stream(self, reason: str) -> bool:
        """The sensor's port closed: a normal end, unless output is on or a swing is under way."""
        if self.link.acked_currents != self._zero or self.level > 0.0:
            if self.settings.stream_end_mid_step_is_fault:
                raise SafetyTrip(f"{reason} while stimulating: the sensor was lost mid-step",
                                 t_s=self.records.t_s)
            reason = f"{reason} mid-step (the recording ends there); stopped"
        self.counts.end_reason = reason
        return True
