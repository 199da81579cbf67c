"""Low-latency serial is best effort: a real pty is left alone, an FTDI's timer goes to 1 ms, nothing raises."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from fescontrol.serial_tuning import latency_timer_path, lower_latency_timer, request_low_latency

READ_ONLY_SYSFS_INT = Path("/sys/devices/system/cpu/kernel_max")  # a real attribute even root cannot write


@pytest.fixture
def pty_port() -> Iterator[serial.Serial]:
    master, slave = os.openpty()
    port = serial.Serial(os.ttyname(slave), baudrate=460800, timeout=0)
    try:
        yield port
    finally:
        port.close()
        os.close(slave)
        os.close(master)


def fake_ftdi(root: Path, name: str, value: str) -> Path:
    """A sysfs tree with one usb-serial device `name`, laid out as ftdi_sio lays it out."""
    path = latency_timer_path(name, root)
    path.parent.mkdir(parents=True)
    path.write_text(value, encoding="ascii")
    return path


def test_a_pty_is_not_applicable_and_nothing_raises(pty_port: serial.Serial) -> None:
    text = request_low_latency(pty_port)  # the real /sys of this machine
    assert text.startswith("not applicable"), text
    assert pty_port.is_open  # the port still works
    pty_port.write(b"\x00")


def test_an_empty_sysfs_tree_is_not_applicable(pty_port: serial.Serial, tmp_path: Path) -> None:
    assert request_low_latency(pty_port, sysfs_root=tmp_path).startswith("not applicable")


def test_the_sysfs_path_is_the_ftdi_sio_one(tmp_path: Path) -> None:
    assert latency_timer_path("ttyUSB0", tmp_path) == tmp_path / "bus/usb-serial/devices/ttyUSB0/latency_timer"


def test_a_16_ms_timer_goes_to_1_ms_through_sysfs_when_the_flag_is_refused(
        pty_port: serial.Serial, tmp_path: Path) -> None:
    # the pty refuses TIOCGSERIAL (the real ioctl is tried), so the sysfs write is what lowers it
    name = os.path.basename(os.path.realpath(pty_port.port))
    timer = fake_ftdi(tmp_path, name, "16\n")
    text = request_low_latency(pty_port, sysfs_root=tmp_path)
    assert "16 -> 1 ms (sysfs)" in text, text
    assert timer.read_text(encoding="ascii").strip() == "1"


def test_a_symlinked_port_name_is_resolved(pty_port: serial.Serial, tmp_path: Path) -> None:
    # /dev/serial/by-id/usb-FTDI_...-port0 -> ../../ttyUSB0: the tty's own name is what sysfs knows
    link = tmp_path / "by-id-usb-FTDI"
    link.symlink_to(pty_port.port)
    name = os.path.basename(os.path.realpath(pty_port.port))
    timer = fake_ftdi(tmp_path / "sys", name, "16\n")
    alias = serial.Serial(str(link), timeout=0)
    try:
        assert "-> 1 ms" in request_low_latency(alias, sysfs_root=tmp_path / "sys")
    finally:
        alias.close()
    assert timer.read_text(encoding="ascii").strip() == "1"


def test_a_timer_already_at_1_ms_is_left_alone(tmp_path: Path) -> None:
    timer = fake_ftdi(tmp_path, "ttyUSB3", "1\n")
    before = timer.stat().st_mtime_ns
    assert lower_latency_timer("ttyUSB3", None, tmp_path) == "FTDI latency timer of ttyUSB3 already 1 ms"
    assert timer.stat().st_mtime_ns == before


@pytest.mark.skipif(not READ_ONLY_SYSFS_INT.exists(), reason="needs Linux sysfs")
def test_no_permission_is_reported_not_raised(tmp_path: Path) -> None:
    """A timer that cannot be written (as for a user without a udev rule) stays, and the text says why."""
    timer = latency_timer_path("ttyUSB1", tmp_path)
    timer.parent.mkdir(parents=True)
    timer.symlink_to(READ_ONLY_SYSFS_INT)
    value = int(READ_ONLY_SYSFS_INT.read_text().strip())
    text = lower_latency_timer("ttyUSB1", None, tmp_path)
    assert f"stays {value} ms" in text and "denied" in text.lower(), text
    assert int(READ_ONLY_SYSFS_INT.read_text().strip()) == value


def test_a_pyserial_url_is_not_applicable(tmp_path: Path) -> None:
    port = serial.serial_for_url("loop://", do_not_open=True)
    assert request_low_latency(port, sysfs_root=tmp_path).startswith("not applicable")


def test_a_closed_port_does_not_raise(pty_port: serial.Serial, tmp_path: Path) -> None:
    name = os.path.basename(os.path.realpath(pty_port.port))
    fake_ftdi(tmp_path, name, "16\n")
    pty_port.close()
    text = request_low_latency(pty_port, sysfs_root=tmp_path)  # the flag cannot be set on a closed port
    assert "-> 1 ms (sysfs)" in text, text
