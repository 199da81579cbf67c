"""Suite-wide collection rule: the real-rate tests are marked `realtime`, the tightest of them also
`alone`, so `make test` can run the CPU-bound rest on two workers first, then the real-rate tests
two modules at a time, then the `alone` ones by themselves, in order.

Everything under `tests/hil` and `tests/interop` runs whole sessions over real ptys at (or near)
real rate and judges timing against wall-clock limits: it must not share the machine's two cores
with CPU-bound tests (a busy core made the fault-injection rig and the bench handshake miss their
limits). Two real-rate modules side by side mostly wait on ptys and timers, so they share the
cores well; the modules in ALONE_MODULES do not: the fault-injection wave starts 63 processes,
the stop paths judge a Stop within 50 ms and start three processes per test, 1.3-2 s of CPU each
(the one run with test_stop_signals paired saw a simulate session end on a 164 ms loop overrun),
the live replay judges every row's lateness, and the bench handshake's wait is measured against
one Init period. The unit, property, data and safety
tests are CPU-bound and independent, so they run on two pytest-xdist workers. Plain `pytest` runs
everything serially, as before.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REAL_RATE_DIRS = ("hil", "interop")
ALONE_MODULES = ("test_fault_injection.py", "test_stop_paths.py", "test_stop_signals.py", "test_replay_live.py",
                 "test_bench_mode.py")
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(item.path).resolve().relative_to(HERE).parts
        if parts and parts[0] in REAL_RATE_DIRS:
            item.add_marker(pytest.mark.realtime)
            if parts[-1] in ALONE_MODULES:
                item.add_marker(pytest.mark.alone)
