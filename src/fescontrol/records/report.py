"""`report.json`: the SCORING.md metrics from the files in an output folder, plus session counts;
and `report.txt`, the same for a person (`records.report_text`).

The report is computed from what reached the stimulator (`stim.csv`), never from what the
controller meant, so a test of the report is a test of the whole chain.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from fescontrol.records.readers import read_events_csv, read_stim_csv
from fescontrol.records.report_text import read_session_facts, signal_episodes, write_report_text
from fescontrol.records.scoring import score
from fescontrol.records.writers import JsonlLog

log = logging.getLogger(__name__)


def write_report(out_dir: Path, profile: Any, profile_sha256: str, outcome: Any,
                 score_dir: Path | None = None) -> dict[str, Any]:
    """`build_report`, then `save_report`: report.json and report.txt of a finished session."""
    report = build_report(out_dir, profile, profile_sha256, outcome, score_dir)
    save_report(out_dir, report)
    return report


def build_report(out_dir: Path, profile: Any, profile_sha256: str, outcome: Any,
                 score_dir: Path | None = None) -> dict[str, Any]:
    """Score what is there (stim.csv against truth.csv) and add the counts (nothing written).

    `score_dir` is where the stimulator and the sensor wrote `stim.csv` and `truth.csv` when
    that is not the output folder (emulators started by hand); default: the output folder.
    """
    report: dict[str, Any] = {}
    where = score_dir or out_dir
    stim_path, truth_path, events_path = where / "stim.csv", where / "truth.csv", out_dir / "events.csv"
    if stim_path.exists() and truth_path.exists():
        detected = read_events_csv(events_path) if events_path.exists() else None
        report.update(score(read_stim_csv(stim_path), read_events_csv(truth_path),
                            profile.plateau_by_channel(), detected, end_s=outcome.t_end_s or None))
        report["scored"] = True
    else:
        report["scored"] = False
        missing = " and ".join(path.name for path in (stim_path, truth_path) if not path.exists())
        report["not_scored_because"] = f"no {missing} in {where}"
    report.update({
        "faults": outcome.faults,
        "blocked_commands": outcome.blocked_commands,
        "profile_sha256": profile_sha256,
        "exit_status": outcome.exit_status,
        "end_reason": outcome.reason,
        "samples": outcome.samples,
        "end_s": outcome.t_end_s,
        "controller_bursts": outcome.bursts,
        "detected_steps": outcome.steps,
        "sensor_frames_bad": outcome.sensor_frames_bad,
        "sensor_samples_dropped": outcome.sensor_samples_dropped,
        "loop_overruns_output_off": outcome.loop_overruns_output_off,
    })
    return report


def save_report(out_dir: Path, report: dict[str, Any]) -> None:
    """Add the session's signal problems (from session.jsonl: each stretch the detector could not
    use, `[from_s, to_s or null, text]`) to `report`, then write report.json and report.txt, each
    atomically. One read of the log serves both."""
    facts = read_session_facts(out_dir)
    report["signal_problems"] = [[round(a, 3), None if b is None else round(b, 3), text]
                                 for a, b, text in signal_episodes(facts.signal)]
    tmp = out_dir / "report.json.tmp"
    tmp.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, out_dir / "report.json")
    write_report_text(out_dir, report, facts)


def finish_records(out_dir: Path, profile: Any, profile_sha256: str, outcome: Any,
                   score_dir: Path | None = None) -> dict[str, Any]:
    """Write report.json and append the report to session.jsonl, wherever the folder still takes it.

    Never raises for a folder that no longer takes writes (disk full, device gone): the session
    has already stopped and recorded why; the report then says it could not be written.
    """
    try:
        report = write_report(out_dir, profile, profile_sha256, outcome, score_dir)
    except (OSError, ValueError) as exc:
        log.error("report.json could not be written in %s: %s", out_dir, exc)
        return {"scored": False, "not_scored_because": f"report.json could not be written: {exc}",
                "exit_status": outcome.exit_status, "end_reason": outcome.reason}
    try:
        with JsonlLog(out_dir / "session.jsonl") as session_log:
            session_log.write({"t_mono": time.monotonic_ns(), "t_s": round(outcome.t_end_s, 4), "kind": "report",
                               "report": report})
    except OSError as exc:
        log.error("the report could not be appended to session.jsonl: %s", exc)
    return report
