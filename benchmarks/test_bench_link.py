"""Real-rate round trip over a real pty: host write -> emulator (own process) -> ack read.

With `--ack-delay-ms 0` this measures the transport floor the controller adds on top of the
device's own processing time (RehaStim 2: 10-24 ms by its README).
"""

from __future__ import annotations

import select
import subprocess
import sys

import pytest
import serial

from fescontrol.protocol import sciencemode2 as sm2


@pytest.fixture(scope="module")
def linked_port(tmp_path_factory):
    out = tmp_path_factory.mktemp("emulator")
    proc = subprocess.Popen([sys.executable, "-m", "fescontrol_hil", "stimulator", "--out", str(out),
                             "--ack-delay-ms", "0"], stdout=subprocess.PIPE, text=True)
    ready, _, _ = select.select([proc.stdout], [], [], 20)
    line = proc.stdout.readline() if ready else ""
    assert line.startswith("PORT "), line
    port = serial.Serial(line.split()[1], baudrate=460800, parity=serial.PARITY_EVEN, timeout=1.0)
    decoder = sm2.Decoder()
    init = None
    while init is None:
        for item in decoder.feed(port.read(max(1, port.in_waiting))):
            if isinstance(item, sm2.Packet) and item.command == sm2.Cmd.INIT:
                init = item
    port.write(sm2.init_ack(init.packet_number, 0))
    yield port, decoder
    port.close()
    proc.terminate()
    proc.wait(10)


def test_bench_get_mode_round_trip(benchmark, linked_port):
    port, decoder = linked_port
    pn = [0]

    def round_trip() -> int:
        pn[0] = (pn[0] + 1) % 256
        port.write(sm2.get_stimulation_mode(pn[0]))
        while True:
            for item in decoder.feed(port.read(max(1, port.in_waiting))):
                if isinstance(item, sm2.Packet) and item.command == sm2.Cmd.GET_STIMULATION_MODE_ACK:
                    return item.packet_number

    assert benchmark(round_trip) == pn[0]
