"""The detector seam: kinds built by name from the profile, one `process` for loop and batch.

Every kind must give exactly the same events whether a stream is processed in one call or in
chunks of any size (the live loop's chunks are whatever arrived), say when its signal cannot
be used, and refuse inputs it cannot run on. The insole kernel is checked here too (twin,
burst onset from the forefoot, no burst while the forefoot stays loaded).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from fescontrol.config.loading import default_device_path, default_profile_path, load_device, load_profile
from fescontrol.config.models import DETECTOR_KINDS as PROFILE_KINDS
from fescontrol.core import insole as ins
from fescontrol.core.batch import run_detector_batch
from fescontrol.core.detectors import (
    DEFAULT_KIND,
    DETECTOR_KINDS,
    IMU_KINDS,
    AdaptiveHeelDetector,
    AdaptiveHeelParams,
    HeelSwitchDetector,
    InsoleDetector,
    InsoleParams,
    build_detector,
    detector_params,
)
from fescontrol.core.envelope import EnvelopeParams, new_envelope_state, shape_envelope
from fescontrol.core.events import (
    EV_HEEL_OFF,
    EV_HEEL_STRIKE,
    EV_STIM_ABORT,
    EV_TOE_OFF,
    EVENT_NAMES,
    envelope_events,
)
from fescontrol.core.heelswitch import HeelSwitchParams
from fescontrol.errors import ConfigError
from tests.unit.test_adaptive_heel import gait_trace

FORCE_KINDS = tuple(k for k in DETECTOR_KINDS if k not in IMU_KINDS)
"""The kinds that read force columns (the IMU kinds have their own tests: test_imu_gyro.py)."""
RATE = 100.0
ENVELOPE = EnvelopeParams(0.06, 0.05, 0.08, 1.5)


class Section:
    """A stand-in for a profile's [detector] section (attributes only)."""

    def __init__(self, **kw: object) -> None:
        self.__dict__.update(kw)


def make(kind: str) -> AdaptiveHeelDetector | HeelSwitchDetector | InsoleDetector:
    return build_detector(Section(kind=kind), RATE)  # type: ignore[return-value]


def columns(tr_seed: int = 0, n: int = 25, **kw: object) -> dict[str, np.ndarray]:
    tr = gait_trace(n, seed=tr_seed, pivots=(6, 14), **kw)  # type: ignore[arg-type]
    rng = np.random.default_rng(tr_seed)
    heel = tr.heel + rng.normal(0.0, 0.3, tr.heel.shape[0])
    fore = tr.fore + rng.normal(0.0, 0.3, tr.fore.shape[0])
    heel[400:404] = np.nan
    fore[900:903] = np.nan
    return {"heel_N": heel, "fore_N": fore}


# ------------------------------------------------------------------ building by name

def test_kinds_are_the_profiles_and_the_default_is_adaptive() -> None:
    assert DETECTOR_KINDS == PROFILE_KINDS == ("heel_switch", "adaptive_heel", "insole", "foot_imu", "shank_imu")
    assert DEFAULT_KIND == "adaptive_heel"
    profile, _ = load_profile(default_profile_path(), load_device(default_device_path())[0])
    det = build_detector(profile.detector, RATE)
    assert isinstance(det, AdaptiveHeelDetector) and det.kind == "adaptive_heel"
    assert det.params == AdaptiveHeelParams()  # the example's values are the class defaults
    assert det.required_columns == ("heel_N",)
    assert isinstance(build_detector(None, RATE), AdaptiveHeelDetector)


def test_each_kind_from_the_profile_section() -> None:
    profile, _ = load_profile(default_profile_path(), load_device(default_device_path())[0])
    for kind, cls, cols in (("heel_switch", HeelSwitchDetector, ("heel_N",)),
                            ("adaptive_heel", AdaptiveHeelDetector, ("heel_N",)),
                            ("insole", InsoleDetector, ("heel_N", "fore_N"))):
        section = profile.detector.model_copy(update={"kind": kind})
        det = build_detector(section, RATE)
        assert type(det) is cls and det.kind == kind and det.required_columns == cols
    sw = detector_params(profile.detector.model_copy(update={"kind": "heel_switch"}))
    assert sw == HeelSwitchParams(80.0, 25.0, 2, 0.25, 0.20)
    section = profile.detector.model_copy(update={"kind": "insole", "fore_onset_share": 0.3,
                                                  "min_range_n": 9.0, "onset_delay": False})
    p = detector_params(section)
    assert isinstance(p, InsoleParams)
    assert p.fore_onset_share == 0.3 and p.heel.min_range_N == 9.0 and p.heel.onset_delay is False
    with pytest.raises(ValueError, match="detector kind 'imu'"):
        detector_params(Section(kind="imu"))


def test_params_are_validated() -> None:
    with pytest.raises(ValueError, match="release_share"):
        AdaptiveHeelParams(release_share=0.6)
    with pytest.raises(ValueError, match="debounce_samples"):
        AdaptiveHeelParams(debounce_samples=0)
    with pytest.raises(ValueError, match="onset_delay"):
        AdaptiveHeelParams(onset_delay=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="contact_share"):
        AdaptiveHeelParams(contact_share=float("nan"))
    with pytest.raises(ValueError, match="fore_release_share"):
        InsoleParams(fore_release_share=0.5)
    with pytest.raises(ValueError, match="long_onset_share"):
        InsoleParams(long_onset_share=1.5)
    with pytest.raises(ValueError, match="long_contact_share"):
        InsoleParams(long_contact_share=-1.0)
    with pytest.raises(ValueError, match="rate_hz"):
        AdaptiveHeelDetector(AdaptiveHeelParams(), 0.0)


# ------------------------------------------------------------------ the one method

@pytest.mark.parametrize("kind", FORCE_KINDS)
def test_one_call_equals_calls_of_one_sample(kind: str) -> None:
    cols = columns(1, n=12)
    n = cols["heel_N"].shape[0]
    one = make(kind)
    ev1, back1 = one.process(cols)
    assert ev1.dtype == np.int8 and back1.dtype == np.int32 and ev1.shape == back1.shape == (n,)
    each = make(kind)
    parts = [each.process({k: v[i:i + 1] for k, v in cols.items()}) for i in range(n)]
    np.testing.assert_array_equal(ev1, np.concatenate([p[0] for p in parts]))
    np.testing.assert_array_equal(back1, np.concatenate([p[1] for p in parts]))
    np.testing.assert_array_equal(one.state, each.state)
    assert np.count_nonzero(ev1 == EV_HEEL_STRIKE) >= 10


@pytest.mark.parametrize("kind", FORCE_KINDS)
@pytest.mark.parametrize("seed", [2, 3])
def test_random_chunks_equal_one_call(kind: str, seed: int) -> None:
    cols = columns(seed)
    n = cols["heel_N"].shape[0]
    ev1, back1 = make(kind).process(cols)
    det = make(kind)
    rng = np.random.default_rng(seed)
    cuts = np.unique(np.r_[0, rng.integers(0, n, 200), n])
    parts = [det.process({k: v[a:b] for k, v in cols.items()}) for a, b in zip(cuts, cuts[1:])]
    np.testing.assert_array_equal(ev1, np.concatenate([p[0] for p in parts]))
    np.testing.assert_array_equal(back1, np.concatenate([p[1] for p in parts]))


@pytest.mark.parametrize("kind", FORCE_KINDS)
def test_inputs_are_checked(kind: str) -> None:
    det = make(kind)
    with pytest.raises(ValueError, match="column 'heel_N' missing"):
        det.process({"fore_N": np.zeros(3)})
    with pytest.raises(ValueError, match="1-D"):
        det.process({"heel_N": np.zeros((3, 2)), "fore_N": np.zeros((3, 2))})
    if kind == "insole":
        with pytest.raises(ValueError, match="differ in length"):
            det.process({"heel_N": np.zeros(3), "fore_N": np.zeros(4)})
    ev, back = det.process({"heel_N": [], "fore_N": []})
    assert ev.shape == back.shape == (0,)
    # lists and other dtypes are converted, extra columns ignored
    ev, _ = det.process({"heel_N": [0, 100, 100], "fore_N": [0.0, 0.0, 0.0], "cell1_N": [1, 2, 3]})
    assert ev.shape == (3,)


@pytest.mark.parametrize("kind", FORCE_KINDS)
def test_in_contact_and_reset(kind: str) -> None:
    tr = gait_trace(4)
    det = make(kind)
    cols = {"heel_N": tr.heel, "fore_N": tr.fore}
    det.process({k: v[:tr.hs[2] + 20] for k, v in cols.items()})
    assert det.in_contact()
    det.process({k: v[tr.hs[2] + 20:tr.to[2] + 15] for k, v in cols.items()})
    assert not det.in_contact()
    det.reset()
    assert not det.in_contact()
    assert np.array_equal(det.state, make(kind).state, equal_nan=True)


@pytest.mark.parametrize("kind,signal,words", [
    ("heel_switch", np.full(800, 30.0), "never crosses the contact threshold"),
    ("heel_switch", np.tile(np.r_[np.full(50, 300.0), np.full(50, 40.0)], 8), "preload too high"),
    ("adaptive_heel", np.full(1100, 30.0), "stuck at 30.0 N"),
    ("adaptive_heel", np.random.default_rng(0).uniform(0.0, 2.0, 800), "never crosses"),
    ("insole", np.full(1100, 30.0), "stuck at 30.0 N"),
])
def test_signal_health_says_why(kind: str, signal: np.ndarray, words: str) -> None:
    det = make(kind)
    assert det.signal_health() is None
    det.process({"heel_N": signal, "fore_N": signal})
    message = det.signal_health()
    assert message is not None and words in message
    assert len(message) < 200


def test_insole_names_a_forefoot_that_never_loads() -> None:
    tr = gait_trace(8)
    det = make("insole")
    det.process({"heel_N": tr.heel, "fore_N": np.random.default_rng(0).uniform(0.0, 2.0, tr.fore.shape[0])})
    message = det.signal_health()
    assert message is not None and message.startswith("fore_N never crosses") and "no steps" in message
    det = make("insole")
    det.process({"heel_N": np.zeros(tr.heel.shape[0]), "fore_N": tr.fore})
    assert "steps from the forefoot only" in str(det.signal_health())


@pytest.mark.parametrize("kind", FORCE_KINDS)
def test_a_good_walk_is_healthy(kind: str) -> None:
    det = make(kind)
    tr = gait_trace(20, heel_peak=250.0)
    det.process({"heel_N": tr.heel, "fore_N": tr.fore})
    assert det.signal_health() is None


# ------------------------------------------------------------------ the insole kernel

def run_insole(cols: dict[str, np.ndarray], fn=ins.detect_insole, **kw: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p = InsoleParams(**kw).kernel_params(RATE)  # type: ignore[arg-type]
    heel = np.ascontiguousarray(cols["heel_N"], dtype=np.float64)
    fore = np.ascontiguousarray(cols["fore_N"], dtype=np.float64)
    state = ins.new_insole_state()
    ev = np.zeros(heel.shape[0], np.int8)
    back = np.zeros(heel.shape[0], np.int32)
    fn(heel, fore, state, p, ev, back)
    return ev, back, state


@pytest.mark.parametrize("seed", range(3))
def test_insole_matches_python_twin(seed: int) -> None:
    cols = columns(seed, heel_peak=[300.0, 40.0, 700.0][seed], preload=[0.0, 40.0, 0.0][seed])
    a = run_insole(cols)
    b = run_insole(cols, fn=ins.detect_insole.py_func)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_insole_starts_from_the_forefoot_and_not_on_a_pivot() -> None:
    tr = gait_trace(20, pivots=(5, 12))
    ev, back, _ = run_insole({"heel_N": tr.heel, "fore_N": tr.fore})
    starts = [(int(i), int(i - back[i])) for i in np.flatnonzero(ev == EV_HEEL_OFF)]
    toe_offs = [int(i - back[i]) for i in np.flatnonzero(ev == EV_TOE_OFF)]
    strikes = [int(i - back[i]) for i in np.flatnonzero(ev == EV_HEEL_STRIKE)]
    assert len(starts) == len(toe_offs) == 20 and len(strikes) == 20
    for (decided, heel_off), ho, to in zip(starts, tr.ho, tr.to, strict=True):
        # by toe-off (this forefoot falls from its peak to 0 in 60 ms: the onset threshold is
        # crossed 20 ms before toe-off, plus the debounce)
        assert 0 <= to - decided <= 6, "the burst starts by toe-off"
        assert abs(heel_off - ho) <= 15, "its time is the heel-off"
    assert all(abs(a - b) <= 2 for a, b in zip(toe_offs, tr.to, strict=True))
    # pivots: the heel was off for 0.3 s with the forefoot loaded; no burst began there
    for k in (5, 12):
        assert not any(tr.hs[k] < d < tr.ho[k] - 10 for d, _ in starts)
    assert not np.any(ev == EV_STIM_ABORT)


def test_insole_aborts_when_the_forefoot_takes_weight_again() -> None:
    tr = gait_trace(12)
    heel, fore = tr.heel.copy(), tr.fore.copy()
    k = 8
    # the forefoot drops fast as at push-off, but not to unloaded, and takes the weight again:
    # no toe-off
    a = tr.to[k] - 4
    fore[a:tr.hs[k + 1]] = np.r_[np.linspace(fore[a], 60.0, 4), np.full(4, 60.0),
                                 np.full(tr.hs[k + 1] - a - 8, 400.0)]
    ev, _, _ = run_insole({"heel_N": heel, "fore_N": fore})
    aborts = np.flatnonzero(ev == EV_STIM_ABORT)
    assert aborts.size == 1 and a <= aborts[0] <= a + 15
    level = np.zeros(ev.shape[0])
    shape_envelope(envelope_events(ev), new_envelope_state(), RATE, *ENVELOPE.kernel_args(), level)
    assert level[aborts[0] + 20] == 0.0, "the aborted burst has ramped down"


def test_insole_starts_at_toe_off_when_the_foot_leaves_flat() -> None:
    tr = gait_trace(12)
    heel, fore = tr.heel.copy(), tr.fore.copy()
    k = 9
    heel[tr.ho[k] - 30:tr.to[k]] = 40.0  # the heel stays on until the foot leaves as a whole
    fore[tr.to[k] - 10:tr.to[k]] = fore[tr.to[k] - 10]
    ev, back, _ = run_insole({"heel_N": heel, "fore_N": fore})
    i = [int(j) for j in np.flatnonzero(ev == EV_HEEL_OFF) if tr.hs[k] < j < tr.hs[k + 1]]
    assert len(i) == 1 and tr.to[k] <= i[0] <= tr.to[k] + 3
    # the toe-off itself is written one sample later, reaching back to the same moment
    assert ev[i[0] + 1] == EV_TOE_OFF
    assert abs((i[0] + 1 - int(back[i[0] + 1])) - tr.to[k]) <= 1


def _near_lift(reload_n: int) -> tuple[dict[str, np.ndarray], int]:
    """Standing after a walk; at ``e`` the foot near-lifts flat (forefoot to 0, heel only down
    to 8 N of its ~300 N range: the midfoot keeps the weight), then the forefoot takes weight
    again for ``reload_n`` samples; afterwards both cells go to 0 for 0.4 s (a real lift) and
    the foot comes back down to standing."""
    tr = gait_trace(12, stand_s=4.0)
    heel, fore = tr.heel.copy(), tr.fore.copy()
    e = tr.hs[-1] + 110 + 150
    heel[e:e + 20] = 8.0
    fore[e:e + 20] = 0.0
    heel[e + 20:e + 20 + reload_n] = 8.0
    fore[e + 20:e + 20 + reload_n] = 150.0
    heel[e + 20 + reload_n:e + 60 + reload_n] = 0.0
    fore[e + 20 + reload_n:e + 60 + reload_n] = 0.0
    return {"heel_N": heel, "fore_N": fore}, e


def test_insole_ends_a_near_lift_burst_when_a_cell_takes_weight_again() -> None:
    cols, e = _near_lift(60)
    ev, _, _ = run_insole(cols)
    starts = [int(i) for i in np.flatnonzero(ev == EV_HEEL_OFF) if i >= e]
    aborts = [int(i) for i in np.flatnonzero(ev == EV_STIM_ABORT) if i >= e]
    assert starts and e <= starts[0] <= e + 3, "a flat-foot lift starts the burst at toe-off"
    # ended within the debounce of the forefoot taking weight, not after the 0.15 s weak hold
    assert aborts and e + 20 <= aborts[0] <= e + 23
    for x, y in zip(ev, run_insole(cols, fn=ins.detect_insole.py_func)[0], strict=True):
        assert x == y


def test_insole_restarts_the_burst_at_a_second_lift_after_a_near_lift() -> None:
    cols, e = _near_lift(5)  # the forefoot touches for 50 ms only: no contact, then a real lift
    ev, _, _ = run_insole(cols)
    aborts = [int(i) for i in np.flatnonzero(ev == EV_STIM_ABORT) if i >= e]
    starts = [int(i) for i in np.flatnonzero(ev == EV_HEEL_OFF) if i >= e]
    assert aborts and aborts[0] <= e + 23
    assert len(starts) == 2 and e + 25 <= starts[1] <= e + 28, "the second lift starts a burst"
    for x, y in zip(ev, run_insole(cols, fn=ins.detect_insole.py_func)[0], strict=True):
        assert x == y


# ------------------------------------------------------------------ events and batch

def test_envelope_events_maps_only_the_abort() -> None:
    ev = np.array([0, 1, 2, 3, 4, 0], dtype=np.int8)
    out = envelope_events(ev)
    assert out.dtype == np.int8 and out.tolist() == [0, 1, 2, 3, 1, 0]
    assert ev.tolist() == [0, 1, 2, 3, 4, 0]
    same = np.array([0, 2, 1], dtype=np.int8)
    assert envelope_events(same) is same
    assert EVENT_NAMES == {1: "heel_strike", 2: "heel_off", 3: "toe_off"}


@pytest.mark.parametrize("kind", FORCE_KINDS)
def test_batch_runner_is_the_live_loop(kind: str) -> None:
    cols = columns(4)
    whole = run_detector_batch(make(kind), cols, ENVELOPE)
    chunked = run_detector_batch(make(kind), cols, ENVELOPE, chunk_samples=37)
    np.testing.assert_array_equal(whole.event, chunked.event)
    np.testing.assert_array_equal(whole.level, chunked.level)
    # what the live loop does: process each chunk, map, shape the envelope with its own state
    det, env_state = make(kind), new_envelope_state()
    levels = []
    for a in range(0, cols["heel_N"].shape[0], 10):
        ev, _ = det.process({k: v[a:a + 10] for k, v in cols.items()})
        lv = np.zeros(ev.shape[0])
        shape_envelope(envelope_events(ev), env_state, RATE, *ENVELOPE.kernel_args(), lv)
        levels.append(lv)
    np.testing.assert_array_equal(whole.level, np.concatenate(levels))
    assert whole.level.max() == 1.0
    times = whole.event_times(RATE)
    assert {k for _, k in times} <= {"heel_strike", "heel_off", "toe_off"}


def test_batch_health_timeline() -> None:
    flat = np.r_[np.full(1200, 30.0), gait_trace(10).heel]
    result = run_detector_batch(make("adaptive_heel"), {"heel_N": flat}, ENVELOPE, chunk_samples=100)
    assert result.health[0][0] == 999 and "stuck at 30.0 N" in str(result.health[0][1])
    assert result.health[-1][1] is None  # cleared once steps came


def test_replay_refuses_a_recording_without_the_detectors_columns(tmp_path: Path) -> None:
    from fescontrol.replay import load_for_replay

    device, _ = load_device(default_device_path())
    profile, _ = load_profile(default_profile_path(), device)
    insole_profile = profile.model_copy(update={"detector": profile.detector.model_copy(update={"kind": "insole"})})
    path = tmp_path / "walk.csv"
    tr = gait_trace(3)
    t = np.arange(tr.heel.shape[0]) / RATE
    path.write_text("t_s,heel_N\n" + "".join(f"{a:.2f},{b:.2f}\n" for a, b in zip(t, tr.heel, strict=True)))
    assert load_for_replay(path, profile=profile).kind == "heel_switch"
    with pytest.raises(ConfigError, match=r"no column fore_N: the profile's detector \(kind = 'insole'\)"):
        load_for_replay(path, profile=insole_profile)


def test_a_profile_with_the_old_detector_keys_loads_as_adaptive(tmp_path: Path) -> None:
    text = default_profile_path().read_text()
    start = text.index("[detector]")
    end = text.index("[safety]")
    old = ("[detector]\ncontact_threshold_n = 80.0\nrelease_threshold_n = 25.0\ndebounce_samples = 2\n"
           "min_contact_s = 0.25\nmin_swing_s = 0.20\n\n")
    path = tmp_path / "old.toml"
    path.write_text(text[:start] + old + text[end:])
    profile, _ = load_profile(path, load_device(default_device_path())[0])
    assert profile.detector.kind == "adaptive_heel"
    assert detector_params(profile.detector) == AdaptiveHeelParams()
    for bad, words in (('onset_delay = "yes"', "detector.onset_delay"),
                       ("release_share = 0.2", "detector.release_share"),
                       ('kind = "imu"', "detector.kind"),
                       ("swing_timeout_share = 0.5", "detector.swing_timeout_share")):
        path.write_text(text[:start] + old.replace("[detector]\n", f"[detector]\n{bad}\n") + text[end:])
        with pytest.raises(ConfigError, match=words.replace(".", r"\.")):
            load_profile(path, load_device(default_device_path())[0])


WARM_UP_CHECK = """
import numpy as np
from fescontrol.core import adaptive_heel, insole, heelswitch, imu_gyro
from fescontrol.core.detectors import DETECTOR_KINDS, build_detector
from fescontrol.core.warmup import warm_up

kernels = (adaptive_heel.detect_adaptive_heel, insole.detect_insole, heelswitch.detect_heel_switch,
           imu_gyro.detect_imu_gyro)
warm_up()
before = [list(k.signatures) for k in kernels]
assert all(before), before

class S:
    def __init__(self, kind):
        self.kind = kind

rng = np.random.default_rng(0)
for kind in DETECTOR_KINDS:
    det = build_detector(S(kind), 100.0)
    for _ in range(50):
        n = int(rng.integers(1, 12))
        det.process({"heel_N": rng.uniform(0, 400, n), "fore_N": rng.uniform(0, 400, n),
                     "gyr_x_dps": rng.uniform(-400, 400, n), "gyr_y_dps": rng.uniform(-400, 400, n),
                     "gyr_z_dps": rng.uniform(-400, 400, n)})
        det.signal_health()
after = [list(k.signatures) for k in kernels]
assert after == before, (before, after)
print("OK")
"""


def test_warm_up_compiles_every_detector_kind() -> None:
    proc = subprocess.run([sys.executable, "-c", WARM_UP_CHECK], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "OK"


def test_dataclass_replace_keeps_validation() -> None:
    with pytest.raises(ValueError):
        replace(AdaptiveHeelParams(), weak_contact_share=2.0)


def _long_contact(fore_low: float) -> tuple[dict[str, np.ndarray], int, int]:
    """A walk, then 4 s of standing. 2 s into it (a contact longer than 1.4 strides) the heel
    unloads and the forefoot falls fast from 300 N to ``fore_low`` (its range is ~600 N) for
    0.15 s, then both take the weight again: with ``fore_low`` above 8 % of the range, a
    near-lift in a turn (the midfoot keeps the weight). 1 s later the foot really lifts:
    heel and forefoot to 0 for 0.4 s (toe-off at ``lift``), then it lands again."""
    tr = gait_trace(12, stand_s=4.0)
    heel, fore = tr.heel.copy(), tr.fore.copy()
    e = tr.hs[-1] + 110 + 200
    heel[e:e + 5] = np.linspace(120.0, 0.0, 5)
    heel[e + 5:e + 30] = 0.0
    fore[e + 10:e + 15] = np.linspace(300.0, fore_low, 5)
    fore[e + 15:e + 30] = fore_low
    lift = e + 100
    heel[lift - 10:lift - 5] = np.linspace(120.0, 0.0, 5)
    heel[lift - 5:lift + 40] = 0.0
    fore[lift - 6:lift] = np.linspace(300.0, 0.0, 7)[:-1]
    fore[lift:lift + 40] = 0.0
    return {"heel_N": heel, "fore_N": fore}, e, lift


def test_insole_starts_no_burst_on_a_near_lift_in_a_long_contact() -> None:
    cols, e, lift = _long_contact(70.0)
    ev, _, _ = run_insole(cols)
    starts = [int(i) for i in np.flatnonzero(ev == EV_HEEL_OFF) if i >= e]
    assert starts and starts[0] >= lift - 3, "no burst in the near-lift"
    assert starts[0] <= lift + 2, "the real lift after it is stimulated by toe-off"
    # the rule is what holds it back: switched off, the push-off gate fires in the near-lift
    ev_off, _, _ = run_insole(cols, long_contact_share=0.0)
    assert any(e <= i < e + 30 for i in np.flatnonzero(ev_off == EV_HEEL_OFF))
    # a forefoot that really unloads in a long contact starts the burst there
    cols, e, _ = _long_contact(0.0)
    ev, _, _ = run_insole(cols)
    assert any(e + 10 <= i <= e + 17 for i in np.flatnonzero(ev == EV_HEEL_OFF))
    for x, y in zip(ev, run_insole(cols, fn=ins.detect_insole.py_func)[0], strict=True):
        assert x == y


def test_insole_stimulates_the_first_swing_of_a_walk_cut_at_push_off() -> None:
    """The recording starts 0.15 s before toe-off (heel already off, forefoot loaded, as
    gaitpdb GaPt06 right): the contact present from the first sample has no heel strike to
    debounce, so the minimum contact (0.25 s) does not hold the first burst back."""
    tr = gait_trace(6)
    start = tr.to[0] - 15
    ev, back, _ = run_insole({"heel_N": tr.heel[start:], "fore_N": tr.fore[start:]})
    starts = np.flatnonzero(ev == EV_HEEL_OFF)
    assert starts.size and starts[0] <= 15, "the first burst starts by toe-off"
    assert starts[0] < InsoleParams().heel.min_contact_s * RATE
