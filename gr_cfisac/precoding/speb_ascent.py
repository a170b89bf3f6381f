"""Projected gradient ascent on paper 003's problem 32 with a log barrier on the SPEB.

maximize  f(W) = sum_k R_k(W) + mu log(gamma - SPEB(W))     (eqs 32a, 32c; R_k of eqs 3-4)
s.t.      ||W_n||^2 <= P_n for every BS n                  (eq 32b, by projection)

one beam per stream, W (B, N L, K+1) with W[..., 0] the sensing beam, batched over
realizations. Both gradients are closed forms (checked against finite differences in the tests):

- SPEB. The full FIM of the echo model is affine in R = W W^H, J_pq = (2 tau / sigma^2)
  Re tr(L_p^H L_q R) (``speb_fim.fim_maps``). With the position EFIM J_pos = J_tt - J_ta
  J_aa^+ J_at and X = J_aa^+ J_at, d SPEB = -tr(V dJ) with V = [I; -X] J_pos^-2 [I, -X^T], so
  d SPEB / d W* = -(2 tau / sigma^2) sum_p L_p^H sum_q V_pq L_q W.
- Rate (nats here, bits reported). With T_k = sum_j |h_k^H w_j|^2 + 1 and I_k = T_k - |h_k^H
  w_k|^2, d R / d w_j* = sum_k h_k h_k^H w_j (1 / T_k - [j != k] / I_k).

The barrier needs a strictly feasible start: a start with SPEB >= gamma is blended toward the
per-BS target beam p* (p^s -> sqrt(1 - t) p^s + sqrt(t) p*, users times sqrt(1 - t), the
smallest t of a grid that meets gamma, as ``sca_speb`` does); where even t = 1 fails, gamma is
out of reach and the start is returned unchanged with ``met`` False. Steps: ascent direction
grad f, Armijo-free backtracking (a step is kept only if f increases and SPEB stays below
gamma, so every iterate is feasible), step grown x``grow`` after a success and shrunk
x``shrink`` after a failure, mu decayed geometrically from ``mu_start`` to ``mu_end``
(the barrier's weight in bits per log-m^2). A local method: it improves its start, it does not
certify a global optimum. numpy only.

Robust form. The SPEB depends on the reflection phases, which no precoder knows. A Problem
may hold S echo models per realization (``of_scene_draws``: e.g. S draws of alpha's phases):
the barrier is then the mean of the S barriers, a step is kept only if every model stays below
gamma, and the reported SPEB is the largest of the S (a scenario approach: the SPEB of an
unseen phase draw then exceeds gamma with probability about 1 / (S + 1)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..coisac.rates import sum_rate
from .convex.sca_speb import BLEND
from .convex.speb_fim import position_maps
from .convex.speb_scene import Scene, target_beam

LOG2 = np.log(2.0)


@dataclass(frozen=True)
class AscentSettings:
    """Ascent steps, the barrier's weight schedule (bits) and the step rules."""

    steps: int = 50
    mu_start: float = 1.0
    mu_end: float = 1e-3
    first_step: float = 0.05  # first step length as a fraction of ||W|| / ||grad f||
    grow: float = 1.5
    shrink: float = 0.3
    backtracks: int = 12

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise ValueError(f"steps must be >= 0 (0: feasibility only), got {self.steps}")
        if not 0 < self.mu_end <= self.mu_start:
            raise ValueError(f"need 0 < mu_end <= mu_start, got {self.mu_end}, {self.mu_start}")
        if not (self.first_step > 0 and self.grow >= 1 and 0 < self.shrink < 1):
            raise ValueError("need first_step > 0, grow >= 1 and 0 < shrink < 1")
        if self.backtracks < 1:
            raise ValueError(f"backtracks must be >= 1, got {self.backtracks}")


@dataclass(frozen=True)
class Problem:
    """Problem 32 for a batch of realizations: channels F (B, N L, K), the position maps
    L_x, L_y, L_z of ``speb_fim.position_maps`` (B, S, 3, N L, N L) for S echo models per realization (the
    alpha maps are rank-one blocks of the steering vectors, used in closed form), the transmit
    steering vectors ``steering`` a_n (B, N, L), per-BS budgets ``power`` (B, N), the target
    beams p* (B, N L), the FIM scale 2 tau / sigma^2 and gamma (m^2, (B,))."""

    F: np.ndarray
    maps: np.ndarray
    steering: np.ndarray
    power: np.ndarray
    target: np.ndarray
    fim_scale: float
    gamma: np.ndarray

    @property
    def adjoint_maps(self) -> np.ndarray:
        """[L_x^H L_y^H L_z^H] per echo model (B, S, N L, 3 N L), computed once."""
        cached = self.__dict__.get("_adjoint")
        if cached is None:
            B, S, m, NL, _ = self.maps.shape
            cached = np.ascontiguousarray(
                self.maps.conj().transpose(0, 1, 4, 2, 3).reshape(B, S, NL, m * NL)
            )
            object.__setattr__(self, "_adjoint", cached)
        return cached

    @property
    def N(self) -> int:
        return self.power.shape[1]

    def take(self, idx: np.ndarray) -> Problem:
        """The realizations ``idx`` (an index array) as a Problem."""
        sub = Problem(self.F[idx], self.maps[idx], self.steering[idx], self.power[idx],
                      self.target[idx], self.fim_scale, self.gamma[idx])  # fmt: skip
        object.__setattr__(sub, "_adjoint", self.adjoint_maps[idx])
        return sub

    @classmethod
    def of_scenes(cls, scenes: list[Scene], gamma: float | np.ndarray) -> Problem:
        """From ``sca_speb`` Scenes (one echo model per realization) and the threshold."""
        return cls.of_scene_draws([[s] for s in scenes], gamma)

    @classmethod
    def of_scene_draws(cls, draws: list[list[Scene]], gamma: float | np.ndarray) -> Problem:
        """From S Scenes per realization (the same channels, power, geometry and target beam;
        S echo models, e.g. draws of alpha's phases) and the threshold."""
        if not draws or not all(draws):
            raise ValueError("speb_ascent: no realizations (scenes is empty)")
        S = {len(d) for d in draws}
        if len(S) != 1:
            raise ValueError("speb_ascent: every realization needs the same number of echo "
                             f"models, got {sorted(S)}")  # fmt: skip
        flat = [s for d in draws for s in d]
        scale = {2.0 * s.snapshots / s.noise for s in flat}
        if len(scale) != 1:
            raise ValueError("speb_ascent: every scene needs the same snapshots and noise")
        gamma = np.broadcast_to(np.asarray(gamma, float), (len(draws),)).copy()
        if not np.all(gamma > 0):
            raise ValueError(f"gamma must be a positive SPEB in m^2, got {gamma.min()}")
        maps = np.stack([np.stack([position_maps(s) for s in d]) for d in draws])
        first = [d[0] for d in draws]
        return cls(
            np.stack([s.F for s in first]).astype(complex),
            maps,
            np.stack([s.a for s in first]).astype(complex),
            np.stack([np.asarray(s.power, float) for s in first]),
            np.stack([target_beam(s) for s in first]),
            scale.pop(),
            gamma,
        )


def block_diagonal(X: np.ndarray, N: int) -> np.ndarray:
    """I_N kron X for X (B, N, N): (B, N^2, N^2), index (n, m) = n N + m."""
    B = X.shape[0]
    return np.einsum("ij,bkl->bikjl", np.eye(N), X).reshape(B, N * N, N * N)


@dataclass(frozen=True)
class Efim:
    """The position EFIM of beams W per echo model: its inverse J_inv (B, S, 3, 3) (the SPEB is
    its trace), X = J_aa^+ J_at (B, S, 2 N^2, 3), and the products the gradient reuses: c_m =
    a_m^H W_m (B, N, A), Y_p = L_p W (B, S, 3, N L, A), d_{p,n} = a_n^H (Y_p)_n (B, S, 3, N, A)."""

    J_inv: np.ndarray
    X: np.ndarray
    c: np.ndarray
    Yp: np.ndarray
    d: np.ndarray

    @property
    def speb(self) -> np.ndarray:
        return np.trace(self.J_inv, axis1=-2, axis2=-1)


def efim(p: Problem, W: np.ndarray) -> Efim:
    """The EFIM of beams W (B, N L, A) under each echo model.

    The alpha maps are rank one per block, L_{n,m} w = e_n (x) a_n (a_m^H w_m) (and j times it
    for Im alpha), so with c_m = a_m^H W_m and d_{p,n} = a_n^H (L_p W)_n the alpha rows of J are
    closed forms: J_{p,(n,m)} = s Re sum_k conj(d_{p,n,k}) c_{m,k} (-Im for Im alpha) and the
    nuisance block is s L (I_N (x) [[Re H, -Im H], [Im H, Re H]]), H = c^* c^T; only the three
    position maps are dense products."""
    B, NL, A = W.shape
    S = p.maps.shape[1]
    a = p.steering
    N, L = a.shape[1:]
    s = p.fim_scale
    c = np.einsum("bnl,bnla->bna", a.conj(), W.reshape(B, N, L, A))
    Yp = (p.maps.reshape(B, S * 3 * NL, NL) @ W).reshape(B, S, 3, NL, A)
    Ypr = Yp.reshape(B * S, 3, NL * A)
    J_tt = s * (Ypr.conj() @ Ypr.transpose(0, 2, 1)).real.reshape(B, S, 3, 3)
    d = np.einsum("bnl,bspnla->bspna", a.conj(), Yp.reshape(B, S, 3, N, L, A))
    G = np.einsum("bspnk,bmk->bspnm", d.conj(), c).reshape(B, S, 3, N * N)
    J_ta = s * np.concatenate([G.real, -G.imag], -1)  # (B, S, 3, 2 N^2)
    H = np.einsum("bmk,bjk->bmj", c.conj(), c)
    re, im = block_diagonal(H.real, N), block_diagonal(H.imag, N)
    J_aa = (
        s * L * np.concatenate([np.concatenate([re, -im], -1), np.concatenate([im, re], -1)], -2)
    )  # the same for every echo model
    X = np.linalg.pinv(J_aa, rcond=1e-10, hermitian=True)[:, None] @ J_ta.swapaxes(-1, -2)
    J_inv = np.linalg.inv(J_tt - J_ta @ X)
    return Efim(J_inv, X, c, Yp, d)


def speb_and_gradient(p: Problem, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact SPEB (B, S) m^2 of beams W (B, N L, A) under each echo model and its gradient
    d SPEB / d W* (B, S, N L, A) (``efim``: the alpha maps in closed form)."""
    B, NL, A = W.shape
    S = p.maps.shape[1]
    a = p.steering
    N, L = a.shape[1:]
    NN, s = N * N, p.fim_scale
    e = efim(p, W)
    J_inv, X, c, Yp, d = e.J_inv, e.X, e.c, e.Yp, e.d
    E = np.concatenate([np.broadcast_to(np.eye(3), (B, S, 3, 3)), -X], 2)  # (B, S, m, 3)
    V = E @ (J_inv @ J_inv) @ E.swapaxes(-1, -2)
    V_tt, V_ta, V_at, V_aa = V[..., :3, :3], V[..., :3, 3:], V[..., 3:, :3], V[..., 3:, 3:]
    # position rows: Z_p = sum_q V_pq L_q W, the alpha terms in closed form
    w = (V_ta[..., :NN] + 1j * V_ta[..., NN:]).reshape(B, S, 3, N, N)
    u = np.einsum("bspnm,bma->bspna", w, c)
    Z = np.einsum("bspq,bsqxa->bspxa", V_tt, Yp)
    Z += np.einsum("bnl,bspna->bspnla", a, u).reshape(B, S, 3, NL, A)
    grad = p.adjoint_maps @ Z.reshape(B, S, 3 * NL, A)
    # alpha rows: L_{n,m}^H z = e_m (x) a_m (a_n^H z_n), t = a_n^H Z_(n,m) [n]
    t = np.einsum("bsrnmq,bsqna->bsrnma", V_at.reshape(B, S, 2, N, N, 3), d)
    V_diag = np.einsum("bsrnmtnk->bsrnmtk", V_aa.reshape(B, S, 2, N, N, 2, N, N))
    t += L * np.einsum("bsrnmk,bka->bsrnma", V_diag[..., 0, :] + 1j * V_diag[..., 1, :], c)
    per_bs = (t[:, :, 0] - 1j * t[:, :, 1]).sum(2)  # (B, S, N, A): sum over n
    grad += np.einsum("bml,bsma->bsmla", a, per_bs).reshape(B, S, NL, A)
    return e.speb, -s * grad


def rate_and_gradient(F: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum rate (B,) bps/Hz of eqs 3-4 (unit noise, the sensing beam interferes) and its
    gradient d R / d W* (B, N L, K+1) in bits."""
    g = np.einsum("bnk,bnj->bkj", F.conj(), W)  # (B, K, K+1): h_k^H w_j
    p = np.abs(g) ** 2
    K = F.shape[-1]
    k = np.arange(K)
    total = p.sum(-1) + 1.0
    interference = total - p[:, k, k + 1]
    coef = np.repeat((1.0 / total - 1.0 / interference)[:, :, None], K + 1, 2)
    coef[:, k, k + 1] = 1.0 / total
    grad = np.einsum("bnk,bkj->bnj", F, g * coef) / LOG2
    return np.log2(total / interference).sum(-1), grad


def project_per_bs(W: np.ndarray, power: np.ndarray) -> np.ndarray:
    """Eq 32b by projection: BS n's rows scaled down to ||W_n||^2 <= P_n (power (B, N))."""
    B, NL, A = W.shape
    N = power.shape[1]
    Wn = W.reshape(B, N, NL // N, A)
    used = (np.abs(Wn) ** 2).sum((2, 3))
    scale = 1.0 / np.sqrt(np.maximum(used / power, 1.0))
    return (Wn * scale[:, :, None, None]).reshape(W.shape)


def feasible_start(p: Problem, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """W with SPEB < gamma where reachable (module docstring); (W, reachable (B,))."""
    W = project_per_bs(np.array(W, complex), p.power)
    ok = worst_speb(p, W) < p.gamma
    for t in BLEND:
        if ok.all():
            break
        todo = np.flatnonzero(~ok)
        sub = p.take(todo)
        Wt = W[todo] * np.sqrt(1.0 - t)
        Wt[..., 0] += np.sqrt(t) * sub.target
        Wt = project_per_bs(Wt, sub.power)
        met = worst_speb(sub, Wt) < sub.gamma
        W[todo[met]] = Wt[met]
        ok[todo[met]] = True
    return W, ok


def worst_speb(p: Problem, W: np.ndarray) -> np.ndarray:
    """The largest SPEB (B,) m^2 of beams W over each realization's echo models."""
    return efim(p, W).speb.max(-1)


def barrier_of(rate: np.ndarray, speb: np.ndarray, gamma: np.ndarray, mu: float):
    """f = rate + mu mean_s log(gamma - SPEB_s) (B,) (-inf where any SPEB_s >= gamma) and the
    slacks (B, S) (1 where not positive, so they divide safely)."""
    slack = gamma[:, None] - speb
    ok = np.all(slack > 0, axis=-1)
    safe = np.where(slack > 0, slack, 1.0)
    return np.where(ok, rate + mu * np.log(safe).mean(-1), -np.inf), safe


def barrier_value(p: Problem, W: np.ndarray, mu: float) -> tuple[np.ndarray, np.ndarray]:
    """f(W) (B,) (-inf where any echo model's SPEB >= gamma) and grad f / d W* (B, N L, A)."""
    speb, g_speb = speb_and_gradient(p, W)
    rate, g_rate = rate_and_gradient(p.F, W)
    f, safe = barrier_of(rate, speb, p.gamma, mu)
    return f, g_rate - mu * (g_speb / safe[..., None, None]).mean(1)


def barrier_only(p: Problem, W: np.ndarray, mu: float) -> np.ndarray:
    """f(W) (B,) of ``barrier_value`` without its gradient (a trial step's test)."""
    return barrier_of(sum_rate(p.F, W), efim(p, W).speb, p.gamma, mu)[0]


@dataclass(frozen=True)
class AscentResult:
    """Beams W (B, N L, K+1), their sum rate (bps/Hz) and SPEB (m^2, the largest over the echo
    models), ``met`` = SPEB <= gamma
    (False only where gamma is out of reach of the blend), the steps run."""

    W: np.ndarray
    sum_rate: np.ndarray
    speb: np.ndarray
    met: np.ndarray
    steps: int


def ascend(p: Problem, W0: np.ndarray, settings: AscentSettings = AscentSettings()) -> AscentResult:
    """Problem 32 from the start W0 (B, N L, K+1) by the barrier ascent of the module docstring."""
    W0 = np.asarray(W0)
    if W0.ndim != 3 or W0.shape[:2] != p.F.shape[:2] or W0.shape[2] != p.F.shape[2] + 1:
        raise ValueError(f"W0 must be (B, N L, K+1) = {p.F.shape[:2] + (p.F.shape[2] + 1,)} "
                         f"(W0[..., 0] the sensing beam), got {W0.shape}")  # fmt: skip
    W, reachable = feasible_start(p, W0)
    s = settings
    mus = np.geomspace(s.mu_start, s.mu_end, max(s.steps, 1))
    step = None
    for i in range(s.steps):
        f, grad = barrier_value(p, W, mus[i])
        if step is None:
            norm = np.linalg.norm(grad, axis=(1, 2))
            step = s.first_step * np.linalg.norm(W, axis=(1, 2)) / np.where(norm > 0, norm, 1.0)
        todo = np.flatnonzero(reachable)
        for _ in range(s.backtracks):
            if not todo.size:
                break
            sub = p if todo.size == len(W) else p.take(todo)
            trial = project_per_bs(W[todo] + step[todo, None, None] * grad[todo], sub.power)
            keep = barrier_only(sub, trial, mus[i]) > f[todo]
            W[todo[keep]] = trial[keep]
            step[todo] *= np.where(keep, s.grow, s.shrink)
            todo = todo[~keep]
    rate = sum_rate(p.F, W)
    speb = worst_speb(p, W)
    return AscentResult(W, rate, speb, speb <= p.gamma, s.steps)
