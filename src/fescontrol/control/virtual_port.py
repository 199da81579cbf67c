"""An in-process serial port pair, for driving the control loop sample by sample in unit tests.

Like python-can's virtual bus: what one end writes, the other end reads, with no thread, no
clock and no file descriptor, so a test decides exactly which bytes arrive before each tick.
It behaves like a pyserial port opened with `timeout=0` where the loop can tell: `read`
returns what is there (possibly nothing), and once the far end has closed and everything is
read, `read` raises `serial.SerialException`, as pyserial does for a pty whose other side is
gone. Real ptys stay in the HIL tests; this is for the loop's branches.
"""

from __future__ import annotations

import serial


class VirtualPort:
    """One end of a pair; create both with :func:`virtual_pair`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.peer: VirtualPort | None = None
        self._rx = bytearray()
        self.closed = False
        self.written = 0

    @property
    def in_waiting(self) -> int:
        return len(self._rx)

    def read(self, size: int = 1) -> bytes:
        if self.closed:
            raise serial.SerialException(f"{self.name}: port is closed")
        if not self._rx and (self.peer is None or self.peer.closed):
            raise serial.SerialException(f"{self.name}: device reports readiness to read but returned no data")
        data = bytes(self._rx[:size])
        del self._rx[:size]
        return data

    def write(self, data: bytes) -> int:
        if self.closed:
            raise serial.SerialException(f"{self.name}: port is closed")
        if self.peer is None or self.peer.closed:
            raise serial.SerialException(f"{self.name}: write failed: the other end is gone")
        self.peer._rx += data
        self.written += len(data)
        return len(data)

    def close(self) -> None:
        self.closed = True


def virtual_pair(a: str = "host", b: str = "device") -> tuple[VirtualPort, VirtualPort]:
    """Two connected ends: bytes written to one are read from the other."""
    end_a, end_b = VirtualPort(a), VirtualPort(b)
    end_a.peer, end_b.peer = end_b, end_a
    return end_a, end_b
