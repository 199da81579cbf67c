"""Benchmarks of the heel-switch kernels (``make bench``; house style section 3b gives the floors).

* batch: detector + envelope over 1e6 samples (~2.8 h at 100 Hz) in one numba call;
* live: one control tick, i.e. both kernels on a 1-sample and a 10-sample chunk with
  preallocated outputs, as the loop calls them (dominated by the ~0.6-0.8 us call overhead).

Under the default ``pytest`` run (``--benchmark-disable``) each body runs once; that stays
cheap (the 1e6-sample batch takes milliseconds once compiled) so no size switch is needed.
"""

from __future__ import annotations

import numpy as np
import pytest

from fescontrol.core.batch import run_heel_switch_batch
from fescontrol.core.envelope import EnvelopeParams, new_envelope_state, shape_envelope
from fescontrol.core.heelswitch import HeelSwitchParams, detect_heel_switch, new_detector_state
from fescontrol.core.warmup import warm_up

RATE_HZ = 100.0
DETECTOR = HeelSwitchParams(80.0, 40.0, 2, 0.25, 0.20)
ENVELOPE = EnvelopeParams(0.06, 0.05, 0.08, 1.5)


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    warm_up()  # compilation / cache load is not what we measure


def walking_force(n: int, seed: int = 0) -> np.ndarray:
    """Heel force of steady walking (1.1 s strides, 62 % stance) with noise, n samples."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / RATE_HZ
    phase = (t % 1.1) / 1.1
    force = np.where(phase < 0.62, 450.0, 5.0)
    return np.ascontiguousarray(force + rng.normal(0.0, 10.0, n))


def test_bench_batch_1e6(benchmark):
    force = walking_force(1_000_000)
    args = (RATE_HZ, *DETECTOR.kernel_args(RATE_HZ), *ENVELOPE.kernel_args())
    event, onset_back, level = benchmark(run_heel_switch_batch, force, *args)
    assert event.shape == onset_back.shape == level.shape == force.shape
    assert np.count_nonzero(event) > 1000


@pytest.mark.parametrize("chunk", [1, 10])
def test_bench_live_chunk(benchmark, chunk):
    force = walking_force(chunk, seed=1)
    det_args = DETECTOR.kernel_args(RATE_HZ)
    env_args = ENVELOPE.kernel_args()
    det_state = new_detector_state()
    env_state = new_envelope_state()
    event = np.zeros(chunk, np.int8)
    onset_back = np.zeros(chunk, np.int32)
    level = np.zeros(chunk, np.float64)

    def tick() -> None:
        detect_heel_switch(force, det_state, *det_args, event, onset_back)
        shape_envelope(event, env_state, RATE_HZ, *env_args, level)

    benchmark(tick)
    assert np.all((level >= 0.0) & (level <= 1.0))
