"""A sensor on the network (`--sensor-port socket://HOST:PORT`, a WiFi board streaming our
frames over TCP): `run` opens it through pyserial's URL handler and walks with it. Before, the
URL passed the argument checks and then could not be opened (exit 3, "No such file or
directory"); and read as a tty, a network port, which says only whether bytes wait (0 or 1),
was read a byte a tick, so its backlog came in late and tripped the clock-drift check."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from fescontrol_hil.gait import generate

from fescontrol.sensing.frames import encode_heel_frame

from .conftest import read_jsonl, start_hil, stop_process

RATE_HZ = 100.0
WALK_S = 14.0


def _serve_walk(server: socket.socket, heel_N: np.ndarray) -> None:
    """Accept one connection and stream the walk's heel frames at the sensor's rate, from the
    moment it connects (as a board does): `run` holds the port through its warm-up and handshake."""
    conn, _ = server.accept()
    with conn:
        start = time.monotonic()
        for k, force in enumerate(heel_N):
            delay = start + k / RATE_HZ - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            try:
                conn.sendall(encode_heel_frame(k & 0xFFFF, float(max(force, 0.0))))
            except OSError:
                return


def test_a_sensor_on_the_network_walks_a_session(tmp_path: Path) -> None:
    walk = generate("healthy", 4, WALK_S, RATE_HZ)
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    feeder = threading.Thread(target=_serve_walk, args=(server, walk.heel_N), daemon=True)
    feeder.start()
    stim, stim_port = start_hil("stimulator", "--out", str(tmp_path / "emu"))
    try:
        r = subprocess.run([sys.executable, "-m", "fescontrol", "run", "--device", "rehastim2", "--sensor-port",
                            f"socket://127.0.0.1:{port}", "--stimulator-port", stim_port, "--yes",
                            "--out", str(tmp_path / "run")], capture_output=True, text=True, timeout=90)
    finally:
        stop_process(stim)
        server.close()
    assert r.returncode == 0, r.stderr
    log = read_jsonl(tmp_path / "run" / "session.jsonl")
    assert log[0]["sensor_port"] == f"socket://127.0.0.1:{port}"
    (backlog,) = [rec for rec in log if rec["kind"] == "sensor_backlog"]
    assert backlog["network_port"] is True
    assert not [rec for rec in log if rec["kind"] == "fault"]
    end = [rec for rec in log if rec["kind"] == "session_end"][-1]
    assert end["steps"] >= 5 and end["bursts"] >= 5, end


def test_listening_to_a_sensor_on_the_network_names_its_frames() -> None:
    walk = generate("healthy", 4, 10.0, RATE_HZ)
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    threading.Thread(target=_serve_walk, args=(server, walk.heel_N), daemon=True).start()
    try:
        r = subprocess.run([sys.executable, "-m", "fescontrol", "ports", "--listen", f"socket://127.0.0.1:{port}",
                            "--seconds", "1"], capture_output=True, text=True, timeout=60)
    finally:
        server.close()
    assert r.returncode == 0, r.stderr
    assert f"socket://127.0.0.1:{port}  heel-switch or insole frames (type 0x01 / 0x03), about " in r.stdout, r.stdout
