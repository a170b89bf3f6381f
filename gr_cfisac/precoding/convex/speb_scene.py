"""The data of one realization of paper 003's problem 32, as ``sca_speb`` (its SCA baseline)
and ``speb_ascent`` take it: channels, the echo model of one block (``coisac.speb``: eq 7's
steering vectors and their angle derivatives, alpha, eqs 29-31's Q), per-BS budgets.
``scenes_of`` takes a CoisacBatch's truth (true alpha and target: the bench's baseline);
``network_scenes`` what the network knows (DESIGN): the estimates, the target triangulated
from the sensing angles and |alpha| with zero phases. numpy only; complex128."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...coisac.speb import EchoModel
from ...coisac.speb import speb as exact_speb
from ..registry import Realization


@dataclass(frozen=True)
class Scene:
    """One realization: channels F (N L, K), the echo model of one block (``coisac.speb``:
    a, da_theta, da_beta (N, L), alpha (N, N) [receiver, transmitter], Q (2N, 3)), per-BS
    budgets ``power`` (N,), ``snapshots`` tau and the echo ``noise`` sigma^2."""

    F: np.ndarray
    a: np.ndarray
    da_theta: np.ndarray
    da_beta: np.ndarray
    alpha: np.ndarray
    Q: np.ndarray
    power: np.ndarray
    snapshots: int
    noise: float = 1.0

    @property
    def N(self) -> int:
        return self.a.shape[0]

    @property
    def L(self) -> int:
        return self.a.shape[1]

    def echo(self) -> EchoModel:
        """This block as a batch of one for ``coisac.speb``."""
        return EchoModel(*(x[None] for x in (self.a, self.da_theta, self.da_beta,
                                                   self.alpha, self.Q)))  # fmt: skip

    def speb(self, W: np.ndarray) -> np.ndarray:
        """Exact SPEB (m^2) of beams W (..., N L, K+1) -> (...)."""
        W = np.asarray(W, complex)
        lead = W.shape[:-2]
        Wf = W.reshape((-1,) + W.shape[-2:])
        m = self.echo()
        model = EchoModel(*(np.repeat(x, len(Wf), 0) for x in (m.a, m.da_theta,
                                                                    m.da_beta, m.alpha, m.Q)))  # fmt: skip
        return exact_speb(model, Wf, self.snapshots, self.noise).reshape(lead)


def scenes_of(batch: Any, power: float | np.ndarray | None = None) -> list[Scene]:
    """The Scenes of a ``coisac.CoisacBatch`` (its true alpha and target) at per-BS ``power``
    (normalized; scalar or (N,); None: the config's)."""
    cfg, echo = batch.cfg, batch.echo
    P = np.broadcast_to(np.asarray(cfg.power if power is None else power, float), (cfg.N,))
    return [
        Scene(
            batch.F[b],
            echo.a[b],
            echo.da_theta[b],
            echo.da_beta[b],
            echo.alpha[b],
            echo.Q[b],
            P.copy(),
            cfg.snapshots,
        )  # fmt: skip
        for b in range(batch.batch)
    ]


def target_beam(scene: Scene) -> np.ndarray:
    """Every BS's full budget toward the target, w_n = sqrt(P_n / L) a_n: (NL,)."""
    return (np.sqrt(scene.power / scene.L)[:, None] * scene.a).reshape(-1)


def triangulate(bs: np.ndarray, psi: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Target (B, 3) m from every BS's canonical angles toward it (B, N) (DESIGN's, x-z plane
    UPAs: u = sin theta cos psi = -k_x, v = sin theta sin psi = k_z; the sign of k_y, which an
    array cannot tell, is the one of the 2^N choices whose lines meet best, in front)."""
    bs = np.asarray(bs, float)
    u, v = np.sin(theta) * np.cos(psi), np.sin(theta) * np.sin(psi)
    ky = np.sqrt(np.clip(1.0 - u**2 - v**2, 0.0, 1.0))
    N = bs.shape[0]
    signs = np.array(np.meshgrid(*[[-1.0, 1.0]] * N, indexing="ij")).reshape(N, -1).T  # (S, N)
    k = np.stack(np.broadcast_arrays(-u[:, None], signs * ky[:, None], v[:, None]), -1)  # B,S,N,3
    proj = np.eye(3) - k[..., :, None] * k[..., None, :]
    t = np.linalg.solve(proj.sum(-3), np.einsum("bsnij,nj->bsi", proj, bs)[..., None])[..., 0]
    d = t[:, :, None, :] - bs
    miss = np.einsum("bsnij,bsnj->bsni", proj, d)
    behind = np.einsum("bsni,bsni->bsn", k, d) < 0
    cost = (miss**2).sum((-1, -2)) + np.where(behind.any(-1), np.inf, 0.0)
    return t[np.arange(len(t)), np.argmin(cost, axis=1)]


def network_scenes(
    cfg: Any, r: Realization, power: float, phases: np.ndarray | None = None
) -> list[Scene]:
    """What the network knows (DESIGN): the estimates, the target triangulated from the sensing
    geometry's angles and the reflection amplitudes |alpha| with zero phases (the SPEB depends
    on alpha's phases, which no precoder knows; ``solve_batch`` takes the true ones), or with
    ``phases`` (B, N, N) rad assumed instead."""
    from ...coisac.speb import echo_model

    sg = r.sensing
    target = triangulate(cfg.bs(), sg.psi_t, sg.theta_t)
    alpha = np.abs(np.asarray(sg.amp_t, complex))
    if phases is not None:
        alpha = alpha * np.exp(1j * phases)
    echo = echo_model(cfg.bs(), target, alpha.astype(complex), cfg.Lx, cfg.Ly)
    P = np.full(cfg.N, float(power))
    return [
        Scene(
            np.asarray(r.F_hat[b], complex),
            echo.a[b],
            echo.da_theta[b],
            echo.da_beta[b],
            echo.alpha[b],
            echo.Q[b],
            P,
            cfg.snapshots,
        )  # fmt: skip
        for b in range(len(target))
    ]


def reciprocal_phases(shape: tuple[int, int], draws: int, rng: np.random.Generator) -> np.ndarray:
    """``draws`` x (B, N, N) uniform reflection phases with phi_{m,n} = phi_{n,m} (reciprocal
    alpha, docs/coisac.md), shape = (B, N)."""
    B, N = shape
    phi = rng.uniform(-np.pi, np.pi, (draws, B, N, N))
    upper = np.triu(phi)
    return upper + np.swapaxes(np.triu(phi, 1), -1, -2)


def network_scene_draws(
    cfg: Any, r: Realization, power: float, draws: int, seed: int = 0
) -> list[list[Scene]]:
    """``network_scenes`` under ``draws`` seeded reciprocal phase draws of alpha: per
    realization a list of ``draws`` Scenes (the robust ascent's echo models)."""
    B = r.F_hat.shape[0]
    phases = reciprocal_phases((B, cfg.N), draws, np.random.default_rng(seed))
    per_draw = [network_scenes(cfg, r, power, phases[d]) for d in range(draws)]
    return [[per_draw[d][b] for d in range(draws)] for b in range(B)]
