"""`report.json`: the SCORING.md metrics from the files in an output folder, plus session counts.

The report is computed from what reached the stimulator (`stim.csv`), never from what the
controller meant, so a test of the report is a test of the whole chain.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fescontrol.records.readers import read_events_csv, read_stim_csv
from fescontrol.records.scoring import score


def write_report(out_dir: Path, profile: Any, profile_sha256: str, outcome: Any) -> dict[str, Any]:
    """Score what is there (stim.csv against truth.csv), add the counts, write report.json atomically."""
    report: dict[str, Any] = {}
    stim_path, truth_path, events_path = out_dir / "stim.csv", out_dir / "truth.csv", out_dir / "events.csv"
    if stim_path.exists() and truth_path.exists():
        detected = read_events_csv(events_path) if events_path.exists() else None
        report.update(score(read_stim_csv(stim_path), read_events_csv(truth_path),
                            profile.plateau_by_channel(), detected, end_s=outcome.t_end_s or None))
        report["scored"] = True
    else:
        report["scored"] = False
        report["not_scored_because"] = "no stim.csv and truth.csv in the output folder"
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
    })
    tmp = out_dir / "report.json.tmp"
    tmp.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, out_dir / "report.json")
    return report
