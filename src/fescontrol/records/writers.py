"""Append-only session writers: every row is flushed as it is written, so nothing is lost on a crash."""

from __future__ import annotations

import csv
import datetime
import json
import os
from pathlib import Path
from typing import Any, Self, Sequence, TextIO


class _AppendOnly:
    """An open-for-append text file that is flushed and synced on close; a context manager."""

    _file: TextIO

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CsvLog(_AppendOnly):
    """A CSV file with a header row; each row is written and flushed at once."""

    def __init__(self, path: str | os.PathLike[str], header: Sequence[str]) -> None:
        self.path = Path(path)
        self.header = tuple(header)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file, lineterminator="\n")
        if self._file.tell() == 0:
            self._writer.writerow(self.header)
            self._file.flush()

    def write(self, row: Sequence[Any]) -> None:
        if len(row) != len(self.header):
            raise ValueError(f"{self.path}: row has {len(row)} fields, header has {len(self.header)}")
        self._writer.writerow(row)
        self._file.flush()


class JsonlLog(_AppendOnly):
    """One JSON object a line, appended and flushed; the file is never rewritten."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")

    def write(self, obj: dict[str, Any]) -> None:
        self._file.write(json.dumps(obj, separators=(",", ":"), default=_json_default) + "\n")
        self._file.flush()


def utc_now() -> str:
    """The wall-clock time now, ISO 8601 in UTC to the second (`2026-12-02T15:26:27Z`): when a
    session started, for a person reading its records (session time is the sensor's own)."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_time_s(t_s: float) -> str:
    """Session times are written with 4 decimals (0.1 ms), as the CONTRACT asks."""
    return f"{t_s:.4f}"


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):  # numpy scalars
        return obj.item()
    if isinstance(obj, (bytes, bytearray)):
        return obj.hex(" ")
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
