"""Test of the test (house-style 1.3.8): plant known mutants in a temporary copy of gate.py (or of the
ScienceMode2 decoder hook it uses), import it, and show that the battery fails for each of them, while
the unmutated copy passes.

Skipped inside the mutation run (tools/mutation), where gate.py is mutmut's instrumented copy.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

import fescontrol.safety.gate as gate_module
import fescontrol.safety.hook_sciencemode2 as hook_module
from tests.safety.test_gate_limits import (
    BOUNDARY_LIMITS,
    INIT_LIMITS,
    boundary_mismatches,
    framing_mismatches,
    init_mismatches,
    latched_init_mismatches,
    scan_mismatches,
)

pytestmark = pytest.mark.skipif("MUTANT_UNDER_TEST" in os.environ, reason="inside the mutation run")

SOURCE = Path(gate_module.__file__).read_text()
HOOK_SOURCE = Path(hook_module.__file__).read_text()

Battery = Callable[[ModuleType], list[str]]
BATTERIES: dict[str, Battery] = {
    "boundaries": lambda mod: [m for lim in BOUNDARY_LIMITS for m in boundary_mismatches(mod, lim)],
    "init": lambda mod: [m for lim in INIT_LIMITS for m in init_mismatches(mod, lim)],
    "scan": lambda mod: [m for state in ("disarmed", "armed", "latched") for m in scan_mismatches(mod, state)],
    "framing": framing_mismatches,
    "latched init": latched_init_mismatches,
}

# (what the mutant is, the exact text it replaces, the replacement, the battery that must fail, and
# where the text is: "gate" = gate.py, "hook" = hook_sciencemode2.py)
PLANTED = [
    ("current cap > becomes >=", "if s.current_ma > ch.max_current_ma:", "if s.current_ma >= ch.max_current_ma:",
     "boundaries", "gate"),
    ("current cap off by one", "if s.current_ma > ch.max_current_ma:", "if s.current_ma > ch.max_current_ma + 1:",
     "boundaries", "gate"),
    ("charge cap > becomes >=", "if s.phase_charge_nc > lim.max_charge_per_phase_nc:",
     "if s.phase_charge_nc >= lim.max_charge_per_phase_nc:", "boundaries", "gate"),
    ("pulse-width cap off by one", "if s.pulse_width_us > ch.max_pulse_width_us:",
     "if s.pulse_width_us > ch.max_pulse_width_us + 1:", "boundaries", "gate"),
    ("ramp > becomes >=", "if step > lim.max_ramp_step_ma:", "if step >= lim.max_ramp_step_ma:", "boundaries", "gate"),
    ("armed check dropped", "if s.current_ma and self.state is not GateState.ARMED:",
     "if False and self.state is not GateState.ARMED:", "boundaries", "gate"),
    ("main time code < becomes <=", "if msg.main_time_code < limits.min_main_time_code:",
     "if msg.main_time_code <= limits.min_main_time_code:", "init", "hook"),
    ("mask check dropped", "if msg.active_channels == 0 or msg.active_channels & ~limits.allowed_mask():",
     "if msg.active_channels == 0:", "init", "hook"),
    ("allow-list check dropped", "if kind is None:", "if False:", "scan", "hook"),
    ("round-trip check removed", "if sm2.encode(packet) != bytes(frame):", "if False:", "framing", "hook"),
    ("several frames accepted", "if len(items) != 1 or not isinstance(items[0], sm2.Packet):",
     "if not isinstance(items[0], sm2.Packet):", "framing", "hook"),
    ("InitChannelListMode allowed while latched",
     "            if self.state is GateState.LATCHED_FAULT:\n", "            if False:\n", "latched init", "gate"),
]


def load_variant(tmp_path: Path, name: str, source: str) -> ModuleType:
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


@pytest.mark.parametrize("battery", sorted(BATTERIES))
def test_an_unmutated_copy_passes_every_battery(tmp_path: Path, battery: str) -> None:
    mod = load_variant(tmp_path, "gate_copy", SOURCE)
    assert mod is not gate_module
    assert BATTERIES[battery](mod) == []


@pytest.mark.parametrize("what,old,new,battery,where", PLANTED, ids=[p[0] for p in PLANTED])
def test_the_battery_fails_for_a_planted_mutant(tmp_path: Path, what: str, old: str, new: str,
                                                battery: str, where: str) -> None:
    source = SOURCE if where == "gate" else HOOK_SOURCE
    assert source.count(old) == 1, f"{where} changed: update the planted mutant {what!r}"
    if where == "gate":
        mod = load_variant(tmp_path, "gate_mutant", SOURCE.replace(old, new))
    else:
        # the gate builds its default hook by name from its own module: hand it the mutated hook
        mod = load_variant(tmp_path, "gate_copy", SOURCE)
        mod.ScienceMode2Hook = load_variant(tmp_path, "hook_mutant",  # type: ignore[attr-defined]
                                            HOOK_SOURCE.replace(old, new)).ScienceMode2Hook
    mismatches = BATTERIES[battery](mod)
    assert mismatches, f"the {battery} battery did not notice: {what}"
