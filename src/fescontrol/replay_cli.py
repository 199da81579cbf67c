"""`fescontrol replay` and `fescontrol data import`: their arguments, and what the terminal shows.

Kept out of `cli.py` so that these commands grow in their own room; `cli.py` only calls
:func:`add_commands` and :func:`dispatch`. Heavy imports (numpy, numba, the data-set
importers of `fescontrol_hil`) happen in `dispatch`, so `--help` stays fast. Bad input
raises `ConfigError`, which `cli.main` turns into exit status 2 with the message.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from fescontrol.errors import ConfigError

COMMANDS = ("replay", "data")
DATA_SETS = "gaitpdb, voisard2023, gaitmap-example, truong2019"


def add_commands(subparsers: Any) -> None:
    """Add `replay` and `data` to the `fescontrol` sub-command parsers."""
    rp = subparsers.add_parser(
        "replay", help="run a recording (or a folder of them) through the controller and score it",
        description="Replay CONTRACT recordings (NAME.csv, optional NAME.json and NAME.events.csv) "
                    "through the detector, envelope and stimulation policy, and write stim.csv, "
                    "events.csv, truth.csv, session.jsonl and report.json as a session does. "
                    "Heel-switch and insole recordings run on heel_N; IMU recordings (gyr_*_dps) on the "
                    "IMU profile's gyroscope detector (foot or shank, from NAME.json's mount).")
    rp.add_argument("source", type=Path, metavar="REC.csv|FOLDER",
                    help="a recording, or a folder: one table row per recording plus pooled totals")
    rp.add_argument("--events", type=Path, metavar="EV.csv",
                    help="truth events for a single recording (default: NAME.events.csv beside it)")
    rp.add_argument("--profile", type=Path, help="patient profile TOML (default: embedded example; for IMU "
                                                 "recordings the embedded imu-default)")
    rp.add_argument("--device-config", type=Path, help="device caps TOML (default: embedded rehastim2)")
    rp.add_argument("--mode", choices=("batch", "live"), default="batch",
                    help="batch (default): kernels over the whole recording in-process. live: stream the "
                         "recording through the sensor emulator over a pty into the real control loop, "
                         "safety gate and stimulator emulator")
    rp.add_argument("--speed", type=float, default=1.0,
                    help="live mode: replay speed factor (default 1 = real time; up to 10)")
    rp.add_argument("--out", type=Path, help="output folder (new or empty; default runs/replay-...)")

    data = subparsers.add_parser("data", help="import public gait data sets as CONTRACT recordings")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    imp = data_sub.add_parser(
        "import", help="convert a data set folder (read in place) into recordings in OUT",
        description="Convert a public gait data set, read in place and never modified, into CONTRACT "
                    "recordings (NAME.csv, NAME.json, NAME.events.csv) in OUT.")
    imp.add_argument("name", metavar="NAME", help=f"data set: {DATA_SETS}")
    imp.add_argument("src", type=Path, metavar="SRC", help="the data set's folder (e.g. ../shared/gait-data/gaitpdb)")
    imp.add_argument("out", type=Path, metavar="OUT", help="output folder (new or empty)")
    imp.add_argument("--only", action="append", metavar="ID",
                     help="import only this recording of the set (e.g. GaCo01_01, 1-1); repeatable")


def dispatch(args: argparse.Namespace) -> int:
    """Run the `replay` or `data` command parsed into `args`; returns the exit status."""
    if args.command == "replay":
        return _replay(args)
    return _data_import(args)


class ProgressBar:
    """A bar rewritten in place on a terminal; a few plain lines when stderr is a file or pipe."""

    def __init__(self, stream: TextIO = sys.stderr, width: int = 30) -> None:
        self.stream = stream
        self.width = width
        self.tty = stream.isatty()
        self._last_decile = -1

    def __call__(self, done: int, total: int, what: str) -> None:
        share = done / total if total else 1.0
        if self.tty:
            filled = round(share * self.width)
            self.stream.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} {what[:40]:<40}")
            self.stream.flush()
        elif int(share * 10) > self._last_decile:
            self._last_decile = int(share * 10)
            self.stream.write(f"{share * 100:3.0f}% {what}\n")
            self.stream.flush()

    def done(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _replay(args: argparse.Namespace) -> int:
    if args.mode == "live":
        return _replay_live(args)
    from fescontrol.config.loading import (
        default_device_path,
        load_device,
        load_profile,
    )
    from fescontrol.records.report_text import format_episodes
    from fescontrol.records.scoring import format_report_table
    from fescontrol.replay import (
        ReplaySettings,
        default_profile_for,
        format_footstep_table,
        format_replay_table,
        replay_path,
        summary_rows,
    )

    device_path = Path(args.device_config or default_device_path())
    if args.profile is None and not args.source.exists():
        raise ConfigError(f"{args.source}: no such recording or folder")
    profile_path = Path(args.profile or default_profile_for(args.source))
    device, device_sha = load_device(device_path)
    profile, profile_sha = load_profile(profile_path, device)
    settings = ReplaySettings(profile, profile_path, profile_sha, device, device_path, device_sha)
    source: Path = args.source
    out = args.out or Path("runs") / f"replay-{time.strftime('%Y%m%d-%H%M%S')}-{source.stem}"
    folder = source.is_dir()
    bar = ProgressBar() if folder else None
    try:
        outcomes = replay_path(source, out, settings, events=args.events, progress=bar)
    finally:
        if bar is not None:
            bar.done()
    stdout = sys.stdout
    footsteps = format_footstep_table(outcomes)
    if folder:
        stdout.write(format_replay_table(summary_rows(outcomes)) + "\n")
        if footsteps is not None:
            stdout.write(footsteps + "\n")
        troubled = [o.name for o in outcomes if o.report.get("signal_problems")]
        if troubled:
            stdout.write(f"sensor signal the detector could not use, in {len(troubled)} of {len(outcomes)} "
                         f"recordings (see their report.txt): {', '.join(troubled)}\n")
    else:
        report = outcomes[0].report
        if report.get("scored"):
            stdout.write(format_report_table(report) + "\n")
        else:
            stdout.write(f"not scored: {report.get('not_scored_because', 'no truth')}\n")
        if footsteps is not None:
            stdout.write(footsteps + "\n")
        episodes = format_episodes(report.get("signal_problems", []))
        if episodes:  # a signal the detector cannot use is said on screen, not only in the records
            stdout.write("sensor signal (what the detector could not use):\n" + "\n".join(episodes) + "\n")
    stdout.write(f"output folder: {out}\n")
    stdout.flush()
    return 0


def _replay_live(args: argparse.Namespace) -> int:
    """Each recording through the emulators and the real loop, one after the other."""
    from fescontrol.control.live_replay import replay_live
    from fescontrol.control.session import operator_signals
    from fescontrol.control.simulate import load_configs
    from fescontrol.records.scoring import format_report_table
    from fescontrol.replay import (
        ReplayOutcome,
        default_profile_for,
        find_recordings,
        format_replay_table,
        load_for_replay,
        prepare_output_folder,
        summary_rows,
    )

    if args.events is not None:
        raise ConfigError("--events: not with --mode live (the sensor emulator streams NAME.events.csv "
                          "beside the recording as the truth)")
    if not 0.1 <= args.speed <= 10.0:
        raise ConfigError(f"--speed {args.speed}: allowed 0.1 to 10")
    source: Path = args.source
    folder = source.is_dir()
    if not folder and not source.is_file():
        raise ConfigError(f"{source}: no such recording or folder")
    configs = load_configs(args.device_config, args.profile or default_profile_for(source))
    paths = find_recordings(source) if folder else [source]
    for path in paths:  # bad input changes nothing: every recording is checked before a folder is made
        load_for_replay(path, profile=configs.profile)
    out = prepare_output_folder(args.out or Path("runs") / f"replay-live-{time.strftime('%Y%m%d-%H%M%S')}")
    bar = ProgressBar() if folder else None
    outcomes: list[ReplayOutcome] = []
    worst = 0
    with operator_signals():
        for i, path in enumerate(paths):
            if bar is not None:
                bar(i, len(paths), f"replaying {path.name}")
            target = prepare_output_folder(out / path.stem) if folder else out
            outcome, report = replay_live(path, target, configs, speed=args.speed)
            worst = max(worst, outcome.exit_status)
            outcomes.append(ReplayOutcome(path.stem, "", target, report))
            if outcome.exit_status:
                sys.stderr.write(f"fescontrol: {path.name}: {outcome.reason}\n")
    if bar is not None:
        bar(len(paths), len(paths), "done")
        bar.done()
    if folder:
        sys.stdout.write(format_replay_table(summary_rows(outcomes)) + "\n")
    elif outcomes[0].report.get("scored"):
        sys.stdout.write(format_report_table(outcomes[0].report) + "\n")
    sys.stdout.write(f"output folder: {out}\n")
    sys.stdout.flush()
    return worst


def _data_import(args: argparse.Namespace) -> int:
    from fescontrol_hil.datasets import get_importer

    from fescontrol.replay import prepare_output_folder

    importer = get_importer(args.name)
    if not Path(args.src).is_dir():
        raise ConfigError(f"SRC {str(args.src)!r}: not a folder (expected the {args.name} data set folder)")
    out = prepare_output_folder(Path(args.out), "OUT")
    paths = importer.run(Path(args.src), out, args.only)
    sys.stdout.write(f"{importer.name}: {len(paths)} recordings written to {out}\n")
    sys.stdout.flush()
    return 0
