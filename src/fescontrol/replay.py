"""Batch replay: a whole recording through the controller's kernels and policy, scored.

Why batch: decisions are made in sample time, so a recording can be run through exactly the
kernels the live loop calls (:func:`fescontrol.core.batch.run_detector_batch`, which is the
live loop over chunks of one second) and exactly its stimulation policy
(:func:`fescontrol.control.policy.channel_targets`) without a port, a clock or an emulator,
in a fraction of a second per walk. The output folder has the files a session writes, so the
same scorer (`fescontrol.records.report`) judges both.

What the batch runner models, and what it does not:
- Per sample k (time t0 + k / rate): the envelope level, turned into per-channel currents on
  the profile's plateau, quantised to the device step and rising by at most
  `safety.max_ramp_step_ma` above the previous sample's currents. Whenever the currents
  change, one command goes out and, as the RehaStim 2 (and its emulator) does, every channel
  of the list takes (current, pulse width, delivered frequency); `stim.csv` gets a row for each
  channel whose output changed. At the end of the recording Stop turns every channel off
  (`0,0,0.0`), as every session ends. The frequency is what the device delivers for the main
  time code nearest to the profile's frequency (ScienceMode2 codes are 0.5 ms steps).
- No transport: a command takes effect at its sample (live: about one ack round trip later,
  within the CONTRACT's batch/live tolerance). The safety gate is not in the loop; the
  policy's rise clamp and the profile's plateau (<= max current) keep every command one
  the gate would pass, and `report.json` says `"safety_gate": "not run (batch replay)"`.
- The detector is the profile's (`[detector] kind`, built by
  :func:`fescontrol.core.detectors.build_detector`: `adaptive_heel` by default, `heel_switch`,
  `insole`), run over the recording's columns it needs (`heel_N`; the insole also `fore_N`)
  in chunks of one second, as the live loop calls it, reading its `signal_health()` after
  every chunk: each change goes to `session.jsonl` (`kind: signal_health`) and all of them to
  `report.json` (`signal_health`). A recording without the columns the detector needs is
  refused before anything is written. An IMU recording runs the profile's IMU detector
  (`foot_imu` / `shank_imu`), the mount taken from the sidecar's `"mount"` when it says foot
  or shank (:func:`detector_section_for`); with no `--profile`, the CLI picks the default IMU
  profile for IMU recordings (:func:`default_profile_for`). Gaps
  (dropped samples) are NaN on the sample grid: no evidence, as a lost frame is to the live
  loop.
- :func:`replay_in_memory` is the same run without files (detector, envelope, policy,
  scorer), for tests and result tables over many recordings and sensor variants.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fescontrol import __version__
from fescontrol.config.models import DeviceConfig, PatientProfile
from fescontrol.control.policy import channel_targets, quantise_current
from fescontrol.core.batch import BatchResult, run_detector_batch
from fescontrol.core.detectors import IMU_KINDS, build_detector
from fescontrol.core.envelope import EnvelopeParams
from fescontrol.core.events import EV_HEEL_STRIKE
from fescontrol.errors import ConfigError
from fescontrol.protocol import sciencemode2 as sm2
from fescontrol.records.footstep_scoring import aggregate_footsteps, score_footsteps
from fescontrol.records.readers import STIM_HEADER, Event, StimRow
from fescontrol.records.recording import IMU_COLUMNS, KIND_IMU, Recording, read_recording
from fescontrol.records.report import build_report, save_report
from fescontrol.records.scoring import aggregate, score
from fescontrol.records.writers import JsonlLog, format_time_s, utc_now

__all__ = [
    "ReplayOutcome",
    "ReplaySettings",
    "batch_stim_rows",
    "default_profile_for",
    "detector_section_for",
    "sensor_kind_of",
    "delivered_frequency_hz",
    "find_recordings",
    "format_footstep_table",
    "format_replay_table",
    "load_for_replay",
    "prepare_output_folder",
    "replay_batch",
    "replay_in_memory",
    "replay_path",
    "run_profile_detector",
    "summary_rows",
]

StimTuple = tuple[float, int, int, int, float]
"""(t_s, channel, current_mA, pulse_width_us, frequency_hz): one `stim.csv` row."""
ProgressFn = Callable[[int, int, str], None]
"""progress(done, total, what) while a folder is read and replayed."""

OFF: tuple[int, int, float] = (0, 0, 0.0)
HEALTH_CHUNK_S = 1.0
"""The detector runs in chunks of this length and its signal health is read after each."""


@dataclass(frozen=True)
class _BatchOutcome:
    """What `build_report` reads from a session's outcome, for a run without ports or gate."""

    samples: int
    steps: int
    bursts: int
    t_end_s: float
    sensor_samples_dropped: int
    exit_status: int = 0
    reason: str = "recording ended (batch replay)"
    faults: int = 0
    blocked_commands: int = 0
    sensor_frames_bad: int = 0
    loop_overruns_output_off: int = 0


@dataclass(frozen=True)
class ReplaySettings:
    """The validated configs a replay runs with, and where they came from (for the logs)."""

    profile: PatientProfile
    profile_path: Path
    profile_sha256: str
    device: DeviceConfig
    device_path: Path
    device_sha256: str


@dataclass(frozen=True)
class ReplayOutcome:
    """One replayed recording: its name, group (from the sidecar), output folder and report."""

    name: str
    group: str
    out_dir: Path
    report: dict[str, Any]


def find_recordings(folder: Path) -> list[Path]:
    """The recordings of a folder (`*.csv` except `*.events.csv`), sorted by name."""
    files = sorted(p for p in folder.glob("*.csv") if not p.name.endswith(".events.csv"))
    if not files:
        raise ConfigError(f"{folder}: no recordings (NAME.csv) in this folder")
    return files


def sensor_kind_of(source: Path) -> str:
    """The sensor kind of a recording, or of every recording of a folder, from the header
    lines alone (cheap: picks the default profile before anything is read in full). A folder
    mixing IMU and force recordings is refused: one profile cannot run both."""
    paths = find_recordings(source) if source.is_dir() else [source]
    kinds = set()
    for path in paths:
        try:
            with open(path, encoding="utf-8-sig") as fh:
                header = {h.strip() for h in fh.readline().split(",")}
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read the header: {exc}") from exc
        kinds.add(KIND_IMU if header & set(IMU_COLUMNS) else "force")
    if len(kinds) > 1:
        raise ConfigError(f"{source}: mixes IMU and force recordings; replay them in separate folders "
                          "(one profile, one sensor)")
    return kinds.pop() if kinds else "force"


def default_profile_for(source: Path) -> Path:
    """The embedded default profile for the source's sensor: the IMU profile for IMU recordings."""
    from fescontrol.config.loading import default_imu_profile_path, default_profile_path

    return default_imu_profile_path() if sensor_kind_of(source) == KIND_IMU else default_profile_path()


def detector_section_for(profile: PatientProfile, rec: Recording) -> Any:
    """The profile's [detector] section, its IMU kind following the recording's mount.

    A sidecar `"mount": "shank"` runs `shank_imu`, `"foot"` runs `foot_imu`, whatever IMU kind
    the profile names (the mount is a fact of the recording, not a setting)."""
    section = profile.detector
    mount = rec.sidecar.get("mount")
    if rec.kind == KIND_IMU and section.kind in IMU_KINDS and mount in ("foot", "shank"):
        return section.model_copy(update={"kind": f"{mount}_imu"})
    return section


def load_for_replay(path: Path, events: Path | None = None,
                    profile: PatientProfile | None = None) -> Recording:
    """Read and validate a recording, refusing what batch replay cannot run.

    With ``profile``, a recording that lacks a column the profile's detector needs is refused
    (an IMU recording with a force detector, a force recording with an IMU detector).
    """
    rec = read_recording(path, events)
    if profile is not None:
        kind = profile.detector.kind
        if rec.kind == KIND_IMU and kind not in IMU_KINDS:
            raise ConfigError(f"{path}: an IMU recording, but the profile's detector is kind = {kind!r}: use an "
                              f"IMU profile (kind = \"foot_imu\" or \"shank_imu\", e.g. "
                              "configs/patients/imu-default.toml, the default when --profile is left out)")
        need = build_detector(detector_section_for(profile, rec), rec.rate_hz).required_columns
        missing = [c for c in need if c not in rec.columns]
        if missing:
            raise ConfigError(f"{path}: no column {', '.join(missing)}: the profile's detector "
                              f"(kind = {kind!r}) needs {', '.join(need)}; this recording has "
                              f"{', '.join(rec.columns)} (for a heel cell alone use kind = \"adaptive_heel\")")
    return rec


def run_profile_detector(columns: dict[str, np.ndarray], rate_hz: float,
                         profile: PatientProfile, section: Any = None) -> tuple[BatchResult, str, tuple[str, ...]]:
    """The profile's detector (or ``section``'s) and envelope over whole columns:
    (result, detector kind, columns used)."""
    detector = build_detector(profile.detector if section is None else section, rate_hz)
    env = profile.envelope
    envelope = EnvelopeParams(env.ramp_up_s, env.extension_s, env.ramp_down_s, env.max_stim_s)
    chunk = max(1, int(round(HEALTH_CHUNK_S * rate_hz)))
    result = run_detector_batch(detector, columns, envelope, chunk_samples=chunk)
    return result, detector.kind, tuple(detector.required_columns)


def replay_in_memory(columns: dict[str, np.ndarray], rate_hz: float, truth: Sequence[Event],
                     profile: PatientProfile, device: DeviceConfig, section: Any = None) -> dict[str, Any]:
    """Detector, envelope, policy and scorer over in-memory columns (sample 0 at t = 0): the report.

    The same computation as :func:`replay_batch` without reading or writing files, so a test or
    a results table can score many recordings (or a recording with its force scaled or
    offset) quickly. The report holds the SCORING.md metrics plus ``detector``,
    ``signal_health`` (list of ``[t_s, text]``) and ``scored_time_s`` (the recording's length).
    """
    result, kind, used = run_profile_detector(columns, rate_hz, profile, section)
    rows, bursts = batch_stim_rows(result.level, 0.0, rate_hz, profile, device)
    n = result.level.shape[0]
    detected = [Event(t, k, kind) for t, k in result.event_times(rate_hz)]
    report = score([StimRow(*r) for r in rows], list(truth), profile.plateau_by_channel(), detected,
                   end_s=n / rate_hz)
    report.update({"detector": kind, "input_columns": list(used), "controller_bursts": bursts,
                   "scored_time_s": n / rate_hz,
                   "signal_health": [[round(i / rate_hz, 3), m] for i, m in result.health]})
    _add_footsteps(report, rows, truth, profile, 0.0, n / rate_hz)
    return report


def _add_footsteps(report: dict[str, Any], rows: Sequence[StimTuple], truth: Sequence[Event],
                   profile: PatientProfile, start_s: float, end_s: float) -> None:
    """Footstep truth (heel_off -> foot_flat, no swings): add the footstep metrics."""
    if any(e.kind == "foot_flat" for e in truth):
        report.update(score_footsteps([StimRow(*r) for r in rows], truth, profile.plateau_by_channel(),
                                      start_s, end_s))


def delivered_frequency_hz(profile: PatientProfile) -> float:
    """The frequency the stimulator delivers for the profile: that of the nearest main time code."""
    code = sm2.frequency_code_for_hz(profile.stimulation.frequency_hz)
    return round(sm2.frequency_hz(code), 4)


def batch_stim_rows(level: np.ndarray, t0_s: float, rate_hz: float, profile: PatientProfile,
                    device: DeviceConfig) -> tuple[list[StimTuple], int]:
    """`stim.csv` rows for a per-sample level array, and the number of bursts started.

    Rows carry exact times (t0 + k / rate); the Stop rows are at the end of the last sample.
    """
    channels = sorted(profile.channels, key=lambda c: c.number)
    plateau = [c.plateau_current_ma for c in channels]
    step = device.device.current_step_ma
    max_rise = profile.safety.max_ramp_step_ma
    hz = delivered_frequency_hz(profile)
    outputs = {c.number: OFF for c in channels}
    ref = tuple(0 for _ in channels)
    rows: list[StimTuple] = []
    bursts = 0
    last_level = 0.0
    last_want = ref
    for k, lv in enumerate(level.tolist()):
        if lv == last_level and ref == last_want:
            continue  # nothing changes until the level does, once the clamp has caught up
        last_level = lv
        last_want = tuple(quantise_current(lv, p, step) for p in plateau)
        target = channel_targets(lv, plateau, step, ref, max_rise)
        if target == ref:
            continue
        t = t0_s + k / rate_hz
        for ch, current in zip(channels, target, strict=True):
            value = (current, ch.pulse_width_us, hz)
            if outputs[ch.number] != value:
                outputs[ch.number] = value
                rows.append((t, ch.number, *value))
        if not any(ref):
            bursts += 1
        ref = target
    t_end = t0_s + level.shape[0] / rate_hz
    for ch in channels:
        if outputs[ch.number] != OFF:
            rows.append((t_end, ch.number, *OFF))
    return rows, bursts


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {"fescontrol": __version__, "python": platform.python_version(),
            "numpy": version("numpy"), "numba": version("numba")}


def prepare_output_folder(path: Path, what: str = "--out") -> Path:
    """A new or empty folder only: outputs of two runs must never mix."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise ConfigError(f"{what} {str(path)!r}: folder exists and is not empty (choose a new folder)")
    path.mkdir(parents=True, exist_ok=True)
    return path


def replay_batch(rec: Recording, out_dir: Path, settings: ReplaySettings) -> dict[str, Any]:
    """Replay one recording into `out_dir` (new or empty) and return its report."""
    profile, device = settings.profile, settings.device
    rate = rec.rate_hz
    t0 = float(rec.t_s[0])
    section = detector_section_for(profile, rec)
    detector = build_detector(section, rate)
    columns = {name: rec.dense(name) for name in detector.required_columns}
    result, kind, used = run_profile_detector(columns, rate, profile, section)
    n = result.level.shape[0]
    rows, bursts = batch_stim_rows(result.level, t0, rate, profile, device)
    t_end = t0 + n / rate

    out_dir.mkdir(parents=True, exist_ok=True)
    with JsonlLog(out_dir / "session.jsonl") as log:
        log.write({"t_mono": time.monotonic_ns(), "t_s": round(t0, 4), "kind": "session_start",
                   "command": "replay", "mode": "batch", "versions": _versions(), "started_utc": utc_now(),
                   "recording": str(rec.path), "recording_sha256": _sha256(rec.path),
                   "truth": str(rec.truth_path) if rec.truth_path else None,
                   "sensor_kind": rec.kind, "detector": kind, "input_column": used[0],
                   "input_columns": list(used), "sensor_rate_hz": rate,
                   "profile_path": str(settings.profile_path), "profile_sha256": settings.profile_sha256,
                   "device": device.device.model, "device_path": str(settings.device_path),
                   "device_sha256": settings.device_sha256})
        for i, message in result.health:
            log.write({"t_mono": time.monotonic_ns(), "t_s": round(t0 + i / rate, 4), "kind": "signal_health",
                       "detector": kind, "problem": message})
        with open(out_dir / "stim.csv", "w", encoding="utf-8", newline="") as fh:
            fh.write(",".join(STIM_HEADER) + "\n")
            fh.writelines(f"{format_time_s(t)},{ch},{c},{w},{f!r}\n" for t, ch, c, w, f in rows)
        detected = sorted(result.event_times(rate), key=lambda e: e[0])
        with open(out_dir / "events.csv", "w", encoding="utf-8", newline="") as fh:
            fh.write("t_s,event,source\n")
            fh.writelines(f"{format_time_s(t0 + t)},{name},{kind}\n" for t, name in detected)
        if rec.truth_path is not None:
            shutil.copyfile(rec.truth_path, out_dir / "truth.csv")
        outcome = _BatchOutcome(samples=int(rec.t_s.shape[0]),
                                steps=int(np.count_nonzero(result.event == EV_HEEL_STRIKE)),
                                bursts=bursts, t_end_s=t_end, sensor_samples_dropped=rec.missing_samples)
        report = build_report(out_dir, profile, settings.profile_sha256, outcome)
        report.update({"mode": "batch", "recording": str(rec.path), "sensor_kind": rec.kind,
                       "detector": kind, "input_column": used[0], "input_columns": list(used),
                       "rate_hz": rate, "group": rec.group,
                       "recording_side": rec.sidecar.get("side"), "recording_mount": rec.sidecar.get("mount"),
                       "gaps": rec.gaps,
                       "signal_health": [[round(t0 + i / rate, 3), m] for i, m in result.health],
                       "safety_gate": "not run (batch replay)"})
        if rec.truth is not None:
            _add_footsteps(report, rows, rec.truth, profile, t0, t_end)
        save_report(out_dir, report)
        log.write({"t_mono": time.monotonic_ns(), "t_s": round(t_end, 4), "kind": "session_end",
                   "exit_status": 0, "reason": outcome.reason, "samples": outcome.samples,
                   "steps": outcome.steps, "bursts": bursts, "faults": 0, "blocked_commands": 0})
        log.write({"t_mono": time.monotonic_ns(), "t_s": round(t_end, 4), "kind": "report", "report": report})
    return report


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def replay_path(source: Path, out_dir: Path, settings: ReplaySettings, *, events: Path | None = None,
                progress: ProgressFn | None = None) -> list[ReplayOutcome]:
    """Replay one recording into `out_dir`, or every recording of a folder into `out_dir/NAME/`.

    Every recording is read and validated before anything is written, so a bad one (or an
    IMU one) in a folder changes nothing. A folder also gets `summary.json` with the
    per-recording reports and the pooled totals of :func:`summary_rows`.
    """
    folder = source.is_dir()
    if folder and events is not None:
        raise ConfigError(f"--events {str(events)!r}: only for a single recording, not a folder "
                          "(each recording of a folder uses its own NAME.events.csv)")
    if not folder and not source.is_file():
        raise ConfigError(f"{source}: no such recording or folder")
    paths = find_recordings(source) if folder else [source]
    total = 2 * len(paths)
    recordings: list[Recording] = []
    for i, path in enumerate(paths):
        if progress is not None:
            progress(i, total, f"reading {path.name}")
        recordings.append(load_for_replay(path, events, settings.profile))
    prepare_output_folder(out_dir)
    outcomes: list[ReplayOutcome] = []
    for i, rec in enumerate(recordings):
        if progress is not None:
            progress(len(paths) + i, total, f"replaying {rec.name}")
        target = out_dir / rec.name if folder else out_dir
        outcomes.append(ReplayOutcome(rec.name, rec.group, target, replay_batch(rec, target, settings)))
    if progress is not None:
        progress(total, total, "done")
    if folder:
        summary = {label: report for label, report in summary_rows(outcomes)}
        steps = [o.report for o in outcomes if "footsteps" in o.report]
        if steps:
            summary["footsteps total"] = aggregate_footsteps(steps)
        _write_json(out_dir / "summary.json", summary)
    return outcomes


def summary_rows(outcomes: Sequence[ReplayOutcome]) -> list[tuple[str, dict[str, Any]]]:
    """One row per recording, then a pooled total per group (when there are several), then the total.

    Pooling is SCORING.md's: counts and times summed, ratios recomputed from the sums.
    """
    rows: list[tuple[str, dict[str, Any]]] = [(o.name, o.report) for o in outcomes]
    scored = [o for o in outcomes if o.report.get("scored")]
    groups = sorted({o.group for o in scored})
    if len(groups) > 1:
        for g in groups:
            rows.append((f"total {g or '(no group)'}", aggregate([o.report for o in scored if o.group == g])))
    rows.append(("total", aggregate([o.report for o in scored])))
    return rows


def format_replay_table(rows: Sequence[tuple[str, dict[str, Any]]]) -> str:
    """A plain-text table: recording, swings, coverage, stance intrusion, standing, false bursts, onset."""
    def num(value: Any, places: int) -> str:
        return "n/a" if value is None else f"{value:.{places}f}"

    header = ("recording", "swings", "coverage", "stance_intrusion", "standing_stim_s", "false_bursts",
              "onset_lead_ms")
    lines = [header]
    for label, r in rows:
        if not r.get("scored", True):
            lines.append((label, "-", "no truth", "", "", "", ""))
            continue
        onset = r.get("onset_lead_ms") or {}
        lines.append((label, str(r.get("swings", 0)), num(r.get("coverage"), 4),
                      num(r.get("stance_intrusion"), 4), num(r.get("standing_stim_s"), 3),
                      str(r.get("false_bursts", 0)), num(onset.get("median") if onset.get("n") else None, 0)))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for line in lines:
        cells = [line[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(line[1:], widths[1:], strict=True)]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out)


def format_footstep_table(outcomes: Sequence[ReplayOutcome]) -> str | None:
    """Recordings with footstep truth (heel_off -> foot_flat): one row each, pooled per group and
    in total (``records/footstep_scoring.py``); None when there are none."""
    rows = [o for o in outcomes if "footsteps" in o.report]
    if not rows:
        return None

    def line(label: str, r: dict[str, Any]) -> str:
        cov, out = r.get("footstep_coverage"), r.get("outside_share")
        return (f"{label:<24} {r.get('footsteps', 0):>9} {'n/a' if cov is None else f'{cov:.4f}':>17} "
                f"{'n/a' if out is None else f'{out:.4f}':>13}")

    lines = [f"{'recording':<24} {'footsteps':>9} {'footstep_coverage':>17} {'outside_share':>13}"]
    lines += [line(o.name, o.report) for o in rows]
    groups = sorted({o.group for o in rows})
    if len(groups) > 1:
        lines += [line(f"total {g or '(no group)'}", aggregate_footsteps([o.report for o in rows if o.group == g]))
                  for g in groups]
    lines.append(line("total", aggregate_footsteps([o.report for o in rows])))
    return "\n".join(lines)
