"""Communication-core benchmark (issue 2): realization throughput and every classical precoder.

1. Throughput, realizations/s at batch ``GEN_BATCH``: geometry + correlated Rician channels
   (eq 1), sensing geometry + realized G (eqs 16-18) + varpi-averaged grams, pilots + MMSE
   estimation (eqs 6-8), and the whole ``draw_realizations``.
2. Precoders on the same Table-I realizations (paper scene, seed ``SEED``), the line-up from the
   precoder registry (:func:`line_up`; a newly registered family joins with its defaults):
   every family's user beams (MRT, ZF, RZF, WMMSE: sensing beam none), MRT / ZF plus a sensing
   beam (target beam; for ZF projected into the users' null space) at the per-realization best
   of ``SPLITS`` for what the precoder sees, and the iterative optimizer (``quality`` "fast"
   and "best"; its registry spec runs chunked and cached, common.optimize_resumable). Each sees F_hat and the
   varpi-averaged sensing geometry; reported on the TRUE channels and REALIZED G: mean P3
   objective (eq 23a on the kappa-rates, eta = 0.4; metrics.OBJECTIVE), sum kappa-rates Rc and Rs, the objective as the precoder
   sees it, and seconds per realization (batched call / realizations).
3. WMMSE convergence (sum rate along 1000 iterations from RZF, monotonicity, iterations to a
   relative gain below 1e-4 / 1e-6) and the optimizer on P1 (vartheta_th = 3, also with a
   0.5 bps/Hz robustness margin) and P2 (zeta_th = 0.5): feasibility as seen / on the true
   channels and realized G (Table III), sum rates, time; ``quality="fast"`` on the first
   ``CONSTRAINED_SIZE``.

Optimizer chunks are cached under OUT/core_cache/ while the benchmark runs, so an interrupted
run resumes where it stopped (the cache is removed at the end).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .. import metrics
from ..channels import (
    draw_comm_channels,
    draw_rcs,
    sensing_geometry,
    sensing_gram_averaged,
    sensing_matrices,
)
from ..config import SystemConfig
from ..estimation import estimate_channels
from ..geometry import drop
from ..precoding import wmmse
from ..precoding.lineup import LABELS, designer, every_family, optimize_kwargs
from ..precoding.registry import PrecoderSpec, families
from ..scenario import Realizations, draw_realizations
from .common import best_time, optimize_resumable, write_report

SEED = 2024
ETA = 0.4
COMM_THRESHOLD = 3.0
SENSING_THRESHOLD = 0.5
SPLITS = np.linspace(0.0, 0.9, 19)
SIZE = {True: 50, False: 1000}
BEST_SIZE = {True: 50, False: 1000}  # realizations the best-quality optimizer runs on
CONSTRAINED_SIZE = {True: 20, False: 200}
GEN_BATCH = {True: 200, False: 1000}
#: scenarios this benchmark draws realizations of
SCENARIOS = ("cellfree",)
#: best-split rows: (family, its sensing beam, label)
BEST_SPLIT = (
    ("mrt", "target", "MRT + target beam (best split)"),
    ("zf", "nullspace", "ZF + null-space target beam (best split)"),
)
#: the optimizer's rows: (quality, label)
OPTIMIZER_ROWS = (("fast", "optimizer (fast)"), ("best", "optimizer (best)"))


def throughput(cfg: SystemConfig, batch: int) -> dict[str, float]:
    """Realizations per second of each generation stage at one batch size."""
    rng = np.random.default_rng(SEED)
    geom = drop(cfg, rng, batch, "paper")
    comm = draw_comm_channels(cfg, geom, rng)

    def sensing():
        sg = sensing_geometry(cfg, geom)
        G = sensing_matrices(sg, *draw_rcs(rng, batch, cfg.NR, cfg.NT, cfg.NC))
        return G, sensing_gram_averaged(sg)

    stages = {
        "comm_channels": lambda: draw_comm_channels(cfg, drop(cfg, rng, batch, "paper"), rng),
        "sensing_geometry_G_and_grams": sensing,
        "mmse_estimation": lambda: estimate_channels(comm, cfg.rho_p, cfg.tau_p, rng, "mmse"),
        "draw_realizations": lambda: draw_realizations(cfg, batch, rng),
    }
    return {f"{k}_per_s": batch / best_time(fn, repeat=3) for k, fn in stages.items()}


def _score(r: Realizations, W: np.ndarray) -> dict[str, np.ndarray]:
    """Per-realization objective (true and as seen) and sum kappa-rates on true F, realized G."""
    cfg = r.cfg
    W = metrics._with_sensing_column(W, cfg.K)
    g_true = metrics.sinr(r.F, W)
    s_true = metrics.scnr(r.G_t, r.G_c, W)
    seen = metrics.objective(
        metrics.sinr(r.F_hat, W), metrics.scnr_averaged(r.Q_t, r.Q_c, W, cfg.MR), ETA, cfg.kappa
    )
    return {
        "objective": metrics.objective(g_true, s_true, ETA, cfg.kappa),
        "objective_seen": seen,
        "Rc": metrics.rate(g_true, cfg.kappa).sum(-1),
        "Rs": metrics.rate(s_true, cfg.kappa).sum(-1),
        "power_ratio": (np.abs(W) ** 2).sum(axis=(1, 2)) / cfg.power_budget,
        # each TAP's power over its equal share rho (= power_budget / NT)
        "tap_power_ratio": metrics.per_tap_power(W, cfg.NT) / cfg.rho,
    }


def line_up(scenario: str = "cellfree") -> dict[str, PrecoderSpec]:
    """label -> registry spec of the plain rows: every family that runs on its defaults (the
    optimizer aside: OPTIMIZER_ROWS), a MU-MISO family with its user beams only."""
    out = {}
    for name in every_family():
        family = families()[name]
        if name == "optimize" or scenario not in family.scenarios:
            continue
        params = {"sensing_beam": "none"} if "sensing_beam" in family.params else {}
        out[LABELS.get(name, name)] = PrecoderSpec(name, scenario, params)
    return out


def _best_split(r: Realizations, candidates: list) -> np.ndarray:
    """The candidate W (one per split of SPLITS) with the best objective as seen, per
    realization."""
    B = r.batch
    cands = [design(r) for design in candidates]
    seen = [_score(r, W)["objective_seen"] for W in cands]
    pick = np.argmax(np.stack(seen, axis=1), axis=1)
    return np.stack(cands, axis=1)[np.arange(B), pick]


def _timed(fn: Callable[[], np.ndarray], repeat: int) -> tuple[np.ndarray, float]:
    out = fn()
    return out, best_time(fn, repeat=repeat)


def _summary(s: dict[str, np.ndarray], seconds: float, n: int) -> dict[str, float]:
    return {
        "objective": float(s["objective"].mean()),
        "objective_seen": float(s["objective_seen"].mean()),
        "Rc": float(s["Rc"].mean()),
        "Rs": float(s["Rs"].mean()),
        "max_power_ratio": float(s["power_ratio"].max()),
        "per_tap_power_ratio_mean": s["tap_power_ratio"].mean(0).round(4).tolist(),
        "per_tap_power_ratio_max": float(s["tap_power_ratio"].max()),
        "seconds_per_realization": seconds,
        "realizations": n,
    }


def precoders(r: Realizations, cache: Path, quick: bool, scenario: str = "cellfree") -> dict:
    """Every row of the line-up on realizations r (the best-quality optimizer on the first
    BEST_SIZE): _summary() per label."""
    cfg, B = r.cfg, r.batch
    rep = 1 if B > 200 else 3
    out: dict[str, Any] = {}
    for label, spec in line_up(scenario).items():
        design = designer(spec, cfg)
        W, sec = _timed(lambda d=design: d(r), rep)
        out[label] = _summary(_score(r, W), sec / B, B)
    for name, beam, label in BEST_SPLIT:
        if name not in families():
            continue
        candidates = [
            designer(PrecoderSpec(name, scenario, {"sensing_beam": beam,
                                                   "sensing_fraction": float(e)}), cfg)
            for e in SPLITS
        ]  # fmt: skip
        W, sec = _timed(lambda c=candidates: _best_split(r, c), rep)
        out[label] = _summary(_score(r, W), sec / B, B)
    for quality, label in OPTIMIZER_ROWS:
        sub = r if quality == "fast" else r.take(slice(0, min(B, BEST_SIZE[quick])))
        spec = PrecoderSpec("optimize", scenario, {"eta": ETA, "quality": quality})
        W, sec, info = optimize_resumable(sub, cache, quality, seed=SEED,
                                          **optimize_kwargs(spec, cfg))  # fmt: skip
        out[label] = {
            **_summary(_score(sub, W), sec, sub.batch),
            "iterations": float(info["iterations"].mean()),
        }
    return out


def wmmse_convergence(r: Realizations) -> dict[str, Any]:
    """WMMSE from RZF run for a fixed 1000 iterations: sum rate along the way, monotonicity,
    and the iteration where each realization's relative gain first drops below a tolerance."""
    _, hist = wmmse(r.F_hat, r.cfg.power_budget, iterations=1000, tol=0.0, return_history=True)
    steps = np.diff(hist, axis=1)
    rel = steps / np.maximum(np.abs(hist[:, :-1]), 1e-12)
    reach = {}
    for tol in (1e-4, 1e-6):
        first = np.argmax(rel < tol, axis=1) + 1
        reach[f"iterations_to_gain_below_{tol:g}"] = {
            "median": float(np.median(first)),
            "p90": float(np.percentile(first, 90)),
        }
    return {
        "sum_rate_at_iteration": {
            str(i): float(hist[:, i].mean()) for i in (0, 10, 50, 200, 500, 1000)
        },
        "min_step": float(steps.min()),
        **reach,
        "note": "sum_k log2(1 + SINR_k) on the estimates, mean over realizations; iteration 0 is RZF",
    }


def constrained(r: Realizations, cache: Path, scenario: str = "cellfree") -> dict[str, Any]:
    """The optimizer (fast) on P1 and P2: feasibility as seen and on the true channels (the
    registry's optimize spec per regime; the margin, a robustness variant, is added here)."""
    cfg = r.cfg
    out: dict[str, Any] = {}
    for regime, margin, label in (
        ("sc", 0.0, f"P1 (vartheta_th={COMM_THRESHOLD})"),
        ("cc", 0.0, f"P2 (zeta_th={SENSING_THRESHOLD})"),
        ("sc", 0.5, f"P1 (vartheta_th={COMM_THRESHOLD}, margin 0.5)"),
    ):
        th = COMM_THRESHOLD if regime == "sc" else SENSING_THRESHOLD
        spec = PrecoderSpec("optimize", scenario, {"regime": regime, "threshold": th,
                                                   "eta": ETA, "quality": "fast"})  # fmt: skip
        kw = optimize_kwargs(spec, cfg) | ({"margin": margin} if margin else {})
        tag = f"{regime}{kw.get('margin', 0)}"
        W, sec, info = optimize_resumable(r, cache, tag, seed=SEED, **kw)
        if regime == "sc":
            true = metrics.comm_rates(r.F, W, cfg.kappa)
            th = COMM_THRESHOLD
        else:
            true = metrics.sensing_rates(r.G_t, r.G_c, W, cfg.kappa)
            th = SENSING_THRESHOLD
        s = _score(r, W)
        out[label] = {
            "feasible_seen": float(info["feasible"].mean()),
            "feasibility_true": metrics.feasibility(true, th),
            "Rc": float(s["Rc"].mean()),
            "Rs": float(s["Rs"].mean()),
            "seconds_per_realization": sec,
            "realizations": r.batch,
        }
    return out


def run(out_dir: Path, quick: bool, scenario: str = "cellfree") -> dict[str, Any]:
    if scenario not in SCENARIOS:
        raise ValueError(
            f"bench core draws realizations of scenario(s) {', '.join(SCENARIOS)} only, not "
            f"--scenario {scenario}"
        )
    cfg = SystemConfig()
    cache = Path(out_dir) / "core_cache"
    t0 = time.perf_counter()
    print("core: generation throughput")
    speed = throughput(cfg, GEN_BATCH[quick])
    real = draw_realizations(cfg, SIZE[quick], SEED)
    print(f"core: precoders on {real.batch} realizations")
    table = precoders(real, cache, quick, scenario)
    conv = wmmse_convergence(real)
    print("core: optimizer on P1 / P2")
    cons = constrained(
        real.take(slice(0, min(real.batch, CONSTRAINED_SIZE[quick]))), cache, scenario
    )
    best = table["optimizer (best)"]
    baseline = max(
        table[k]["objective"]
        for k in ("MRT + target beam (best split)", "ZF + null-space target beam (best split)")
    )
    report = {
        "config": cfg.to_dict(),
        "quick": quick,
        "scenario": scenario,
        "seed": SEED,
        "eta": ETA,
        "objective": metrics.OBJECTIVE,
        "throughput_realizations_per_s": {"batch": GEN_BATCH[quick], **speed},
        "precoders": table,
        "best_optimizer_realizations": best["realizations"],
        "wmmse_convergence": conv,
        "optimizer_constrained_fast": cons,
        "seconds": time.perf_counter() - t0,
        "summary": {
            "draw_realizations_per_s": speed["draw_realizations_per_s"],
            "mmse_estimation_per_s": speed["mmse_estimation_per_s"],
            "objective": {k: round(v["objective"], 4) for k, v in table.items()},
            "optimizer_best_s_per_realization": best["seconds_per_realization"],
            "optimizer_fast_s_per_realization": table["optimizer (fast)"][
                "seconds_per_realization"
            ],
            "optimizer_best_gain_over_best_baseline": best["objective"] - baseline,
            "wmmse_iterations_to_gain_below_1e-6_median": conv["iterations_to_gain_below_1e-06"][
                "median"
            ],
        },
    }
    write_report(Path(out_dir), "core", report)
    shutil.rmtree(cache, ignore_errors=True)
    return report
