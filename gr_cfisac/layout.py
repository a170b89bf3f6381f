"""How per-coherence-block data is packed into one complex64 vector item of a stream.

Data another block depends on (true channels, statistics, estimates, beamformers) travels on
streams, one vector item per coherence block (DESIGN.md). Each kind of item is a
:class:`Layout`: named fields in a fixed order, complex fields as complex64, real fields in the
real part of a complex64 slot, every field flattened in C order. numpy only (no GNU Radio,
no pmt), so the blocks, the SigMF sink and reader, ZMQ peers and notebooks encode and decode
items with this one codec; a SigMF recording stores its layout as :meth:`Layout.describe`
and :meth:`Layout.from_description` rebuilds it.

Item kinds (shapes use the paper's symbols; N = NT MT):

- ``stats_layout``    per TAP: ``mean`` (K, MT) LoS means c_ik, ``cov`` (K, MT, MT) C_hik (eqs 1, 9)
- ``estimate_layout`` per TAP: ``h_hat`` (K, MT) channel estimates (eq 8)
- ``beam_layout``     per TAP: ``W_bar`` (MT, K+1) its rows of W, column 0 the sensing beam (eq 12)
- ``precoder_layout``        : ``W`` (N, K+1) the whole beamformer
- ``geometry_layout``        : the network-known sensing geometry (channels.SensingGeometry)
- ``truth_layout``           : ground truth: ``F`` (N, K), ``G_t`` (NR, MR, N),
  ``G_c`` (NR, NC, MR, N), the RCS fluctuations ``varpi_t`` (NR, NT), ``varpi_c`` (NR, NC, NT)
  that made them (eq 16), positions (m) and the target's true angles at every RAP (rad)
- ``angles_layout`` (float32): MUSIC peaks per RAP, see :func:`angles_layout`
- ``fix_layout`` (float32): the fused target position and its angles at every RAP
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any

import numpy as np

from .channels import SensingGeometry
from .config import SystemConfig


@dataclass(frozen=True)
class Field:
    name: str
    shape: tuple[int, ...]
    real: bool = False

    @property
    def size(self) -> int:
        return prod(self.shape)


class Layout:
    """Named fields packed in order into one vector item of ``dtype`` (complex64 or float32)."""

    def __init__(self, name: str, fields: list[Field], dtype: type = np.complex64) -> None:
        self.name = name
        self.fields = tuple(fields)
        self.dtype = np.dtype(dtype)
        self.slices: dict[str, slice] = {}
        start = 0
        for f in self.fields:
            if f.name in self.slices:
                raise ValueError(f"{name}: field {f.name!r} appears twice; names must be unique")
            self.slices[f.name] = slice(start, start + f.size)
            start += f.size
        self.size = start

    def __repr__(self) -> str:
        inner = ", ".join(f"{f.name}{f.shape}" for f in self.fields)
        return f"Layout({self.name}: {inner}; {self.size} x {self.dtype.name})"

    def describe(self) -> list[dict[str, Any]]:
        """JSON form of the fields, ``[{name, shape, real}, ...]`` in packing order (what a
        SigMF recording stores as ``cfisac:stream.layout``)."""
        return [{"name": f.name, "shape": list(f.shape), "real": f.real} for f in self.fields]

    @classmethod
    def from_description(
        cls, name: str, fields: list[dict[str, Any]], dtype: type = np.complex64
    ) -> Layout:
        """The layout of a :meth:`describe` list (``real`` defaults to False)."""
        return cls(
            name,
            [
                Field(str(f["name"]), tuple(int(d) for d in f["shape"]), bool(f.get("real")))
                for f in fields
            ],
            dtype,
        )

    def pack(self, out: np.ndarray | None = None, **arrays: np.ndarray) -> np.ndarray:
        """Fields (n, *shape) -> items (n, size); writes into ``out`` when given."""
        missing = [f.name for f in self.fields if f.name not in arrays]
        extra = sorted(set(arrays) - set(self.slices))
        if missing or extra:
            raise ValueError(f"{self.name}: missing fields {missing}, unknown fields {extra}")
        n = np.asarray(arrays[self.fields[0].name]).shape[0]
        if out is None:
            out = np.empty((n, self.size), self.dtype)
        if out.shape != (n, self.size):
            raise ValueError(f"{self.name}: out must be ({n}, {self.size}), got {out.shape}")
        for f in self.fields:
            a = np.asarray(arrays[f.name])
            if a.shape != (n,) + f.shape:
                raise ValueError(
                    f"{self.name}.{f.name} must be (n, {', '.join(map(str, f.shape))}) with "
                    f"n={n}, got {a.shape}"
                )
            with np.errstate(over="ignore"):  # a huge float32 value becomes inf, as it should
                out[:, self.slices[f.name]] = (a.real if f.real else a).reshape(n, f.size)
        return out

    def unpack(self, items: np.ndarray) -> dict[str, np.ndarray]:
        """Items (n, size) (or (n, 1, size)) -> fields (n, *shape): complex128 or float64."""
        items = _rows(items)
        if items.shape[1] != self.size:
            raise ValueError(
                f"{self.name}: items must have {self.size} entries, got {items.shape[1]}"
            )
        return {f.name: self._field(items, f) for f in self.fields}

    def field(self, items: np.ndarray, name: str) -> np.ndarray:
        """One field of items (n, size) -> (n, *shape), without converting the others."""
        if name not in self.slices:
            raise ValueError(f"{self.name}: no field {name!r}; fields are {list(self.slices)}")
        return self._field(_rows(items), self.fields[list(self.slices).index(name)])

    def _field(self, items: np.ndarray, f: Field) -> np.ndarray:
        a = items[:, self.slices[f.name]]
        if f.real or self.dtype.kind == "f":
            a = a.real.astype(np.float64)
        else:
            a = a.astype(np.complex128)
        return a.reshape((items.shape[0],) + f.shape)


def _rows(items: np.ndarray) -> np.ndarray:
    """Items (n, ...) as (n, values per item), zero items included."""
    items = np.asarray(items)
    return items.reshape(items.shape[0], prod(items.shape[1:]))


def stats_layout(cfg: SystemConfig) -> Layout:
    return Layout("stats", [Field("mean", (cfg.K, cfg.MT)), Field("cov", (cfg.K, cfg.MT, cfg.MT))])


def estimate_layout(cfg: SystemConfig) -> Layout:
    return Layout("estimate", [Field("h_hat", (cfg.K, cfg.MT))])


def beam_layout(cfg: SystemConfig) -> Layout:
    return Layout("beam", [Field("W_bar", (cfg.MT, cfg.K + 1))])


def precoder_layout(cfg: SystemConfig) -> Layout:
    return Layout("precoder", [Field("W", (cfg.N, cfg.K + 1))])


def geometry_layout(cfg: SystemConfig) -> Layout:
    NT, NR, NC, MT, MR = cfg.NT, cfg.NR, cfg.NC, cfg.MT, cfg.MR
    return Layout(
        "geometry",
        [
            Field("amp_t", (NR, NT), real=True),
            Field("amp_c", (NR, NC, NT), real=True),
            Field("aT_t", (NT, MT)),
            Field("aT_c", (NC, NT, MT)),
            Field("aR_t", (NR, MR)),
            Field("aR_c", (NR, NC, MR)),
            Field("psi_t", (NR,), real=True),
            Field("theta_t", (NR,), real=True),
            Field("psi_c", (NR, NC), real=True),
            Field("theta_c", (NR, NC), real=True),
        ],
    )


def truth_layout(cfg: SystemConfig) -> Layout:
    NR, NC, MR, N, K = cfg.NR, cfg.NC, cfg.MR, cfg.N, cfg.K
    return Layout(
        "truth",
        [
            Field("F", (N, K)),
            Field("G_t", (NR, MR, N)),
            Field("G_c", (NR, NC, MR, N)),
            Field("varpi_t", (NR, cfg.NT)),
            Field("varpi_c", (NR, NC, cfg.NT)),
            Field("user_pos", (K, 3), real=True),
            Field("target_pos", (3,), real=True),
            Field("clutter_pos", (NC, 3), real=True),
            Field("psi_t", (NR,), real=True),
            Field("theta_t", (NR,), real=True),
        ],
    )


def angles_layout(n_peaks: int) -> Layout:
    """MUSIC output of one RAP per block (float32): ``psi``, ``theta`` (n_peaks,) radians of the
    strongest peaks (NaN where fewer were found), ``value`` (n_peaks,) their spectrum heights,
    ``n_sources`` (1,) the model order used and ``validity`` (1,) the block's
    :class:`~gr_cfisac.music.validity.Validity` code (0 OK; 1 not identifiable; 2 non-finite,
    3 silent, 4 saturated input). Only OK blocks carry peaks: the others hold NaN."""
    return Layout(
        "angles",
        [
            Field("psi", (n_peaks,)),
            Field("theta", (n_peaks,)),
            Field("value", (n_peaks,)),
            Field("n_sources", (1,)),
            Field("validity", (1,)),
        ],
        dtype=np.float32,
    )


def fix_layout(cfg: SystemConfig) -> Layout:
    """Fused target fix per block (float32): ``pos`` (3,) metres, the target's ``psi``,
    ``theta`` (NR,) radians at every RAP (NaN where no peak qualified), ``error_radius`` (1,) m."""
    return Layout(
        "fix",
        [
            Field("pos", (3,)),
            Field("psi", (cfg.NR,)),
            Field("theta", (cfg.NR,)),
            Field("error_radius", (1,)),
        ],
        dtype=np.float32,
    )


def item_size(cfg: SystemConfig, kind: str, n_peaks: int | None = None) -> int:
    """Vector length of an item kind for a config: "stats", "estimate", "beam", "precoder",
    "geometry", "truth", "fix", "angles" (n_peaks, default NC + 1) (GRC port definitions use
    this)."""
    if kind == "angles":
        return angles_layout(cfg.NC + 1 if n_peaks in (None, 0) else int(n_peaks)).size
    layouts = {
        "stats": stats_layout,
        "estimate": estimate_layout,
        "beam": beam_layout,
        "precoder": precoder_layout,
        "geometry": geometry_layout,
        "truth": truth_layout,
        "fix": fix_layout,
    }
    if kind not in layouts:
        raise ValueError(
            f"item_size: kind must be one of {sorted(layouts) + ['angles']}, got {kind!r}"
        )
    return layouts[kind](cfg).size


def pack_geometry(cfg: SystemConfig, sg: SensingGeometry, out: np.ndarray | None = None):
    """SensingGeometry (batch n) -> geometry items (n, size)."""
    layout = geometry_layout(cfg)
    return layout.pack(out, **{f.name: getattr(sg, f.name) for f in layout.fields})


def unpack_geometry(cfg: SystemConfig, items: np.ndarray) -> SensingGeometry:
    """Geometry items (n, size) -> SensingGeometry with batch n (complex128/float64)."""
    return SensingGeometry(**geometry_layout(cfg).unpack(items))
