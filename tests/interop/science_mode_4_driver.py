"""Drive a P24 (here: the emulator) with the published science_mode_4 client, as a process.

Run by tests/interop/test_science_mode_4.py as ``python science_mode_4_driver.py PORT [options]``.
Uses the client's public API only: SerialPortConnection, DeviceP24, its general and mid-level
layers. Prints one JSON object per line and ends with ``{"event": "done"}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from science_mode_4 import ChannelPoint, DeviceP24, MidLevelChannelConfiguration, SerialPortConnection


def emit(**event: Any) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def biphasic(ma: float, us: int) -> list[ChannelPoint]:
    return [ChannelPoint(us, ma), ChannelPoint(100, 0), ChannelPoint(us, -ma)]


async def session(port: str, poll_s: float, polls: int) -> None:
    conn = SerialPortConnection(port)
    conn.open()
    try:
        device = DeviceP24(conn)
        await device.initialize()
        general = device.get_layer_general()
        emit(event="initialized", device_id=general.device_id, firmware=general.firmware_version,
             science_mode=general.science_mode_version)
        mid = device.get_layer_mid_level()
        await mid.init(do_stop_on_all_errors=False)
        # channel index 0 (P24 channel 1) at 40 Hz, index 2 (channel 3) at 20 Hz; index 1 unused
        await mid.update([MidLevelChannelConfiguration(True, 0, 25, biphasic(20.5, 300)), None,
                          MidLevelChannelConfiguration(True, 0, 50, biphasic(12, 200))])
        emit(event="updated", t_mono_ns=time.monotonic_ns())
        for _ in range(polls):  # Ml_get_current_data is the keep-alive (2 s watchdog) and the error report
            data = await mid.get_current_data()
            emit(event="current_data", t_mono_ns=time.monotonic_ns(),
                 active=data.is_stimulation_active_per_channel, errors=[e.name for e in data.channel_error])
            await asyncio.sleep(poll_s)
        status = await general.get_stim_status()
        emit(event="stim_status", status=status.stim_status.name, high_voltage=status.high_voltage_on)
        await mid.stop()
        emit(event="stopped")
    finally:
        conn.close()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("port")
    p.add_argument("--poll-s", type=float, default=0.1, help="seconds between Ml_get_current_data")
    p.add_argument("--polls", type=int, default=3)
    args = p.parse_args()
    asyncio.run(asyncio.wait_for(session(args.port, args.poll_s, args.polls), timeout=20))
    emit(event="done")


if __name__ == "__main__":
    main()
