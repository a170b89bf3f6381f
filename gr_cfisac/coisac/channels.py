"""Channel sources of the ``coisac`` scenario (paper 003): the users' downlink channels h_k of
eq 2 and the target's reflection coefficients alpha_{m,n} of eq 7.

The paper draws its channels from DeepMIMO's O1 ray tracing at 28 GHz, which cannot be fetched
at run time; our default is a geometric model, every choice stated here:

- Downlink (:func:`geometric_channels`): per BS n and user k, a line-of-sight path plus
  ``scattered_paths`` single-bounce paths (default 2), Rician with K-factor ``rician_k_db``
  (default 9 dB, the mean UMi LoS K-factor of 3GPP TR 38.901 Table 7.5-6; with no scattered
  path the LoS carries all the power), the scattered power split equally between the paths, each with an independent CN(0, 1) gain. Each scatterer is a
  point drawn per (block, user, path) uniformly in a horizontal disc of radius
  ``scatter_radius_m`` (default 10 m) around the user, at a height uniform in [0, 10] m; every
  BS sees the same scatterers (its departure angle points at them). Pathloss is 3GPP TR 38.901
  UMi-Street Canyon LoS: PL = 32.4 + 21 log10(d_3D / m) + 20 log10(f_c / GHz) dB on the BS-user
  distance, applied to the whole channel. The LoS path carries the phase exp(-j 2 pi d / lambda).
- Echo (:func:`radar_reflections`): alpha_{m,n} = sqrt(lambda^2 sigma_RCS /
  ((4 pi)^3 d_m^2 d_n^2)) exp(j phi_{m,n}) (free-space bistatic radar equation, isotropic
  elements: the array gains come from the unit-modulus steering vectors), phi uniform in
  [0, 2 pi) and reciprocal (phi_{m,n} = phi_{n,m}); sigma_RCS = ``rcs_m2`` (default 1 m^2).

Conventions as eq 2 and eq 7: user k receives h_k^H x and BS m's transmission reaches the
target as a^H(theta_m, beta_m) x_m, so h_{k,n} = sum_paths gain * a(direction of the path).
Channels are dimensionless amplitudes (pathloss only); the scenario divides the transmit power
by the noise power k T B NF, so noise is unit power (DESIGN.md, units of 003).

A channel source is any ``source(placement, rng) -> F`` (B, N L, K), BS-major rows (BS n owns
rows n L..(n+1) L - 1), complex128: a ray tracer can replace :func:`geometric_channels`.
numpy only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..channels import crandn
from .geometry import Placement, offsets, paper_angles, steering

#: a channel source: (placement, rng) -> F (B, N L, K)
ChannelSource = Callable[[Placement, np.random.Generator], np.ndarray]
#: a reflection source: (placement, rng) -> alpha (B, N receivers, N transmitters)
ReflectionSource = Callable[[Placement, np.random.Generator], np.ndarray]
#: scatterer heights are uniform in [0, SCATTER_HEIGHT_M] m
SCATTER_HEIGHT_M = 10.0
#: distances below this (m) are clipped in the pathloss (a point on a BS)
MIN_DISTANCE_M = 1.0


def umi_los_pathloss_db(distance_m: np.ndarray, carrier_hz: float) -> np.ndarray:
    """3GPP TR 38.901 UMi-Street Canyon LoS pathloss (PL1) in dB:
    32.4 + 21 log10(d) + 20 log10(f_c / GHz), d in metres (clipped at 1 m)."""
    d = np.maximum(np.asarray(distance_m, float), MIN_DISTANCE_M)
    return 32.4 + 21.0 * np.log10(d) + 20.0 * np.log10(carrier_hz / 1e9)


@dataclass(frozen=True)
class GeometricChannels:
    """The default channel source (module docstring): LoS + ``scattered_paths`` scattered
    paths with Rician K-factor ``rician_k_db``, UMi LoS pathloss at ``carrier_hz``."""

    carrier_hz: float = 28e9
    scattered_paths: int = 2
    rician_k_db: float = 9.0
    scatter_radius_m: float = 10.0

    def __call__(self, placement: Placement, rng: np.random.Generator) -> np.ndarray:
        return geometric_channels(
            placement,
            rng,
            self.carrier_hz,
            self.scattered_paths,
            self.rician_k_db,
            self.scatter_radius_m,
        )


def geometric_channels(
    placement: Placement,
    rng: np.random.Generator,
    carrier_hz: float = 28e9,
    scattered_paths: int = 2,
    rician_k_db: float = 9.0,
    scatter_radius_m: float = 10.0,
) -> np.ndarray:
    """F (B, N L, K) of the geometric model (module docstring); F[..., k] = h_k of eq 2."""
    p, rng = placement, np.random.default_rng(rng)
    B, K, N, L = p.batch, p.K, p.N, p.L
    dist = np.linalg.norm(offsets(p.bs, p.users), axis=-1)  # (B, K, N)
    amp = 10.0 ** (-umi_los_pathloss_db(dist, carrier_hz) / 20.0)
    kf = 10.0 ** (rician_k_db / 10.0)
    theta, beta = paper_angles(p.bs, p.users)
    los = np.exp(-2j * np.pi * dist / p.wavelength_m)[..., None] * steering(theta, beta, p.Lx, p.Ly)
    if scattered_paths == 0:  # LoS only: it carries all the power
        return np.transpose(amp[..., None] * los, (0, 2, 3, 1)).reshape(B, N * L, K)
    h = math.sqrt(kf / (kf + 1.0)) * los  # (B, K, N, L)
    S = scattered_paths
    radius = scatter_radius_m * np.sqrt(rng.random((B, K, S)))
    angle = rng.uniform(0.0, 2.0 * np.pi, (B, K, S))
    spots = np.stack(
        [radius * np.cos(angle), radius * np.sin(angle), np.zeros_like(radius)], axis=-1
    )
    spots = spots + p.users[:, :, None, :]
    spots[..., 2] = rng.uniform(0.0, SCATTER_HEIGHT_M, (B, K, S))
    th_s, be_s = paper_angles(p.bs, spots)  # (B, K, S, N)
    gains = crandn(rng, (B, K, S, N))
    paths = (gains[..., None] * steering(th_s, be_s, p.Lx, p.Ly)).sum(axis=2)
    h = h + math.sqrt(1.0 / ((kf + 1.0) * S)) * paths
    h = amp[..., None] * h  # (B, K, N, L)
    return np.transpose(h, (0, 2, 3, 1)).reshape(B, N * L, K)


def radar_amplitudes(placement: Placement, rcs_m2: float) -> np.ndarray:
    """|alpha_{m,n}| of the bistatic radar equation: (B, N receivers n, N transmitters m)."""
    d = np.maximum(np.linalg.norm(offsets(placement.bs, placement.target), axis=-1), 1.0)
    lam = placement.wavelength_m
    return np.sqrt(lam**2 * rcs_m2 / ((4.0 * np.pi) ** 3)) / (d[:, :, None] * d[:, None, :])


@dataclass(frozen=True)
class RadarReflections:
    """The default reflection source: radar-equation amplitudes with reciprocal uniform
    phases (module docstring); alpha (B, N receivers, N transmitters)."""

    rcs_m2: float = 1.0

    def __call__(self, placement: Placement, rng: np.random.Generator) -> np.ndarray:
        return radar_reflections(placement, rng, self.rcs_m2)


def radar_reflections(
    placement: Placement, rng: np.random.Generator, rcs_m2: float = 1.0
) -> np.ndarray:
    """alpha (B, N, N), [b, n, m] = alpha_{m,n} (transmitter m, receiver n, eq 7)."""
    rng = np.random.default_rng(rng)
    amp = radar_amplitudes(placement, rcs_m2)
    B, N = amp.shape[:2]
    phase = rng.uniform(0.0, 2.0 * np.pi, (B, N, N))
    phase = np.triu(phase) + np.swapaxes(np.triu(phase, 1), -1, -2)
    return amp * np.exp(1j * phase)
