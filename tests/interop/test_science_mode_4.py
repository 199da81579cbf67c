"""science_mode_4 0.0.23 (a published pure-Python ScienceMode4 client) drives the P24 emulator.

The client runs in its own process (science_mode_4_driver.py) on a real pty; the test reads
what reached the device from the emulator's device.jsonl (wire bytes and the project's
decoding) and stim.csv, and what the client understood from its own report.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fescontrol.protocol import sciencemode4 as sm4

from .conftest import Run, run_client

pytest.importorskip("science_mode_4")

DRIVER = "science_mode_4_driver.py"


def run(tmp_path: Path, *emulator: str, client: tuple[str, ...] = ()) -> Run:
    return run_client(tmp_path, ["sm4-stimulator", "--device", "p24", *emulator], [DRIVER, "{port}", *client])


def test_session_every_frame_decodes_and_the_device_delivers_what_was_sent(tmp_path: Path) -> None:
    # 64 keep-alive polls: the 6-bit packet number passes 60 (prefix byte F0, escaped) and wraps to 0
    r = run(tmp_path, client=("--polls", "64", "--poll-s", "0"))
    init = r.event("initialized")
    assert init == {"event": "initialized", "device_id": "P24-EMU-01", "firmware": "1.0.0", "science_mode": "4.0.0"}
    rx = r.frames("rx")
    assert rx and all("bad" not in f and "error" not in f for f in rx)
    for f in rx:  # the project's codec reads every frame the client wrote, byte for byte
        packet = sm4.decode_frame(bytes.fromhex(f["hex"]))
        assert (packet.packet_number, packet.command) == (f["packet_number"], f["command_id"])
        assert sm4.encode(packet) == bytes.fromhex(f["hex"])  # and would have written the same bytes
    numbers = [f["packet_number"] for f in rx]
    assert numbers[:3] == [1, 2, 3] and 60 in numbers and 0 in numbers
    (pn60,) = [f for f in rx if f["packet_number"] == 60 and f["command"] == "ML_GET_CURRENT_DATA"][:1]
    assert "81 a5" in pn60["hex"]  # 60 << 2 = F0 escaped
    commands = [f["command"] for f in rx]
    assert commands[:5] == ["GET_STIM_STATUS", "GET_DEVICE_ID", "GET_EXTENDED_VERSION", "ML_INIT", "ML_UPDATE"]
    assert commands[-2:] == ["GET_STIM_STATUS", "ML_STOP"]
    assert all(int(f["result"]) == 0 for f in r.frames("tx"))
    assert len(r.frames("tx")) == len(rx)
    # the update held blocks for the enabled channels only (C-2 trap 12, fixed in 0.0.18)
    (update,) = r.frames("rx", "ML_UPDATE")
    assert [c["channel"] for c in update["fields"]["channels"]] == [0, 2]
    on = {(row["channel"], row["current_mA"], row["pulse_width_us"], row["frequency_hz"]) for row in r.outputs_on()}
    assert on == {("1", "20.5", "300", "40.0"), ("3", "12", "200", "20.0")}
    polls = [e for e in r.events if e["event"] == "current_data"]
    assert len(polls) == 64 and all(p["active"][:3] == [True, False, True] for p in polls)
    assert r.event("stim_status") == {"event": "stim_status", "status": "MID_LEVEL_RUNNING", "high_voltage": True}
    assert [row["current_mA"] for row in r.stim[-2:]] == ["0", "0"]


def test_electrode_error_reaches_the_client_through_current_data(tmp_path: Path) -> None:
    r = run(tmp_path, "--fault", "electrode-error", "--fault-at", "1.5", client=("--polls", "22", "--poll-s", "0.1"))
    (fault,) = [d for d in r.device if d.get("kind") == "fault_injected"]
    t_fault = fault["t_mono_ns"]
    assert r.event("updated")["t_mono_ns"] < t_fault, "the client started too late for the fault"
    assert fault["effect"] == "outputs_off" and fault["channel"] == 0 and fault["stopped"] == [0]
    polls = [e for e in r.events if e["event"] == "current_data"]
    before = [p for p in polls if p["t_mono_ns"] < t_fault]
    after = [p for p in polls if p["t_mono_ns"] > t_fault + 20_000_000]
    assert before and after
    assert all(p["errors"][0] == "NO_ERROR" and p["active"][:3] == [True, False, True] for p in before)
    assert all(p["errors"][0] == "ELECTRODE_ERROR" and p["active"][:3] == [False, False, True] for p in after)
    off = [row for row in r.stim if row["channel"] == "1" and row["current_mA"] == "0"]
    assert float(off[0]["t_s"]) == pytest.approx((t_fault - r.t0_ns) / 1e9, abs=1e-3)
