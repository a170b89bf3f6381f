"""File primitives of the SigMF I/O: the sha512 checksum (``core:sha512``, collection stream
hashes), the atomic writes that leave a metadata file complete or absent, and the size-bounded
JSON load (integers bounded too) that turns every read problem into a :class:`SigMFError`."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from .conventions import MAX_INT_DIGITS, MAX_META_BYTES, SigMFError


def sha512_of(path: Path, chunk: int = 1 << 22) -> str:
    """Hex sha512 of a file, read in chunks."""
    h = hashlib.sha512()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def is_file(path: Path) -> bool:
    """Path.is_file, with the errors it lets through (a name too long ...) as SigMFError."""
    try:
        return path.is_file()
    except OSError as exc:
        raise SigMFError(f"{str(path)[:200]}: cannot be read ({exc.strerror or exc})") from None


def atomic_write_text(path: Path, text: str) -> None:
    """Write to a temporary file beside ``path``, fsync, then rename over it (atomic)."""
    with atomic_writer(path) as f:
        f.write(text)


@contextmanager
def atomic_writer(path: Path, before_rename: Callable[[], None] | None = None) -> Iterator[IO]:
    """A text file written under a temporary name beside ``path``, fsynced and renamed over it
    when the ``with`` block ends (after ``before_rename()``, which may still refuse it); on any
    exception the temporary file is removed and ``path`` is untouched."""
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if before_rename is not None:
            before_rename()
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def fsync_dir(directory: Path) -> None:
    """Make renames inside ``directory`` durable (best effort: not every system allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class HugeInteger(ValueError):
    """An integer literal longer than any metadata field takes (MAX_INT_DIGITS)."""

    def __init__(self, digits: str) -> None:
        super().__init__(digits)
        self.digits = digits


def bounded_int(text: str) -> int:
    """``json.loads`` ``parse_int``: integers of at most MAX_INT_DIGITS digits."""
    if len(text) > MAX_INT_DIGITS + 1 and len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise HugeInteger(text)
    return int(text)


def _where(text: str, token: str) -> str:
    """'line L column C (field "key")' of the first occurrence of ``token`` in JSON ``text``."""
    pos = text.find(token)
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    keys = re.findall(r'"([^"\\]{1,80})"\s*:', text[max(0, pos - 2000) : pos])
    field = f' (field "{keys[-1]}")' if keys else ""
    return f"line {line} column {col}{field}"


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
        return json.loads(text, parse_int=bounded_int)
    except HugeInteger as exc:
        raise SigMFError(
            f"{path}: {what} holds an integer of {len(exc.digits.lstrip('-'))} digits at "
            f"{_where(text, exc.digits)}; no field takes numbers that large (block indices "
            "and counts fit in 64 bits, coordinates are floats): the file is corrupt"
        ) from None
    except json.JSONDecodeError as exc:
        raise SigMFError(
            f"{path}: {what} is not valid JSON ({exc.msg} at line {exc.lineno} column "
            f"{exc.colno}); the file is corrupt or was cut short"
        ) from None
    except RecursionError:
        raise SigMFError(f"{path}: {what} nests too deeply to be SigMF metadata") from None
