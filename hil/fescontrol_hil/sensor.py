"""Gait sensor emulator: streams a gait as binary frames on a pty, in real time.

The source is the seeded gait generator (`--scenario`, every scenario of `fescontrol_hil.gait`)
or a CONTRACT recording (`--from-recording REC.csv`, live replay). The frames are heel-switch
frames (`--kind heel`, type 0x01, the default), insole frames (`--kind insole`, type 0x03:
heel and forefoot force), 6-axis IMU frames of the foot or the shank (`--kind foot-imu`,
`--kind shank-imu`, type 0x02), the foot IMU as WitMotion WT901 packets (`--kind wt901`,
accel 0x51 + gyro 0x52 per sample, no counter; `--baud` must carry them, `--rate` is one of
the sensor's rates), or the foot IMU as CSV text lines (`--kind csv-imu`, a header line, then
`seq,gyr_x,gyr_y,gyr_z,acc_x,acc_y,acc_z` per sample; injected garbage is a line of its own).
`--axes=-y,x,z` mounts the IMU rotated or flipped: each sensor axis reads
the named (signed) axis of the source. An IMU recording (gyr_*_dps, acc_*_g) streams with the
IMU kinds; its dropouts (gaps) send nothing, as with force recordings.

A recording is read with `fescontrol.records.recording.read_recording` (its validation, its
rate: the sidecar's `rate_hz` or the one the time steps give) and streamed at that uniform
rate: row k of the sample grid is sample k (session time k / rate from the first row). A gap
in the recording (dropped packets) stays a gap: no frame is sent for it and the sequence
counter skips it, as a sensor that lost those samples would. The truth written by `--truth`
is `REC.events.csv` beside it, shifted onto session time (minus the first row's `t_s`);
without that file the truth has the header only. `--kind heel` streams `heel_N` of any force
recording; `--kind insole` needs `heel_N` and `fore_N`.

It behaves like the device: one frame per sample on a fixed absolute schedule (no drift:
each sample has its own deadline; a late process sends what is due at once), and bytes the
host does not read are dropped as a UART would drop them. Its only stdout lines are
`PORT <path>` (first, flushed) and `DONE <frames written>`; diagnostics go to logging (stderr).

Fault injection (all off by default, the same for every source and kind) changes only what is
sent: the heel force (`--stick`, `--chatter-from`; an insole's forefoot is unchanged), which
frames go out and with which CRC (`--keep-every`, `--corrupt`, `--loss-from`), the counter
they carry (`--restart-at`: it starts again from 0) and when the stream ends (`--freeze-at`,
`--unplug-at`). The truth (and `--recording`) files are the walk as
generated or recorded, unchanged. Each fault is a stderr warning when its first affected
sample is due.
"""

from __future__ import annotations

import argparse
import fcntl
import logging
import math
import os
import signal
import struct
import sys
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from types import FrameType

import numpy as np

from fescontrol.emulator_lines import port_line
from fescontrol.errors import ConfigError
from fescontrol.records.recording import KIND_HEEL_SWITCH, KIND_IMU, KIND_INSOLE, read_recording
from fescontrol.sensing.frames import encode_heel_frame, encode_insole_frame
from fescontrol.sensing.wt901 import DEFAULT_BAUD
from fescontrol_hil.emulator_process import STOP_SIGNALS, resolve_t0, t0_option
from fescontrol_hil.gait import (
    MIN_DURATION_S,
    SCENARIOS,
    GaitRecording,
    generate,
    write_recording_csv,
    write_truth_csv,
)
from fescontrol_hil.gait_imu import GYRO_RANGE_DPS
from fescontrol_hil.pty_port import open_pty, write_nonblocking
from fescontrol_hil.sensor_imu import (
    IMU_KINDS,
    KIND_MOUNT,
    check_wt901,
    imu_encoder,
    mount_axes,
    parse_axes,
    recording_imu,
)

log = logging.getLogger(__name__)

DRAIN_TIMEOUT_S = 1.0   # after the last sample, wait this long at most for the host to read
_SLEEP_MAX_S = 0.05     # sleep in slices so signals are handled promptly
LOADED_N = 600.0        # --stick loaded, and the high level of --chatter-from
CHATTER_RUN = 2         # --chatter-from: samples at each level
SWING_OFFSET_S = 0.100  # WHEN = swing:N is this long after the N-th true toe-off
KINDS = ("heel", "insole", *IMU_KINDS)
DEFAULT_SCENARIO = "healthy"
DEFAULT_DURATION_S = 60.0
DEFAULT_RATE_HZ = 100.0


class _Stop(Exception):
    """Raised from the SIGTERM/SIGINT handler to unwind the streaming loop."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fescontrol-hil sensor",
                                description="Emulate a heel-switch, insole or IMU sensor on a pseudo-terminal.")
    p.add_argument("--scenario", choices=SCENARIOS, default=None,
                   help=f"generated gait (default {DEFAULT_SCENARIO}); not with --from-recording")
    p.add_argument("--kind", choices=KINDS, default="heel",
                   help="frames sent: heel = type 0x01 heel force (default); insole = type 0x03 heel and "
                        "forefoot force; foot-imu / shank-imu = type 0x02 gyro + accel of that IMU; wt901 = the "
                        "foot IMU as WitMotion WT901 accel + gyro packets; csv-imu = the foot IMU as CSV text lines")
    p.add_argument("--axes", default=None, metavar="AX,AY,AZ",
                   help="IMU kinds: the sensor's x, y, z read these signed source axes (mounted rotated or "
                        "flipped), e.g. --axes=-y,x,z (default x,y,z)")
    p.add_argument("--gyro-range", type=float, default=None, metavar="DPS",
                   help="IMU kinds, generated gait: the gyro saturates at +-DPS (default 2000; an MPU6050's "
                        "default is 250)")
    p.add_argument("--imu-dropouts-per-min", type=float, default=None, metavar="R",
                   help="IMU kinds, generated gait: on average R runs of lost samples (10-120 ms) a minute; "
                        "nothing is sent for them and the counter skips them (default 0)")
    p.add_argument("--baud", type=int, default=None,
                   help=f"--kind wt901: the sensor's baud rate (default {DEFAULT_BAUD}); it must carry the packets")
    p.add_argument("--wt901-time", action="store_true",
                   help="--kind wt901: also send the time packet (0x50) first in each cycle, as a WT901 with its "
                        "time output on (RSW bit 0x01); its clock reads 2026-01-01 00:00:00.000 at sample 0")
    p.add_argument("--from-recording", default=None, metavar="REC.csv",
                   help="stream this CONTRACT recording (t_s, heel_N[, fore_N]; or t_s and the six IMU columns "
                        "for the IMU kinds) at its own rate instead of a generated gait; the truth is "
                        "REC.events.csv beside it when present")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--duration", type=float, default=None,
                   help=f"seconds of generated gait (default {DEFAULT_DURATION_S:g}); not with --from-recording")
    p.add_argument("--rate", type=float, default=None,
                   help=f"samples per second (default {DEFAULT_RATE_HZ:g}; with --from-recording the "
                        "recording's rate, and a different --rate is refused)")
    p.add_argument("--t0-mono-ns", type=t0_option, default=None,
                   help="CLOCK_MONOTONIC ns at which sample 0 is sent, or 'stdin': read the line "
                        "'T0 <ns>' from stdin after the PORT line (default: now)")
    p.add_argument("--speed", type=float, default=1.0, help="replay speed factor")
    p.add_argument("--truth", default=None, help="write the truth events csv here")
    p.add_argument("--recording", default=None, help="also write the force csv here")
    f = p.add_argument_group(
        "fault injection",
        "S is session time in seconds (sample k is at k / rate). WHEN is S, or swing:N = 100 ms "
        "after the N-th true toe-off (1-based) of the walk (generated, or the recording's truth). "
        "truth.csv and --recording are the walk, unchanged by faults.")
    f.add_argument("--noise-garbage-every", type=int, default=0, metavar="N",
                   help="insert a few garbage bytes every N frames (0 = off)")
    f.add_argument("--corrupt", default=None, metavar="K/M",
                   help="corrupt the CRC of the first K of every M frames written (3/4: frames 1, 2, 3 "
                        "of every 4 bad), counted from --loss-from")
    f.add_argument("--keep-every", type=int, default=1, metavar="N",
                   help="write only every N-th frame (the N-th, 2N-th, ... from --loss-from); the "
                        "others are dropped, the sequence counter still advances (default 1 = all)")
    f.add_argument("--loss-from", type=float, default=0.0, metavar="S",
                   help="--corrupt and --keep-every apply from S on (default 0)")
    f.add_argument("--stick", choices=("loaded", "unloaded"), default=None,
                   help=f"from --stick-from on the heel force is stuck at {LOADED_N:g} N (loaded) or 0 N")
    f.add_argument("--stick-from", default=None, metavar="WHEN", help="start of --stick (default 0)")
    f.add_argument("--chatter-from", default=None, metavar="WHEN",
                   help=f"from WHEN on the force alternates {LOADED_N:g} N / 0 N every {CHATTER_RUN} "
                        f"samples ({LOADED_N:g} first); if --stick is also given, the later start wins")
    f.add_argument("--freeze-at", default=None, metavar="WHEN",
                   help="from WHEN on nothing is sent, the port stays open until the end of the "
                        "stream duration (a hung sensor); then the usual end")
    f.add_argument("--restart-at", default=None, metavar="WHEN",
                   help="at WHEN the sensor restarts (a power dip, a reset): its counter starts again "
                        "from 0, the walk goes on; not with --kind wt901 (its packets carry no counter)")
    f.add_argument("--unplug-at", default=None, metavar="WHEN",
                   help="at WHEN the sensor stops sending and closes its pty at once (the host sees "
                        "the port vanish), then exits 0")
    return p


@dataclass(frozen=True)
class _Faults:
    """The fault options resolved to sample indices (None = off)."""

    corrupt: tuple[int, int] | None = None
    keep_every: int = 1
    loss_from: int = 0
    stick: str | None = None
    stick_from: int = 0
    chatter_from: int | None = None
    freeze_at: int | None = None
    restart_at: int | None = None
    unplug_at: int | None = None


def _source(args: argparse.Namespace) -> tuple[GaitRecording, np.ndarray | None]:
    """The gait to stream and, for a recording with gaps, which samples exist (None = all).

    A recording becomes a GaitRecording on its full sample grid: forces NaN in the gaps,
    truth shifted onto session time (seconds since the first row)."""
    if args.from_recording is None:
        rec = generate(args.scenario or DEFAULT_SCENARIO, args.seed,
                       DEFAULT_DURATION_S if args.duration is None else args.duration,
                       DEFAULT_RATE_HZ if args.rate is None else args.rate,
                       gyro_range_dps=GYRO_RANGE_DPS if args.gyro_range is None else args.gyro_range,
                       imu_dropouts_per_min=args.imu_dropouts_per_min or 0.0)
        return rec, None
    for option, value in (("--scenario", args.scenario), ("--duration", args.duration),
                          ("--gyro-range", args.gyro_range), ("--imu-dropouts-per-min", args.imu_dropouts_per_min)):
        if value is not None:
            raise ConfigError(f"{option} {value!r}: not with --from-recording (the recording is the gait)")
    src = read_recording(args.from_recording)
    if args.kind in IMU_KINDS and src.kind != KIND_IMU:
        raise ConfigError(f"--from-recording {args.from_recording}: a {src.kind} recording; --kind {args.kind} "
                          "streams IMU recordings (gyr_x_dps .. acc_z_g)")
    if args.kind not in IMU_KINDS and src.kind not in (KIND_HEEL_SWITCH, KIND_INSOLE):
        raise ConfigError(f"--from-recording {args.from_recording}: a {src.kind} recording; --kind {args.kind} "
                          "streams force recordings (heel_N, or heel_N and fore_N; use an IMU kind for IMU data)")
    if args.kind == "insole" and src.kind != KIND_INSOLE:
        raise ConfigError(f"--from-recording {args.from_recording}: --kind insole needs the columns heel_N "
                          "and fore_N; this recording has no fore_N (use --kind heel)")
    if not 10.0 <= src.rate_hz <= 10_000.0:
        raise ConfigError(f"--from-recording {args.from_recording}: rate {src.rate_hz:g} Hz; the emulator "
                          "streams 10 .. 10000 Hz")
    if args.rate is not None and abs(args.rate - src.rate_hz) > 1e-6 * src.rate_hz:
        raise ConfigError(f"--rate {args.rate!r}: the recording {args.from_recording} is sampled at "
                          f"{src.rate_hz:g} Hz (leave --rate out, or give that rate)")
    imu: dict[str, np.ndarray] = {}
    if args.kind in IMU_KINDS:
        mount, data = recording_imu(args.from_recording, src, args.kind)
        imu[mount] = data
        heel = np.full(data.shape[0], np.nan)
        fore = None
    else:
        heel = src.dense("heel_N")
        fore = src.dense("fore_N") if src.kind == KIND_INSOLE else None
    t0 = float(src.t_s[0])
    events = []
    for ev in src.truth or ():
        t = ev.t_s - t0
        if t >= 0.0:
            events.append((t, ev.kind))
    if src.truth is None and args.truth:
        log.warning("sensor emulator: %s has no events file beside it; --truth %s gets the header only",
                    args.from_recording, args.truth)
    if src.truth and len(events) < len(src.truth):
        log.warning("sensor emulator: %d truth events before the first row of %s left out",
                    len(src.truth) - len(events), args.from_recording)
    rec = GaitRecording(rate_hz=src.rate_hz, t_s=np.arange(heel.size, dtype=np.float64) / src.rate_hz,
                        heel_N=heel, events=tuple(events), scenario=f"recording:{src.name}", seed=args.seed,
                        fore_N=fore, foot_imu=imu.get("foot"), shank_imu=imu.get("shank"))
    present = np.isfinite(heel) if not imu else np.all(np.isfinite(next(iter(imu.values()))), axis=1)
    return rec, (None if present.all() else present)


def _sample_at(option: str, s: float, rec: GaitRecording) -> int:
    """First sample index at or after session time ``s``; within the stream."""
    n = rec.heel_N.size
    if not (math.isfinite(s) and 0.0 <= s < n / rec.rate_hz):
        raise ConfigError(f"{option} {s!r}: must be within 0 .. {n / rec.rate_hz:g} s (the stream)")
    return min(n - 1, math.ceil(s * rec.rate_hz - 1e-6))


def _when(option: str, text: str, rec: GaitRecording) -> int:
    """WHEN = seconds, or swing:N (100 ms after the N-th true toe-off, 1-based)."""
    if text.startswith("swing:"):
        toe_offs = [t for t, kind in rec.events if kind == "toe_off"]
        try:
            k = int(text[len("swing:"):])
        except ValueError:
            k = 0
        if not 1 <= k <= len(toe_offs):
            raise ConfigError(f"{option} {text!r}: swing:N needs N in 1 .. {len(toe_offs)} "
                              "(the toe-offs of this walk)")
        return _sample_at(option, toe_offs[k - 1] + SWING_OFFSET_S, rec)
    try:
        s = float(text)
    except ValueError:
        raise ConfigError(f"{option} {text!r}: expected seconds or swing:N") from None
    return _sample_at(option, s, rec)


def _resolve_faults(args: argparse.Namespace, rec: GaitRecording) -> _Faults:
    corrupt = None
    if args.corrupt is not None:
        k_text, _, m_text = args.corrupt.partition("/")
        try:
            corrupt = (int(k_text), int(m_text))
        except ValueError:
            corrupt = (-1, 0)
        if not (corrupt[1] >= 1 and 0 <= corrupt[0] <= corrupt[1]):
            raise ConfigError(f"--corrupt {args.corrupt!r}: expected K/M with 0 <= K <= M, M >= 1")
    if args.keep_every < 1:
        raise ConfigError(f"--keep-every {args.keep_every!r}: must be >= 1")
    if args.stick_from is not None and args.stick is None:
        raise ConfigError("--stick-from needs --stick loaded|unloaded")
    if args.restart_at is not None and args.kind == "wt901":
        raise ConfigError(f"--restart-at {args.restart_at!r}: WT901 packets carry no counter that could start again")
    return _Faults(
        corrupt=corrupt, keep_every=args.keep_every,
        loss_from=_sample_at("--loss-from", args.loss_from, rec),
        stick=args.stick,
        stick_from=_when("--stick-from", args.stick_from, rec) if args.stick_from is not None else 0,
        chatter_from=_when("--chatter-from", args.chatter_from, rec) if args.chatter_from is not None else None,
        freeze_at=_when("--freeze-at", args.freeze_at, rec) if args.freeze_at is not None else None,
        restart_at=_when("--restart-at", args.restart_at, rec) if args.restart_at is not None else None,
        unplug_at=_when("--unplug-at", args.unplug_at, rec) if args.unplug_at is not None else None)


def _faulty_force(heel_N: np.ndarray, faults: _Faults, notes: dict[int, list[str]]) -> np.ndarray:
    """The force to send: stuck or chattering from their start (the later start wins)."""
    heel = heel_N.copy()
    steps = []
    if faults.stick is not None:
        steps.append((faults.stick_from, "stick"))
    if faults.chatter_from is not None:
        steps.append((faults.chatter_from, "chatter"))
    for k0, kind in sorted(steps):
        if kind == "stick":
            heel[k0:] = LOADED_N if faults.stick == "loaded" else 0.0
            notes.setdefault(k0, []).append(f"stick {faults.stick} ({heel[k0]:g} N)")
        else:
            j = np.arange(heel.size - k0)
            heel[k0:] = np.where((j // CHATTER_RUN) % 2 == 0, LOADED_N, 0.0)
            notes.setdefault(k0, []).append(f"chatter {LOADED_N:g} N / 0 N every {CHATTER_RUN} samples")
    return heel


def _apply_loss(frames: list[bytes], faults: _Faults, notes: dict[int, list[str]]) -> list[bytes]:
    """Drop (b"") all but every N-th frame and corrupt the CRC of K of every M frames written."""
    if faults.keep_every == 1 and faults.corrupt is None:
        return frames
    out = list(frames)
    k0 = faults.loss_from
    what = []
    if faults.keep_every > 1:
        what.append(f"keep every {faults.keep_every}th frame")
    if faults.corrupt is not None:
        what.append(f"bad CRC in {faults.corrupt[0]} of every {faults.corrupt[1]} frames")
    notes.setdefault(k0, []).append(", ".join(what))
    written = 0
    for k in range(k0, len(out)):
        if (k - k0 + 1) % faults.keep_every:
            out[k] = b""
            continue
        if not out[k]:  # a gap of the recording: nothing to corrupt, nothing written
            continue
        if faults.corrupt is not None and written % faults.corrupt[1] < faults.corrupt[0]:
            out[k] = out[k][:-1] + bytes((out[k][-1] ^ 0xFF,))  # the CRC is the frame's last byte
        written += 1
    return out


def _check(args: argparse.Namespace) -> None:
    """Reject values argparse accepts but the emulator cannot honour."""
    if not 0.0 < args.speed <= 1000.0:
        raise ConfigError(f"--speed {args.speed!r}: must be > 0 and <= 1000")
    if args.duration is not None and not args.duration >= MIN_DURATION_S:
        raise ConfigError(f"--duration {args.duration!r}: must be at least {MIN_DURATION_S} s")
    if args.rate is not None and not 10.0 <= args.rate <= 10_000.0:
        raise ConfigError(f"--rate {args.rate!r}: must be within 10 .. 10000 Hz")
    if args.noise_garbage_every < 0:
        raise ConfigError(f"--noise-garbage-every {args.noise_garbage_every!r}: must be >= 0")
    if args.seed < 0:
        raise ConfigError(f"--seed {args.seed!r}: must be >= 0 (it seeds the gait generator)")
    if args.kind not in IMU_KINDS:
        for option, value in (("--axes", args.axes), ("--baud", args.baud), ("--gyro-range", args.gyro_range),
                              ("--imu-dropouts-per-min", args.imu_dropouts_per_min)):
            if value is not None:
                raise ConfigError(f"{option} {value!r}: only with an IMU kind ({', '.join(IMU_KINDS)})")
    else:
        for option, value in (("--stick", args.stick), ("--chatter-from", args.chatter_from)):
            if value is not None:
                raise ConfigError(f"{option} {value!r}: a force fault; --kind {args.kind} sends no force")
        if args.axes is not None:
            parse_axes(args.axes)
        if args.baud is not None and args.kind != "wt901":
            raise ConfigError(f"--baud {args.baud!r}: only with --kind wt901 (our frames have no fixed baud here)")
    if args.wt901_time and args.kind != "wt901":
        raise ConfigError(f"--wt901-time: only with --kind wt901 (--kind {args.kind} has no time packet)")


def _garbage(rng: np.random.Generator, false_start: bytes = b"\xa5\x5a", line_end: bytes = b"") -> bytes:
    """2-6 random bytes; half of them start with a false sync, so the host sees bad frames; with
    `line_end` (text lines) the junk is a bad line of its own."""
    junk = rng.integers(0, 256, int(rng.integers(2, 7)), dtype=np.uint8).tobytes()
    if rng.random() < 0.5:
        junk = false_start + junk
    return junk + line_end


def _frames(heel_N: np.ndarray, garbage_every: int, seed: int, fore_N: np.ndarray | None = None,
            present: np.ndarray | None = None, encode: Callable[[int, int], bytes] | None = None,
            false_start: bytes = b"\xa5\x5a", line_end: bytes = b"", restart_at: int | None = None) -> list[bytes]:
    """Pre-encode every sample (with injected garbage in front of its frame) before t0.

    `encode(k, counter)` (an IMU's frames) when given; else insole frames when `fore_N` is given,
    heel frames otherwise; a sample not `present` (a gap in a recording, a dropout) is no frame
    (b""), its sequence number is skipped. From `restart_at` on the counter is k - restart_at
    (the sensor restarted and counts from 0 again)."""
    rng = np.random.default_rng([seed, 0x6A5])  # separate stream: garbage does not alter the gait
    fore = fore_N.tolist() if fore_N is not None else None
    out = []
    for k, f in enumerate(heel_N.tolist()):
        if present is not None and not present[k]:
            out.append(b"")
            continue
        seq = k - restart_at if restart_at is not None and k >= restart_at else k
        if encode is not None:
            frame = encode(k, seq)
        else:
            frame = encode_heel_frame(seq, f) if fore is None else encode_insole_frame(seq, f, fore[k])
        if garbage_every and k % garbage_every == garbage_every - 1:
            frame = _garbage(rng, false_start, line_end) + frame
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


def _stream(master_fd: int, frames: list[bytes], t0_ns: int, period_ns: float,
            notes: dict[int, list[str]] | None = None) -> int:
    """Send frame k at t0 + k * period (an empty frame: nothing); return the number of bytes
    the pty dropped. ``notes`` are fault warnings, logged when their sample is due."""
    pending = sorted((notes or {}).items())
    dropped = 0
    k = 0
    n = len(frames)
    while k < n:
        _sleep_until(t0_ns + int(round(k * period_ns)))
        now = time.monotonic_ns()
        due = min(n, int((now - t0_ns) // period_ns) + 1)  # late: everything already due at once
        due = max(due, k + 1)
        while pending and pending[0][0] < due:
            _warn_fault(*pending.pop(0), period_ns)
        data = b"".join(frames[k:due])
        if data:
            dropped += write_nonblocking(master_fd, data)
        k = due
    return dropped


def _warn_fault(k: int, what: list[str], period_ns: float) -> None:
    for text in what:
        log.warning("sensor emulator: fault injected at sample %d (t=%.4f s): %s", k,
                    k * period_ns / 1e9, text)


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
    old = {s: signal.signal(s, _on_signal) for s in STOP_SIGNALS}
    master_fd = slave_fd = -1
    try:
        try:
            args = _parser().parse_args(argv)
        except SystemExit as exc:  # argparse already printed the option and the value
            return int(exc.code or 0)
        try:
            _check(args)
            rec, present = _source(args)
            rec = _mounted(rec, args)
            if args.kind == "wt901":
                check_wt901(rec.rate_hz, DEFAULT_BAUD if args.baud is None else args.baud, args.wt901_time)
            faults = _resolve_faults(args, rec)
            _write_files(rec, args)
        except ConfigError as exc:
            print(f"fescontrol-hil sensor: {exc}", file=sys.stderr)
            return 2
        notes: dict[int, list[str]] = {}
        heel = _faulty_force(rec.heel_N, faults, notes)
        fore = rec.fore_N if args.kind == "insole" else None
        encode = None
        if args.kind in IMU_KINDS:
            imu = rec.imu(rec.imu_mounts()[0])
            encode = imu_encoder(args.kind, imu, rec.rate_hz, args.wt901_time)
            present = np.all(np.isfinite(imu), axis=1)
        false_start = {"wt901": b"\x55", "csv-imu": b""}.get(args.kind, b"\xa5\x5a")
        frames = _apply_loss(_frames(heel, args.noise_garbage_every, args.seed, fore, present, encode, false_start,
                                     b"\r\n" if args.kind == "csv-imu" else b"", faults.restart_at),
                             faults, notes)
        if faults.restart_at is not None:
            notes.setdefault(faults.restart_at, []).append("restart: the counter starts again from 0")
        if faults.freeze_at is not None:
            frames[faults.freeze_at:] = [b""] * (len(frames) - faults.freeze_at)
            notes.setdefault(faults.freeze_at, []).append("freeze: nothing more is sent, the port stays open")
        end = len(frames) if faults.unplug_at is None else faults.unplug_at
        master_fd, slave_fd, path = open_pty()
        sys.stdout.write(port_line(path))
        sys.stdout.flush()
        t0 = resolve_t0(args.t0_mono_ns)
        if t0 is None:
            t0 = time.monotonic_ns()
        period_ns = 1e9 / (rec.rate_hz * args.speed)
        dropped = _stream(master_fd, frames[:end], t0, period_ns, notes)
        if dropped:
            log.warning("sensor emulator: the pty dropped %d bytes (host not reading)", dropped)
        written = sum(1 for frame in frames[:end] if frame)
        if faults.unplug_at is not None:
            _sleep_until(t0 + int(round(end * period_ns)))
            _warn_fault(end, ["unplug: the pty is closed"], period_ns)
            for fd in (master_fd, slave_fd):
                os.close(fd)
            master_fd = slave_fd = -1
            print(f"DONE {written}", flush=True)
            return 0
        _drain(slave_fd)
        print(f"DONE {written}", flush=True)
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


def _mounted(rec: GaitRecording, args: argparse.Namespace) -> GaitRecording:
    """For an IMU kind: the recording with only the streamed IMU, its axes as mounted (`--axes`)."""
    if args.kind not in IMU_KINDS:
        return rec
    mounts = rec.imu_mounts()
    mount = KIND_MOUNT[args.kind] if KIND_MOUNT[args.kind] in mounts else mounts[0]
    data = rec.imu(mount).astype(np.float64)
    if args.axes is not None:
        data = mount_axes(data, parse_axes(args.axes))
    return replace(rec, foot_imu=data if mount == "foot" else None, shank_imu=data if mount == "shank" else None)


def _write_files(rec: GaitRecording, args: argparse.Namespace) -> None:
    """Write --truth and --recording before streaming; an unwritable path is bad input."""
    def recording(r: GaitRecording, path: str) -> None:
        if args.kind in IMU_KINDS:
            write_recording_csv(r, path, imu=r.imu_mounts()[0])
        else:
            write_recording_csv(r, path, insole=args.kind == "insole")

    for option, path, writer in (("--truth", args.truth, write_truth_csv),
                                 ("--recording", args.recording, recording)):
        if path:
            try:
                writer(rec, path)
            except OSError as exc:
                raise ConfigError(f"{option} {path}: cannot write: {exc.strerror or exc}") from exc
