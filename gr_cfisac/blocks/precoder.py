"""Precoder: gathers the channel estimates of one block from all TAPs and publishes W.

Ports (per coherence block, one item each):

- in ``estimate`` x NT  complex64[K MT]: TAP i's h_hat_ik (from pilot_estimator)
- in ``geometry``       complex64[geometry]: the network-known sensing geometry
- in ``active``         float32[K], optional: the active-user mask of the block (scenario
  source); unconnected: every user is served
- out ``beam`` x NT     complex64[MT (K+1)]: TAP i's rows W_bar_i of W (eq 12), sensing beam first
- out ``W``             complex64[N (K+1)]: the whole W, for monitors and metrics
- message out ``beamformer``: {cb, W (N, K+1), algorithm, and with a mask ``active`` (K,)
  0/1} every ``msg_interval`` blocks

Active users: only the users the mask marks active are served, inactive users get zero beams
(DESIGN.md, variable user count). The mask goes to the registry with the estimates
(``Realization.active``): a fixed-K family precodes each distinct mask's blocks for their active
users (the sub-problem with the active users' channels only), a variable-K family (l2o) takes
the mask itself; a per-AP family is run per TAP on the same sub-problems. Blocks with the same
mask are precoded in one batched call.

``algorithm``: any precoder family of the registry (gr_cfisac.precoding.registry; see
:func:`resolve_precoder` for how the block's parameters map onto a family's):
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

A per-AP family (registry placement ``per_ap``) runs per TAP: TAP i's rows W_bar_i come from
its own estimates only (the family's per-AP call), no CSI crosses the fronthaul. A family whose
sensing part is a full N x N covariance (``sensing_form`` "covariance") is refused: the
flowgraph carries one sensing beam per stream.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pmt

from ..active_users import mask_groups, take_blocks
from ..channels import SensingGeometry
from ..coisac.network import EXTRA_KEY, coisac_config
from ..config import SystemConfig
from ..precoding import registry
from ._base import CoherenceBlock, Port, check_config
from .layout import beam_layout, estimate_layout, geometry_layout, precoder_layout, unpack_geometry
from .messages import encode

Precoder = Callable[[np.ndarray, SensingGeometry, np.ndarray], np.ndarray]


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
    scenario: str = "cellfree",
    scenario_config: Any = None,
) -> registry.Precoder:
    """The registry precoder (gr_cfisac.precoding.registry) behind the block's parameters: the
    block's flat parameter list mapped onto the chosen family's parameters, for ``scenario``
    (the spec's; a model trained for another scenario is refused) and its configuration
    ``scenario_config`` (None: ``cfg``, or for "coisac" the CoisacConfig a coisac stream config
    carries, as GRC's Coisac Config gives it). Call it with a
    registry.Realization. ValueError (prefixed "precoder:") for an unknown name or bad options,
    before the flowgraph runs."""
    offered = {
        "sensing_fraction": sensing_fraction,
        "sensing_beam": sensing_beam,
        "per_tap": per_tap,
        "regime": regime,
        "eta": eta,
        "threshold": None if threshold in (None, 0) else threshold,
        "threads": threads,
        "address": remote_address,
        "timeout_ms": remote_timeout_ms,
        "fallback": fallback,
        "server_key": remote_server_key,
        "client_key": remote_client_key,
    }
    if scenario_config is None and str(scenario) == "coisac" and EXTRA_KEY in cfg.extra:
        scenario_config = coisac_config(cfg)
    spec = registry.spec_for(algorithm, str(scenario))
    family = registry.families().get(spec.name)
    try:
        if family is not None:
            params = {k: v for k, v in offered.items() if k in family.params}
            if offered["threshold"] is not None and "threshold" not in family.params:
                raise ValueError(
                    f"threshold applies to the optimizer and threshold-conditioned models, not "
                    f"{spec.name!r}: set it to 0"
                )
            spec = registry.PrecoderSpec(spec.name, spec.scenario, {**spec.params, **params})
        return registry.make_precoder(spec, cfg if scenario_config is None else scenario_config)
    except ValueError as exc:
        raise ValueError(f"precoder: {exc}") from None


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
        scenario: str = "cellfree",
        scenario_config: Any = None,
    ) -> None:
        cfg = check_config(config)
        self.estimate = estimate_layout(cfg)
        self.geometry = geometry_layout(cfg)
        self.beam = beam_layout(cfg)
        self.whole = precoder_layout(cfg)
        inputs = [Port(f"estimate{i}", np.complex64, self.estimate.size, 1) for i in range(cfg.NT)]
        inputs.append(Port("geometry", np.complex64, self.geometry.size, 1))
        inputs.append(Port("active", np.float32, cfg.K, 1))
        outputs = [Port(f"beam{i}", np.complex64, self.beam.size, 1) for i in range(cfg.NT)]
        outputs.append(Port("W", np.complex64, self.whole.size, 1))
        super().__init__(
            "cfisac_precoder",
            cfg,
            inputs,
            outputs,
            min_inputs=len(inputs) - 1,
            max_blocks=max_blocks,
        )
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
            scenario,
            scenario_config,
        )
        if self.design.family.sensing_form != "beam":
            raise ValueError(
                f"precoder: {self.design.spec.name!r} returns its sensing part as a full N x N "
                "covariance (extras['sensing_covariance']), which the flowgraph's one sensing "
                "beam per TAP cannot carry; run it in the numerical core or the benchmarks, or "
                "pick a family with a sensing beam (e.g. zf, optimize)"
            )
        self.per_ap = self.design.per_ap_design is not None
        self.fallback = fallback
        self.remote = self.design.family.name == "remote"
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
        active = ins[NT + 1][:, 0] > 0.5 if len(ins) > NT + 1 else None
        if active is not None and active.all():
            active = None  # everyone served: the family's plain call
        try:
            if self.per_ap:
                W = self._per_ap(F_hat, sg, active, cb)
            else:
                W = np.asarray(self.design(registry.Realization(F_hat, sg, active, cb)).W)
        except ValueError as exc:
            if active is None:
                raise
            raise ValueError(
                f"precoder {self.algorithm!r} could not serve the active users only (blocks "
                f"{int(cb[0])}..{int(cb[-1])}: {exc}); a model built for exactly K={cfg.K} "
                "users cannot serve fewer: use a classical family or a variable-K model (l2o)"
            ) from exc
        if self.remote and self.design.status != self._remote_status:
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
        for j in self.message_rows("beamformer", cb):
            fields = {"W": W[j], "algorithm": self.algorithm}
            if len(ins) > NT + 1:
                fields["active"] = (ins[NT + 1][j, 0] > 0.5).astype(np.int64)
            if self.remote:
                fields["remote_status"] = self.design.status
            self.publish("beamformer", encode(int(cb[j]), **fields))

    def _per_ap(self, F_hat: np.ndarray, sg: SensingGeometry, active, cb) -> np.ndarray:
        """Each TAP's rows from its own estimates (the family's per-AP call), for the active
        users of each distinct mask (zero columns for the others)."""
        cfg = self.cfg
        NT, MT, n = cfg.NT, cfg.MT, len(cb)
        if active is None:
            groups = [(np.ones(cfg.K, bool), np.arange(n))]
        else:
            groups = list(mask_groups(active))
        W = np.zeros((n, cfg.N, cfg.K + 1), complex)
        for mask, rows in groups:
            users = np.flatnonzero(mask)
            if users.size == 0:
                continue  # nobody to serve in these blocks
            sub_sg = sg if len(rows) == n else take_blocks(sg, rows)
            cols = np.concatenate([[0], users + 1])
            for i in range(NT):
                F_i = F_hat[rows][:, i * MT : (i + 1) * MT][:, :, users]
                part = self.design.per_ap(i, registry.Realization(F_i, sub_sg, None, cb[rows]))
                W[np.ix_(rows, np.arange(i * MT, (i + 1) * MT), cols)] = part.W
        return W
