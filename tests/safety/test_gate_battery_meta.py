"""Test of the test (house-style 1.3.8): plant known mutants in a temporary copy of gate.py, import it, and
show that the battery fails for each of them, while the unmutated copy passes.

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

Battery = Callable[[ModuleType], list[str]]
BATTERIES: dict[str, Battery] = {
    "boundaries": lambda mod: [m for lim in BOUNDARY_LIMITS for m in boundary_mismatches(mod, lim)],
    "init": lambda mod: [m for lim in INIT_LIMITS for m in init_mismatches(mod, lim)],
    "scan": lambda mod: [m for state in ("disarmed", "armed", "latched") for m in scan_mismatches(mod, state)],
    "framing": framing_mismatches,
    "latched init": latched_init_mismatches,
}

# (what the mutant is, the exact text of gate.py it replaces, the replacement, the battery that must fail)
PLANTED = [
    ("current cap > becomes >=", "if s.current_ma > ch.max_current_ma:", "if s.current_ma >= ch.max_current_ma:",
     "boundaries"),
    ("current cap off by one", "if s.current_ma > ch.max_current_ma:", "if s.current_ma > ch.max_current_ma + 1:",
     "boundaries"),
    ("charge cap > becomes >=", "if charge > lim.max_charge_per_phase_nc:",
     "if charge >= lim.max_charge_per_phase_nc:", "boundaries"),
    ("pulse-width cap off by one", "if s.pulse_width_us > ch.max_pulse_width_us:",
     "if s.pulse_width_us > ch.max_pulse_width_us + 1:", "boundaries"),
    ("ramp > becomes >=", "if step > lim.max_ramp_step_ma:", "if step >= lim.max_ramp_step_ma:", "boundaries"),
    ("armed check dropped", "if s.current_ma and self.state is not GateState.ARMED:",
     "if False and self.state is not GateState.ARMED:", "boundaries"),
    ("main time code < becomes <=", "if msg.main_time_code < lim.min_main_time_code:",
     "if msg.main_time_code <= lim.min_main_time_code:", "init"),
    ("mask check dropped", "if msg.active_channels == 0 or msg.active_channels & ~lim.allowed_mask():",
     "if msg.active_channels == 0:", "init"),
    ("allow-list check dropped", "if cmd not in _ALLOWED:", "if False:", "scan"),
    ("round-trip check removed", "if sm2.encode(packet) != bytes(frame):", "if False:", "framing"),
    ("several frames accepted", "if len(items) != 1 or not isinstance(items[0], sm2.Packet):",
     "if not isinstance(items[0], sm2.Packet):", "framing"),
    ("InitChannelListMode allowed while latched",
     "if self.state is GateState.LATCHED_FAULT and cmd is sm2.Cmd.INIT_CHANNEL_LIST_MODE:", "if False:",
     "latched init"),
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


@pytest.mark.parametrize("what,old,new,battery", PLANTED, ids=[p[0] for p in PLANTED])
def test_the_battery_fails_for_a_planted_mutant(tmp_path: Path, what: str, old: str, new: str,
                                                battery: str) -> None:
    assert SOURCE.count(old) == 1, f"gate.py changed: update the planted mutant {what!r}"
    mod = load_variant(tmp_path, "gate_mutant", SOURCE.replace(old, new))
    mismatches = BATTERIES[battery](mod)
    assert mismatches, f"the {battery} battery did not notice: {what}"
