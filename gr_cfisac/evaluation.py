"""How well a precoder does on a batch of realizations: the rates it reaches on the TRUE channels
and the REALIZED sensing matrices, what it believes on the estimates, the joint objective (eq 23a)
and the feasibility of Table III. Used by ``cfisac evaluate`` and the precoder benchmark."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import metrics
from .scenario import Realizations


def score(real: Realizations, W: np.ndarray, eta: float) -> dict[str, np.ndarray]:
    """Per-realization metrics of W (B, N, K+1), or of user beams (B, N, K) with no sensing beam:
    Rc (B, K) on the true F, Rc_est (B, K) on F_hat (as the precoder sees it), Rs (B, NR) on the
    realized G, Rs_avg (B, NR) on the varpi-averaged grams, objective (B,) = eta sum Rc +
    (1 - eta) sum Rs (eq 23a) and power (B,) = ||W||_F^2 / budget."""
    cfg = real.cfg
    W = np.asarray(W, dtype=complex)
    Rc = metrics.comm_rates(real.F, W, cfg.kappa)
    Rs = metrics.sensing_rates(real.G_t, real.G_c, W, cfg.kappa)
    full = metrics._with_sensing_column(W, cfg.K)
    Rs_avg = metrics.rate(metrics.scnr_averaged(real.Q_t, real.Q_c, full, cfg.MR), cfg.kappa)
    return {
        "Rc": Rc,
        "Rc_est": metrics.comm_rates(real.F_hat, W, cfg.kappa),
        "Rs": Rs,
        "Rs_avg": Rs_avg,
        "objective": eta * Rc.sum(-1) + (1 - eta) * Rs.sum(-1),
        "power": np.sum(np.abs(W) ** 2, axis=(1, 2)) / cfg.power_budget,
    }


def summarize(
    parts: dict[str, np.ndarray], comm_threshold: float, sensing_threshold: float
) -> dict[str, Any]:
    """Means of score()'s arrays and the feasibility of Table III: SC every R_C,k >= vartheta_th
    on the true channels (and on the estimates), CC every R_S,j >= zeta_th on the realized and on
    the varpi-averaged SCNR; max_power_ratio the largest ||W||_F^2 / budget."""
    return {
        "sum_rc": float(parts["Rc"].sum(-1).mean()),
        "sum_rs": float(parts["Rs"].sum(-1).mean()),
        "sum_rs_avg": float(parts["Rs_avg"].sum(-1).mean()),
        "objective": float(parts["objective"].mean()),
        "feasibility_sc": metrics.feasibility(parts["Rc"], comm_threshold),
        "feasibility_sc_on_estimates": metrics.feasibility(parts["Rc_est"], comm_threshold),
        "feasibility_cc_realized": metrics.feasibility(parts["Rs"], sensing_threshold),
        "feasibility_cc_averaged": metrics.feasibility(parts["Rs_avg"], sensing_threshold),
        "max_power_ratio": float(parts["power"].max()),
    }
