"""The ``coisac`` scenario of paper 003 (cooperative ISAC with direct localization): geometry
and channels (``scenario``, ``geometry``, ``channels``), the SPEB of eqs 19-31 (``speb``) and
the sum rate with per-BS power (``rates``). numpy only; see docs/coisac.md."""

from .rates import normalize_per_bs, per_bs_power, sum_rate, user_rates
from .scenario import (
    BS_POSITIONS,
    POWER_SWEEP_DBM,
    TARGET,
    CoisacBatch,
    CoisacConfig,
    CoisacScenario,
    draw,
    power_from_dbm,
)
from .speb import EchoModel, angle_efim, echo_model, position_fim, speb

__all__ = [
    "BS_POSITIONS",
    "POWER_SWEEP_DBM",
    "TARGET",
    "CoisacBatch",
    "CoisacConfig",
    "CoisacScenario",
    "EchoModel",
    "angle_efim",
    "draw",
    "echo_model",
    "normalize_per_bs",
    "per_bs_power",
    "position_fim",
    "power_from_dbm",
    "speb",
    "sum_rate",
    "user_rates",
]
