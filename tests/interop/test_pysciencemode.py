"""pysciencemode 1.1.5 (s2mLab, a published RehaStim 2 client) drives the RehaStim 2 emulator.

Each test runs the real client in its own process (pysciencemode_driver.py) on a real pty
and reads what reached the device from the emulator's device.jsonl (wire bytes and the
project's decoding) and stim.csv. Where the session fails, the test pins the client's bytes
and shows that the strict emulator refuses them while ``--lenient`` accepts them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fescontrol.protocol import sciencemode2 as sm2
from fescontrol.protocol.sciencemode2 import ChannelSetting

from .conftest import Run, run_client

pytest.importorskip("pysciencemode")

DRIVER = "pysciencemode_driver.py"


def run(tmp_path: Path, *emulator: str, client: tuple[str, ...] = ()) -> Run:
    return run_client(tmp_path, ["stimulator", *emulator], [DRIVER, "{port}", *client])


def acks(r: Run, command: str) -> list[int]:
    return [int(f["result"]) for f in r.frames("tx", command)]


def test_strict_session_over_escaped_data_and_the_misnumbered_get_stimulation_mode(tmp_path: Path) -> None:
    r = run(tmp_path, client=("--inter-pulse-ms", "8", "--get-mode"))
    # the session itself works: every command acked 0, the device delivered what was sent
    assert acks(r, "INIT_CHANNEL_LIST_MODE_ACK") == [0]
    assert acks(r, "START_CHANNEL_LIST_MODE_ACK") == [0, 0]
    assert acks(r, "STOP_CHANNEL_LIST_MODE_ACK")[-1] == 0
    on = {(row["channel"], row["current_mA"], row["pulse_width_us"], row["frequency_hz"]) for row in r.outputs_on()}
    assert on == {("1", "30", "341", "40.0"), ("2", "10", "250", "40.0")}
    assert r.stim[-1]["current_mA"] == "0" and r.stim[-2]["current_mA"] == "0"

    # pysciencemode escapes the data bytes 55 (341 us = 01 55) and 0A (10 mA): 81 00 and 81 5F
    start = r.frames("rx", "START_CHANNEL_LIST_MODE")[0]
    wire = bytes.fromhex(start["hex"])
    assert wire.endswith(bytes.fromhex("20 00 01 81 00 1e 00 00 fa 81 5f 0f"))
    ours = sm2.start_channel_list_mode(start["packet_number"], [ChannelSetting(0, 341, 30), ChannelSetting(0, 250, 10)])
    assert ours.endswith(bytes.fromhex("20 00 01 55 1e 00 00 fa 0a 0f")) and len(ours) == len(wire) - 2
    assert start["quirks"] == [sm2.QUIRK_OVER_ESCAPED]
    assert {q["quirk"] for q in r.quirks(accepted=True)} == {sm2.QUIRK_OVER_ESCAPED}

    # GetStimulationMode goes out with command byte 5F (0A XORed, no escape): the device does not know it
    (get_mode,) = [f for f in r.frames("rx") if f["command_id"] == 0x5F]
    assert bytes.fromhex(get_mode["hex"])[-2:] == bytes.fromhex("5f 0f")
    assert sm2.get_stimulation_mode(get_mode["packet_number"])[-2:] == bytes.fromhex("0a 0f")
    (unknown,) = r.frames("tx", "UNKNOWN_COMMAND")
    assert unknown["fields"] == {"received_command": 0x5F}
    (refused,) = r.quirks(accepted=False)
    assert refused["quirk"] == sm2.QUIRK_XOR_COMMAND and refused["meant"] == "GET_STIMULATION_MODE"
    assert r.event("get_mode")["meaning"] == "RuntimeError: Error packet : not understood 3"
    assert "refused host quirk xor_command_without_escape" in r.emulator_stderr
    assert not [f for f in r.frames("rx") if "bad" in f]


def test_strict_refuses_the_default_2_ms_inter_pulse_interval(tmp_path: Path) -> None:
    r = run(tmp_path)
    (init,) = r.frames("rx", "INIT_CHANNEL_LIST_MODE")
    assert init["fields"]["group_time_code"] == 1  # 2 ms: 1.5 ms + 0.5 ms * 1
    assert acks(r, "INIT_CHANNEL_LIST_MODE_ACK") == [-2]
    assert set(acks(r, "START_CHANNEL_LIST_MODE_ACK")) == {-3}  # never initialised
    assert r.outputs_on() == []
    assert [q["quirk"] for q in r.quirks(accepted=False)] == [sm2.QUIRK_SHORT_GROUP_TIME]
    assert r.event("done")  # and pysciencemode did not notice: it never checks these results


def test_lenient_accepts_the_2_ms_interval_and_the_misnumbered_get_stimulation_mode(tmp_path: Path) -> None:
    r = run(tmp_path, "--lenient", client=("--get-mode",))
    assert acks(r, "INIT_CHANNEL_LIST_MODE_ACK") == [0]
    assert acks(r, "START_CHANNEL_LIST_MODE_ACK") == [0, 0]
    assert {(row["channel"], row["current_mA"]) for row in r.outputs_on()} == {("1", "30"), ("2", "10")}
    assert [int(f["result"]) for f in r.frames("tx", "GET_STIMULATION_MODE_ACK")] == [0]
    assert r.event("get_mode")["meaning"] == "Stimulation started"
    accepted = {q["quirk"] for q in r.quirks(accepted=True)}
    assert accepted == {sm2.QUIRK_OVER_ESCAPED, sm2.QUIRK_SHORT_GROUP_TIME, sm2.QUIRK_XOR_COMMAND}
    assert r.quirks(accepted=False) == []
    assert "accepted pysciencemode quirk group_time_below_8ms" in r.emulator_stderr


@pytest.mark.parametrize("lenient", [False, True], ids=["strict", "lenient"])
def test_init_packet_number_15_breaks_the_handshake_unless_lenient(tmp_path: Path, lenient: bool) -> None:
    emulator = ("--init-packet-number", "11", *(("--lenient",) if lenient else ()))  # Init 14 at 1.5 s
    r = run(tmp_path, *emulator, client=("--await-init", "15", "--inter-pulse-ms", "8"))
    # the device's Init 15 escapes its packet number; pysciencemode answers 0xD4: 0x81 (raw offset 5) ^ 0x55
    init15 = [f for f in r.frames("tx", "INIT") if f["packet_number"] == 15]
    assert bytes.fromhex(init15[0]["hex"]) == sm2.init(15) and b"\x81\x5a" in sm2.init(15)[5:]
    (init_ack,) = r.frames("rx", "INIT_ACK")
    assert init_ack["packet_number"] == 0xD4 == sm2.pysciencemode_init_ack_pn(15)
    (quirk,) = [q for q in r.quirks() if q["quirk"] == sm2.QUIRK_XOR_PACKET_NUMBER]
    assert quirk["accepted"] is lenient and quirk["init_packet_number"] == 15
    if lenient:
        assert acks(r, "STOP_CHANNEL_LIST_MODE_ACK") == [0, 0]
        assert acks(r, "START_CHANNEL_LIST_MODE_ACK") == [0, 0]
        assert {row["channel"] for row in r.outputs_on()} == {"1", "2"}
    else:  # no valid InitAck: the link is down, so even Stop (allowed in every mode once linked) gets -3
        assert acks(r, "STOP_CHANNEL_LIST_MODE_ACK") == [-3, -3]
        assert acks(r, "INIT_CHANNEL_LIST_MODE_ACK") == [-3]
        assert r.outputs_on() == []
    assert r.event("done")


@pytest.mark.parametrize("lenient", [False, True], ids=["strict", "lenient"])
def test_keepalive_thread_leaves_gaps_longer_than_the_watchdog(tmp_path: Path, lenient: bool) -> None:
    r = run(tmp_path, *(("--lenient",) if lenient else ()), client=("--gap", "--inter-pulse-ms", "8"))
    # measured on the device: between the client's commands only its keep-alive thread writes, every
    # 0.8 s if nothing else was sent in the last 0.8 s, so one gap in two is 0.8-1.6 s long
    (init_ack,) = r.frames("rx", "INIT_ACK")
    rx = [f for f in r.frames("rx") if f["t_mono_ns"] >= init_ack["t_mono_ns"]]
    gaps = [(a, (b["t_mono_ns"] - a["t_mono_ns"]) / 1e6) for a, b in zip(rx, rx[1:])]
    long_gaps = [(a, ms) for a, ms in gaps if ms > 1200]
    assert long_gaps and all(ms < 2000 for _a, ms in long_gaps), gaps
    stop_ack = r.frames("tx", "STOP_CHANNEL_LIST_MODE_ACK")[-1]
    if lenient:
        seen = [q["gap_ms"] for q in r.quirks(accepted=True) if q["quirk"] == sm2.QUIRK_KEEPALIVE_GAP]
        assert seen == pytest.approx([ms for _a, ms in long_gaps], abs=0.01)
        assert acks(r, "START_CHANNEL_LIST_MODE_ACK") == [0] and int(stop_ack["result"]) == 0
        assert {row["channel"] for row in r.outputs_on()} == {"1", "2"}
        assert float(r.stim[-1]["t_s"]) == pytest.approx((stop_ack["t_mono_ns"] - r.t0_ns) / 1e9, abs=1e-3)
    else:  # the watchdog expired 1.2 s after the last packet before the first long gap: link lost
        last_before, _ms = long_gaps[0]
        expired = [f for f in r.frames("tx", "INIT") if f["t_mono_ns"] > init_ack["t_mono_ns"]][0]
        assert (expired["t_mono_ns"] - last_before["t_mono_ns"]) / 1e6 == pytest.approx(1200, abs=2)
        assert "no valid packet for 1200 ms" in r.emulator_stderr
        assert int(stop_ack["result"]) == -3
        t_expired = (expired["t_mono_ns"] - r.t0_ns) / 1e9
        assert all(float(row["t_s"]) <= t_expired + 1e-3 for row in r.stim)  # nothing delivered after it
        assert r.stim == [] or float(r.stim[-1]["t_s"]) == pytest.approx(t_expired, abs=1e-3)
