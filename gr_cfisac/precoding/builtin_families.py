"""The built-in precoder families of the registry (cell-free scenario, STCIB paper).

- ``mrt``, ``zf``, ``rzf``, ``wmmse``: MU-MISO user beams from the estimates plus a sensing
  beam toward the target ("target"), its projection onto the users' null space ("nullspace")
  or none, with ``sensing_fraction`` of the power (isac.isac_beamformer); ``per_tap`` power.
- ``optimize``: the iterative ISAC optimizer of eq 23 (regime joint / sc / cc, eta, threshold)
  on the estimates and the varpi-averaged sensing grams; extras: nothing.
- ``onnx``: a learned precoder hosted in ONNX Runtime (``path``, card checked; ``threshold`` for
  threshold-conditioned models; ``threads``).
- ``remote``: the ZeroMQ precoder service at ``address``, with a local ``fallback`` family
  while it is slow or gone.
Every family sees only what the network knows: estimates and the sensing geometry.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .cards import LEARNED_CARD_SCHEMA
from .registry import Family, PrecoderResult, PrecoderSpec, Realization, register

MU_MISO = ("mrt", "zf", "rzf", "wmmse")
SENSING_BEAMS = ("nullspace", "target", "none")
REGIMES = ("joint", "sc", "cc")
BEAM_PARAMS = {"sensing_fraction": 0.1, "sensing_beam": "nullspace", "per_tap": False}


def sensing_beam_for(F_hat: np.ndarray, target: np.ndarray, kind: str) -> np.ndarray:
    """The sensing beam (B, N): toward the target (unit-norm ``target``), or projected onto the
    users' null space (isac.nullspace_beam)."""
    from .isac import nullspace_beam

    return nullspace_beam(target, F_hat) if kind == "nullspace" else target


def with_sensing_beam(users, F_hat, target, power, fraction, kind, taps) -> np.ndarray:
    """ISAC W (B, N, K+1) from MU-MISO user beams and a unit target beam (B, N)."""
    from .isac import isac_beamformer
    from .power import scale_power

    beam = sensing_beam_for(F_hat, target, kind)
    W = isac_beamformer(users, beam, power, 0.0 if kind == "none" else fraction)
    return scale_power(W, power, taps) if taps else W


def _check_beam_params(p: dict) -> None:
    if p["sensing_beam"] not in SENSING_BEAMS:
        raise ValueError(f"sensing_beam must be one of {SENSING_BEAMS}, got {p['sensing_beam']!r}")
    if not 0.0 <= float(p["sensing_fraction"]) <= 1.0:
        raise ValueError(f"sensing_fraction must be in [0, 1], got {p['sensing_fraction']}")


def _mu_miso(name: str):
    def build(spec: PrecoderSpec, cfg):
        from .. import precoding
        from .isac import target_beam

        p = dict(spec.params)
        _check_beam_params(p)
        fn, power = getattr(precoding, name), cfg.power_budget
        taps = cfg.NT if p["per_tap"] else None

        def design(r: Realization) -> PrecoderResult:
            users = fn(r.F_hat, power, per_tap=taps)
            target = target_beam(r.sensing.aT_t, r.sensing.amp_t)
            W = with_sensing_beam(
                users, r.F_hat, target, power, p["sensing_fraction"], p["sensing_beam"], taps
            )
            return PrecoderResult(W)

        return design

    return build


def _optimize(spec: PrecoderSpec, cfg):
    from ..channels import sensing_gram_averaged
    from .optimizer import QUALITY, optimize

    p = dict(spec.params)
    regime, eta, threshold = p["regime"], float(p["eta"]), p["threshold"]
    threshold = None if threshold in (None, 0) else float(threshold)
    if regime not in REGIMES:
        raise ValueError(f"regime must be one of {REGIMES}, got {regime!r}")
    if threshold is not None and not threshold > 0:
        raise ValueError(f"threshold must be > 0 bps/Hz (0: none), got {threshold}")
    if regime == "joint" and threshold is not None:
        raise ValueError(
            "threshold is the rate floor of regimes 'sc' (users) and 'cc' (RAPs); the joint "
            "regime weighs the two with eta: set threshold to 0"
        )
    if regime != "joint" and threshold is None:
        what = "every user's rate (P1)" if regime == "sc" else "every RAP's sensing rate (P2)"
        raise ValueError(f"regime {regime!r} needs threshold, the floor on {what} in bps/Hz")
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta must be in [0, 1], got {eta}")
    if p["quality"] not in QUALITY:
        raise ValueError(f"quality must be one of {sorted(QUALITY)}, got {p['quality']!r}")

    def design(r: Realization) -> PrecoderResult:
        Q_t, Q_c = sensing_gram_averaged(r.sensing)
        K = r.F_hat.shape[2]  # the active users only, under a mask
        W = optimize(
            r.F_hat,
            Q_t,
            Q_c,
            cfg if K == cfg.K else cfg.replace(K=K),
            regime=regime,
            eta=eta,
            quality=p["quality"],
            per_tap=bool(p["per_tap"]),
            rng=0,
            comm_threshold=threshold if regime == "sc" else None,
            sensing_threshold=threshold if regime == "cc" else None,
        )
        return PrecoderResult(W)

    return design


def _onnx(spec: PrecoderSpec, cfg):
    from .onnx import load_precoder

    p = dict(spec.params)
    path = Path(str(p["path"]))
    threshold = None if p["threshold"] in (None, 0) else float(p["threshold"])
    if not path.is_file():
        raise ValueError(
            f"model {path} does not exist; give the path of an .onnx model with its .json card "
            f"beside it, or a classical algorithm ({', '.join(MU_MISO)}, optimize)"
        )
    # the card names the scenario the model was trained for: refused unless it is the spec's
    model = load_precoder(str(path), cfg, int(p["threads"]), spec.scenario)
    if getattr(model, "threshold_input", False):
        lo, hi = model.threshold_range or (0.0, np.inf)
        if threshold is None or not lo <= threshold <= hi:
            raise ValueError(
                f"{path.name} is threshold-conditioned: set threshold to a rate in its trained "
                f"range {lo:g}..{hi:g} bps/Hz (got {threshold})"
            )
    elif threshold is not None:
        raise ValueError(
            f"{path.name} is not threshold-conditioned; set threshold to 0 (its threshold was "
            "fixed in training, see its card)"
        )
    return lambda r: PrecoderResult(model(r.F_hat, sensing=r.sensing, threshold=threshold))


def _remote(spec: PrecoderSpec, cfg):
    from ..service.design import RemoteDesign
    from .registry import make_precoder

    p = dict(spec.params)
    _check_beam_params(p)
    if not p["address"]:
        raise ValueError(
            "algorithm 'remote' needs remote_address (the service's address), e.g. "
            "tcp://127.0.0.1:5560"
        )
    if p["fallback"] not in MU_MISO:
        raise ValueError(f"fallback must be one of {MU_MISO}, got {p['fallback']!r}")
    # the service designs W with its own family and parameters; the beam parameters here are
    # the local fallback's
    beam = {k: p[k] for k in BEAM_PARAMS}
    local = make_precoder(PrecoderSpec(p["fallback"], spec.scenario, beam), cfg)
    return RemoteDesign(
        p["address"], cfg, local, int(p["timeout_ms"]), p["server_key"], p["client_key"]
    )


CENTRAL_ISAC = frozenset({"estimates", "sensing_geometry"})
for _name, _summary in (
    ("mrt", "maximum-ratio user beams + a sensing beam"),
    ("zf", "zero-forcing user beams (needs K <= N) + a sensing beam"),
    ("rzf", "regularized zero-forcing (LMMSE) user beams + a sensing beam"),
    ("wmmse", "weighted-MMSE sum-rate user beams + a sensing beam"),
):
    register(Family(_name, _mu_miso(_name), _summary, BEAM_PARAMS, CENTRAL_ISAC))
register(
    Family(
        "optimize",
        _optimize,
        "the iterative ISAC optimizer of eq 23 (P1 sc / P2 cc / P3 joint)",
        {"regime": "joint", "eta": 0.5, "threshold": None, "per_tap": False, "quality": "fast"},
        CENTRAL_ISAC,
    )
)
register(
    Family(
        "onnx",
        _onnx,
        "a learned precoder (.onnx with its model card) in ONNX Runtime",
        {"path": None, "threshold": None, "threads": 1},
        CENTRAL_ISAC,
        required=("path",),
        card_schema=LEARNED_CARD_SCHEMA,
    )
)
register(
    Family(
        "remote",
        _remote,
        "a `cfisac serve` precoder service over ZeroMQ, with a local fallback",
        {
            "address": "",
            "timeout_ms": 500,
            "fallback": "zf",
            "server_key": "",
            "client_key": "",
            **BEAM_PARAMS,
        },
        CENTRAL_ISAC,
    )
)
# registers l2o (paper 002), teacher_student (paper 001, per AP) and lhgnn (paper 003)
from . import l2o, lhgnn, teacher_student  # noqa: E402, F401

# registers sdp_bisection (paper 001), ccpa (paper 000's CCPA) and sca_speb (paper 003's SCA)
from .convex import ccpa, sca_speb, sdp_bisection  # noqa: E402, F401
