"""Both ONNX forms of a model card's architecture, for the latency benchmark.

Batch-1 latency depends on the graph, not on the weight values, so a freshly initialized network
of the card's architecture, exported as the plain trace and as the lean form (lean.py), measures
what the lean export gains without the training run that made the shipped weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..recipe import TrainConfig
from .export import export_onnx
from .lean import lean_form
from .trainer import make_model


def synthetic_inputs(cfg: TrainConfig, batch: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    """Graph inputs of realistic magnitude (raw I/Q ~1e-4) for tracing: {'channels'[, ...]}."""
    sc = cfg.system_config()
    rng = np.random.default_rng(seed)
    out = {"channels": rng.standard_normal((batch, sc.K, 2 * sc.N)).astype(np.float32) * 1e-4}
    if cfg.model.target_aware:
        shape = (batch, 1 + sc.NC, 2 * sc.N)
        out["sensing"] = rng.standard_normal(shape).astype(np.float32) * 3e-5
    if cfg.model.threshold_input:
        lo, hi = cfg.loss.threshold_range
        out["threshold"] = rng.uniform(lo, hi, (batch, 1)).astype(np.float32)
    return out


def export_forms(card: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """{'traced': path, 'lean': path} for the architecture recorded in ``card`` (fresh weights;
    only 'traced' where the model has no lean form)."""
    import torch

    torch.set_num_threads(1)  # no idle-spinning torch workers competing with the timing after
    cfg = TrainConfig.from_dict(card["training"]["config"])
    model = make_model(cfg).eval()
    inputs = synthetic_inputs(cfg)
    lean = lean_form(model)
    modules = {"traced": model} if lean is None else {"traced": model, "lean": lean}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for form, module in modules.items():  # each exported as written: no second folding
        paths[form] = out_dir / f"{card['name']}.{form}.onnx"
        export_onnx(module, inputs, paths[form], lean=False)
    return paths
