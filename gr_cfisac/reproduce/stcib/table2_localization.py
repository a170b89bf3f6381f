"""Table II of seed 000: the localization RMSE (eq 43) of MUSIC on the echoes of every design
and solver's beams, on the paper's scene."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ... import echo, music
from ...config import SystemConfig
from ...localization import associate_target, localization_rmse, pick
from ...precoding.lineup import designer
from ...precoding.registry import PrecoderSpec, families
from ...scenario import Realizations, draw_realizations
from ..figure import Figure, Trend
from ..run import IN_PROCESS, Run
from .common import model_path, percent_change

#: (design row, regime, threshold or eta, paper's RMSE in degrees: CCPA, ALM-MO, CNN, STCIB)
TABLE2 = (
    ("SC 2", "sc", 2.0, (1.140, 0.967, 1.225, 0.615)),
    ("SC 4", "sc", 4.0, (1.926, 1.895, 5.557, 1.392)),
    ("CC 0.2", "cc", 0.2, (1.082, 1.370, 3.088, 2.061)),
    ("CC 0.7", "cc", 0.7, (0.506, 0.774, 1.291, 1.000)),
    ("Joint 0.2", "joint", 0.2, (0.981, 1.478, 2.316, 1.913)),
    ("Joint 0.8", "joint", 0.8, (1.941, 3.118, 4.753, 3.636)),
    (
        "Joint 0.4",
        "joint",
        0.4,
        (None, None, None, None),
    ),  # ours only: STCIB/CNN are shipped at 0.4
)
METHODS = ("ccpa", "optimizer", "cnn", "stcib")


def _table2_spec(method: str, regime: str, value: float) -> PrecoderSpec | None:
    """The registry spec of ``method`` for one Table-II row, or None where nothing is shipped."""
    if method == "optimizer":
        params = {"regime": regime, "quality": "fast"}
        params.update({"eta": value} if regime == "joint" else {"threshold": value})
        return PrecoderSpec("optimize", "cellfree", params)
    if method == "ccpa":
        family = families().get("ccpa")
        if family is None:
            return None
        if regime == "joint":
            return PrecoderSpec("ccpa", "cellfree", {"eta": value})
        if "threshold" not in family.params:  # the registered CCPA solves the joint design only
            return None
        return PrecoderSpec("ccpa", "cellfree", {"regime": regime, "threshold": value})
    if method == "stcib":
        if regime == "joint":
            return None if value != 0.4 else PrecoderSpec(
                "onnx", "cellfree", {"path": model_path("stcib_joint")})  # fmt: skip
        name = f"stcib_{regime}_cond"
        return PrecoderSpec("onnx", "cellfree", {"path": model_path(name), "threshold": value})
    if method == "cnn":
        ok = regime == "joint" and value == 0.4
        return PrecoderSpec("onnx", "cellfree", {"path": model_path("cnn_joint")}) if ok else None
    raise ValueError(f"unknown Table II method {method!r}")


def localization_rmse_deg(real: Realizations, W: np.ndarray, seed: int) -> float:
    """Eq 43's RMSE (degrees, over RAPs and realizations) of MUSIC on echoes of W received by
    ``real``'s RAPs: the target's direction picked among the 1 + NC peaks by its prior direction
    (the paper's scene); blocks MUSIC finds no peak in count as misses, not in the RMSE."""
    cfg = real.cfg
    e = echo.synthesize(real.sensing, W, cfg.tau, np.random.default_rng(seed))
    res = music.estimate(e.y, *cfg.MR_shape, n_sources=1 + cfg.NC)
    prior = np.stack([real.sensing.psi_t, real.sensing.theta_t], axis=-1)
    est = pick(res.angles, associate_target(res.angles, prior=prior))
    return float(np.degrees(localization_rmse(e.psi_t, e.theta_t, est[..., 0], est[..., 1])))


def localization_point(point: dict[str, Any]) -> dict[str, float]:
    """Table II's RMSE of one (design, method): W designed for Table I's network, its echoes
    received by ``rap_shape`` RAPs at the same places (same draws: users, channels and scene do
    not depend on the RAP array). available = 0 where nothing of that method is shipped."""
    spec = _table2_spec(point["method"], point["regime"], point["value"])
    if spec is None or (point["method"] == "ccpa" and point["ccpa_draws"] < 1):
        return {"rmse_deg": float("nan"), "available": 0.0}
    cfg, seed = SystemConfig(), point["seed"]
    draws = point["ccpa_draws"] if point["method"] == "ccpa" else point["draws"]
    real = draw_realizations(cfg, draws, seed, scene="paper")
    shape = tuple(point["rap_shape"])
    heard = draw_realizations(SystemConfig(MR_shape=shape), draws, seed, scene="paper")
    if not np.array_equal(real.F, heard.F):
        raise RuntimeError("table2: the RAP array changed the channel draws; keep them aligned")
    W = designer(spec, cfg)(real)
    return {"rmse_deg": localization_rmse_deg(heard, W, seed), "available": 1.0}


def table2(
    draws: int = 40, seed: int = 2, rows_: Sequence[tuple] = TABLE2,
    rap_shape: tuple[int, int] = (4, 4), ccpa_draws: int = 3, run: Run = IN_PROCESS,
) -> Figure:  # fmt: skip
    """Table II: localization RMSE (eq 43) of every design and solver on the paper's scene
    (target at (-45, 45) deg), MUSIC on 4x4 RAPs hearing the echoes of each precoder's W."""
    cfg = SystemConfig()
    points = [{"regime": regime, "value": value, "method": m, "draws": draws, "seed": seed,
               "rap_shape": list(rap_shape), "ccpa_draws": min(ccpa_draws, draws)}
              for _, regime, value, _ in rows_ for m in METHODS]  # fmt: skip
    found = iter(run.map(localization_point, points, desc="table2"))
    rows = []
    for label, _, _, paper in rows_:
        row: dict[str, Any] = {"design": label}
        for method, p in zip(METHODS, paper):
            r = next(found)
            row[method] = r["rmse_deg"] if r["available"] else None
            row[f"paper_{method}"] = p
        rows.append(row)
    by = {r["design"]: r for r in rows}
    trends = []
    sc = [r for r in rows if r["design"].startswith("SC")]
    wins = [r["stcib"] is not None and all(
        r[m] is None or r["stcib"] <= r[m] for m in METHODS if m != "stcib") for r in sc]  # fmt: skip
    trends.append(Trend(
        "SC: STCIB localizes best (lowest RMSE)", "0.615 deg vs 0.967-1.225 (SC 2)",
        "; ".join(f"{r['design']}: " + ", ".join(
            f"{m} {r[m]:.3f}" for m in METHODS if r[m] is not None) for r in sc),
        all(wins) if sc else None,
        "" if all(wins) else "our solvers (CCPA, and the optimizer, a stronger reference than "
        "the paper's ALM-MO) meet the rate floor and put every remaining watt into sensing; the "
        "one threshold-conditioned SC STCIB network, trained on MMSE estimates, keeps a margin "
        "above the floor (Table III: no violations) and so leaves the target beam less power",
    ))  # fmt: skip
    if "Joint 0.4" in by and by["Joint 0.4"]["cnn"] is not None:
        a, b = by["Joint 0.4"]["stcib"], by["Joint 0.4"]["cnn"]
        trends.append(Trend(
            "Joint: STCIB localizes better than the CNN", "1.913 vs 2.316 deg (eta = 0.2), "
            "3.636 vs 4.753 (eta = 0.8)", f"{a:.3f} vs {b:.3f} deg (eta = 0.4)", a < b,
            "" if a < b else "our CNN (cnn_joint) trades communication for sensing: it puts "
            "more power on the target beam (sum Rs 5.1 vs STCIB's 3.8 bps/Hz) at less than half "
            "STCIB's sum Rc (10.9 vs 22.9) and a lower eq-23a objective (the families table), "
            "so it localizes slightly better while serving users far worse",
        ))  # fmt: skip
    if "CC 0.2" in by and "CC 0.7" in by:
        a, b = by["CC 0.2"]["stcib"], by["CC 0.7"]["stcib"]
        trends.append(Trend(
            "CC: a higher sensing floor zeta_th lowers STCIB's RMSE", "-51.48 % from 0.2 to 0.7",
            f"{percent_change(a, b):+.2f} %", b < a,
        ))  # fmt: skip
    if "Joint 0.2" in by and "Joint 0.8" in by:
        a, b = by["Joint 0.2"]["optimizer"], by["Joint 0.8"]["optimizer"]
        trends.append(Trend(
            "Joint: a larger eta (more weight on communication) raises the RMSE",
            "every solver, e.g. ALM-MO 1.478 -> 3.118 deg",
            f"optimizer {a:.3f} -> {b:.3f} deg", b > a,
        ))  # fmt: skip
    ccpa = "ccpa" in families()
    return Figure(
        "table2",
        "Table II: localization RMSE (deg) by design and solver",
        rows,
        kind="bar",
        x="design",
        y=METHODS,
        ylabel="RMSE (deg), eq 43",
        trends=trends,
        deviations=[
            "'optimizer' is our iterative optimizer (L-BFGS + augmented Lagrangian, quality "
            "'fast') in the place of the paper's ALM-MO",
            "STCIB joint and CNN are shipped for eta = 0.4 only: their joint rows at 0.2 / 0.8 "
            "are empty (a Joint 0.4 row compares them)",
            "ccpa: "
            + (
                f"the registry's CCPA (SDR + SCA, ~1 min per Table-I realization here) on "
                f"the first {min(ccpa_draws, draws)} realizations only, and for the joint "
                "design only (it solves P3, not P1/P2's rate floors)"
                if ccpa
                else "not registered: empty"
            ),
            f"MUSIC on {rap_shape[0]}x{rap_shape[1]} RAPs: Table I's 2x2 RAPs cannot identify the "
            "scene's 1 + NC = 3 sources (eq 42's noise subspace needs n <= MR - 2; the CRB is "
            "infinite), so every 2x2 block is reported not identifiable",
        ],
        meta={
            "draws": draws,
            "ccpa_draws": min(ccpa_draws, draws),
            "seed": seed,
            "tau": cfg.tau,
            "rap_shape": list(rap_shape),
        },
    )
