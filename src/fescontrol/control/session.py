"""One controller session over two serial ports: set-up, the control loop, and tear-down.

The same function serves `fescontrol run` (real devices or stand-alone emulators) and
`fescontrol simulate` (emulators started by the command). Decisions use sample time (the
sensor's sample counter over its rate); liveness uses the monotonic clock. Whatever ends the
session (end of the sensor stream, a fault, Ctrl-C/SIGTERM, an exception), Stop is sent
before anything else happens.
"""

from __future__ import annotations

import contextlib
import logging
import platform
import selectors
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import serial

from fescontrol import __version__
from fescontrol.config.models import DeviceConfig, PatientProfile
from fescontrol.control.machine import ControllerMachine, Phase
from fescontrol.control.stimlink import LinkTiming, StimulatorLink
from fescontrol.core import envelope as env_kernels
from fescontrol.core import heelswitch as hs_kernels
from fescontrol.core.warmup import warm_up
from fescontrol.errors import DeviceIOError, FesError, OperatorStop, SafetyTrip
from fescontrol.protocol import sciencemode2 as sm2
from fescontrol.records.writers import CsvLog, JsonlLog, format_time_s
from fescontrol.safety.gate import SafetyGate
from fescontrol.safety.limits import limits_from_config
from fescontrol.sensing.frames import FrameDecoder

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_FAULT = 3
EXIT_OPERATOR = 130

# How long a silent sensor may stay silent, with output already at zero, before it is a fault.
SENSOR_LOST_S = 2.0
STOP_ACK_TIMEOUT_S = 0.5
# Longest wait for either port before the loop checks liveness and keep-alive again.
LOOP_WAIT_S = 0.005


@dataclass(frozen=True)
class SessionSetup:
    device: DeviceConfig
    device_path: Path
    device_sha256: str
    profile: PatientProfile
    profile_path: Path
    profile_sha256: str
    sensor_port: str
    stimulator_port: str
    out_dir: Path
    sensor_rate_hz: float = 100.0
    metadata: dict[str, object] = field(default_factory=dict)


@dataclass
class SessionOutcome:
    exit_status: int
    reason: str
    samples: int = 0
    steps: int = 0
    bursts: int = 0
    faults: int = 0
    blocked_commands: int = 0
    fault_cause: str | None = None
    sensor_frames_bad: int = 0
    sensor_samples_dropped: int = 0
    t_end_s: float = 0.0


@dataclass
class Progress:
    elapsed_s: float
    t_s: float
    steps: int
    bursts: int
    faults: int
    phase: str


@contextlib.contextmanager
def operator_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGINT into OperatorStop in the main thread, so the loop's Stop path runs."""
    def _raise(signum: int, frame: object) -> None:
        raise OperatorStop(f"stopped by {signal.Signals(signum).name}")

    old = {s: signal.signal(s, _raise) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def _versions() -> dict[str, str]:
    """Every piece of SOUP that shapes a decision, as installed (house-style 1.5: pinned and logged)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"fescontrol": __version__, "python": platform.python_version()}
    for dist in ("numpy", "numba", "llvmlite", "pyserial", "transitions", "pydantic"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:  # pragma: no cover - an incomplete install
            out[dist] = "missing"
    return out


def _quantise(level: float, plateau_ma: int, step_ma: int) -> int:
    return int(round(level * plateau_ma / step_ma)) * step_ma


class _Records:
    """The controller's files in the output folder, all append-only and flushed per row."""

    def __init__(self, out_dir: Path) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.session = JsonlLog(out_dir / "session.jsonl")
        self.events = CsvLog(out_dir / "events.csv", ("t_s", "event", "source"))
        self.commands = CsvLog(out_dir / "commands.csv",
                               ("t_s", "command", "currents_mA", "decision", "reason"))
        self.t_s = 0.0

    def log(self, kind: str, **fields: object) -> None:
        self.session.write({"t_mono": time.monotonic_ns(), "t_s": round(self.t_s, 4), "kind": kind, **fields})

    def gate_record(self, rec: dict[str, object]) -> None:
        kind = str(rec["kind"])
        if kind in ("gate_sent", "gate_stop", "gate_blocked"):
            currents = rec.get("currents_ma") or []
            assert isinstance(currents, list)
            decision = "blocked" if kind == "gate_blocked" else "sent"
            self.commands.write((format_time_s(self.t_s), rec.get("command", ""),
                                 " ".join(str(c) for c in currents),
                                 decision, rec.get("reason", "ok" if decision == "sent" else "")))
            if kind == "gate_sent":
                return
        fields = {k: v for k, v in rec.items() if k != "kind"}
        self.log(kind, **fields)

    def close(self) -> None:
        for f in (self.events, self.commands, self.session):
            f.close()


def _open_port(path: str, what: str, **kwargs: object) -> serial.Serial:
    try:
        return serial.Serial(path, **kwargs)  # type: ignore[arg-type]
    except (serial.SerialException, OSError, ValueError) as exc:
        raise DeviceIOError(f"cannot open {what} port {path!r}: {exc}") from exc


def run_session(setup: SessionSetup, *, progress: Callable[[Progress], None] | None = None,
                progress_period_s: float = 0.5) -> SessionOutcome:
    """Run until the sensor stream ends, a fault trips, or the operator stops; Stop on every path."""
    warm_up()  # compile/load every kernel before anything can be armed (house-style 3b)
    records = _Records(setup.out_dir)
    profile, device = setup.profile, setup.device
    rate = setup.sensor_rate_hz
    records.log(
        "session_start", versions=_versions(),
        profile_path=str(setup.profile_path), profile_sha256=setup.profile_sha256,
        device=device.device.model, device_path=str(setup.device_path), device_sha256=setup.device_sha256,
        sensor_port=setup.sensor_port, stimulator_port=setup.stimulator_port, sensor_rate_hz=rate,
        **setup.metadata)
    outcome = SessionOutcome(EXIT_OK, "sensor stream ended")
    machine = ControllerMachine(lambda old, new, trig: records.log("state", source=old, dest=new, trigger=trig))
    sensor = stim = None
    link: StimulatorLink | None = None
    gate: SafetyGate | None = None
    try:
        sensor = _open_port(setup.sensor_port, "sensor", baudrate=115200, timeout=0)
        link_cfg = device.link
        stim = _open_port(setup.stimulator_port, "stimulator", baudrate=link_cfg.baudrate,
                          parity={"none": serial.PARITY_NONE, "even": serial.PARITY_EVEN,
                                  "odd": serial.PARITY_ODD}[link_cfg.parity],
                          stopbits=link_cfg.stopbits, timeout=0)
        # from here on only the gate holds the stimulator port: every write goes through its checks
        gate = SafetyGate(stim, limits_from_config(device, profile), records.gate_record)
        channels = [c.number for c in profile.channels]
        link = StimulatorLink(
            gate,
            LinkTiming(keepalive_ns=link_cfg.keepalive_interval_ms * 1_000_000,
                       ack_timeout_ns=2 * link_cfg.max_response_ms * 1_000_000,
                       handshake_timeout_ns=link_cfg.handshake_timeout_ms * 1_000_000),
            channel_numbers=channels,
            pulse_widths_us={c.number: c.pulse_width_us for c in profile.channels},
            main_time_code=sm2.frequency_code_for_hz(profile.stimulation.frequency_hz),
            group_time_code=sm2.group_time_code(device.device.group_interval_ms),
            on_record=lambda rec: records.log(str(rec.pop("kind")), **rec))
        link.connect(time.monotonic_ns, time.sleep)
        machine.link_up()
        gate.arm(time.monotonic_ns())
        _control_loop(setup, sensor, link, machine, records, outcome, progress, progress_period_s)
    except OperatorStop as exc:
        outcome.exit_status, outcome.reason = EXIT_OPERATOR, str(exc)
    except SafetyTrip as exc:
        outcome.exit_status, outcome.reason = EXIT_FAULT, f"safety fault: {exc}"
        outcome.fault_cause = str(exc)
    except FesError as exc:
        outcome.exit_status, outcome.reason = EXIT_FAULT, f"{type(exc).__name__}: {exc}"
        outcome.fault_cause = str(exc)
    except BaseException as exc:  # noqa: BLE001 - Stop first, then let it propagate
        outcome.exit_status, outcome.reason = EXIT_FAULT, f"unexpected {type(exc).__name__}: {exc}"
        outcome.fault_cause = outcome.reason
        _stop_and_close(link, gate, sensor, stim, records, outcome, machine)
        raise
    _stop_and_close(link, gate, sensor, stim, records, outcome, machine)
    return outcome


def _control_loop(setup: SessionSetup, sensor: serial.Serial, link: StimulatorLink,
                  machine: ControllerMachine, records: _Records, outcome: SessionOutcome,
                  progress: Callable[[Progress], None] | None, progress_period_s: float) -> None:
    profile, device = setup.profile, setup.device
    rate = setup.sensor_rate_hz
    det = profile.detector
    env = profile.envelope
    # the same conversions (seconds -> samples, Python scalar types) as the batch runner uses
    det_args = hs_kernels.HeelSwitchParams(det.contact_threshold_n, det.release_threshold_n, det.debounce_samples,
                                           det.min_contact_s, det.min_swing_s).kernel_args(rate)
    env_args = env_kernels.EnvelopeParams(env.ramp_up_s, env.extension_s, env.ramp_down_s,
                                          env.max_stim_s).kernel_args()
    plateau = [c.plateau_current_ma for c in profile.channels]
    step_ma = device.device.current_step_ma
    max_step = profile.safety.max_ramp_step_ma
    stale_ns = profile.safety.sensor_stale_ms * 1_000_000
    decoder = FrameDecoder()
    det_state = hs_kernels.new_detector_state()
    env_state = env_kernels.new_envelope_state()
    level = 0.0
    last_sample_ns: int | None = None
    sample_index = 0  # absolute index of the next sample (from the sensor's counter)
    started_ns = time.monotonic_ns()
    next_progress_ns = started_ns
    zero = tuple(0 for _ in plateau)
    # one wait for both ports: a sample or an ack wakes the loop at once; the timeout paces
    # the liveness checks and the keep-alive when neither comes
    wake = selectors.DefaultSelector()
    wake.register(sensor.fileno(), selectors.EVENT_READ, "sensor")
    wake.register(link.gate.fileno(), selectors.EVENT_READ, "stimulator")
    while True:
        ready = {key.data for key, _ in wake.select(LOOP_WAIT_S)}
        data = b""
        if "sensor" in ready:
            try:
                data = sensor.read(max(1, sensor.in_waiting))
            except serial.SerialException:
                outcome.reason = "sensor stream ended"
                return
            except OSError as exc:
                outcome.reason = f"sensor stream ended ({exc.strerror})"
                return
        now = time.monotonic_ns()
        if data:
            samples = decoder.feed(data)
            outcome.sensor_frames_bad = decoder.frames_bad
            outcome.sensor_samples_dropped = decoder.samples_dropped
            n = len(samples.seq)
            if n:
                last_sample_ns = now
                force = np.ascontiguousarray(samples.heel_N, dtype=np.float64)
                event = np.zeros(n, dtype=np.int8)
                back = np.zeros(n, dtype=np.int32)
                levels = np.zeros(n, dtype=np.float64)
                hs_kernels.detect_heel_switch(force, det_state, *det_args, event, back)
                env_kernels.shape_envelope(event, env_state, float(rate), *env_args, levels)
                seq = samples.seq
                sample_index = int(seq[-1]) + 1
                records.t_s = sample_index / rate
                outcome.samples += n
                for i in np.flatnonzero(event):
                    t_event = (int(seq[i]) - int(back[i])) / rate
                    _on_event(int(event[i]), t_event, machine, records, outcome)
                if machine.phase is Phase.ARMED and det_state[hs_kernels.DET_PHASE] == hs_kernels.PH_CONTACT:
                    machine.contact()
                level = float(levels[-1])
        # liveness: non-zero output needs a fresh sample
        fresh = last_sample_ns is not None and now - last_sample_ns <= stale_ns
        if not fresh and last_sample_ns is not None:
            if link.acked_currents != zero or level > 0.0:
                raise SafetyTrip(f"sensor stale: no sample for {(now - last_sample_ns) / 1e6:.0f} ms while stimulating",
                                 t_s=records.t_s)
            if now - last_sample_ns > SENSOR_LOST_S * 1e9:
                raise SafetyTrip(f"sensor lost: no sample for {SENSOR_LOST_S:.1f} s", t_s=records.t_s)
            level = 0.0
        link.poll(now)
        if link.link_losses:
            raise SafetyTrip("stimulator link lost: the device watchdog reset it", t_s=records.t_s)
        allowed = fresh and machine.stimulation_allowed()
        target = tuple(_quantise(level, p, step_ma) if allowed else 0 for p in plateau)
        # the controller never asks for a step the gate would refuse: clamp the rise per command
        target = tuple(min(t, a + max_step) for t, a in zip(target, link.acked_currents))
        if link.ready():
            if target != link.acked_currents:
                was_off = link.acked_currents == zero
                link.set_currents(target, now)
                if was_off and any(target):
                    outcome.bursts += 1
            else:
                link.keepalive(now)
        if progress is not None and now >= next_progress_ns:
            next_progress_ns = now + int(progress_period_s * 1e9)
            progress(Progress((now - started_ns) / 1e9, records.t_s, outcome.steps, outcome.bursts,
                              outcome.faults, machine.phase.value))


def _on_event(code: int, t_s: float, machine: ControllerMachine, records: _Records,
              outcome: SessionOutcome) -> None:
    if code == hs_kernels.EV_HEEL_OFF:
        if machine.phase is Phase.ARMED:
            machine.contact()
        records.events.write((format_time_s(t_s), "heel_off", "heel_switch"))
        if machine.phase is Phase.STANCE:
            machine.heel_off()
    elif code == hs_kernels.EV_HEEL_STRIKE:
        records.events.write((format_time_s(t_s), "heel_strike", "heel_switch"))
        outcome.steps += 1
        if machine.phase is Phase.SWING:
            machine.heel_strike()


def _stop_and_close(link: StimulatorLink | None, gate: SafetyGate | None, sensor: serial.Serial | None,
                    stim: serial.Serial | None, records: _Records, outcome: SessionOutcome,
                    machine: ControllerMachine) -> None:
    """Stop first (and make sure the device took it), then record why, then close everything."""
    if gate is not None and stim is not None:
        try:
            with _second_stop_ignored():
                _stop_with_retry(link, gate)
        except Exception as exc:  # noqa: BLE001 - a failed Stop is reported, never swallowed silently
            records.log("stop_failed", error=f"{type(exc).__name__}: {exc}")
            log.error("Stop could not be confirmed: %s", exc)
            if outcome.exit_status == EXIT_OK:
                outcome.exit_status, outcome.reason = EXIT_FAULT, f"Stop could not be confirmed: {exc}"
        outcome.blocked_commands = gate.counters.blocked
    if outcome.exit_status == EXIT_FAULT:
        outcome.faults += 1
        if gate is not None and gate.state.value != "latched_fault":
            gate.trip(outcome.fault_cause or outcome.reason, time.monotonic_ns())
        if machine.phase is not Phase.FAULT:
            machine.trip()
        records.log("fault", reason=outcome.reason)
    elif machine.phase is not Phase.FAULT:
        machine.finish()
    outcome.t_end_s = records.t_s
    records.log("session_end", exit_status=outcome.exit_status, reason=outcome.reason, samples=outcome.samples,
                steps=outcome.steps, bursts=outcome.bursts, faults=outcome.faults,
                blocked_commands=outcome.blocked_commands)
    for port in (sensor, stim):
        if port is not None:
            with contextlib.suppress(Exception):
                port.close()
    records.close()


def _stop_with_retry(link: StimulatorLink | None, gate: SafetyGate) -> None:
    """Send Stop now; if the device answers busy (a command was still in flight), send it again."""
    now = time.monotonic_ns()
    if link is None:
        gate.send_stop(now)
        return
    link.send_stop(now)
    deadline = now + int(STOP_ACK_TIMEOUT_S * 1e9)
    while time.monotonic_ns() < deadline:
        try:
            link.poll(time.monotonic_ns())
        except SafetyTrip:
            pass  # a device error now changes nothing: the Stop is confirmed or resent below
        if link.in_flight is None:
            if link.last_ack_result == sm2.Result.OK:
                return
            if link.last_ack_result != sm2.Result.BUSY:
                raise DeviceIOError(f"StopChannelListMode answered with result {link.last_ack_result}")
            time.sleep(0.002)
            link.send_stop(time.monotonic_ns())
            continue
        time.sleep(0.0005)
    raise DeviceIOError(f"no ack for StopChannelListMode within {STOP_ACK_TIMEOUT_S * 1000:.0f} ms")


@contextlib.contextmanager
def _second_stop_ignored() -> Iterator[None]:
    """While Stop is being confirmed, a second Ctrl-C or SIGTERM must not abort the confirmation."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
