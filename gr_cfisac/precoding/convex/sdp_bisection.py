"""The ``sdp_bisection`` baseline of paper 001 (its reference [28], section 8): bisection on
gamma of problem 8 (rho = 0.5, sensing beam in the users' null space) gives gamma_high, then the
SDP of problem 9 maximizes SSNR s.t. every SINR >= gamma_high and per-AP power, and beams are
extracted from its solution (``problems.extract_beams``). Central: it needs every AP's CSI.

Per realization it reports gamma_high, the SDP's (relaxed) optimal SSNR, the SSNR and min-SINR
of the extracted beams, whether the SDP's user covariances and the sensing remainder are rank
one, and the solve time. Realizations run on the project's sweep runner
(:func:`gr_cfisac.sweep.run_points`: in process by default, a local Dask cluster with
``workers`` > 1, an existing one with ``scheduler``); results are cached on disk, one ``.npz``
per realization named by a hash of its inputs and settings (:func:`cache_key`), so a bench or a
re-run never solves a realization twice.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...decentral import sinr, ssnr
from ...sweep import run_points
from ..registry import Family, PrecoderResult, PrecoderSpec, Realization, register
from . import problems

#: bump when a change alters the solutions (old cache files are then ignored)
CACHE_VERSION = 1
#: extras of one realization, in the order of :class:`SdpBisection`'s fields
EXTRAS = ("gamma_high", "ssnr_sdp", "ssnr", "min_sinr", "rank_one", "sensing_rank_one",
          "solves", "seconds")  # fmt: skip


@dataclass(frozen=True)
class Settings:
    """rho of problem 8, the bisection's relative precision ``tol``, the solvers of problem 8
    (SOCP) and problem 9 (SDP)."""

    rho: float = 0.5
    tol: float = 1e-3
    socp_solver: str = "CLARABEL"
    sdp_solver: str = "SCS"

    def __post_init__(self) -> None:
        if not 0.0 < float(self.rho) <= 1.0:
            raise ValueError(f"rho (communication power ratio) must be in (0, 1], got {self.rho}")
        if not 0.0 < float(self.tol) < 0.5:
            raise ValueError(
                f"tol (relative bisection precision) must be in (0, 0.5), got {self.tol}"
            )
        for name in ("socp_solver", "sdp_solver"):
            if getattr(self, name) not in problems.SOLVERS:
                raise ValueError(
                    f"{name} must be one of {problems.SOLVERS}, got {getattr(self, name)!r}"
                )


def solve_one(
    F: np.ndarray,
    a_t: np.ndarray,
    gain: np.ndarray,
    power: np.ndarray,
    noise: float,
    settings: Settings = Settings(),
) -> tuple[np.ndarray, dict[str, float]]:
    """One realization: F (L M, N), a_t (L, M), gain sigma_s^2 (L_r, L_t), power P_l (L,),
    noise sigma^2 (users and receivers) -> (W (L M, N+1) sensing first, extras)."""
    start = time.perf_counter()
    F, a_t = np.asarray(F, complex), np.asarray(a_t, complex)
    L = a_t.shape[0]
    weight = np.asarray(gain, float).sum(0) / (L * noise)  # eq 6: sum_r sigma_s,lr^2 / (L s_a^2)
    gamma, solves = problems.bisect_gamma(F, power, noise, settings.rho, settings.tol,
                                          settings.socp_solver)  # fmt: skip
    sol = problems.max_ssnr_sdp(F, a_t, weight, power, noise, gamma, settings.sdp_solver)
    W = problems.extract_beams(F, sol.R)
    rest = problems.sensing_remainder(F, sol.R, W)
    extras = {
        "gamma_high": gamma,
        "ssnr_sdp": sol.ssnr,
        "ssnr": float(ssnr(a_t[None], W[None], np.asarray(gain)[None], noise)[0]),
        "min_sinr": float(sinr(F[None], W[None], noise)[0].min()),
        "rank_one": float(np.all(problems.rank_one(sol.R[1:]))),
        "sensing_rank_one": float(problems.rank_one(rest, scale=np.trace(sol.R.sum(0)).real)),
        "solves": float(solves + 1),
        "seconds": time.perf_counter() - start,
    }
    return W, extras


def cache_key(F, a_t, gain, power, noise, settings: Settings) -> str:
    """A hash of one realization's inputs and the settings (and CACHE_VERSION)."""
    h = hashlib.sha256(f"v{CACHE_VERSION}|{settings}|{float(noise)!r}".encode())
    for x in (F, a_t, gain, power):
        x = np.ascontiguousarray(x)
        h.update(str(x.shape).encode() + x.tobytes())
    return h.hexdigest()[:32]


def solve_point(point: tuple) -> dict[str, Any]:
    """One sweep point (F, a_t, gain, power, noise, settings) -> {"W": W, **extras}."""
    W, extras = solve_one(*point)
    return {"W": W, **extras}


def point_cache_key(point: tuple) -> str:
    """The cache file name of one sweep point: :func:`cache_key` of its inputs."""
    return cache_key(*point)


def solve_batch(
    F: np.ndarray,
    a_t: np.ndarray,
    gain: np.ndarray,
    power: np.ndarray,
    noise: float,
    settings: Settings = Settings(),
    cache_dir: str | Path | None = None,
    workers: int | None = 1,
    scheduler: Any = None,
    progress: bool = False,
) -> PrecoderResult:
    """B realizations: F (B, L M, N), a_t (B, L, M), gain (B, L, L) or scalar, power (L,)
    -> PrecoderResult(W (B, L M, N+1), extras (B,) each of EXTRAS), cached in ``cache_dir``.
    ``workers``/``scheduler`` as :func:`gr_cfisac.sweep.run_points` (workers=1: in process)."""
    F, a_t = np.asarray(F), np.asarray(a_t)
    if F.ndim != 3 or a_t.ndim != 3 or F.shape[1] != a_t.shape[1] * a_t.shape[2]:
        raise ValueError(f"F must be (B, L M, N) and a_t (B, L, M); got {F.shape}, {a_t.shape}")
    B, L, _ = a_t.shape
    gain = np.broadcast_to(np.asarray(gain, float), (B, L, L))
    power = np.broadcast_to(np.asarray(power, float), (L,))
    if scheduler not in (None, "", "local") and workers == 1:
        workers = None  # the default workers=1 means "in process" only without a scheduler
    points = [(F[b], a_t[b], gain[b], power, float(noise), settings) for b in range(B)]
    out = run_points(solve_point, points, scheduler=scheduler, workers=workers,
                     cache_dir=cache_dir or None, key=point_cache_key, progress=progress,
                     desc="sdp_bisection")  # fmt: skip
    W = np.stack([r["W"] for r in out])
    extras = {k: np.array([float(r[k]) for r in out]) for k in EXTRAS}
    return PrecoderResult(W, extras)


def _build(spec: PrecoderSpec, cfg: Any):
    p = dict(spec.params)
    settings = Settings(float(p["rho"]), float(p["tol"]), str(p["socp_solver"]),
                        str(p["sdp_solver"]))  # fmt: skip
    for attr in ("L", "M", "N", "power", "noise"):
        if not hasattr(cfg, attr):
            raise ValueError(
                f"sdp_bisection serves scenarios pos1/pos2: it needs a "
                f"gr_cfisac.decentral.PosConfig, got {type(cfg).__name__}"
            )
    try:
        import cvxpy  # noqa: F401
    except ImportError:
        raise ValueError(
            "sdp_bisection needs cvxpy (Clarabel/SCS): pip install 'gr-cfisac[convex]'"
        ) from None

    def design(r: Realization) -> PrecoderResult:
        sg = r.sensing
        return solve_batch(r.F_hat, sg.aT_t, np.asarray(sg.amp_t) ** 2,
                           np.full(cfg.L, cfg.power), cfg.noise, settings,
                           p["cache_dir"] or None, int(p["workers"]),
                           p["scheduler"] or None)  # fmt: skip

    return design


FAMILY = register(
    Family(
        "sdp_bisection",
        _build,
        "paper 001's baseline [28]: bisection on the min-SINR of problem 8, then the SDP of "
        "problem 9 (max SSNR, per-AP power) in cvxpy; extras gamma_high and the SDP optimum",
        {
            "rho": 0.5,
            "tol": 1e-3,
            "socp_solver": "CLARABEL",
            "sdp_solver": "SCS",
            "cache_dir": "",
            "workers": 1,
            "scheduler": "",
        },
        frozenset({"estimates", "sensing_geometry"}),
        scenarios=("pos1", "pos2"),
    )
)
