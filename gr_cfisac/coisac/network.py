"""The ``coisac`` network as the GNU Radio flowgraph's streams carry it (paper 003, issue 14).

The cfisac blocks size their ports from a :class:`~gr_cfisac.config.SystemConfig`; the coisac
scenario's BSs are both TAPs and RAPs (co-located, each an Lx x Ly UPA that transmits and
receives), so :func:`stream_config` gives the SystemConfig with NT = NR = N, MT = MR = L, K
users, no clutter (NC = 0) and tau = ``snapshots`` echo samples per coherence block. Its
``extra`` carries the CoisacConfig (:func:`coisac_config` reads it back), so every block built
with it knows the scenario; its own geometry fields (area, heights) are not used: the coisac
source publishes the BS, user and target positions.

Time: perfect CSI (the scenario's F_hat = F) needs no uplink pilots, but a SystemConfig keeps
tau_p >= K pilot slots; they are nominal (nothing is sent in them) and tau_c = K + tau. The
coisac rates are eq 4's log2(1 + SINR), without the cell-free pre-log tau / tau_c.

Echo (eq 7): BS n receives y_n(t) = sum_m alpha_{m,n} a_n a_m^H W_m x(t) + n_n(t), i.e. the
cell-free sensing matrix G_t (B, NR, MR, N) of ``channels.sensing_matrices`` with amplitudes
|alpha| (the geometry's ``amp_t``) and phases alpha / |alpha| (the truth's ``varpi_t``):
:func:`truth_fields` builds it, so the echo channel block synthesizes exactly the mean whose
Fisher information the SPEB (``speb``) bounds, and :func:`block_speb` recovers alpha from
those two stream fields.

numpy only; complex128 inside.
"""

from __future__ import annotations

import numpy as np

from ..channels import SensingGeometry, sensing_matrices
from ..config import SystemConfig
from .scenario import CoisacBatch, CoisacConfig
from .speb import FORMS, echo_model, speb

#: SystemConfig.extra key holding the CoisacConfig (as a dict)
EXTRA_KEY = "coisac"


def stream_config(cfg: CoisacConfig, snapshots: int | None = None) -> SystemConfig:
    """The SystemConfig that sizes the flowgraph's ports for ``cfg`` (module docstring):
    NT = NR = N BSs with (Lx, Ly) arrays, K users, NC = 0, tau = ``snapshots`` (default
    cfg.snapshots) echo samples per block, tau_p = K nominal pilot slots; carrier, bandwidth,
    noise figure and per-BS power as ``cfg``."""
    tau = cfg.snapshots if snapshots is None else snapshots
    if isinstance(tau, bool) or not isinstance(tau, (int, np.integer)) or tau < 1:
        raise ValueError(f"snapshots must be a positive integer (echo samples per block), got "
                         f"{snapshots!r}")  # fmt: skip
    return SystemConfig(
        NT=cfg.N,
        NR=cfg.N,
        MT_shape=(cfg.Lx, cfg.Ly),
        MR_shape=(cfg.Lx, cfg.Ly),
        K=cfg.K,
        NC=0,
        tau_c=cfg.K + int(tau),
        tau_p=cfg.K,
        carrier_hz=cfg.carrier_hz,
        bandwidth_hz=cfg.bandwidth_hz,
        noise_figure_db=cfg.noise_figure_db,
        noise_temperature_k=cfg.noise_temperature_k,
        tap_power_dbm=cfg.power_dbm,
        extra={"scenario": "coisac", EXTRA_KEY: cfg.to_dict()},
    )


def coisac_config(cfg: SystemConfig) -> CoisacConfig:
    """The CoisacConfig a :func:`stream_config` SystemConfig carries; ValueError otherwise."""
    data = cfg.extra.get(EXTRA_KEY) if isinstance(cfg, SystemConfig) else None
    if not isinstance(data, dict):
        raise ValueError(
            "config: not a coisac stream config (its extra has no 'coisac' entry); build it with "
            "gr_cfisac.coisac.network.stream_config(CoisacConfig(...))"
        )
    return CoisacConfig.from_dict(data)


def truth_fields(batch: CoisacBatch) -> dict[str, np.ndarray]:
    """The truth-layout fields of B blocks: true F, G_t of eq 7 (B, N, L, N L), alpha's
    phases ``varpi_t`` (B, N, N) (receiver first), positions and the canonical target angles
    at every BS; the clutter fields are empty (NC = 0)."""
    B, N = batch.batch, batch.cfg.N
    varpi = batch.alpha / np.where(batch.alpha == 0, 1.0, np.abs(batch.alpha))
    G_t, G_c = sensing_matrices(batch.sensing, varpi, np.zeros((B, N, 0, N)))
    return {
        "F": batch.F,
        "G_t": G_t,
        "G_c": G_c,
        "varpi_t": varpi,
        "varpi_c": np.zeros((B, N, 0, N), complex),
        "user_pos": batch.users,
        "target_pos": batch.target,
        "clutter_pos": np.zeros((B, 0, 3)),
        "psi_t": batch.sensing.psi_t,
        "theta_t": batch.sensing.theta_t,
    }


def bs_poses(cfg: CoisacConfig) -> tuple[np.ndarray, np.ndarray]:
    """BS positions (N, 3) m and array frames (N, 3, 3) for ``localization.fuse_position``:
    rows u-axis, v-axis, normal. The arrays lie in the x-z plane with u = -k_x, v = k_z
    (``geometry`` docstring); the normal is the +-y half-space holding the configured target
    (a planar array cannot tell front from back, so fusion must be told)."""
    bs = cfg.bs()
    side = np.sign(np.asarray(cfg.target)[1] - bs[:, 1])
    if np.any(side == 0):
        raise ValueError(
            "CoisacConfig: the target lies in a BS array's plane (same y), where its x-z UPA "
            "cannot tell front from back; move the target or the BSs in y"
        )
    frames = np.zeros((cfg.N, 3, 3))
    frames[:, 0, 0] = -1.0
    frames[:, 1, 2] = 1.0
    frames[:, 2, 1] = side
    return bs, frames


def block_speb(
    cfg: CoisacConfig,
    sensing: SensingGeometry,
    varpi_t: np.ndarray,
    target: np.ndarray,
    W: np.ndarray,
    snapshots: int,
    form: str = "exact",
) -> np.ndarray:
    """SPEB (B,) m^2 of eqs 19-31 from the streams' fields: alpha = amp_t varpi_t (geometry and
    truth), target (B, 3) m, the W (B, N L, K+1) transmitted, for ``snapshots`` echo samples at
    unit noise (``speb.speb``; ``form`` one of speb.FORMS)."""
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")
    alpha = np.asarray(sensing.amp_t) * np.asarray(varpi_t)
    model = echo_model(cfg.bs(), np.asarray(target, float), alpha, cfg.Lx, cfg.Ly)
    return speb(model, np.asarray(W, complex), int(snapshots), 1.0, form)


def angle_information(Y: np.ndarray, Lx: int, Ly: int) -> np.ndarray:
    """Fisher information of one BS's target direction cosines (u, v) estimated from its own
    echo, for weighting the fusion (localization.fuse_position's ``info_uv``): Y (..., L, tau)
    snapshots -> (..., 2, 2). For a rank-one echo a(u, v) s(t) in white noise on an Lx x Ly
    UPA, d a / d u = -j pi r a and d a / d v = j pi c a, so J = 2 tau rho pi^2 L
    diag(var r, var c) (the cross term vanishes on a full grid), rho the per-antenna echo SNR,
    estimated from the sample covariance as (lambda_max - sigma^2 (1 + sqrt(L / tau))^2) /
    (L sigma^2), sigma^2 the mean of the other eigenvalues: noise alone puts lambda_max near
    the Marchenko-Pastur edge sigma^2 (1 + sqrt(L / tau))^2, so an echo that does not rise above
    it (it cancelled, or lies below MUSIC's threshold) gets no weight."""
    Y = np.asarray(Y)
    L, tau = Y.shape[-2:]
    if L != Lx * Ly or L < 2:
        raise ValueError(f"Y must be (..., L={Lx * Ly}, tau) snapshots of an {Lx}x{Ly} UPA, got "
                         f"{Y.shape}")  # fmt: skip
    lam = np.linalg.eigvalsh(Y @ np.swapaxes(Y, -1, -2).conj() / tau)  # eq 41's R, ascending
    noise = np.maximum(lam[..., :-1].mean(-1), np.finfo(float).tiny)
    edge = noise * (1.0 + np.sqrt(L / tau)) ** 2
    rho = np.maximum(lam[..., -1] - edge, 0.0) / (L * noise)
    scale = 2.0 * tau * rho * np.pi**2 * L
    info = np.zeros(rho.shape + (2, 2))
    info[..., 0, 0] = scale * np.var(np.arange(Lx))
    info[..., 1, 1] = scale * np.var(np.arange(Ly))
    return info
