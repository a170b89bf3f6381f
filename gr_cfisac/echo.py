"""Multistatic echo synthesis with target, clutter and noise (eqs 16-18), sample level.

For every coherence block b and RAP j the tau snapshots are (eq 18)

    y_j(t) = G_jt W x(t) + sum_c G_jc W x(t) + n_j(t),   t = 1 ... tau,

with x(t) = [x_0(t), x_1(t) ... x_K(t)]: a unit-power sensing stream x_0 and unit-power QPSK
user symbols, varpi ~ CN(0, 1) drawn per block and per (TAP, RAP, scatterer) (eq 16) and unit
noise n_j ~ CN(0, I). All arrays are complex128 with the batch of coherence blocks first.

Every scatterer m reflects a rank-one echo a_R,jm s_jm(t) with
s_jm(t) = g_jm^T x(t) and g_jm[k] = sum_i alpha_ij,m a_T,im^H W_bar_ik (the "scatterer gains"),
so G_jm W = a_R,jm g_jm^T. The synthesizer works in that factorized form, which keeps an
extended clutter region of hundreds of points cheap; :func:`apply_sensing_channel` takes given
G matrices instead, for a streaming block that already holds the transmitted TAP samples.

Two levels of API:
- :func:`synthesize` / :func:`synthesize_scene`: many coherence blocks at once, returning the
  snapshots and the ground truth (:class:`EchoBlock`).
- the pieces a streaming block needs: :func:`transmit_symbols`, :func:`draw_sensing_channel`,
  :func:`apply_sensing_channel`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .channels import SensingGeometry, crandn, draw_rcs, sensing_geometry, sensing_matrices
from .config import SystemConfig
from .geometry import Geometry

# ----------------------------------------------------------------------------- symbols


def qpsk_symbols(rng: np.random.Generator | int | None, shape: tuple[int, ...]) -> np.ndarray:
    """Unit-power QPSK symbols (+-1 +-1j)/sqrt(2), complex128 of the given shape."""
    rng = np.random.default_rng(rng)
    bits = rng.integers(0, 2, size=shape + (2,))
    return ((1 - 2 * bits[..., 0]) + 1j * (1 - 2 * bits[..., 1])) / np.sqrt(2.0)


def transmit_symbols(
    rng: np.random.Generator | int | None,
    blocks: int,
    K: int,
    tau: int,
    sensing: str = "gaussian",
) -> np.ndarray:
    """Symbols x(t) of eq 18 for ``blocks`` coherence blocks: (B, K+1, tau), row 0 the sensing
    stream x_0 (``sensing`` = "gaussian": CN(0, 1), or "qpsk"), rows 1..K unit-power QPSK."""
    rng = np.random.default_rng(rng)
    if sensing not in ("gaussian", "qpsk"):
        raise ValueError(f"sensing must be 'gaussian' or 'qpsk', got {sensing!r}")
    for name, value in (("blocks", blocks), ("K", K), ("tau", tau)):
        if int(value) < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    x0 = (
        crandn(rng, (blocks, 1, tau))
        if sensing == "gaussian"
        else qpsk_symbols(rng, (blocks, 1, tau))
    )
    return np.concatenate([x0, qpsk_symbols(rng, (blocks, K, tau))], axis=1)


# ----------------------------------------------------------------------------- the channel


def draw_sensing_channel(
    sg: SensingGeometry, rng: np.random.Generator | int | None, blocks: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Draw varpi for each block and build G_t (B, NR, MR, N), G_c (B, NR, NC, MR, N) (eq 17).

    sg has batch B or 1 (a static scene, broadcast to ``blocks``). Returns (G_t, G_c, varpi_t,
    varpi_c). For an extended clutter region prefer :func:`synthesize`, which never forms G_c.
    """
    rng = np.random.default_rng(rng)
    sg = _broadcast_geometry(sg, blocks or sg.amp_t.shape[0])
    B, NR, NT = sg.amp_t.shape
    varpi_t, varpi_c = draw_rcs(rng, B, NR, NT, sg.NC)
    G_t, G_c = sensing_matrices(sg, varpi_t, varpi_c)
    return G_t, G_c, varpi_t, varpi_c


def apply_sensing_channel(
    G_t: np.ndarray,
    G_c: np.ndarray | None,
    S: np.ndarray,
    rng: np.random.Generator | int | None,
    noise_power: float = 1.0,
) -> np.ndarray:
    """RAP snapshots from transmitted TAP samples, eq 18: (G_t + sum_c G_c) S + n.

    G_t (B, NR, MR, N); G_c (B, NR, NC, MR, N), or (B, NR, MR, N) already summed over clutter,
    or None; S (B, N, tau) the samples the TAPs sent (W x, TAP-major rows) -> (B, NR, MR, tau)
    complex128 with CN(0, noise_power) noise on every antenna and snapshot.
    """
    G_t = np.asarray(G_t)
    S = np.asarray(S)
    if G_t.ndim != 4:
        raise ValueError(f"G_t must be (B, NR, MR, N), got shape {G_t.shape}")
    if S.ndim != 3 or S.shape[1] != G_t.shape[-1]:
        raise ValueError(
            f"S must be (B, N={G_t.shape[-1]}, tau) transmitted TAP samples, got shape {S.shape}"
        )
    G = G_t
    if G_c is not None:
        G_c = np.asarray(G_c)
        if G_c.ndim == 5:
            G_c = G_c.sum(axis=2)
        if G_c.shape != G_t.shape:
            raise ValueError(
                f"G_c must be (B, NR, NC, MR, N) or (B, NR, MR, N) matching G_t {G_t.shape}, "
                f"got {G_c.shape}"
            )
        G = G_t + G_c
    if S.shape[0] not in (1, G.shape[0]) and G.shape[0] != 1:
        raise ValueError(f"S has batch {S.shape[0]} but G has {G.shape[0]}; they must match")
    # one batched matmul: (B, NR*MR, N) @ (B, N, tau); ~10x faster than the einsum
    B = max(G.shape[0], S.shape[0])
    NR, MR, N = G.shape[1:]
    y = np.matmul(G.reshape(G.shape[0], NR * MR, N), S).reshape(B, NR, MR, S.shape[-1])
    if noise_power < 0:
        raise ValueError(f"noise_power must be >= 0, got {noise_power}")
    if noise_power > 0:
        rng = np.random.default_rng(rng)
        y = y + np.sqrt(noise_power) * crandn(rng, y.shape)
    return y


def scatterer_gains(
    sg: SensingGeometry, W: np.ndarray, varpi_t: np.ndarray, varpi_c: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-stream gain of every scatterer's echo: g_jm[k] = sum_i alpha_ij,m a_T,im^H W_bar_ik.

    sg batch B, W (B, N, K+1), varpi_t (B, NR, NT), varpi_c (B, NR, NC, NT) -> g_t (B, NR, K+1), g_c (B, NR, NC, K+1).
    G_jt W = a_R,jt g_t[j]^T, so the target echo is a_R,jt (g_t[j] . x(t)).
    """
    NT, MT = sg.aT_t.shape[-2:]
    W = np.asarray(W)
    if W.ndim != 3 or W.shape[1] != NT * MT:
        raise ValueError(f"W must be (B, N={NT * MT}, K+1), got shape {W.shape}")
    Wi = W.reshape(W.shape[0], NT, MT, W.shape[-1])
    alpha_t = sg.amp_t * varpi_t  # (B, NR, NT)
    alpha_c = sg.amp_c * varpi_c  # (B, NR, NC, NT)
    proj_t = np.einsum("bim,bimk->bik", sg.aT_t.conj(), Wi)  # (B, NT, K+1)
    proj_c = np.einsum("bcim,bimk->bcik", sg.aT_c.conj(), Wi)  # (B, NC, NT, K+1)
    g_t = np.einsum("bji,bik->bjk", alpha_t, proj_t)
    g_c = np.einsum("bjci,bcik->bjck", alpha_c, proj_c)
    return g_t, g_c


def source_covariance(g_t: np.ndarray, g_c: np.ndarray) -> np.ndarray:
    """Covariance of the scatterers' signals at every RAP for unit-power independent streams:
    P = g g^H with rows [target, clutter 1 ... NC]. g_t (B, NR, K+1), g_c (B, NR, NC, K+1)
    -> (B, NR, 1+NC, 1+NC). What the stochastic CRB (bounds.py) takes."""
    g = np.concatenate([g_t[:, :, None, :], g_c], axis=2)
    return np.einsum("bjmk,bjnk->bjmn", g, g.conj())


# ----------------------------------------------------------------------------- synthesis


@dataclass(frozen=True)
class EchoBlock:
    """Synthesized snapshots of B coherence blocks and the ground truth that made them.

    y (B, NR, MR, tau) RAP snapshots; x (B, K+1, tau) transmitted symbols (row 0 = x_0);
    varpi_t (B, NR, NT), varpi_c (B, NR, NC, NT) the RCS fluctuations; g_t (B, NR, K+1),
    g_c (B, NR, NC, K+1) the scatterer gains (:func:`scatterer_gains`); psi_t, theta_t (B, NR)
    and psi_c, theta_c (B, NR, NC) the true angles at every RAP (radians, canonical range);
    target_pos (B, 3), clutter_pos (B, NC, 3) in metres when known. With components=True also
    target, clutter, noise (each (B, NR, MR, tau)), whose sum is y.
    """

    y: np.ndarray
    x: np.ndarray
    varpi_t: np.ndarray
    varpi_c: np.ndarray
    g_t: np.ndarray
    g_c: np.ndarray
    psi_t: np.ndarray
    theta_t: np.ndarray
    psi_c: np.ndarray
    theta_c: np.ndarray
    target_pos: np.ndarray | None = None
    clutter_pos: np.ndarray | None = None
    target: np.ndarray | None = None
    clutter: np.ndarray | None = None
    noise: np.ndarray | None = None

    @property
    def blocks(self) -> int:
        return self.y.shape[0]

    def source_covariance(self) -> np.ndarray:
        """(B, NR, 1+NC, 1+NC): see :func:`source_covariance`."""
        return source_covariance(self.g_t, self.g_c)


def _broadcast_geometry(sg: SensingGeometry, blocks: int) -> SensingGeometry:
    B = sg.amp_t.shape[0]
    if B == blocks:
        return sg
    if B != 1:
        raise ValueError(
            f"the sensing geometry has batch {B}; it must be 1 (a static scene) or match the "
            f"number of blocks {blocks}"
        )
    return SensingGeometry(
        *(
            np.broadcast_to(getattr(sg, f.name), (blocks,) + getattr(sg, f.name).shape[1:])
            for f in dataclasses.fields(sg)
        )
    )


def _batch_size(name: str, n: int, B: int) -> None:
    if n not in (1, B):
        raise ValueError(f"{name} has batch {n}; it must be 1 or the number of blocks {B}")


def synthesize(
    sg: SensingGeometry,
    W: np.ndarray,
    tau: int,
    rng: np.random.Generator | int | None,
    blocks: int | None = None,
    x: np.ndarray | None = None,
    varpi: tuple[np.ndarray, np.ndarray] | None = None,
    sensing_symbols: str = "gaussian",
    noise_power: float = 1.0,
    components: bool = False,
) -> EchoBlock:
    """Echoes of eq 18 for B coherence blocks at every RAP.

    sg: sensing geometry with batch B or 1 (static scene); W (B or 1, N, K+1) ISAC beamformers
    (sensing beam first; a communication-only precoder has w_0 = 0); tau snapshots per block. B is the
    largest of sg's batch, W's batch and ``blocks``. x (B, K+1, tau) and varpi = (varpi_t,
    varpi_c) may be given (else drawn: symbols first, then varpi, then noise, from ``rng``).
    Returns an :class:`EchoBlock`; the same seed gives the same output.
    """
    rng = np.random.default_rng(rng)
    W = np.asarray(W)
    N = sg.aT_t.shape[-2] * sg.aT_t.shape[-1]
    if W.ndim != 3 or W.shape[1] != N or W.shape[2] < 2:
        raise ValueError(
            f"W must be (B, N={N}, K+1) ISAC beamformers (sensing beam first), got {W.shape}"
        )
    B = max(sg.amp_t.shape[0], W.shape[0], blocks or 1)
    _batch_size("W", W.shape[0], B)
    if blocks is not None and blocks != B:
        raise ValueError(f"blocks={blocks} but the inputs have batch {B}")
    sg = _broadcast_geometry(sg, B)
    W = np.broadcast_to(W, (B,) + W.shape[1:])
    if x is None:
        x = transmit_symbols(rng, B, W.shape[-1] - 1, tau, sensing_symbols)
    x = np.asarray(x)
    if x.shape != (B, W.shape[-1], tau):
        raise ValueError(f"x must be (B={B}, K+1={W.shape[-1]}, tau={tau}), got {x.shape}")
    NR, NT = sg.amp_t.shape[1:]
    if varpi is None:
        varpi_t, varpi_c = draw_rcs(rng, B, NR, NT, sg.NC)
    else:
        varpi_t, varpi_c = (np.asarray(v) for v in varpi)
        if varpi_t.shape != (B, NR, NT) or varpi_c.shape != (B, NR, sg.NC, NT):
            raise ValueError(
                f"varpi must be ((B, NR, NT)={(B, NR, NT)}, (B, NR, NC, NT)={(B, NR, sg.NC, NT)}),"
                f" got {varpi_t.shape} and {varpi_c.shape}"
            )
    g_t, g_c = scatterer_gains(sg, W, varpi_t, varpi_c)
    s_t = np.einsum("bjk,bkt->bjt", g_t, x)  # (B, NR, tau)
    target = sg.aR_t[..., None] * s_t[:, :, None, :]
    # sum_c a_R,jc g_jc^T x(t) = (sum_c a_R,jc g_jc^T) x(t): never forms (B, NR, NC, MR, tau)
    H_c = np.einsum("bjcr,bjck->bjrk", sg.aR_c, g_c)
    clutter = np.einsum("bjrk,bkt->bjrt", H_c, x)
    if noise_power < 0:
        raise ValueError(f"noise_power must be >= 0, got {noise_power}")
    noise = np.sqrt(noise_power) * crandn(rng, target.shape)
    y = target + clutter + noise
    return EchoBlock(
        y=y,
        x=x,
        varpi_t=varpi_t,
        varpi_c=varpi_c,
        g_t=g_t,
        g_c=g_c,
        psi_t=np.asarray(sg.psi_t),
        theta_t=np.asarray(sg.theta_t),
        psi_c=np.asarray(sg.psi_c),
        theta_c=np.asarray(sg.theta_c),
        target=target if components else None,
        clutter=clutter if components else None,
        noise=noise if components else None,
    )


def synthesize_scene(
    cfg: SystemConfig,
    geom: Geometry,
    W: np.ndarray,
    rng: np.random.Generator | int | None,
    blocks: int | None = None,
    clutter_rcs_m2: np.ndarray | None = None,
    **kwargs,
) -> EchoBlock:
    """:func:`synthesize` from a :class:`Geometry` (batch B or 1) with ``cfg.tau`` snapshots;
    the result also carries the target and clutter positions. clutter_rcs_m2 as in
    :func:`channels.sensing_geometry` (per-point RCS, e.g. of an extended region)."""
    sg = sensing_geometry(cfg, geom, clutter_rcs_m2)
    echo = synthesize(sg, W, cfg.tau, rng, blocks=blocks, **kwargs)
    B = echo.blocks
    return dataclasses.replace(
        echo,
        target_pos=np.broadcast_to(geom.target_pos, (B, 3)),
        clutter_pos=np.broadcast_to(geom.clutter_pos, (B,) + geom.clutter_pos.shape[1:]),
    )


# ----------------------------------------------------------------------------- extended clutter


def extended_clutter(
    center: np.ndarray, extent_m: tuple[float, float], points_per_side: int, rcs_m2: float
) -> tuple[np.ndarray, np.ndarray]:
    """An extended clutter region (the paper's remark after eq 18) as a dense set of points.

    A horizontal rectangle of extent_m = (dx, dy) metres centred at ``center`` (3,), sampled on a
    points_per_side x points_per_side grid; the region's RCS variance is shared equally, so each
    point carries rcs_m2 / n. -> points (n, 3), rcs (n,) for :func:`with_clutter` and
    ``sensing_geometry(..., clutter_rcs_m2=rcs)``.
    """
    if len(extent_m) != 2 or min(extent_m) < 0:
        raise ValueError(f"extent_m must be (dx, dy) metres, both >= 0, got {extent_m!r}")
    if points_per_side < 1:
        raise ValueError(f"points_per_side must be >= 1, got {points_per_side}")
    if rcs_m2 < 0:
        raise ValueError(f"rcs_m2 must be >= 0, got {rcs_m2}")
    center = np.asarray(center, dtype=float)
    offsets = (np.arange(points_per_side) + 0.5) / points_per_side - 0.5
    dx, dy = np.meshgrid(offsets * extent_m[0], offsets * extent_m[1], indexing="ij")
    pts = np.stack([dx.ravel(), dy.ravel(), np.zeros(dx.size)], axis=-1) + center
    return pts, np.full(len(pts), rcs_m2 / len(pts))


def with_clutter(geom: Geometry, clutter_pos: np.ndarray) -> Geometry:
    """The same geometry with its clutter replaced by points (NC', 3) or (B, NC', 3)."""
    pts = np.asarray(clutter_pos, dtype=float)
    pts = np.broadcast_to(pts, (geom.batch,) + pts.shape[-2:]).copy()
    return dataclasses.replace(geom, clutter_pos=pts)
