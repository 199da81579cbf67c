"""The stimulator seam (ARCHITECTURE.md "Seams"; issue 14 Done-when): a stimulator model is its
protocol module's firmware entry, a backend, a device profile and an emulator. The control loop,
the session and the gate core name no model and no protocol beyond the default hook, so adding a
fourth model cannot need a change there.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from fescontrol.config.loading import default_device_path, load_device, load_profile
from fescontrol.config.models import DEVICE_MODELS, FIRMWARE
from fescontrol.protocol.firmware import all_firmware
from fescontrol.safety.hook import DecoderHook
from fescontrol.safety.limits import limits_from_config
from fescontrol.stimulators import backend_module

SRC = Path(__file__).resolve().parents[2] / "src" / "fescontrol"
CORE_FILES = ["control/loop.py", "control/session.py", "control/simulate.py", "control/bench.py",
              "safety/gate.py", "safety/liveness.py"]
"""The loop, the session and the gate core: protocol-neutral."""


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def _string_constants(path: Path) -> set[str]:
    return {n.value for n in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def test_every_model_comes_from_a_protocol_module() -> None:
    assert set(DEVICE_MODELS) == set(FIRMWARE) == set(all_firmware()) == {"rehastim2", "rehamove3", "p24"}
    for model, fw in FIRMWARE.items():
        assert model in vars(__import__(f"fescontrol.protocol.{fw.protocol}", fromlist=["DEVICE_FIRMWARE"]))[
            "DEVICE_FIRMWARE"]


@pytest.mark.parametrize("model", sorted(FIRMWARE))
def test_each_model_has_a_profile_a_backend_a_hook_and_an_emulator(model: str) -> None:
    device, _ = load_device(default_device_path(model))
    assert device.device.model == model and device.device.protocol == FIRMWARE[model].protocol
    backend = backend_module(device.device.protocol)
    profile, _ = load_profile(default_device_path(model).parents[1] / "patients" / "example.toml", device)
    hook: DecoderHook = backend.gate_hook(limits_from_config(device, profile))
    stop = hook.stop_frame(0)
    assert isinstance(stop, bytes) and stop and callable(hook.decode)
    args = backend.emulator_args(device)
    help_text = subprocess.run([sys.executable, "-m", "fescontrol_hil", args[0], "--help"],
                               capture_output=True, text=True, timeout=60)
    assert help_text.returncode == 0, help_text.stderr


@pytest.mark.parametrize("rel", CORE_FILES)
def test_the_loop_session_and_gate_core_name_no_model_and_no_protocol_module(rel: str) -> None:
    path = SRC / rel
    imported = _imported_modules(path)
    assert not [m for m in imported if m.startswith("fescontrol.protocol.sciencemode")
                or m.startswith("fescontrol.stimulators.sciencemode")
                or m.startswith("fescontrol.safety.hook_sciencemode4")], imported
    assert not set(FIRMWARE) & _string_constants(path), f"{rel} names a device model"
