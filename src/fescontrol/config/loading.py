"""Load TOML configs into frozen models; every failure names the file, key, value and what is allowed."""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from fescontrol.config.models import DeviceConfig, PatientProfile
from fescontrol.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Loaded:
    """A validated config with where it came from and the hash that goes into every log."""

    path: Path
    sha256: str
    model: BaseModel


def embedded_config_dir() -> Path:
    """The configs shipped with the package (wheel), or the repository's `configs/` (editable)."""
    packaged = resources.files("fescontrol") / "_configs"
    if packaged.is_dir():
        return Path(str(packaged))
    repo = Path(__file__).resolve().parents[3] / "configs"
    if repo.is_dir():
        return repo
    raise ConfigError("embedded configs not found: neither fescontrol/_configs nor the repository configs/")


def default_device_path(model: str = "rehastim2") -> Path:
    return embedded_config_dir() / "devices" / f"{model}.toml"


def default_profile_path() -> Path:
    return embedded_config_dir() / "patients" / "example.toml"


def _load(path: str | Path, model: type[M]) -> tuple[M, str]:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    try:
        obj = model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(path, exc)) from exc
    return obj, hashlib.sha256(raw).hexdigest()


def _describe(path: Path, exc: ValidationError) -> str:
    lines = [f"{path}: {exc.error_count()} problem(s)"]
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        value = err.get("input")
        ctx = err.get("ctx") or {}
        allowed = ""
        if "ge" in ctx or "gt" in ctx or "le" in ctx or "lt" in ctx:
            lo = f">= {ctx['ge']}" if "ge" in ctx else (f"> {ctx['gt']}" if "gt" in ctx else "")
            hi = f"<= {ctx['le']}" if "le" in ctx else (f"< {ctx['lt']}" if "lt" in ctx else "")
            allowed = f" (allowed: {' and '.join(x for x in (lo, hi) if x)})"
        elif "expected" in ctx:
            allowed = f" (allowed: {ctx['expected']})"
        shown = "" if err["type"] == "missing" else f" = {value!r}"
        lines.append(f"  {key}{shown}: {err['msg']}{allowed}")
    return "\n".join(lines)


def load_device(path: str | Path) -> tuple[DeviceConfig, str]:
    """Return the device caps and the sha256 of the file's bytes."""
    return _load(path, DeviceConfig)


def load_profile(path: str | Path, device: DeviceConfig | None = None) -> tuple[PatientProfile, str]:
    """Return the patient profile and its sha256; with a device, also check it fits the device caps."""
    profile, sha = _load(path, PatientProfile)
    if device is not None:
        check_profile_fits_device(Path(path), profile, device)
    return profile, sha


def check_profile_fits_device(path: Path, profile: PatientProfile, device: DeviceConfig) -> None:
    dev = device.device
    problems: list[str] = []
    for i, ch in enumerate(profile.channels):
        key = f"channels.{i}"
        if ch.number > dev.channels:
            problems.append(f"  {key}.number = {ch.number}: device {dev.model} has channels 1..{dev.channels}")
        if ch.max_current_ma > dev.max_current_ma:
            problems.append(f"  {key}.max_current_ma = {ch.max_current_ma}: device cap is {dev.max_current_ma} mA")
        for name in ("plateau_current_ma", "max_current_ma"):
            value = getattr(ch, name)
            if value % dev.current_step_ma:
                problems.append(f"  {key}.{name} = {value}: must be a multiple of {dev.current_step_ma} mA on {dev.model}")
        if not dev.min_pulse_width_us <= ch.pulse_width_us <= dev.max_pulse_width_us:
            problems.append(
                f"  {key}.pulse_width_us = {ch.pulse_width_us}: allowed {dev.min_pulse_width_us}..{dev.max_pulse_width_us} us")
        charge_nc = ch.max_current_ma * ch.pulse_width_us
        if charge_nc > profile.stimulation.max_charge_per_phase_nc:
            problems.append(
                f"  {key}: max_current_ma x pulse_width_us = {charge_nc} nC exceeds "
                f"stimulation.max_charge_per_phase_nc = {profile.stimulation.max_charge_per_phase_nc}")
    f = profile.stimulation.frequency_hz
    if f > dev.max_frequency_hz:
        problems.append(f"  stimulation.frequency_hz = {f}: device cap is {dev.max_frequency_hz} Hz")
    elif 1000.0 / f < dev.min_main_interval_ms:
        problems.append(f"  stimulation.frequency_hz = {f}: main interval below {dev.min_main_interval_ms} ms")
    if problems:
        raise ConfigError("\n".join([f"{path}: does not fit device {dev.model}"] + problems))
