"""The sensing geometry in a request: every array of :class:`gr_cfisac.channels.SensingGeometry`
as its own field ``geometry.NAME`` (batch axis first), so the families that need the network's
sensing knowledge (a target beam, the varpi-averaged grams of eq 16) can run in a service.

Field shapes per block are those of :func:`gr_cfisac.layout.geometry_layout` (e.g.
``geometry.amp_t`` (NR, NT) real, ``geometry.aT_t`` (NT, MT) complex); a request carries all of
them or none.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..channels import SensingGeometry
from ..config import SystemConfig
from ..layout import Field, geometry_layout
from ..pmt_messages import MalformedMessage

PREFIX = "geometry."
#: the amplitude fields are |alpha_bar| (eq 16): non-negative
AMPLITUDES = ("amp_t", "amp_c")


def geometry_fields(sg: SensingGeometry) -> dict[str, np.ndarray]:
    """The request fields ``geometry.NAME`` of a SensingGeometry (complex arrays as complex64,
    as they travel; real arrays as float64)."""
    out = {}
    for f in dataclasses.fields(SensingGeometry):
        value = np.asarray(getattr(sg, f.name))
        out[PREFIX + f.name] = (
            value.astype(np.complex64) if np.iscomplexobj(value) else value.astype(np.float64)
        )
    return out


def field_names(cfg: SystemConfig) -> list[str]:
    """Every request field of the geometry, in SensingGeometry's order."""
    return [PREFIX + f.name for f in geometry_layout(cfg).fields]


def parse_geometry(
    req: dict[str, Any], cfg: SystemConfig, batch: int, two_d: bool
) -> SensingGeometry | None:
    """The SensingGeometry of a decoded request (None when it has no ``geometry.*`` field);
    MalformedMessage naming the field that is missing, unknown, misshapen, of the wrong kind
    (real/complex) or not finite. Per-block shapes follow ``cfg``; the batch axis comes first
    and matches F_hat's (a one-block request with a 2-D F_hat may leave it out)."""
    given = {k for k in req if isinstance(k, str) and k.startswith(PREFIX)}
    if not given:
        return None
    layout = geometry_layout(cfg)
    names = [PREFIX + f.name for f in layout.fields]
    unknown = sorted(given - set(names))
    if unknown:
        raise MalformedMessage(
            f"unknown geometry field(s) {unknown}; the geometry fields are {names}"
        )
    missing = [n for n in names if n not in given]
    if missing:
        raise MalformedMessage(
            f"the sensing geometry is incomplete: missing {', '.join(missing)} (send every "
            "field of SensingGeometry, batch axis first, or none)"
        )
    arrays = {f.name: _field(req[PREFIX + f.name], f, batch, two_d) for f in layout.fields}
    return SensingGeometry(**arrays)


def _field(value: Any, f: Field, batch: int, two_d: bool) -> np.ndarray:
    name = PREFIX + f.name
    kind = "real" if f.real else "complex"
    if not isinstance(value, np.ndarray) or value.dtype.kind not in ("iuf" if f.real else "c"):
        got = type(value).__name__ if not isinstance(value, np.ndarray) else str(value.dtype)
        raise MalformedMessage(f"{name} must be a {kind} array {f.shape} per block, got {got}")
    if two_d and value.shape == f.shape:
        value = value[None]
    want = (batch, *f.shape)
    if value.shape != want:
        raise MalformedMessage(
            f"{name} has shape {value.shape}; this service's configuration needs {want} "
            "(batch axis first, as F_hat; declare it in the message's 'shape' dict)"
        )
    value = value.astype(np.float64 if f.real else np.complex128)
    bad = ~np.isfinite(value).reshape(batch, -1).all(axis=1)
    if bad.any():
        raise MalformedMessage(f"{name} contains NaN or inf (block {blocks_text(bad)})")
    if f.name in AMPLITUDES and (value < 0).any():
        raise MalformedMessage(
            f"{name} is negative (block {blocks_text((value < 0).reshape(batch, -1).any(axis=1))}); "
            "it holds the large-scale reflection amplitudes |alpha_bar| of eq 16"
        )
    return value


def blocks_text(mask: np.ndarray) -> str:
    """'3' or '3, 7, 9, 11, 12 (and 12 more)': the indices of the True entries."""
    idx = np.flatnonzero(mask)
    text = ", ".join(str(i) for i in idx[:5])
    return text + (f" (and {idx.size - 5} more)" if idx.size > 5 else "")
