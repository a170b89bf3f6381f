"""One registry of precoder families: a :class:`PrecoderSpec` (name, scenario, parameters;
JSON-able) and :func:`make_precoder` give a precoder whose call always returns DESIGN's ISAC
layout W (B, N, K+1), sensing beam first, plus named per-realization ``extras``.

A family declares what it needs (``estimates``, ``sensing_geometry``, ``own_ap_csi``), where
it runs (``central`` or ``per_ap``), the scenarios it serves, its parameters with their
defaults, and (learned families) the JSON schema of its model card. Built-in families: the
MU-MISO precoders with a sensing beam (mrt, zf, rzf, wmmse), the ISAC optimizer (optimize),
ONNX models (onnx; a spec name ending in ``.onnx`` is that family with ``path``) and the ZeroMQ
service (remote). Third parties add families through the ``gr_cfisac.precoders`` entry-point
group: each entry point loads to a :class:`Family`.

numpy only: families that need onnxruntime, ZeroMQ, cvxpy or torch import them when built.
Fixed-K families given an active-user mask precode for the active users only; inactive users
get zero columns (DESIGN.md, variable user count).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..channels import SensingGeometry

NEEDS = ("estimates", "sensing_geometry", "own_ap_csi")
PLACEMENTS = ("central", "per_ap")
#: what column 0 / the extras hold: one sensing beam per stream (DESIGN's layout) or a full
#: N x N sensing covariance in ``extras["sensing_covariance"]`` (no flowgraph stream for it)
SENSING_FORMS = ("beam", "covariance")
ENTRY_POINT_GROUP = "gr_cfisac.precoders"


@dataclass(frozen=True)
class PrecoderSpec:
    """Which precoder: a family ``name``, the ``scenario`` it serves and its ``params``."""

    name: str
    scenario: str = "cellfree"
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "scenario": self.scenario, "params": dict(self.params)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PrecoderSpec:
        if not isinstance(data, Mapping) or not isinstance(data.get("name"), str):
            raise ValueError('PrecoderSpec: expected {"name": str, "scenario": str, "params": {}}')
        unknown = sorted(set(data) - {"name", "scenario", "params"})
        if unknown:
            raise ValueError(f"PrecoderSpec: unknown field(s) {unknown}")
        scenario, params = data.get("scenario", "cellfree"), data.get("params", {})
        if not isinstance(scenario, str) or not isinstance(params, Mapping):
            raise ValueError("PrecoderSpec: scenario must be a string and params an object")
        return cls(data["name"], scenario, dict(params))

    @classmethod
    def from_json(cls, text: str) -> PrecoderSpec:
        return cls.from_dict(json.loads(text))


@dataclass(frozen=True)
class Realization:
    """What a precoder may see for B coherence blocks: channel estimates ``F_hat`` (B, N, K),
    the network-known ``sensing`` geometry, an ``active`` user mask (B, K) and block indices."""

    F_hat: np.ndarray
    sensing: SensingGeometry | None = None
    active: np.ndarray | None = None
    cb: np.ndarray | None = None


@dataclass(frozen=True)
class PrecoderResult:
    """W (B, N, K+1), column 0 the sensing beam; extras: named per-realization arrays."""

    W: np.ndarray
    extras: dict[str, np.ndarray] = field(default_factory=dict)


#: build(spec with every parameter filled in, config) -> realization -> PrecoderResult
Builder = Callable[[PrecoderSpec, Any], Callable[[Realization], PrecoderResult]]
#: per-AP build(spec, config) -> (ap index l, AP l's realization: F_hat (B, M, K)) -> W (B, M, K+1)
PerApBuilder = Callable[[PrecoderSpec, Any], Callable[[int, Realization], PrecoderResult]]


@dataclass(frozen=True)
class Family:
    """A precoder family: how to build it and what it declares (module docstring)."""

    name: str
    build: Builder | None
    summary: str
    params: Mapping[str, Any] = field(default_factory=dict)
    needs: frozenset[str] = frozenset({"estimates"})
    placement: str = "central"
    scenarios: tuple[str, ...] = ("cellfree",)
    card_schema: Mapping[str, Any] | None = None
    fixed_k: bool = True
    required: tuple[str, ...] = ()
    build_per_ap: PerApBuilder | None = None
    sensing_form: str = "beam"

    def __post_init__(self) -> None:
        bad = sorted(set(self.needs) - set(NEEDS))
        if bad or self.placement not in PLACEMENTS or self.sensing_form not in SENSING_FORMS:
            raise ValueError(
                f"precoder family {self.name!r}: needs must be within {NEEDS}, placement one "
                f"of {PLACEMENTS} and sensing_form one of {SENSING_FORMS}; got needs "
                f"{sorted(self.needs)}, placement {self.placement!r}, sensing_form "
                f"{self.sensing_form!r}"
            )
        per_ap = self.placement == "per_ap"
        if per_ap != (self.build_per_ap is not None) or (not per_ap and self.build is None):
            raise ValueError(
                f"precoder family {self.name!r}: a per_ap family gives build_per_ap (AP l's "
                "inputs -> its rows of W); a central one gives build and no build_per_ap"
            )


class Precoder:
    """A built precoder: ``precoder(realization) -> PrecoderResult`` with W (B, N, K+1); a
    per-AP family also answers ``precoder.per_ap(l, realization_l)`` with AP l's rows
    (B, M, K+1), and its whole-network call stacks the APs' answers."""

    def __init__(
        self,
        family: Family,
        spec: PrecoderSpec,
        design: Callable,
        per_ap_design: Callable[[int, Realization], PrecoderResult] | None = None,
        ap_antennas: int | None = None,
    ) -> None:
        self.family, self.spec = family, spec
        self.per_ap_design, self.ap_antennas = per_ap_design, ap_antennas
        self.design = design if design is not None else self._stack_aps

    def per_ap(self, ap: int, r: Realization) -> PrecoderResult:
        """AP ``ap``'s rows of W (B, M, K+1) from its own estimates F_hat (B, M, K)."""
        if self.per_ap_design is None:
            raise ValueError(
                f"precoder {self.spec.name!r} is centralized (placement "
                f"{self.family.placement!r}): it has no per-AP call; call it on the whole network"
            )
        F_hat = np.asarray(r.F_hat)
        if F_hat.ndim != 3 or F_hat.shape[1] != self.ap_antennas:
            raise ValueError(
                f"{self.spec.name}: AP {ap}'s F_hat must be (B, M={self.ap_antennas}, K), got "
                f"{F_hat.shape}"
            )
        res = self.per_ap_design(int(ap), r)
        B, M, K = F_hat.shape
        if np.shape(res.W) != (B, M, K + 1):
            raise ValueError(
                f"precoder {self.spec.name!r} returned AP {ap}'s W of shape {np.shape(res.W)}, "
                f"expected {(B, M, K + 1)} (sensing beam first)"
            )
        return res

    def _stack_aps(self, r: Realization) -> PrecoderResult:
        """The whole network's W from every AP's own call (rows AP-major, DESIGN's layout)."""
        B, N, K = np.shape(r.F_hat)
        M = self.ap_antennas
        if not M or N % M:
            raise ValueError(f"{self.spec.name}: N = {N} rows are not whole APs of M = {M}")
        parts = [
            self.per_ap(ap, Realization(r.F_hat[:, ap * M : (ap + 1) * M], r.sensing, None, r.cb))
            for ap in range(N // M)
        ]
        extras: dict[str, np.ndarray] = {}
        for ap, part in enumerate(parts):
            extras.update({f"ap{ap}_{k}": v for k, v in part.extras.items()})
        return PrecoderResult(np.concatenate([p.W for p in parts], axis=1), extras)

    @property
    def status(self) -> str:
        """What a precoder with a state says about it (remote: the service's status)."""
        return getattr(self.design, "status", "ok")

    def __call__(self, r: Realization) -> PrecoderResult:
        F_hat = np.asarray(r.F_hat)
        if F_hat.ndim != 3:
            raise ValueError(f"{self.spec.name}: F_hat must be (B, N, K), got {F_hat.shape}")
        B, N, K = F_hat.shape
        if "sensing_geometry" in self.family.needs and r.sensing is None:
            raise ValueError(f"{self.spec.name}: needs the sensing geometry (Realization.sensing)")
        if r.active is None or not self.family.fixed_k:
            res = self.design(r)
        else:
            res = self._active_only(r, np.asarray(r.active, dtype=bool))
        W = np.asarray(res.W)
        if W.shape != (B, N, K + 1):
            raise ValueError(
                f"precoder {self.spec.name!r} returned W of shape {W.shape}, expected "
                f"{(B, N, K + 1)} (sensing beam first)"
            )
        return res

    def _active_only(self, r: Realization, active: np.ndarray) -> PrecoderResult:
        """Precode each distinct mask's blocks for their active users; zero inactive columns."""
        B, N, K = r.F_hat.shape
        if active.shape != (B, K):
            raise ValueError(f"{self.spec.name}: active must be (B={B}, K={K}), got {active.shape}")
        W = np.zeros((B, N, K + 1), dtype=complex)
        extras: dict[str, np.ndarray] = {}
        for mask in np.unique(active, axis=0):
            rows = np.flatnonzero(np.all(active == mask, axis=1))
            users = np.flatnonzero(mask)
            sub = Realization(
                r.F_hat[rows][:, :, users],
                None if r.sensing is None else _take(r.sensing, rows),
                None,
                None if r.cb is None else np.asarray(r.cb)[rows],
            )
            if users.size == 0:  # nobody to serve: the sensing beam alone would need a family rule
                continue
            part = self.design(sub)
            W[np.ix_(rows, np.arange(N), np.concatenate([[0], users + 1]))] = part.W
            for name, value in part.extras.items():
                extras.setdefault(name, np.full((B,) + np.shape(value)[1:], np.nan))[rows] = value
        return PrecoderResult(W, extras)


def _take(sg: SensingGeometry, rows: np.ndarray) -> SensingGeometry:
    """The sensing geometry of some blocks (every field has the batch axis first)."""
    import dataclasses

    return SensingGeometry(**{f.name: getattr(sg, f.name)[rows] for f in dataclasses.fields(sg)})


# ----------------------------------------------------------------------------- the registry

_FAMILIES: dict[str, Family] = {}


def register(family: Family) -> Family:
    """Add a family (refuses a second family of the same name)."""
    if family.name in _FAMILIES and _FAMILIES[family.name] is not family:
        raise ValueError(f"a precoder family named {family.name!r} is already registered")
    _FAMILIES[family.name] = family
    return family


@functools.lru_cache(maxsize=1)
def _load_entry_points() -> None:
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            family = ep.load()
            family = family() if callable(family) and not isinstance(family, Family) else family
        except Exception as exc:  # noqa: BLE001 - a broken plug-in names itself, nothing more
            raise ValueError(
                f"precoder plug-in {ep.name!r} ({ep.value}) of entry-point group "
                f"{ENTRY_POINT_GROUP} failed to load: {exc}"
            ) from exc
        if not isinstance(family, Family):
            raise ValueError(
                f"precoder plug-in {ep.name!r} ({ep.value}) must load to a "
                f"gr_cfisac.precoding.registry.Family, got {type(family).__name__}"
            )
        register(family)


def families() -> dict[str, Family]:
    """Every family: the built-ins and those of installed plug-ins."""
    from . import builtin_families  # noqa: F401 - registers the built-ins

    _load_entry_points()
    return dict(_FAMILIES)


def check_model_card(family: Family, model_path: str) -> dict[str, Any]:
    """The card NAME.json beside a learned family's model file, validated against the family's
    ``card_schema``; ValueError (CardError) naming the file and the first bad field."""
    from pathlib import Path

    from .cards import read_card

    return read_card(Path(model_path).with_suffix(".json"), dict(family.card_schema or {}))


def spec_for(algorithm: str, scenario: str = "cellfree", **params: Any) -> PrecoderSpec:
    """A spec from a user-facing algorithm name: a family name, or the path of an .onnx model
    (family ``onnx`` with ``path``, or the family its card names in ``family``, e.g. l2o)."""
    algorithm = str(algorithm).strip()
    if algorithm.endswith(".onnx"):
        return PrecoderSpec(card_family(algorithm), scenario, {"path": algorithm, **params})
    return PrecoderSpec(algorithm, scenario, params)


def card_family(model_path: str) -> str:
    """The registry family of an .onnx model: its card's ``family`` field when it names a
    registered family, else ``onnx`` (the STCIB/CNN cards have none)."""
    from pathlib import Path

    try:
        family = json.loads(Path(model_path).with_suffix(".json").read_text()).get("family")
    except (OSError, ValueError, AttributeError):
        return "onnx"  # the onnx family reports a missing or broken card by name
    return family if isinstance(family, str) and family in families() else "onnx"


def make_precoder(spec: PrecoderSpec, config: Any) -> Precoder:
    """Build the precoder of ``spec`` for a scenario's ``config`` (SystemConfig for cellfree).
    ValueError naming the field for an unknown family or scenario, unknown or missing
    parameters, or values the family refuses."""
    known = families()
    family = known.get(spec.name)
    if family is None:
        raise ValueError(
            f"unknown precoder {spec.name!r}; registered families: {', '.join(sorted(known))} "
            "(or the path of an .onnx model)"
        )
    if spec.scenario not in family.scenarios:
        raise ValueError(
            f"precoder {spec.name!r} serves scenario(s) {list(family.scenarios)}, not "
            f"scenario={spec.scenario!r}"
        )
    unknown = sorted(set(spec.params) - set(family.params))
    if unknown:
        raise ValueError(
            f"precoder {spec.name!r}: unknown parameter(s) {unknown}; its parameters are "
            f"{sorted(family.params)}"
        )
    params = {**family.params, **spec.params}
    missing = [p for p in family.required if params.get(p) in (None, "")]
    if missing:
        raise ValueError(f"precoder {spec.name!r} needs parameter(s) {missing}")
    for name, value in params.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"precoder {spec.name!r}: parameter {name} must be finite")
    full = PrecoderSpec(spec.name, spec.scenario, params)
    if family.card_schema is not None and params.get("path"):
        from pathlib import Path

        if Path(str(params["path"])).is_file():  # a missing model: the family's own message
            check_model_card(family, str(params["path"]))
    if family.build_per_ap is not None:
        return Precoder(
            family, full, None, family.build_per_ap(full, config), getattr(config, "MT", None)
        )
    return Precoder(family, full, family.build(full, config))
