"""The ``remote`` precoder family: W from a `cfisac serve` service, with a local fallback.

A precoder block whose service is slow or gone keeps streaming with the ``fallback`` family's
beams; :attr:`RemoteDesign.status` says what happened (the block logs its changes).
"""

from __future__ import annotations

from typing import Any

from ..channels import sensing_tokens
from ..precoding.registry import Precoder, PrecoderResult, Realization


class RemoteDesign:
    """realization -> PrecoderResult from the service at ``address`` (RemotePrecoder), else
    from ``fallback``. A service that answers user beams only (K columns) gets the sensing beam
    added here with ``beam`` (sensing_fraction, sensing_beam, per_tap)."""

    def __init__(
        self,
        address: str,
        cfg: Any,
        fallback: Precoder,
        timeout_ms: int,
        beam: dict[str, Any],
        server_key: str = "",
        client_key: str = "",
    ) -> None:
        from .client import RemotePrecoder

        self.client = RemotePrecoder(
            address,
            cfg,
            timeout_ms,
            server_key=server_key or None,  # CURVE: the service's public .key file
            client_key=client_key or None,  # this client's .key_secret file
        )
        self.cfg, self.fallback, self.beam = cfg, fallback, beam

    @property
    def status(self) -> str:
        return self.client.status

    def __call__(self, r: Realization) -> PrecoderResult:
        from ..precoding.builtin_families import with_sensing_beam
        from ..precoding.isac import target_beam

        cfg = self.cfg
        W = self.client(r.F_hat, cfg.power_budget, 1.0, cb=r.cb, sensing=sensing_tokens(r.sensing))
        if W is None:
            return self.fallback(Realization(r.F_hat, r.sensing, None, r.cb))
        if W.shape[-1] == cfg.K:  # a MU-MISO service: add the sensing beam here
            taps = cfg.NT if self.beam["per_tap"] else None
            target = target_beam(r.sensing.aT_t, r.sensing.amp_t)
            W = with_sensing_beam(
                W,
                r.F_hat,
                target,
                cfg.power_budget,
                self.beam["sensing_fraction"],
                self.beam["sensing_beam"],
                taps,
            )
        return PrecoderResult(W)
