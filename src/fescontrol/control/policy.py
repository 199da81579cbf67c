"""Stimulation policy: envelope level (0..1) -> current per channel, with the rise clamp.

One function, used by the live control loop and by batch replay, so both ask the stimulator
for the same currents (ARCHITECTURE.md "Seams": stimulation policy). Integer milliamperes
only: the device's current step and the gate's ramp limit are integers.
"""

from __future__ import annotations

from collections.abc import Sequence


def quantise_current(level: float, plateau_ma: int, step_ma: int) -> int:
    """The device current (a multiple of `step_ma`) nearest to `level` x `plateau_ma`."""
    return int(round(level * plateau_ma / step_ma)) * step_ma


def channel_targets(level: float, plateau_ma: Sequence[int], step_ma: int,
                    reference_ma: Sequence[int], max_rise_ma: int) -> tuple[int, ...]:
    """Currents to request now: the level on every channel's plateau, quantised to the device
    step, rising by at most `max_rise_ma` above `reference_ma` (what the device holds now);
    a step down is never limited (moving toward zero is always safe)."""
    return tuple(min(quantise_current(level, p, step_ma), ref + max_rise_ma)
                 for p, ref in zip(plateau_ma, reference_ma, strict=True))
