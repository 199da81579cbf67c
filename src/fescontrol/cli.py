"""Command line: argument parsing only; each command calls one function of a module below."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Sequence

from fescontrol import replay_cli
from fescontrol.errors import ConfigError, FesError, OperatorStop
from fescontrol.protocol.firmware import all_firmware
from fescontrol.scenarios import SCENARIOS
from fescontrol.sensing.link_budget import DEFAULT_SENSOR_BAUD

EXIT_BAD_INPUT = 2
EXIT_OPERATOR = 130
DEVICE_MODELS = list(all_firmware())
"""Stimulator models: every model a protocol module declares (one embedded device profile each)."""


def build_parser() -> argparse.ArgumentParser:
    # argparse's own errors (unknown option, missing value) exit with status 2 as well
    parser = argparse.ArgumentParser(prog="fescontrol", description="Drop-foot FES controller (research software, "
                     "not a certified medical device).")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    sim = sub.add_parser("simulate", help="run a whole session against emulated sensor and stimulator")
    sim.add_argument("--duration", type=float, default=60.0, help="seconds of gait to simulate (default 60)")
    sim.add_argument("--seed", type=int, default=1, help="seed of the gait generator (default 1)")
    sim.add_argument("--scenario", default="healthy",
                     help=f"gait scenario of the generator: {' | '.join(SCENARIOS)} (default healthy)")
    sim.add_argument("--out", type=Path, help="output folder (new or empty; default runs/simulate-...)")
    sim.add_argument("--profile", type=Path, help="patient profile TOML (default: embedded example)")
    sim.add_argument("--device", choices=DEVICE_MODELS, default="rehastim2",
                     help="stimulator model, emulated (default rehastim2)")
    sim.add_argument("--device-config", type=Path, help="device caps TOML (default: embedded for --device)")
    sim.add_argument("--speed", type=float, default=1.0, help="replay speed factor (default 1 = real time)")
    sim.add_argument("--rate", type=float, default=100.0, help="sensor sample rate in Hz, 20 to 1000 (default 100)")
    sim.add_argument("--sensor", choices=["heel", "insole", "foot-imu", "shank-imu", "wt901", "csv-imu"], default="heel",
                     help="emulated sensor: heel switch (default), insole, or an IMU on the foot / shank (frame "
                          "type 0x02), a WitMotion WT901 on the foot, or a foot IMU printing CSV lines; an IMU uses "
                          "the embedded IMU profile unless --profile is given")

    run = sub.add_parser("run", help="drive a real (or stand-alone emulated) sensor and stimulator")
    run.add_argument("--device", required=True, choices=DEVICE_MODELS,
                     help="stimulator model; its embedded device profile is used unless --device-config is given")
    run.add_argument("--sensor-port", required=True,
                     help="the sensor's serial port (a device path), or a pyserial URL such as socket://HOST:PORT "
                          "for a sensor that streams its frames over the network")
    run.add_argument("--stimulator-port", required=True, help="serial port of the stimulator")
    run.add_argument("--sensor-format", choices=["imu6", "wt901", "csv"], default=None,
                     help="an IMU sensor's wire format: imu6 = frame type 0x02 (the default for an IMU profile), "
                          "wt901 = WitMotion packets, csv = text lines; given without --profile, the embedded IMU "
                          "profile is used (a force profile reads heel / insole frames only)")
    run.add_argument("--sensor-baud", type=int, default=DEFAULT_SENSOR_BAUD,
                     help=f"the sensor port's baud rate (default {DEFAULT_SENSOR_BAUD}; a WT901 left at its factory "
                          "9600 needs 9600 and --rate 20 or less, or set it faster); checked against --rate")
    run.add_argument("--profile", type=Path, help="patient profile TOML (default: embedded example)")
    run.add_argument("--device-config", type=Path, help="device caps TOML (default: embedded for --device)")
    run.add_argument("--rate", type=float, default=100.0, help="sensor sample rate in Hz, 20 to 1000 (default 100)")
    run.add_argument("--out", type=Path, required=True, help="output folder (new or empty)")
    run.add_argument("--score-with", type=Path, metavar="DIR",
                     help="folder where the stimulator emulator wrote stim.csv and the sensor truth.csv "
                          "(emulators started by hand): report.json is scored from them")
    run.add_argument("--yes", action="store_true",
                     help="confirm in advance that the electrodes are placed and the operator is present (scripted "
                          "benches): the stimulation table is still shown, then stimulation is armed without asking")
    chk = sub.add_parser("check", help="validate a patient profile for a stimulator and show what it would deliver "
                                       "(no port is opened)")
    chk.add_argument("--profile", type=Path, help="patient profile TOML (default: embedded example)")
    chk.add_argument("--device", choices=DEVICE_MODELS, default="rehastim2",
                     help="stimulator model; its embedded device profile is used unless --device-config is given "
                          "(default rehastim2)")
    chk.add_argument("--device-config", type=Path, help="device caps TOML (default: embedded for --device)")
    chk.add_argument("--sensor-format", choices=["imu6", "wt901", "csv"], default=None,
                     help="as for run: an IMU sensor's wire format (without --profile: the embedded IMU profile)")
    chk.add_argument("--rate", type=float, default=100.0, help="as for run: sensor sample rate in Hz (default 100)")
    chk.add_argument("--sensor-baud", type=int, default=DEFAULT_SENSOR_BAUD,
                     help=f"as for run: the sensor port's baud rate (default {DEFAULT_SENSOR_BAUD}); checked against "
                          "--rate")
    ports = sub.add_parser("ports", help="list serial ports with USB ids and which device each looks like")
    ports.add_argument("--json", action="store_true", help="print a JSON list instead of the table (for scripts)")
    ports.add_argument("--listen", nargs="*", metavar="PORT", default=None,
                       help="also listen to each port (these, or every port listed) and say what it sends by "
                            "itself: a sensor and its format, a RehaStim 2, or nothing; nothing is written to any port")
    ports.add_argument("--seconds", type=float, default=1.5, help="--listen: how long to listen to each port, 0.2 to "
                                                                   "10 s (default 1.5)")
    ports.add_argument("--baud", type=int, default=DEFAULT_SENSOR_BAUD,
                       help=f"--listen: the baud rate to listen at (default {DEFAULT_SENSOR_BAUD})")
    replay_cli.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from fescontrol import console  # after parsing: --help stays fast

    try:
        if args.command in replay_cli.COMMANDS:
            return replay_cli.dispatch(args)
        if args.command == "simulate":
            return console.simulate_command(args)
        if args.command == "ports":
            return console.ports_command(args)
        if args.command == "check":
            return console.check_command(args)
        return console.run_command(args)
    except ConfigError as exc:
        console.show(sys.stderr, f"fescontrol: bad input: {exc}\n")
        return EXIT_BAD_INPUT
    except OperatorStop as exc:
        console.show(sys.stderr, f"fescontrol: {exc}; stimulation stopped\n")
        return EXIT_OPERATOR
    except FesError as exc:
        console.show(sys.stderr, f"fescontrol: {type(exc).__name__}: {exc}\n")
        return 3


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
