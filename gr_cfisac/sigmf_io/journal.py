"""The recording journal ``NAME.sigmf-journal``: what a recording's metadata will hold,
appended while its samples are written, so that the whole blocks of a killed recorder can be
rebuilt (:mod:`gr_cfisac.sigmf_io.salvage`) and finishing streams the annotations from disk
instead of holding them in memory.

JSON lines, each written whole and flushed to the operating system at every checkpoint (so a
``kill -9`` loses nothing the journal names; an fsync at most every ``fsync_interval`` seconds
bounds what a power cut loses):

- line 1 ``{"cfisac_journal": 1, "meta": {"global": ..., "captures": [...]}}``: the metadata
  known at the start (no ``core:sha512``, no ``cfisac:num_items``);
- ``{"a": ANNOTATION}``: an annotation as SigMF writes it, in sample order; a ``cb`` block's
  ``core:sample_count`` is left out (it is known once the next block starts);
- ``{"items": N}``: a checkpoint: N items were written, and flushed before this line.

Only what precedes the last complete checkpoint line is trusted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .conventions import EXTENSION, SigMFError

VERSION = 1


class JournalWriter:
    """Append-only journal of one recording (see the module docstring)."""

    def __init__(self, path: Path, head: dict[str, Any]) -> None:
        self.path = path
        self._file = open(path, "w", encoding="utf-8")  # noqa: SIM115 (closed by close())
        self._file.write(json.dumps({"cfisac_journal": VERSION, "meta": head}) + "\n")
        self._file.flush()

    def checkpoint(self, annotations: Iterable[dict[str, Any]], items: int, sync: bool) -> None:
        """Append annotations (in sample order) and the item count; flush (and fsync if
        ``sync``). The samples counted must have been flushed before."""
        lines = [json.dumps({"a": a}) for a in annotations]
        lines.append(json.dumps({"items": int(items)}))
        self._file.write("\n".join(lines) + "\n")
        self._file.flush()
        if sync:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


@dataclass(frozen=True)
class JournalState:
    """What a journal trusts: its head metadata, the item count of its last checkpoint and how
    many lines precede that checkpoint."""

    path: Path
    head: dict[str, Any]
    items: int
    lines: int

    def annotations(self) -> Iterator[dict[str, Any]]:
        """The annotations written before the last checkpoint, in order (read from disk)."""
        with open(self.path, encoding="utf-8") as f:
            next(f)
            for n, line in enumerate(f, start=1):
                if n >= self.lines:
                    return
                entry = json.loads(line)
                if "a" in entry:
                    yield entry["a"]


def read_journal(path: Path) -> JournalState:
    """The trusted part of a journal; a cut-short last line (a killed writer) is ignored."""
    try:
        with open(path, encoding="utf-8") as f:
            first = f.readline()
            try:
                head = json.loads(first)["meta"]
                if not isinstance(head.get("global"), dict):
                    raise ValueError("no global object")
            except (ValueError, KeyError, TypeError, AttributeError):
                raise SigMFError(
                    f"{path}: not a gr-cfisac recording journal (its first line is not the "
                    "journal head); nothing can be salvaged from it"
                ) from None
            items, lines = 0, 1
            for n, line in enumerate(f, start=1):
                if not line.endswith("\n"):
                    break  # the writer was killed while writing this line
                try:
                    entry = json.loads(line)
                except ValueError:
                    break
                if isinstance(entry, dict) and "items" in entry:
                    items, lines = int(entry["items"]), n
    except OSError as exc:
        raise SigMFError(f"{path}: cannot read the journal ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise SigMFError(f"{path}: the journal is not UTF-8 text; it is corrupt") from None
    return JournalState(path, head, items, lines)


def block_lengths(
    annotations: Iterable[dict[str, Any]], n_items: int, per_block: int | None
) -> Iterator[dict[str, Any]]:
    """Annotations with every open ``cb`` block's ``core:sample_count`` filled in: up to the
    next block's start or ``n_items``; a block shorter than ``per_block`` gets
    ``cfisac:partial_block: true``. Holds only the annotations of one block at a time."""
    held: list[dict[str, Any]] = []

    def release(end: int) -> list[dict[str, Any]]:
        first = held[0]
        start = first["core:sample_start"]
        length = max(0, min(end, n_items) - start)
        done = {"core:sample_start": start, "core:sample_count": length}
        done.update((k, v) for k, v in first.items() if k != "core:sample_start")
        if per_block is not None and length < per_block:
            done[f"{EXTENSION}:partial_block"] = True
        return [done, *held[1:]]

    for a in annotations:
        if f"{EXTENSION}:cb" in a and "core:sample_count" not in a:
            if held:
                yield from release(a["core:sample_start"])
            held = [a]
        elif held:
            held.append(a)
        else:
            yield a
    if held:
        yield from release(n_items)
