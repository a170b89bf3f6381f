"""Helpers of the service tests: realizations as they travel on the wire, and the local
registry's W for them."""

from __future__ import annotations

import dataclasses

import numpy as np

from gr_cfisac.channels import SensingGeometry
from gr_cfisac.config import SystemConfig
from gr_cfisac.precoding.registry import Realization, make_precoder, spec_for
from gr_cfisac.scenario import draw_realizations
from gr_cfisac.service import encode_message, geometry_fields


def as_sent(sg: SensingGeometry) -> SensingGeometry:
    """The geometry as it survives the wire (complex arrays travel as complex64)."""
    fields = dataclasses.fields(SensingGeometry)
    return SensingGeometry(
        **{
            f.name: getattr(sg, f.name).astype(np.complex64).astype(complex)
            if np.iscomplexobj(getattr(sg, f.name))
            else getattr(sg, f.name)
            for f in fields
        }
    )


def take(sg: SensingGeometry, rows) -> SensingGeometry:
    """The geometry of some blocks."""
    rows = np.atleast_1d(rows)
    return SensingGeometry(**{f.name: getattr(sg, f.name)[rows] for f in dataclasses.fields(sg)})


def scene(cfg: SystemConfig, batch: int, seed: int = 0) -> tuple[np.ndarray, SensingGeometry]:
    """Estimates (B, N, K) and the sensing geometry of ``batch`` blocks, as they travel."""
    r = draw_realizations(cfg, batch, seed)
    return r.F_hat.astype(np.complex64).astype(complex), as_sent(r.sensing)


def local(name: str, cfg: SystemConfig, F: np.ndarray, sg: SensingGeometry, **params):
    """The registry's W (B, N, K+1) for the same realization, computed here."""
    return make_precoder(spec_for(name, **params), cfg)(Realization(F, sg)).W


def request(cb, F: np.ndarray, sg: SensingGeometry, **fields) -> bytes:
    return encode_message(cb, F_hat=F.astype(np.complex64), **fields, **geometry_fields(sg))
