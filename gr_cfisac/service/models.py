"""The precoders a service can run: a :class:`Model` from an ``.onnx`` file or a classical name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import SystemConfig

CLASSICAL = ("mrt", "zf", "rzf", "wmmse")


@dataclass
class Model:
    """A precoder the service runs: ``precode(F_hat (B,N,K), power, noise, sensing) -> W``."""

    name: str
    precode: Callable[[np.ndarray, float, float, Any], np.ndarray]
    columns: int  # K+1 (ISAC, sensing beam first) or K (MU-MISO user beams)


def load_model(model: str, cfg: SystemConfig, threshold: float | None = None) -> Model:
    """An ``.onnx`` file (hosted by gr_cfisac.precoding.onnx, card checked against ``cfg``;
    ``threshold`` (bps/Hz) is what a threshold-conditioned model is asked for) or a classical
    precoder name (mrt, zf, rzf, wmmse: MU-MISO beams (B, N, K))."""
    if model.endswith(".onnx"):
        from ..precoding.onnx import load_precoder

        host = load_precoder(Path(model), cfg)
        name = Path(model).name
        if getattr(host, "threshold_input", False):
            lo, hi = host.threshold_range or (0.0, float("inf"))
            if threshold is None or not lo <= threshold <= hi:
                raise ValueError(
                    f"{name} is threshold-conditioned: give a threshold in its trained range "
                    f"{lo:g}..{hi:g} bps/Hz (cfisac serve --threshold), got {threshold}"
                )
        elif threshold is not None:
            raise ValueError(f"{name} is not threshold-conditioned; drop the threshold")
        return Model(
            name,
            lambda F_hat, power, noise, sensing: host(F_hat, sensing=sensing, threshold=threshold),
            cfg.K + 1,
        )
    if threshold is not None:
        raise ValueError(f"a threshold applies to threshold-conditioned .onnx models, not {model}")
    name = model.lower()
    if name not in CLASSICAL:
        raise ValueError(
            f"model must be an .onnx file or one of {', '.join(CLASSICAL)}, got {model!r}"
        )
    from .. import precoding

    fn = getattr(precoding, name)
    return Model(name, lambda F_hat, power, noise, sensing: fn(F_hat, power, noise), cfg.K)
