"""Stimulator backends: one module per wire protocol, chosen by the device profile's `protocol`.

A backend module (`sciencemode2`, `sciencemode4`, ...) holds the host side of that protocol
(handshake, set channel levels, keep-alive, stop, acks) and names the gate's decoder hook and
the emulator that stands in for its devices; see `base.BackendModule`. Adding a protocol adds
a module here, found by name, with no change to the control loop, the session or the gate core.
"""

from __future__ import annotations

import importlib
from typing import cast

from fescontrol.errors import ConfigError
from fescontrol.stimulators.base import BackendModule


def backend_module(protocol: str) -> BackendModule:
    """The backend module of `protocol` (the device TOML's `device.protocol`)."""
    if not protocol.isidentifier():
        raise ConfigError(f"device.protocol = {protocol!r}: not a protocol name")
    try:
        module = importlib.import_module(f"{__name__}.{protocol}")
    except ModuleNotFoundError as exc:
        raise ConfigError(f"device.protocol = {protocol!r}: no stimulator backend of that name") from exc
    return cast(BackendModule, module)
