"""CCPA (paper 000, VII-A 1) next to our optimizer and the shipped STCIB on the same cell-free
realizations (issue 15): mean objective, feasibility and time per realization of each.

Every precoder comes from the registry and sees what the network knows (estimates, the
varpi-averaged sensing geometry). Per precoder: ``objective_seen``, eq 23a as the optimizers
see it (estimates, varpi-averaged SCNR: what CCPA and the optimizer maximize), ``objective``
on the true channels and realized sensing matrices (``evaluation.score``), Table-III
feasibility at the precoder benchmark's thresholds, the largest ||W||_F^2 / budget (23d) and
the seconds per realization (CCPA: its solve time, also when read from the cache). CCPA adds
its relaxed and rank-one objectives, the rank-one fraction and its SCA iterations.

``regimes``: CCPA next to the optimizer (fast, best) at one P1 ("sc", every user's rate >= the
threshold, maximizing the sensing sum) and one P2 threshold ("cc", every RAP's varpi-averaged
sensing rate >= it, maximizing the communication sum), REGIME_THRESHOLDS: the regime's objective
as seen, the fraction of realizations meeting the floor as seen (within ``ccpa.FEAS_TOL``) and on
the true channels / realized G, CCPA's "feasible" and certified-infeasible fractions.

The shipped STCIB was trained for Table I (NT = 8, K = 4); on another network its card is
refused and the row says why. ``quick``: the small network only (NT = 4 TAPs of 2 x 2, K = 2,
N = 16: a CCPA realization takes seconds); the full run adds Table I (N = 32, K = 4: about a
minute per CCPA realization here).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import evaluation, metrics
from ..config import SystemConfig
from ..models import shipped_models_dir
from ..precoding.convex.ccpa import FEAS_TOL, STATUSES
from ..precoding.registry import PrecoderSpec, Realization, make_precoder, spec_for
from ..scenario import Realizations, draw_realizations
from .common import write_report

ETA = 0.4  # the shipped joint STCIB's eta
COMM_THRESHOLD, SENSING_THRESHOLD = 3.0, 0.5  # Table III's, as bench precoders
#: the P1 / P2 floors (bps/Hz) of the regime comparison: Table III's SC threshold; its CC one
#: (0.5) is out of reach on the small network (CCPA certifies it), so a lower one
REGIME_THRESHOLDS = {"sc": COMM_THRESHOLD, "cc": 0.3}
REGIME_OBJECTIVES = {
    "sc": "P1: sensing sum (varpi-averaged kappa-rates) s.t. every user's rate >= threshold",
    "cc": "P2: communication sum (kappa-rates on the estimates) s.t. every RAP's >= threshold",
}
SEED = 15000
SMALL = SystemConfig().replace(NT=4, K=2)
#: realizations per network: quick, full
SIZES = {True: {"small": 3}, False: {"small": 20, "table1": 5}}
NETWORKS = {"small": SMALL, "table1": SystemConfig()}


def line_up(eta: float, draws: int, scheduler: Any, cache_dir: str | None, model: str):
    """label -> registry spec: CCPA, the optimizer at quality fast and best, the shipped model."""
    ccpa = {"eta": eta, "draws": draws, "scheduler": scheduler or "sync",
            "cache_dir": cache_dir or ""}  # fmt: skip
    out = {"CCPA": PrecoderSpec("ccpa", "cellfree", ccpa)}
    for quality in ("fast", "best"):
        params = {"regime": "joint", "eta": eta, "quality": quality}
        out[f"optimizer ({quality})"] = PrecoderSpec("optimize", "cellfree", params)
    path = shipped_models_dir() / f"{model}.onnx"
    out["STCIB (ONNX)"] = spec_for(str(path), "cellfree", threads=1)
    return out


def regime_line_up(regime: str, threshold: float, draws: int, scheduler: Any,
                   cache_dir: str | None) -> dict[str, PrecoderSpec]:  # fmt: skip
    """label -> registry spec at one regime (sc / cc) and floor: CCPA, the optimizer (fast, best)."""
    floor = {"regime": regime, "threshold": threshold}
    out = {"CCPA": PrecoderSpec("ccpa", "cellfree", {**floor, "draws": draws,
                                "scheduler": scheduler or "sync", "cache_dir": cache_dir or ""})}  # fmt: skip
    for quality in ("fast", "best"):
        params = {**floor, "quality": quality}
        out[f"optimizer ({quality})"] = PrecoderSpec("optimize", "cellfree", params)
    return out


def evaluate_regime(real: Realizations, W: np.ndarray, regime: str, threshold: float):
    """P1 (sc) / P2 (cc) view of W (B, N, K+1): the regime's objective as seen (the sensing or
    communication sum), its floor met as seen (estimates / varpi-averaged) and on the truth."""
    eta = 0.0 if regime == "sc" else 1.0
    parts = evaluation.score(real, W, eta)
    seen, true = ("Rc_est", "Rc") if regime == "sc" else ("Rs_avg", "Rs")
    other = "Rs_avg" if regime == "sc" else "Rc_est"
    return {
        "objective_seen": float(parts[other].sum(-1).mean()),
        "objective": float(parts["objective"].mean()),
        "floor_met_seen": metrics.feasibility(parts[seen], threshold, FEAS_TOL)["rate"],
        "floor_met_true": metrics.feasibility(parts[true], threshold)["rate"],
        "worst_floor_rate_seen": float(parts[seen].min()),
        "power_feasible": bool(parts["power"].max() <= 1 + 1e-6),
    }


def compare_regime(real: Realizations, regime: str, threshold: float, draws: int,
                   scheduler: Any, cache_dir: str | None) -> dict[str, Any]:  # fmt: skip
    """CCPA and the optimizer (fast, best) at one regime and floor on ``real``: {label: row}."""
    cfg, rows = real.cfg, {}
    seen = Realization(real.F_hat, real.sensing)
    for label, spec in regime_line_up(regime, threshold, draws, scheduler, cache_dir).items():
        t0 = time.perf_counter()
        res = make_precoder(spec, cfg)(seen)
        seconds = (time.perf_counter() - t0) / real.batch
        row = evaluate_regime(real, res.W, regime, threshold)
        if spec.name == "ccpa":
            ex = res.extras
            seconds = float(ex["seconds"].mean())
            infeasible = [STATUSES.index(s) for s in ("infeasible", "infeasible_inaccurate")]
            row.update({k: float(ex[k].mean()) for k in
                        ("relaxed_objective", "rank_one_objective", "feasible", "iterations")})  # fmt: skip
            row["certified_infeasible"] = float(np.isin(ex["status"], infeasible).mean())
        rows[label] = {**row, "seconds_per_realization": seconds}
    best = rows["optimizer (best)"]["objective_seen"]
    for row in rows.values():
        row["objective_seen_vs_optimizer_best"] = row["objective_seen"] / best if best else None
    return rows


def evaluate(real: Realizations, W: np.ndarray, eta: float) -> dict[str, Any]:
    """Objective as seen and on the true channels, feasibility, power of W (B, N, K+1)."""
    cfg = real.cfg
    seen = metrics.objective(metrics.sinr(real.F_hat, W),
                             metrics.scnr_averaged(real.Q_t, real.Q_c, W, cfg.MR),
                             eta, cfg.kappa)  # fmt: skip
    summary = evaluation.summarize(evaluation.score(real, W, eta), COMM_THRESHOLD,
                                   SENSING_THRESHOLD)  # fmt: skip
    return {
        "objective_seen": float(seen.mean()),
        **summary,
        # 23d up to float32 rounding (ONNX models compute in float32)
        "power_feasible": bool(summary["max_power_ratio"] <= 1 + 1e-6),
    }


def compare(
    cfg: SystemConfig = SMALL,
    realizations: int = 3,
    eta: float = ETA,
    seed: int = SEED,
    draws: int = 50,
    model: str = "stcib_joint",
    scheduler: Any = "sync",
    cache_dir: str | None = None,
    thresholds: dict[str, float] | None = None,
) -> dict[str, Any]:
    """CCPA, the optimizer (fast, best) and the shipped ``model`` on ``realizations`` draws of
    the cell-free network ``cfg`` (seed ``seed``) -> JSON-able {label: row} (module docstring);
    a precoder that cannot serve ``cfg`` gets {"skipped": why}. ``thresholds`` {"sc": th,
    "cc": th} (REGIME_THRESHOLDS by default; {} for none) adds the P1 / P2 comparison."""
    if isinstance(realizations, bool) or not isinstance(realizations, int) or realizations < 1:
        raise ValueError(f"realizations must be an integer >= 1, got {realizations!r}")
    real = draw_realizations(cfg, realizations, seed)
    seen = Realization(real.F_hat, real.sensing)
    rows: dict[str, Any] = {}
    for label, spec in line_up(eta, draws, scheduler, cache_dir, model).items():
        try:
            pre = make_precoder(spec, cfg)
        except ValueError as exc:
            rows[label] = {"skipped": str(exc)}
            continue
        t0 = time.perf_counter()
        res = pre(seen)
        seconds = (time.perf_counter() - t0) / realizations
        row = evaluate(real, res.W, eta)
        if spec.name == "ccpa":
            ex = res.extras
            seconds = float(ex["seconds"].mean())
            row.update({k: float(ex[k].mean()) for k in
                        ("relaxed_objective", "rank_one_objective", "rank_one_fraction",
                         "iterations")})  # fmt: skip
        rows[label] = {**row, "seconds_per_realization": seconds}
    best = rows["optimizer (best)"]["objective_seen"]
    for row in rows.values():
        if "objective_seen" in row:
            row["objective_seen_vs_optimizer_best"] = row["objective_seen"] / best
    regimes = {
        regime: {
            "threshold": th,
            "maximizes": REGIME_OBJECTIVES[regime],
            "precoders": compare_regime(real, regime, th, draws, scheduler, cache_dir),
        }
        for regime, th in (REGIME_THRESHOLDS if thresholds is None else thresholds).items()
    }
    return {
        "network": {"NT": cfg.NT, "MT": cfg.MT, "N": cfg.N, "K": cfg.K, "NR": cfg.NR},
        "realizations": realizations,
        "seed": seed,
        "eta": eta,
        "objective": metrics.OBJECTIVE,
        "precoders": rows,
        "regimes": regimes,
    }


def run(out_dir: Path, quick: bool, scheduler: Any = None) -> dict[str, Any]:
    """``cfisac bench ccpa``: :func:`compare` on each network of SIZES -> bench/ccpa.json."""
    cache = str(Path(out_dir) / "ccpa_cache")
    report: dict[str, Any] = {"networks": {}}
    for name, size in SIZES[quick].items():
        report["networks"][name] = compare(NETWORKS[name], size, scheduler=scheduler or "sync",
                                           cache_dir=cache)  # fmt: skip
    report["summary"] = {
        f"{name}: {label}": {k: row.get(k) for k in
                             ("objective_seen", "objective", "seconds_per_realization")}
        if "skipped" not in row else "skipped"
        for name, net in report["networks"].items()
        for label, row in net["precoders"].items()
    }  # fmt: skip
    report["summary"].update({
        f"{name}: {regime} {part['threshold']:g}: {label}": {k: row[k] for k in
            ("objective_seen", "floor_met_seen", "floor_met_true", "seconds_per_realization")}
        for name, net in report["networks"].items()
        for regime, part in net["regimes"].items()
        for label, row in part["precoders"].items()
    })  # fmt: skip
    write_report(Path(out_dir), "ccpa", report)
    return report
