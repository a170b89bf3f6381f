"""The cfisac PMT message convention (DESIGN.md, "Streams, messages, tags"), in one place.

A message is a PMT dict with the coherence-block index ``cb`` (uint64) and named fields:
complex arrays as c32vectors, real arrays as f64vectors, integer arrays as s64vectors, all
flattened in C order, with their shapes in a ``shape`` dict (field name -> s64vector of
dimensions); scalars as PMT numbers, strings as symbols; None fields are left out. Such a dict
survives ``pmt.serialize_str`` unchanged, so GNU Radio's ZeroMQ message blocks carry it to
remote peers as is.

``encode(cb, **fields)`` (alias of :func:`to_pmt`) builds a message and ``decode(msg)`` (alias
of :func:`from_pmt`) reads one back with its arrays reshaped. The blocks publish these and the
precoder service (gr_cfisac.service) speaks them on the wire. This module imports ``pmt``, so it
lives with the GNU Radio adapters; :mod:`gr_cfisac.pmt_messages` re-exports it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pmt


class MalformedMessage(ValueError):
    """A frame that is not a well-formed cfisac PMT message."""


def to_pmt(cb: int | None = None, **fields: Any) -> pmt.pmt_t:
    """PMT dict {cb, fields..., shape}: arrays flattened with their shapes, None fields skipped."""
    msg = pmt.make_dict()
    shapes = pmt.make_dict()
    if cb is not None:
        msg = pmt.dict_add(msg, pmt.intern("cb"), pmt.from_uint64(int(cb)))
    for name, value in fields.items():
        if value is None:
            continue
        key = pmt.intern(name)
        if isinstance(value, str):
            msg = pmt.dict_add(msg, key, pmt.intern(value))
            continue
        if isinstance(value, (bool, np.bool_)):
            msg = pmt.dict_add(msg, key, pmt.from_bool(bool(value)))
            continue
        arr = np.asarray(value)
        kind = arr.dtype.kind  # dtype kinds, not np.iscomplexobj/issubdtype: ~10x cheaper
        if arr.ndim == 0 and kind != "c":
            if kind in "iu":
                msg = pmt.dict_add(msg, key, pmt.from_long(int(arr)))
            else:
                msg = pmt.dict_add(msg, key, pmt.from_double(float(arr)))
            continue
        flat = arr.ravel()  # C order, a copy only where arr is not contiguous
        if kind == "c":
            vec = pmt.init_c32vector(flat.size, flat.astype(np.complex64, copy=False))
        elif kind in "iu":
            vec = pmt.init_s64vector(flat.size, flat.astype(np.int64, copy=False).tolist())
        else:
            vec = pmt.init_f64vector(flat.size, flat.astype(np.float64, copy=False))
        msg = pmt.dict_add(msg, key, vec)
        shapes = pmt.dict_add(shapes, key, pmt.init_s64vector(arr.ndim, arr.shape))
    return pmt.dict_add(msg, pmt.intern("shape"), shapes)


def from_pmt(msg: pmt.pmt_t) -> dict[str, Any]:
    """{name: value} of a cfisac PMT dict; arrays reshaped by its ``shape`` dict."""
    if not pmt.is_dict(msg) or pmt.is_null(msg):
        raise MalformedMessage("message must be a non-empty PMT dict")
    try:
        items = _dict_items(msg)
    except MalformedMessage:
        raise
    except Exception as exc:  # noqa: BLE001 (pmt raises wrong_type errors as RuntimeError)
        raise MalformedMessage(f"unreadable PMT dict ({exc})") from None
    shapes = items.pop("shape", None)
    if shapes is None:
        shapes = {}
    if not isinstance(shapes, dict):
        raise MalformedMessage("'shape' must be a dict of field -> dimensions")
    for name, shape in shapes.items():
        if name not in items or not isinstance(items[name], np.ndarray):
            continue
        dims = np.asarray(shape).ravel()
        if dims.dtype.kind not in "iuf" or np.any(dims < 0) or dims.size > 8:
            raise MalformedMessage(f"shape of {name!r} must be non-negative integers")
        dims = tuple(int(d) for d in dims)
        if int(np.prod(dims, dtype=np.float64)) != items[name].size:
            raise MalformedMessage(
                f"{name!r} has {items[name].size} elements but its shape says {dims}"
            )
        items[name] = items[name].reshape(dims)
    return items


def _dict_items(d: pmt.pmt_t) -> dict[str, Any]:
    keys = pmt.dict_keys(d)
    out: dict[str, Any] = {}
    for i in range(pmt.length(keys)):
        k = pmt.nth(i, keys)
        if not pmt.is_symbol(k):
            raise MalformedMessage("dict keys must be symbols")
        out[pmt.symbol_to_string(k)] = _value(pmt.dict_ref(d, k, pmt.PMT_NIL))
    return out


def _value(p: pmt.pmt_t) -> Any:
    if pmt.is_c32vector(p):
        return np.asarray(pmt.c32vector_elements(p), dtype=np.complex64)
    if pmt.is_c64vector(p):
        return np.asarray(pmt.c64vector_elements(p), dtype=np.complex128)
    if pmt.is_f64vector(p):
        return np.asarray(pmt.f64vector_elements(p), dtype=np.float64)
    if pmt.is_f32vector(p):
        return np.asarray(pmt.f32vector_elements(p), dtype=np.float64)
    for kind in ("s64", "s32", "u64", "u32", "s16", "u16", "s8", "u8"):
        if getattr(pmt, f"is_{kind}vector")(p):
            return np.asarray(getattr(pmt, f"{kind}vector_elements")(p), dtype=np.int64)
    if pmt.is_dict(p) and not pmt.is_null(p):
        return _dict_items(p)
    if pmt.is_uint64(p):
        return int(pmt.to_uint64(p))
    if pmt.is_bool(p):
        return bool(pmt.to_bool(p))
    if pmt.is_integer(p):
        return int(pmt.to_long(p))
    if pmt.is_real(p):
        return float(pmt.to_double(p))
    if pmt.is_complex(p):
        return complex(pmt.to_complex(p))
    if pmt.is_symbol(p):
        return pmt.symbol_to_string(p)
    if pmt.is_null(p):
        return None
    if pmt.is_tuple(p) or pmt.is_vector(p):
        n = pmt.length(p)
        ref = pmt.tuple_ref if pmt.is_tuple(p) else pmt.vector_ref
        return [_value(ref(p, i)) for i in range(n)]
    return None  # pairs and other exotica carry nothing a request needs


encode = to_pmt
decode = from_pmt

__all__ = ["MalformedMessage", "to_pmt", "from_pmt", "encode", "decode"]
