"""Helpers for tests that run real processes on real ptys."""

from __future__ import annotations

import csv
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fescontrol.emulator_lines import parse_port_line

BIN = Path(sys.executable).parent


def start_hil(kind: str, *args: str, stdin: int | None = None) -> tuple[subprocess.Popen[str], str]:
    """Start `fescontrol-hil KIND ...` and return the process and the port it printed first
    (``stdin=subprocess.PIPE`` for `--t0-mono-ns stdin`)."""
    proc = subprocess.Popen([sys.executable, "-m", "fescontrol_hil", kind, *args], stdin=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 20)
    line = proc.stdout.readline() if ready else ""
    path = parse_port_line(line)
    if path is None:
        proc.kill()
        raise AssertionError(f"{kind} emulator printed {line!r}; stderr: {proc.stderr.read() if proc.stderr else ''}")
    return proc, path


def stop_process(proc: subprocess.Popen[str], timeout: float = 10.0) -> int:
    if proc.poll() is None:
        proc.terminate()
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def read_jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def wait_for(predicate, timeout: float, what: str, period: float = 0.002):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(period)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def env_no_color() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    return env
