"""What the operator sees: the progress line, the report table, where the output went.

This is the presentation layer of the CLI (the one place that writes to the terminal);
everything it shows comes from the session and report objects of the library.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import select
import stat
import sys
import termios
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from fescontrol.config.loading import (
    default_device_path,
    default_imu_profile_path,
    default_profile_path,
    load_device,
    load_profile,
)
from fescontrol.config.models import DeviceConfig, PatientProfile
from fescontrol.control.bench import StimulationTable, format_stimulation_table, stimulation_table
from fescontrol.control.sensor_input import sensor_format_for
from fescontrol.control.session import Progress, SessionOutcome, SessionSetup, operator_signals, run_session
from fescontrol.control.simulate import (
    SimulateRequest,
    default_out_dir,
    prepare_out_dir,
    simulate,
    simulate_configs,
    validate,
)
from fescontrol.core.detectors import IMU_KINDS
from fescontrol.errors import ConfigError
from fescontrol.records.report import finish_records
from fescontrol.records.report_text import format_episodes
from fescontrol.records.scoring import format_report_table
from fescontrol.sensing.link_budget import BYTES_PER_SAMPLE, UART_BITS_PER_BYTE, check_sensor_link
from fescontrol.stimulators import backend_module

log = logging.getLogger(__name__)


def show(stream: TextIO, text: str) -> None:
    """Write to the operator's screen. A screen that is gone (a closed pipe, a hung-up terminal)
    loses the text, not the session's exit status: everything shown here is also in the records.
    The stream is then pointed at /dev/null, so nothing fails on it later (at exit, say)."""
    try:
        stream.write(text)
        stream.flush()
    except OSError as exc:
        log.warning("the screen is gone (%s): what follows is in the session's records only", exc)
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())


class ProgressLine:
    """One line rewritten in place on a terminal; a line every 10 s when output is a file or pipe."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self._last_plain = -1e9

    def __call__(self, p: Progress) -> None:
        text = (f"elapsed {p.elapsed_s:6.1f} s | t {p.t_s:6.1f} s | {p.phase:<6} | steps {p.steps:4d} "
                f"| bursts {p.bursts:4d} | faults {p.faults}")
        if self.tty:
            show(self.stream, "\r" + text)
        elif p.elapsed_s - self._last_plain >= 10.0:
            self._last_plain = p.elapsed_s
            show(self.stream, text + "\n")

    def done(self) -> None:
        if self.tty:
            show(self.stream, "\n")


class TerminalOperator:
    """The operator at this terminal (`control.bench.Operator`): the stimulation table on stdout,
    the answer a line on stdin; `--yes` answers in advance (scripted benches), still after the table."""

    def __init__(self, preconfirmed: bool, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> None:
        self.preconfirmed = preconfirmed
        self.how = "--yes" if preconfirmed else "terminal"
        self.stdin = stdin
        self.stdout = stdout

    def show(self, table: StimulationTable) -> None:
        if not self.preconfirmed and self.stdin.isatty():
            # a 'yes' typed ahead, before the table was on screen, confirms nothing
            termios.tcflush(self.stdin.fileno(), termios.TCIFLUSH)
        self.stdout.write(format_stimulation_table(table) + "\n")
        self.stdout.write("confirmed by --yes: arming\n" if self.preconfirmed
                          else "Electrodes placed and operator present? Type 'yes' to arm: ")
        self.stdout.flush()

    def answer(self, timeout_s: float) -> bool | None:
        """Polled by the session between keep-alives; end of input (Ctrl-D) is a no."""
        if self.preconfirmed:
            return True
        ready, _, _ = select.select([self.stdin], [], [], timeout_s)
        if not ready:
            return None
        confirmed = self.stdin.readline().strip().lower() == "yes"
        if not confirmed:
            self.stdout.write("not confirmed: nothing will be armed\n")
            self.stdout.flush()
        return confirmed


def _finish(outcome: SessionOutcome, report: dict[str, object], out_dir: Path) -> int:
    show(sys.stdout, f"\nsession ended: {outcome.reason} (exit status {outcome.exit_status})\n"
                      f"{format_report_table(report)}\n{_signal_summary(report)}output folder: {out_dir}\n")
    if outcome.exit_status == 3:
        show(sys.stderr, f"fescontrol: safety fault: {outcome.fault_cause or outcome.reason}\n")
    return outcome.exit_status


def _signal_summary(report: dict[str, object]) -> str:
    """The stretches of sensor signal the detector could not use (report.json's `signal_problems`),
    under the table: they were warned of as they came, and scrolled away. Empty when none."""
    problems = report.get("signal_problems")
    episodes = format_episodes(problems) if isinstance(problems, list) else []
    return "sensor signal (what the detector could not use):\n" + "\n".join(episodes) + "\n" if episodes else ""


def simulate_command(args: argparse.Namespace) -> int:
    req = SimulateRequest(duration_s=args.duration, seed=args.seed, scenario=args.scenario, out_dir=args.out,
                          profile_path=args.profile,
                          device_path=args.device_config or default_device_path(args.device), speed=args.speed,
                          rate_hz=args.rate, sensor=args.sensor)
    validate(req)
    # every input is checked before anything is created: bad input changes nothing
    simulate_configs(req)
    out_dir = prepare_out_dir(args.out or default_out_dir(req))
    sys.stdout.write(f"fescontrol simulate: {req.scenario}, seed {req.seed}, {req.duration_s:g} s, sensor {req.sensor} "
                     f"-> output folder {out_dir}\n")
    sys.stdout.flush()
    progress = ProgressLine()
    with operator_signals():
        try:
            outcome, report = simulate(req, out_dir=out_dir, progress=progress)
        finally:
            progress.done()
    status = _finish(outcome, report, out_dir)
    if req.speed != 1.0 and report.get("scored"):
        show(sys.stdout, speed_note(req.speed))
    return status


def speed_note(speed: float) -> str:
    """What a faster (or slower) than real-time simulation does to the delivered-timing figures."""
    return (f"note: --speed {speed:g}: the controller decides in sample time, but the emulated stimulator keeps "
            f"real time, so its command slots and ramps span {speed:g}x the session time they would at --speed 1; "
            "coverage, onset lead and offset lag are comparable with the targets only at --speed 1\n")


def check_command(args: argparse.Namespace) -> int:
    """`fescontrol check`: a therapist's edited profile, validated for a stimulator without one
    attached: bad input is exit 2 naming file, key, value and range (as `run` would say it); a
    good one shows the stimulation table `run` would show before arming, and the limits around it."""
    c = _session_configs(args)
    device, profile, sensor_format = c.device, c.profile, c.sensor_format
    dev = device.device
    frequency = backend_module(dev.protocol).delivered_frequency_hz(profile.stimulation.frequency_hz)
    table = stimulation_table(profile, device, frequency, {"state": "not connected (fescontrol check)"})
    s = profile.safety
    sensor = "an IMU" if profile.detector.kind in IMU_KINDS else "heel / insole force frames"
    show(sys.stdout, "\n".join([
        f"profile {c.profile_path} (sha256 {c.profile_sha256[:16]}...) is valid for the {dev.model}",
        f"device caps {c.device_path} (sha256 {c.device_sha256[:16]}...)",
        format_stimulation_table(table),
        f"detector: {profile.detector.kind} (sensor: {sensor}); link: {_link_use(sensor_format, args.rate, args.sensor_baud)}",
        f"interlocks: sensor stale {s.sensor_stale_ms} ms while stimulating, lost {s.sensor_lost_ms} ms, first "
        f"sample within {s.sensor_first_sample_ms} ms; clock drift {s.max_clock_drift_ms} ms beyond a "
        f"{s.max_sensor_rate_error_pct} % rate error; loop overrun {s.loop_overrun_ms} ms ({s.loop_overrun_off_ms} "
        f"ms with the output off); one channel on <= {s.max_on_time_s:g} s at a stretch and <= {s.max_duty_pct} % of "
        f"any {s.duty_window_s:g} s; <= {s.max_session_stim_s:g} s a session",
        "nothing was sent to any device; `run` shows this table again, from the device, before it arms",
    ]) + "\n")
    return 0


@dataclass(frozen=True)
class _SessionConfigs:
    device_path: Path
    device: DeviceConfig
    device_sha256: str
    profile_path: Path
    profile: PatientProfile
    profile_sha256: str
    sensor_format: str


def _session_configs(args: argparse.Namespace) -> _SessionConfigs:
    """`run` and `check`: --rate, the device and profile files, and the sensor's wire format and
    link, each checked (exit 2 naming the problem) before anything is opened or created."""
    _check_rate(args.rate)
    device_path = Path(args.device_config or default_device_path(args.device))
    profile_path = Path(args.profile or (default_imu_profile_path() if args.sensor_format else default_profile_path()))
    device, device_sha = load_device(device_path)
    _same_model(args, device_path, device.device.model)
    profile, profile_sha = load_profile(profile_path, device)
    sensor_format = sensor_format_for(profile.detector.kind, args.sensor_format)
    check_sensor_link(sensor_format, args.rate, args.sensor_baud)
    return _SessionConfigs(device_path, device, device_sha, profile_path, profile, profile_sha, sensor_format)


def _link_use(fmt: str, rate: float, baud: int) -> str:
    """How much of the sensor link the samples take (known for fixed-size frames only)."""
    size = BYTES_PER_SAMPLE.get(fmt)
    if size is None:
        return f"{fmt} at {rate:g} Hz over {baud} baud (a CSV line's length is the sketch's own: not checked)"
    need = rate * size * UART_BITS_PER_BYTE
    return f"{fmt} at {rate:g} Hz needs {need:g} of {baud} bit/s ({100 * need / baud:.0f} %)"


def _check_rate(rate: float) -> None:
    """`--rate` of `run` and `check`: the sensor's sample rate."""
    if not math.isfinite(rate):
        raise ConfigError(f"--rate {rate}: is not a finite number (allowed: 20 to 1000 Hz)")
    if not 20.0 <= rate <= 1000.0:
        raise ConfigError(f"--rate {rate}: allowed 20 to 1000 Hz")


def _same_model(args: argparse.Namespace, device_path: Path, model: str) -> None:
    """A --device-config must describe the --device it is given with."""
    if args.device_config is not None and model != args.device:
        raise ConfigError(f"--device-config {str(device_path)!r}: describes a {model}, "
                          f"not the --device {args.device} (allowed: a {args.device} profile)")


def ports_command(args: argparse.Namespace) -> int:
    """`fescontrol ports`: the serial ports as a table (or JSON), and with `--listen` what each
    sends by itself; exit 0, or 2 for a bad `--seconds` / `--baud`."""
    from fescontrol.port_listen import format_heard, listen
    from fescontrol.ports import format_table, list_serial_ports, to_json

    if args.listen is not None:
        if not 0.2 <= args.seconds <= 10.0:
            raise ConfigError(f"--seconds {args.seconds:g}: allowed 0.2 to 10")
        if not 300 <= args.baud <= 4_000_000:
            raise ConfigError(f"--baud {args.baud}: allowed 300 to 4000000")
    rows = list_serial_ports()
    heard = [listen(port, args.seconds, args.baud) for port in (args.listen or [r.device for r in rows])] \
        if args.listen is not None else None
    if args.json:
        listened = {h.port: {"bytes": h.bytes_in, "what": h.what, "use": h.use} for h in heard or []}
        text = to_json(rows) if heard is None else json.dumps({"ports": json.loads(to_json(rows)),
                                                              "listened": listened}, indent=2)
    else:
        text = format_table(rows) + ("" if heard is None else "\n" + format_heard(heard, args.seconds, args.baud))
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
    return 0


def run_command(args: argparse.Namespace) -> int:
    # every input is checked before a port is opened, anything is created or the operator is asked
    c = _session_configs(args)
    device, device_path, device_sha = c.device, c.device_path, c.device_sha256
    profile, profile_path, profile_sha, sensor_format = c.profile, c.profile_path, c.profile_sha256, c.sensor_format
    devices: list[object] = []
    for option, port in (("--sensor-port", args.sensor_port), ("--stimulator-port", args.stimulator_port)):
        if "://" in port:
            devices.append(port)  # a pyserial URL (socket://, rfc2217://): nothing on disk to check
            continue
        try:
            st = os.stat(port)
        except OSError:
            raise ConfigError(f"{option} {port!r}: no such device (is it plugged in, or the emulator started?)") \
                from None
        if not stat.S_ISCHR(st.st_mode):
            raise ConfigError(f"{option} {port!r}: is not a device (allowed: a serial port or pty, "
                              "e.g. /dev/ttyUSB0, or a pyserial URL)")
        devices.append(st.st_rdev)  # one device under two names (a /dev/serial/by-id link) is still one
    if devices[0] == devices[1]:
        raise ConfigError(f"--stimulator-port {args.stimulator_port!r}: is the same port as --sensor-port "
                          f"{args.sensor_port!r} (the sensor and the stimulator each need their own)")
    prepare_out_dir(args.out, create=False)  # refuse a bad --out before the operator confirms
    if not args.yes and not sys.stdin.isatty():
        raise ConfigError("--yes is required when not interactive (confirms electrodes placed, operator present)")
    out_dir = prepare_out_dir(args.out)
    sys.stdout.write(f"fescontrol run: {args.device} on {args.stimulator_port}, sensor {args.sensor_port} "
                     f"-> output folder {out_dir}\n")
    sys.stdout.flush()
    setup = SessionSetup(device=device, device_path=device_path, device_sha256=device_sha, profile=profile,
                         profile_path=profile_path, profile_sha256=profile_sha, sensor_port=args.sensor_port,
                         stimulator_port=args.stimulator_port, out_dir=out_dir, sensor_rate_hz=args.rate,
                         sensor_format=sensor_format, sensor_baud=args.sensor_baud,
                         metadata={"command": "run", "sensor_format": sensor_format, "sensor_baud": args.sensor_baud},
                         operator=TerminalOperator(preconfirmed=args.yes))
    progress = ProgressLine()
    with operator_signals():
        try:
            outcome = run_session(setup, progress=progress)
        finally:
            progress.done()
    return _finish(outcome, finish_records(out_dir, profile, profile_sha, outcome, args.score_with), out_dir)
