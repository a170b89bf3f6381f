"""A line-up of precoders to compare, from the registry (``cfisac evaluate``, the benchmarks).

User-facing names (a registry family, or the path of an .onnx model) become :class:`Entry`
items: a display label and a :class:`~.registry.PrecoderSpec` whose parameters are filled from
a shared ``context`` (the problem being compared on: regime, eta, rate thresholds, optimizer
quality, sensing beam, threads) wherever the family declares that parameter, so a family
registered later (a plug-in, or one registered in a test) joins the comparison unchanged with
its own defaults. :func:`designer` turns a spec into ``Realizations -> W (B, N, K+1)``.
numpy only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import registry
from .registry import PrecoderSpec, Realization

#: display labels of the built-in families (others are shown by their family name)
LABELS = {"mrt": "MRT", "zf": "ZF", "rzf": "RZF", "wmmse": "WMMSE", "optimize": "optimizer"}
#: families a comparison leaves out unless named: they need a running service
NEEDS_SERVICE = ("remote",)
#: ... or solve conic programs for every realization (seconds each; they have their own bench)
SLOW = ("ccpa", "sca_speb")


@dataclass(frozen=True)
class Entry:
    """One precoder of a comparison: its ``label`` and the full registry ``spec``."""

    label: str
    spec: PrecoderSpec


def parse_names(text: str | Iterable[str]) -> list[str]:
    """``"zf, wmmse,models/x.onnx"`` (or a list) -> names, in order; ValueError for an empty
    name or one given twice (``--algorithms``)."""
    items = text.split(",") if isinstance(text, str) else list(text)
    names = [str(n).strip() for n in items]
    if not names or any(not n for n in names):
        raise ValueError(
            f"--algorithms: give comma-separated precoder names without empty ones, got {text!r}"
        )
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"--algorithms: {twice} given twice; name each precoder once")
    return names


def label(spec: PrecoderSpec) -> str:
    """The display label of a spec: LABELS, ``NAME (ONNX)`` for a model, else the family name."""
    if spec.name == "onnx":
        return f"{Path(str(spec.params['path'])).stem} (ONNX)"
    return LABELS.get(spec.name, spec.name)


def threshold_for(regime: str, comm_threshold: float | None, sensing_threshold: float | None):
    """The rate threshold of a regime: vartheta_th (sc), zeta_th (cc), none (joint)."""
    return {"sc": comm_threshold, "cc": sensing_threshold}.get(regime)


def _model_regime(path: str) -> tuple[str | None, bool]:
    """(regime, threshold-conditioned) from a model's card; (None, False) if it cannot be read
    (building the precoder then says why)."""
    from .onnx import load_card

    try:
        card = load_card(path)
    except (OSError, ValueError):
        return None, False
    return card["regime"]["name"], "threshold" in card["onnx"]["inputs"]


def entry(name: str, scenario: str, context: Mapping[str, Any] | None = None) -> Entry:
    """The entry of a user-facing ``name`` for ``scenario``, its parameters from ``context``.

    ``context`` keys matching the family's parameters are passed to it; ``threshold`` is
    derived from ``comm_threshold`` / ``sensing_threshold`` by the family's regime (its
    ``regime`` parameter, or a model card's), and goes to a model only if it is
    threshold-conditioned. ValueError naming the registered families for an unknown name, or the
    scenarios a family serves."""
    ctx = dict(context or {})
    spec = registry.spec_for(name, scenario)
    known = registry.families()
    family = known.get(spec.name)
    if family is None:
        raise ValueError(
            f"--algorithms: unknown precoder {name!r}; registered families: "
            f"{', '.join(sorted(known))} (or the path of an .onnx model)"
        )
    if scenario not in family.scenarios:
        raise ValueError(
            f"--algorithms: precoder {name!r} serves scenario(s) {list(family.scenarios)}, not "
            f"--scenario {scenario}"
        )
    params = {k: v for k, v in ctx.items() if k in family.params and k != "threshold"}
    if "threshold" in family.params:
        if spec.name == "onnx":
            regime, conditioned = _model_regime(str(spec.params["path"]))
        else:
            regime, conditioned = params.get("regime", family.params.get("regime")), True
        if conditioned and regime is not None:
            params["threshold"] = threshold_for(
                regime, ctx.get("comm_threshold"), ctx.get("sensing_threshold")
            )
    spec = PrecoderSpec(spec.name, scenario, {**spec.params, **params})
    return Entry(label(spec), spec)


class Designer:
    """``designer(realizations) -> W (B, N, K+1)`` of the registry precoder of a spec: it sees
    what the network knows (``F_hat`` and the sensing geometry of a scenario.Realizations
    batch). ``spec``: the full spec, every parameter filled in."""

    def __init__(self, spec: PrecoderSpec, cfg: Any) -> None:
        self.precoder = registry.make_precoder(spec, cfg)
        self.spec = self.precoder.spec

    def __call__(self, real: Any) -> np.ndarray:
        return self.precoder(Realization(real.F_hat, real.sensing)).W


def designer(spec: PrecoderSpec, cfg: Any) -> Designer:
    """The :class:`Designer` of ``spec`` for the scenario configuration ``cfg``."""
    return Designer(spec, cfg)


def every_family(exclude: Iterable[str] = ("onnx", *NEEDS_SERVICE, *SLOW)) -> list[str]:
    """Names of every registered family that runs on its defaults (built-ins first, in
    registration order), less ``exclude`` (onnx models are named one by one; remote needs a
    service; SLOW ones solve conic programs) and less families with required parameters."""
    skip = set(exclude)
    return [n for n, f in registry.families().items() if n not in skip and not f.required]


def optimize_kwargs(spec: PrecoderSpec, cfg: Any) -> dict[str, Any]:
    """precoding.optimize()'s keyword arguments for an ``optimize`` spec (checked by the registry
    for ``cfg``, defaults filled in), for callers that run the optimizer themselves (the benchmarks' chunked, cached runs,
    which also keep its info arrays): regime, eta, quality, per_tap and the regime's threshold."""
    if spec.name != "optimize":
        raise ValueError(f"optimize_kwargs: expected an 'optimize' spec, got {spec.name!r}")
    p = registry.make_precoder(spec, cfg).spec.params
    kw = {"regime": p["regime"], "eta": float(p["eta"]), "quality": p["quality"],
          "per_tap": bool(p["per_tap"])}  # fmt: skip
    if p["threshold"] not in (None, 0):
        key = "comm_threshold" if p["regime"] == "sc" else "sensing_threshold"
        kw[key] = float(p["threshold"])
    return kw
