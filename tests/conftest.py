"""Suite-wide collection rule: the real-rate tests run one at a time, the rest beside them.

`make test` runs pytest with two workers (pytest-xdist, `--dist loadgroup`). Everything under
`tests/hil` and `tests/interop` runs whole sessions over real ptys at (or near) real rate and
judges timing, so it is one group on one worker, in order, as in a serial run; the CPU-bound
unit, property, data and safety tests share the other worker (and this one once the group is
done). Without `-n`, the mark does nothing and the suite runs serially.
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
            item.add_marker(pytest.mark.xdist_group("real-rate"))
