"""Session records: rate-limited session.jsonl, commands and events CSV, `broken` on a failed write."""

from __future__ import annotations

import errno
import json
from pathlib import Path
from typing import Any

from fescontrol.control.session_records import RATE_LIMIT_PER_S, UNLIMITED_KINDS, SessionRecords

S = 1_000_000_000


class FakeClock:
    def __init__(self, t: int = 5 * S) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t


class FullDisk:
    """A file object on a full disk: every write and flush fails with ENOSPC."""

    closed = False

    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    def flush(self) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_record_carries_wall_and_sample_time(tmp_path: Path) -> None:
    clock = FakeClock()
    records = SessionRecords(tmp_path / "new" / "folder", clock)
    records.t_s = 1.234567
    records.log("stim_ack", command="StartChannelListMode", result=0)
    records.close()
    assert lines(tmp_path / "new" / "folder" / "session.jsonl") == [
        {"t_mono": 5 * S, "t_s": 1.2346, "kind": "stim_ack", "command": "StartChannelListMode", "result": 0}]
    assert records.broken is None


def test_records_of_one_kind_are_limited_per_second_and_the_rest_counted(tmp_path: Path) -> None:
    clock = FakeClock()
    records = SessionRecords(tmp_path, clock)
    for i in range(RATE_LIMIT_PER_S + 7):
        records.log("stim_rx_bad_frame", i=i)
    records.log("stim_ack", i=0)  # another kind has its own budget
    assert records.suppressed_total == 7
    clock.t += S  # a new second: the summary is written before the next record of a limited kind
    records.log("stim_rx_bad_frame", i=999)
    out = lines(tmp_path / "session.jsonl")
    bad = [r["i"] for r in out if r["kind"] == "stim_rx_bad_frame"]
    assert bad == [*range(RATE_LIMIT_PER_S), 999]
    (summary,) = [r for r in out if r["kind"] == "suppressed"]
    assert summary == {"t_mono": 6 * S, "t_s": 0.0, "kind": "suppressed",
                       "per_s_limit": RATE_LIMIT_PER_S, "counts": {"stim_rx_bad_frame": 7}}
    assert out.index(summary) == len(out) - 2  # before the new second's first record


def test_a_new_second_with_nothing_suppressed_writes_no_summary(tmp_path: Path) -> None:
    clock = FakeClock()
    records = SessionRecords(tmp_path, clock)
    records.log("stim_ack")
    clock.t += S
    records.log("stim_ack")
    records.close()
    assert [r["kind"] for r in lines(tmp_path / "session.jsonl")] == ["stim_ack", "stim_ack"]


def test_unlimited_kinds_are_never_left_out(tmp_path: Path) -> None:
    records = SessionRecords(tmp_path, FakeClock())
    assert {"fault", "session_end", "gate_fault", "stop_failed"} <= UNLIMITED_KINDS
    for _ in range(3 * RATE_LIMIT_PER_S):
        records.log("fault", reason="x")
    assert records.suppressed_total == 0
    assert len(lines(tmp_path / "session.jsonl")) == 3 * RATE_LIMIT_PER_S


def test_close_writes_what_was_left_out_since_the_last_summary(tmp_path: Path) -> None:
    records = SessionRecords(tmp_path, FakeClock())
    for _ in range(RATE_LIMIT_PER_S + 2):
        records.log("stim_ack")
    records.close()
    last = lines(tmp_path / "session.jsonl")[-1]
    assert last["kind"] == "suppressed" and last["counts"] == {"stim_ack": 2}


def test_gate_records_go_to_commands_csv_and_only_the_rare_ones_to_the_log(tmp_path: Path) -> None:
    records = SessionRecords(tmp_path, FakeClock())
    records.t_s = 2.5
    records.gate_record({"kind": "gate_sent", "now_ns": 1, "command": "StartChannelListMode",
                         "currents_ma": [10, 8]})
    records.gate_record({"kind": "gate_stop", "now_ns": 2, "command": "StopChannelListMode", "packet_number": 4})
    records.gate_record({"kind": "gate_blocked", "now_ns": 3, "command": "StartChannelListMode",
                         "reason": "channel 1: current 50 mA > limit 40 mA", "currents_ma": [50, 0]})
    records.gate_record({"kind": "gate_arm", "now_ns": 4})
    records.close()
    assert (tmp_path / "commands.csv").read_text().splitlines() == [
        "t_s,command,currents_mA,decision,reason",
        "2.5000,StartChannelListMode,10 8,sent,ok",
        "2.5000,StopChannelListMode,,sent,ok",
        "2.5000,StartChannelListMode,50 0,blocked,channel 1: current 50 mA > limit 40 mA",
    ]
    kinds = [(r["kind"], r["now_ns"]) for r in lines(tmp_path / "session.jsonl")]
    assert kinds == [("gate_stop", 2), ("gate_blocked", 3), ("gate_arm", 4)]


def test_events_go_to_events_csv(tmp_path: Path) -> None:
    records = SessionRecords(tmp_path, FakeClock())
    records.event(3.14159, "heel_off", "heel_switch")
    records.close()
    assert (tmp_path / "events.csv").read_text() == "t_s,event,source\n3.1416,heel_off,heel_switch\n"


def test_a_full_disk_marks_the_records_broken_and_never_raises(tmp_path: Path) -> None:
    records = SessionRecords(tmp_path, FakeClock())
    records.session._file = FullDisk()  # type: ignore[assignment]
    records.log("stim_ack")
    assert records.broken == "OSError: [Errno 28] No space left on device"
    records.events._file.close()  # a later, different failure does not replace the first
    records.event(1.0, "heel_strike", "heel_switch")
    assert records.broken == "OSError: [Errno 28] No space left on device"
    records.close()  # closing a broken file does not raise either


def test_a_closed_file_marks_the_records_broken(tmp_path: Path) -> None:
    records = SessionRecords(tmp_path, FakeClock())
    records.commands._file.close()
    records.gate_record({"kind": "gate_sent", "command": "Watchdog", "currents_ma": []})
    assert records.broken == "ValueError: I/O operation on closed file."
