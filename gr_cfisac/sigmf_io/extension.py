"""What gr-cfisac puts into SigMF metadata: the ``cfisac:`` extension's values (JSON encoding
of numpy and complex values, annotations with their ``cb`` / ``truth`` / ``tag`` fields, AP
geometry), the ``spatial`` extension's element geometry, and the ``core:extensions`` entries
declaring both. docs/sigmf_extension.md has every field."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .conventions import EXTENSION, EXTENSION_VERSION


def declaration(name: str = EXTENSION, version: str = EXTENSION_VERSION) -> dict[str, Any]:
    """A ``core:extensions`` entry: the extension ``name`` at ``version``, optional to readers."""
    return {"name": name, "version": version, "optional": True}


def jsonable(value: Any) -> Any:
    """Plain JSON types for numpy scalars/arrays and complex numbers ([re, im] pairs)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        if np.iscomplexobj(value):
            return jsonable(np.stack([value.real, value.imag], axis=-1))
        if value.dtype.kind == "f":
            return jsonable(value.tolist())
        return value.tolist()
    if isinstance(value, (complex, np.complexfloating)):
        return [float(value.real), float(value.imag)]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None  # JSON has no NaN/inf
    return value


def spatial_element_geometry(rows: int, cols: int, wavelength_m: float) -> list[dict]:
    """``spatial:element_geometry`` of a rows x cols URPA at half-wavelength spacing.

    Element (r, c) (channel r + rows*c) has phase exp(-j pi (r u - c v)) (eq 2), i.e. sits at
    r*lambda/2 along e1 and -c*lambda/2 along e2. The spatial CRS has boresight +X = the array
    normal n, and Y = e2, Z = e1 keeps it right-handed: point = [0, -c*lambda/2, r*lambda/2].
    """
    half = wavelength_m / 2.0
    idx = np.arange(rows * cols)
    r, c = idx % rows, idx // rows
    return [{"point": [0.0, float(-ci * half), float(ri * half)]} for ri, ci in zip(r, c)]


@dataclass(frozen=True)
class Annotation:
    """One SigMF annotation: item range [start, start+length) and its non-core fields."""

    start: int
    length: int | None = None
    label: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def cb(self) -> int | None:
        """The coherence block index if this annotation marks a ``cb`` boundary."""
        value = self.fields.get(f"{EXTENSION}:cb")
        return int(value) if value is not None else None

    @property
    def truth(self) -> dict[str, Any]:
        """Per-block ground truth (``cfisac:truth``), empty if none."""
        return dict(self.fields.get(f"{EXTENSION}:truth") or {})

    @property
    def tag(self) -> dict[str, Any] | None:
        """``{key, type, value}`` of a recorded stream tag other than ``cb``, else None."""
        return self.fields.get(f"{EXTENSION}:tag")

    def to_sigmf(self) -> dict[str, Any]:
        out: dict[str, Any] = {"core:sample_start": int(self.start)}
        if self.length is not None:
            out["core:sample_count"] = int(self.length)
        if self.label is not None:
            out["core:label"] = str(self.label)
        out.update(jsonable(self.fields))
        return out


def geometry_dict(geom: Any) -> dict[str, Any]:
    """``cfisac:geometry`` of a :class:`gr_cfisac.geometry.Geometry` (static AP part)."""
    return {
        "tap_pos_m": jsonable(geom.tap_pos),
        "rap_pos_m": jsonable(geom.rap_pos),
        "tap_frame": jsonable(geom.tap_frame),
        "rap_frame": jsonable(geom.rap_frame),
    }
