"""Report sections of the precoder benchmark beyond the joint comparison: the SC / CC models
against the optimizer (Table III), the target-aware model on random scenes and the trade-off
curves of Figs 7-8."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .. import metrics
from ..config import SystemConfig
from ..precoding.lineup import designer, optimize_kwargs
from ..scenario import Realizations
from .common import optimize_resumable
from .precoders_lineup import model_margin, model_spec, mu_miso_spec, onnx_host, optimizer_spec
from .precoders_scoring import held_out_realizations, score, summary
from .precoders_settings import (
    CC_THRESHOLDS,
    COMM_THRESHOLD,
    CURVE_QUALITY,
    CURVE_SIZE,
    OPTIMIZER_SIZE,
    SC_THRESHOLDS,
    SENSING_THRESHOLD,
    SIZE,
    TEST_SEED,
)
from .precoders_timing import timed


def regime_section(cfg, real, quick, regime: str, cache: Path, scenario: str) -> dict[str, Any]:
    """SC (vartheta_th = 3) or CC (zeta_th = 0.5): the STCIB model vs the optimizer."""

    name = f"stcib_{regime}"
    host = onnx_host(name, cfg)
    model = model_spec(name, scenario)
    n_opt = OPTIMIZER_SIZE[quick]
    out: dict[str, Any] = {}
    th = COMM_THRESHOLD if regime == "sc" else SENSING_THRESHOLD
    kw = optimize_kwargs(optimizer_spec(scenario, regime, th), cfg)
    sub = real.take(slice(0, n_opt))
    W_opt, sec, _ = optimize_resumable(sub, cache, regime, seed=TEST_SEED, **kw)
    s_opt = score(sub, W_opt)
    out["optimizer (best)"] = {**summary(s_opt), "realizations": n_opt,
                               "seconds_per_realization_batched": sec}  # fmt: skip
    margin = model_margin(host)
    if margin > 0:  # like-for-like: the margin the model was trained with (on the estimates)
        W_m, _, _ = optimize_resumable(sub, cache, regime, seed=TEST_SEED, margin=margin, **kw)
        out[f"optimizer (best, margin {margin:g})"] = {**summary(score(sub, W_m)),
                                                       "realizations": n_opt}  # fmt: skip
    if model is not None:
        W, t = timed(designer(model, cfg), real)
        s = score(real, W)
        out["STCIB (ONNX)"] = {**summary(s), "realizations": real.batch,
                               "seconds_per_realization_batched": t / real.batch,
                               "on_optimizer_subset": summary(s, slice(0, n_opt))}  # fmt: skip
    Wz = designer(mu_miso_spec("zf", scenario), cfg)(real)
    out["ZF"] = {**summary(score(real, Wz)), "realizations": real.batch}
    return out


def tradeoff_section(
    cfg: SystemConfig, real: Realizations, quick: bool, cache: Path, scenario: str
) -> dict[str, Any]:
    """Figs 7-8: SC sensing sum over vartheta_th and CC comm sum over zeta_th, from the
    threshold-conditioned models (one model per regime, all test realizations) next to the
    optimizer (quality CURVE_QUALITY on the first CURVE_SIZE realizations per point)."""

    out: dict[str, Any] = {
        "optimizer_quality": CURVE_QUALITY,
        "optimizer_realizations": CURVE_SIZE[quick],
    }
    sub = real.take(slice(0, CURVE_SIZE[quick]))
    for regime, thresholds, key in (("sc", SC_THRESHOLDS, "Rc"), ("cc", CC_THRESHOLDS, "Rs_avg")):
        host = onnx_host(f"stcib_{regime}_cond", cfg)
        margin = model_margin(host)
        out[f"{regime}_margin"] = margin
        rows = []
        for th in thresholds:
            kw = optimize_kwargs(optimizer_spec(scenario, regime, th, CURVE_QUALITY), cfg)
            W_opt, _, _ = optimize_resumable(sub, cache, f"{regime}_curve", seed=TEST_SEED, **kw)
            s_opt = score(sub, W_opt)
            row = {"threshold": th, "optimizer": curve_point(s_opt, key, th)}
            if margin > 0:  # the margin the model was trained with: a like-for-like curve
                W_m, _, _ = optimize_resumable(sub, cache, f"{regime}_curve", seed=TEST_SEED,
                                               margin=margin, **kw)  # fmt: skip
                row["optimizer_margin"] = curve_point(score(sub, W_m), key, th)
            if host is not None:
                cond = designer(model_spec(f"stcib_{regime}_cond", scenario, threshold=th), cfg)
                s_net = score(real, cond(real))
                row["stcib_conditioned"] = curve_point(s_net, key, th)
                row["stcib_conditioned_on_optimizer_subset"] = curve_point(
                    {k: v[: sub.batch] for k, v in s_net.items()}, key, th
                )
            rows.append(row)
        out[regime] = rows
        fixed = model_spec(f"stcib_{regime}", scenario)
        if fixed is not None:  # the fixed-threshold model as one point
            th = COMM_THRESHOLD if regime == "sc" else SENSING_THRESHOLD
            point = curve_point(score(real, designer(fixed, cfg)(real)), key, th)
            out[f"{regime}_fixed_model"] = {"threshold": th, **point}
    return out


def curve_point(s: dict[str, np.ndarray], key: str, threshold: float) -> dict[str, Any]:
    """One point of a trade-off curve: mean sum rates and the feasibility of ``key`` at
    ``threshold``."""
    f = metrics.feasibility(s[key], threshold)
    return {"sum_rc": float(s["Rc"].sum(-1).mean()), "sum_rs": float(s["Rs"].sum(-1).mean()),
            "sum_rs_avg": float(s["Rs_avg"].sum(-1).mean()), "feasibility": f,
            "realizations": int(s["Rc"].shape[0])}  # fmt: skip


def target_aware_section(
    cfg: SystemConfig, quick: bool, cache: Path, scenario: str
) -> dict[str, Any]:
    """Random scenes (moving target): the target-aware model vs the paper-faithful one fed blindly
    (it assumes the paper scene; the registry would refuse it, so its raw graph is called) vs
    ZF."""
    spec = model_spec("stcib_target_joint", scenario)
    paper = onnx_host("stcib_joint", cfg)
    if spec is None:
        return {}
    host = designer(spec, cfg)
    real = held_out_realizations(cfg, "random", SIZE[quick] // 2)
    out = {"realizations": real.batch}
    out["STCIB target-aware (ONNX)"] = summary(score(real, host(real)))
    if paper is not None:
        from ..dataset import from_iq, iq

        W = from_iq(paper.run_rows(iq(real.F_hat)))
        out["STCIB paper-faithful, wrong scene (ONNX)"] = summary(score(real, W))
    out["ZF"] = summary(score(real, designer(mu_miso_spec("zf", scenario), cfg)(real)))
    n_opt = max(OPTIMIZER_SIZE[quick] // 4, 2)
    sub = real.take(slice(0, n_opt))
    W_opt, _, _ = optimize_resumable(sub, cache, "joint_random_scenes", seed=(TEST_SEED, "random"),
                                     **optimize_kwargs(optimizer_spec(scenario), cfg))  # fmt: skip
    out["optimizer (best)"] = {**summary(score(sub, W_opt)), "realizations": n_opt}
    s_net = score(real, host(real))
    out["STCIB target-aware, on the optimizer subset"] = summary(s_net, slice(0, n_opt))
    return out
