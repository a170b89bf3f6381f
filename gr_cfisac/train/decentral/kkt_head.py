"""A structured output layer for the per-AP networks (``model.head: kkt``; ours, not paper
001's, whose networks output the beams themselves): AP l's network outputs a few multipliers
and AP l's beams follow from them and AP l's own CSI in closed form, so the set stays
decentralized.

Where it comes from. Per AP, maximizing the users' SINRs with a sensing term nu |a^H w|^2 and
the power constraint mu gives the stationarity condition (sum_k lam_k h_k h_k^H + mu I -
nu a a^H) w_k ∝ h_k (eq 6's SSNR counts every beam toward a = a(theta_l)). With
A = sum_k lam_k h_k h_k^H + mu I (positive definite), u_k = A^{-1} h_k and v = A^{-1} a,
Sherman-Morrison turns that into w_k ∝ u_k + kappa_k (a^H u_k) / (a^H v) v with a real
kappa_k > -1, and the sensing beam that the users do not see is w_0 ∝ v. The layer returns

    w_0 = c_0 v / ||v||,   w_k = beta_k z_k / ||z_k||,
    z_k = u_k / ||u_k|| + t_k e^{j arg(a^H u_k)} v / ||v||,

the same beams with kappa_k = t_k (a^H v) ||u_k|| / (|a^H u_k| ||v||): the lean t_k is the
weight of the (unit) target-ward part against the (unit) communication beam, whatever the
geometry, where kappa_k for the same lean spans orders of magnitude between users. The
multipliers are read from the means g of four column groups of each row of the raw network
output (paper order, users first): lam_k (user rows) and mu (the sensing row) are exp(g),
scale-free as the directions depend only on the ratios lam_k / mu; the amplitudes beta_k and
c_0 are 1 + g (equal powers at g = 0) and t_k is g itself (0: the communication-only beam).
Amplitudes and lean are affine in g on purpose: a positive map such as exp has no gradient left
once a teacher or a corner of the trade-off drives its value to 0, and the student could not
come back. beta_k^2 and c_0^2 split the AP's power before eqs 17-18 scale it to P_l;
h_k^H u_k is real and positive, so with t_k = 0 the APs' signals add coherently at every user.
A^{-1} is applied with one 2N x 2N inverse (Woodbury on the rank-2N real form,
lhgnn.kkt_head.woodbury_rows), in float64, exported as com.microsoft::Inverse.
"""

from __future__ import annotations

import torch
from torch import nn

from ..lhgnn.kkt_head import cmul, woodbury_rows

#: column groups of each row of the raw output whose means give the multipliers
GROUPS = 4
#: the logarithms of lam_k and mu are clipped to +-LOG_RANGE (positive and finite)
LOG_RANGE = 20.0


def inner(xr: torch.Tensor, xi: torch.Tensor, yr: torch.Tensor, yi: torch.Tensor):
    """x^H y over the last axis, in real parts."""
    return (xr * yr + xi * yi).sum(-1), (xr * yi - xi * yr).sum(-1)


def row_norm(x: torch.Tensor) -> torch.Tensor:
    return torch.sqrt((x * x).sum(-1, keepdim=True) + 1e-30)


class LocalKKTHead(nn.Module):
    """The layer of the module docstring for an M-antenna AP. forward(raw (B, N+1, 2M) network
    output, users (B, N, 2M) the scaled channel rows, steering (B, 1, 2M) the target's row) ->
    beams (B, N+1, 2M), row 0 the sensing beam (DESIGN's order), [Re w, Im w]."""

    def __init__(self, M: int) -> None:
        super().__init__()
        if 2 * M < GROUPS:
            raise ValueError(f"model.head kkt needs M >= {GROUPS // 2} antennas per AP, got {M}")
        self.M = M

    def forward(self, raw: torch.Tensor, users: torch.Tensor, steering: torch.Tensor):
        """In float64 (the inverse in a float32 graph would cost ONNX parity), cast back."""
        dtype = raw.dtype
        out = self.beams(raw.double(), users.double(), steering.double())
        return out.to(dtype)

    def multipliers(self, raw: torch.Tensor) -> dict[str, torch.Tensor]:
        """lam, beta, lean (B, N) and mu, c0 (B,) from the raw output (module docstring)."""
        B, Q, M2 = raw.shape
        size = M2 // GROUPS
        g = raw[..., : GROUPS * size].reshape(B, Q, GROUPS, size).mean(-1)
        e = torch.exp(torch.clamp(g, -LOG_RANGE, LOG_RANGE))
        return {"lam": e[:, :-1, 0], "beta": 1.0 + g[:, :-1, 1], "lean": g[:, :-1, 2],
                "mu": e[:, -1, 0], "c0": 1.0 + g[:, -1, 1]}  # fmt: skip

    def beams(self, raw: torch.Tensor, users: torch.Tensor, steering: torch.Tensor):
        """w_0 and w_k of the module docstring, float64 throughout; ``raw`` (B, N+1, C) any C >=
        GROUPS columns (2M for the CSI input, 2(N+1) for the Gram input)."""
        M = self.M
        p = self.multipliers(raw)
        B, N, _ = users.shape
        # A = U^T diag(lam, lam) U + mu I (rows of U: r_k = [Re h_k, Im h_k] and j r_k)
        U = torch.cat([users, torch.cat([-users[..., M:], users[..., :M]], -1)], 1)
        d_inv = (1.0 / p["mu"])[:, None, None].expand(B, 1, 2 * M)
        lam2 = torch.cat([p["lam"], p["lam"]], 1)
        Y = woodbury_rows(torch.cat([steering, users], 1), U, lam2, d_inv)  # rows A^{-1} x
        v, u = Y[:, :1], Y[:, 1:]
        ar, ai, vr, vi = steering[..., :M], steering[..., M:], v[..., :M], v[..., M:]
        pr, pi = inner(ar, ai, u[..., :M], u[..., M:])  # a^H u_k (B, N)
        # t_k e^{j arg(a^H u_k)} / ||v||: the phase that adds beam k coherently at the target
        k = p["lean"] / (torch.sqrt(pr * pr + pi * pi + 1e-30) * row_norm(v)[..., 0])
        zr, zi = cmul((k * pr)[..., None], (k * pi)[..., None], vr, vi)
        z = u / row_norm(u) + torch.cat([zr, zi], -1)
        w_k = p["beta"][..., None] * z / row_norm(z)
        w_0 = p["c0"][:, None, None] * v / row_norm(v)
        return torch.cat([w_0, w_k], 1)
