"""Strict configs: no silent coercion, nothing the device would refuse, only small regular files.

Every case here loaded (or hung) before configs were strict; each asserts that the message names
the file, the key, the value and what is allowed.
"""

from __future__ import annotations

import os
import threading
import tomllib
from pathlib import Path

import pytest

from fescontrol.config.loading import (
    MAX_CONFIG_BYTES,
    default_device_path,
    default_profile_path,
    load_device,
    load_profile,
)
from fescontrol.config.models import SafetySection
from fescontrol.errors import ConfigError

NEW_SAFETY_KEYS = {
    "sensor_lost_ms": 2000, "sensor_first_sample_ms": 10000, "max_sensor_loss_pct": 20, "max_clock_drift_ms": 250, "max_busy_retries": 3,
    "loop_overrun_ms": 100, "loop_overrun_off_ms": 500, "max_on_time_s": 3.0, "duty_window_s": 10.0, "max_duty_pct": 85,
    "max_session_stim_s": 3600.0, "max_sensor_rate_error_pct": 3,
}


def _write(tmp_path: Path, text: str, name: str = "cfg.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _profile(tmp_path: Path, old: str, new: str) -> Path:
    text = default_profile_path().read_text()
    assert old in text, old
    return _write(tmp_path, text.replace(old, new, 1), "profile.toml")


def _device(tmp_path: Path, old: str, new: str) -> Path:
    text = default_device_path().read_text()
    assert old in text, old
    return _write(tmp_path, text.replace(old, new, 1), "device.toml")


def _message(exc: pytest.ExceptionInfo[ConfigError], path: Path | str, parts: list[str]) -> str:
    message = str(exc.value)
    assert str(path) in message, message
    for part in parts:
        assert part in message, f"{part!r} not in:\n{message}"
    return message


# --------------------------------------------------------------------------- types


@pytest.mark.parametrize("old,new,parts", [
    ("frequency_hz = 40.0", 'frequency_hz = "30"',
     ["stimulation.frequency_hz = '30'", "not a number", "allowed: a number > 0 and <= 100"]),
    ("debounce_samples = 2", 'debounce_samples = "2"', ["detector.debounce_samples = '2'", "not a number"]),
    ("debounce_samples = 2", "debounce_samples = true",
     ["detector.debounce_samples = True", "true/false", "allowed: an integer >= 1 and <= 20"]),
    ("debounce_samples = 2", "debounce_samples = 2.5", ["detector.debounce_samples = 2.5", "whole number"]),
    ("frequency_hz = 40.0", "frequency_hz = nan",
     ["stimulation.frequency_hz = nan", "is not a finite number", "allowed: a number > 0 and <= 100"]),
    ("frequency_hz = 40.0", "frequency_hz = inf", ["stimulation.frequency_hz = inf", "is not a finite number"]),
    ("frequency_hz = 40.0", "frequency_hz = -inf", ["stimulation.frequency_hz = -inf", "is not a finite number"]),
    ("ramp_up_s = 0.06", "ramp_up_s = nan", ["envelope.ramp_up_s = nan", "is not a finite number", ">= 0.0"]),
    ("debounce_samples = 2", "debounce_samples = nan",
     ["detector.debounce_samples = nan", "is not a finite number", "allowed: an integer"]),
    ("side = \"left\"", "side = 1", ["patient.side = 1", "allowed: one of 'left', 'right'"]),
    ("sensor_stale_ms = 150", "sensor_stale_ms = \"150\"", ["safety.sensor_stale_ms = '150'", "not a number"]),
])
def test_profile_types_are_strict(tmp_path: Path, old: str, new: str, parts: list[str]) -> None:
    path = _profile(tmp_path, old, new)
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    _message(info, path, parts)


def test_toml_integer_for_a_float_key_is_fine(tmp_path: Path) -> None:
    profile, _ = load_profile(_profile(tmp_path, "frequency_hz = 40.0", "frequency_hz = 40"))
    assert profile.stimulation.frequency_hz == 40.0


@pytest.mark.parametrize("old,new,parts", [
    ("stopbits = 1", "stopbits = true", ["link.stopbits = True", "true/false", "allowed: an integer >= 1 and <= 2"]),
    ("baudrate = 460800", "baudrate = 1e9", ["link.baudrate = 1000000000.0", "whole number", "460800", "3000000"]),
    ("baudrate = 460800", "baudrate = 1000000000", ["link.baudrate = 1000000000", "not a standard baud rate",
                                                    "115200", "921600", "3000000"]),
    ("baudrate = 460800", "baudrate = \"460800\"", ["link.baudrate = '460800'", "not a number"]),
    ("baudrate = 460800", "baudrate = 115200", ["link.baudrate = 115200", "rehastim2", "allowed: 460800"]),
    ("max_frequency_hz = 50", "max_frequency_hz = nan", ["device.max_frequency_hz = nan", "not a finite number"]),
    ("channels = 8", "channels = 8.0", ["device.channels = 8.0", "whole number", "allowed: an integer >= 1"]),
])
def test_device_types_are_strict(tmp_path: Path, old: str, new: str, parts: list[str]) -> None:
    path = _device(tmp_path, old, new)
    with pytest.raises(ConfigError) as info:
        load_device(path)
    _message(info, path, parts)


# --------------------------------------------------------------------------- what the device would refuse


@pytest.mark.parametrize("old,new,parts", [
    # a group interval longer than the main interval: the device refuses the first Start
    ("group_interval_ms = 8.0", "group_interval_ms = 129",
     ["device.group_interval_ms = 129.0", "refuses Start", "allowed: 8.0..20 ms"]),
    ("group_interval_ms = 8.0", "group_interval_ms = 8.2",
     ["device.group_interval_ms = 8.2", "0.5 ms steps", "group time code 13..255"]),
    ("watchdog_timeout_ms = 1200", "watchdog_timeout_ms = 2000",
     ["link.watchdog_timeout_ms = 2000", "fixed at 1200 ms", "allowed: <= 1200"]),
    ("max_response_ms = 100", "max_response_ms = 300", ["link.max_response_ms = 300", "keepalive_interval_ms"]),
    ("max_response_ms = 100", "max_response_ms = 50", ["link.max_response_ms = 50", "allowed: >= 100"]),
    ("command_period_ms = 12", "command_period_ms = 5", ["link.command_period_ms = 5", "allowed: > 10"]),
    ("command_period_ms = 12\n", "", ["link.command_period_ms: missing", "allowed: an integer"]),
    ("handshake_timeout_ms = 3000", "handshake_timeout_ms = 400", ["link.handshake_timeout_ms = 400", ">= 1000"]),
    ("parity = \"even\"", "parity = \"none\"", ["link.parity = 'none'", "allowed: 'even'"]),
])
def test_device_settings_the_firmware_cannot_honour(tmp_path: Path, old: str, new: str, parts: list[str]) -> None:
    path = _device(tmp_path, old, new)
    with pytest.raises(ConfigError) as info:
        load_device(path)
    _message(info, path, parts)


@pytest.mark.parametrize("old,new,parts", [
    # 0.5 Hz was delivered as 0.98 Hz without a word
    ("frequency_hz = 40.0", "frequency_hz = 0.5",
     ["stimulation.frequency_hz = 0.5", "0.9756 Hz", "more than 1% off", "allowed: within 1%",
      "nearest frequencies it can deliver: 0.9756 Hz (main time code 2048)"]),
    # between two 0.5 ms codes near 50 Hz: 49.4 Hz is 1.2 % from both
    ("frequency_hz = 40.0", "frequency_hz = 49.4",
     ["stimulation.frequency_hz = 49.4", "50 Hz (main time code 38)", "48.78 Hz (main time code 39)"]),
    ("max_ramp_step_ma = 30", "max_ramp_step_ma = 4",
     ["safety.max_ramp_step_ma = 4", "channel 1", "8 commands", "96 ms", "60 ms", "works: 6", "allowed: >= 6"]),
])
def test_profile_the_device_would_refuse(tmp_path: Path, old: str, new: str, parts: list[str]) -> None:
    device, _ = load_device(default_device_path())
    path = _profile(tmp_path, old, new)
    with pytest.raises(ConfigError) as info:
        load_profile(path, device)
    _message(info, path, parts)


def test_ramp_step_with_no_ramp_needs_one_command(tmp_path: Path) -> None:
    device, _ = load_device(default_device_path())
    load_profile(_profile(tmp_path, "ramp_up_s = 0.06", "ramp_up_s = 0.0"), device)  # 30 mA steps: one command
    text = default_profile_path().read_text().replace("ramp_up_s = 0.06", "ramp_up_s = 0.0")
    path = _write(tmp_path, text.replace("max_ramp_step_ma = 30", "max_ramp_step_ma = 20"))
    with pytest.raises(ConfigError) as info:
        load_profile(path, device)
    _message(info, path, ["safety.max_ramp_step_ma = 20", "channel 1", "24 ms", "12 ms", "works: 30"])


@pytest.mark.parametrize("hz", [40.0, 33.3, 30.0, 20.0, 1.0, 50.0])
def test_realisable_frequencies_load(tmp_path: Path, hz: float) -> None:
    device, _ = load_device(default_device_path())
    load_profile(_profile(tmp_path, "frequency_hz = 40.0", f"frequency_hz = {hz}"), device)


def test_smallest_working_ramp_step_loads(tmp_path: Path) -> None:
    device, _ = load_device(default_device_path())
    load_profile(_profile(tmp_path, "max_ramp_step_ma = 30", "max_ramp_step_ma = 6"), device)


# --------------------------------------------------------------------------- new safety keys


def test_new_safety_keys_are_in_the_example_with_their_defaults() -> None:
    with default_profile_path().open("rb") as f:
        safety = tomllib.load(f)["safety"]
    docs = Path(__file__).parents[2].joinpath("docs", "profiles.md").read_text()
    for key, default in NEW_SAFETY_KEYS.items():
        assert safety[key] == default, key
        assert SafetySection.model_fields[key].default == default, key
        assert f"`safety.{key}`" in docs, key


def test_a_profile_without_the_new_keys_still_loads(tmp_path: Path) -> None:
    lines = [line for line in default_profile_path().read_text().splitlines()
             if line.split(" = ")[0] not in NEW_SAFETY_KEYS]
    path = _write(tmp_path, "\n".join(lines) + "\n")
    profile, _ = load_profile(path, load_device(default_device_path())[0])
    for key, default in NEW_SAFETY_KEYS.items():
        assert getattr(profile.safety, key) == default


@pytest.mark.parametrize("old,new,parts", [
    ("max_on_time_s = 3.0", "max_on_time_s = 1.0",
     ["safety.max_on_time_s = 1.0", "envelope.max_stim_s + extension_s + ramp_down_s + 0.1 s = 1.73 s",
      "allowed: 1.73..10"]),
    ("max_stim_s = 1.5", "max_stim_s = 4.0", ["safety.max_on_time_s = 3.0", "4.23 s"]),
    ("sensor_lost_ms = 2000", "sensor_lost_ms = 100", ["safety.sensor_lost_ms = 100", ">= 200 and <= 10000"]),
    ("max_sensor_loss_pct = 20", "max_sensor_loss_pct = 95", ["safety.max_sensor_loss_pct = 95", "<= 90"]),
    ("max_clock_drift_ms = 250", "max_clock_drift_ms = 10", ["safety.max_clock_drift_ms = 10", ">= 50"]),
    ("max_sensor_rate_error_pct = 3", "max_sensor_rate_error_pct = 11", ["safety.max_sensor_rate_error_pct = 11",
                                                                         "<= 10"]),
    ("max_busy_retries = 3", "max_busy_retries = 11", ["safety.max_busy_retries = 11", "<= 10"]),
    ("loop_overrun_ms = 100", "loop_overrun_ms = 5", ["safety.loop_overrun_ms = 5", ">= 20"]),
    ("sensor_first_sample_ms = 10000", "sensor_first_sample_ms = 60001",
     ["safety.sensor_first_sample_ms = 60001", "<= 60000"]),
    ("loop_overrun_off_ms = 500", "loop_overrun_off_ms = 2001",
     ["safety.loop_overrun_off_ms = 2001", "<= 2000"]),
    ("duty_window_s = 10.0", "duty_window_s = 200.0", ["safety.duty_window_s = 200.0", "<= 120"]),
    ("max_duty_pct = 85", "max_duty_pct = 10", ["safety.max_duty_pct = 10", "allowed: 17..100"]),
    ("max_session_stim_s = 3600.0", "max_session_stim_s = 0.5", ["safety.max_session_stim_s = 0.5", ">= 1.0"]),
    ("max_on_time_s = 3.0", "max_on_time_s = \"3\"", ["safety.max_on_time_s = '3'", "not a number"]),
])
def test_new_safety_keys_are_checked(tmp_path: Path, old: str, new: str, parts: list[str]) -> None:
    path = _profile(tmp_path, old, new)
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    _message(info, path, parts)


def test_sensor_lost_must_not_be_shorter_than_stale(tmp_path: Path) -> None:
    text = default_profile_path().read_text().replace("sensor_lost_ms = 2000", "sensor_lost_ms = 300")
    path = _write(tmp_path, text.replace("sensor_stale_ms = 150", "sensor_stale_ms = 500"))
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    _message(info, path, ["safety.sensor_lost_ms = 300", "sensor_stale_ms (500)", "allowed: 500..10000"])


@pytest.mark.parametrize(("key", "default", "below", "floor_key", "floor", "allowed"), [
    ("sensor_first_sample_ms", 10000, 1500, "sensor_lost_ms", 2000, "2000..60000"),  # the first sample's wait
    ("loop_overrun_off_ms", 500, 80, "loop_overrun_ms", 100, "100..2000"),  # a stall with the output off
], ids=["first-sample-after-lost", "overrun-off-after-on"])
def test_a_limit_is_never_stricter_than_the_one_it_follows(tmp_path: Path, key: str, default: int, below: int,
                                                           floor_key: str, floor: int, allowed: str) -> None:
    text = default_profile_path().read_text().replace(f"{key} = {default}", f"{key} = {below}")
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    _message(info, path, [f"safety.{key} = {below}", f"{floor_key} ({floor})", f"allowed: {allowed}"])
    same = _write(tmp_path, text.replace(f"{key} = {below}", f"{key} = {floor}"), "same.toml")
    assert getattr(load_profile(same)[0].safety, key) == floor


def test_every_broken_pair_of_limits_is_named_at_once(tmp_path: Path) -> None:
    text = default_profile_path().read_text().replace("loop_overrun_off_ms = 500", "loop_overrun_off_ms = 80")
    path = _write(tmp_path, text.replace("sensor_first_sample_ms = 10000", "sensor_first_sample_ms = 1500"))
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    _message(info, path, ["safety.sensor_first_sample_ms = 1500", "safety.loop_overrun_off_ms = 80"])


# --------------------------------------------------------------------------- files


def test_bom_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + default_profile_path().read_bytes())
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    _message(info, path, ["starts with a UTF-8 byte-order mark; save it as UTF-8 without BOM"])


def test_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(default_profile_path().read_bytes().replace(b"example", b"exampl\xe9"))
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    _message(info, path, ["not UTF-8"])


def _load_in_thread(path: Path) -> BaseException | None:
    """Load in a daemon thread, so a regression that blocks fails the test instead of hanging it."""
    result: list[BaseException | None] = []

    def target() -> None:
        try:
            load_profile(path)
            result.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            result.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout=5.0)
    assert not thread.is_alive(), f"loading {path} blocked"
    return result[0]


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "profile.toml"
    os.mkfifo(fifo)
    exc = _load_in_thread(fifo)
    assert isinstance(exc, ConfigError)
    assert str(fifo) in str(exc) and "FIFO" in str(exc) and "allowed: a regular TOML file" in str(exc)


def test_dev_zero_is_refused_without_reading_it() -> None:
    exc = _load_in_thread(Path("/dev/zero"))
    assert isinstance(exc, ConfigError)
    assert "/dev/zero" in str(exc) and "character device" in str(exc)


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_device(tmp_path)


def test_too_big_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.toml"
    path.write_bytes(default_profile_path().read_bytes() + b"#" * MAX_CONFIG_BYTES + b"\n")
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    _message(info, path, [f"larger than {MAX_CONFIG_BYTES} bytes", "64 KiB"])


def test_file_at_the_limit_loads(tmp_path: Path) -> None:
    raw = default_profile_path().read_bytes()
    path = tmp_path / "full.toml"
    path.write_bytes(raw + b"#" * (MAX_CONFIG_BYTES - len(raw) - 1) + b"\n")
    assert path.stat().st_size == MAX_CONFIG_BYTES
    load_profile(path)
