"""One controller session over two serial ports: set-up, the control loop, and tear-down.

The same function serves `fescontrol run` (real devices or stand-alone emulators) and
`fescontrol simulate` (emulators started by the command). Decisions use sample time (the
sensor's sample counter over its rate); liveness uses the monotonic clock. Whatever ends the
session (end of the sensor stream, a fault, Ctrl-C/SIGTERM, an exception), Stop is sent
before anything else happens.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import platform
import selectors
import signal
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import serial

from fescontrol import __version__
from fescontrol.config.models import DeviceConfig, PatientProfile
from fescontrol.control.bench import Operator, start_up
from fescontrol.control.loop import EMULATOR_PORT_CLOSED, SENSOR_PORT_CLOSED, ControlLoop, LoopSettings, Progress
from fescontrol.control.machine import ControllerMachine, Phase
from fescontrol.control.sensor_input import sensor_format_for
from fescontrol.control.session_records import SessionRecords
from fescontrol.core import envelope as env_kernels
from fescontrol.errors import DeviceIOError, FesError, OperatorStop, ProtocolError, SafetyTrip
from fescontrol.records.writers import utc_now
from fescontrol.safety.gate import SafetyGate
from fescontrol.safety.limits import limits_from_config as gate_limits_from_config
from fescontrol.safety.liveness import Liveness
from fescontrol.safety.liveness import limits_from_config as liveness_limits_from_config
from fescontrol.sensing.link_budget import DEFAULT_SENSOR_BAUD
from fescontrol.serial_tuning import request_low_latency
from fescontrol.stimulators import backend_module
from fescontrol.stimulators.base import ChannelPlan, LinkTiming, StimulatorBackend, what_came_since_packet

__all__ = ["Progress", "SessionOutcome", "SessionSetup", "run_session", "operator_signals"]

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_FAULT = 3
EXIT_OPERATOR = 130

STOP_ACK_TIMEOUT_S = 0.5
STOP_RETRY_PAUSE_S = 0.002
STOP_SETTLE_S = 0.03
"""How long the teardown listens after an OK for Stop for a contradicting answer."""


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
    speed: float = 1.0
    """Replay speed of the sensor (simulate --speed): sample time runs this much faster than wall time."""
    recording_ends_mid_step: bool = False
    """Live replay: the stream may end mid-step by design, which then stops normally (exit 0)."""
    sensor_emulated: bool = False
    """simulate, live replay: the sensor is our emulator, whose port closing is the end of its walk."""
    sensor_format: str | None = None
    """An IMU profile's wire format (`imu6` when None, `wt901`, `csv`: `control.sensor_input`);
    a force profile reads heel / insole frames."""
    sensor_baud: int = DEFAULT_SENSOR_BAUD
    """The sensor port's baud rate (`run --sensor-baud`; a pty ignores it)."""
    metadata: dict[str, object] = field(default_factory=dict)
    operator: Operator | None = None
    """`run`: shows the stimulation table and confirms before ARM (`control.bench`); None in simulate."""


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
    loop_overruns_output_off: int = 0
    t_end_s: float = 0.0


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGTSTP)
"""Signals that end a session through its Stop path. Left at their default, SIGHUP (the terminal or
SSH connection that started `run` went away) and SIGQUIT (Ctrl-\\) would end the process at once,
and SIGTSTP (Ctrl-Z) would suspend it, with the output on until the device's own watchdog stopped
it. A session cannot be paused: Ctrl-Z stops it."""


@contextlib.contextmanager
def operator_signals() -> Iterator[None]:
    """Turn the STOP_SIGNALS into OperatorStop in the main thread, so the loop's Stop path runs."""
    def _raise(signum: int, frame: object) -> None:
        raise OperatorStop(f"stopped by {signal.Signals(signum).name}")

    old = {s: signal.signal(s, _raise) for s in STOP_SIGNALS}
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


def _open_port(path: str, what: str, **kwargs: object) -> serial.Serial:
    """Open a port for this session alone (an exclusive lock, as pyserial takes it): a second session
    started on the same stimulator would send its own Init and commands into this one's, and two
    readers of one sensor would each get part of its frames."""
    try:
        # serial_for_url: a device path, or a pyserial URL (socket:// for a sensor on the network)
        return serial.serial_for_url(path, exclusive=True, **kwargs)  # type: ignore[arg-type]
    except (serial.SerialException, OSError, ValueError) as exc:
        if getattr(exc, "errno", None) == errno.EAGAIN:
            raise DeviceIOError(f"cannot open {what} port {path!r}: another program holds it (a second fescontrol "
                                "session? only one may use a port)") from exc
        raise DeviceIOError(f"cannot open {what} port {path!r}: {exc}") from exc


def _ports_and_parts(setup: SessionSetup, records: SessionRecords, opened: list[serial.Serial]
                     ) -> tuple[serial.Serial, SafetyGate, StimulatorBackend, Liveness]:
    """Open both ports and build gate, liveness and link; every port opened goes into `opened`."""
    profile, device = setup.profile, setup.device
    sensor = _open_port(setup.sensor_port, "sensor", baudrate=setup.sensor_baud, timeout=0)
    opened.append(sensor)
    records.log("serial_tuning", role="sensor", port=setup.sensor_port, result=request_low_latency(sensor))
    link_cfg = device.link
    stim = _open_port(setup.stimulator_port, "stimulator", baudrate=link_cfg.baudrate,
                      parity={"none": serial.PARITY_NONE, "even": serial.PARITY_EVEN,
                              "odd": serial.PARITY_ODD}[link_cfg.parity],
                      stopbits=link_cfg.stopbits, rtscts=link_cfg.rtscts, timeout=0, write_timeout=0.1)
    opened.append(stim)
    records.log("serial_tuning", role="stimulator", port=setup.stimulator_port, result=request_low_latency(stim))
    # from here on only the gate holds the stimulator port: every write goes through its checks,
    # read back by the decoder hook of the device's protocol
    backend = backend_module(device.device.protocol)
    limits = gate_limits_from_config(device, profile)
    gate = SafetyGate(stim, limits, records.gate_record, hook=backend.gate_hook(limits))
    liveness = Liveness(liveness_limits_from_config(profile, device, setup.sensor_rate_hz, setup.speed))
    channels = sorted(profile.channels, key=lambda c: c.number)
    link = backend.build(
        gate, liveness,
        LinkTiming(keepalive_ns=link_cfg.keepalive_interval_ms * 1_000_000,
                   handshake_timeout_ns=link_cfg.handshake_timeout_ms * 1_000_000),
        device,
        ChannelPlan(numbers=tuple(c.number for c in channels),
                    pulse_widths_us={c.number: c.pulse_width_us for c in channels},
                    frequency_hz=profile.stimulation.frequency_hz),
        lambda rec: records.log(str(rec.pop("kind")), **rec))
    return sensor, gate, link, liveness


def loop_settings(setup: SessionSetup) -> LoopSettings:
    """The profile and device as the loop's numbers (the batch runner's conversions)."""
    profile, device, rate = setup.profile, setup.device, setup.sensor_rate_hz
    det, env = profile.detector, profile.envelope
    channels = sorted(profile.channels, key=lambda c: c.number)
    return LoopSettings(
        rate_hz=float(rate),
        detector=det,
        envelope_args=env_kernels.EnvelopeParams(env.ramp_up_s, env.extension_s, env.ramp_down_s,
                                                 env.max_stim_s).kernel_args(),
        channel_numbers=tuple(c.number for c in channels),
        plateau_ma=tuple(c.plateau_current_ma for c in channels),
        current_step_ma=device.device.current_step_ma,
        max_rise_ma=profile.safety.max_ramp_step_ma,
        max_gap_samples=max(1, int(profile.safety.sensor_stale_ms * rate // 1000)),
        stream_end_mid_step_is_fault=not setup.recording_ends_mid_step,
        sensor_format=sensor_format_for(det.kind, setup.sensor_format),
        port_closed_means=EMULATOR_PORT_CLOSED if setup.sensor_emulated else SENSOR_PORT_CLOSED,
    )


def _selector_wait(sensor: serial.Serial, gate: SafetyGate) -> Callable[[float], set[str]]:
    """One wait for both ports: a sample or an ack wakes the loop at once."""
    wake = selectors.DefaultSelector()
    wake.register(sensor.fileno(), selectors.EVENT_READ, "sensor")
    wake.register(gate.fileno(), selectors.EVENT_READ, "stimulator")
    return lambda timeout: {str(key.data) for key, _ in wake.select(timeout)}


def run_session(setup: SessionSetup, *, progress: Callable[[Progress], None] | None = None,
                progress_period_s: float = 0.5) -> SessionOutcome:
    """Run until the sensor stream ends, a fault trips, or the operator stops; Stop on every path.

    Never raises for a fault of the world (port gone, disk full, device error, any exception
    in the loop): Stop is attempted first, then the outcome says why (exit 3).
    """
    records = SessionRecords(setup.out_dir)
    device = setup.device
    records.log(
        "session_start", versions=_versions(), started_utc=utc_now(),
        profile_path=str(setup.profile_path), profile_sha256=setup.profile_sha256,
        device=device.device.model, device_path=str(setup.device_path), device_sha256=setup.device_sha256,
        sensor_port=setup.sensor_port, stimulator_port=setup.stimulator_port,
        sensor_rate_hz=setup.sensor_rate_hz, **{"speed": setup.speed, **setup.metadata})
    outcome = SessionOutcome(EXIT_OK, "sensor stream ended")
    machine = ControllerMachine(lambda old, new, trig: records.log("state", source=old, dest=new, trigger=trig))
    opened: list[serial.Serial] = []
    link: StimulatorBackend | None = None
    loop: ControlLoop | None = None
    try:
        try:
            # the ports open first, so the device's Init and the first samples wait in their buffers
            # while the kernels warm up; then handshake, identity, table, confirmation (control.bench)
            sensor, gate, link, liveness = _ports_and_parts(setup, records, opened)
            start_up(link, sensor, setup.profile, setup.device, setup.operator, records.log, time.monotonic_ns())
            machine.link_up()
            gate.arm(time.monotonic_ns())
            loop = ControlLoop(loop_settings(setup), sensor, link, machine, liveness, records)
            loop.run(time.monotonic_ns, _selector_wait(sensor, gate), progress, progress_period_s)
            outcome.reason = loop.counts.end_reason
        except OperatorStop as exc:
            outcome.exit_status, outcome.reason = EXIT_OPERATOR, str(exc)
        except SafetyTrip as exc:
            outcome.exit_status, outcome.reason = EXIT_FAULT, f"safety fault: {exc}"
            outcome.fault_cause = str(exc)
        except FesError as exc:
            outcome.exit_status, outcome.reason = EXIT_FAULT, f"{type(exc).__name__}: {exc}"
            outcome.fault_cause = str(exc)
        except (serial.SerialException, OSError) as exc:
            outcome.exit_status, outcome.reason = EXIT_FAULT, f"stimulator port failed: {exc}"
            outcome.fault_cause = outcome.reason
        except Exception as exc:  # noqa: BLE001 - any bug still ends in Stop and a recorded fault
            outcome.exit_status, outcome.reason = EXIT_FAULT, f"internal error: {type(exc).__name__}: {exc}"
            outcome.fault_cause = outcome.reason
            records.log("internal_error", traceback=traceback.format_exc())
    except BaseException as exc:  # KeyboardInterrupt outside the signal handlers, SystemExit
        outcome.exit_status, outcome.reason = EXIT_OPERATOR, f"stopped by {type(exc).__name__}"
        _teardown(link, loop, machine, records, outcome, opened)
        raise
    _teardown(link, loop, machine, records, outcome, opened)
    return outcome


def _teardown(link: StimulatorBackend | None, loop: ControlLoop | None, machine: ControllerMachine,
              records: SessionRecords, outcome: SessionOutcome, opened: list[serial.Serial]) -> None:
    """Stop first (and make sure the device took it), then record why, then close everything."""
    if loop is not None:
        c = loop.counts
        outcome.samples, outcome.steps, outcome.bursts = c.samples, c.steps, c.bursts
        outcome.sensor_frames_bad, outcome.sensor_samples_dropped = c.sensor_frames_bad, c.sensor_samples_dropped
        outcome.loop_overruns_output_off = c.loop_overruns_output_off
    with _second_stop_ignored():
        if link is not None:
            outcome.blocked_commands = link.gate.counters.blocked
            link.closing = True
            never_armed = machine.phase is Phase.IDLE
            try:
                _stop_with_retry(link)
            except Exception as exc:  # noqa: BLE001 - a failed Stop is reported, never swallowed silently
                records.log("stop_failed", error=f"{type(exc).__name__}: {exc}", never_armed=never_armed)
                if never_armed:  # a device that never linked (off, wrong port or --device) was told nothing
                    log.warning("Stop could not be confirmed (the session never armed: no stimulation was "
                                "commanded): %s", exc)
                else:
                    log.error("Stop could not be confirmed: %s", exc)
                if outcome.exit_status == EXIT_OK:
                    outcome.exit_status, outcome.reason = EXIT_FAULT, f"Stop could not be confirmed: {exc}"
                    outcome.fault_cause = outcome.reason
        if outcome.exit_status == EXIT_FAULT:
            outcome.faults += 1
            if machine.phase is not Phase.FAULT:
                # not entered by the loop (set-up, port, internal error): latch and say so now
                if link is not None:
                    link.gate.latch(outcome.fault_cause or outcome.reason, time.monotonic_ns())
                machine.on_fault()
                records.log("fault", reason=outcome.reason)
        elif machine.phase is not Phase.FAULT:
            machine.finish()
        outcome.t_end_s = records.t_s
        records.log("session_end", exit_status=outcome.exit_status, reason=outcome.reason,
                    samples=outcome.samples, steps=outcome.steps, bursts=outcome.bursts,
                    faults=outcome.faults, blocked_commands=outcome.blocked_commands,
                    suppressed_records=records.suppressed_total,
                    records_error=records.broken)
        for port in opened:
            with contextlib.suppress(Exception):
                port.close()
        records.close()


def _stop_with_retry(link: StimulatorBackend) -> None:
    """Make sure the device has taken a Stop: wait for the one in flight, else send one; resend
    it while the device answers busy, until the deadline (a Start it is still processing takes
    up to its command latency). A device that reset itself (it answers 'wrong mode' after
    sending Init) has no output."""
    now = time.monotonic_ns()
    flight = link.in_flight
    if flight is None or flight.command != link.STOP_COMMAND:
        link.send_stop(now)
    tries = 1
    stop_pn = link.in_flight.packet_number if link.in_flight is not None else -1
    deadline = now + int(STOP_ACK_TIMEOUT_S * 1e9)
    while time.monotonic_ns() < deadline:
        with contextlib.suppress(SafetyTrip, ProtocolError):
            link.poll(time.monotonic_ns())  # a device error now changes nothing: Stop is confirmed below
        if link.in_flight is None:
            result = link.last_ack_result
            if result == link.RESULT_OK:
                _check_stop_not_contradicted(link, stop_pn)
                return
            if result in link.RETRY_RESULTS:
                time.sleep(STOP_RETRY_PAUSE_S)
                link.send_stop(time.monotonic_ns())
                stop_pn = link.in_flight.packet_number if link.in_flight is not None else -1
                tries += 1
                continue
            if not link.linked:
                return  # the device re-initialised: every output is off until a new handshake
            raise DeviceIOError(f"{link.STOP_NAME} answered with result {result} after {tries} tries")
        time.sleep(0.0005)
    raise DeviceIOError(f"no ack for {link.STOP_NAME} within {STOP_ACK_TIMEOUT_S * 1000:.0f} ms "
                        f"({tries} {'try' if tries == 1 else 'tries'}); {what_came_since_packet(link.rx_decoder)}")


def _check_stop_not_contradicted(link: StimulatorBackend, stop_pn: int) -> None:
    """After an OK for Stop, listen a little longer: a device that then answers the same Stop
    with an error did not stop (a firmware fault); its watchdog is all that is left, so say so."""
    deadline = time.monotonic_ns() + int(STOP_SETTLE_S * 1e9)
    while time.monotonic_ns() < deadline:
        with contextlib.suppress(SafetyTrip, ProtocolError):
            link.poll(time.monotonic_ns())
        for command, pn, result in link.late_answers:
            if command == link.STOP_ACK and pn == stop_pn and result != link.RESULT_OK:
                raise DeviceIOError(f"the device acknowledged Stop and then answered it with result {result}: "
                                    "its output may continue until its own watchdog ends it")
        time.sleep(0.0005)


@contextlib.contextmanager
def _second_stop_ignored() -> Iterator[None]:
    """While Stop is being confirmed, a second stop signal (Ctrl-C, SIGTERM ...) must not abort the confirmation."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, signal.SIG_IGN) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
