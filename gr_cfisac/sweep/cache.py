"""Content-addressed on-disk cache of sweep points: one ``KEY.npz`` per point.

A point's key is the sha256 of the function's qualified name, a version string the caller bumps
when the function's results change, and a canonical encoding of the point (JSON for scalars and
strings, dtype + shape + bytes for arrays, mappings by sorted key, dataclasses by class name and
fields). A result is a *record*: a mapping of names to numeric arrays (numbers become 0-d
arrays), stored as an ``.npz`` (no pickle) written to a temporary file and renamed into place,
so a stopped run never leaves half a file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import uuid
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

Record = dict[str, np.ndarray]
_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


def _feed(h: Any, x: Any) -> None:
    """Feed the canonical encoding of ``x`` into the hash ``h`` (type-tagged, length-prefixed)."""

    def put(tag: bytes, data: bytes) -> None:
        h.update(tag + len(data).to_bytes(8, "little") + data)

    if isinstance(x, np.generic) and x.dtype.kind in "biuf":
        x = x.item()  # np.float64(1.0) and 1.0 are the same parameter
    if x is None or isinstance(x, (bool, int, float, str)):
        put(b"J", json.dumps(x).encode())
    elif isinstance(x, (np.ndarray, np.generic)):
        a = np.ascontiguousarray(x)
        if a.dtype.hasobject:
            raise ValueError("point_key: object arrays cannot be hashed; use numeric arrays")
        put(b"A", f"{a.dtype.str}{a.shape}".encode())
        put(b"B", a.tobytes())
    elif isinstance(x, Path):
        put(b"P", str(x).encode())
    elif dataclasses.is_dataclass(x) and not isinstance(x, type):
        put(b"D", f"{type(x).__module__}.{type(x).__qualname__}".encode())
        _feed(h, {f.name: getattr(x, f.name) for f in dataclasses.fields(x)})
    elif isinstance(x, Mapping):
        if not all(isinstance(k, str) for k in x):
            raise ValueError("point_key: mapping keys must be strings")
        put(b"M", str(len(x)).encode())
        for k in sorted(x):
            put(b"K", k.encode())
            _feed(h, x[k])
    elif isinstance(x, (list, tuple)):
        put(b"L", str(len(x)).encode())
        for v in x:
            _feed(h, v)
    else:
        raise ValueError(
            f"point_key: cannot hash a {type(x).__name__}; a point must be built from JSON-able "
            "values, numpy arrays, dataclasses, mappings and sequences (or pass key= to run_points)"
        )


def point_key(name: str, version: str, point: Any) -> str:
    """sha256 (hex) of a function's qualified ``name``, a ``version`` and the canonical ``point``."""
    h = hashlib.sha256()
    _feed(h, [str(name), str(version)])
    _feed(h, point)
    return h.hexdigest()


def as_record(result: Any) -> Record:
    """A function's result as a record {name: ndarray}; ValueError if it is not one."""
    if not isinstance(result, Mapping) or not all(isinstance(k, str) and k for k in result):
        raise ValueError(
            "a sweep function must return a mapping of names to numeric arrays or numbers "
            f"(e.g. {{'W': W, 'rate': 1.2}}), got {type(result).__name__}"
        )
    out = {k: np.asarray(v) for k, v in result.items()}
    bad = [k for k, v in out.items() if v.dtype.hasobject]
    if bad:
        raise ValueError(f"a sweep function's result field(s) {bad} are not numeric arrays")
    return out


class Cache:
    """The records of one sweep folder, ``directory/KEY.npz``."""

    def __init__(self, directory: str | Path) -> None:
        if directory in (None, ""):
            raise ValueError("cache_dir must be a folder path (or None for no cache)")
        self.directory = Path(directory)

    def path(self, key: str) -> Path:
        """The file of ``key`` (letters, digits, '_', '.', '-'; at most 128)."""
        if not isinstance(key, str) or not _KEY.match(key) or key.startswith("."):
            raise ValueError(
                f"cache key {key!r} must be 1-128 letters, digits, '_', '.' or '-' "
                "(not starting with '.')"
            )
        return self.directory / f"{key}.npz"

    def load(self, key: str) -> Record | None:
        """The stored record of ``key``, or None when there is none (or it cannot be read)."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            warnings.warn(f"unreadable cache file {path} ({exc}); computing it again", stacklevel=2)
            return None

    def store(self, key: str, record: Mapping[str, Any]) -> Path:
        """Write ``record`` atomically (temporary file, fsync, rename); returns its path."""
        path = self.path(key)
        record = as_record(record)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{key}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with open(tmp, "wb") as fh:
                with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
                    for name, arr in record.items():
                        with zf.open(f"{name}.npy", "w", force_zip64=True) as f:
                            np.lib.format.write_array(f, arr, allow_pickle=False)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    def __contains__(self, key: str) -> bool:
        return self.path(key).is_file()
