"""Small helpers every importer needs: input checks, selection, unit constants."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fescontrol.errors import ConfigError

STANDARD_GRAVITY_M_S2 = 9.80665
"""m/s^2 per g (CONTRACT accelerations are in g)."""
DEG_PER_RAD = 57.29577951308232
"""deg/s per rad/s (CONTRACT angular rates are in deg/s)."""


def require_dir(src: Path, set_name: str, pattern: str) -> list[Path]:
    """The files of `src` matching `pattern`, sorted; a missing folder or no match is a ConfigError."""
    if not src.is_dir():
        raise ConfigError(f"{src}: not a folder (expected the {set_name} data set folder)")
    files = sorted(src.glob(pattern))
    if not files:
        raise ConfigError(f"{src}: no {pattern} files: is this the {set_name} folder?")
    return files


def select(available: Sequence[str], only: Sequence[str] | None, set_name: str) -> list[str]:
    """`only` in the order given (all when None); an id the set does not hold is a ConfigError."""
    if only is None:
        return list(available)
    unknown = [x for x in only if x not in available]
    if unknown:
        raise ConfigError(f"{set_name}: no recording {', '.join(map(repr, unknown))}; "
                          f"available: {', '.join(available)}")
    return list(dict.fromkeys(only))


def read_trial_meta(src: Path, trial: str) -> dict[str, Any]:
    """A trial's JSON sidecar (`TRIAL.json`); a missing or broken one names the file."""
    meta_path = src / f"{trial}.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{meta_path}: cannot read: {exc}") from exc
    if not isinstance(meta, dict):
        raise ConfigError(f"{meta_path}: expected a JSON object, got {type(meta).__name__}")
    return meta
