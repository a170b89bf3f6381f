"""The settings of paper 000's ``ccpa`` baseline and its three regimes of eq 23, as the
``optimize`` family's: "joint" (P3) maximizes eta sum_k R_C,k + (1 - eta) sum_j R_S,j (eq 23a,
``metrics.objective``); "sc" (P1) is eta = 0 (the sensing sum) s.t. every user's
R_C,k >= ``threshold`` (23c); "cc" (P2) is eta = 1 (the communication sum) s.t. every RAP's
R_S,j >= ``threshold`` (23b). numpy only."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import problems

#: P3 (eta-weighted), P1 (sensing sum s.t. users' floors), P2 (communication sum s.t. RAPs' floors)
REGIMES = ("joint", "sc", "cc")


@dataclass(frozen=True)
class Settings:
    """eta of eq 23a; Gaussian-randomization ``draws`` and their ``seed``; the SCA's relative
    improvement ``tol`` and ``max_iters``; ``rank_tol`` (a rank-one Q_k's second eigenvalue
    over the largest of all, ``rank_one_fraction``: SCS leaves ~1e-6 of noise);
    the conic ``solver`` (CLARABEL or SCS); ``regime`` joint (P3) / sc (P1) / cc (P2) and its
    rate floor ``threshold`` (bps/Hz; required for sc/cc, None or 0 for joint), as the
    ``optimize`` family. sc/cc ignore ``eta`` (0 and 1, ``objective_eta``)."""

    eta: float = 0.5
    draws: int = 50
    tol: float = 1e-4
    max_iters: int = 30
    rank_tol: float = 1e-4
    solver: str = "SCS"
    seed: int = 0
    regime: str = "joint"
    threshold: float | None = None

    def __post_init__(self) -> None:
        check_regime(self.regime, self.threshold)
        if self.threshold == 0:
            object.__setattr__(self, "threshold", None)
        if not 0.0 <= float(self.eta) <= 1.0:
            raise ValueError(f"eta (weight of the communication sum, eq 23a) must be in [0, 1], "
                             f"got {self.eta}")  # fmt: skip
        problems.check_sca_settings(self.draws, self.max_iters, self.tol, self.rank_tol,
                                    self.solver)  # fmt: skip

    @property
    def objective_eta(self) -> float:
        """The eta of eq 23a that the regime maximizes: eta (joint), 0 (sc), 1 (cc)."""
        return {"sc": 0.0, "cc": 1.0}.get(self.regime, float(self.eta))


def check_regime(regime: str, threshold: float | None) -> None:
    """The ``optimize`` family's checks of regime and threshold (None or 0: none)."""
    if regime not in REGIMES:
        raise ValueError(f"regime must be one of {REGIMES}, got {regime!r}")
    if threshold is not None and threshold != 0:
        if not (isinstance(threshold, (int, float, np.number)) and float(threshold) > 0):
            raise ValueError(f"threshold must be > 0 bps/Hz (0: none), got {threshold!r}")
        if not math.isfinite(float(threshold)):
            raise ValueError(f"threshold must be a finite rate in bps/Hz, got {threshold}")
    if regime == "joint" and threshold not in (None, 0):
        raise ValueError(
            "threshold is the rate floor of regimes 'sc' (users) and 'cc' (RAPs); the joint "
            "regime weighs the two with eta: set threshold to 0"
        )
    if regime != "joint" and threshold in (None, 0):
        what = "every user's rate (P1)" if regime == "sc" else "every RAP's sensing rate (P2)"
        raise ValueError(f"regime {regime!r} needs threshold, the floor on {what} in bps/Hz")
