"""Load TOML configs into frozen models; every failure names the file, key, value and what is allowed."""

from __future__ import annotations

import hashlib
import math
import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from fescontrol.config.models import FIRMWARE, DeviceConfig, PatientProfile, Problems
from fescontrol.errors import ConfigError
from fescontrol.protocol import sciencemode2 as sm2

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


def default_imu_profile_path() -> Path:
    """The embedded default profile when the sensor is an IMU (foot or shank gyroscope)."""
    return embedded_config_dir() / "patients" / "imu-default.toml"


MAX_CONFIG_BYTES = 64 * 1024
"""A config is a page of text; anything bigger is the wrong file (or /dev/zero)."""

_UTF8_BOM = b"\xef\xbb\xbf"


def _file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def read_config_bytes(path: Path, limit: int = MAX_CONFIG_BYTES) -> bytes:
    """Read a config file that must be a regular file of at most `limit` bytes.

    The path is checked with stat before it is opened, so a FIFO cannot block the reader and a
    device (a serial port would toggle DTR on open) is never opened; the open descriptor is
    checked again, and at most limit + 1 bytes are read whatever the file claims its size is.
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"{path}: is {_file_kind(st.st_mode)} (allowed: a regular TOML file)")
    too_big = f"{path}: is larger than {limit} bytes (allowed: a TOML file of at most {limit // 1024} KiB)"
    if st.st_size > limit:
        raise ConfigError(too_big)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced between stat and open
            raise ConfigError(f"{path}: is not a regular file (allowed: a regular TOML file)")
        chunks: list[bytes] = []
        remaining = limit + 1
        while remaining > 0:
            chunk = os.read(fd, remaining)
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    finally:
        os.close(fd)
    raw = b"".join(chunks)
    if len(raw) > limit:
        raise ConfigError(too_big)
    return raw


def _load(path: str | Path, model: type[M]) -> tuple[M, str]:
    path = Path(path)
    raw = read_config_bytes(path)
    if raw.startswith(_UTF8_BOM):
        raise ConfigError(f"{path}: starts with a UTF-8 byte-order mark; save it as UTF-8 without BOM")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: is not UTF-8 text (byte {exc.start}); save it as UTF-8") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    try:
        obj = model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(path, model, exc)) from exc
    return obj, hashlib.sha256(raw).hexdigest()


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds directly or as the items of a tuple (channels)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def _field_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> FieldInfo | None:
    """The field a pydantic error location points at (None for a whole model or an unknown key)."""
    current: type[BaseModel] | None = model
    info: FieldInfo | None = None
    for part in loc:
        if isinstance(part, int):
            continue  # an index into channels
        if current is None or part not in current.model_fields:
            return None
        info = current.model_fields[part]
        current = _inner_model(info.annotation)
    return info


def _allowed(info: FieldInfo) -> str:
    """What a key accepts, in words: type, then bounds or choices."""
    extra = info.json_schema_extra
    if isinstance(extra, dict) and "allowed" in extra:
        return str(extra["allowed"])
    annotation = info.annotation
    if get_origin(annotation) is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(annotation))
    kinds: dict[object, str] = {int: "an integer", float: "a number", str: "text"}
    kind = kinds.get(annotation, "")
    if not kind:
        return ""
    bounds: list[str] = []
    for meta in info.metadata:
        for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if hasattr(meta, attr):
                bounds.append(f"{sign} {getattr(meta, attr)}")
        if hasattr(meta, "min_length"):
            bounds.append(f"at least {meta.min_length}")
        if hasattr(meta, "max_length"):
            bounds.append(f"at most {meta.max_length}")
    if annotation is str and bounds:
        return f"text of {' and '.join(bounds)} characters"
    return " ".join([kind, " and ".join(bounds)]).strip()


def _reason(err: Mapping[str, Any]) -> str:
    """Pydantic's message, said plainly for the cases a therapist meets (quotes, true/false, nan)."""
    value = err.get("input")
    if isinstance(value, float) and not math.isfinite(value):
        return "is not a finite number"
    if err["type"] in ("int_type", "float_type", "int_from_float", "literal_error"):
        if isinstance(value, bool):
            return "is true/false, not a number"
        if isinstance(value, str) and err["type"] != "literal_error":
            return "is text (in quotes), not a number; write it without quotes"
        if err["type"] == "int_type" and isinstance(value, float):
            return "is not a whole number"
    return str(err["msg"])


def _describe(path: Path, model: type[BaseModel], exc: ValidationError) -> str:
    lines: list[str] = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = ".".join(str(p) for p in loc)
        ctx = err.get("ctx") or {}
        cause = ctx.get("error")
        if isinstance(cause, Problems):
            prefix = f"{key}." if key else ""
            lines += [f"  {prefix}{k} = {v!r}: {why}" for k, v, why in cause.problems]
            continue
        if err["type"] == "value_error":
            value = err.get("input")
            shown = "" if isinstance(value, (dict, BaseModel)) else f" = {value!r}"
            lines.append(f"  {key or '(top level)'}{shown}: {str(cause) if cause is not None else err['msg']}")
            continue
        info = _field_at(model, loc)
        allowed = _allowed(info) if info is not None else ""
        if not allowed and "expected" in ctx:
            allowed = str(ctx["expected"])
        suffix = f" (allowed: {allowed})" if allowed else ""
        if err["type"] == "missing":
            lines.append(f"  {key}: missing{suffix}")
        elif err["type"] == "extra_forbidden":
            lines.append(f"  {key} = {err.get('input')!r}: unknown key ({err['msg']})")
        else:
            lines.append(f"  {key or '(top level)'} = {err.get('input')!r}: {_reason(err)}{suffix}")
    return "\n".join([f"{path}: {len(lines)} problem(s)"] + lines)


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
    """Refuse at load what the device would refuse (or the gate would block) during a session."""
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
    problems += _frequency_problems(profile, device)
    problems += _ramp_problems(profile, device)
    if problems:
        raise ConfigError("\n".join([f"{path}: does not fit device {dev.model}"] + problems))


FREQUENCY_TOLERANCE = 0.01
"""The delivered pulse rate may differ from the requested one by at most 1 % (0.5 ms coding steps)."""


def _frequency_problems(profile: PatientProfile, device: DeviceConfig) -> list[str]:
    """The main time code must be one the firmware and the gate accept, and deliver what was asked."""
    dev = device.device
    fw = FIRMWARE[dev.model]
    f = profile.stimulation.frequency_hz
    key = f"  stimulation.frequency_hz = {f}"
    if f > dev.max_frequency_hz:
        return [f"{key}: device cap is {dev.max_frequency_hz} Hz"]
    if 1000.0 / f < dev.min_main_interval_ms:
        return [f"{key}: main interval below {dev.min_main_interval_ms} ms"]
    # the same lowest code as the gate derives (safety.limits), and the firmware's own range
    shortest_ms = max(dev.min_main_interval_ms, 1000.0 / dev.max_frequency_hz)
    lo = max(fw.main_time_code_min, math.ceil(2 * (shortest_ms - 1.0) - 1e-9))
    hi = fw.main_time_code_max
    code = sm2.frequency_code_for_hz(f)
    delivered = sm2.frequency_hz(code)
    if lo <= code <= hi and abs(delivered - f) <= FREQUENCY_TOLERANCE * f:
        if dev.group_interval_ms is not None and sm2.main_interval_ms(code) < dev.group_interval_ms:
            return [f"{key}: main interval {sm2.main_interval_ms(code)} ms is shorter than device "
                    f"group_interval_ms ({dev.group_interval_ms}); {dev.model} refuses Start"]
        return []
    exact = 2.0 * (1000.0 / f - 1.0)
    near = sorted({min(max(c, lo), hi) for c in (math.floor(exact), math.ceil(exact))})
    nearest = ", ".join(f"{sm2.frequency_hz(c):.4g} Hz (main time code {c})" for c in near)
    return [f"{key}: {dev.model} codes the main interval in 0.5 ms steps (time code {lo}..{hi}, "
            f"{sm2.frequency_hz(hi):.4g}..{sm2.frequency_hz(lo):.4g} Hz) and would deliver "
            f"{sm2.frequency_hz(min(max(code, lo), hi)):.4g} Hz, more than {FREQUENCY_TOLERANCE:.0%} off "
            f"(allowed: within {FREQUENCY_TOLERANCE:.0%} of a frequency it can deliver); "
            f"nearest frequencies it can deliver: {nearest}"]


def _ramp_problems(profile: PatientProfile, device: DeviceConfig) -> list[str]:
    """Every channel must reach its plateau within the ramp at one StartChannelListMode per command period.

    Otherwise the controller asks for a rise the gate blocks, and the session stops at the first burst.
    """
    period = device.link.command_period_ms
    step = profile.safety.max_ramp_step_ma
    ramp_ms = max(round(profile.envelope.ramp_up_s * 1000.0, 6), float(period))
    fits = max(1, math.floor(ramp_ms / period + 1e-9))  # commands that fit into the ramp
    problems = []
    for i, ch in enumerate(profile.channels):
        commands = math.ceil(ch.plateau_current_ma / step)
        if commands * period > ramp_ms + 1e-9:
            problems.append(
                f"  safety.max_ramp_step_ma = {step}: channel {ch.number} (channels.{i}) needs "
                f"ceil({ch.plateau_current_ma} mA / {step} mA) = {commands} commands x command_period_ms {period} "
                f"= {commands * period} ms to reach plateau_current_ma, longer than the ramp "
                f"(max(envelope.ramp_up_s, one command) = {ramp_ms:g} ms); smallest max_ramp_step_ma that "
                f"works: {math.ceil(ch.plateau_current_ma / fits)} (allowed: "
                f">= {math.ceil(ch.plateau_current_ma / fits)})")
    return problems
