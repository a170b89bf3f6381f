"""Spatially correlated Rician communication channels (eq 1) and sensing matrices (eqs 16-18).

All arrays are complex128 and batched over a leading axis B. TAP-major stacking: rows
i*MT ... (i+1)*MT - 1 of f_k and w_k belong to TAP i (eq 15).

Correlation model: the isotropic-scattering model for planar arrays (the paper's [21, Prop. 1],
Bjornson & Sanguinetti), R[m, n] = sinc(2 ||p_m - p_n|| / lambda), normalized to tr(R) = MT
(the element area A is folded in). With half-wavelength spacing, elements one spacing apart
are uncorrelated and diagonal neighbours correlate with sinc(sqrt 2) ~ -0.22.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .arrays import steering
from .config import SystemConfig
from .geometry import Geometry, local_angles


def crandn(rng: np.random.Generator | int | None, shape: tuple[int, ...]) -> np.ndarray:
    """CN(0, 1) samples (complex128)."""
    rng = np.random.default_rng(rng)
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2.0)


def correlation_matrix(rows: int, cols: int, model: str = "isotropic") -> np.ndarray:
    """Normalized spatial correlation R (M, M) of a rows x cols half-wavelength URPA, tr(R) = M."""
    m = rows * cols
    if model == "uncorrelated":
        return np.eye(m)
    if model != "isotropic":
        raise ValueError(f"correlation model must be 'isotropic' or 'uncorrelated', got {model!r}")
    idx = np.arange(m)
    r, c = idx % rows, idx // rows
    # distance in half-wavelengths; 2 d / lambda equals it for lambda/2 spacing
    dist = np.hypot(r[:, None] - r[None, :], c[:, None] - c[None, :])
    return np.sinc(dist)


@dataclass(frozen=True)
class CommChannels:
    """One batch of communication channels and the statistics the network knows.

    F (B, N, K): true channels f_k (eq 15); mean (B, N, K): LoS parts c_ik (eq 1) with their
    phase; cov (B, NT, K, MT, MT): C_hik = e_ik R (eq 10); gain (B, NT, K): varsigma_ik;
    rician (B, NT, K): K_ik.
    """

    F: np.ndarray
    mean: np.ndarray
    cov: np.ndarray
    gain: np.ndarray
    rician: np.ndarray


def comm_statistics(
    cfg: SystemConfig, geom: Geometry, rng: np.random.Generator | int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Long-term statistics of eq 1: mean (B, NT, K, MT), cov (B, NT, K, MT, MT), gain, rician.

    The LoS part c_ik = sqrt(K varsigma / (K+1)) e^{-j 2 pi d / lambda} a_T(psi_ik, theta_ik);
    the Rician factors are drawn uniformly from ``rician_k_range``.
    """
    rng = np.random.default_rng(rng)
    rows, cols = cfg.MT_shape
    psi, theta, dist = local_angles(geom.tap_pos, geom.tap_frame, geom.user_pos)  # (B, K, NT)
    psi, theta, dist = (np.swapaxes(x, -1, -2) for x in (psi, theta, dist))  # (B, NT, K)
    gain = cfg.pathloss_gain(dist)
    lo, hi = cfg.rician_k_range
    rician = rng.uniform(lo, hi, size=gain.shape)
    phase = np.exp(-2j * np.pi * dist / cfg.wavelength_m)
    los = steering(psi, theta, rows, cols)
    mean = np.sqrt(rician * gain / (rician + 1))[..., None] * phase[..., None] * los
    e = gain / (rician + 1)
    R = correlation_matrix(rows, cols, cfg.correlation)
    cov = e[..., None, None] * R
    return mean, cov, gain, rician


def stack_tap_major(per_tap: np.ndarray) -> np.ndarray:
    """(B, NT, K, MT) per-TAP vectors -> (B, NT*MT, K), TAP i owning rows i*MT...(i+1)*MT-1."""
    B, NT, K, MT = per_tap.shape
    return np.transpose(per_tap, (0, 1, 3, 2)).reshape(B, NT * MT, K)


def split_tap_major(stacked: np.ndarray, NT: int) -> np.ndarray:
    """Inverse of :func:`stack_tap_major`: (B, NT*MT, K) -> (B, NT, K, MT)."""
    B, N, K = stacked.shape
    return np.transpose(stacked.reshape(B, NT, N // NT, K), (0, 1, 3, 2))


def draw_comm_channels(
    cfg: SystemConfig, geom: Geometry, rng: np.random.Generator | int | None
) -> CommChannels:
    """Draw h_ik of eq 1 for every TAP and user: c_ik + e_ik^{1/2} h~_ik, h~ ~ CN(0, R)."""
    rng = np.random.default_rng(rng)
    mean, cov, gain, rician = comm_statistics(cfg, geom, rng)
    R = correlation_matrix(*cfg.MT_shape, cfg.correlation)
    L = np.linalg.cholesky(R + 1e-12 * np.eye(cfg.MT))
    e = gain / (rician + 1)
    scatter = np.sqrt(e)[..., None] * (crandn(rng, mean.shape) @ L.T)
    h = mean + scatter
    return CommChannels(stack_tap_major(h), stack_tap_major(mean), cov, gain, rician)


@dataclass(frozen=True)
class SensingGeometry:
    """What eq 16 needs besides the CN(0,1) RCS fluctuations, for a batch.

    amp_t (B, NR, NT) and amp_c (B, NR, NC, NT): large-scale reflection amplitudes |alpha_bar|;
    aT_t (B, NT, MT), aT_c (B, NC, NT, MT): TAP steering vectors toward target / clutter;
    aR_t (B, NR, MR), aR_c (B, NR, NC, MR): RAP steering vectors; psi_t, theta_t (B, NR) and
    psi_c, theta_c (B, NR, NC): the true angles at every RAP (radians, canonical range).
    """

    amp_t: np.ndarray
    amp_c: np.ndarray
    aT_t: np.ndarray
    aT_c: np.ndarray
    aR_t: np.ndarray
    aR_c: np.ndarray
    psi_t: np.ndarray
    theta_t: np.ndarray
    psi_c: np.ndarray
    theta_c: np.ndarray

    @property
    def NR(self) -> int:
        return self.amp_t.shape[1]

    @property
    def NC(self) -> int:
        return self.amp_c.shape[2]


def sensing_geometry(
    cfg: SystemConfig, geom: Geometry, clutter_rcs_m2: np.ndarray | None = None
) -> SensingGeometry:
    """Steering vectors and large-scale amplitudes of eq 16 for target and clutter.

    clutter_rcs_m2: optional (NC,) or (B, NC) RCS variances (e.g. an extended region split into
    many points, each carrying its share); defaults to ``cfg.rcs_clutter_m2`` for each point.
    """
    tr, tc = cfg.MT_shape
    rr, rc = cfg.MR_shape
    B, NC = geom.clutter_pos.shape[:2]
    # target: (B, NT) from TAPs, (B, NR) from RAPs
    psi_it, th_it, d_it = local_angles(geom.tap_pos, geom.tap_frame, geom.target_pos)
    psi_jt, th_jt, d_jt = local_angles(geom.rap_pos, geom.rap_frame, geom.target_pos)
    amp_t = cfg.reflection_gain(d_it[:, None, :], d_jt[:, :, None], cfg.rcs_target_m2)
    # clutter: (B, NC, NT) and (B, NC, NR)
    psi_ic, th_ic, d_ic = local_angles(geom.tap_pos, geom.tap_frame, geom.clutter_pos)
    psi_jc, th_jc, d_jc = local_angles(geom.rap_pos, geom.rap_frame, geom.clutter_pos)
    rcs_c = cfg.rcs_clutter_m2 if clutter_rcs_m2 is None else np.asarray(clutter_rcs_m2, float)
    rcs_c = np.broadcast_to(rcs_c, (B, NC))
    amp_c = cfg.reflection_gain(
        d_ic[:, None, :, :], np.swapaxes(d_jc, 1, 2)[..., None], rcs_c[:, None, :, None]
    )  # (B, NR, NC, NT)
    return SensingGeometry(
        amp_t=amp_t,
        amp_c=amp_c,
        aT_t=steering(psi_it, th_it, tr, tc),
        aT_c=steering(psi_ic, th_ic, tr, tc),
        aR_t=steering(psi_jt, th_jt, rr, rc),
        aR_c=np.swapaxes(steering(psi_jc, th_jc, rr, rc), 1, 2),
        psi_t=psi_jt,
        theta_t=th_jt,
        psi_c=np.swapaxes(psi_jc, 1, 2),
        theta_c=np.swapaxes(th_jc, 1, 2),
    )


def draw_rcs(
    rng: np.random.Generator | int | None, batch: int, NR: int, NT: int, NC: int
) -> tuple[np.ndarray, np.ndarray]:
    """Normalized RCS fluctuations varpi ~ CN(0, 1) of eq 16: (B, NR, NT) and (B, NR, NC, NT)."""
    rng = np.random.default_rng(rng)
    return crandn(rng, (batch, NR, NT)), crandn(rng, (batch, NR, NC, NT))


def sensing_matrices(
    sg: SensingGeometry, varpi_t: np.ndarray, varpi_c: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """G_t (B, NR, MR, N) and G_c (B, NR, NC, MR, N) of eqs 17-18.

    Block i of G_j,m is alpha_ij,m a_R,jm a_T,im^H with alpha = |alpha_bar| varpi (eq 16).
    """
    alpha_t = sg.amp_t * varpi_t  # (B, NR, NT)
    alpha_c = sg.amp_c * varpi_c  # (B, NR, NC, NT)
    B, NR, NT = alpha_t.shape
    # (B, NR, MR, NT, MT) -> (B, NR, MR, N)
    G_t = np.einsum("bji,bjr,bim->bjrim", alpha_t, sg.aR_t, sg.aT_t.conj())
    G_c = np.einsum("bjci,bjcr,bcim->bjcrim", alpha_c, sg.aR_c, sg.aT_c.conj())
    MR, N = sg.aR_t.shape[-1], NT * sg.aT_t.shape[-1]
    return G_t.reshape(B, NR, MR, N), G_c.reshape(B, NR, sg.NC, MR, N)


def _block_gram(amp2: np.ndarray, aT: np.ndarray, MR: int) -> np.ndarray:
    """MR * sum_i amp2_i blockdiag_i(a_T,i a_T,i^H): amp2 (..., NT), aT (..., NT, MT) -> (..., N, N)."""
    NT, MT = aT.shape[-2:]
    outer = aT[..., :, None] * aT[..., None, :].conj()  # (..., NT, MT, MT)
    blocks = MR * amp2[..., None, None] * outer
    out = np.zeros(blocks.shape[:-3] + (NT * MT, NT * MT), dtype=complex)
    for i in range(NT):
        out[..., i * MT : (i + 1) * MT, i * MT : (i + 1) * MT] = blocks[..., i, :, :]
    return out


def sensing_gram_averaged(sg: SensingGeometry) -> tuple[np.ndarray, np.ndarray]:
    """E_varpi[G^H G] for target and (summed) clutter: Q_t, Q_c each (B, NR, N, N).

    With independent varpi_ij ~ CN(0,1) per TAP-RAP pair, E[G_j^H G_j] is block diagonal:
    MR |alpha_bar_ij|^2 a_T,i a_T,i^H. This is the 'varpi-averaged G' precoders may use:
    tr(G W W^H G^H) averages to sum_k w_k^H Q w_k.
    """
    MR = sg.aR_t.shape[-1]
    Q_t = _block_gram(sg.amp_t**2, sg.aT_t[:, None], MR)
    # clutter: sum over c of the per-clutter grams
    Q_c = _block_gram(sg.amp_c**2, sg.aT_c[:, None], MR).sum(axis=2)
    return Q_t, Q_c


def sensing_tokens(sg: SensingGeometry) -> np.ndarray:
    """Per-scatterer TAP steering scaled by sqrt(sum_j |alpha_bar_ij|^2): (B, 1 + NC, N).

    Row 0 is the target, then the clutter sources (the ONNX ``sensing`` input of DESIGN.md,
    before the I/Q split).
    """
    B = sg.amp_t.shape[0]
    scale_t = np.sqrt((sg.amp_t**2).sum(axis=1))  # (B, NT)
    scale_c = np.sqrt((sg.amp_c**2).sum(axis=1))  # (B, NC, NT)
    tok_t = (scale_t[..., None] * sg.aT_t).reshape(B, 1, -1)
    tok_c = (scale_c[..., None] * sg.aT_c).reshape(B, sg.NC, -1)
    return np.concatenate([tok_t, tok_c], axis=1)
