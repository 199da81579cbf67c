"""Config loading: the embedded defaults validate; bad input names file, key, value and range."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from fescontrol.config.loading import default_device_path, default_profile_path, load_device, load_profile
from fescontrol.errors import ConfigError


def test_embedded_defaults_load_and_fit_each_other() -> None:
    device, dsha = load_device(default_device_path())
    profile, psha = load_profile(default_profile_path(), device)
    assert device.device.model == "rehastim2"
    assert profile.plateau_by_channel() == {1: 30.0, 2: 20.0}
    assert len(dsha) == len(psha) == 64


def test_models_are_frozen() -> None:
    profile, _ = load_profile(default_profile_path())
    with pytest.raises(ValidationError, match="frozen"):
        profile.envelope.ramp_up_s = 0.5  # type: ignore[misc]


def _edited(tmp_path: Path, old: str, new: str) -> Path:
    text = default_profile_path().read_text()
    assert old in text
    path = tmp_path / "profile.toml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize("old,new,expected", [
    ("plateau_current_ma = 30", "plateau_current_ma = 300", ["channels.0.plateau_current_ma", "300", "<= 130"]),
    ("ramp_up_s = 0.06", "ramp_up_s = -1", ["envelope.ramp_up_s", "-1", ">= 0"]),
    ("release_threshold_n = 25.0", "release_threshold_n = 90.0", ["contact_threshold_n", "hysteresis"]),
    ("side = \"left\"", "side = \"middle\"", ["patient.side", "middle", "left"]),
    ("debounce_samples = 2", "debounce_samples = 2\nfoo = 1", ["detector.foo", "Extra inputs"]),
    ("plateau_current_ma = 30", "plateau_current_ma = 50", ["plateau_current_ma (50) exceeds max_current_ma"]),
])
def test_bad_profile_names_the_problem(tmp_path: Path, old: str, new: str, expected: list[str]) -> None:
    path = _edited(tmp_path, old, new)
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    message = str(info.value)
    assert str(path) in message
    for part in expected:
        assert part in message, message


@pytest.mark.parametrize("old,new,expected", [
    ("max_current_ma = 40", "max_current_ma = 41", ["channels.0.max_current_ma = 41", "multiple of 2"]),
    ("pulse_width_us = 300", "pulse_width_us = 501", ["pulse_width_us"]),
    ("frequency_hz = 40.0", "frequency_hz = 60.0", ["stimulation.frequency_hz = 60.0", "50"]),
    ("max_charge_per_phase_nc = 15000", "max_charge_per_phase_nc = 10000", ["12000 nC", "10000"]),
])
def test_profile_must_fit_the_device(tmp_path: Path, old: str, new: str, expected: list[str]) -> None:
    device, _ = load_device(default_device_path())
    path = _edited(tmp_path, old, new)
    with pytest.raises(ConfigError) as info:
        load_profile(path, device)
    for part in expected:
        assert part in str(info.value), str(info.value)


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[patient\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_profile(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_device(tmp_path / "missing.toml")


def test_device_keepalive_must_be_well_below_the_watchdog(tmp_path: Path) -> None:
    text = default_device_path().read_text().replace("keepalive_interval_ms = 250", "keepalive_interval_ms = 700")
    path = tmp_path / "dev.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="keepalive_interval_ms"):
        load_device(path)
