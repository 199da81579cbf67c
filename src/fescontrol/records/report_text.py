"""`report.txt`: the session's report as a person reads it, beside `report.json`.

Why: the screen that showed the report table may be gone (a terminal closed, a session run from
a script), and JSON is for programs. A clinician opening the output folder later finds here how
the session ended and why, what it counted, the timing table the screen showed, and where the
misses are, in plain text. Everything here is also in `report.json` and `session.jsonl`; this
module only renders (sans I/O), `write_report_text` writes the file atomically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from fescontrol.records.scoring import format_report_table

__all__ = ["EXIT_MEANINGS", "render_report_text", "session_facts", "write_report_text"]

EXIT_MEANINGS = {
    0: "done",
    2: "bad input, nothing was run",
    3: "ended by a safety fault (Stop was sent first)",
    130: "stopped by the operator after a clean Stop",
}
"""ARCHITECTURE.md's exit statuses."""

_START_FACTS = (
    ("started_utc", "started"), ("command", "command"), ("mode", "mode"), ("scenario", "scenario"), ("seed", "seed"),
    ("duration_s", "duration s"), ("recording", "recording"), ("sensor", "sensor"),
    ("sensor_kind", "sensor kind"), ("sensor_format", "sensor format"), ("detector_kind", "detector"),
    ("detector", "detector"), ("sensor_rate_hz", "sensor rate Hz"), ("speed", "speed"),
    ("sensor_port", "sensor port"), ("stimulator_port", "stimulator port"), ("device", "device"),
    ("profile_path", "profile"), ("profile_sha256", "profile sha256"),
)
"""Fields of the `session_start` record shown, in this order, with their labels."""
_RECORD_KINDS = ('"kind":"session_start"', '"kind":"fault"')


def session_facts(lines: Iterable[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The `session_start` record and the `fault` records of session.jsonl's lines; a line that
    is not JSON (a record cut by a full disk) is passed over: the report still gets written."""
    start: dict[str, Any] = {}
    faults: list[dict[str, Any]] = []
    for line in lines:
        if not any(kind in line for kind in _RECORD_KINDS):
            continue  # most records are acks and states: not parsed
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        if record.get("kind") == "session_start" and not start:
            start = record
        elif record.get("kind") == "fault":
            faults.append(record)
    return start, faults


def _spans(intervals: Sequence[Sequence[float]]) -> str:
    return ", ".join(f"{a:.2f}-{b:.2f}" for a, b in intervals) if intervals else "none"


def _count(report: Mapping[str, Any], key: str) -> str:
    value = report.get(key)
    return "n/a" if value is None else str(value)


def render_report_text(report: Mapping[str, Any], out_dir: Path, start: Mapping[str, Any],
                       faults: Sequence[Mapping[str, Any]]) -> str:
    """The whole text of report.txt."""
    title = "fescontrol session report"
    out = [title, "=" * len(title), f"{'folder':<16}{out_dir}"]
    out += [f"{label:<16}{start[key]}" for key, label in _START_FACTS if start.get(key) not in (None, "")]
    status = report.get("exit_status")
    meaning = EXIT_MEANINGS.get(status, "unknown") if isinstance(status, int) else "unknown"
    out += [f"{'ended':<16}{report.get('end_reason', 'unknown')}", f"{'exit status':<16}{status}: {meaning}", ""]
    out.append("faults")
    out += [f"  at {f.get('t_s', 0.0):.2f} s: {f.get('reason', '?')}" for f in faults] or ["  none"]
    out += ["", "counts"]
    end_s = report.get("end_s")
    out.append(f"  session time {end_s:.1f} s, samples {_count(report, 'samples')}, detected steps "
               f"{_count(report, 'detected_steps')}, controller bursts {_count(report, 'controller_bursts')}"
               if isinstance(end_s, (int, float)) else f"  samples {_count(report, 'samples')}")
    out.append(f"  blocked commands {_count(report, 'blocked_commands')}, sensor frames bad "
               f"{_count(report, 'sensor_frames_bad')}, sensor samples dropped "
               f"{_count(report, 'sensor_samples_dropped')}, control-loop stalls ridden out with the output off "
               f"{_count(report, 'loop_overruns_output_off')}")
    out += ["", "stimulation timing against the truth (SCORING.md; targets for simulated gait)"]
    if report.get("scored"):
        out.append(format_report_table(report))
        out += ["", "where to look (session seconds)",
                f"  swings not covered (toe-off to heel strike): {_spans(report.get('uncovered_swings_s', []))}",
                f"  stimulation while standing: {_spans(report.get('standing_stim_intervals_s', []))}"]
        if "footsteps" in report:
            out.append(f"  footsteps not covered (heel-off to foot-flat): "
                       f"{_spans(report.get('uncovered_footsteps_s', []))}")
    else:
        out.append(f"  not scored: {report.get('not_scored_because', 'no truth')}")
    out += ["", "fescontrol is research software, not a certified medical device.", ""]
    return "\n".join(out)


def write_report_text(out_dir: Path, report: Mapping[str, Any]) -> None:
    """Render report.txt from `report` and the folder's session.jsonl; write it atomically."""
    jsonl = out_dir / "session.jsonl"
    start: dict[str, Any] = {}
    faults: list[dict[str, Any]] = []
    if jsonl.exists():
        with jsonl.open(encoding="utf-8", errors="replace") as fh:
            start, faults = session_facts(fh)
    tmp = out_dir / "report.txt.tmp"
    tmp.write_text(render_report_text(report, out_dir, start, faults), encoding="utf-8")
    os.replace(tmp, out_dir / "report.txt")
