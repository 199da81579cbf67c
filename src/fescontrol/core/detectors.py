"""The detector seam: one small interface, one kind per module, chosen by name from the profile.

ARCHITECTURE.md "Seams": a detector is a params class (frozen, units in names) plus numba
kernels over arrays with explicit state. This module wraps each kind in a :class:`Detector`
object that the live loop and batch replay both call the same way:

``process(columns) -> (event int8[:], onset_back int32[:])``
    one call per chunk of consecutive samples; ``columns`` maps each of
    ``required_columns`` to a 1-D array of the chunk (same length; NaN = lost sample, no
    evidence). ``event`` holds an ``fescontrol.core.events`` code per sample at the sample
    where it is decided; ``onset_back`` how many samples earlier it physically happened
    (event time = ``(stream index - onset_back) / rate_hz``). Chunk-invariant: one call over n
    samples gives exactly what n calls over 1 sample give. The envelope takes ``event`` as is
    (``EV_HEEL_OFF`` starts a burst at that sample, ``EV_HEEL_STRIKE`` ends it, other codes
    are ignored).
``in_contact() -> bool``
    the foot is loaded (for the state machine's ``on_contact``).
``signal_health() -> str | None``
    a short text when the input cannot be used (never crosses, flat/stuck, saturated,
    preload too high), else None. Cheap (reads the kernel state): call it after each chunk;
    the text stays while the condition holds.
``required_columns``, ``kind``, ``rate_hz``, ``state`` (the kernel state, for tests and logs),
``reset()``.

Kinds (``[detector] kind`` in the profile, docs/profiles.md):
``heel_switch``   fixed thresholds with hysteresis (``heelswitch.py``), column ``heel_N``.
``adaptive_heel`` thresholds learned from the wearer, learned onset delay
                  (``adaptive_heel.py``), column ``heel_N``. The default.
``insole``        heel and forefoot cells (``insole.py``), columns ``heel_N``, ``fore_N``:
                  toe-off from the forefoot, no burst while the forefoot stays loaded.
``foot_imu``      gyroscope on the foot (``imu_gyro.py``), columns ``gyr_x_dps``,
``shank_imu``     ``gyr_y_dps``, ``gyr_z_dps``: swing lobe of the sagittal angular velocity
                  (shank: on the shank); the IMU profile's default is ``foot_imu``.

:func:`build_detector` makes one from the profile's ``[detector]`` section (or anything with
the same attributes) and the sensor rate. Each call of ``process`` allocates its two output
arrays; the kernels were compiled by :func:`fescontrol.core.warmup.warm_up` with exactly the
argument types used here.
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Protocol

import numpy as np

from fescontrol.core import adaptive_heel as ah
from fescontrol.core import imu_gyro as ig
from fescontrol.core import insole as ins
from fescontrol.core.events import PH_CONTACT
from fescontrol.core.heelswitch import (
    DET_PHASE,
    HeelSwitchParams,
    ceil_samples,
    detect_heel_switch,
    new_detector_state,
)

__all__ = [
    "DETECTOR_KINDS",
    "DEFAULT_KIND",
    "AdaptiveHeelParams",
    "InsoleParams",
    "Detector",
    "HeelSwitchDetector",
    "AdaptiveHeelDetector",
    "InsoleDetector",
    "ImuGyroDetector",
    "IMU_KINDS",
    "build_detector",
    "detector_params",
]

DETECTOR_KINDS: tuple[str, ...] = ("heel_switch", "adaptive_heel", "insole", "foot_imu", "shank_imu")
IMU_KINDS: tuple[str, ...] = ("foot_imu", "shank_imu")
DEFAULT_KIND = "adaptive_heel"


def _number(owner: str, name: str, value: Any, lo: float, hi: float, *, lo_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{owner}.{name} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{owner}.{name} must be finite, got {value!r}")
    if (v <= lo if lo_open else v < lo) or v > hi:
        raise ValueError(f"{owner}.{name} = {value!r} outside {'(' if lo_open else '['}{lo:g}, {hi:g}]")
    return v


def _rate(owner: str, rate_hz: Any) -> float:
    return _number(owner, "rate_hz", rate_hz, 0.0, 100000.0, lo_open=True)


@dataclass(frozen=True)
class AdaptiveHeelParams:
    """Settings of the adaptive heel detector (``adaptive_heel.py``); units in the names.

    Shares are fractions of the wearer's own range (loaded - unloaded level); newtons are
    absolute floors; seconds are converted to samples at the sensor rate.
    """

    contact_share: float = 0.50
    """Contact above unloaded + this share of the range (after debounce_samples) ..."""
    weak_contact_share: float = 0.08
    """... or above unloaded + this share, held for weak_contact_s (a weak heel contact, as in
    a turn or a forefoot landing, is still a contact; a graze is not)."""
    weak_contact_s: float = 0.15
    release_share: float = 0.05
    """Release (heel off) below unloaded + this share of the range."""
    min_range_N: float = 6.0
    """A range below this is not a usable signal: no events, and signal_health says so."""
    min_contact_delta_N: float = 3.0
    """Contact threshold at least this far above the unloaded level."""
    min_release_delta_N: float = 2.0
    """Release threshold at least this far above the unloaded level."""
    debounce_samples: int = 2
    min_contact_s: float = 0.25
    """Floor of the minimum contact before a heel off."""
    min_swing_s: float = 0.20
    """Floor of the minimum swing before a heel strike."""
    guard_share: float = 0.30
    """Minimum contact / swing as this share of the running median contact / unloaded time."""
    adapt_share: float = 0.25
    """Weight of each new stance peak / swing minimum in the running levels."""
    onset_delay: bool = True
    """Learned onset delay after heel off (False: burst at heel off)."""
    max_onset_delay_s: float = 0.30
    onset_lead_s: float = 0.16
    """The burst should start this long before the expected toe-off."""
    swing_share: float = 0.38
    """Expected swing as a share of the stride, to place toe-off inside the unloaded time."""
    max_stride_s: float = 2.5
    """Longer strides (standing, turning) are not learned."""
    swing_timeout_share: float = 0.0
    """A swing longer than this multiple of the running median unloaded time ends the burst."""
    relearn_s: float = 3.0
    """No contact for this long: the loaded level is re-learned from what the heel reaches."""

    def __post_init__(self) -> None:
        owner = type(self).__name__
        for name in ("contact_share", "weak_contact_share", "release_share", "guard_share", "swing_share"):
            _number(owner, name, getattr(self, name), 0.0, 1.0)
        _number(owner, "adapt_share", self.adapt_share, 0.0, 1.0, lo_open=True)
        for name in ("min_range_N", "min_contact_delta_N", "min_release_delta_N"):
            _number(owner, name, getattr(self, name), 0.0, 10000.0)
        for name in ("min_contact_s", "min_swing_s", "max_onset_delay_s", "onset_lead_s", "weak_contact_s"):
            _number(owner, name, getattr(self, name), 0.0, 10.0)
        _number(owner, "max_stride_s", self.max_stride_s, 0.0, 60.0, lo_open=True)
        _number(owner, "relearn_s", self.relearn_s, 0.0, 600.0, lo_open=True)
        if not self.release_share < self.contact_share:
            raise ValueError(f"{owner}.release_share ({self.release_share!r}) must be below "
                             f"contact_share ({self.contact_share!r}) (hysteresis)")
        d = self.debounce_samples
        if isinstance(d, bool) or not isinstance(d, numbers.Integral) or not 1 <= d <= 100:
            raise ValueError(f"{owner}.debounce_samples must be an integer 1..100, got {d!r}")
        if not isinstance(self.onset_delay, bool):
            raise ValueError(f"{owner}.onset_delay must be true or false, got {self.onset_delay!r}")

    def kernel_params(self, rate_hz: float) -> np.ndarray:
        """The kernel's float64 parameter vector at ``rate_hz`` (slots ``adaptive_heel.P_*``)."""
        rate = _rate(type(self).__name__ + ".kernel_params", rate_hz)
        p = np.zeros(ah.AH_PARAM_SIZE, dtype=np.float64)
        p[ah.P_CONTACT_SHARE] = self.contact_share
        p[ah.P_RELEASE_SHARE] = self.release_share
        p[ah.P_MIN_RANGE_N] = self.min_range_N
        p[ah.P_MIN_CONTACT_DELTA_N] = self.min_contact_delta_N
        p[ah.P_MIN_RELEASE_DELTA_N] = self.min_release_delta_N
        p[ah.P_DEBOUNCE] = int(self.debounce_samples)
        p[ah.P_MIN_CONTACT] = ceil_samples(float(self.min_contact_s), rate)
        p[ah.P_MIN_SWING] = ceil_samples(float(self.min_swing_s), rate)
        p[ah.P_GUARD_SHARE] = self.guard_share
        p[ah.P_ADAPT_SHARE] = self.adapt_share
        p[ah.P_ONSET_DELAY] = 1.0 if self.onset_delay else 0.0
        p[ah.P_MAX_DELAY] = float(self.max_onset_delay_s) * rate
        p[ah.P_ONSET_LEAD] = float(self.onset_lead_s) * rate
        p[ah.P_SWING_SHARE] = self.swing_share
        p[ah.P_MAX_STRIDE] = float(self.max_stride_s) * rate
        p[ah.P_RELEARN] = ceil_samples(float(self.relearn_s), rate)
        p[ah.P_TIMEOUT_SHARE] = self.swing_timeout_share
        p[ah.P_WEAK_SHARE] = self.weak_contact_share
        p[ah.P_WEAK_HOLD] = max(1, ceil_samples(float(self.weak_contact_s), rate))
        return p


@dataclass(frozen=True)
class InsoleParams:
    """Settings of the insole detector (``insole.py``): the heel cell's adaptive settings, plus
    the forefoot's. Shares are of each cell's own range."""

    heel: AdaptiveHeelParams = AdaptiveHeelParams()
    fore_contact_share: float = 0.30
    fore_weak_contact_share: float = 0.08
    fore_release_share: float = 0.05
    fore_onset_share: float = 0.20
    """The burst starts when the heel is off and the forefoot is below unloaded + this share
    of its range (push-off ending, toe-off imminent)."""
    fore_min_range_N: float = 6.0
    abort_s: float = 0.10
    fore_drop_share: float = 0.15
    """... and only when the forefoot is falling fast: this share of its range below its
    recent peak (a leaky peak falling by peak_decay_per_s x range per second). A forefoot
    that sinks slowly (weight shifting while standing) starts nothing."""
    peak_decay_per_s: float = 1.0
    """Toe-off must follow the burst onset within this, and neither cell may take weight
    again before it, else the burst is ended (EV_STIM_ABORT)."""
    long_contact_share: float = 1.4
    """A contact longer than this multiple of the running median stride is standing or
    turning on the spot (0 disables) ..."""
    long_onset_share: float = 0.08
    """... and there the burst starts only when the forefoot is below unloaded + this share
    of its range (a near-lift in a turn keeps it higher; gaitpdb measured in insole.py)."""

    def __post_init__(self) -> None:
        owner = type(self).__name__
        if not isinstance(self.heel, AdaptiveHeelParams):
            raise ValueError(f"{owner}.heel must be AdaptiveHeelParams, got {self.heel!r}")
        for name in ("fore_contact_share", "fore_weak_contact_share", "fore_release_share",
                     "fore_onset_share"):
            _number(owner, name, getattr(self, name), 0.0, 1.0)
        _number(owner, "fore_min_range_N", self.fore_min_range_N, 0.0, 10000.0)
        _number(owner, "abort_s", self.abort_s, 0.0, 10.0, lo_open=True)
        _number(owner, "fore_drop_share", self.fore_drop_share, 0.0, 1.0)
        _number(owner, "peak_decay_per_s", self.peak_decay_per_s, 0.0, 1000.0)
        _number(owner, "long_contact_share", self.long_contact_share, 0.0, 100.0)
        _number(owner, "long_onset_share", self.long_onset_share, 0.0, 1.0)
        if not self.fore_release_share < self.fore_contact_share:
            raise ValueError(f"{owner}.fore_release_share must be below fore_contact_share (hysteresis)")

    def kernel_params(self, rate_hz: float) -> np.ndarray:
        """The insole kernel's float64 parameter vector (slots ``insole.Q_*``)."""
        heel = self.heel.kernel_params(rate_hz)
        q = np.zeros(ins.INS_PARAM_SIZE, dtype=np.float64)
        q[:ah.AH_PARAM_SIZE] = heel
        q[ins.Q_FORE_CONTACT_SHARE] = self.fore_contact_share
        q[ins.Q_FORE_RELEASE_SHARE] = self.fore_release_share
        q[ins.Q_FORE_ONSET_SHARE] = self.fore_onset_share
        q[ins.Q_FORE_MIN_RANGE_N] = self.fore_min_range_N
        q[ins.Q_FORE_WEAK_SHARE] = self.fore_weak_contact_share
        rate = _rate("InsoleParams", rate_hz)
        q[ins.Q_ABORT] = max(1, ceil_samples(float(self.abort_s), rate))
        q[ins.Q_FORE_DROP_SHARE] = self.fore_drop_share
        q[ins.Q_PEAK_DECAY] = float(self.peak_decay_per_s) / rate
        q[ins.Q_GATE_DEBOUNCE] = max(1, ceil_samples(ins.GATE_DEBOUNCE_S, rate))
        q[ins.Q_LONG_CONTACT] = self.long_contact_share
        q[ins.Q_LONG_ONSET_SHARE] = self.long_onset_share
        return q


class Detector(Protocol):
    """What the live loop and batch replay need of a detector (see the module docstring)."""

    rate_hz: float
    state: np.ndarray

    @property
    def kind(self) -> str: ...

    @property
    def required_columns(self) -> tuple[str, ...]: ...

    def process(self, columns: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]: ...

    def in_contact(self) -> bool: ...

    def signal_health(self) -> str | None: ...

    def reset(self) -> None: ...


class _Base(ABC):
    """What every kind shares: the rate check, the state, reset, the column checks."""

    kind: ClassVar[str]
    required_columns: ClassVar[tuple[str, ...]]

    def __init__(self, rate_hz: float) -> None:
        self.rate_hz = _rate(type(self).__name__, rate_hz)
        self.state = self._new_state()

    @abstractmethod
    def _new_state(self) -> np.ndarray:
        """A fresh kernel state of this kind."""

    def reset(self) -> None:
        """Forget everything learned: a fresh state, as at start."""
        self.state = self._new_state()

    def _inputs(self, columns: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        arrays = []
        n = -1
        for name in self.required_columns:
            if name not in columns:
                raise ValueError(f"{self.kind} detector: column {name!r} missing "
                                 f"(needs {', '.join(self.required_columns)})")
            a = np.ascontiguousarray(columns[name], dtype=np.float64)
            if a.ndim != 1:
                raise ValueError(f"{self.kind} detector: column {name!r} must be 1-D, got shape {a.shape}")
            if n >= 0 and a.shape[0] != n:
                raise ValueError(f"{self.kind} detector: columns differ in length ({n} and {a.shape[0]})")
            n = a.shape[0]
            arrays.append(a)
        return arrays


class HeelSwitchDetector(_Base):
    """Fixed thresholds (``heelswitch.detect_heel_switch``) behind the seam."""

    kind: ClassVar[str] = "heel_switch"
    required_columns: ClassVar[tuple[str, ...]] = ("heel_N",)

    def __init__(self, params: HeelSwitchParams, rate_hz: float) -> None:
        super().__init__(rate_hz)
        self.params = params
        self._args = params.kernel_args(self.rate_hz)
        self._max_seen = -math.inf
        self._min_seen = math.inf
        self._n = 0

    def _new_state(self) -> np.ndarray:
        return new_detector_state()

    def reset(self) -> None:
        super().reset()
        self._max_seen, self._min_seen, self._n = -math.inf, math.inf, 0

    def process(self, columns: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        (force,) = self._inputs(columns)
        n = force.shape[0]
        event = np.zeros(n, dtype=np.int8)
        back = np.zeros(n, dtype=np.int32)
        detect_heel_switch(force, self.state, *self._args, event, back)
        if n:
            finite = force[np.isfinite(force)]
            if finite.size:
                self._max_seen = max(self._max_seen, float(finite.max()))
                self._min_seen = min(self._min_seen, float(finite.min()))
                self._n += int(finite.size)
        return event, back

    def in_contact(self) -> bool:
        return int(self.state[DET_PHASE]) == PH_CONTACT

    def signal_health(self) -> str | None:
        """Fixed thresholds: after 5 s of signal, say when the force never reaches them."""
        if self._n < 5.0 * self.rate_hz:
            return None
        p = self.params
        if self._max_seen <= p.contact_threshold_N:
            return (f"heel_N never crosses the contact threshold: highest {self._max_seen:.1f} N "
                    f"<= {p.contact_threshold_N:g} N (no steps detected)")
        if self._min_seen >= p.release_threshold_N:
            return (f"heel_N never falls below the release threshold: lowest {self._min_seen:.1f} N "
                    f">= {p.release_threshold_N:g} N (preload too high? no steps detected)")
        return None


class AdaptiveHeelDetector(_Base):
    """Learned thresholds and onset delay (``adaptive_heel.detect_adaptive_heel``)."""

    kind: ClassVar[str] = "adaptive_heel"
    required_columns: ClassVar[tuple[str, ...]] = ("heel_N",)

    def __init__(self, params: AdaptiveHeelParams, rate_hz: float) -> None:
        super().__init__(rate_hz)
        self.params = params
        self._kernel_params = params.kernel_params(self.rate_hz)

    def _new_state(self) -> np.ndarray:
        return ah.new_adaptive_heel_state()

    def process(self, columns: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        (force,) = self._inputs(columns)
        n = force.shape[0]
        event = np.zeros(n, dtype=np.int8)
        back = np.zeros(n, dtype=np.int32)
        ah.detect_adaptive_heel(force, self.state, self._kernel_params, event, back)
        return event, back

    def in_contact(self) -> bool:
        return int(self.state[ah.S_PHASE]) == PH_CONTACT

    def signal_health(self) -> str | None:
        return ah.signal_problem(self.state, self.rate_hz, self.params.min_range_N, "heel_N")


class InsoleDetector(_Base):
    """Heel and forefoot cells (``insole.detect_insole``)."""

    kind: ClassVar[str] = "insole"
    required_columns: ClassVar[tuple[str, ...]] = ("heel_N", "fore_N")

    def __init__(self, params: InsoleParams, rate_hz: float) -> None:
        super().__init__(rate_hz)
        self.params = params
        self._kernel_params = params.kernel_params(self.rate_hz)

    def _new_state(self) -> np.ndarray:
        return ins.new_insole_state()

    def process(self, columns: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        heel, fore = self._inputs(columns)
        n = heel.shape[0]
        event = np.zeros(n, dtype=np.int8)
        back = np.zeros(n, dtype=np.int32)
        ins.detect_insole(heel, fore, self.state, self._kernel_params, event, back)
        return event, back

    def in_contact(self) -> bool:
        return int(self.state[ins.I_PHASE]) == PH_CONTACT

    def signal_health(self) -> str | None:
        return ins.signal_problem(self.state, self.rate_hz, self.params.heel.min_range_N,
                                  self.params.fore_min_range_N)


class ImuGyroDetector(_Base):
    """Foot or shank gyroscope (``imu_gyro.detect_imu_gyro``); the mount is in the params."""

    required_columns: ClassVar[tuple[str, ...]] = ("gyr_x_dps", "gyr_y_dps", "gyr_z_dps")

    def __init__(self, params: ig.ImuGyroParams, rate_hz: float) -> None:
        super().__init__(rate_hz)
        self.params = params
        self._kernel_params = params.kernel_params(self.rate_hz)

    @property
    def kind(self) -> str:  # type: ignore[override]
        return f"{self.params.mount}_imu"

    def _new_state(self) -> np.ndarray:
        return ig.new_imu_state()

    def process(self, columns: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        gx, gy, gz = self._inputs(columns)
        n = gx.shape[0]
        event = np.zeros(n, dtype=np.int8)
        back = np.zeros(n, dtype=np.int32)
        ig.detect_imu_gyro(gx, gy, gz, self.state, self._kernel_params, event, back)
        return event, back

    def in_contact(self) -> bool:
        return int(self.state[ig.S_PHASE]) == PH_CONTACT

    def signal_health(self) -> str | None:
        return ig.signal_problem(self.state, self.rate_hz, self.params.min_swing_dps)


def imu_params(section: Any) -> ig.ImuGyroParams:
    """The gyro detector's params from a ``[detector]`` section: ``sagittal_axis`` and the
    ``imu_*`` keys (``imu_min_onset_dps`` -> ``min_onset_dps``); the mount follows the kind."""
    kind = _get(section, "kind", "foot_imu")
    values: dict[str, Any] = {"mount": "shank" if kind == "shank_imu" else "foot",
                              "sagittal_axis": _get(section, "sagittal_axis", "auto")}
    for f in fields(ig.ImuGyroParams):
        if f.name in ("mount", "sagittal_axis"):
            continue
        value = _get(section, "imu_" + f.name, None)
        if value is not None:
            values[f.name] = value
    return ig.ImuGyroParams(**values)


def _get(section: Any, name: str, default: Any) -> Any:
    return getattr(section, name, default) if section is not None else default



def _profile_key(field_name: str) -> str:
    """The profile key of a params field: units lower-case in TOML (``min_range_N`` -> ``min_range_n``)."""
    return field_name[:-2] + "_n" if field_name.endswith("_N") else field_name


def _from_section(cls: type, section: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    defaults = cls()
    return {f.name: _get(section, _profile_key(f.name), getattr(defaults, f.name))
            for f in fields(cls) if f.name not in skip}


def detector_params(section: Any) -> HeelSwitchParams | AdaptiveHeelParams | InsoleParams | ig.ImuGyroParams:
    """The params object of the kind named by a profile ``[detector]`` section.

    ``section`` is a :class:`fescontrol.config.models.DetectorSection` (or anything with its
    attribute names; a missing one takes the params class default; None = all defaults). Keys
    the profile does not expose (``guard_share``, ``adapt_share``, ``max_stride_s``,
    ``relearn_s``, ``peak_decay_per_s``, ``long_contact_share``, ``long_onset_share``) keep
    their class defaults.
    """
    kind = _get(section, "kind", DEFAULT_KIND)
    if kind in IMU_KINDS:
        return imu_params(section)
    if kind == "heel_switch":
        return HeelSwitchParams(_get(section, "contact_threshold_n", 80.0),
                                _get(section, "release_threshold_n", 25.0),
                                _get(section, "debounce_samples", 2),
                                _get(section, "min_contact_s", 0.25), _get(section, "min_swing_s", 0.20))
    heel = AdaptiveHeelParams(**_from_section(AdaptiveHeelParams, section))
    if kind == "adaptive_heel":
        return heel
    if kind == "insole":
        return InsoleParams(heel=heel, **_from_section(InsoleParams, section, skip=("heel",)))
    raise ValueError(f"detector kind {kind!r}: allowed {', '.join(DETECTOR_KINDS)}")


def build_detector(section: Any, rate_hz: float) -> Detector:
    """A fresh detector of the kind the profile's ``[detector]`` section names, at ``rate_hz``."""
    params = detector_params(section)
    if isinstance(params, HeelSwitchParams):
        return HeelSwitchDetector(params, rate_hz)
    if isinstance(params, InsoleParams):
        return InsoleDetector(params, rate_hz)
    if isinstance(params, ig.ImuGyroParams):
        return ImuGyroDetector(params, rate_hz)
    return AdaptiveHeelDetector(params, rate_hz)
