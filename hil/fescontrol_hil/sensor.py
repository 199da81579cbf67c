"""Heel-switch sensor emulator: streams a generated gait as binary frames on a pty, in real time.

It behaves like the device: one frame per sample on a fixed absolute schedule (no drift:
each sample has its own deadline; a late process sends what is due at once), and bytes the
host does not read are dropped as a UART would drop them. Its only stdout lines are
`PORT <path>` (first, flushed) and `DONE <samples>`; diagnostics go to logging (stderr).
"""

from __future__ import annotations

import argparse
import fcntl
import logging
import os
import signal
import struct
import sys
import termios
import time
from types import FrameType

import numpy as np

from fescontrol.errors import ConfigError
from fescontrol.sensing.frames import encode_heel_frame
from fescontrol_hil.gait import (
    MIN_DURATION_S,
    SCENARIOS,
    GaitRecording,
    generate,
    write_recording_csv,
    write_truth_csv,
)
from fescontrol_hil.pty_port import open_pty, write_nonblocking

log = logging.getLogger(__name__)

DRAIN_TIMEOUT_S = 1.0   # after the last sample, wait this long at most for the host to read
_SLEEP_MAX_S = 0.05     # sleep in slices so signals are handled promptly


class _Stop(Exception):
    """Raised from the SIGTERM/SIGINT handler to unwind the streaming loop."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fescontrol-hil sensor",
                                description="Emulate a heel-switch sensor on a pseudo-terminal.")
    p.add_argument("--scenario", choices=SCENARIOS, default="healthy")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--duration", type=float, default=60.0, help="seconds of recording")
    p.add_argument("--rate", type=float, default=100.0, help="samples per second")
    p.add_argument("--t0-mono-ns", type=int, default=None,
                   help="CLOCK_MONOTONIC ns at which sample 0 is sent (default: now)")
    p.add_argument("--speed", type=float, default=1.0, help="replay speed factor")
    p.add_argument("--truth", default=None, help="write the truth events csv here")
    p.add_argument("--recording", default=None, help="also write the force csv here")
    p.add_argument("--noise-garbage-every", type=int, default=0,
                   help="insert a few garbage bytes every N frames (0 = off)")
    return p


def _check(args: argparse.Namespace) -> None:
    """Reject values argparse accepts but the emulator cannot honour."""
    if not 0.0 < args.speed <= 1000.0:
        raise ConfigError(f"--speed {args.speed!r}: must be > 0 and <= 1000")
    if not args.duration >= MIN_DURATION_S:
        raise ConfigError(f"--duration {args.duration!r}: must be at least {MIN_DURATION_S} s")
    if not 10.0 <= args.rate <= 10_000.0:
        raise ConfigError(f"--rate {args.rate!r}: must be within 10 .. 10000 Hz")
    if args.noise_garbage_every < 0:
        raise ConfigError(f"--noise-garbage-every {args.noise_garbage_every!r}: must be >= 0")
    if args.t0_mono_ns is not None and args.t0_mono_ns < 0:
        raise ConfigError(f"--t0-mono-ns {args.t0_mono_ns!r}: must be >= 0")


def _garbage(rng: np.random.Generator) -> bytes:
    """2-6 random bytes; half of them start with a false sync, so the host sees bad frames."""
    junk = rng.integers(0, 256, int(rng.integers(2, 7)), dtype=np.uint8).tobytes()
    if rng.random() < 0.5:
        junk = b"\xa5\x5a" + junk
    return junk


def _frames(heel_N: np.ndarray, garbage_every: int, seed: int) -> list[bytes]:
    """Pre-encode every sample (with injected garbage in front of its frame) before t0."""
    rng = np.random.default_rng([seed, 0x6A5])  # separate stream: garbage does not alter the gait
    out = []
    for k, f in enumerate(heel_N.tolist()):
        frame = encode_heel_frame(k, f)
        if garbage_every and k % garbage_every == garbage_every - 1:
            frame = _garbage(rng) + frame
        out.append(frame)
    return out


def _unread_bytes(slave_fd: int) -> int:
    """Bytes written but not yet read by the host (FIONREAD on our own slave fd)."""
    buf = fcntl.ioctl(slave_fd, termios.FIONREAD, b"\0\0\0\0")
    return int(struct.unpack("i", buf)[0])


def _sleep_until(deadline_ns: int) -> None:
    while True:
        left = deadline_ns - time.monotonic_ns()
        if left <= 0:
            return
        time.sleep(min(left / 1e9, _SLEEP_MAX_S))


def _stream(master_fd: int, frames: list[bytes], t0_ns: int, period_ns: float) -> int:
    """Send frame k at t0 + k * period; return the number of bytes the pty dropped."""
    dropped = 0
    k = 0
    n = len(frames)
    while k < n:
        _sleep_until(t0_ns + int(round(k * period_ns)))
        now = time.monotonic_ns()
        due = min(n, int((now - t0_ns) // period_ns) + 1)  # late: everything already due at once
        due = max(due, k + 1)
        dropped += write_nonblocking(master_fd, b"".join(frames[k:due]))
        k = due
    return dropped


def _drain(slave_fd: int) -> None:
    """Give the host time to read the tail: closing the pty would discard unread bytes."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    time.sleep(0.02)
    while time.monotonic() < deadline:
        if _unread_bytes(slave_fd) == 0:
            return
        time.sleep(0.01)
    log.warning("sensor emulator: host left %d bytes unread at the end", _unread_bytes(slave_fd))


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def run(argv: list[str]) -> int:
    """Run the emulator; 0 when done or stopped by a signal, 2 on bad arguments.

    Order: generate, write the truth (and recording) files, open the pty and print
    `PORT`, stream from t0, let the host drain, print `DONE`. So when `PORT` is seen the
    truth file is complete. The host must open the port before t0: pyserial flushes the
    input queue on open, so samples sent earlier are lost to it.
    """
    old = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    master_fd = slave_fd = -1
    try:
        try:
            args = _parser().parse_args(argv)
        except SystemExit as exc:  # argparse already printed the option and the value
            return int(exc.code or 0)
        try:
            _check(args)
            rec = generate(args.scenario, args.seed, args.duration, args.rate)
            _write_files(rec, args)
        except ConfigError as exc:
            print(f"fescontrol-hil sensor: {exc}", file=sys.stderr)
            return 2
        frames = _frames(rec.heel_N, args.noise_garbage_every, args.seed)
        master_fd, slave_fd, path = open_pty()
        print(f"PORT {path}", flush=True)
        t0 = args.t0_mono_ns if args.t0_mono_ns is not None else time.monotonic_ns()
        dropped = _stream(master_fd, frames, t0, 1e9 / (args.rate * args.speed))
        if dropped:
            log.warning("sensor emulator: the pty dropped %d bytes (host not reading)", dropped)
        _drain(slave_fd)
        print(f"DONE {len(frames)}", flush=True)
        return 0
    except _Stop as exc:
        log.info("sensor emulator stopped by %s", exc)
        return 0
    finally:
        for sig in old:  # a second signal during clean-up must not raise again
            signal.signal(sig, signal.SIG_IGN)
        for fd in (master_fd, slave_fd):
            if fd >= 0:
                os.close(fd)
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _write_files(rec: GaitRecording, args: argparse.Namespace) -> None:
    """Write --truth and --recording before streaming; an unwritable path is bad input."""
    for option, path, writer in (("--truth", args.truth, write_truth_csv),
                                 ("--recording", args.recording, write_recording_csv)):
        if path:
            try:
                writer(rec, path)
            except OSError as exc:
                raise ConfigError(f"{option} {path}: cannot write: {exc.strerror or exc}") from exc
