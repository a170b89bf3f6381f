"""Rebuilding the recordings of a recorder that died (``kill -9``, a crash, a power cut, a
finish cut short): every whole coherence block the journals checkpointed becomes a valid SigMF
recording again, marked ``cfisac:interrupted``, and what was lost is reported.

For each unfinished member of a capture (a ``NAME.sigmf-journal`` beside its samples):

- trusted items: the journal's last checkpoint, clipped to the samples on disk;
- the capture keeps the blocks every unfinished member holds whole (members are written one
  after another in each step, so a kill can leave some a block ahead): each is cut at the end
  of the last common block (or, without ``cb`` blocks, at its trusted items);
- its samples are truncated there, hashed, and its metadata is rebuilt from the journal's head
  and annotations (:func:`~gr_cfisac.sigmf_io.writer.finish_recording`); a member whose finish
  was cut short after its metadata was written is only completed;
- finished members are kept as they are; the collection is written last, from the capture
  journal (``NAME.sigmf-collection.journal``: configuration, geometry, description).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .collection import write_collection
from .conventions import (
    CAPTURE_JOURNAL_EXT,
    COLLECTION_EXT,
    DATA_EXT,
    EXTENSION,
    INCOMPLETE_EXT,
    INTERRUPTED,
    ITEM_DTYPE,
    JOURNAL_EXT,
    META_EXT,
    PARTIAL_EXT,
    SigMFError,
    base_name,
    glob_escape,
    with_ext,
)
from .files import sha512_of
from .journal import JournalState, read_journal
from .writer import finish_recording

REASON = "the recorder stopped before finishing (killed?); rebuilt by cfisac salvage"


@dataclass
class Member:
    """One unfinished recording: what its journal trusts and what is kept."""

    base: Path
    journal: JournalState
    channels: int
    on_disk: int  # whole items in its samples file
    trusted: int  # items of the last checkpoint that are on disk
    per_block: int | None
    blocks: list[tuple[int, int]] = field(default_factory=list)  # whole blocks: (cb, end)
    keep: int = 0
    kept_blocks: int = 0
    finished_meta: bool = False  # the finish was cut short after the metadata was written

    @property
    def samples_path(self) -> Path:
        partial = with_ext(self.base, PARTIAL_EXT)
        return partial if partial.exists() else with_ext(self.base, DATA_EXT)


@dataclass
class SalvageReport:
    """What salvage kept and lost, per recording, and the collection it wrote (if any)."""

    capture: Path
    members: list[dict[str, Any]]
    collection: Path | None
    dry_run: bool

    def lines(self) -> list[str]:
        verb = "would keep" if self.dry_run else "kept"
        out = []
        for m in self.members:
            if m["state"] == "finished":
                out.append(f"{m['name']}: finished before the stop, kept as it is")
                continue
            lost = m["lost_items"]
            tail = (
                f"dropped the last {lost} items ({lost * m['item_bytes']} bytes) after the last "
                "block that every member holds whole"
                if lost
                else "nothing dropped"
            )
            what = f"{m['blocks']} whole blocks" if m["blocks"] is not None else "samples"
            out.append(f"{m['name']}: {verb} {what} ({m['items']} items); {tail}")
        if self.collection is not None:
            out.append(f"wrote {self.collection} (marked {INTERRUPTED})")
        return out


def salvage(path: str | os.PathLike, *, dry_run: bool = False) -> SalvageReport:
    """Rebuild a capture (NAME, NAME.sigmf-collection or a member) or one recording whose
    recorder died; see the module docstring. SigMFError when there is nothing to salvage."""
    base, members, finished = _find(base_name(path))
    if not members:
        raise SigMFError(
            f"{base}: nothing to salvage: no unfinished recording (NAME.sigmf-journal) of "
            "this name; a finished capture reads as it is"
        )
    cut = _common_cut(members)
    report = []
    for m in members:
        _keep(m, cut)
        report.append(
            {
                "name": m.base.name,
                "state": "completed" if m.finished_meta else "rebuilt",
                "items": m.keep,
                "blocks": m.kept_blocks if cut is not None and (m.blocks or m.per_block) else None,
                "lost_items": m.on_disk - m.keep,
                "item_bytes": m.channels * ITEM_DTYPE.itemsize,
            }
        )
    report += [{"name": name, "state": "finished"} for name in finished]
    collection = None
    if not dry_run:
        for m in members:
            _rebuild(m)
        collection = _write_collection(base, [m.base.name for m in members] + finished)
    return SalvageReport(base, report, collection, dry_run)


def _find(base: Path) -> tuple[Path, list[Member], list[str]]:
    """(capture, its unfinished members (journals), its finished members) for capture
    ``base``, the capture that recording ``base`` belongs to, or the lone recording ``base``."""
    pattern = glob_escape(base.name) + "-*"
    journals = sorted(base.parent.glob(pattern + JOURNAL_EXT))
    if not journals and with_ext(base, JOURNAL_EXT).exists():
        lone = _member(with_ext(base, JOURNAL_EXT))
        owner = lone.journal.head["global"].get("core:collection")
        if not isinstance(owner, str) or not owner or "/" in owner:
            return base, [lone], []
        return _find(base.parent / owner)  # a member: salvage its whole capture
    unfinished = {base_name(j) for j in journals}
    finished = sorted(
        base_name(m).name
        for m in base.parent.glob(pattern + META_EXT)
        if base_name(m) not in unfinished
    )
    return base, [_member(j) for j in journals], finished


def _member(journal_path: Path) -> Member:
    base = base_name(journal_path)
    state = read_journal(journal_path)
    glob = state.head["global"]
    channels = glob.get("core:num_channels", 1)
    stream = glob.get(f"{EXTENSION}:stream")
    per_block = stream.get("items_per_block") if isinstance(stream, dict) else None
    if not isinstance(channels, int) or channels < 1:
        raise SigMFError(f"{journal_path}: core:num_channels in the journal head is {channels!r}")
    m = Member(base, state, channels, 0, 0, per_block if isinstance(per_block, int) else None)
    try:
        size = m.samples_path.stat().st_size
    except OSError:
        raise SigMFError(
            f"{journal_path}: its samples ({with_ext(base, PARTIAL_EXT).name}) are missing; "
            "nothing can be salvaged"
        ) from None
    m.on_disk = size // (channels * ITEM_DTYPE.itemsize)
    m.trusted = min(state.items, m.on_disk)
    m.finished_meta = with_ext(base, META_EXT).exists()
    m.blocks = _whole_blocks(state, m.trusted, m.per_block)
    return m


def _whole_blocks(state: JournalState, items: int, per_block: int | None) -> list[tuple[int, int]]:
    """(cb, end) of the blocks lying wholly in the first ``items`` items: a block ends at the
    next block's start (without ``per_block``) or ``per_block`` items after its start, and is
    whole if nothing cuts it shorter."""
    starts = [(a[f"{EXTENSION}:cb"], a["core:sample_start"]) for a in _blocks(state)]
    out = []
    for i, (cb, start) in enumerate(starts):
        end = starts[i + 1][1] if i + 1 < len(starts) else None
        if per_block is not None:
            end = start + per_block if end is None else min(end, start + per_block)
        if end is not None and end <= items and end - start == (per_block or end - start):
            out.append((cb, end))
    return out


def _blocks(state: JournalState) -> Iterator[dict[str, Any]]:
    for a in state.annotations():
        if f"{EXTENSION}:cb" in a:
            yield a


def _common_cut(members: list[Member]) -> int | None:
    """The last block index every member with blocks holds whole (None: no member has any)."""
    lasts = [m.blocks[-1][0] if m.blocks else -1 for m in members if m.per_block or m.blocks]
    return min(lasts) if lasts else None


def _keep(m: Member, cut: int | None) -> None:
    """What member ``m`` keeps: its blocks up to block ``cut``, else its trusted items."""
    if cut is None or not (m.per_block or m.blocks):
        m.keep = m.trusted
        return
    kept = [end for cb, end in m.blocks if cb <= cut]
    m.keep, m.kept_blocks = (kept[-1] if kept else 0), len(kept)


class _Cut:
    """A journal's head and its annotations inside the first ``keep`` items."""

    def __init__(self, state: JournalState, keep: int) -> None:
        self.head = state.head
        self.state = state
        self.keep = keep

    def annotations(self) -> Iterator[dict[str, Any]]:
        for a in self.state.annotations():
            if a.get("core:sample_start", 0) < self.keep:
                yield a


def _rebuild(m: Member) -> None:
    """Cut member ``m`` at m.keep items and write its metadata (or complete its finish)."""
    item_bytes = m.channels * ITEM_DTYPE.itemsize
    meta = with_ext(m.base, META_EXT)
    if m.finished_meta:
        try:
            recorded = json.loads(meta.read_text())["global"][f"{EXTENSION}:num_items"]
        except (OSError, ValueError, KeyError, TypeError):
            recorded = None
        if recorded == m.on_disk and m.samples_path.stat().st_size == m.on_disk * item_bytes:
            os.replace(m.samples_path, with_ext(m.base, DATA_EXT))
            with_ext(m.base, JOURNAL_EXT).unlink()
            m.keep = m.on_disk
            return
        meta.unlink()  # not the metadata of these samples: rebuild it below
    samples = m.samples_path
    if samples.stat().st_size != m.keep * item_bytes:
        os.truncate(samples, m.keep * item_bytes)
    if samples != with_ext(m.base, PARTIAL_EXT):
        os.replace(samples, with_ext(m.base, PARTIAL_EXT))
    marker = with_ext(m.base, INCOMPLETE_EXT)
    mark: dict[str, Any] = {
        "reason": REASON,
        "salvaged": True,
        "kept_items": m.keep,
        "lost_items": m.on_disk - m.keep,
    }
    if marker.exists():
        try:
            mark["stopped_by"] = str(json.loads(marker.read_text()).get("reason"))
        except (OSError, ValueError, AttributeError):
            pass
    finish_recording(meta, _Cut(m.journal, m.keep), m.keep, sha512_of(samples), mark)
    marker.unlink(missing_ok=True)


def _write_collection(base: Path, members: list[str]) -> Path | None:
    """The capture's collection, from its capture journal (members in the order recorded);
    None for a lone recording."""
    journal = with_ext(base, CAPTURE_JOURNAL_EXT)
    if not journal.exists():
        return None
    try:
        info = json.loads(journal.read_text())
    except (OSError, ValueError) as exc:
        raise SigMFError(f"{journal}: unreadable capture journal ({exc})") from None
    from ..config import SystemConfig

    config = info.get("config")
    order = {name: i for i, name in enumerate(info.get("streams") or [])}
    members = sorted(members, key=lambda name: (order.get(name, len(order)), name))
    path = write_collection(
        with_ext(base, COLLECTION_EXT),
        [base.parent / name for name in members],
        config=SystemConfig.from_dict(config) if isinstance(config, dict) else None,
        geometry=info.get("geometry") or None,
        description=str(info.get("description") or ""),
        scenario=info.get("scenario") if isinstance(info.get("scenario"), str) else None,
        extra={INTERRUPTED: {"reason": REASON, "salvaged": True}},
    )
    journal.unlink()
    return path
