"""PMT message format of the cfisac blocks (DESIGN.md, "Streams, messages, tags").

A message is a PMT dict with the coherence-block index ``cb`` (uint64) and named fields:
complex arrays as c32vectors, real arrays as f64vectors, both flattened in C order, with their
shapes in a ``shape`` dict (field name -> s64vector of dimensions); scalars as PMT numbers,
strings as symbols. Such a dict survives ``pmt.serialize_str`` unchanged, so GNU Radio's ZMQ
message blocks carry it to remote peers as is.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pmt

SHAPE = "shape"


def encode(cb: int | None, **fields: Any) -> pmt.pmt_t:
    """PMT dict {cb, fields..., shape} from numpy arrays, numbers and strings."""
    msg = pmt.make_dict()
    shapes = pmt.make_dict()
    if cb is not None:
        msg = pmt.dict_add(msg, pmt.intern("cb"), pmt.from_uint64(int(cb)))
    for name, value in fields.items():
        key = pmt.intern(name)
        if isinstance(value, str):
            msg = pmt.dict_add(msg, key, pmt.intern(value))
            continue
        if isinstance(value, (bool, np.bool_)):
            msg = pmt.dict_add(msg, key, pmt.from_bool(bool(value)))
            continue
        arr = np.asarray(value)
        if arr.ndim == 0 and not np.iscomplexobj(arr):
            if np.issubdtype(arr.dtype, np.integer):
                msg = pmt.dict_add(msg, key, pmt.from_long(int(arr)))
            else:
                msg = pmt.dict_add(msg, key, pmt.from_double(float(arr)))
            continue
        flat = arr.ravel()
        if np.iscomplexobj(arr):
            vec = pmt.init_c32vector(flat.size, flat.astype(np.complex64))
        else:
            vec = pmt.init_f64vector(flat.size, flat.astype(np.float64))
        msg = pmt.dict_add(msg, key, vec)
        shapes = pmt.dict_add(shapes, key, pmt.init_s64vector(arr.ndim, list(arr.shape)))
    return pmt.dict_add(msg, pmt.intern(SHAPE), shapes)


def decode(msg: pmt.pmt_t) -> dict[str, Any]:
    """Inverse of :func:`encode`: arrays back in their shapes (complex64 / float64)."""
    if not pmt.is_dict(msg):
        raise ValueError("a cfisac message must be a PMT dict (see gr_cfisac.blocks.messages)")
    items = {pmt.symbol_to_string(k): _value(pmt.dict_ref(msg, k, pmt.PMT_NIL)) for k in _keys(msg)}
    shapes = items.pop(SHAPE, None) or {}
    for name, shape in shapes.items():
        if name in items:
            items[name] = np.asarray(items[name]).reshape(tuple(int(d) for d in shape))
    return items


def _keys(d: pmt.pmt_t) -> list:
    keys = pmt.dict_keys(d)
    return [pmt.nth(i, keys) for i in range(pmt.length(keys))]


def _value(p: pmt.pmt_t) -> Any:
    if pmt.is_dict(p) and not pmt.is_null(p):
        return {pmt.symbol_to_string(k): _value(pmt.dict_ref(p, k, pmt.PMT_NIL)) for k in _keys(p)}
    if pmt.is_c32vector(p):
        return np.asarray(pmt.c32vector_elements(p), dtype=np.complex64)
    if pmt.is_f64vector(p):
        return np.asarray(pmt.f64vector_elements(p), dtype=np.float64)
    if pmt.is_s64vector(p):
        return np.asarray(pmt.s64vector_elements(p), dtype=np.int64)
    if pmt.is_uint64(p):
        return int(pmt.to_uint64(p))
    return pmt.to_python(p)
