"""gaitpdb results: the detectors on the 35 PhysioNet walks (both feet), scored, as tables.

Usage (from the repository root; the Makefile's `results` target runs the first form)::

    .venv/bin/python tools/results/gaitpdb_table.py --results benchmarks/RESULTS.md
    .venv/bin/python tools/results/gaitpdb_table.py            # print the tables only

It reads the raw walks in place (``../shared/gait-data/gaitpdb`` beside the repository, or
``--data``) through the importer's own functions (``fescontrol_hil.datasets.gaitpdb``: the
same heel, forefoot and derived truth as ``fescontrol data import gaitpdb``), runs each case
with the embedded default profile and device (no per-recording tuning) through
:func:`fescontrol.replay.replay_in_memory` (detector, envelope, stimulation policy, scorer:
what ``fescontrol replay`` computes), and writes the tables into the results file between
the markers ``<!-- gaitpdb:begin -->`` and ``<!-- gaitpdb:end -->`` (appended with its
heading when the markers are missing). Nothing is written anywhere else.

Cases: the heel cell alone (``kind = "adaptive_heel"``, the default) as recorded, with the
force halved, doubled and with a constant +30 N preload; the insole (``kind = "insole"``,
``heel_N`` + ``fore_N``); and, for comparison, the fixed-threshold heel switch. Rows: all
walks pooled, Parkinson's, controls. ``standing`` is the scorer's ``standing_stim_s``; its
share is of the scored time (the scorer's ``scored_span_s``: first to last truth heel strike
or toe-off of each foot; the walks are cut mid-walk, so stimulation outside counts nowhere).

``tests/data/test_gaitpdb_targets.py`` imports this module and checks the issue's targets.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO / ".." / "shared" / "gait-data" / "gaitpdb"
BEGIN = "<!-- gaitpdb:begin -->"
END = "<!-- gaitpdb:end -->"
RATE_HZ = 100.0
GROUPS = ("pooled", "parkinson", "healthy")
GROUP_LABEL = {"pooled": "all 70 feet", "parkinson": "Parkinson's (40)", "healthy": "controls (30)"}

VARIANTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "as recorded": lambda x: x,
    "force halved": lambda x: x * 0.5,
    "force doubled": lambda x: x * 2.0,
    "preload +30 N": lambda x: x + 30.0,
}
CASES: tuple[tuple[str, str], ...] = (
    ("adaptive_heel", "as recorded"),
    ("adaptive_heel", "force halved"),
    ("adaptive_heel", "force doubled"),
    ("adaptive_heel", "preload +30 N"),
    ("insole", "as recorded"),
    ("heel_switch", "as recorded"),
)


@dataclass(frozen=True)
class Walk:
    """One foot of one walk: the columns a recording would hold, and its derived truth."""

    name: str
    group: str
    heel_N: np.ndarray
    fore_N: np.ndarray
    truth: tuple[Any, ...]


def load_walks(src: Path = DEFAULT_DATA) -> list[Walk]:
    """Every walk of the gaitpdb folder, both feet, as the importer reads and derives them."""
    from fescontrol_hil.datasets import gaitpdb

    from fescontrol.records.readers import Event

    walks: list[Walk] = []
    for walk_id in gaitpdb.walk_ids(Path(src)):
        data = gaitpdb.load_walk(Path(src), walk_id)
        group = "parkinson" if walk_id[2:4] == "Pt" else "healthy"
        for side, cols in gaitpdb._CELLS.items():
            cells = data[:, list(cols)]
            heel = np.ascontiguousarray(cells[:, 0])
            fore = np.ascontiguousarray(np.sum(cells[:, [k - 1 for k in gaitpdb.FORE_CELLS]], axis=1))
            events, _ = gaitpdb.derive_truth(data[:, gaitpdb._TOTAL[side]], heel)
            walks.append(Walk(f"{walk_id}_{side}", group, heel, fore,
                              tuple(Event(t, k, s) for t, k, s in events)))
    return walks


def _settings(kind: str) -> tuple[Any, Any]:
    from fescontrol.config.loading import default_device_path, default_profile_path, load_device, load_profile

    device, _ = load_device(default_device_path())
    profile, _ = load_profile(default_profile_path(), device)
    if profile.detector.kind != kind:
        profile = profile.model_copy(update={"detector": profile.detector.model_copy(update={"kind": kind})})
    return profile, device


def run_case(walks: Sequence[Walk], kind: str, variant: str) -> list[dict[str, Any]]:
    """One report per walk (with ``name`` and ``group`` added)."""
    from fescontrol.replay import replay_in_memory

    profile, device = _settings(kind)
    change = VARIANTS[variant]
    reports = []
    for w in walks:
        columns = {"heel_N": change(w.heel_N), "fore_N": change(w.fore_N)}
        report = replay_in_memory(columns, RATE_HZ, w.truth, profile, device)
        report.update({"name": w.name, "group": w.group})
        reports.append(report)
    return reports


def summarize(reports: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per group (pooled, parkinson, healthy): pooled SCORING.md metrics plus the issue's views."""
    from fescontrol.records.scoring import aggregate

    out: dict[str, dict[str, Any]] = {}
    for group in GROUPS:
        rs = [r for r in reports if group == "pooled" or r["group"] == group]
        a = aggregate(rs)
        scored = a["scored_span_s"]
        worst = min(rs, key=lambda r: r["coverage"])
        out[group] = {
            "walks": len(rs),
            "swings": a["swings"],
            "coverage": a["coverage"],
            "stance_intrusion": a["stance_intrusion"],
            "standing_stim_s": a["standing_stim_s"],
            "standing_pct": 100.0 * a["standing_stim_s"] / scored,
            "scored_span_s": scored,
            "false_bursts": a["false_bursts"],
            "false_bursts_per_100": 100.0 * a["false_bursts"] / a["swings"],
            "onset_lead_ms_median": a["onset_lead_ms"]["median"],
            "min_walk_coverage": worst["coverage"],
            "min_walk": worst["name"],
            "signal_health": sorted({m for r in rs for _, m in r["signal_health"] if m}),
        }
    return out


PER_WALK_CASES: tuple[tuple[str, str], ...] = (("adaptive_heel", "as recorded"), ("insole", "as recorded"))
"""The cases whose every walk gets a row of its own."""


def run_all(walks: Sequence[Walk], cases: Sequence[tuple[str, str]] = CASES
            ) -> tuple[dict[tuple[str, str], dict[str, Any]], dict[tuple[str, str], list[dict[str, Any]]]]:
    """Pooled summaries of every case, and the per-walk reports of PER_WALK_CASES."""
    summaries: dict[tuple[str, str], dict[str, Any]] = {}
    per_walk: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for kind, variant in cases:
        reports = run_case(walks, kind, variant)
        summaries[(kind, variant)] = summarize(reports)
        if (kind, variant) in PER_WALK_CASES:
            per_walk[(kind, variant)] = reports
    return summaries, per_walk


def per_walk_markdown(per_walk: dict[tuple[str, str], list[dict[str, Any]]]) -> str:
    """One row per walk and foot: the heel cell alone and the insole side by side."""
    heel = {r["name"]: r for r in per_walk.get(("adaptive_heel", "as recorded"), [])}
    insole = {r["name"]: r for r in per_walk.get(("insole", "as recorded"), [])}
    lines = ["", "### Every walk, both feet (default profile; heel cell = adaptive_heel, insole = insole)", "",
             "| walk | group | swings | heel coverage | heel intrusion | heel standing s | heel false bursts "
             "| insole coverage | insole intrusion | insole standing s | insole false bursts |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in sorted(heel):
        h, i = heel[name], insole.get(name)

        def cells(r: dict[str, Any] | None) -> str:
            if r is None:
                return "| n/a | n/a | n/a | n/a "
            return (f"| {r['coverage']:.3f} | {r['stance_intrusion']:.4f} | {r['standing_stim_s']:.2f} "
                    f"| {r['false_bursts']} ")
        lines.append(f"| {name} | {h['group']} | {h['swings']} {cells(h)}{cells(i)}|")
    return "\n".join(lines) + "\n"


def markdown(results: dict[tuple[str, str], dict[str, Any]], when: str) -> str:
    """The tables for the results file (one row per case and group)."""
    lines = [
        "## Real walks: PhysioNet gaitpdb (35 walks, both feet)",
        "",
        f"Generated by `tools/results/gaitpdb_table.py` ({when}); default profile "
        "(`configs/patients/example.toml`), only `[detector] kind` changed per case; no "
        "per-recording tuning. Truth derived from the total force as the importer does "
        "(`fescontrol data import gaitpdb`). Targets (issue \"real walks\"): insole coverage >= 0.99, "
        "intrusion <= 0.03, standing 0 s, false bursts <= 1 per 100 swings; heel cell the same but "
        "standing <= 0.1 % of scored time; every walk's coverage >= 0.95.",
        "",
        "| detector | force | group | swings | coverage | intrusion | standing s (% of scored time) "
        "| false bursts (/100 swings) | onset lead ms (median) | lowest walk coverage |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (kind, variant), groups in results.items():
        for group in GROUPS:
            g = groups[group]
            onset = g["onset_lead_ms_median"]
            lines.append(
                f"| {kind} | {variant} | {GROUP_LABEL[group]} | {g['swings']} | {g['coverage']:.4f} "
                f"| {g['stance_intrusion']:.4f} | {g['standing_stim_s']:.2f} ({g['standing_pct']:.3f} %) "
                f"| {g['false_bursts']} ({g['false_bursts_per_100']:.2f}) "
                f"| {'n/a' if onset is None else f'{onset:.0f}'} | {g['min_walk_coverage']:.3f} ({g['min_walk']}) |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the gaitpdb folder (read in place)")
    ap.add_argument("--results", type=Path, help="results file to update between the gaitpdb markers")
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        sys.stderr.write(f"{args.data}: no gaitpdb folder (../shared/gait-data/gaitpdb beside the repository)\n")
        return 2
    started = time.monotonic()
    results, per_walk = run_all(load_walks(args.data))
    text = markdown(results, time.strftime("%Y-%m-%d")) + per_walk_markdown(per_walk)
    from fescontrol_hil.results_block import publish

    publish(text, sys.stdout, started, args.results, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO / "src"))
    sys.exit(main())
