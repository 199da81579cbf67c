"""The README's stand-alone recipe, run as written: emulators by hand, then `fescontrol run`, scored.

The bash block under "Driving real devices (or the emulators started by hand)" is taken from
README.md and run by bash in the repository folder. Changes: the sensor's `--duration 60` becomes
10 s (the emulator's minimum), and `.venv/bin/` becomes the folder of the interpreter running the
tests when that is another virtual environment. `mktemp -d` makes DIR inside the test's own
folder through TMPDIR."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from fescontrol.core.warmup import warm_up

from .conftest import BIN, read_jsonl

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
ANCHOR = "Driving real devices (or the emulators started by hand)"
DURATION_S = 10  # the sensor emulator's minimum


def recipe_block(readme: str) -> str:
    """The first ```bash block after the anchor paragraph."""
    start = readme.index(ANCHOR)
    match = re.compile(r"^```bash\n(.*?)^```$", re.S | re.M).search(readme, start)
    assert match, f"no ```bash block after {ANCHOR!r} in README.md"
    return match.group(1)


def as_run_here(block: str) -> str:
    script, n = re.subn(r"--duration \d+(\.\d+)?", f"--duration {DURATION_S}", block)
    assert n == 1, "the recipe's sensor line has no (single) --duration"
    if (REPO / ".venv" / "bin").resolve() != BIN.resolve():
        script = script.replace(".venv/bin/", f"{BIN}/")
    return script


def test_the_recipe_block_is_the_one_documented() -> None:
    block = recipe_block(README.read_text(encoding="utf-8"))
    assert "fescontrol-hil stimulator" in block and "fescontrol-hil sensor" in block
    assert "fescontrol run" in block and "--score-with" in block


def test_the_readme_stand_alone_recipe_runs_as_written_and_is_scored(tmp_path: Path) -> None:
    script = as_run_here(recipe_block(README.read_text(encoding="utf-8")))
    warm_up()  # as after `make simulate` (the README's order): the numba cache is written, start-up is short
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(["bash", "-c", script], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
        try:  # whatever the script started (the emulators) is in its process group
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert proc.returncode == 0, f"stdout:\n{out}\nstderr:\n{err}"
    assert re.search(r"^session ended: sensor stream ended.*\(exit status 0\)$", out, re.M), f"stdout:\n{out}\nstderr:\n{err}"
    (work,) = [p for p in tmp_path.iterdir() if p.is_dir()]  # the DIR of `mktemp -d`
    assert {"stim.csv", "truth.csv", "device.jsonl", "run"} <= {p.name for p in work.iterdir()}
    report = json.loads((work / "run" / "report.json").read_text(encoding="utf-8"))
    assert report["scored"] is True, report
    assert report["exit_status"] == 0
    assert report["swings"] >= 3 and report["coverage"] >= 0.99, report
    assert report["standing_stim_s"] == 0 and report["false_bursts"] == 0, report
    log = read_jsonl(work / "run" / "session.jsonl")
    assert log[-1]["kind"] == "report" and log[-1]["report"]["scored"] is True


def test_a_changed_recipe_is_refused_rather_than_run() -> None:
    broken = README.read_text(encoding="utf-8").replace("--duration 60", "--seconds 60")
    with pytest.raises(AssertionError, match="--duration"):
        as_run_here(recipe_block(broken))
    with pytest.raises(ValueError):
        recipe_block("no anchor here")
