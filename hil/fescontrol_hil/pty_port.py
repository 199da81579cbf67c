"""Pseudo-terminal helpers: an emulator owns the master side and hands out the slave path."""

from __future__ import annotations

import errno
import os
import time
import tty


def open_pty() -> tuple[int, int, str]:
    """Open a raw pty pair; return (master_fd, slave_fd, slave_path).

    The slave is put in raw mode at once (no echo, no line editing) so that bytes the
    emulator writes before the host opens the port are neither echoed back nor altered.
    The emulator keeps the slave fd open for its whole life so the pty is never hung up
    before the host connects; when the emulator exits, the host sees the port vanish.
    The master is non-blocking: if the host does not read, the emulator drops bytes, as a
    UART would overflow, instead of stalling its clock.
    """
    master_fd, slave_fd = os.openpty()
    tty.setraw(slave_fd)
    os.set_blocking(master_fd, False)
    return master_fd, slave_fd, os.ttyname(slave_fd)


def write_nonblocking(master_fd: int, data: bytes) -> int:
    """Write what fits; return the number of bytes dropped because the pty buffer was full."""
    try:
        written = os.write(master_fd, data)
    except BlockingIOError:
        return len(data)
    return len(data) - written


def read_host(master_fd: int, idle_s: float) -> bytes:
    """Read what the host wrote; a hung-up or closed host is not a reason to stop.

    A pty whose slave side has no reader reports EIO or EOF and stays readable, so an empty
    read sleeps `idle_s` instead of letting the caller spin.
    """
    try:
        data = os.read(master_fd, 4096)
    except BlockingIOError:
        return b""
    except OSError as exc:
        if exc.errno != errno.EIO:
            raise
        data = b""
    if not data:
        time.sleep(idle_s)
    return data
