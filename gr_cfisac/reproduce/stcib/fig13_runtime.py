"""Fig. 13 of seed 000: online runtime per realization of the joint design (eta = 0.4) vs the
number of users and the TAP array, timed in this process."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from ...config import SystemConfig
from ...precoding.lineup import designer
from ...precoding.registry import PrecoderSpec, families
from ...scenario import Realizations, draw_realizations
from ..figure import Figure, Trend
from ..run import IN_PROCESS, Run
from .common import model_path


def _time_per_realization(
    spec: PrecoderSpec, cfg: SystemConfig, real: Realizations, repeats: int = 3
) -> float:
    """Best of ``repeats`` batched calls (the machine is shared: the minimum is the cost)."""
    design = designer(spec, cfg)
    design(real.take(slice(0, 1)))  # warm-up (session start, caches)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        design(real)
        best = min(best, time.perf_counter() - start)
    return best / real.batch


def _runtime_methods(
    cfg: SystemConfig, shipped: bool, ccpa_max_n: int = 10**9
) -> dict[str, PrecoderSpec]:
    specs = {"optimizer": PrecoderSpec("optimize", "cellfree", {"eta": 0.4, "quality": "fast"})}
    if "ccpa" in families() and cfg.N * (cfg.K + 1) <= ccpa_max_n:
        specs["ccpa"] = PrecoderSpec("ccpa", "cellfree", {"eta": 0.4})
    if shipped:
        specs["stcib"] = PrecoderSpec("onnx", "cellfree", {"path": model_path("stcib_joint")})
        specs["cnn"] = PrecoderSpec("onnx", "cellfree", {"path": model_path("cnn_joint")})
    return specs


def fig13(
    Ks: Sequence[int] = (2, 4, 6, 8), shapes: Sequence[tuple[int, int]] = ((1, 1), (2, 2), (3, 3)),
    draws: int = 8, ccpa_draws: int = 1, ccpa_max_n: int = 160, seed: int = 13,
    run: Run = IN_PROCESS,
) -> Figure:  # fmt: skip
    """Fig. 13: mean online runtime per realization of the joint design (eta = 0.4) vs the
    number of users (2x2 TAPs) and vs the TAP array (K = 4). Timings always run in this
    process, one method at a time (``run`` is not used: parallel points would share cores)."""
    rows = []
    points = [("users", K, SystemConfig(K=K, tau_p=max(4, K))) for K in Ks]
    points += [("array", f"{r}x{c}", SystemConfig(MT_shape=(r, c))) for r, c in shapes]
    for sweep, x, cfg in points:
        shipped = cfg.K == 4 and cfg.MT_shape == (2, 2)
        real = draw_realizations(cfg, draws, seed)
        row: dict[str, Any] = {"sweep": sweep, "x": f"K={x}" if sweep == "users" else x}
        for method, spec in _runtime_methods(cfg, shipped, ccpa_max_n if ccpa_draws else 0).items():
            sub = real.take(slice(0, ccpa_draws)) if method == "ccpa" else real
            row[f"{method}_s"] = _time_per_realization(spec, cfg, sub, 1 if method == "ccpa" else 3)
        rows.append(row)
    base = next((r for r in rows if r["x"] == "K=4"), None)
    trends = []
    if base is not None and "stcib_s" in base:
        ratio = base["stcib_s"] / base["optimizer_s"]
        trends.append(Trend(
            "STCIB needs a tiny fraction of the iterative solvers' runtime",
            "0.39 % of ALM-MO's and 0.01 % of CCPA's at K = 4",
            f"{100 * ratio:.3f} % of the optimizer's" + (
                f", {100 * base['stcib_s'] / base['ccpa_s']:.4f} % of CCPA's"
                if "ccpa_s" in base else ""),
            ratio < 0.05,
        ))  # fmt: skip
    users = [r for r in rows if r["sweep"] == "users"]
    ccpa = [r for r in users if "ccpa_s" in r]
    grows = all(a["ccpa_s"] < b["ccpa_s"] for a, b in zip(ccpa, ccpa[1:]))
    trends.append(Trend(
        "the iterative solvers' runtime grows with K", "CCPA and ALM-MO rise with K",
        "CCPA " + ", ".join(f"{r['x']}: {r['ccpa_s']:.1f} s" for r in ccpa) + "; optimizer "
        + ", ".join(f"{r['x']}: {1e3 * r['optimizer_s']:.1f} ms" for r in users),
        grows if len(ccpa) > 1 else None,
        "CCPA's SDP variables grow as (K + 1) N^2 and its time with them; our optimizer "
        "(L-BFGS on the power sphere) takes tens of ms at every K with N = 32 fixed: its cost is "
        "set by its iteration count (its stopping rule), not by the K + 1 columns, so it does not "
        "show the paper's ALM-MO growth (timings on a shared 2-core machine, best of 3)",
    ))  # fmt: skip
    return Figure(
        "fig13", "Fig. 13: online runtime per realization, joint design eta = 0.4",
        rows, kind="bar", x="x", y=tuple(dict.fromkeys(c for r in rows for c in r if c.endswith("_s"))),
        logy=True, ylabel="seconds per realization", trends=trends,
        deviations=["STCIB and CNN are shipped for Table I's K = 4, 2x2 TAPs only: they are timed "
                    "there; the paper trains one per size",
                    f"CCPA (~1 min per Table-I realization) is timed on {ccpa_draws} realization(s) "
                    f"where N (K + 1) <= {ccpa_max_n} only",
                    "times are wall-clock seconds on this machine, the optimizer at quality "
                    "'fast' batched over the draws, the learned models in ONNX Runtime batched"],
        meta={"draws": draws, "ccpa_draws": ccpa_draws, "ccpa_max_n": ccpa_max_n, "seed": seed},
    )  # fmt: skip
