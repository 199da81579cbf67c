"""Suite-wide collection rule: the real-rate tests are marked `realtime`, so `make test` can run
the rest on two workers first and these afterwards, alone, in order.

Everything under `tests/hil` and `tests/interop` runs whole sessions over real ptys at (or near)
real rate and judges timing against wall-clock limits: it must not share the machine's two cores
with CPU-bound tests (a busy core made the fault-injection rig and the bench handshake miss their
limits). The unit, property, data and safety tests are CPU-bound and independent, so they run on
two pytest-xdist workers. Plain `pytest` runs everything serially, as before.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REAL_RATE_DIRS = ("hil", "interop")
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(item.path).resolve().relative_to(HERE).parts
        if parts and parts[0] in REAL_RATE_DIRS:
            item.add_marker(pytest.mark.realtime)
