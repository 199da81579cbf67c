#!/usr/bin/env python3
"""Mutation testing of the safety layer (src/fescontrol/safety) with mutmut, time-boxed for CI.

    .venv/bin/python tools/mutation/run.py [--max-children N] [--budget-s S] [--keep] [--idle]

Works in a temporary copy of src/, tests/, configs/ and pyproject.toml (mutmut writes a `mutants/`
folder and a cache next to the code it mutates; none of that touches the work tree), runs
`mutmut run` there with the settings of `[tool.mutmut]` in pyproject.toml, then:

- writes the summary to safety/mutation.md (mutants, killed, equivalent-listed, timeouts, survivors,
  runtime) with the diff of every mutant that was not killed;
- exits 1 if any mutant survived (or reached no test) that is not listed in
  safety/equivalent-mutants.md with the same mutated line, or if a listed entry no longer matches a
  surviving mutant (stale list: review it again); exits 2 if the run did not finish within the budget.

safety/equivalent-mutants.md lists reviewed equivalent mutants as table rows
``| `mutant name` | `mutated line` | reason |``. mutmut numbers mutants within a function, so a changed
function renumbers its mutants: the mutated line is part of the key, and an entry that no longer
matches fails the run until someone reviews the list again.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EQUIVALENT = ROOT / "safety" / "equivalent-mutants.md"
SUMMARY = ROOT / "safety" / "mutation.md"
COPY = ("src", "tests", "configs", "pyproject.toml")
IGNORE = shutil.ignore_patterns("__pycache__", ".hypothesis", "*.pyc", ".pytest_cache", "mutants")

# mutmut's exit-code classes (mutmut.stats.status_by_exit_code), grouped for this report
KILLED = {1, 3}
TIMEOUT = {36, 24, -24, 152, 255}
SURVIVED = {0}
NO_TESTS = {5, 33}
CRASHED = {-11, -9}  # the mutant killed the test process: counted as killed

_DIFFS = r"""
import json, sys
from mutmut.mutation.diff_apply import get_diff_for_mutant
from mutmut.mutation.data import SourceFileMutationData
from mutmut.utils.file_utils import walk_mutatable_files
out = {}
wanted = set(json.loads(sys.stdin.read()))
for path in walk_mutatable_files():
    m = SourceFileMutationData(path=path)
    m.load()
    for name in m.exit_code_by_key:
        if name in wanted:
            out[name] = get_diff_for_mutant(name, path=path)
print(json.dumps(out))
"""


@dataclass
class Mutant:
    name: str
    path: str
    exit_code: int | None
    duration: float | None
    diff: str = ""

    @property
    def status(self) -> str:
        c = self.exit_code
        if c in KILLED or c in CRASHED:
            return "killed"
        if c in TIMEOUT:
            return "timeout"
        if c in SURVIVED:
            return "survived"
        if c in NO_TESTS:
            return "no tests"
        if c is None:
            return "not checked"
        return f"suspicious (exit {c})"

    @property
    def mutated_line(self) -> str:
        """The first added line of the diff, stripped: with the name, the key of an equivalence entry."""
        for line in self.diff.splitlines():
            if line.startswith("+") and not line.startswith("+++"):
                return line[1:].strip()
        return ""


def read_equivalent(path: Path) -> dict[str, tuple[str, str]]:
    """name -> (mutated line, reason) from the table rows of the reviewed list."""
    out: dict[str, tuple[str, str]] = {}
    if not path.exists():
        return out
    row = re.compile(r"^\|\s*`([^`]+)`\s*\|\s*`(.*)`\s*\|\s*(.+?)\s*\|\s*$")
    for line in path.read_text().splitlines():
        m = row.match(line)
        if m:
            out[m.group(1)] = (m.group(2).replace("\\|", "|"), m.group(3))
    return out


def run_mutmut(work: Path, max_children: int, budget_s: float, env: dict[str, str]) -> tuple[int | None, str]:
    mutmut = Path(sys.executable).with_name("mutmut")
    cmd = [str(mutmut) if mutmut.exists() else "mutmut", "run", "--max-children", str(max_children)]
    log = work / "mutmut.log"
    with open(log, "w") as out:
        # its own process group (killpg ends mutmut and its forks), but not its own session: with the
        # kernel's autogroup scheduling a new session is a new group that gets an equal share of the
        # CPU against make's, whatever the scheduling class of its processes (see _idle_cpu_class)
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT, process_group=0)
        try:
            rc: int | None = proc.wait(timeout=budget_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            rc = None
        except BaseException:  # SIGTERM/SIGINT (see _stop_on_signal): mutmut runs in its own process group
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
    return rc, log.read_text(errors="replace")


def _stop_on_signal(signum: int, _frame: object) -> None:
    """SIGTERM ends the run like Ctrl-C: mutmut's process group is killed and the temporary copy removed."""
    raise SystemExit(128 + signum)


def _idle_cpu_class() -> None:
    """Run this process and all it starts in the kernel's SCHED_IDLE class: they get only CPU time
    no other process wants. `make test` runs mutation this way beside the real-rate tests, which
    use under one of the two cores on average (they wait on real time) but need a core at once
    when they wake; an idle-class process gives it up at that moment. This holds within one
    scheduling autogroup (one session, where the kernel groups by session), so mutmut is not started
    in a session of its own."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError) as exc:  # not Linux, or a sandbox that refuses it: the lowest nice then
        print(f"mutation: no SCHED_IDLE here ({exc}); running at nice 19", file=sys.stderr)
        os.nice(19)


def collect(work: Path) -> list[Mutant]:
    mutants = []
    for meta in sorted((work / "mutants").rglob("*.py.meta")):
        data = json.loads(meta.read_text())
        rel = str(meta.relative_to(work / "mutants"))[: -len(".meta")]
        for name, code in data["exit_code_by_key"].items():
            mutants.append(Mutant(name, rel, code, data.get("durations_by_key", {}).get(name)))
    return mutants


def attach_diffs(work: Path, mutants: list[Mutant], env: dict[str, str]) -> None:
    wanted = [m.name for m in mutants if m.status != "killed"]
    if not wanted:
        return
    res = subprocess.run([sys.executable, "-c", _DIFFS], cwd=work, env=env, input=json.dumps(wanted),
                         capture_output=True, text=True, check=True)
    diffs = json.loads(res.stdout)
    for m in mutants:
        m.diff = diffs.get(m.name, "")


def short(name: str) -> str:
    return name.replace("\u01c1", ".")  # mutmut joins class and method with "ǁ"


def write_summary(mutants: list[Mutant], equivalent: dict[str, tuple[str, str]], failing: list[Mutant],
                  stale: list[str], runtime_s: float, cpu_s: float, max_children: int, version: str,
                  finished: bool, idle: bool) -> None:
    counts = Counter(m.status for m in mutants)
    listed = [m for m in mutants if m.status in ("survived", "no tests") and m not in failing]
    by_file: dict[str, Counter[str]] = {}
    for m in mutants:
        by_file.setdefault(m.path, Counter())[m.status] += 1
    lines = [
        "# Mutation testing of the safety layer",
        "",
        "Generated by `tools/mutation/run.py` (do not edit by hand). Tool: mutmut " + version + "; mutated: "
        "`src/fescontrol/safety/` (" + ", ".join(sorted(Path(p).name for p in by_file)) + "); tests per mutant: the selection in "
        "`[tool.mutmut]` of pyproject.toml (tests/safety, tests/property/test_gate_*.py), only those that "
        "reach the mutated function, fastest first, stopping at the first failure.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| mutants | {len(mutants)} |",
        f"| killed | {counts['killed']} |",
        f"| timeouts (counted as killed) | {counts['timeout']} |",
        f"| equivalent, listed in safety/equivalent-mutants.md | {len(listed)} |",
        f"| survivors not listed (fail the run) | {len(failing)} |",
        f"| stale entries of the list (fail the run) | {len(stale)} |",
        f"| not checked (run cut off by the time box) | {counts['not checked']} |",
        f"| runtime (wall) | {runtime_s:.0f} s with {max_children} worker processes"
        f"{' in the idle CPU class, beside the real-rate tests' if idle else ''} |",
        f"| CPU time of the run | {cpu_s:.0f} s |",
        f"| finished within the time box | {'yes' if finished else 'no'} |",
        "",
        "| file | mutants | killed | timeout | survived | no tests |",
        "|---|---|---|---|---|---|",
    ]
    for path, c in sorted(by_file.items()):
        lines.append(f"| {path} | {sum(c.values())} | {c['killed']} | {c['timeout']} | {c['survived']} | "
                     f"{c['no tests']} |")
    if failing:
        lines += ["", "## Survivors not listed as equivalent", ""]
        for m in failing:
            lines += [f"### `{short(m.name)}` ({m.status})", "", "```diff", m.diff, "```", ""]
    if stale:
        lines += ["", "## Stale entries of safety/equivalent-mutants.md", ""]
        lines += [f"- `{name}`" for name in stale]
    if listed:
        lines += ["", "## Listed as equivalent (reviewed)", ""]
        for m in listed:
            lines.append(f"- `{short(m.name)}`: `{m.mutated_line}`: {equivalent[m.name][1]}")
    SUMMARY.write_text("\n".join(lines).rstrip() + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--budget-s", type=float, default=300.0, help="time box of the mutmut run (default 300 s)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary copy and print where it is")
    ap.add_argument("--no-summary", action="store_true", help="do not rewrite safety/mutation.md")
    ap.add_argument("--idle", action="store_true",
                    help="run in the SCHED_IDLE CPU class (beside other work; give a larger --budget-s)")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_signal)
    if args.idle:
        _idle_cpu_class()

    from importlib.metadata import version as pkg_version
    version = pkg_version("mutmut")
    work = Path(tempfile.mkdtemp(prefix="fes-mutation-"))
    started = time.monotonic()
    try:
        for name in COPY:
            src = ROOT / name
            if src.is_dir():
                shutil.copytree(src, work / name, ignore=IGNORE)
            else:
                shutil.copy2(src, work / name)
        env = dict(os.environ)
        # every survivor pays for all its tests: the stateful test runs fewer examples here than in `make test`
        env.setdefault("FES_STATEFUL_EXAMPLES", "60")
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        rc, log = run_mutmut(work, args.max_children, args.budget_s, env)
        runtime = time.monotonic() - started
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_s = usage.ru_utime + usage.ru_stime
        finished = rc is not None
        mutants = collect(work)
        if not mutants:
            print(log[-4000:], file=sys.stderr)
            print("mutation run produced no mutants (see the log above)", file=sys.stderr)
            return 2
        attach_diffs(work, mutants, env)
        equivalent = read_equivalent(EQUIVALENT)
        failing = []
        for m in mutants:
            if m.status in ("killed", "timeout", "not checked"):
                continue
            entry = equivalent.get(short(m.name)) or equivalent.get(m.name)
            if entry is not None and entry[0] == m.mutated_line:
                equivalent[m.name] = entry
                continue
            failing.append(m)
        surviving = {short(m.name) for m in mutants if m.status in ("survived", "no tests")}
        stale = sorted(n for n in read_equivalent(EQUIVALENT) if n not in surviving
                       or not any(short(m.name) == n and m.mutated_line == read_equivalent(EQUIVALENT)[n][0]
                                  for m in mutants))
        if not args.no_summary:
            write_summary(mutants, equivalent, failing, stale, runtime, cpu_s, args.max_children, version, finished,
                          args.idle)
        counts = Counter(m.status for m in mutants)
        print(f"mutmut {version}: {len(mutants)} mutants, {counts['killed']} killed, {counts['timeout']} timeouts, "
              f"{len(mutants) - len(failing) - sum(counts[s] for s in ('killed', 'timeout', 'not checked'))} "
              f"listed equivalent, {len(failing)} survivors not listed, {len(stale)} stale entries, "
              f"{counts['not checked']} not checked; {runtime:.0f} s wall, {cpu_s:.0f} s CPU")
        for m in failing:
            print(f"\n{short(m.name)} ({m.status})\n{m.diff}")
        for name in stale:
            print(f"stale entry in {EQUIVALENT.relative_to(ROOT)}: {name}")
        if not finished:
            print(f"mutation run did not finish within the time box of {args.budget_s:.0f} s", file=sys.stderr)
            return 2
        if rc != 0 or counts["not checked"]:
            print(f"mutmut failed (exit {rc}, {counts['not checked']} mutants not checked); end of its log:\n"
                  + log[-3000:], file=sys.stderr)
            return 2
        return 1 if failing or stale else 0
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
