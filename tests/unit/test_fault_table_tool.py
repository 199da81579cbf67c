"""tools/fault_table.py: the fault table is rendered from the suites' JSON, the ScienceMode4 section too.

Run as `make fault-table` runs it (a real subprocess on real files); the JSON here has the shape the
collectors write (tests/hil/fault_rig.py `FaultTable.write`, tests/hil/test_sm4_sessions.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parents[2] / "tools" / "fault_table.py"

RS2 = {"host": {"python": "3.11", "system": "Linux", "machine": "x86_64", "cpus": 2}, "limits": {"watchdog_s": 1.2},
       "rows": [{"fault": "device falls silent", "requirement": "ack time-out + one tick", "requirement_s": 0.31,
                 "measured_s": 0.21, "exit_status": 3, "expected_exit": "3", "passed": True, "test": "t::a", "note": ""}]}


def _sm4_row(fault: str, passed: bool) -> dict[str, object]:
    return {"id": f"p24-{fault}", "device": "p24", "fault": fault, "requirement": "keep-alive | ack time-out",
            "requirement_s": 0.61, "measured_s": 0.4, "host_fault_s": 0.39, "host_fault_bound_s": 0.6,
            "exit_status": 3, "passed": passed, "reason": f"no ack ({fault})", "test": f"t::[{fault}]"}


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True, cwd=tmp_path, timeout=60)


def _write(tmp_path: Path, name: str, payload: object) -> str:
    (tmp_path / name).write_text(json.dumps(payload), encoding="utf-8")
    return str(tmp_path / name)


def test_sm4_rows_follow_the_rehastim2_rows(tmp_path: Path) -> None:
    rs2 = _write(tmp_path, "rs2.json", RS2)
    sm4 = _write(tmp_path, "sm4.json", {"speed": 2.0, "fault_at_s": 4.3, "limits": {"watchdog_s": 2.0},
                                        "rows": [_sm4_row("no-ack", True), _sm4_row("late-ack", True)]})
    result = _run(tmp_path, rs2, "table.md", "--sm4", sm4)
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "table.md").read_text(encoding="utf-8")
    assert text.index("device falls silent") < text.index("## ScienceMode4 devices") < text.index("no-ack")
    assert "| 1 | p24 | no-ack | keep-alive \\| ack time-out | 0.610 | 0.400 | 0.390 (<= 0.600) | 3 (3) | pass |" in text
    assert "| 2 | p24 | late-ack |" in text and "replayed at\n2x" in text and "`watchdog_s` 2." in text
    assert "3 rows" in result.stdout


def test_without_sm4_the_table_is_the_rehastim2_table_alone(tmp_path: Path) -> None:
    result = _run(tmp_path, _write(tmp_path, "rs2.json", RS2), "table.md")
    assert result.returncode == 0, result.stderr
    assert "ScienceMode4" not in (tmp_path / "table.md").read_text(encoding="utf-8")


def test_a_failed_sm4_row_is_marked_and_fails_the_run(tmp_path: Path) -> None:
    sm4 = _write(tmp_path, "sm4.json", {"rows": [_sm4_row("busy", False)]})
    result = _run(tmp_path, _write(tmp_path, "rs2.json", RS2), "table.md", "--sm4", sm4)
    assert result.returncode == 1 and "1 FAILED" in result.stdout
    assert "| busy |" in (tmp_path / "table.md").read_text(encoding="utf-8").split("## ScienceMode4")[1]
    assert "**FAIL**" in (tmp_path / "table.md").read_text(encoding="utf-8")


def test_bad_sm4_input_is_exit_2_and_writes_nothing(tmp_path: Path) -> None:
    rs2 = _write(tmp_path, "rs2.json", RS2)
    for bad in ({"rows": []}, [1, 2]):
        sm4 = _write(tmp_path, "sm4.json", bad)
        result = _run(tmp_path, rs2, "table.md", "--sm4", sm4)
        assert result.returncode == 2 and "sm4.json" in result.stderr, result
        assert not (tmp_path / "table.md").exists()
    result = _run(tmp_path, rs2, "table.md", "--sm4", str(tmp_path / "missing.json"))
    assert result.returncode == 2 and "missing.json" in result.stderr
