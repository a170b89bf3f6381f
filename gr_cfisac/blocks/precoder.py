"""Precoder: gathers the channel estimates of one block from all TAPs and publishes W.

Ports (per coherence block, one item each):

- in ``estimate`` x NT  complex64[K MT]: TAP i's h_hat_ik (from pilot_estimator)
- in ``geometry``       complex64[geometry]: the network-known sensing geometry
- out ``beam`` x NT     complex64[MT (K+1)]: TAP i's rows W_bar_i of W (eq 12), sensing beam first
- out ``W``             complex64[N (K+1)]: the whole W, for monitors and metrics
- message out ``beamformer``: {cb, W (N, K+1), algorithm} every ``msg_interval`` blocks

``algorithm`` (see :func:`resolve_precoder`):
- a MU-MISO precoder of the core, "mrt", "zf", "rzf" or "wmmse": user beams from the
  estimates, combined with a sensing beam toward the target ("target") or its projection onto
  the users' null space ("nullspace"), or none ("none"), with ``sensing_fraction`` of the power
  (precoding.isac_beamformer);
- "optimize": the iterative ISAC optimizer of eq 23 (``regime``, ``eta``; ``threshold`` is the
  per-user rate floor of P1 "sc" or the per-RAP sensing-rate floor of P2 "cc", bps/Hz), which
  sees the estimates and the varpi-averaged grams Q_t, Q_c of the sensing geometry;
- a path to an ``.onnx`` model (with its card beside it): the learned precoder host
  (``threshold``: the rate threshold a threshold-conditioned model is asked for);
- "remote": the ZeroMQ precoder service at ``remote_address`` (gr_cfisac.service); while it
  is slow (``remote_timeout_ms``) or unreachable the block streams on with the local
  ``fallback`` precoder and logs the service's status when it changes.

Every algorithm sees only what the network knows (estimates and sensing geometry), never the
true channels. Power: ||W||_F^2 = rho NT (eq 23d), or per TAP with ``per_tap``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pmt

from .. import precoding
from ..channels import SensingGeometry, sensing_gram_averaged, sensing_tokens
from ..config import SystemConfig
from ._base import CoherenceBlock, Port, check_config
from .layout import beam_layout, estimate_layout, geometry_layout, precoder_layout, unpack_geometry
from .messages import encode

#: MU-MISO precoders of the core: name -> function(F, power, noise=1, per_tap=None) -> (B, N, K)
MU_MISO = ("mrt", "zf", "rzf", "wmmse")
SENSING_BEAMS = ("nullspace", "target", "none")
REGIMES = ("joint", "sc", "cc")

Precoder = Callable[[np.ndarray, SensingGeometry, np.ndarray], np.ndarray]


def _with_sensing_beam(
    users: np.ndarray,
    F_hat: np.ndarray,
    sg: SensingGeometry,
    cfg: SystemConfig,
    fraction: float,
    sensing_beam: str,
    taps: int | None,
) -> np.ndarray:
    """ISAC W (B, N, K+1) from MU-MISO user beams plus the chosen sensing beam."""
    power = cfg.power_budget
    beam = precoding.target_beam(sg.aT_t, sg.amp_t)
    if sensing_beam == "nullspace":
        beam = precoding.nullspace_beam(beam, F_hat)
    W = precoding.isac_beamformer(users, beam, power, 0.0 if sensing_beam == "none" else fraction)
    return precoding.scale_power(W, power, taps) if taps else W


class RemoteDesign:
    """The ZeroMQ precoder service (gr_cfisac.service.RemotePrecoder) with a local fallback:
    a block whose service is slow or gone keeps streaming with ``fallback`` beams, and
    :attr:`status` / :attr:`counts` say what happened."""

    def __init__(
        self,
        address: str,
        cfg: SystemConfig,
        fallback: Precoder,
        timeout_ms: int,
        sensing_fraction: float,
        sensing_beam: str,
        taps: int | None,
        server_key: str = "",
        client_key: str = "",
    ) -> None:
        from ..service import RemotePrecoder

        self.client = RemotePrecoder(
            address,
            cfg,
            timeout_ms,
            server_key=server_key or None,  # CURVE: the service's public .key file
            client_key=client_key or None,  # this client's .key_secret file
        )
        self.cfg, self.fallback = cfg, fallback
        self.fraction, self.sensing_beam, self.taps = sensing_fraction, sensing_beam, taps

    @property
    def status(self) -> str:
        return self.client.status

    def __call__(self, F_hat: np.ndarray, sg: SensingGeometry, cb: np.ndarray) -> np.ndarray:
        W = self.client(F_hat, self.cfg.power_budget, 1.0, cb=cb, sensing=sensing_tokens(sg))
        if W is None:
            return self.fallback(F_hat, sg, cb)
        if W.shape[-1] == self.cfg.K:  # a MU-MISO service: add the sensing beam here
            W = _with_sensing_beam(
                W, F_hat, sg, self.cfg, self.fraction, self.sensing_beam, self.taps
            )
        return W


def resolve_precoder(
    algorithm: str,
    cfg: SystemConfig,
    sensing_fraction: float = 0.1,
    sensing_beam: str = "nullspace",
    per_tap: bool = False,
    regime: str = "joint",
    eta: float = 0.5,
    threads: int = 1,
    remote_address: str = "",
    remote_timeout_ms: int = 500,
    fallback: str = "zf",
    threshold: float | None = None,
    remote_server_key: str = "",
    remote_client_key: str = "",
) -> Precoder:
    """A function (F_hat (B, N, K), SensingGeometry, cb (B,)) -> W (B, N, K+1) for an
    algorithm name: the seam behind the block's ``algorithm`` parameter. ValueError for an
    unknown name or bad options (checked here, before the flowgraph runs)."""
    algorithm = str(algorithm).strip()
    power = cfg.power_budget
    taps = cfg.NT if per_tap else None
    threshold = None if threshold in (None, 0) else float(threshold)
    if threshold is not None and not (np.isfinite(threshold) and threshold > 0):
        raise ValueError(f"precoder: threshold must be > 0 bps/Hz (0: none), got {threshold}")
    if sensing_beam not in SENSING_BEAMS:
        raise ValueError(
            f"precoder: sensing_beam must be one of {SENSING_BEAMS}, got {sensing_beam!r}"
        )
    if not 0.0 <= sensing_fraction <= 1.0:
        raise ValueError(f"precoder: sensing_fraction must be in [0, 1], got {sensing_fraction}")
    if algorithm in MU_MISO:
        user_precoder = getattr(precoding, algorithm)

        def classical(F_hat: np.ndarray, sg: SensingGeometry, cb=None) -> np.ndarray:
            users = user_precoder(F_hat, power, per_tap=taps)
            return _with_sensing_beam(users, F_hat, sg, cfg, sensing_fraction, sensing_beam, taps)

        return classical
    if algorithm == "optimize":
        from ..precoding.optimizer import optimize

        if regime not in REGIMES:
            raise ValueError(f"precoder: regime must be one of {REGIMES}, got {regime!r}")
        if regime == "joint" and threshold is not None:
            raise ValueError(
                "precoder: threshold is the rate floor of regimes 'sc' (users) and 'cc' (RAPs); "
                "the joint regime weighs the two with eta: set threshold to 0"
            )
        if regime != "joint" and threshold is None:
            what = "every user's rate (P1)" if regime == "sc" else "every RAP's sensing rate (P2)"
            raise ValueError(
                f"precoder: regime {regime!r} needs threshold, the floor on {what} in bps/Hz"
            )
        if not 0.0 <= eta <= 1.0:
            raise ValueError(f"precoder: eta must be in [0, 1], got {eta}")
        thresholds = {
            "comm_threshold": threshold if regime == "sc" else None,
            "sensing_threshold": threshold if regime == "cc" else None,
        }

        def optimizer(F_hat: np.ndarray, sg: SensingGeometry, cb=None) -> np.ndarray:
            Q_t, Q_c = sensing_gram_averaged(sg)
            return optimize(
                F_hat,
                Q_t,
                Q_c,
                cfg,
                regime=regime,
                eta=eta,
                quality="fast",
                per_tap=per_tap,
                rng=0,
                **thresholds,
            )

        return optimizer
    if algorithm.endswith(".onnx"):
        from ..precoding.onnx import load_precoder

        if not Path(algorithm).exists():
            raise ValueError(
                f"precoder: model {algorithm} does not exist; give the path of an .onnx model "
                f"with its .json card beside it, or a classical algorithm ({', '.join(MU_MISO)}, "
                "optimize)"
            )
        model = load_precoder(algorithm, cfg, threads)
        if getattr(model, "threshold_input", False):
            lo, hi = model.threshold_range or (0.0, np.inf)
            if threshold is None or not lo <= threshold <= hi:
                raise ValueError(
                    f"precoder: {Path(algorithm).name} is threshold-conditioned: set threshold "
                    f"to a rate in its trained range {lo:g}..{hi:g} bps/Hz (got {threshold})"
                )
        elif threshold is not None:
            raise ValueError(
                f"precoder: {Path(algorithm).name} is not threshold-conditioned; set threshold "
                "to 0 (its threshold was fixed in training, see its card)"
            )
        return lambda F_hat, sg, cb=None: model(F_hat, sensing=sg, threshold=threshold)
    if algorithm == "remote":
        if not remote_address:
            raise ValueError(
                "precoder: algorithm 'remote' needs remote_address, e.g. tcp://127.0.0.1:5560"
            )
        if fallback not in MU_MISO:
            raise ValueError(f"precoder: fallback must be one of {MU_MISO}, got {fallback!r}")
        local = resolve_precoder(fallback, cfg, sensing_fraction, sensing_beam, per_tap)
        return RemoteDesign(
            remote_address,
            cfg,
            local,
            remote_timeout_ms,
            sensing_fraction,
            sensing_beam,
            taps,
            remote_server_key,
            remote_client_key,
        )
    raise ValueError(
        f"precoder: unknown algorithm {algorithm!r}; use one of {', '.join(MU_MISO)}, "
        "optimize, remote, or the path of an .onnx model"
    )


class precoder(CoherenceBlock):  # noqa: N801 - GNU Radio block naming
    """ISAC precoder over all TAPs: estimates in, per-TAP W_bar_i and W out, one item per block."""

    def __init__(
        self,
        config: SystemConfig,
        algorithm: str = "zf",
        sensing_fraction: float = 0.1,
        sensing_beam: str = "nullspace",
        per_tap: bool = False,
        regime: str = "joint",
        eta: float = 0.5,
        threads: int = 1,
        remote_address: str = "",
        remote_timeout_ms: int = 500,
        fallback: str = "zf",
        msg_interval: int = 1,
        max_blocks: int = 64,
        threshold: float = 0.0,
        remote_server_key: str = "",
        remote_client_key: str = "",
    ) -> None:
        cfg = check_config(config)
        self.estimate = estimate_layout(cfg)
        self.geometry = geometry_layout(cfg)
        self.beam = beam_layout(cfg)
        self.whole = precoder_layout(cfg)
        inputs = [Port(f"estimate{i}", np.complex64, self.estimate.size, 1) for i in range(cfg.NT)]
        inputs.append(Port("geometry", np.complex64, self.geometry.size, 1))
        outputs = [Port(f"beam{i}", np.complex64, self.beam.size, 1) for i in range(cfg.NT)]
        outputs.append(Port("W", np.complex64, self.whole.size, 1))
        super().__init__("cfisac_precoder", cfg, inputs, outputs, max_blocks=max_blocks)
        self.algorithm = str(algorithm)
        self.design = resolve_precoder(
            algorithm,
            cfg,
            sensing_fraction,
            sensing_beam,
            per_tap,
            regime,
            eta,
            threads,
            remote_address,
            remote_timeout_ms,
            fallback,
            threshold,
            remote_server_key,
            remote_client_key,
        )
        self.fallback = fallback
        self._remote_status = "idle"
        if int(msg_interval) < 0:
            raise ValueError(
                f"precoder: msg_interval must be >= 0 (0: no messages), got {msg_interval}"
            )
        self.msg_interval = int(msg_interval)
        self.message_port_register_out(pmt.intern("beamformer"))

    def process(self, cb, ins, outs) -> None:
        cfg = self.cfg
        NT, MT, n = cfg.NT, cfg.MT, len(cb)
        # (blocks, NT, K, MT) -> F_hat (blocks, N, K), TAP-major rows
        h = np.stack([ins[i][:, 0] for i in range(NT)], axis=1).reshape(n, NT, cfg.K, MT)
        F_hat = np.transpose(h, (0, 1, 3, 2)).reshape(n, cfg.N, cfg.K).astype(np.complex128)
        sg = unpack_geometry(cfg, ins[NT][:, 0])
        W = np.asarray(self.design(F_hat, sg, cb))
        if isinstance(self.design, RemoteDesign) and self.design.status != self._remote_status:
            self._remote_status = self.design.status
            report = self.logger.info if self._remote_status == "ok" else self.logger.warn
            report(
                f"remote precoder at block {int(cb[0])}: {self._remote_status}"
                + ("" if self._remote_status == "ok" else f" (using {self.fallback} meanwhile)")
            )
        if W.shape != (n, cfg.N, cfg.K + 1):
            raise ValueError(
                f"precoder {self.algorithm!r} returned W of shape {W.shape}, expected "
                f"{(n, cfg.N, cfg.K + 1)} (sensing beam first)"
            )
        Wb = W.reshape(n, NT, MT, cfg.K + 1)
        for i in range(NT):
            outs[i][:, 0] = Wb[:, i].reshape(n, -1)
        outs[NT][:, 0] = W.reshape(n, -1)
        if self.msg_interval and self.subscribed("beamformer"):
            for j in np.flatnonzero(cb % self.msg_interval == 0):
                fields = {"W": W[j], "algorithm": self.algorithm}
                if isinstance(self.design, RemoteDesign):
                    fields["remote_status"] = self.design.status
                self.publish("beamformer", encode(int(cb[j]), **fields))
