"""Precoders. MU-MISO ones return user beams (B, N, K); ISAC ones (B, N, K+1), sensing first."""

from .isac import isac_beamformer, nullspace_beam, target_beam
from .linear import mrt, rzf, zf
from .optimizer import QUALITY, comm_rates_and_gradient, optimize, sensing_rates_and_gradient
from .power import project_power, scale_power
from .wmmse import wmmse

__all__ = [
    "mrt",
    "zf",
    "rzf",
    "wmmse",
    "optimize",
    "QUALITY",
    "comm_rates_and_gradient",
    "sensing_rates_and_gradient",
    "scale_power",
    "project_power",
    "isac_beamformer",
    "target_beam",
    "nullspace_beam",
]
