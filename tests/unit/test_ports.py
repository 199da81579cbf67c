"""`fescontrol ports`: port-info records to rows by the id table only, and the command itself."""

from __future__ import annotations

import json
import subprocess
import sys

from serial.tools.list_ports_common import ListPortInfo

from fescontrol.ports import FTDI_VID, KNOWN_IDS, describe, describe_all, format_table, list_serial_ports, to_json


def usb_port(device: str, vid: int, pid: int, *, serial_number: str | None = None, manufacturer: str | None = None,
             product: str | None = None) -> ListPortInfo:
    """A pyserial record filled as its Linux lister fills it for a USB device."""
    info = ListPortInfo(device, skip_link_detection=True)
    info.vid, info.pid = vid, pid
    info.serial_number, info.manufacturer, info.product = serial_number, manufacturer, product
    info.apply_usb_info()
    return info


def test_an_ftdi_port_looks_like_the_ftdi_stimulators_or_any_ftdi_adapter() -> None:
    row = describe(usb_port("/dev/ttyUSB0", 0x0403, 0x6001, serial_number="A10KZ3", manufacturer="FTDI",
                            product="FT232R USB UART"))
    assert row.vid_pid == "0403:6001" and row.chip == "FTDI FT232R" and row.serial_number == "A10KZ3"
    assert row.devices == ("rehastim2", "rehamove3")
    assert "RehaStim 2" in row.looks_like and "RehaMove3" in row.looks_like and "any FTDI" in row.looks_like
    assert row.description == "FT232R USB UART" and row.manufacturer == "FTDI"


def test_an_ftdi_product_not_in_the_table_falls_back_to_the_vendor_entry() -> None:
    row = describe(usb_port("/dev/ttyUSB4", FTDI_VID, 0xABCD))
    assert row.chip == "FTDI" and row.devices == ("rehastim2", "rehamove3")


def test_the_stm32_cdc_ids_look_like_a_p24() -> None:
    row = describe(usb_port("/dev/ttyACM0", 0x0483, 0x5740, product="STM32 Virtual ComPort"))
    assert row.vid_pid == "0483:5740" and row.devices == ("p24",)
    assert row.looks_like.startswith("P24") and "any STM32" in row.looks_like


def test_witmotion_adapters_are_named_but_are_no_stimulator() -> None:
    for vid, pid, chip in ((0x1A86, 0x7523, "CH340"), (0x10C4, 0xEA60, "CP210x")):
        row = describe(usb_port("/dev/ttyUSB1", vid, pid))
        assert "WitMotion WT901" in row.looks_like and chip in row.chip and row.devices == ()


def test_anything_else_is_unknown_and_never_guessed_from_its_strings() -> None:
    # a product string that names a stimulator does not count: only the id table does
    row = describe(usb_port("/dev/ttyUSB2", 0x0483, 0x5741, manufacturer="HASOMED", product="RehaMove3"))
    assert (row.looks_like, row.chip, row.devices) == ("unknown", "", ())
    plain = describe(ListPortInfo("/dev/ttyS0", skip_link_detection=True))
    assert (plain.vid_pid, plain.looks_like, plain.description) == ("", "unknown", "")


def test_every_table_entry_is_reachable_and_names_only_real_devices() -> None:
    for (vid, pid), known in KNOWN_IDS.items():
        row = describe(usb_port("/dev/x", vid, 0xFFFF if pid is None else pid))
        assert row.chip == known.chip
        assert set(known.devices) <= {"rehastim2", "rehamove3", "p24"}


def test_rows_are_sorted_and_the_table_is_aligned() -> None:
    rows = describe_all([usb_port("/dev/ttyUSB1", 0x1A86, 0x7523), usb_port("/dev/ttyACM0", 0x0483, 0x5740),
                         ListPortInfo("/dev/ttyS0", skip_link_detection=True)])
    assert [r.device for r in rows] == ["/dev/ttyACM0", "/dev/ttyS0", "/dev/ttyUSB1"]
    lines = format_table(rows).splitlines()
    assert lines[0].split()[:3] == ["device", "usb", "id"] and len(lines) == 4
    col = lines[0].index("looks like")
    assert lines[1][col:].startswith("P24") and lines[2][col:] == "unknown"
    assert format_table([]) == "no serial ports found"


def test_json_keeps_every_field_for_scripts() -> None:
    rows = describe_all([usb_port("/dev/ttyUSB0", 0x0403, 0x6015, serial_number="DK0AB")])
    data = json.loads(to_json(rows))
    assert data == [{"device": "/dev/ttyUSB0", "vid_pid": "0403:6015", "serial_number": "DK0AB", "manufacturer": "",
                     "product": "", "description": "ttyUSB0", "chip": "FTDI FT-X",
                     "looks_like": rows[0].looks_like, "devices": ["rehastim2", "rehamove3"]}]


def test_the_command_prints_this_machines_ports_and_exits_0() -> None:
    expected = list_serial_ports()
    r = subprocess.run([sys.executable, "-m", "fescontrol", "ports", "--json"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert [p["device"] for p in json.loads(r.stdout)] == [row.device for row in expected]
    table = subprocess.run([sys.executable, "-m", "fescontrol", "ports"], capture_output=True, text=True, timeout=60)
    assert table.returncode == 0 and table.stdout.strip() == format_table(expected)
