"""Rates and the losses of eqs 38-40 in torch, on the compact data of :mod:`gr_cfisac.dataset`.

Which channels (who knows what): the network sees only F_hat; the losses use the TRUE channels F
for the SINR (eq 20) and, for the sensing terms of the objective, the REALIZED sensing matrices
G (eq 22, through their rank-1 rows g): the mean over a batch is then an unbiased estimate of the
expected rates the benchmark measures, and the gradient pushes towards E_varpi[R_S] — the network
cannot see varpi, so that expectation is the best it can do. The sensing-rate CONSTRAINT of CC
(eq 39) is penalized on the varpi-averaged SCNR (metrics.scnr_averaged): a precoder can control it,
while the realized SCNR fluctuates with |varpi|^2 — even all power on the target meets
zeta_th = 0.5 at every RAP in only ~16% of realized draws on the paper scene.
"""

from __future__ import annotations

import torch

from ..recipe import LossConfig

LOG2 = 0.6931471805599453


def beams(rows: torch.Tensor) -> torch.Tensor:
    """Network output (B, K+1, 2N) -> complex beams (B, K+1, N), row 0 the sensing beam w_0."""
    n = rows.shape[-1] // 2
    return torch.complex(rows[..., :n], rows[..., n:])


def sinr(F: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """SINR of eq 20. F (B, N, K) complex true channels, W (B, K+1, N) complex beams -> (B, K)."""
    gains = torch.einsum("bnk,bjn->bkj", F.conj(), W).abs().square()  # (B, K, K+1)
    K = F.shape[-1]
    idx = torch.arange(K, device=F.device)
    signal = gains[:, idx, idx + 1]
    return signal / (gains.sum(-1) - signal + 1.0)


def scnr_realized(g_t: torch.Tensor, g_c: torch.Tensor, W: torch.Tensor, MR: int) -> torch.Tensor:
    """SCNR of eq 22 on realized G: g_t (B, NR, N), g_c (B, NR, NC, N), W (B, K+1, N) -> (B, NR)."""
    target = torch.einsum("bjn,bkn->bjk", g_t.conj(), W).abs().square().sum(-1)
    clutter = torch.einsum("bjcn,bkn->bjck", g_c.conj(), W).abs().square().sum((-2, -1))
    return target / (clutter + MR)


def scnr_averaged(
    aT_t: torch.Tensor,
    amp2_t: torch.Tensor,
    aT_c: torch.Tensor,
    amp2_c: torch.Tensor,
    W: torch.Tensor,
    MR: int,
) -> torch.Tensor:
    """varpi-averaged SCNR (metrics.scnr_averaged) from the block-diagonal grams:
    w^H Q_j w = sum_i amp2_ij |a_T,i^H w_i|^2. aT_t (B, NT, MT), amp2_t (B, NR, NT),
    aT_c (B, NC, NT, MT), amp2_c (B, NR, NC, NT), W (B, K+1, N) -> (B, NR)."""
    B, NT, MT = aT_t.shape
    per_tap = W.reshape(B, W.shape[1], NT, MT)
    p_t = torch.einsum("bim,bkim->bik", aT_t.conj(), per_tap).abs().square().sum(-1)
    p_c = torch.einsum("bcim,bkim->bcik", aT_c.conj(), per_tap).abs().square().sum(-1)
    target = torch.einsum("bji,bi->bj", amp2_t, p_t)
    clutter = torch.einsum("bjci,bci->bj", amp2_c, p_c)
    return target / (clutter + MR)


def rate(gamma: torch.Tensor, kappa: float) -> torch.Tensor:
    """kappa log2(1 + gamma) of eqs 19, 21."""
    return kappa * torch.log1p(gamma) / LOG2


def rates(batch: dict[str, torch.Tensor], rows: torch.Tensor, kappa: float, MR: int):
    """Rc (B, K) on true F; Rs (B, NR) on realized G; Rs_avg (B, NR) varpi-averaged."""
    W = beams(rows)
    Rc = rate(sinr(batch["F"], W), kappa)
    Rs = rate(scnr_realized(batch["g_t"], batch["g_c"], W, MR), kappa)
    Rs_avg = rate(
        scnr_averaged(batch["aT_t"], batch["amp2_t"], batch["aT_c"], batch["amp2_c"], W, MR), kappa
    )
    return Rc, Rs, Rs_avg


def loss(
    Rc: torch.Tensor,
    Rs: torch.Tensor,
    Rs_avg: torch.Tensor,
    cfg: LossConfig,
    threshold: torch.Tensor | None = None,
) -> torch.Tensor:
    """Loss of the regime: SC eq 38, CC eq 39, joint eq 40 (scalar, mean over the batch).

    The penalties use threshold + margin, so that the optimum sits on the feasible side;
    ``threshold`` (B, 1) gives every sample its own (threshold-conditioned models).
    """
    if cfg.regime == "joint":
        return -(cfg.eta * Rc.sum(-1) + (1 - cfg.eta) * Rs.sum(-1)).mean()
    if cfg.regime == "sc":
        th = cfg.comm_threshold if threshold is None else threshold
        short = torch.clamp(Rc - (th + cfg.margin), max=0.0)
        return -(Rs.sum(-1) - cfg.xi * short.square().sum(-1)).mean()
    th = cfg.sensing_threshold if threshold is None else threshold
    short = torch.clamp(Rs_avg - (th + cfg.margin), max=0.0)
    return -(Rc.sum(-1) - cfg.varrho * short.square().sum(-1)).mean()


def threshold_rates(Rc: torch.Tensor, Rs_avg: torch.Tensor, cfg: LossConfig) -> torch.Tensor | None:
    """The constrained rates of the regime (Rc for SC, averaged Rs for CC), None for joint."""
    return {"sc": Rc, "cc": Rs_avg}.get(cfg.regime)
