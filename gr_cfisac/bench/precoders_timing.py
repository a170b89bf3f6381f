"""Timing of the precoder benchmark: a timed call, the batch-1 time per realization, the raw
ONNX session latency of each shipped model and the plain-trace vs lean export forms."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..config import SystemConfig
from ..scenario import Realizations
from .common import best_time
from .precoders_lineup import onnx_host
from .precoders_settings import JOINT_MODELS, MODELS


def timed(fn, *args) -> tuple[Any, float]:
    """fn(*args) and the seconds it took (one call)."""
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def batch1_time(fn, real: Realizations, repeats: int, slow: bool) -> float:
    """Seconds per realization at batch 1: the median over five single realizations of the best
    of ``repeats`` calls (one call for slow iterative precoders)."""
    times = []
    for i in range(5):
        one = real.take(slice(i, i + 1))
        times.append(best_time(lambda o=one: fn(o), repeat=1 if slow else repeats))
    return float(np.median(times))


def raw_latency(cfg: SystemConfig, real: Realizations, repeats: int) -> dict[str, float]:
    """session.run alone (no numpy conversion) at batch 1, microseconds, per shipped model."""
    from ..channels import sensing_tokens
    from ..dataset import iq, iq_rows

    out = {}
    x1 = iq(real.F_hat[:1])
    s1 = iq_rows(sensing_tokens(real.sensing)[:1])
    for _, name in JOINT_MODELS:
        host = onnx_host(name, cfg)
        if host is None:
            continue
        for _ in range(200):
            host.run_rows(x1, s1)
        out[name] = 1e6 * best_time(
            lambda h=host: h.run_rows(x1, s1), repeat=repeats * 3, number=200
        )
    return out


def export_forms_section(repeats: int) -> dict[str, Any]:
    """Batch-1 session.run latency of the plain trace vs the lean export (train/lean.py) of the
    same architecture, measured in interleaved rounds (best of each), with the graphs' node
    counts. Needs torch (the [train] extra) to export."""
    import json
    import tempfile

    import onnx
    import onnxruntime as ort

    try:
        from ..train.forms import export_forms, synthetic_inputs
    except ImportError as exc:
        return {"skipped": f"needs torch to export ({exc}); pip install '.[train]'"}
    from ..recipe import TrainConfig

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("stcib_joint", "stcib_target_joint", "stcib_pma_joint"):
            card_file = MODELS / f"{name}.json"
            if not card_file.exists():
                continue
            card = json.loads(card_file.read_text())
            paths = export_forms(card, tmp)
            feeds = synthetic_inputs(TrainConfig.from_dict(card["training"]["config"]), batch=1)
            runs = {}
            for form, path in paths.items():
                options = ort.SessionOptions()
                options.intra_op_num_threads = 1
                session = ort.InferenceSession(
                    str(path), options, providers=["CPUExecutionProvider"]
                )
                runs[form] = lambda s=session, f=feeds: s.run(None, f)
            best = {form: float("inf") for form in runs}
            for _ in range(repeats * 2):
                for form, fn in runs.items():
                    best[form] = min(best[form], best_time(fn, repeat=1, number=300))
            row: dict[str, Any] = {f"{form}_us": 1e6 * t for form, t in best.items()}
            for form, path in paths.items():
                nodes = [n for n in onnx.load(str(path)).graph.node
                         if n.op_type not in ("Constant", "Identity")]  # fmt: skip
                row[f"{form}_nodes"] = len(nodes)
            if "lean" in best:
                row["lean_speedup"] = best["traced"] / best["lean"]
            out[name] = row
            print(f"  {name}: " + ", ".join(f"{k} {v:.1f}" for k, v in row.items()))
    return out
