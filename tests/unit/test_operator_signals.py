"""Every stop signal reaches the session's Stop path as OperatorStop (real signals, this process).

The real-rate tests send SIGTERM and SIGHUP to a controller mid-swing and judge the device's
output (tests/hil/test_stop_paths.py, test_stop_signals.py); this covers each signal the session
turns into a Stop, and that the handlers are put back afterwards.
"""

from __future__ import annotations

import os
import signal

import pytest

from fescontrol.control.session import operator_signals
from fescontrol.errors import OperatorStop


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGTSTP],
                         ids=lambda s: s.name)
def test_each_stop_signal_is_an_operator_stop_naming_it(sig: signal.Signals) -> None:
    before = signal.getsignal(sig)
    with pytest.raises(OperatorStop, match=f"stopped by {sig.name}"):
        with operator_signals():
            # unhandled, SIGHUP and SIGQUIT would end this process and SIGTSTP suspend it: fail first
            assert signal.getsignal(sig) not in (signal.SIG_DFL, signal.SIG_IGN, before)
            os.kill(os.getpid(), sig)
    assert signal.getsignal(sig) == before  # the old handler is back
