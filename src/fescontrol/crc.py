"""CRC-8/SMBUS (poly 0x07, init 0, no reflection, no final XOR), shared by two wire formats.

The ScienceMode2 stimulator frames and our own sensor frames use the same CRC; one table
serves both. Check value: crc8_smbus(b"123456789") == 0xF4.
"""

from __future__ import annotations


def _make_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table.append(crc)
    return tuple(table)


_TABLE = _make_table()


def crc8_smbus(data: bytes | bytearray | memoryview) -> int:
    crc = 0
    for byte in bytes(data):
        crc = _TABLE[crc ^ byte]
    return crc
