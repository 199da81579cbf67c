"""Drive a RehaStim 2 (here: the emulator) with the published pysciencemode client, as a process.

Run by tests/interop/test_pysciencemode.py as ``python pysciencemode_driver.py PORT [options]``.
pysciencemode runs non-daemon threads and busy-waits for replies, so it lives in its own
process that the test can kill. Prints one JSON object per line (what the client saw) and
ends with ``{"event": "done"}``. Uses only pysciencemode's public API plus two of its private
methods (``_send_packet``/``_get_last_ack``), because it has no public GetStimulationMode.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import sys
import time
from typing import Any

from pysciencemode import Channel, Rehastim2

from fescontrol.protocol import sciencemode2 as sm2


def emit(**event: Any) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def await_init(port: str, before: int, timeout_s: float = 5.0) -> None:
    """Return right after the device sent the Init with packet number ``before - 1``.

    The device repeats Init every 500 ms; pysciencemode answers the first one it reads
    after opening the port. Watching for the one before lets a test choose which Init
    packet number pysciencemode meets, whatever the start-up time of this process.
    Reads the raw fd without touching the line settings: on a pty, a second pyserial
    open after a first one fails in tcsetattr (EINVAL).
    """
    decoder = sm2.Decoder()
    fd = os.open(port, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if not select.select([fd], [], [], 0.02)[0]:
                continue
            for item in decoder.feed(os.read(fd, 64)):
                if isinstance(item, sm2.Packet) and item.command == sm2.Cmd.INIT:
                    if item.packet_number == before - 1:
                        return
                    if item.packet_number >= before:
                        raise SystemExit(f"missed Init {before - 1}: saw {item.packet_number} first")
    finally:
        os.close(fd)
    raise SystemExit(f"no Init {before - 1} within {timeout_s} s")


def channels(ch1_ma: int) -> list[Channel]:
    # 341 us = 0x155 and 10 mA = 0x0A: data bytes pysciencemode over-escapes
    return [Channel(mode="Single", no_channel=1, amplitude=ch1_ma, pulse_width=341, device_type="Rehastim2"),
            Channel(mode="Single", no_channel=2, amplitude=10, pulse_width=250, device_type="Rehastim2")]


def wait_for_keepalive_tick(stim: Rehastim2, timeout_s: float = 2.0) -> None:
    """Return just after pysciencemode's own watchdog thread wrote a Watchdog packet."""
    last = stim.time_last_cmd
    end = time.monotonic() + timeout_s
    while stim.time_last_cmd == last:
        if time.monotonic() > end:
            raise SystemExit("pysciencemode sent no keep-alive")
        time.sleep(0.002)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("port")
    p.add_argument("--await-init", type=int, default=None, metavar="N",
                   help="make pysciencemode meet the Init with packet number N")
    p.add_argument("--inter-pulse-ms", type=int, default=None,
                   help="inter_pulse_interval for init_channel (default: pysciencemode's own, 2 ms)")
    p.add_argument("--gap", action="store_true",
                   help="start right after a keep-alive tick, then idle 1.8 s")
    p.add_argument("--get-mode", action="store_true", help="send GetStimulationMode before stopping")
    args = p.parse_args()

    if args.await_init is not None:
        await_init(args.port, args.await_init)
    stim = Rehastim2(args.port)
    emit(event="connected")
    extra = {} if args.inter_pulse_ms is None else {"inter_pulse_interval": args.inter_pulse_ms}
    if args.gap:  # start just after a tick: the thread then skips its next one (less than 0.8 s idle)
        wait_for_keepalive_tick(stim)
        time.sleep(0.05)
    stim.init_channel(stimulation_interval=25, list_channels=channels(30), **extra)
    stim.start_stimulation()
    emit(event="started", t_mono_ns=time.monotonic_ns())
    if args.gap:
        time.sleep(1.8)
    else:
        time.sleep(0.1)
        stim.pause_stimulation()
        emit(event="paused")
    if args.get_mode:
        stim._send_packet("GetStimulationMode")
        reply = stim._get_last_ack()
        try:
            meaning = stim._calling_ack(reply)
        except RuntimeError as exc:
            meaning = f"RuntimeError: {exc}"
        emit(event="get_mode", reply_hex=bytes(reply).hex(" "), meaning=meaning)
    stim.end_stimulation()
    emit(event="stopped")
    stim.port.close()
    emit(event="done")
    os._exit(0)  # pysciencemode's threads are not daemons and poll every 0.8 s: do not wait for them


if __name__ == "__main__":
    main()
