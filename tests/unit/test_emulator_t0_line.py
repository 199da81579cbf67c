"""The `T0 <ns>` line between a host and an emulator (fescontrol.emulator_t0): one format, both sides."""

from __future__ import annotations

import pytest

from fescontrol.emulator_t0 import parse_t0_line, t0_line


def test_a_written_line_reads_back_as_the_same_origin() -> None:
    for t0 in (0, 1, 6_190_528_393_179, 2**63 - 1):
        assert parse_t0_line(t0_line(t0)) == t0
    assert t0_line(5) == "T0 5\n"


@pytest.mark.parametrize("line", ["", "\n", "T0\n", "T0 \n", "T0 -5\n", "T0 1.5\n", "T0 abc\n", "t0 5\n",
                                  "PORT /dev/pts/3\n", "T0 5 6\n", "X0 5\n"])
def test_anything_else_is_no_origin(line: str) -> None:
    assert parse_t0_line(line) is None


def test_a_negative_origin_is_not_written() -> None:
    with pytest.raises(ValueError, match="must be >= 0"):
        t0_line(-1)
