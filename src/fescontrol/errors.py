"""One error hierarchy, so callers can catch by meaning and messages carry their context."""

from __future__ import annotations


class FesError(Exception):
    """Base of every error fescontrol raises on purpose."""


class ConfigError(FesError):
    """A config file, recording or argument is not acceptable (exit status 2).

    The message names the file, the key, the value and what is allowed.
    """


class ProtocolError(FesError):
    """Bytes that do not follow a wire format (ours or a vendor's)."""


class DeviceIOError(FesError):
    """A serial port could not be opened, read or written."""


class DeviceInitError(FesError):
    """A device did not complete its handshake."""


class FesTimeoutError(FesError, TimeoutError):
    """Something expected (an ack, a sample) did not arrive in time."""


class SafetyTrip(FesError):
    """The safety layer stopped stimulation and latched a fault (exit status 3)."""

    def __init__(self, cause: str, *, channel: int | None = None, value: float | None = None,
                 limit: float | None = None, t_s: float | None = None) -> None:
        self.cause = cause
        self.channel = channel
        self.value = value
        self.limit = limit
        self.t_s = t_s
        parts = [cause]
        if channel is not None:
            parts.append(f"channel {channel}")
        if value is not None:
            parts.append(f"value {value}")
        if limit is not None:
            parts.append(f"limit {limit}")
        if t_s is not None:
            parts.append(f"at t={t_s:.4f} s")
        super().__init__(", ".join(parts))


class SensorLost(SafetyTrip):
    """No valid sensor sample for longer than the profile's lost limit (at any output); the loop
    adds what did arrive on the port when no sample has come at all."""


class SensorFormatMismatch(SafetyTrip):
    """The sensor sends another known wire format than the session reads (named, with the option
    that reads it), before its first valid sample: nothing was stimulated."""


class AckTimeout(SafetyTrip):
    """The command in flight was not answered within the ack time-out; the loop adds what did
    arrive from the stimulator since its last packet."""


class OperatorStop(FesError):
    """The operator stopped the session (Ctrl-C, SIGTERM): exit status 130 after a clean Stop."""
