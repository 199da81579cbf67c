"""`fescontrol check`: a profile validated for a stimulator model without a device, and the table it would deliver."""

from __future__ import annotations

from pathlib import Path

import pytest

from fescontrol.cli import main
from fescontrol.config.loading import default_device_path, default_imu_profile_path, default_profile_path
from fescontrol.stimulators import backend_module
from fescontrol.stimulators import sciencemode2 as sm2_backend
from fescontrol.stimulators import sciencemode4 as sm4_backend
from tests.unit.loop_rig import LoopRig


@pytest.mark.parametrize("device", ["rehastim2", "rehamove3", "p24"])
def test_a_valid_profile_shows_the_table_run_would_show_and_exits_0(
        device: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--device", device]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert lines[0].startswith(f"profile {default_profile_path()} (sha256 ") and lines[0].endswith(f"valid for the {device}")
    assert lines[2].startswith(f"stimulator: {device} (") and lines[2].endswith("state not connected (fescontrol check)")
    assert lines[4].split()[:3] == ["1", "tibialis", "anterior"]  # the example's channel 1 and its plateau
    assert ("detector: adaptive_heel (sensor: heel / insole force frames); link: force at 100 Hz needs 11000 of "
            "115200 bit/s (10 %)") in lines
    assert any(line.startswith("interlocks: sensor stale 150 ms while stimulating, lost 2000 ms, first sample "
                               "within 10000 ms; clock drift 250 ms beyond a 3 % rate error; loop overrun 100 ms "
                               "(500 ms with the output off)") for line in lines)


def test_an_imu_profile_names_its_sensor_and_the_link_is_checked_as_run_checks_it(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--profile", str(default_imu_profile_path()), "--device", "p24"]) == 0
    assert "detector: foot_imu (sensor: an IMU); link: imu6 at 100 Hz needs 19000 of 115200 bit/s (16 %)" in \
        capsys.readouterr().out
    # --sensor-format alone picks the embedded IMU profile, as in run
    assert main(["check", "--sensor-format", "wt901", "--rate", "200"]) == 0
    assert "link: wt901 at 200 Hz needs 44000 of 115200 bit/s (38 %)" in capsys.readouterr().out
    assert main(["check", "--sensor-format", "csv"]) == 0
    assert "csv at 100 Hz over 115200 baud (a CSV line's length is the sketch's own: not checked)" in \
        capsys.readouterr().out
    # a link that cannot carry the rate, a rate out of range, an IMU format for a force profile: exit 2
    assert main(["check", "--sensor-format", "wt901", "--rate", "200", "--sensor-baud", "9600"]) == 2
    assert "--sensor-baud 9600: 200 Hz of wt901 samples (22 bytes each) need 44000 bit/s" in capsys.readouterr().err
    assert main(["check", "--rate", "5"]) == 2
    assert "--rate 5.0: allowed 20 to 1000 Hz" in capsys.readouterr().err
    assert main(["check", "--profile", str(default_profile_path()), "--sensor-format", "imu6"]) == 2
    assert "an IMU format needs an IMU profile" in capsys.readouterr().err


def test_a_bad_profile_is_exit_2_naming_file_key_value_and_range(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "edited.toml"
    bad.write_text(default_profile_path().read_text().replace("sensor_lost_ms = 2000", "sensor_lost_ms = 50"))
    assert main(["check", "--profile", str(bad)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and str(bad) in err and "safety.sensor_lost_ms = 50" in err and ">= 200" in err
    assert main(["check", "--device", "p24", "--device-config", str(default_device_path("rehastim2"))]) == 2
    assert "describes a rehastim2, not the --device p24" in capsys.readouterr().err


def test_the_delivered_frequency_is_the_links_own(tmp_path: Path) -> None:
    """What `check` shows is what the connected link reports (the device's period grid)."""
    rig = LoopRig(tmp_path)
    profile_hz = rig.profile.stimulation.frequency_hz
    assert sm2_backend.delivered_frequency_hz(profile_hz) == rig.link.delivered_frequency_hz
    assert backend_module("sciencemode2") is sm2_backend
    for hz, period in ((40.0, 25.0), (33.0, 30.5), (47.0, 21.5)):
        assert sm4_backend.delivered_frequency_hz(hz) == 1000.0 / period == 1000.0 / sm4_backend.period_ms(hz)
    assert sm2_backend.delivered_frequency_hz(33.0) == pytest.approx(1000.0 / 30.5)
