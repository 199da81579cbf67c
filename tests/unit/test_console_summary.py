"""The end-of-session screen: the signal problems of the session under the report table."""

from __future__ import annotations

import json
from pathlib import Path

from fescontrol.console import _signal_summary


def test_the_signal_problems_of_the_session_are_summed_up_under_the_table(tmp_path: Path) -> None:
    assert _signal_summary(tmp_path) == ""  # no log (the folder took no writes): nothing, no error
    records = [{"kind": "session_start", "t_s": 0.0},
               {"kind": "signal_health", "t_s": 3.0, "problem": "gyro saturated at 2000 deg/s"},
               {"kind": "signal_health", "t_s": 4.5, "problem": None}]
    log = tmp_path / "session.jsonl"
    log.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records[:1]))
    assert _signal_summary(tmp_path) == ""  # no problem: no lines
    log.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))
    assert _signal_summary(tmp_path) == ("sensor signal (what the detector could not use):\n"
                                         "  3.00 s to 4.50 s: gyro saturated at 2000 deg/s\n")
