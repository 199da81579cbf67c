"""A fault-injection rig: both emulators and `fescontrol run` over real ptys, many rigs at once.

Each `Case` is one session: the sensor emulator (seeded walk, fault flags), the stimulator
emulator (fault flags) and `fescontrol run` against their ports, all three sharing one
session-time origin t0, so `stim.csv` (what the emulated device delivered) is on the same
time axis as `truth.csv`, the controller's `session.jsonl` and the fault instants. Cases
are I/O bound and run concurrently in one wave (`run_wave`); a case may have a `during`
hook, run in its own thread while the session runs (SIGKILL, filling the disk).

The numbers every requirement is built from come from the embedded example profile and the
RehaStim 2 device config, never from literals (`LIMITS`).

`FaultTable` is the collector: every fault test adds one row (fault, requirement, measured
time to the safe state, exit status, pass); with FES_FAULT_TABLE=path it is written as JSON
at the end of the test session, and `tools/fault_table.py` makes `safety/fault-table.md`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import platform
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fescontrol_hil.gait import generate

from fescontrol.config.loading import default_device_path, default_profile_path, load_device, load_profile
from fescontrol.core.batch import run_batch
from fescontrol.core.envelope import EnvelopeParams
from fescontrol.core.heelswitch import HeelSwitchParams
from fescontrol.emulator_lines import parse_port_line

from .conftest import read_csv, read_jsonl, stop_process

CHANNELS = ("1", "2")
RATE_HZ = 100.0


@dataclass(frozen=True)
class Limits:
    """The example profile's and the RehaStim 2's numbers, in seconds."""

    stale_s: float
    lost_s: float
    max_loss_pct: int
    drift_s: float
    rate_error: float
    """`max_sensor_rate_error_pct` as a share: the drift allowed grows by it per second of wall time."""
    max_busy_retries: int
    max_stim_s: float
    extension_s: float
    ramp_down_s: float
    max_response_s: float
    ack_timeout_s: float
    watchdog_s: float
    keepalive_s: float
    max_on_s: float
    duty_window_s: float
    max_duty_pct: int
    debounce_s: float
    loop_overrun_s: float
    ack_delay_s: float = 0.010
    """The emulated device's processing time (fescontrol-hil stimulator --ack-delay-ms default)."""

    @property
    def burst_s(self) -> float:
        """Longest burst: max_stim_s + extension + ramp down + one device response (1.73 s)."""
        return self.max_stim_s + self.extension_s + self.ramp_down_s + self.max_response_s

    @property
    def watchdog_bound_s(self) -> float:
        """The device watchdog plus the emulator's 5 ms loop and time-stamp slack (1.25 s)."""
        return self.watchdog_s + 0.05


def _limits() -> Limits:
    device, _ = load_device(default_device_path())
    profile, _ = load_profile(default_profile_path(), device)
    s, e, link = profile.safety, profile.envelope, device.link
    return Limits(
        stale_s=s.sensor_stale_ms / 1000, lost_s=s.sensor_lost_ms / 1000, max_loss_pct=s.max_sensor_loss_pct,
        drift_s=s.max_clock_drift_ms / 1000, rate_error=s.max_sensor_rate_error_pct / 100,
        max_busy_retries=s.max_busy_retries,
        max_stim_s=e.max_stim_s, extension_s=e.extension_s, ramp_down_s=e.ramp_down_s,
        max_response_s=link.max_response_ms / 1000, ack_timeout_s=2 * link.max_response_ms / 1000,
        watchdog_s=link.watchdog_timeout_ms / 1000, keepalive_s=link.keepalive_interval_ms / 1000,
        max_on_s=s.max_on_time_s, duty_window_s=s.duty_window_s, max_duty_pct=s.max_duty_pct,
        debounce_s=profile.detector.debounce_samples / RATE_HZ, loop_overrun_s=s.loop_overrun_ms / 1000)


LIMITS = _limits()


# ======================================================================= the walk


@dataclass(frozen=True)
class Walk:
    """The generated walk of one seed: truth events and the bursts the controller should make."""

    truth: list[tuple[float, str]]
    bursts: list[tuple[float, float]]
    """(first sample with level > 0, first sample back at 0) in sample time, from the batch runner."""

    def times(self, kind: str) -> list[float]:
        return [t for t, k in self.truth if k == kind]

    def swing(self, n: int) -> float:
        """The sensor emulator's WHEN = swing:N, as session time (its first affected sample)."""
        return math.ceil((self.times("toe_off")[n - 1] + 0.100) * RATE_HZ - 1e-6) / RATE_HZ


@functools.lru_cache(maxsize=None)
def walk(scenario: str, seed: int, duration_s: float) -> Walk:
    rec = generate(scenario, seed, duration_s, RATE_HZ)
    device, _ = load_device(default_device_path())
    profile, _ = load_profile(default_profile_path(), device)
    det, env = profile.detector, profile.envelope
    force = (rec.heel_N.astype("float64") * 10.0 + 0.5) // 1 / 10.0  # the 0.1 N the sensor sends
    batch = run_batch(force, RATE_HZ,
                      HeelSwitchParams(det.contact_threshold_n, det.release_threshold_n, det.debounce_samples,
                                       det.min_contact_s, det.min_swing_s),
                      EnvelopeParams(env.ramp_up_s, env.extension_s, env.ramp_down_s, env.max_stim_s))
    on = batch.level > 0
    bursts, start = [], None
    for k, value in enumerate(on.tolist()):
        if value and start is None:
            start = k
        elif not value and start is not None:
            bursts.append((start / RATE_HZ, k / RATE_HZ))
            start = None
    return Walk([(float(t), str(kind)) for t, kind in rec.events], bursts)


# ======================================================================= cases and results


@dataclass
class Case:
    name: str
    sensor_args: tuple[str, ...] = ()
    stim_args: tuple[str, ...] = ()
    run_args: tuple[str, ...] = ()
    seed: int = 3
    duration_s: float = 10.0
    scenario: str = "healthy"
    out: Callable[[Path], Path] | None = None
    """Where `--out` points (default: a new folder `run` in the case's folder)."""
    during: Callable[[Running], None] | None = None
    """Run in a thread once the controller is started (it may kill it, fill its disk...)."""
    cleanup: Callable[[Path], Path | None] | None = None
    """Run after the case ended (unmount...); may return where the run folder now is."""


@dataclass
class Running:
    """A case while it runs: what a `during` hook needs."""

    case: Case
    root: Path
    t0_ns: int
    emu_dir: Path
    run_dir: Path
    controller: subprocess.Popen[str] | None = None
    notes: dict[str, object] = field(default_factory=dict)
    stim: subprocess.Popen[str] | None = None
    sensor: subprocess.Popen[str] | None = None
    error: BaseException | None = None

    def t_s(self, mono_ns: int) -> float:
        return (mono_ns - self.t0_ns) / 1e9

    def now_s(self) -> float:
        return self.t_s(time.monotonic_ns())

    def first_burst(self, timeout: float = 20.0) -> float:
        """Wait for the emulator's first non-zero output row; its session time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            path = self.emu_dir / "stim.csv"
            if path.exists():
                for row in read_csv(path):
                    if float(row["current_mA"]) > 0:
                        return float(row["t_s"])
            time.sleep(0.002)
        raise AssertionError(f"{self.case.name}: no burst within {timeout} s")


@dataclass
class Result:
    case: Case
    t0_ns: int
    emu_dir: Path
    run_dir: Path
    returncode: int | None
    stdout: str
    stderr: str
    notes: dict[str, object]
    stim_rows: list[tuple[float, str, int]]
    device: list[dict[str, object]]
    walk: Walk

    # -- the controller's files -------------------------------------------------------------
    def session(self) -> list[dict[str, object]]:
        return read_jsonl(self.run_dir / "session.jsonl")

    def kinds(self) -> list[str]:
        return [str(rec["kind"]) for rec in self.session()]

    def faults(self) -> list[dict[str, object]]:
        return [rec for rec in self.session() if rec["kind"] == "fault"]

    def first_fault_s(self) -> float:
        return self.t_s(int(str(self.faults()[0]["t_mono"])))

    def report(self) -> dict[str, object]:
        return json.loads((self.run_dir / "report.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]

    def t_s(self, mono_ns: int) -> float:
        return (mono_ns - self.t0_ns) / 1e9

    # -- what the device did ------------------------------------------------------------------
    def rx(self, command: str | None = None) -> list[dict[str, object]]:
        return [r for r in self.device if r.get("dir") == "rx" and (command is None or r.get("command") == command)]

    def injected(self, fault: str) -> list[dict[str, object]]:
        return [r for r in self.device if r.get("kind") == "fault_injected" and r.get("fault") == fault]

    def last_rx_s(self) -> float:
        return self.t_s(int(str(self.rx()[-1]["t_mono_ns"])))

    def handshake_s(self) -> float:
        """Session time at which the device received the controller's InitChannelListMode."""
        return self.t_s(int(str(self.rx("INIT_CHANNEL_LIST_MODE")[0]["t_mono_ns"])))

    def on_at(self, t_s: float) -> bool:
        """Whether any channel's output was non-zero at session time t_s (rows hold until the next)."""
        level = {ch: 0 for ch in CHANNELS}
        for t, ch, ma in self.stim_rows:
            if t > t_s + 1e-9:
                break
            level[ch] = ma
        return any(level.values())

    def settled_zero_after(self, t_s: float) -> float | None:
        """The earliest time >= t_s from which every channel stays at zero to the end of stim.csv
        (None: still on at the end). Output that starts after t_s (a command that was in flight)
        counts too: this is the time to the safe state, not the first zero row."""
        level = {ch: 0 for ch in CHANNELS}
        since: float | None = None
        for t, ch, ma in self.stim_rows:
            level[ch] = ma
            on = any(level.values())
            if t <= t_s + 1e-9:
                since = None if on else t_s
            elif on:
                since = None
            elif since is None:
                since = t
        if any(level.values()):
            return None
        return t_s if since is None else since

    def bursts(self) -> list[tuple[float, float]]:
        """Intervals in which any channel was non-zero: (first non-zero row, row back to all zero)."""
        level = {ch: 0 for ch in CHANNELS}
        out, start = [], None
        for t, ch, ma in self.stim_rows:
            level[ch] = ma
            on = any(level.values())
            if on and start is None:
                start = t
            elif not on and start is not None:
                out.append((start, t))
                start = None
        if start is not None:
            out.append((start, math.inf))
        return out

    def burst_at(self, t_s: float) -> tuple[float, float]:
        for b in self.bursts():
            if b[0] <= t_s + 1e-9 < b[1]:
                return b
        raise AssertionError(f"{self.case.name}: no burst under way at {t_s:.3f} s; bursts {self.bursts()}")

    def channel_on_intervals(self, channel: str) -> list[tuple[float, float]]:
        out, start = [], None
        for t, ch, ma in self.stim_rows:
            if ch != channel:
                continue
            if ma and start is None:
                start = t
            elif not ma and start is not None:
                out.append((start, t))
                start = None
        if start is not None:
            out.append((start, math.inf))
        return out

    def describe(self) -> str:
        return (f"{self.case.name}: exit {self.returncode}; stderr tail {self.stderr[-600:]!r}; "
                f"bursts {[(round(a, 3), round(b, 3)) for a, b in self.bursts()]}")


# ======================================================================= running a wave


def _spawn_hil(kind: str, log: Path, *args: str) -> subprocess.Popen[str]:
    with open(log, "w", encoding="utf-8") as err:
        return subprocess.Popen([sys.executable, "-m", "fescontrol_hil", kind, *args], stdout=subprocess.PIPE,
                                stderr=err, text=True, start_new_session=True)


def _port_of(proc: subprocess.Popen[str], what: str, deadline: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
    line = proc.stdout.readline() if ready else ""
    path = parse_port_line(line)
    if path is None:
        proc.kill()
        raise AssertionError(f"{what} printed {line!r} (exit {proc.poll()})")
    return path


def _hook(running: Running) -> None:
    try:
        assert running.case.during is not None
        running.case.during(running)
    except BaseException as exc:  # noqa: BLE001 - handed to the test that owns the case
        running.error = exc


LEAD_S = 8.0
"""t0 of a case is this long after its emulators start: time for its controller to come up."""
MAX_STARTING = 1
"""Controllers coming up at once (about 1.3 s of CPU each; CI has 2 cores)."""


def _handshake_done(r: Running) -> bool:
    """The device received the controller's InitChannelListMode (so both its ports are open)."""
    path = r.emu_dir / "device.jsonl"
    if not path.exists():
        return False
    text = path.read_text(encoding="utf-8")
    return '"dir":"rx"' in text and '"INIT_CHANNEL_LIST_MODE"' in text


def _launch(case: Case, root: Path) -> Running:
    folder = root / case.name
    emu = folder / "emulator"
    emu.mkdir(parents=True)
    run_dir = case.out(folder) if case.out is not None else folder / "run"
    t0 = time.monotonic_ns() + int(LEAD_S * 1e9)
    r = Running(case, folder, t0, emu, run_dir)
    r.stim = _spawn_hil("stimulator", folder / "hil-stimulator.log", "--out", str(emu), "--t0-mono-ns", str(t0),
                        *case.stim_args)
    r.sensor = _spawn_hil("sensor", folder / "hil-sensor.log", "--scenario", case.scenario, "--seed",
                          str(case.seed), "--duration", str(case.duration_s), "--t0-mono-ns", str(t0),
                          "--truth", str(emu / "truth.csv"), *case.sensor_args)
    deadline = time.monotonic() + 20
    stim_port = _port_of(r.stim, f"{case.name}: stimulator emulator", deadline)
    sensor_port = _port_of(r.sensor, f"{case.name}: sensor emulator", deadline)
    with open(folder / "controller.out", "w") as out, open(folder / "controller.err", "w") as err:
        r.controller = subprocess.Popen(
            [sys.executable, "-m", "fescontrol", "run", "--device", "rehastim2", "--sensor-port", sensor_port,
             "--stimulator-port", stim_port, "--yes", "--out", str(run_dir), *case.run_args],
            stdout=out, stderr=err, text=True, stdin=subprocess.DEVNULL)
    return r


def run_wave(cases: list[Case], root: Path) -> dict[str, Result]:
    """Run the cases concurrently and return their results by name.

    Each case has its own t0, LEAD_S after its emulators start; at most MAX_STARTING
    controllers come up at a time, so each is up well before its t0 even on a loaded 2-core
    runner. Each case's test checks that its controller had finished the device handshake
    (so had opened the sensor port) before t0.
    """
    runs: list[Running] = []
    threads = []
    try:
        for case in cases:
            while True:
                starting = [r for r in runs if r.controller is not None and r.controller.poll() is None
                            and not r.notes.get("ready")]
                for r in starting:
                    if _handshake_done(r):
                        r.notes["ready"] = True
                if sum(1 for r in starting if not r.notes.get("ready")) < MAX_STARTING:
                    break
                time.sleep(0.05)
            r = _launch(case, root)
            runs.append(r)
            if case.during is not None:
                threads.append(threading.Thread(target=_hook, args=(r,), daemon=True))
                threads[-1].start()
        end = time.monotonic() + LEAD_S + max(c.duration_s for c in cases) + 20
        for r in runs:
            assert r.controller is not None
            with contextlib.suppress(subprocess.TimeoutExpired):
                r.controller.wait(timeout=max(0.1, end - time.monotonic()))
        for t in threads:
            t.join(timeout=max(0.1, end - time.monotonic()))
        # a device left on by a dead or gone host is stopped by its own watchdog: give it time
        tail_end = time.monotonic() + LIMITS.watchdog_s + 0.3
        for r in runs:
            assert r.stim is not None
            with contextlib.suppress(subprocess.TimeoutExpired):
                r.stim.wait(timeout=max(0.0, tail_end - time.monotonic()))
    finally:
        for r in runs:
            if r.sensor is not None and r.sensor.poll() is None:
                r.sensor.send_signal(signal.SIGCONT)
            for p in (r.controller, r.sensor, r.stim):
                if p is not None:
                    stop_process(p)
    results = {}
    for r in runs:
        assert r.controller is not None
        run_dir = r.run_dir
        if r.case.cleanup is not None:
            run_dir = r.case.cleanup(r.root) or run_dir
        rows = [(float(x["t_s"]), x["channel"], int(x["current_mA"])) for x in read_csv(r.emu_dir / "stim.csv")] \
            if (r.emu_dir / "stim.csv").exists() else []
        result = Result(r.case, r.t0_ns, r.emu_dir, run_dir, r.controller.returncode,
                        (r.root / "controller.out").read_text(), (r.root / "controller.err").read_text(),
                        r.notes, rows, _read_device_log(r.emu_dir / "device.jsonl", r.notes),
                        walk(r.case.scenario, r.case.seed, r.case.duration_s))
        if r.error is not None:
            result.notes["hook_error"] = r.error
        results[r.case.name] = result
    return results


_T_S = re.compile(r'"t_s":(-?[0-9.eE+-]+)')


def _read_device_log(path: Path, notes: dict[str, object]) -> list[dict[str, object]]:
    """device.jsonl without the line-noise records (--garbage-bytes logs every burst in hex:
    about 2.4 MB/s); those are only counted, with their first and last time, and the file is
    then deleted so a test run does not leave 100 MB behind."""
    if not path.exists():
        return []
    out: list[dict[str, object]] = []
    garbage: list[float] = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if '"fault":"garbage"' in line[:300]:
                m = _T_S.search(line, 0, 300)
                if m:
                    garbage.append(float(m.group(1)))
                continue
            if line.strip():
                out.append(json.loads(line))
    if garbage:
        notes["garbage_bursts"] = len(garbage)
        notes["garbage_first_s"], notes["garbage_last_s"] = garbage[0], garbage[-1]
        notes["device_log_bytes"] = path.stat().st_size
        path.unlink()
    return out


# ======================================================================= the collector


@dataclass
class Row:
    fault: str
    requirement: str
    requirement_s: float | None
    measured_s: float | None = None
    exit_status: int | None = None
    expected_exit: str = "3"
    passed: bool = False
    test: str = ""
    note: str = ""


class FaultTable:
    """One row per fault test; written as JSON at the end of the session if asked to."""

    def __init__(self) -> None:
        self.rows: list[Row] = []

    @contextlib.contextmanager
    def row(self, test: str, fault: str, requirement: str, requirement_s: float | None,
            expected_exit: str = "3") -> Iterator[Row]:
        """The row is added at once; it passes only if the `with` body (the assertions) completes."""
        row = Row(fault, requirement, requirement_s, expected_exit=expected_exit, test=test)
        self.rows.append(row)
        yield row
        row.passed = True

    def write(self, path: Path) -> None:
        payload = {
            "generated_by": "tests/hil/test_fault_injection.py",
            "host": {"python": platform.python_version(), "machine": platform.machine(),
                     "cpus": os.cpu_count(), "system": platform.system()},
            "limits": asdict(LIMITS),
            "rows": [asdict(r) for r in self.rows],
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
