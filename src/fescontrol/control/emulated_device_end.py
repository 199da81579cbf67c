"""How `simulate` (and live replay) ends the stimulator emulator: once its output is off.

Why: a real device is not stopped by the host being done. After a lost link only its own watchdog
ends the output, so ending the emulator with the session would cut `stim.csv` short of what a
device would have delivered. The emulator is left to run until its output is off (the host's Stop,
or the watchdog), at most DEVICE_STOP_GRACE_S past its watchdog time-out, and how it was left goes to
`session.jsonl` as `emulator_end`.
"""

from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path

from fescontrol.records.writers import JsonlLog

log = logging.getLogger(__name__)

DEVICE_STOP_GRACE_S = 0.5
"""After the session the stimulator emulator may run this long past its watchdog time-out for its
output to be off (its own loop, scheduling) before it is ended by force."""


class OutputWatch:
    """The emulated device's output as its `stim.csv` says, read on from where it was last read,
    so watching it to the end of a long session does not parse the whole file every 10 ms. Only
    whole lines count (the emulator may be writing the next one)."""

    def __init__(self, stim_csv: Path) -> None:
        self.path = stim_csv
        self._offset = 0
        self._header_seen = False
        self._last: dict[str, float] = {}

    def on(self) -> bool:
        """Whether the output is on now: the last row of some channel is not zero."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except OSError:
            return False  # no stim.csv: the device never delivered anything
        end = chunk.rfind(b"\n") + 1
        self._offset += end
        for line in chunk[:end].decode("utf-8", "replace").splitlines():
            if not self._header_seen:
                self._header_seen = True
                continue
            fields = line.split(",")
            if len(fields) >= 3:
                try:
                    self._last[fields[1]] = float(fields[2])
                except ValueError:
                    continue  # not a row the emulator writes; the device's records say what it was
        return any(current != 0.0 for current in self._last.values())


def device_output_on(stim_csv: Path) -> bool:
    """Whether the emulated device's output is on now (`OutputWatch`, read once)."""
    return OutputWatch(stim_csv).on()


def wait_for_device_off(proc: subprocess.Popen[str], stim_csv: Path, limit_s: float) -> tuple[bool, float]:
    """Let the stimulator emulator run until its output is off (the host's Stop, or the device's own
    watchdog after a lost link), the process ends, or `limit_s` (wall time) has passed, so that
    `stim.csv` shows how long a real device would have stimulated. Returns (output still on, s waited)."""
    watch = OutputWatch(stim_csv)
    start = time.monotonic()
    while proc.poll() is None and watch.on() and time.monotonic() - start < limit_s:
        time.sleep(0.01)
    return watch.on(), round(time.monotonic() - start, 3)


def log_emulator_end(session_log: Path, t_s: float, output_on: bool, waited_s: float, limit_s: float) -> None:
    """Append to session.jsonl (if the session wrote one) how the emulated device was left."""
    if output_on:
        log.error("the emulated stimulator still had its output on %.1f s after the session ended "
                  "(its watchdog should have stopped it): ended by force", waited_s)
    if not session_log.exists():
        return
    try:
        with JsonlLog(session_log) as records:
            records.write({"t_mono": time.monotonic_ns(), "t_s": t_s, "kind": "emulator_end",
                           "device_output_on": output_on, "waited_for_device_off_s": waited_s,
                           "wait_limit_s": round(limit_s, 3)})
    except OSError as exc:
        log.error("the emulator's end could not be appended to %s: %s", session_log, exc)
