"""The end-of-session screen: the signal problems of the session under the report table, from
the report that `save_report` wrote (one read of session.jsonl serves report.json, report.txt
and the screen)."""

from __future__ import annotations

import json
from pathlib import Path

from fescontrol.console import _signal_summary
from fescontrol.records.report import save_report


def test_the_signal_problems_of_the_session_are_summed_up_under_the_table(tmp_path: Path) -> None:
    report: dict[str, object] = {"exit_status": 0, "scored": False}
    save_report(tmp_path, report)  # no log (the folder took no writes): nothing, no error
    assert report["signal_problems"] == [] and _signal_summary(report) == ""
    records = [{"kind": "session_start", "t_s": 0.0},
               {"kind": "signal_health", "t_s": 3.0, "problem": "gyro saturated at 2000 deg/s"},
               {"kind": "signal_health", "t_s": 4.5, "problem": None},
               {"kind": "signal_health", "t_s": 9.25, "problem": "heel_N stuck at -5.0 N for 15 s"}]
    log = tmp_path / "session.jsonl"
    log.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records[:1]))
    save_report(tmp_path, report)
    assert _signal_summary(report) == ""  # no problem: no lines
    log.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))
    save_report(tmp_path, report)
    on_disk = json.loads((tmp_path / "report.json").read_text())
    assert on_disk["signal_problems"] == [[3.0, 4.5, "gyro saturated at 2000 deg/s"],
                                          [9.25, None, "heel_N stuck at -5.0 N for 15 s"]]
    assert _signal_summary(on_disk) == ("sensor signal (what the detector could not use):\n"
                                        "  3.00 s to 4.50 s: gyro saturated at 2000 deg/s\n"
                                        "  9.25 s: heel_N stuck at -5.0 N for 15 s\n")
    text = (tmp_path / "report.txt").read_text()
    assert "  3.00 s to 4.50 s: gyro saturated at 2000 deg/s\n  9.25 s: heel_N stuck" in text
