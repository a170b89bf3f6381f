"""The ``remote`` precoder family: W from a `cfisac serve` service, with a local fallback.

The request carries what any served family needs: the estimates and the sensing geometry; the
service answers W (B, N, K+1), sensing beam first, designed by its own family and parameters.
A precoder block whose service is slow or gone keeps streaming with the ``fallback`` family's
beams; :attr:`RemoteDesign.status` says what happened (the block logs its changes).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..precoding.registry import Precoder, PrecoderResult, Realization


class RemoteDesign:
    """realization -> PrecoderResult from the service at ``address`` (RemotePrecoder), else
    from ``fallback``. The registry gives a fixed-K family's design the active users' columns
    only: those calls travel padded to K users with an ``active`` mask, and come back as the
    active users' columns. The service's W is designed with the service's own family and
    parameters (`cfisac serve zf --param sensing_fraction=0.3`); ``fallback`` has the block's."""

    def __init__(
        self,
        address: str,
        cfg: Any,
        fallback: Precoder,
        timeout_ms: int,
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
        self.cfg, self.fallback = cfg, fallback

    @property
    def status(self) -> str:
        return self.client.status

    def __call__(self, r: Realization) -> PrecoderResult:
        cfg = self.cfg
        F_hat = np.asarray(r.F_hat)
        B, N, k = F_hat.shape
        active = None
        if k < cfg.K:  # the active users of a masked realization (registry, fixed-K families)
            F_hat = np.concatenate([F_hat, np.zeros((B, N, cfg.K - k), F_hat.dtype)], axis=-1)
            active = np.arange(cfg.K) < k
            active = np.broadcast_to(active, (B, cfg.K))
        W = self.client(
            F_hat,
            cfg.power_budget,
            1.0,
            cb=0 if r.cb is None else r.cb,
            geometry=r.sensing,
            active=active,
        )
        if W is None:
            return self.fallback(Realization(r.F_hat, r.sensing, None, r.cb))
        return PrecoderResult(W[..., : k + 1])
