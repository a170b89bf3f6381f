"""Reading one SigMF recording back: :func:`read_recording` checks it (complete, valid SigMF,
cf32_le, channel count, size, sha512, ``cfisac:`` fields) and returns a :class:`Recording`
whose samples, coherence blocks, tags and per-block data items are read from its data file."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import SystemConfig
from ..layout import Layout
from .conventions import (
    DATA_EXT,
    DATATYPE,
    DEFAULT_SCENARIO,
    EXTENSION,
    INCOMPLETE_EXT,
    ITEM_DTYPE,
    JOURNAL_EXT,
    MALFORMED,
    MAX_FILE_NAME,
    META_EXT,
    PARTIAL_EXT,
    SCENARIO,
    SigMFError,
    base_name,
    with_ext,
)
from .extension import Annotation
from .files import is_file, load_json, sha512_of
from .validate import (
    check_block_indices,
    check_extension_version,
    check_stream_fields,
    config_from,
    parse_annotation,
    schema_validate,
)


@dataclass(frozen=True)
class Recording:
    """A recording read back: metadata, annotations and a read-only view of its samples."""

    meta_path: Path
    data_path: Path
    global_info: dict[str, Any]
    captures: list[dict[str, Any]]
    annotations: list[Annotation]
    num_channels: int
    num_items: int
    config: SystemConfig | None

    @property
    def name(self) -> str:
        return base_name(self.meta_path).name

    @property
    def stream(self) -> dict[str, Any]:
        """``cfisac:stream`` (kind, ap, index, items_per_block, item_shape ...), {} if absent."""
        value = self.global_info.get(f"{EXTENSION}:stream")
        return dict(value) if isinstance(value, dict) else {}

    @property
    def scenario(self) -> str:
        """The scenario recorded (``cfisac:scenario``); DEFAULT_SCENARIO (cellfree) for a
        recording that names none (made by another tool, or before the field existed)."""
        return str(self.global_info.get(SCENARIO, DEFAULT_SCENARIO))

    @property
    def kind(self) -> str | None:
        return self.stream.get("kind")

    @property
    def has_extension(self) -> bool:
        return any(k.startswith(f"{EXTENSION}:") for k in self.global_info)

    @property
    def sample_rate(self) -> float | None:
        return self.global_info.get("core:sample_rate")

    @property
    def array_shape(self) -> tuple[int, int] | None:
        shape = self.global_info.get(f"{EXTENSION}:array_shape")
        return (int(shape[0]), int(shape[1])) if shape else None

    def samples(self, start: int = 0, count: int | None = None, mmap: bool = False) -> np.ndarray:
        """Items [start, start+count) as (n, num_channels) complex64: a copy read from the file,
        or with ``mmap=True`` a read-only memory map (no copy; slower to touch on most VMs)."""
        if not 0 <= start <= self.num_items:
            raise ValueError(f"samples: start must be in [0, {self.num_items}], got {start}")
        stop = self.num_items if count is None else min(self.num_items, start + int(count))
        if stop <= start:
            return np.zeros((0, self.num_channels), dtype=np.complex64)
        offset = start * self.num_channels * ITEM_DTYPE.itemsize
        n = (stop - start) * self.num_channels
        if mmap:
            data = np.memmap(self.data_path, dtype=ITEM_DTYPE, mode="r", offset=offset, shape=(n,))
        else:
            data = np.fromfile(self.data_path, dtype=ITEM_DTYPE, count=n, offset=offset)
            if data.size != n:
                raise SigMFError(f"{self.data_path}: shorter than when it was opened (truncated)")
            data = data.astype(np.complex64, copy=False)
        return data.reshape(stop - start, self.num_channels)

    def blocks(self, complete_only: bool = True) -> list[Annotation]:
        """The ``cb`` annotations in order (without partial blocks unless asked)."""
        out = [a for a in self.annotations if a.cb is not None]
        if complete_only:
            out = [a for a in out if not a.fields.get(f"{EXTENSION}:partial_block")]
        return out

    def tags(self) -> list[tuple[int, str, Any, str | None]]:
        """(offset, key, value, type) of every recorded tag, ``cb`` included, in order
        (the exact ``encoded`` form, where recorded, is in the annotation's ``tag``)."""
        out: list[tuple[int, str, Any, str | None]] = []
        for a in self.annotations:
            if a.cb is not None:
                out.append((a.start, "cb", a.cb, "uint64"))
            elif isinstance(a.tag, dict) and "key" in a.tag:
                out.append((a.start, str(a.tag["key"]), a.tag.get("value"), a.tag.get("type")))
        return out

    @property
    def layout(self) -> list[dict[str, Any]] | None:
        """The item layout of a per-block data stream (``cfisac:stream.layout``): fields
        ``{name, shape, real}`` packed in order, or None."""
        layout = self.stream.get("layout")
        return layout if isinstance(layout, list) else None

    def unpack(self, items: np.ndarray) -> dict[str, np.ndarray]:
        """Items (n, num_channels) of a per-block data stream -> {field: (n, *shape)} (complex128,
        or float64 for real fields), decoded by :class:`gr_cfisac.layout.Layout` from the layout
        recorded in the metadata."""
        if self.layout is None:
            raise SigMFError(f"{self.meta_path}: no cfisac:stream.layout to unpack items with")
        try:
            layout = Layout.from_description(str(self.kind), self.layout)
        except ValueError as exc:
            raise SigMFError(
                f"{self.meta_path}: cfisac:stream.layout is unusable ({exc})"
            ) from None
        items = np.asarray(items)
        values = int(np.prod(items.shape[1:], dtype=np.int64))
        if layout.size != values:
            raise SigMFError(
                f"{self.meta_path}: cfisac:stream.layout covers {layout.size} values, items have "
                f"{values}"
            )
        return layout.unpack(items)

    def block_samples(self, items_per_block: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Complete coherence blocks as (cbs (B,), samples (B, items, C)); items per block from
        ``cfisac:stream.items_per_block`` unless given."""
        per = items_per_block or self.stream.get("items_per_block")
        blocks = self.blocks()
        if per is None:
            lengths = {a.length for a in blocks}
            if len(lengths) != 1:
                raise SigMFError(
                    f"{self.meta_path}: blocks have different lengths {sorted(lengths)[:5]} and "
                    "no cfisac:stream.items_per_block; pass items_per_block"
                )
            per = lengths.pop()
        per = int(per)
        starts = np.array([a.start for a in blocks if a.start + per <= self.num_items], dtype=int)
        cbs = np.array([a.cb for a in blocks if a.start + per <= self.num_items], dtype=np.int64)
        data = self.samples()
        if len(starts) == 0:
            return cbs, np.zeros((0, per, self.num_channels), dtype=np.complex64)
        idx = starts[:, None] + np.arange(per)
        return cbs, np.asarray(data[idx])


def resolve_meta(path: str | os.PathLike) -> Path:
    """NAME.sigmf-meta of a finished recording, else a SigMFError: incomplete (why, and that
    ``cfisac salvage`` rebuilds it) or missing."""
    base = base_name(path)
    meta = with_ext(base, META_EXT)
    if len(os.fsencode(meta.name)) > MAX_FILE_NAME:
        raise SigMFError(
            f"{str(meta)[:120]}...: the file name is longer than the {MAX_FILE_NAME} bytes file "
            "systems allow; no such recording can exist: check the name"
        )
    if is_file(meta):
        return meta
    incomplete = with_ext(base, INCOMPLETE_EXT)
    partial = with_ext(base, PARTIAL_EXT)
    salvage = f"`cfisac salvage {base}` rebuilds its whole blocks"
    if is_file(incomplete):
        try:
            reason = json.loads(incomplete.read_text()).get("reason", "unknown")
        except (OSError, ValueError, AttributeError):
            reason = "unknown (marker unreadable)"
        raise SigMFError(
            f"{meta}: the recording is incomplete ({reason}); only {partial.name} exists. "
            f"{salvage}, or record it again"
        )
    if is_file(partial) or is_file(with_ext(base, JOURNAL_EXT)):
        raise SigMFError(
            f"{meta}: incomplete/interrupted capture: the recorder never finished this recording "
            f"(killed, or stopped while finishing); {salvage}"
        )
    raise SigMFError(f"{meta}: no such SigMF metadata file; check the path")


def read_recording(
    path: str | os.PathLike,
    *,
    verify_checksum: bool = True,
    num_channels: int | None = None,
) -> Recording:
    """Read and check one recording (NAME, NAME.sigmf-meta or NAME.sigmf-data).

    Checks, each with its own SigMFError: metadata present and complete, valid JSON, valid
    SigMF (the sigmf package's validator), datatype cf32_le, channel count (== num_channels if
    given), data size a whole number of items and not shorter than the metadata says, sha512,
    annotations inside the data, a readable ``cfisac:`` extension of a supported version.
    """
    meta_path = resolve_meta(path)
    try:
        return _read_recording(meta_path, verify_checksum, num_channels)
    except SigMFError:
        raise
    except OSError as exc:
        raise SigMFError(
            f"{getattr(exc, 'filename', None) or meta_path}: cannot be read ({exc.strerror or exc})"
        ) from None
    except MALFORMED as exc:
        raise SigMFError(
            f"{meta_path}: metadata cannot be interpreted ({type(exc).__name__}: {exc}); the file "
            "is corrupt or not written for this reader"
        ) from None


def _read_recording(meta_path: Path, verify_checksum: bool, num_channels: int | None) -> Recording:
    meta = load_json(meta_path, "metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("global"), dict):
        raise SigMFError(f"{meta_path}: metadata has no 'global' object; not a SigMF recording")
    meta.setdefault("captures", [])
    meta.setdefault("annotations", [])
    schema_validate(meta, "meta", str(meta_path))
    glob = meta["global"]
    datatype = glob.get("core:datatype")
    if datatype != DATATYPE:
        raise SigMFError(
            f"{meta_path}: core:datatype is {datatype!r}; gr-cfisac reads {DATATYPE!r} (complex "
            "float32 little-endian) only: convert the capture (e.g. scale ci16 to cf32)"
        )
    channels = glob.get("core:num_channels", 1)
    if num_channels is not None and channels != num_channels:
        raise SigMFError(
            f"{meta_path}: core:num_channels is {channels} but {num_channels} antennas are "
            "expected (the config's MT or MR); record the right port or fix the config"
        )
    if glob.get("core:trailing_bytes") or any(c.get("core:header_bytes") for c in meta["captures"]):
        raise SigMFError(
            f"{meta_path}: non-conforming dataset (header/trailing bytes); rewrite it as a "
            "plain cf32_le SigMF recording"
        )
    check_extension_version(meta_path, glob)
    check_stream_fields(meta_path, glob)
    data_path = _data_path(meta_path, glob)
    try:
        size = data_path.stat().st_size
    except OSError:
        partial = with_ext(base_name(meta_path), PARTIAL_EXT)
        if is_file(partial):
            raise SigMFError(
                f"{meta_path}: incomplete/interrupted capture: the recorder stopped while "
                f"finishing (its samples are still {partial.name}); `cfisac salvage "
                f"{base_name(meta_path)}` completes it"
            ) from None
        raise SigMFError(
            f"{meta_path}: its data file {data_path.name} is missing; copy it beside the metadata"
        ) from None
    item_bytes = channels * ITEM_DTYPE.itemsize
    if size % item_bytes:
        raise SigMFError(
            f"{data_path}: truncated or mismatched: {size} bytes is not a whole number of "
            f"{channels}-channel cf32 items ({item_bytes} bytes each; {size % item_bytes} bytes "
            "left over); re-copy the file or check core:num_channels"
        )
    n_items = size // item_bytes
    expected = glob.get(f"{EXTENSION}:num_items")
    if expected is not None and expected != n_items:
        hint = "re-copy the data file"
        if (
            isinstance(expected, int)
            and expected > 0
            and size % (expected * ITEM_DTYPE.itemsize) == 0
        ):
            fits = size // (expected * ITEM_DTYPE.itemsize)
            hint = (
                f"it holds {expected} items of {fits} channels: is core:num_channels "
                f"({channels}) wrong?"
            )
        raise SigMFError(
            f"{data_path}: truncated or mismatched: holds {n_items} items but the metadata says "
            f"{expected}; {hint}"
        )
    if verify_checksum and "core:sha512" in glob:
        actual = sha512_of(data_path)
        if actual != str(glob["core:sha512"]).lower():
            raise SigMFError(
                f"{data_path}: sha512 checksum mismatch (the samples changed or were cut short "
                "since recording); re-copy the data file, or skip the check "
                "(verify_checksum=False; cfisac replay --no-verify)"
            )
    annotations = [parse_annotation(meta_path, a, n_items) for a in meta["annotations"]]
    check_block_indices(meta_path, annotations)
    config = config_from(meta_path, glob.get(f"{EXTENSION}:config"))
    return Recording(
        meta_path=meta_path,
        data_path=data_path,
        global_info=glob,
        captures=meta["captures"],
        annotations=annotations,
        num_channels=int(channels),
        num_items=int(n_items),
        config=config,
    )


def _data_path(meta_path: Path, glob: dict[str, Any]) -> Path:
    """The data file: ``core:dataset`` beside the metadata, else NAME.sigmf-data."""
    dataset = glob.get("core:dataset")
    if dataset:
        candidate = meta_path.parent / str(dataset)
        if candidate.parent != meta_path.parent:
            raise SigMFError(f"{meta_path}: core:dataset must name a file beside the metadata")
        return candidate
    return with_ext(base_name(meta_path), DATA_EXT)
