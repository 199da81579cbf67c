"""The controller's files in an output folder: session.jsonl, events.csv, commands.csv.

All append-only and flushed row by row. Two things a session must survive:
- hostile input (a device that sends garbage every few milliseconds): records of one kind
  are rate-limited per second, and what was left out is counted and logged as
  `suppressed` once a second and at the end, so the log stays bounded and says so;
- a folder that stops taking writes (disk full, device gone): the first failure is kept in
  `broken` and never raised from here; the control loop turns it into a fault (Stop first),
  and the teardown still tries to write the fault and the end of the session.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from fescontrol.records.writers import CsvLog, JsonlLog, format_time_s

RATE_LIMIT_PER_S = 50
"""Records of one kind per second of wall time before the rest are counted, not written."""

UNLIMITED_KINDS = frozenset({
    "session_start", "session_end", "fault", "state", "report", "stop_failed", "suppressed",
    "gate_arm", "gate_disarm", "gate_fault", "gate_acknowledge", "gate_blocked", "gate_stop",
    "stim_link_up", "stim_link_lost", "internal_error",
})
"""Kinds that are rare by construction and must never be left out."""


class SessionRecords:
    """Writers for one session; `t_s` is the current sample time stamped on every record."""

    def __init__(self, out_dir: Path, clock: Callable[[], int] = time.monotonic_ns) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self.session = JsonlLog(out_dir / "session.jsonl")
        self.events = CsvLog(out_dir / "events.csv", ("t_s", "event", "source"))
        self.commands = CsvLog(out_dir / "commands.csv",
                               ("t_s", "command", "currents_mA", "decision", "reason"))
        self.t_s = 0.0
        self.broken: str | None = None
        self._second = -1
        self._counts: dict[str, int] = {}
        self._suppressed: dict[str, int] = {}
        self.suppressed_total = 0

    # -- writing ------------------------------------------------------------------------------
    def log(self, kind: str, **fields: object) -> None:
        now = self._clock()
        if kind not in UNLIMITED_KINDS and not self._admit(kind, now):
            return
        self._write_json({"t_mono": now, "t_s": round(self.t_s, 4), "kind": kind, **fields})

    def event(self, t_s: float, name: str, source: str) -> None:
        self._guard(lambda: self.events.write((format_time_s(t_s), name, source)))

    def gate_record(self, rec: dict[str, object]) -> None:
        """The gate's records: every command to commands.csv, the rest to session.jsonl."""
        kind = str(rec["kind"])
        if kind in ("gate_sent", "gate_stop", "gate_blocked"):
            currents = rec.get("currents_ma")
            shown = " ".join(str(c) for c in currents) if isinstance(currents, (list, tuple)) else ""
            decision = "blocked" if kind == "gate_blocked" else "sent"
            row = (format_time_s(self.t_s), rec.get("command", ""), shown,
                   decision, rec.get("reason", "ok" if decision == "sent" else ""))
            self._guard(lambda: self.commands.write(row))
            if kind == "gate_sent":
                return
        self.log(kind, **{k: v for k, v in rec.items() if k != "kind"})

    def flush_suppressed(self) -> None:
        """Log how many records of each kind were left out since the last summary."""
        if self._suppressed:
            counts, self._suppressed = self._suppressed, {}
            self._write_json({"t_mono": self._clock(), "t_s": round(self.t_s, 4), "kind": "suppressed",
                              "per_s_limit": RATE_LIMIT_PER_S, "counts": counts})

    def close(self) -> None:
        self.flush_suppressed()
        for f in (self.events, self.commands, self.session):
            self._guard(f.close)

    # -- internals ----------------------------------------------------------------------------
    def _admit(self, kind: str, now_ns: int) -> bool:
        second = now_ns // 1_000_000_000
        if second != self._second:
            self._second = second
            self._counts.clear()
            self.flush_suppressed()
        n = self._counts.get(kind, 0) + 1
        self._counts[kind] = n
        if n <= RATE_LIMIT_PER_S:
            return True
        self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
        self.suppressed_total += 1
        return False

    def _write_json(self, obj: dict[str, object]) -> None:
        self._guard(lambda: self.session.write(obj))

    def _guard(self, write: Callable[[], None]) -> None:
        try:
            write()
        except (OSError, ValueError) as exc:  # ValueError: write to a file closed after a failure
            if self.broken is None:
                self.broken = f"{type(exc).__name__}: {exc}"
