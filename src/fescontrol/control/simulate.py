"""`fescontrol simulate`: start the sensor and stimulator emulators, run a session against them.

The emulators are separate processes on real pseudo-terminals (package `fescontrol_hil`,
started, never imported). Both share one session-time origin `t0` on CLOCK_MONOTONIC, so the
stimulator's `stim.csv` and the sensor's `truth.csv` are on the same time axis as the
controller's sample time. Children run in their own process group: Ctrl-C reaches only the
controller, which stops the stimulator first and then ends the children.

`--sensor` picks the emulated sensor: the heel switch (the default) or the insole, or an IMU
(`foot-imu` and `shank-imu` send our frame type 0x02, `wt901` the foot IMU as WitMotion
packets, `csv-imu` the foot IMU as CSV text lines). With an IMU and no `--profile` the embedded IMU profile is used; the detector's
mount follows the sensor (`shank-imu` runs `shank_imu`, the others `foot_imu`), as replay
takes it from a recording's sidecar.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from fescontrol.config.loading import (
    default_device_path,
    default_imu_profile_path,
    default_profile_path,
    load_device,
    load_profile,
)
from fescontrol.config.models import DeviceConfig, PatientProfile
from fescontrol.control.emulated_device_end import DEVICE_STOP_GRACE_S, log_emulator_end, wait_for_device_off
from fescontrol.control.sensor_input import sensor_format_for
from fescontrol.control.session import Progress, SessionOutcome, SessionSetup, run_session
from fescontrol.core.detectors import IMU_KINDS
from fescontrol.core.warmup import warm_up
from fescontrol.emulator_lines import T0_FROM_STDIN, parse_port_line, t0_line
from fescontrol.errors import ConfigError, DeviceInitError
from fescontrol.records.report import finish_records
from fescontrol.scenarios import SCENARIOS
from fescontrol.sensing.link_budget import DEFAULT_SENSOR_BAUD, check_sensor_link
from fescontrol.stimulators import backend_module

log = logging.getLogger(__name__)

T0_AFTER_PORTS_S = 1.0
"""t0 is this long after both emulators have reported their ports; they wait for it on stdin
(`--t0-mono-ns stdin`), so it no longer depends on how long they take to start (1.58 s under load
was once seen, past the fixed 1.5 s margin t0 had then). The margin covers only what comes between
here and `run_session` opening both ports, which it does first: the controller must hold the sensor
port by t0, as pyserial flushes what arrived before, and a sensor without sequence numbers (WT901,
CSV) would then start the session's clock late."""
PORT_LINE_TIMEOUT_S = 15.0
FORCE_SENSORS = ("heel", "insole")
IMU_SENSORS = ("foot-imu", "shank-imu", "wt901", "csv-imu")
SENSORS = (*FORCE_SENSORS, *IMU_SENSORS)
SENSOR_MOUNT = {"foot-imu": "foot", "shank-imu": "shank", "wt901": "foot", "csv-imu": "foot"}
SENSOR_FORMAT = {"foot-imu": "imu6", "shank-imu": "imu6", "wt901": "wt901", "csv-imu": "csv"}
"""The wire format each emulated IMU sends (`control.sensor_input`)."""


@dataclass(frozen=True)
class SimulateRequest:
    duration_s: float = 60.0
    seed: int = 1
    scenario: str = "healthy"
    out_dir: Path | None = None
    profile_path: Path | None = None
    device_path: Path | None = None
    speed: float = 1.0
    rate_hz: float = 100.0
    sensor: str = "heel"
    """The emulated sensor: heel, insole (force frames) or foot-imu, shank-imu, wt901, csv-imu."""


def default_out_dir(req: SimulateRequest) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"simulate-{stamp}-{req.scenario}-seed{req.seed}"


def validate(req: SimulateRequest) -> None:
    """Refuse bad numbers before anything starts (NaN fails every range test, so it is named first)."""
    if req.scenario not in SCENARIOS:
        raise ConfigError(f"--scenario {req.scenario!r}: allowed {', '.join(SCENARIOS)}")
    for option, value, lo, hi, unit in (("--duration", req.duration_s, 10.0, 3600.0, " s"),
                                        ("--speed", req.speed, 0.1, 10.0, ""),
                                        ("--rate", req.rate_hz, 20.0, 1000.0, " Hz")):
        if not math.isfinite(value):
            raise ConfigError(f"{option} {value}: is not a finite number (allowed: {lo:g} to {hi:g}{unit})")
        if not lo <= value <= hi:
            raise ConfigError(f"{option} {value}: allowed {lo:g} to {hi:g}{unit}")
    if req.seed < 0:
        raise ConfigError(f"--seed {req.seed}: allowed an integer >= 0 (it seeds the generated walk)")
    if req.sensor not in SENSORS:
        raise ConfigError(f"--sensor {req.sensor!r}: allowed {', '.join(SENSORS)}")
    if req.sensor == "wt901":
        check_sensor_link("wt901", req.rate_hz, DEFAULT_SENSOR_BAUD)


def prepare_out_dir(path: Path, *, create: bool = True) -> Path:
    """A new or empty, writable folder only: logs are append-only, so two sessions must never share one.

    Everything that would otherwise fail mid-session (a file in the way, /proc or /sys, a
    read-only mount, no write permission) is refused here with a ConfigError (exit 2). With
    ``create=False`` nothing is made, so a command can check its output folder before it asks
    the operator anything; with ``create=True`` the folder is made and a probe file is written
    and removed in it (the folder itself may stay, empty, if the probe fails).
    """
    shown = f"--out {str(path)!r}"
    real = Path(os.path.realpath(path))
    for root in (Path("/proc"), Path("/sys")):
        if real == root or real.is_relative_to(root):
            raise ConfigError(f"{shown}: is under {root}, a kernel file system (allowed: a new or empty folder "
                              "on a writable disk)")
    try:
        if path.exists():
            if not path.is_dir():
                raise ConfigError(f"{shown}: exists and is not a folder (choose a new folder)")
            if any(path.iterdir()):
                raise ConfigError(f"{shown}: folder exists and is not empty (choose a new folder)")
            existing = real
        else:
            existing = next(p for p in real.parents if p.exists())
            if not existing.is_dir():
                raise ConfigError(f"{shown}: {str(existing)!r} is a file, so no folder can be made under it")
        if os.statvfs(existing).f_flag & os.ST_RDONLY:
            raise ConfigError(f"{shown}: {str(existing)!r} is on a read-only file system")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise ConfigError(f"{shown}: {str(existing)!r} is not writable by this user")
    except OSError as exc:
        raise ConfigError(f"{shown}: cannot be checked ({exc.strerror})") from exc
    if not create:
        return path
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{shown}: cannot create the folder ({exc.strerror})") from exc
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(f"{shown}: cannot write in the folder ({exc.strerror})") from exc
    return path


def _start_child(args: list[str], log_path: Path) -> subprocess.Popen[str]:
    err = open(log_path, "a", encoding="utf-8")
    try:
        return subprocess.Popen([sys.executable, "-m", "fescontrol_hil", *args], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=err, text=True, start_new_session=True)
    finally:
        err.close()


def _read_port_line(proc: subprocess.Popen[str], what: str) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], PORT_LINE_TIMEOUT_S)
    line = proc.stdout.readline() if ready else ""
    path = parse_port_line(line)
    if path is None:
        raise DeviceInitError(f"{what} emulator did not report its port (got {line!r}, exit {proc.poll()})")
    return path


def _send_t0(proc: subprocess.Popen[str], what: str, t0_ns: int) -> None:
    """The emulator waits for its time origin after reporting its port (`--t0-mono-ns stdin`)."""
    assert proc.stdin is not None
    try:
        proc.stdin.write(t0_line(t0_ns))
        proc.stdin.close()
    except BrokenPipeError:
        raise DeviceInitError(f"{what} emulator ended before it was sent its time origin (exit {proc.poll()})") from None


def _end_child(proc: subprocess.Popen[str], *, terminate: bool, timeout_s: float = 5.0) -> int:
    if terminate and proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()
    finally:
        if proc.stdout is not None:
            proc.stdout.close()


@dataclass(frozen=True)
class Configs:
    """The validated device caps and patient profile of a session, with where they came from."""

    device: DeviceConfig
    device_path: Path
    device_sha256: str
    profile: PatientProfile
    profile_path: Path
    profile_sha256: str


def load_configs(device_path: Path | None, profile_path: Path | None) -> Configs:
    device_file = Path(device_path or default_device_path())
    profile_file = Path(profile_path or default_profile_path())
    device, device_sha = load_device(device_file)
    profile, profile_sha = load_profile(profile_file, device)
    return Configs(device, device_file, device_sha, profile, profile_file, profile_sha)


def with_detector_kind(configs: Configs, kind: str) -> Configs:
    """The configs with the profile's detector kind replaced (an IMU's mount is a fact of the
    sensor, not a setting); the profile's file and hash stay those of the file as read."""
    profile = configs.profile
    if profile.detector.kind == kind:
        return configs
    detector = profile.detector.model_copy(update={"kind": kind})
    return dataclasses.replace(configs, profile=profile.model_copy(update={"detector": detector}))


def simulate_configs(req: SimulateRequest) -> Configs:
    """Device and profile of a simulated session, checked against the sensor: the IMU profile by
    default for an IMU, its detector mounted where the sensor is; a profile whose detector does
    not read the sensor is bad input."""
    imu = req.sensor in IMU_SENSORS
    configs = load_configs(req.device_path, req.profile_path or (default_imu_profile_path() if imu else None))
    kind = configs.profile.detector.kind
    if imu:
        if kind not in IMU_KINDS:
            raise ConfigError(f"--profile {str(configs.profile_path)!r}: [detector] kind = {kind!r} reads a force "
                              f"sensor, not --sensor {req.sensor} (use an IMU profile: kind = \"foot_imu\" or "
                              "\"shank_imu\", e.g. configs/patients/imu-default.toml, the default)")
        return with_detector_kind(configs, f"{SENSOR_MOUNT[req.sensor]}_imu")
    if kind in IMU_KINDS:
        raise ConfigError(f"--profile {str(configs.profile_path)!r}: [detector] kind = {kind!r} reads an IMU; "
                          f"--sensor {req.sensor} sends force frames (allowed with this profile: "
                          f"{', '.join(IMU_SENSORS)})")
    return configs


def run_against_emulators(out_dir: Path, configs: Configs, sensor_args: list[str], *, rate_hz: float,
                          speed: float, metadata: dict[str, object], stimulator_args: Sequence[str] = (),
                          recording_ends_mid_step: bool = False, sensor_format: str | None = None,
                          progress: Callable[[Progress], None] | None = None) -> SessionOutcome:
    """Start the stimulator emulator of the device's protocol and the sensor emulator on ptys with one
    shared t0, run the session against their ports exactly as `run` would against devices, then end
    the children."""
    common = ["--t0-mono-ns", T0_FROM_STDIN, "--speed", repr(speed)]
    emulator = backend_module(configs.device.device.protocol).emulator_args(configs.device)
    stim_proc = _start_child([*emulator, "--out", str(out_dir), *stimulator_args, *common],
                             out_dir / "hil-stimulator.log")
    sensor_proc = None
    t0: int | None = None
    try:
        sensor_proc = _start_child(["sensor", *sensor_args, "--truth", str(out_dir / "truth.csv"), *common],
                                   out_dir / "hil-sensor.log")
        warm_up()  # load (or compile) the kernels while the emulators start: t0 waits for their ports
        stim_port = _read_port_line(stim_proc, "stimulator")
        sensor_port = _read_port_line(sensor_proc, "sensor")
        t0 = time.monotonic_ns() + int(T0_AFTER_PORTS_S * 1e9)
        _send_t0(stim_proc, "stimulator", t0)
        _send_t0(sensor_proc, "sensor", t0)
        setup = SessionSetup(
            device=configs.device, device_path=configs.device_path, device_sha256=configs.device_sha256,
            profile=configs.profile, profile_path=configs.profile_path, profile_sha256=configs.profile_sha256,
            sensor_port=sensor_port, stimulator_port=stim_port, out_dir=out_dir, sensor_rate_hz=rate_hz,
            speed=speed, recording_ends_mid_step=recording_ends_mid_step, sensor_format=sensor_format,
            sensor_emulated=True,
            metadata={**metadata, "speed": speed, "t0_mono_ns": t0, "t0_after_ports_s": T0_AFTER_PORTS_S,
                      "sensor_format": sensor_format_for(configs.profile.detector.kind, sensor_format),
                      "emulator_pids": {"sensor": sensor_proc.pid, "stimulator": stim_proc.pid}})
        return run_session(setup, progress=progress)
    finally:
        # the controller has sent Stop (or never started): now the children may end; the device
        # last, once its output is off (a host that lost the link cannot stop it; its watchdog can)
        if sensor_proc is not None:
            _end_child(sensor_proc, terminate=True)
        limit_s = configs.device.link.watchdog_timeout_ms / 1000.0 + DEVICE_STOP_GRACE_S
        on, waited_s = wait_for_device_off(stim_proc, out_dir / "stim.csv", limit_s)
        _end_child(stim_proc, terminate=True)
        t_s = 0.0 if t0 is None else round((time.monotonic_ns() - t0) / 1e9 * speed, 4)
        log_emulator_end(out_dir / "session.jsonl", t_s, on, waited_s, limit_s)


def simulate(req: SimulateRequest, *, out_dir: Path,
             progress: Callable[[Progress], None] | None = None) -> tuple[SessionOutcome, dict[str, object]]:
    """Run one simulated session into `out_dir` (already prepared) and return its outcome and report."""
    validate(req)
    configs = simulate_configs(req)
    outcome = run_against_emulators(
        out_dir, configs,
        ["--scenario", req.scenario, "--seed", str(req.seed), "--duration", repr(req.duration_s),
         "--rate", repr(req.rate_hz), "--kind", req.sensor],
        rate_hz=req.rate_hz, speed=req.speed, progress=progress, sensor_format=SENSOR_FORMAT.get(req.sensor),
        metadata={"command": "simulate", "seed": req.seed, "scenario": req.scenario,
                  "duration_s": req.duration_s, "sensor": req.sensor,
                  "detector_kind": configs.profile.detector.kind})
    return outcome, finish_records(out_dir, configs.profile, configs.profile_sha256, outcome)
