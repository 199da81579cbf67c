"""The in-process port pair behaves like a pyserial port with timeout=0, where the loop can tell."""

from __future__ import annotations

import pytest
import serial

from fescontrol.control.virtual_port import VirtualPort, virtual_pair


def test_bytes_written_at_one_end_are_read_at_the_other_in_order() -> None:
    host, device = virtual_pair()
    assert (host.name, device.name) == ("host", "device")
    assert device.write(b"abc") == 3
    device.write(b"de")
    assert host.in_waiting == 5 and device.in_waiting == 0
    assert host.read(2) == b"ab"
    assert host.read(10) == b"cde"
    assert host.in_waiting == 0
    assert device.written == 5 and host.written == 0


def test_read_with_nothing_waiting_returns_nothing_while_the_far_end_is_open() -> None:
    host, _device = virtual_pair()
    assert host.read() == b""
    assert host.read(100) == b""


def test_read_by_default_takes_one_byte() -> None:
    host, device = virtual_pair()
    device.write(b"xy")
    assert host.read() == b"x"


def test_the_far_end_closing_ends_the_stream_after_what_is_waiting() -> None:
    host, device = virtual_pair("h", "d")
    device.write(b"last")
    device.close()
    assert host.read(4) == b"last"  # what arrived before the close is still read
    with pytest.raises(serial.SerialException, match="h: device reports readiness to read but returned no data"):
        host.read(1)


def test_a_closed_port_can_neither_read_nor_write() -> None:
    host, device = virtual_pair("h", "d")
    device.write(b"data")
    host.close()
    with pytest.raises(serial.SerialException, match="h: port is closed"):
        host.read(1)
    with pytest.raises(serial.SerialException, match="h: port is closed"):
        host.write(b"x")
    assert device.written == 4


def test_writing_to_a_closed_far_end_fails() -> None:
    host, device = virtual_pair("h", "d")
    device.close()
    with pytest.raises(serial.SerialException, match="h: write failed: the other end is gone"):
        host.write(b"x")
    assert host.written == 0


def test_an_unpaired_port_has_no_stream() -> None:
    lone = VirtualPort("lone")
    assert lone.in_waiting == 0 and not lone.closed
    with pytest.raises(serial.SerialException, match="returned no data"):
        lone.read(1)
    with pytest.raises(serial.SerialException, match="the other end is gone"):
        lone.write(b"x")
