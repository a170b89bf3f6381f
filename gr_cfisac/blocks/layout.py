"""Item layouts of the cfisac streams: the numpy-only codec :mod:`gr_cfisac.layout`,
re-exported here so ``gr_cfisac.blocks.layout`` imports and GRC's ``cfisac.item_size(...)``
keep working."""

from ..layout import (
    Field,
    Layout,
    angles_layout,
    beam_layout,
    estimate_layout,
    fix_layout,
    geometry_layout,
    item_size,
    pack_geometry,
    precoder_layout,
    stats_layout,
    truth_layout,
    unpack_geometry,
)

__all__ = [
    "Field",
    "Layout",
    "angles_layout",
    "beam_layout",
    "estimate_layout",
    "fix_layout",
    "geometry_layout",
    "item_size",
    "pack_geometry",
    "precoder_layout",
    "stats_layout",
    "truth_layout",
    "unpack_geometry",
]
