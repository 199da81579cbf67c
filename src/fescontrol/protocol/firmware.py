"""Fixed facts of each device model's firmware, declared by the protocol module that speaks to it.

Each protocol module (``sciencemode2``, ``sciencemode4``, ...) lists the models it serves in a
``DEVICE_FIRMWARE`` dict. The config loader checks a device TOML against these facts, so that a
profile asking for something the device would refuse fails at load time. Keeping the facts
beside the codec means a new stimulator model touches its protocol module, its backend, its
device profile and its emulator, and no central table.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import Mapping


@dataclass(frozen=True)
class Firmware:
    """What one device model's firmware accepts (shared/reference/stimulators.md)."""

    protocol: str
    """The wire protocol of the model (the stimulator backend and gate hook of that name)."""
    main_time_code_min: int
    main_time_code_max: int
    group_time_code_min: int
    group_time_code_max: int
    watchdog_ms: int
    worst_ack_ms: int
    command_processing_ms: int
    init_period_ms: int
    baudrate: int
    parity: str
    stopbits: int
    rtscts: bool = False
    """Hardware flow control the device expects."""

    @property
    def has_group_interval(self) -> bool:
        """ScienceMode2's channel list has a group interval; a range of 0..0 means the protocol has none."""
        return self.group_time_code_max > 0


@cache
def all_firmware() -> Mapping[str, Firmware]:
    """Every model any protocol module in ``fescontrol.protocol`` declares, by model name."""
    import fescontrol.protocol as package

    found: dict[str, Firmware] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name == "firmware":
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for model, fw in getattr(module, "DEVICE_FIRMWARE", {}).items():
            if model in found:
                raise RuntimeError(f"device model {model!r} declared by two protocol modules")
            if fw.protocol != info.name:
                raise RuntimeError(f"{info.name}.DEVICE_FIRMWARE[{model!r}] says protocol {fw.protocol!r}")
            found[model] = fw
    return MappingProxyType(dict(sorted(found.items())))
