"""The README stays true: its worked frame example is what the encoder produces."""

from __future__ import annotations

from pathlib import Path

from fescontrol.protocol import sciencemode2 as sm2
from fescontrol.sensing.frames import encode_heel_frame

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_sensor_frame_example_matches_the_encoder() -> None:
    assert f"`{encode_heel_frame(1, 700.0).hex(' ').upper()}`" in README


def test_readme_states_what_it_is_and_the_two_commands() -> None:
    assert "not a certified medical device" in README
    assert "make simulate" in README and "make test" in README


def test_readme_sciencemode2_numbers_match_the_codec() -> None:
    assert "460 800 baud, 8E1" in README
    assert sm2.crc8(b"123456789") == 0xF4  # the CRC the README names (poly 0x07, init 0)
    assert "poly\n0x07, init 0" in README or "poly 0x07, init 0" in README
