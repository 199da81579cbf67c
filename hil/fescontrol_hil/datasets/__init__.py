"""Importers of public gait data sets into CONTRACT recordings, chosen by name.

Each set has its own module (one room per set, ARCHITECTURE.md "Seams"), read in place from
its folder under `shared/gait-data/`, and writes `NAME.csv`, `NAME.json` and, where the set
has a reference, `NAME.events.csv` into an output folder. Every importer converts to the
CONTRACT's units and reads each file it wrote back through the strict recording reader, so
an import never leaves a file that `replay` would refuse.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from fescontrol.errors import ConfigError
from fescontrol_hil.datasets import gaitmap_example, gaitpdb, truong2019, voisard2023

__all__ = ["IMPORTERS", "DatasetImporter", "get_importer"]

ImportFn = Callable[[Path, Path, Sequence[str] | None], list[Path]]


@dataclass(frozen=True)
class DatasetImporter:
    """A set's name, a one-line summary, and `run(src, out, only)` -> the recordings written."""

    name: str
    summary: str
    run: ImportFn


IMPORTERS: dict[str, DatasetImporter] = {
    m.NAME: DatasetImporter(m.NAME, m.SUMMARY, m.import_set)
    for m in (gaitpdb, voisard2023, gaitmap_example, truong2019)
}


def get_importer(name: str) -> DatasetImporter:
    """The importer called `name`; an unknown name is a ConfigError listing the known ones."""
    try:
        return IMPORTERS[name]
    except KeyError:
        raise ConfigError(f"data set {name!r} is unknown; allowed: {', '.join(IMPORTERS)}") from None
