"""SAO-ISAC of paper 002, section IV (Fig. 9, Algorithm 2): joint communication W and sensing
F beamforming for the monostatic scenario of :mod:`gr_cfisac.mono_isac`, fixed K, N, M.

Layout as :mod:`.ops`: H (B, K, N) rows f_k^T, W (B, K, N) rows w_k^T, F as rows of F^T
(B, N, N: row j is column j of F). Targets enter as s_m = |beta_m| sqrt(N) a(theta_m)
(B, M, N) rows, so ||G_m X||_F^2 = sum_j |s_m^H x_j|^2 (eq 26 is rank one): the sensing SNR of
eq 27 is (sum_k |s_m^H w_k|^2 + sum_j |s_m^H f_j|^2) / sigma_z^2.

Layer t (eqs 32-35): a communication block CB_t (a masked-Transformer layer of :mod:`.model` on
(H^(t-1), W^(t-1)), all users and antennas active) and a sensing block SB_t (the same layer on
(G^(t-1), F^(t-1)), G^(0) = sum_m G_m), then Q ascent steps on the sum rate with the radar
signal as interference (eq 33, W at power P_c) and on the sensing barrier (eq 35, F at power
P_s). P_c = P0 sigmoid(p_t), P_s = P0 - P_c, p_t learned per layer (eq 31's power split).
Start: LMMSE W (eq 5) and the targets' beam projected onto the users' null space.

Barrier (eq 30): lambda_s sum_m b(SNR_m / gamma_s - 1) with b = log above ``BARRIER_EPS`` and
its tangent line below (finite and steep where a target misses its floor, so training starts
from infeasible points; the paper's log is -inf there). Ascent steps follow normalized
gradients (as :func:`.ops.ascent`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from . import ops
from .model import MaskedTransformerLayer, from_rows, make_masks, rows

BARRIER_EPS = 1e-2
#: the closed-form split keeps at least this share of P0 on either beamformer
SPLIT_FLOOR = 1e-6


def barrier(slack: torch.Tensor) -> torch.Tensor:
    """log(slack) above BARRIER_EPS, its tangent below (C1, finite)."""
    safe = torch.clamp(slack, min=BARRIER_EPS)
    return torch.where(
        slack >= BARRIER_EPS,
        torch.log(safe),
        math.log(BARRIER_EPS) + (slack - BARRIER_EPS) / BARRIER_EPS,
    )


def barrier_slope(slack: torch.Tensor) -> torch.Tensor:
    return 1.0 / torch.clamp(slack, min=BARRIER_EPS)


def radar_power(H: ops.Complex, F: ops.Complex) -> torch.Tensor:
    """||f_k^H F||^2 (B, K): the sensing signal each user hears (eq 28)."""
    zr, zi = ops.gains(H, F)
    return (zr * zr + zi * zi).sum(-1)


def sensing_snr(S: ops.Complex, W: ops.Complex, F: ops.Complex, radar_noise) -> torch.Tensor:
    """SNR_m^s of eq 27 (B, M) from the target rows S."""
    return (radar_power(S, W) + radar_power(S, F)) / radar_noise


def sum_rate(H, W, F, noise) -> torch.Tensor:
    """Sum rate of (29a) (log2) with the sensing signal as interference: (B,)."""
    return ops.sum_rate(H, W, noise + radar_power(H, F))


def objective(H, S, W, F, noise, radar_noise, gamma, weight) -> torch.Tensor:
    """Eq 30 with the finite barrier: sum rate + lambda_s sum_m b(SNR_m / gamma - 1): (B,)."""
    slack = sensing_snr(S, W, F, radar_noise) / gamma - 1.0
    return sum_rate(H, W, F, noise) + weight * barrier(slack).sum(-1)


def sensing_gradient(S, W, F, radar_noise, gamma) -> ops.Complex:
    """2 d/dF* of sum_m b(SNR_m / gamma - 1) (eq 35): 2 (C o Z)^T S with Z[m, j] = s_m^H f_j
    and C[m, j] = b'(slack_m) / (gamma sigma_z^2)."""
    slack = sensing_snr(S, W, F, radar_noise) / gamma - 1.0
    c = barrier_slope(slack) / (gamma * radar_noise)  # (B, M)
    zr, zi = ops.gains(S, F)  # (B, M, N)
    Ar, Ai = (c[:, :, None] * zr).transpose(-1, -2), (c[:, :, None] * zi).transpose(-1, -2)
    Sr, Si = S
    return 2.0 * (Ar @ Sr - Ai @ Si), 2.0 * (Ar @ Si + Ai @ Sr)


def _step(X: ops.Complex, G: ops.Complex, size: torch.Tensor, power: torch.Tensor) -> ops.Complex:
    Gr, Gi = ops.normalize_power(G)
    Xr, Xi = X[0] + size * torch.sqrt(power) * Gr, X[1] + size * torch.sqrt(power) * Gi
    return scale_to((Xr, Xi), power)


def scale_to(X: ops.Complex, power: torch.Tensor) -> ops.Complex:
    """X at ||X||_F^2 = power (B, 1, 1)."""
    Xr, Xi = ops.normalize_power(X)
    return Xr * torch.sqrt(power), Xi * torch.sqrt(power)


def users_gram_inverse(H: ops.Complex, iterations: int = 30) -> torch.Tensor:
    """(F_c^H F_c)^{-1} = conj(H H^H)^{-1} as its real 2K x 2K block, float64, by
    Newton-Schulz (the users' Gram matrix is well conditioned for K well below N)."""
    Hr, Hi = H[0].double(), H[1].double()
    K = Hr.shape[-2]
    # F_c^H F_c = conj(H) H^T = conj(H H^H): real part Mr, imaginary part -Mi
    Mr = Hr @ Hr.transpose(-1, -2) + Hi @ Hi.transpose(-1, -2)
    Mi = Hr @ Hi.transpose(-1, -2) - Hi @ Hr.transpose(-1, -2)
    block = torch.cat([torch.cat([Mr, -Mi], -1), torch.cat([Mi, Mr], -1)], -2)
    eye = torch.eye(2 * K, dtype=block.dtype, device=block.device)
    scale = (Hr * Hr + Hi * Hi).sum(dim=(-2, -1), keepdim=True)
    return ops.spd_inverse(block + 1e-9 * scale * eye, 1e-9 * scale, 1.0001 * scale, iterations)


def project_out_users(H: ops.Complex, X: ops.Complex, inv: torch.Tensor) -> ops.Complex:
    """Every row x^T of X (a vector x) projected onto the users' null space:
    x - F_c (F_c^H F_c)^{-1} F_c^H x, so f_k^H x = 0; computed in float64."""
    dtype = X[0].dtype
    Hr, Hi = H[0].double(), H[1].double()
    Xr, Xi = X[0].double(), X[1].double()
    K = Hr.shape[-2]
    zr, zi = ops.gains(H=(Hr, Hi), W=(Xr, Xi))  # Z[k, j] = f_k^H x_j
    y = inv @ torch.cat([zr, zi], -2)
    yr, yi = y[:, :K], y[:, K:]
    Pr = Xr - (yr.transpose(-1, -2) @ Hr - yi.transpose(-1, -2) @ Hi)
    Pi = Xi - (yr.transpose(-1, -2) @ Hi + yi.transpose(-1, -2) @ Hr)
    return Pr.to(dtype), Pi.to(dtype)


def nullspace_start(H: ops.Complex, S: ops.Complex, iterations: int = 30) -> ops.Complex:
    """F^(0) rows: P_perp A A^H P_perp^H (A the targets' rows), unit norm, P_perp the projector
    onto the users' null space."""
    Pr, Pi = project_out_users(H, S, users_gram_inverse(H, iterations))
    # F = sum_m p_m p_m^H; its rows (F^T) = sum_m conj(p_m) p_m^T
    Fr = Pr.transpose(-1, -2) @ Pr + Pi.transpose(-1, -2) @ Pi
    Fi = Pr.transpose(-1, -2) @ Pi - Pi.transpose(-1, -2) @ Pr
    return ops.normalize_power((Fr, Fi))


def least_sensing_power(S, Wd, Fd, radar_noise, gamma, power: float) -> torch.Tensor:
    """P_s (B, 1, 1): the least sensing power that meets every target's floor with unit-power
    directions Wd (at P0 - P_s) and Fd (at P_s) — the SNRs are affine in P_s (the baseline's
    rule, gr_cfisac.precoding.mono_isac.lmmse_nullspace); P0 where no split meets them."""
    u, v = radar_power(S, Wd), radar_power(S, Fd)  # (B, M)
    need = gamma * radar_noise * (1.0 + 1e-3)
    gap = torch.where(v > u, v - u, torch.ones_like(v))
    per = torch.where(power * u >= need, torch.zeros_like(u),
                      torch.where(v > u, (need - power * u) / gap, torch.full_like(u, power)))  # fmt: skip
    return torch.clamp(per.max(-1).values, 0.0, power)[:, None, None]


class SAOISAC(nn.Module):
    """SAO-ISAC (module docstring). forward(channel (B, K, 2N), targets (B, M, 2N), noise,
    radar_noise, gamma (B, 1) each) -> (beamformer (B, K, 2N), sensing (B, N, 2N)) rows;
    :meth:`trajectory` every (W^(t), F^(t)).

    ``split`` 'learned' (the paper: P_c, P_s learned per layer) or 'closed_form' (beyond the
    paper: per block, the least sensing power that meets every floor with the layer's
    directions, :func:`least_sensing_power`, after the blocks and after the ascent steps);
    ``nullspace`` (beyond the paper): F's updates are projected onto the users' null space, so
    the sensing signal never interferes (eq 35's steps ignore the users)."""

    def __init__(
        self, K: int, N: int, layers: int, d_model: int, heads: int, hidden: int,
        q_steps: int = 5, step_size: float = 0.01, comm_share: float = 0.8, power: float = 1.0,
        inverse_iterations: int = 30, split: str = "learned", nullspace: bool = False,
    ) -> None:  # fmt: skip
        super().__init__()
        if split not in ("learned", "closed_form"):
            raise ValueError(f"split must be 'learned' or 'closed_form', got {split!r}")
        self.K, self.N, self.power, self.q_steps = K, N, power, q_steps
        self.inverse_iterations, self.split_rule, self.nullspace = (
            inverse_iterations,
            split,
            nullspace,
        )
        self.comm = nn.ModuleList(
            MaskedTransformerLayer(K, N, d_model, heads, hidden, True) for _ in range(layers)
        )
        self.sense = nn.ModuleList(
            MaskedTransformerLayer(N, N, d_model, heads, hidden, True) for _ in range(layers)
        )
        logit = math.log(comm_share / (1.0 - comm_share))
        self.split = nn.Parameter(torch.full((layers,), logit))
        self.log_step_w = nn.Parameter(torch.full((layers,), math.log(step_size)))
        self.log_step_f = nn.Parameter(torch.full((layers,), math.log(step_size)))

    def powers(self, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The learned split of layer t: (P_c, P_s)."""
        pc = self.power * torch.sigmoid(self.split[t])
        return pc, self.power - pc

    def _split(self, t, S, W, F, radar_noise, gamma):
        """(W, F, P_c, P_s) with the layer's power split applied to the directions W, F."""
        if self.split_rule == "learned":
            pc, ps = self.powers(t)
        else:
            Wd, Fd = ops.normalize_power(W), ops.normalize_power(F)
            ps = least_sensing_power(S, Wd, Fd, radar_noise, gamma, self.power)
            # neither beamformer vanishes: its direction carries into the next layer
            ps = torch.clamp(ps, SPLIT_FLOOR * self.power, (1 - SPLIT_FLOOR) * self.power)
            pc = self.power - ps
        return scale_to(W, pc), scale_to(F, ps), pc, ps

    def _project(self, F, H, inv):
        return project_out_users(H, F, inv) if self.nullspace else F

    def start(self, channel, targets, noise, radar_noise, gamma):
        B = channel.shape[0]
        ones_k = torch.ones(B, self.K, dtype=channel.dtype, device=channel.device)
        ones_n = torch.ones(B, self.N, dtype=channel.dtype, device=channel.device)
        H, S = from_rows(channel), from_rows(targets)
        inv = users_gram_inverse(H, self.inverse_iterations)
        masks = (make_masks(ones_k, ones_n), make_masks(ones_n, ones_n), inv)
        W = ops.lmmse(H, ones_k, noise, 1.0, self.inverse_iterations)
        F = nullspace_start(H, S, self.inverse_iterations)
        # G^(0) = sum_m G_m up to the unknown phases of beta: sum_m s_m s_m^H, in rows form
        Gr = S[0].transpose(-1, -2) @ S[0] + S[1].transpose(-1, -2) @ S[1]
        Gi = S[0].transpose(-1, -2) @ S[1] - S[1].transpose(-1, -2) @ S[0]
        G = ops.normalize_power((Gr, Gi), float(self.N))  # token scale like a channel
        W, F, _, _ = self._split(0, S, W, F, radar_noise, gamma)
        return H, S, G, W, F, masks

    def layer(self, t, H, S, aux_h, aux_g, W, F, masks, noise, radar_noise, gamma, steps):
        """Eqs 32-35 for layer t: -> (H^(t), G^(t), W^(t), F^(t))."""
        aux_h, W0 = self.comm[t](aux_h, W, masks[0])
        aux_g, F0 = self.sense[t](aux_g, F, masks[1])
        W, F, pc, ps = self._split(t, S, W0, self._project(F0, H, masks[2]), radar_noise, gamma)
        sw, sf = torch.exp(self.log_step_w[t]), torch.exp(self.log_step_f[t])
        for _ in range(steps):  # eq 33: the rate with F^(t-1)'s interference; eq 35: barrier
            W = _step(W, ops.sum_rate_gradient(H, W, noise + radar_power(H, F)), sw, pc)
        for _ in range(steps):
            G = self._project(sensing_gradient(S, W, F, radar_noise, gamma), H, masks[2])
            F = _step(F, G, sf, ps)
        if self.split_rule == "closed_form":
            W, F, _, _ = self._split(t, S, W, F, radar_noise, gamma)
        return aux_h, aux_g, W, F

    def trajectory(self, channel, targets, noise, radar_noise, gamma, steps=None, upto=None):
        steps = self.q_steps if steps is None else steps
        H, S, G, W, F, masks = self.start(channel, targets, noise, radar_noise, gamma)
        out, aux_h, aux_g = [(W, F)], H, G
        for t in range(len(self.comm) if upto is None else upto):
            aux_h, aux_g, W, F = self.layer(
                t, H, S, aux_h, aux_g, W, F, masks, noise, radar_noise, gamma, steps
            )
            out.append((W, F))
        return H, S, out

    def forward(self, channel, targets, noise, radar_noise, gamma, steps=None):
        _, _, out = self.trajectory(channel, targets, noise, radar_noise, gamma, steps)
        W, F = out[-1]
        return rows(W), rows(F)
