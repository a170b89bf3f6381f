"""Fig. 14 of seed 000: the CC STCIB model's sum rate under the CSI error model of Section
VII-I (chi) for Rician factors 1, 3, 5."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...channels import crandn
from ...config import SystemConfig
from ...evaluation import score
from ...precoding.lineup import designer
from ...precoding.registry import PrecoderSpec
from ...scenario import Realizations, draw_realizations
from ..figure import Figure, Trend
from ..run import IN_PROCESS, Run
from .common import model_path, percent_change


def with_csi_error(real: Realizations, chi: float, rng: np.random.Generator) -> Realizations:
    """The paper's CSI error model of Section VII-I: g~ = g + e, e ~ CN(0, chi |g|^2) per
    antenna element of the TRUE channel; returned as the estimates F_hat of ``real``."""
    if not 0.0 <= chi <= 1.0:
        raise ValueError(f"chi must be in [0, 1] (error variance over |g|^2), got {chi}")
    F = real.F
    noisy = F + np.sqrt(chi) * np.abs(F) * crandn(rng, F.shape)
    return dataclasses.replace(real, F_hat=noisy)


def robustness_point(point: dict[str, Any]) -> dict[str, float]:
    """Mean sum rate (true channels) of the CC STCIB model fed CSI with error ``chi`` on
    channels of Rician factor ``rician``. point: rician, chi, draws, seed, threshold."""
    spec = PrecoderSpec(
        "onnx", "cellfree", {"path": model_path("stcib_cc_cond"), "threshold": point["threshold"]}
    )
    # the model is built for Table I's network (its card); the Rician factor is a statistic of
    # the channels it is applied to, not an input, so only the draws change with it
    design = designer(spec, SystemConfig())
    k, seed = float(point["rician"]), point["seed"]
    real = draw_realizations(SystemConfig(rician_k_range=(k, k)), point["draws"], seed)
    noisy = with_csi_error(
        real, point["chi"], np.random.default_rng([seed, round(1e3 * point["chi"])])
    )
    return {"sum_rc": float(score(real, design(noisy), eta=0.4)["Rc"].sum(-1).mean())}


def fig14(
    chis: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0), ricians: Sequence[float] = (1, 3, 5),
    draws: int = 300, seed: int = 14, threshold: float = 0.2, run: Run = IN_PROCESS,
) -> Figure:  # fmt: skip
    """Fig. 14: communication sum rate of the CC STCIB model (zeta_th = 0.2) vs the CSI error
    chi, for Rician factors 1, 3, 5; rates on the true channels."""
    points = [{"rician": k, "chi": float(c), "draws": draws, "seed": seed, "threshold": threshold}
              for k in ricians for c in chis]  # fmt: skip
    found = run.map(robustness_point, points, desc="fig14")
    rows = [{"rician": p["rician"], "chi": p["chi"], **r} for p, r in zip(points, found)]
    at = {(r["rician"], r["chi"]): r["sum_rc"] for r in rows}
    c0, c1 = min(chis), max(chis)
    cm = sorted(chis)[len(chis) // 2]
    k0 = min(ricians)
    falls = all(at[k, c0] > at[k, c1] for k in ricians)
    rises = all(at[k, cm] >= at[k0, cm] for k in ricians)
    trends = [
        Trend(
            "the rate falls as chi grows from 0 to 1",
            "-9.97 % at Rician factor 1",
            ", ".join(
                f"K-factor {k}: {percent_change(at[k, c0], at[k, c1]):+.2f} %" for k in ricians
            ),
            falls,
        ),
        Trend(
            f"a higher Rician factor gives a higher rate (at chi = {cm:g})",
            "+0.65 % (3) and +1.41 % (5) vs factor 1 at chi = 0.5",
            ", ".join(
                f"{k}: {percent_change(at[k0, cm], at[k, cm]):+.2f} %" for k in ricians if k != k0
            )
            + f" (at chi = {c0:g}: "
            + ", ".join(
                f"{k}: {percent_change(at[k0, c0], at[k, c0]):+.2f} %" for k in ricians if k != k0
            )
            + ")",
            rises,
            ""
            if rises
            else "the factor moves our rate by about 1 % either way: the shipped "
            "model was trained on factors 1..3 with MMSE estimates (the paper: one model per "
            "factor, perfect CSI), so factor 5 is outside its training range; the paper's "
            "effect (+0.65 %, +1.41 %) is of the same size as this mismatch",
        ),
    ]
    return Figure(
        "fig14", "Fig. 14: communication sum rate vs CSI error (CC STCIB, zeta_th = 0.2)", rows,
        x="chi", y=("sum_rc",), series="rician", xlabel="CSI error chi",
        ylabel="sum rate (bps/Hz)", trends=trends,
        deviations=["one shipped model (trained on MMSE estimates, Rician factors 1..3) serves "
                    "every factor; the paper trains one per factor on perfect CSI"],
        meta={"draws": draws, "seed": seed, "threshold": threshold},
    )  # fmt: skip
