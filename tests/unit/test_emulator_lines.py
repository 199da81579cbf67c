"""The start-up lines between a host and an emulator (fescontrol.emulator_lines): one format, both sides."""

from __future__ import annotations

import pytest

from fescontrol.emulator_lines import parse_port_line, parse_t0_line, port_line, t0_line


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


def test_a_written_port_line_reads_back_as_the_same_path() -> None:
    for path in ("/dev/pts/3", "/dev/pts/117", "/tmp/a b/port"):
        assert parse_port_line(port_line(path)) == path
    assert port_line("/dev/pts/3") == "PORT /dev/pts/3\n"
    assert parse_port_line("PORT /dev/pts/4\r\n") == "/dev/pts/4"  # a line as a text pipe may end it


@pytest.mark.parametrize("line", ["", "\n", "PORT\n", "PORT \n", "port /dev/pts/3\n", "T0 5\n",
                                  "DONE 12\n", "Traceback (most recent call last):\n", "PORTS /dev/pts/3\n"])
def test_anything_else_is_no_port(line: str) -> None:
    assert parse_port_line(line) is None


@pytest.mark.parametrize("path", ["", " /dev/pts/3", "/dev/pts/3\n"])
def test_a_blank_or_multi_line_path_is_not_written(path: str) -> None:
    with pytest.raises(ValueError, match="port path"):
        port_line(path)
