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


@dataclass(frozen=True)
class Family:
    """A precoder family: how to build it and what it declares (module docstring)."""

    name: str
    build: Builder
    summary: str
    params: Mapping[str, Any] = field(default_factory=dict)
    needs: frozenset[str] = frozenset({"estimates"})
    placement: str = "central"
    scenarios: tuple[str, ...] = ("cellfree",)
    card_schema: Mapping[str, Any] | None = None
    fixed_k: bool = True
    required: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        bad = sorted(set(self.needs) - set(NEEDS))
        if bad or self.placement not in PLACEMENTS:
            raise ValueError(
                f"precoder family {self.name!r}: needs must be within {NEEDS} and placement one "
                f"of {PLACEMENTS}; got needs {sorted(self.needs)}, placement {self.placement!r}"
            )


class Precoder:
    """A built precoder: ``precoder(realization) -> PrecoderResult`` with W (B, N, K+1)."""

    def __init__(self, family: Family, spec: PrecoderSpec, design: Callable) -> None:
        self.family, self.spec, self.design = family, spec, design

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


def spec_for(algorithm: str, scenario: str = "cellfree", **params: Any) -> PrecoderSpec:
    """A spec from a user-facing algorithm name: a family name, or the path of an .onnx model
    (family ``onnx`` with ``path``)."""
    algorithm = str(algorithm).strip()
    if algorithm.endswith(".onnx"):
        return PrecoderSpec("onnx", scenario, {"path": algorithm, **params})
    return PrecoderSpec(algorithm, scenario, params)


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
    return Precoder(family, full, family.build(full, config))
