"""File primitives of the SigMF I/O: the sha512 checksum (``core:sha512``, collection stream
hashes), the atomic text write that leaves a metadata file complete or absent, and the
size-bounded JSON load that turns every read problem into a :class:`SigMFError`."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from .conventions import MAX_META_BYTES, SigMFError


def sha512_of(path: Path, chunk: int = 1 << 22) -> str:
    """Hex sha512 of a file, read in chunks."""
    h = hashlib.sha512()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def atomic_write_text(path: Path, text: str) -> None:
    """Write to a temporary file beside ``path``, fsync, then rename over it (atomic)."""
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_json(path: Path, what: str) -> Any:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise SigMFError(f"{path}: cannot read the {what} ({exc.strerror})") from None
    if size > MAX_META_BYTES:
        raise SigMFError(f"{path}: {what} is {size} bytes, over the {MAX_META_BYTES} limit")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SigMFError(f"{path}: {what} is not UTF-8 text ({exc}); the file is corrupt") from None
    except OSError as exc:
        raise SigMFError(f"{path}: cannot read the {what} ({exc.strerror})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SigMFError(
            f"{path}: {what} is not valid JSON ({exc.msg} at line {exc.lineno} column "
            f"{exc.colno}); the file is corrupt or was cut short"
        ) from None
    except RecursionError:
        raise SigMFError(f"{path}: {what} nests too deeply to be SigMF metadata") from None
