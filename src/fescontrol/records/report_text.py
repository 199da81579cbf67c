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
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fescontrol.records.scoring import format_report_table

__all__ = ["EXIT_MEANINGS", "SessionFacts", "format_episodes", "format_signal_episodes", "read_session_facts",
           "render_report_text", "session_facts", "signal_episodes", "write_report_text"]

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
_RECORD_KINDS = ('"kind":"session_start"', '"kind":"fault"', '"kind":"signal_health"')
MAX_EPISODES = 10
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")
"""Signal problems listed in report.txt; more are counted."""


@dataclass
class SessionFacts:
    """What report.txt takes from session.jsonl."""

    start: dict[str, Any] = field(default_factory=dict)
    faults: list[dict[str, Any]] = field(default_factory=list)
    signal: list[tuple[float, str | None]] = field(default_factory=list)
    """Each `signal_health` record: (session time, the problem, or None when it cleared)."""


def session_facts(lines: Iterable[str]) -> SessionFacts:
    """The `session_start`, `fault` and `signal_health` records of session.jsonl's lines; a line
    that is not JSON (a record cut by a full disk) is passed over: the report still gets written."""
    facts = SessionFacts()
    for line in lines:
        if not any(kind in line for kind in _RECORD_KINDS):
            continue  # most records are acks and states: not parsed
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        kind = record.get("kind")
        if kind == "session_start" and not facts.start:
            facts.start = record
        elif kind == "fault":
            facts.faults.append(record)
        elif kind == "signal_health":
            problem = record.get("problem")
            facts.signal.append((float(record.get("t_s", 0.0)), None if problem is None else str(problem)))
    return facts


def _kind(problem: str) -> str:
    """A problem's wording without its numbers: 'stuck at 0 N for 5 s' and '... for 6 s' are one kind."""
    return _NUMBER.sub("#", problem)


def signal_episodes(reports: Sequence[tuple[float, str | None]]) -> list[tuple[float, float | None, str]]:
    """Signal problems as episodes: (from, until it cleared or became another problem, or None;
    the episode's last wording: a problem's text grows with its duration, so the last says the most)."""
    out: list[tuple[float, float | None, str]] = []
    start: float | None = None
    text = ""
    for t, problem in reports:
        if start is not None and (problem is None or _kind(problem) != _kind(text)):
            out.append((start, t, text))
            start = None
        if problem is not None:
            start = t if start is None else start
            text = problem
    if start is not None:
        out.append((start, None, text))
    return out


def format_signal_episodes(reports: Sequence[tuple[float, str | None]], indent: str = "  ") -> list[str]:
    """One line an episode of these `signal_health` reports (at most MAX_EPISODES, the rest counted)."""
    return format_episodes(signal_episodes(reports), indent)


def format_episodes(episodes: Sequence[Sequence[Any]], indent: str = "  ") -> list[str]:
    """One line an episode, (from, to or None, text) as `signal_episodes` or report.json's
    `signal_problems` give them (at most MAX_EPISODES, the rest counted)."""
    lines = [f"{indent}{a:.2f} s{'' if b is None else f' to {b:.2f} s'}: {text}" for a, b, text in episodes[:MAX_EPISODES]]
    if len(episodes) > MAX_EPISODES:
        lines.append(f"{indent}(+{len(episodes) - MAX_EPISODES} more in session.jsonl, kind signal_health)")
    return lines


def _spans(intervals: Sequence[Sequence[float]]) -> str:
    return ", ".join(f"{a:.2f}-{b:.2f}" for a, b in intervals) if intervals else "none"


def _count(report: Mapping[str, Any], key: str) -> str:
    value = report.get(key)
    return "n/a" if value is None else str(value)


def render_report_text(report: Mapping[str, Any], out_dir: Path, facts: SessionFacts) -> str:
    """The whole text of report.txt."""
    start, faults = facts.start, facts.faults
    title = "fescontrol session report"
    out = [title, "=" * len(title), f"{'folder':<16}{out_dir}"]
    out += [f"{label:<16}{start[key]}" for key, label in _START_FACTS if start.get(key) not in (None, "")]
    status = report.get("exit_status")
    meaning = EXIT_MEANINGS.get(status, "unknown") if isinstance(status, int) else "unknown"
    out += [f"{'ended':<16}{report.get('end_reason', 'unknown')}", f"{'exit status':<16}{status}: {meaning}", ""]
    out.append("faults")
    out += [f"  at {f.get('t_s', 0.0):.2f} s: {f.get('reason', '?')}" for f in faults] or ["  none"]
    out += ["", "sensor signal (what the detector could not use)"]
    out += format_signal_episodes(facts.signal) or ["  no problem seen"]
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


def read_session_facts(out_dir: Path) -> SessionFacts:
    """The facts of the folder's session.jsonl (none when there is no log)."""
    jsonl = out_dir / "session.jsonl"
    if not jsonl.exists():
        return SessionFacts()
    with jsonl.open(encoding="utf-8", errors="replace") as fh:
        return session_facts(fh)


def write_report_text(out_dir: Path, report: Mapping[str, Any], facts: SessionFacts) -> None:
    """Render report.txt from `report` and the session's facts; write it atomically."""
    tmp = out_dir / "report.txt.tmp"
    tmp.write_text(render_report_text(report, out_dir, facts), encoding="utf-8")
    os.replace(tmp, out_dir / "report.txt")
