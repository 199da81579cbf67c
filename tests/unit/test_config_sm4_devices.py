"""Device profiles of the RehaMove3 and the P24 (ScienceMode4): they load, fit the example profile, and
refuse what their firmware would not honour (exit 2 at load, the key and value named)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fescontrol.config.loading import default_device_path, default_profile_path, load_device, load_profile
from fescontrol.errors import ConfigError


@pytest.mark.parametrize("model,channels", [("rehamove3", 4), ("p24", 8)])
def test_sm4_profiles_load_and_fit_the_example_profile(model: str, channels: int) -> None:
    device, _ = load_device(default_device_path(model))
    load_profile(default_profile_path(), device)
    dev, link = device.device, device.link
    assert (dev.model, dev.protocol, dev.channels, dev.group_interval_ms) == (model, "sciencemode4", channels, None)
    assert (link.baudrate, link.parity, link.stopbits, link.rtscts) == (3000000, "none", 2, True)
    assert link.watchdog_timeout_ms == 2000 and link.keepalive_interval_ms * 2 < link.watchdog_timeout_ms


def _edited(tmp_path: Path, model: str, old: str, new: str) -> Path:
    text = default_device_path(model).read_text()
    assert old in text
    path = tmp_path / f"{model}.toml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize("model,old,new,words", [
    ("rehamove3", 'protocol = "sciencemode4"', 'protocol = "sciencemode2"', ["protocol", "speaks sciencemode4"]),
    ("rehamove3", "min_main_interval_ms = 10.0", "min_main_interval_ms = 10.0\ngroup_interval_ms = 8.0",
     ["group_interval_ms", "no group interval"]),
    ("p24", "rtscts = true", "rtscts = false", ["link.rtscts", "RTS/CTS on"]),
    ("p24", "stopbits = 2", "stopbits = 1", ["link.stopbits"]),
    ("rehastim2", "group_interval_ms = 8.0\n", "", ["group_interval_ms", "needs it"]),
    ("rehastim2", 'protocol = "sciencemode2"', 'protocol = "sciencemode4"', ["protocol", "speaks sciencemode2"]),
])
def test_firmware_facts_are_checked(tmp_path: Path, model: str, old: str, new: str, words: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        load_device(_edited(tmp_path, model, old, new))
    for word in words:
        assert word in str(err.value)


def test_a_frequency_off_the_half_millisecond_grid_is_refused_for_sm4(tmp_path: Path) -> None:
    device, _ = load_device(default_device_path("p24"))
    text = default_profile_path().read_text()
    path = tmp_path / "p.toml"
    path.write_text(text.replace("frequency_hz = 40.0", "frequency_hz = 33.0", 1))
    load_profile(path, device)  # 30.5 ms: 32.79 Hz, within 1 %
    path.write_text(text.replace("frequency_hz = 40.0", "frequency_hz = 97.56", 1))
    with pytest.raises(ConfigError, match="in 0.5 ms steps"):  # 10.25 ms: 10 or 10.5 ms, both 2.4 % off
        load_profile(path, device)
