"""The precoder benchmark's line-up: registry specs of the shipped ONNX models, the optimizer
and every family that runs on its defaults (MU-MISO ones with user beams only), and the raw
ONNX host of a shipped model where a section needs its card or its graph."""

from __future__ import annotations

from typing import Any

from ..config import SystemConfig
from ..precoding.lineup import LABELS, every_family
from ..precoding.registry import PrecoderSpec, families, spec_for
from .precoders_settings import ETA, FAMILY_ORDER, JOINT_MODELS, MODELS, OPTIMIZER_SETTINGS


def onnx_host(name: str, cfg: SystemConfig):
    """The ONNX host of a shipped model (its card, its raw graph), None if it is missing."""
    from ..precoding.onnx import OnnxPrecoder

    path = MODELS / f"{name}.onnx"
    if not path.exists():
        return None
    return OnnxPrecoder(path, cfg, threads=1)


def model_spec(name: str, scenario: str, **params: Any) -> PrecoderSpec | None:
    """The registry spec of a shipped model, None if it is missing."""
    path = MODELS / f"{name}.onnx"
    return spec_for(str(path), scenario, threads=1, **params) if path.exists() else None


def model_margin(host) -> float:
    """The rate margin (bps/Hz) a shipped SC/CC model was trained with (0 without a model)."""
    return 0.0 if host is None else float(host.card["regime"].get("margin", 0.0))


def mu_miso_spec(name: str, scenario: str) -> PrecoderSpec:
    """A MU-MISO family's user beams only (no sensing beam), as the comparison reports them."""
    return PrecoderSpec(name, scenario, {"sensing_beam": "none"})


def optimizer_spec(scenario: str, regime: str = "joint", threshold: float | None = None,
                   quality: str = "best") -> PrecoderSpec:  # fmt: skip
    """The optimizer at the benchmark's eta for ``regime`` (its floor ``threshold``)."""
    return PrecoderSpec("optimize", scenario, {"regime": regime, "eta": ETA,
                                               "threshold": threshold, "quality": quality})  # fmt: skip


def line_up(scenario: str = "cellfree") -> dict[str, PrecoderSpec]:
    """label -> registry spec for the joint (eta = 0.4) comparison: the shipped models, the
    optimizer at each of OPTIMIZER_SETTINGS, then every family that runs on its defaults
    (FAMILY_ORDER first; a MU-MISO family with its user beams only)."""
    out: dict[str, PrecoderSpec] = {}
    for label, name in JOINT_MODELS:
        spec = model_spec(name, scenario)
        if spec is not None:
            out[label] = spec
    for label, quality in OPTIMIZER_SETTINGS.items():
        out[label] = optimizer_spec(scenario, quality=quality)
    names = every_family()
    for name in [n for n in FAMILY_ORDER if n in names] + [
        n for n in names if n not in FAMILY_ORDER
    ]:
        family = families()[name]
        if name == "optimize" or scenario not in family.scenarios:
            continue
        beams = "sensing_beam" in family.params
        out[LABELS.get(name, name)] = (
            mu_miso_spec(name, scenario) if beams else PrecoderSpec(name, scenario)
        )
    return out
