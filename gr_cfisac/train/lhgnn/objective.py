"""Differentiable objective of problem 32 (paper 003): the SPEB of gr_cfisac.coisac.speb in its
exact form (eq 52's Schur complement with Pi_G), the sum rate of eqs 3-4, and the loss of eq 51
with its schedules rho_1 = 0.8 epoch, rho_2 = 0.5 epoch and the per-user floor r = 0.05.

Everything here runs in float64 / complex128 (the SPEB's EFIM spans many orders of magnitude).
Pi_G = G^H (G G^H)^{-1} G assumes the N BSs' beams toward the target are linearly independent
(G of full row rank, true for any non-degenerate W); the numpy core's pseudo-inverse agrees
there (tests/test_lhgnn_objective.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ...coisac.speb import EchoModel

#: ridge (relative to tr(G G^H) / N) that keeps G G^H invertible if a BS falls silent
RIDGE = 1e-12


@dataclass
class EchoTensors:
    """The echo model (speb.EchoModel) as torch tensors: a, da_theta, da_beta (B, N, L)
    complex128, alpha (B, N, N) complex128, Q (B, 2N, 3) float64."""

    a: torch.Tensor
    da_theta: torch.Tensor
    da_beta: torch.Tensor
    alpha: torch.Tensor
    Q: torch.Tensor

    @classmethod
    def from_model(cls, m: EchoModel, device: str = "cpu") -> EchoTensors:
        def t(x: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(np.ascontiguousarray(x), device=device)

        return cls(t(m.a), t(m.da_theta), t(m.da_beta), t(m.alpha), t(m.Q.astype(float)))

    def take(self, idx: torch.Tensor) -> EchoTensors:
        return EchoTensors(*(getattr(self, f)[idx] for f in ("a", "da_theta", "da_beta",
                                                              "alpha", "Q")))  # fmt: skip


def to_complex(beamformer: torch.Tensor) -> torch.Tensor:
    """(B, K+1, 2 N L) rows [Re w^T, Im w^T] -> W (B, N L, K+1) complex128 (DESIGN's layout)."""
    half = beamformer.shape[-1] // 2
    b = beamformer.to(torch.float64)
    return torch.complex(b[..., :half], b[..., half:]).transpose(1, 2)


def speb(echo: EchoTensors, W: torch.Tensor, snapshots: int) -> torch.Tensor:
    """SPEB (B,) in m^2 of W (B, N L, S) complex at unit noise for tau = ``snapshots``
    (speb.speb with form="exact")."""
    a = echo.a
    B, N, L = a.shape
    Wb = W.reshape(B, N, L, -1)
    g = torch.einsum("bnl,bnls->bns", a.conj(), Wb)
    c = torch.einsum("bnm,bms->bns", echo.alpha, g)
    eye = torch.eye(N, dtype=a.dtype, device=a.device)[None, :, :, None, None]
    parts = []
    for da in (echo.da_theta, echo.da_beta):
        dg = torch.einsum("bil,bils->bis", da.conj(), Wb)
        part = torch.einsum("bni,bnl,bis->binls", echo.alpha, a, dg)
        parts.append(part + eye * (da[..., None] * c[:, :, None, :])[:, None])
    dM = torch.cat(parts, 1)  # (B, 2N, N, L, S)
    full = torch.einsum("binls,bjnls->bij", dM.conj(), dM)
    r = torch.einsum("bnl,binls->bins", a.conj(), dM) / L**0.5
    gram = g @ g.conj().transpose(-1, -2)  # (B, N, N)
    ridge = RIDGE * torch.diagonal(gram, dim1=-2, dim2=-1).real.mean(-1)[:, None, None]
    gram = gram + ridge * torch.eye(N, dtype=gram.dtype, device=gram.device)
    proj = g.conj().transpose(-1, -2) @ torch.linalg.solve(gram, g)  # Pi_G (B, S, S)
    r = r @ proj[:, None]
    removed = torch.einsum("bins,bjns->bij", r.conj(), r)
    Je = 2.0 * snapshots * (full - removed).real
    J = echo.Q.transpose(-1, -2) @ Je @ echo.Q
    J = 0.5 * (J + J.transpose(-1, -2))
    return torch.diagonal(torch.linalg.inv(J), dim1=-2, dim2=-1).sum(-1)


def user_rates(F: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """R_k of eqs 3-4 (bps/Hz, unit noise): F (B, N L, K), W (B, N L, K+1) -> (B, K)."""
    gains = torch.einsum("bnk,bnj->bkj", F.conj(), W).abs() ** 2  # (B, K, K+1)
    K = F.shape[-1]
    idx = torch.arange(K, device=F.device)
    signal = gains[:, idx, idx + 1]
    return torch.log2(1.0 + signal / (gains.sum(-1) - signal + 1.0))


@dataclass(frozen=True)
class Schedule:
    """Eq 51's weights: rho_1 = rho1_slope * epoch, rho_2 = rho2_slope * epoch (Section IV-A:
    0.8 and 0.5, epoch counted from 1), per-user rate floor r (0.05 bps/Hz)."""

    rho1_slope: float = 0.8
    rho2_slope: float = 0.5
    rate_floor: float = 0.05

    def weights(self, epoch: int) -> tuple[float, float]:
        return self.rho1_slope * epoch, self.rho2_slope * epoch


def loss_eq51(
    rates: torch.Tensor, spebs: torch.Tensor, gamma: float, epoch: int, schedule: Schedule
) -> tuple[torch.Tensor, dict[str, float]]:
    """Eq 51: -mean sum_k R_k + rho_1 mean max(0, SPEB - gamma) + rho_2 mean sum_k
    max(0, r - R_k); rates (B, K), spebs (B,) m^2, gamma m^2. Returns (loss, its parts)."""
    rho1, rho2 = schedule.weights(epoch)
    rate = rates.sum(-1).mean()
    sense = torch.relu(spebs - gamma).mean()
    floor = torch.relu(schedule.rate_floor - rates).sum(-1).mean()
    loss = -rate + rho1 * sense + rho2 * floor
    with torch.no_grad():
        parts = {"sum_rate": rate.item(), "speb_excess": sense.item(), "floor": floor.item()}
    return loss, parts
