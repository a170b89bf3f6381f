"""Paper 001's metrics and losses in torch: SINR (eq 2), SSNR (eq 6), the teacher loss (eq 10),
the student loss (eq 11) and the adaptive lambda of eq 12. The numpy versions are in
gr_cfisac.decentral (tests compare the two). :func:`soft_min` is our smooth stand-in for the
min over users in the training losses (a deviation, ``schedule.softmin_t0`` > 0)."""

from __future__ import annotations

import torch


def sinr(F: torch.Tensor, W: torch.Tensor, noise: float = 1.0) -> torch.Tensor:
    """Eq 2: F (B, L M, N) complex, W (B, L M, N+1) sensing first -> (B, N)."""
    gains = (F.conj().transpose(1, 2) @ W).abs() ** 2  # (B, N, N+1): |h_n^H w_q|^2
    N = F.shape[-1]
    idx = torch.arange(N, device=F.device)
    signal = gains[:, idx, idx + 1]
    return signal / (gains.sum(-1) - signal + noise)


def ssnr(
    a_t: torch.Tensor, W: torch.Tensor, gain: torch.Tensor, noise: float = 1.0
) -> torch.Tensor:
    """Eq 6: a_t (B, L, M) complex, W (B, L M, Q), gain sigma_s^2 (B or 1, R, L) -> (B,)."""
    B, L, M = a_t.shape
    toward = torch.einsum("blm,blmq->blq", a_t.conj(), W.reshape(B, L, M, -1))
    beam_gain = (toward.abs() ** 2).sum(-1)  # (B, L)
    return (gain * beam_gain[:, None, :]).sum((-1, -2)) / (gain.shape[1] * noise)


def soft_min(x: torch.Tensor, temperature: float) -> torch.Tensor:
    """min over the last axis, smoothed: -T log sum exp(-x / T), which lies in
    [min x - T log n, min x] and is the hard min at T = 0 (every user gets gradient, weighted
    by softmin(x / T), where the hard min feeds only the worst one)."""
    if temperature < 0:
        raise ValueError(f"soft_min: temperature must be >= 0 (0: hard min), got {temperature}")
    if temperature == 0:
        return x.min(-1).values
    return -temperature * torch.logsumexp(-x / temperature, -1)


def softmin_temperature(t0: float, decay: float, epoch: int, floor: float = 1e-3) -> float:
    """The smooth min's temperature at ``epoch``: t0 decay^epoch, annealed to the hard min
    (0) once it falls below ``floor``."""
    t = t0 * decay**epoch
    return t if t >= floor else 0.0


def teacher_loss(g1: torch.Tensor, g2: torch.Tensor, beta: float) -> torch.Tensor:
    """Eq 10: -[(1 - beta) g1 + beta g2], averaged over the batch."""
    return -((1.0 - beta) * g1 + beta * g2).mean()


def student_loss(
    g1: torch.Tensor, g2: torch.Tensor, lam: float, g1_max: float, g2_max: float,
    form: str = "linear",
) -> torch.Tensor:  # fmt: skip
    """Eq 11: -[(1 - lambda) g1 / E g1_max + lambda g2 / E g2_max], averaged over the batch
    (``form`` linear, the paper's). ``form`` log (ours): the same weights on the logarithms,
    -[(1 - lambda) log(g1 / E g1_max) + lambda log(g2 / E g2_max)], whose maximum over a
    straight trade-off line between the teachers' corners lies inside it (at lambda of the way),
    where the linear form's lies at a corner."""
    if form == "log":
        floor = 1e-6  # keeps a realization whose SINR or SSNR is 0 finite
        return -((1.0 - lam) * torch.log(g1 / g1_max + floor)
                 + lam * torch.log(g2 / g2_max + floor)).mean()  # fmt: skip
    return -((1.0 - lam) * g1 / g1_max + lam * g2 / g2_max).mean()


def gaps(g1: torch.Tensor, g2: torch.Tensor, g1_max: float, g2_max: float) -> tuple[float, float]:
    """Eq 12's mean relative gaps to the references: G1 (SSNR), G2 (min-SINR)."""
    return float(((g1_max - g1) / g1_max).mean()), float(((g2_max - g2) / g2_max).mean())


def lambda_step(lam: float, G1: float, G2: float, eps: float) -> float:
    """Eq 12: lambda grows by eps G2 when G2 >= G1, else shrinks by eps G1; clipped to
    [0, 1]."""
    lam = lam + eps * G2 if G2 >= G1 else lam - eps * G1
    return min(1.0, max(0.0, lam))


def update_lambda(
    lam: float, g1: torch.Tensor, g2: torch.Tensor, g1_max: float, g2_max: float, eps: float
) -> float:
    """Eq 12 with the mini-batch's mean reference gaps G1 (SSNR) and G2 (min-SINR)."""
    return lambda_step(lam, *gaps(g1, g2, g1_max, g2_max), eps)
