"""Run a published client against an emulator process over a real pty, and collect both sides."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..hil.conftest import read_csv, read_jsonl, start_hil, stop_process

HERE = Path(__file__).parent


@dataclass
class Run:
    """What a client run left: the client's own events, the emulator's logs and stderr."""

    events: list[dict[str, Any]]
    client_stdout: str
    client_stderr: str
    device: list[dict[str, Any]]
    stim: list[dict[str, str]]
    emulator_stderr: str
    t0_ns: int
    extra: dict[str, Any] = field(default_factory=dict)

    def event(self, name: str) -> dict[str, Any]:
        matches = [e for e in self.events if e.get("event") == name]
        assert matches, f"client never reported {name!r}; stdout {self.client_stdout!r} stderr {self.client_stderr[-2000:]!r}"
        return matches[0]

    def frames(self, direction: str, command: str | None = None) -> list[dict[str, Any]]:
        return [d for d in self.device if d.get("dir") == direction and (command is None or d.get("command") == command)]

    def quirks(self, accepted: bool | None = None) -> list[dict[str, Any]]:
        return [d for d in self.device if d.get("kind") == "quirk" and (accepted is None or d["accepted"] is accepted)]

    def outputs_on(self) -> list[dict[str, str]]:
        return [r for r in self.stim if float(r["current_mA"]) > 0]


def run_client(tmp_path: Path, emulator: list[str], client: list[str], timeout_s: float = 30.0) -> Run:
    """Start ``fescontrol-hil EMULATOR...``, run ``python CLIENT... PORT-substituted`` to its end, stop both."""
    t0 = time.monotonic_ns()
    proc, port = start_hil(emulator[0], "--out", str(tmp_path), "--t0-mono-ns", str(t0), *emulator[1:])
    try:
        argv = [sys.executable, *[port if a == "{port}" else a for a in client]]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, cwd=HERE)
        time.sleep(0.1)  # let the device answer the client's last command (clients may not wait for it)
    finally:
        stop_process(proc)
    stderr = proc.stderr.read() if proc.stderr else ""
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0, f"client exited {done.returncode}: {done.stderr[-3000:]}"
    return Run(events, done.stdout, done.stderr, read_jsonl(tmp_path / "device.jsonl"),
               read_csv(tmp_path / "stim.csv"), stderr, t0)
