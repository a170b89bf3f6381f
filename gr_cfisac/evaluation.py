"""How well a precoder does on a batch of realizations: the rates it reaches on the TRUE channels
and the REALIZED sensing matrices, what it believes on the estimates, the joint objective (eq 23a
on the kappa-rates, metrics.OBJECTIVE) and the feasibility of Table III; several precoders on the
same realizations, and a plain-text table of them. Used by ``cfisac evaluate`` and the precoder benchmark."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from . import metrics
from .scenario import Realizations


def score(real: Realizations, W: np.ndarray, eta: float) -> dict[str, np.ndarray]:
    """Per-realization metrics of W (B, N, K+1), or of user beams (B, N, K) with no sensing beam:
    Rc (B, K) on the true F, Rc_est (B, K) on F_hat (as the precoder sees it), Rs (B, NR) on the
    realized G, Rs_avg (B, NR) on the varpi-averaged grams, objective (B,) of eq 23a on the true
    F and realized G (metrics.objective: eta sum Rc + (1 - eta) sum Rs on the kappa-rates) and
    power (B,) = ||W||_F^2 / budget."""
    cfg = real.cfg
    W = np.asarray(W, dtype=complex)
    sinr = metrics.sinr(real.F, W)
    scnr = metrics.scnr(real.G_t, real.G_c, W)
    full = metrics._with_sensing_column(W, cfg.K)
    Rs_avg = metrics.rate(metrics.scnr_averaged(real.Q_t, real.Q_c, full, cfg.MR), cfg.kappa)
    return {
        "Rc": metrics.rate(sinr, cfg.kappa),
        "Rc_est": metrics.comm_rates(real.F_hat, W, cfg.kappa),
        "Rs": metrics.rate(scnr, cfg.kappa),
        "Rs_avg": Rs_avg,
        "objective": metrics.objective(sinr, scnr, eta, cfg.kappa),
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


def compare(
    batches: Iterable[Realizations],
    precoders: dict[str, Callable[[Realizations], np.ndarray]],
    eta: float,
    limits: dict[str, int] | None = None,
) -> dict[str, tuple[dict[str, np.ndarray], float]]:
    """Score every precoder on the SAME realizations, batch after batch: name -> (score()'s
    arrays concatenated, seconds per realization of its calls, batched). ``limits`` caps a slow
    precoder to the first n realizations (it then sees a prefix of what the others see)."""
    limits = limits or {}
    parts: dict[str, dict[str, list[np.ndarray]]] = {name: {} for name in precoders}
    seconds = dict.fromkeys(precoders, 0.0)
    seen = 0
    for real in batches:
        for name, precoder in precoders.items():
            B = real.F.shape[0]
            n = min(B, limits.get(name, B + seen) - seen)
            if n <= 0:
                continue
            sub = real if n == B else real.take(slice(0, n))
            t0 = time.perf_counter()
            W = precoder(sub)
            seconds[name] += time.perf_counter() - t0
            for key, value in score(sub, W, eta).items():
                parts[name].setdefault(key, []).append(value)
        seen += real.F.shape[0]
    out = {}
    for name, acc in parts.items():
        arrays = {k: np.concatenate(v) for k, v in acc.items()}
        out[name] = (arrays, seconds[name] / max(len(arrays.get("objective", ())), 1))
    return out


#: columns of format_table: (heading, summary key or callable, format)
_COLUMNS: tuple[tuple[str, Callable[[dict[str, Any]], float], str], ...] = (
    ("realizations", lambda s: s["realizations"], "{:d}"),
    ("objective", lambda s: s["objective"], "{:.3f}"),
    ("sum Rc", lambda s: s["sum_rc"], "{:.3f}"),
    ("sum Rs", lambda s: s["sum_rs"], "{:.3f}"),
    ("SC feasible", lambda s: s["feasibility_sc"]["rate"], "{:.1%}"),
    ("CC feasible", lambda s: s["feasibility_cc_realized"]["rate"], "{:.1%}"),
    ("ms/realization", lambda s: 1e3 * s["seconds_per_realization_batched"], "{:.3f}"),
)


def format_table(rows: dict[str, dict[str, Any]], caption: str) -> str:
    """A plain-text table, one row per precoder (summarize()'s dict plus 'realizations' and
    'seconds_per_realization_batched'), under its caption."""
    head = ["precoder", *(c[0] for c in _COLUMNS)]
    body = [[name, *(fmt.format(get(s)) for _, get, fmt in _COLUMNS)] for name, s in rows.items()]
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        return "  ".join([first, *(c.rjust(w) for c, w in zip(cells[1:], widths[1:]))])

    rule = "-" * len(line(head))
    return "\n".join([caption, rule, line(head), rule, *(line(r) for r in body), rule])
