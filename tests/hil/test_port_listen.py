"""`fescontrol ports --listen` against real emulators on real ptys: each port is named by what it
sends by itself, a port a session holds is reported busy and left alone, and a listened-to
stimulator still takes a session afterwards (nothing was written to it)."""

from __future__ import annotations

import json
import subprocess
import sys

import serial

from .conftest import read_jsonl, start_hil, stop_process


def _ports(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fescontrol", "ports", *args], capture_output=True, text=True,
                          timeout=60)


def test_listening_names_each_sensor_format_and_the_stimulators(tmp_path) -> None:  # type: ignore[no-untyped-def]
    procs = {}
    try:
        for name, kind, args in (("wt901", "sensor", ("--kind", "wt901", "--duration", "30")),
                                 ("heel", "sensor", ("--kind", "heel", "--duration", "30")),
                                 ("csv", "sensor", ("--kind", "csv-imu", "--duration", "30", "--rate", "50")),
                                 ("rehastim2", "stimulator", ("--out", str(tmp_path / "rs2"))),
                                 ("p24", "sm4-stimulator", ("--device", "p24", "--out", str(tmp_path / "p24")))):
            procs[name] = start_hil(kind, *args)
        port = {name: path for name, (_, path) in procs.items()}
        held = serial.Serial(port["heel"], exclusive=True, timeout=0)  # a session holds the heel sensor
        try:
            r = _ports("--listen", *port.values(), "--seconds", "1.5", "--json")
        finally:
            held.close()
        assert r.returncode == 0, r.stderr
        heard = json.loads(r.stdout)["listened"]
        assert heard[port["wt901"]]["what"].startswith("WitMotion WT901 packets (wt901), about ")
        assert heard[port["wt901"]]["use"] == "run --sensor-port with --sensor-format wt901"
        assert heard[port["csv"]]["what"].startswith("IMU text lines (csv), about ")
        rate = float(heard[port["csv"]]["what"].split("about ")[1].split()[0])
        assert 40 <= rate <= 55, heard[port["csv"]]  # 50 Hz, heard for 1.5 s less the open
        assert heard[port["heel"]]["what"].startswith("busy: another program holds it")
        assert heard[port["rehastim2"]]["what"].startswith("ScienceMode2 packets (")
        assert heard[port["rehastim2"]]["use"] == "run --stimulator-port with --device rehastim2"
        assert heard[port["p24"]]["what"].startswith("nothing in 1.5 s: a RehaMove3 or P24 sends nothing until asked")
        r = _ports("--listen", port["heel"], "--seconds", "0.5")  # released: now heard, as a table
        assert r.returncode == 0, r.stderr
        assert f"{port['heel']}  heel-switch or insole frames (type 0x01 / 0x03), about " in r.stdout, r.stdout
    finally:
        for proc, _ in procs.values():
            stop_process(proc)
    # nothing was written to either stimulator: their logs hold no packet from a host
    assert not [rec for rec in read_jsonl(tmp_path / "rs2" / "device.jsonl") if rec.get("dir") == "rx"]
    assert not [rec for rec in read_jsonl(tmp_path / "p24" / "device.jsonl") if rec.get("dir") == "rx"]


def test_bad_listening_options_are_exit_2() -> None:
    for args, words in ((("--seconds", "0.1"), "--seconds 0.1: allowed 0.2 to 10"),
                        (("--baud", "12"), "--baud 12: allowed 300 to 4000000")):
        r = _ports("--listen", "/dev/null", *args)
        assert r.returncode == 2 and words in r.stderr, (r.returncode, r.stderr)
