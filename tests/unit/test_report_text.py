"""report.txt: the report as a person reads it, rendered from report.json's content and session.jsonl."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fescontrol.records.report_text import (
    EXIT_MEANINGS,
    MAX_EPISODES,
    SessionFacts,
    format_signal_episodes,
    read_session_facts,
    render_report_text,
    session_facts,
    signal_episodes,
    write_report_text,
)
from fescontrol.records.scoring import format_report_table

SCORED: dict[str, Any] = {
    "scored": True, "exit_status": 3, "end_reason": "safety fault", "end_s": 12.34, "samples": 1234,
    "detected_steps": 9, "controller_bursts": 10, "blocked_commands": 1, "sensor_frames_bad": 2,
    "sensor_samples_dropped": 3, "loop_overruns_output_off": 4, "swings": 10, "coverage": 0.9,
    "swing_stimulated_fraction": 0.95, "missed_swings": 1, "stance_intrusion": 0.01, "standing_stim_s": 0.25,
    "false_bursts": 1, "bursts": 11, "onset_lead_ms": {"n": 9, "median": 100.0, "p10": 90.0, "p90": 110.0},
    "offset_lag_ms": {}, "event_f1": {"heel_strike": 1.0}, "event_mae_ms": {"heel_strike": 5.0}, "steps": 9,
    "cadence_spm": 50.0, "uncovered_swings_s": [[3.1, 3.55], [7.0, 7.4]], "standing_stim_intervals_s": [[0.5, 0.75]],
}


def _lines(*records: dict[str, Any]) -> list[str]:
    return [json.dumps(r, separators=(",", ":")) for r in records]


def test_a_faulted_session_says_how_it_ended_why_and_where_to_look(tmp_path: Path) -> None:
    start = {"kind": "session_start", "t_s": 0.0, "command": "run", "started_utc": "2026-12-02T15:26:27Z",
             "device": "rehamove3", "profile_path": "/p/profile.toml", "sensor_port": "/dev/ttyUSB0",
             "seed": None, "scenario": ""}
    fault = {"kind": "fault", "t_s": 12.3, "reason": "sensor stale: no sample for 155 ms while stimulating"}
    stuck = {"kind": "signal_health", "t_s": 4.99, "problem": "heel_N stuck at 0.0 N for 5 s"}
    facts = session_facts(_lines(start, {"kind": "state", "t_s": 1.0}, stuck, fault))
    assert facts == SessionFacts(start, [fault], [(4.99, "heel_N stuck at 0.0 N for 5 s")])
    text = render_report_text(SCORED, tmp_path, facts)
    lines = text.splitlines()
    assert lines[:3] == ["fescontrol session report", "=========================", f"folder          {tmp_path}"]
    assert lines[3:8] == ["started         2026-12-02T15:26:27Z", "command         run", "sensor port     /dev/ttyUSB0",
                          "device          rehamove3", "profile         /p/profile.toml"]  # None and "" left out
    assert "ended           safety fault" in lines
    assert "exit status     3: ended by a safety fault (Stop was sent first)" in lines
    assert "faults\n  at 12.30 s: sensor stale: no sample for 155 ms while stimulating\n" in text
    assert "sensor signal (what the detector could not use)\n  4.99 s: heel_N stuck at 0.0 N for 5 s\n" in text
    assert "  session time 12.3 s, samples 1234, detected steps 9, controller bursts 10" in lines
    assert ("  blocked commands 1, sensor frames bad 2, sensor samples dropped 3, control-loop stalls ridden out "
            "with the output off 4") in lines
    assert format_report_table(SCORED) in text
    assert "  swings not covered (toe-off to heel strike): 3.10-3.55, 7.00-7.40" in lines
    assert "  stimulation while standing: 0.50-0.75" in lines
    assert "footsteps" not in text
    assert lines[-1] == "fescontrol is research software, not a certified medical device."


def test_an_unscored_clean_session_says_why_it_was_not_scored(tmp_path: Path) -> None:
    report = {"scored": False, "not_scored_because": "no truth.csv in /x", "exit_status": 130,
              "end_reason": "stopped by SIGTERM", "samples": 10}
    text = render_report_text(report, tmp_path, SessionFacts())
    assert "exit status     130: stopped by the operator after a clean Stop" in text
    assert "faults\n  none\n" in text and "  samples 10\n" in text
    assert "(what the detector could not use)\n  no problem seen\n" in text
    assert "  not scored: no truth.csv in /x" in text and "metric" not in text
    assert "exit status     7: unknown" in render_report_text({**report, "exit_status": 7}, tmp_path, SessionFacts())
    assert EXIT_MEANINGS[0] == "done" and EXIT_MEANINGS[2].startswith("bad input")


def test_footstep_truth_names_its_uncovered_footsteps(tmp_path: Path) -> None:
    report = {**SCORED, "footsteps": 4, "uncovered_footsteps_s": [[1.0, 1.5]]}
    assert "  footsteps not covered (heel-off to foot-flat): 1.00-1.50" in render_report_text(report, tmp_path,
                                                                                                SessionFacts())
    assert "footsteps not covered (heel-off to foot-flat): none" in render_report_text(
        {**report, "uncovered_footsteps_s": []}, tmp_path, SessionFacts())


def test_a_cut_or_foreign_line_in_the_log_is_passed_over() -> None:
    start = {"kind": "session_start", "command": "simulate"}
    lines = ['{"kind":"fault","reason":"cut sho', "[1, 2]", '"kind":"fault"', *_lines(start, {"kind": "session_start",
                                                                                           "command": "second"})]
    assert session_facts(lines) == SessionFacts(start, [], [])  # the first session_start counts


def test_write_report_text_reads_the_folders_log_and_replaces_the_file_whole(tmp_path: Path) -> None:
    (tmp_path / "session.jsonl").write_text("\n".join(_lines({"kind": "session_start", "command": "simulate"},
                                                             {"kind": "fault", "t_s": 1.0, "reason": "x"})) + "\n")
    (tmp_path / "report.txt").write_text("old")
    write_report_text(tmp_path, SCORED, read_session_facts(tmp_path))
    text = (tmp_path / "report.txt").read_text()
    assert "command         simulate" in text and "  at 1.00 s: x" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.txt", "session.jsonl"]  # no tmp file left
    (tmp_path / "session.jsonl").unlink()
    assert read_session_facts(tmp_path) == SessionFacts()
    write_report_text(tmp_path, SCORED, read_session_facts(tmp_path))  # no log: the report still comes
    assert "faults\n  none" in (tmp_path / "report.txt").read_text()


def test_signal_reports_become_episodes_with_their_last_wording() -> None:
    reports = [(5.0, "stuck for 5 s"), (6.0, "stuck for 6 s"), (7.5, None), (9.0, None), (10.0, "flat"),
               (11.0, "saturated")]
    assert signal_episodes(reports) == [(5.0, 7.5, "stuck for 6 s"), (10.0, 11.0, "flat"), (11.0, None, "saturated")]
    assert format_signal_episodes(reports) == ["  5.00 s to 7.50 s: stuck for 6 s", "  10.00 s to 11.00 s: flat",
                                               "  11.00 s: saturated"]
    assert signal_episodes([]) == [] and signal_episodes([(1.0, None)]) == []
    many = [(float(k), "x" if k % 2 == 0 else None) for k in range(2 * MAX_EPISODES + 6)]
    lines = format_signal_episodes(many, indent="")
    assert len(lines) == MAX_EPISODES + 1 and lines[-1] == "(+3 more in session.jsonl, kind signal_health)"
