"""Writing one SigMF recording: :class:`RecordingWriter` streams items into
``NAME.sigmf-data.partial`` and its annotations into the journal ``NAME.sigmf-journal``
(:mod:`~gr_cfisac.sigmf_io.journal`, checkpointed by :meth:`~RecordingWriter.checkpoint`);
:meth:`~RecordingWriter.close` writes the metadata (with ``core:sha512``, the ``cfisac:`` and
``spatial`` extensions), streamed from the journal and validated, atomically, then renames the
data into place and removes the journal. A recording is complete, or clearly incomplete and
salvageable (:mod:`~gr_cfisac.sigmf_io.salvage`). :class:`Finishing` is that protocol, shared
with the capture writer."""

from __future__ import annotations

import hashlib
import json
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ..config import SystemConfig
from .conventions import (
    DATA_EXT,
    DATATYPE,
    DEFAULT_SCENARIO,
    EXTENSION,
    INCOMPLETE_EXT,
    INTERRUPTED,
    ITEM_DTYPE,
    JOURNAL_EXT,
    MAX_CB,
    META_EXT,
    PARTIAL_EXT,
    SCENARIO,
    SPATIAL_VERSION,
    SigMFError,
    base_name,
    check_name_length,
    check_scenario_name,
    spec_version,
    with_ext,
)
from .extension import Annotation, declaration, jsonable, spatial_element_geometry
from .files import atomic_write_text, fsync_dir
from .journal import JournalWriter, block_lengths, read_journal
from .metafile import write_metadata
from .validate import schema_validate

_W = TypeVar("_W", bound="Finishing")


class Finishing(ABC):
    """Complete or clearly incomplete: a writer is finished by :meth:`close`, or stopped by
    :meth:`abort` (which marks what it wrote incomplete). As a context manager it closes on
    leaving the ``with`` block and aborts on an exception inside it."""

    @abstractmethod
    def close(self, interrupted: str | None = None) -> Path:
        """Finish writing (marked ``cfisac:interrupted`` with this reason if given: a capture
        stopped before its planned end); -> the path of what was written."""

    @abstractmethod
    def abort(self, reason: str = "aborted") -> None:
        """Stop without finishing, saying why."""

    def __enter__(self: _W) -> _W:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort(f"{exc_type.__name__}: {exc}")


class RecordingWriter(Finishing):
    """Stream items (n, num_channels) complex64 into one SigMF recording, atomically.

    Use as a context manager or call :meth:`close`; an exception inside the ``with`` block (or
    :meth:`abort`) leaves the recording marked incomplete instead of finishing it. Call
    :meth:`checkpoint` after each whole block (or batch of blocks): what was written up to the
    last checkpoint survives a killed process (``cfisac salvage``). Annotations are added in
    sample order between checkpoints (any order within one), coherence blocks with increasing
    start and index; nothing of them is held in memory past a checkpoint.

    path: NAME (extensions added). stream: ``cfisac:stream`` description, e.g.
    ``{"kind": "rap_echo", "ap": "rap", "index": 0, "items_per_block": 192}``.
    array_shape: (rows, cols) of the URPA whose antennas are the channels (adds ``spatial``).
    scenario: the scenario recorded (``cfisac:scenario``, a precoder-registry scenario name).
    fsync_interval: seconds between fsyncs of the samples and journal at checkpoints (bounds
    what a power cut loses; a killed process loses nothing checkpointed either way).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        num_channels: int,
        *,
        sample_rate: float | None = None,
        frequency: float | None = None,
        config: SystemConfig | None = None,
        stream: dict[str, Any] | None = None,
        array_shape: tuple[int, int] | None = None,
        description: str = "",
        author: str | None = None,
        collection: str | None = None,
        extra_global: dict[str, Any] | None = None,
        overwrite: bool = False,
        fsync_interval: float = 1.0,
        scenario: str = DEFAULT_SCENARIO,
    ) -> None:
        if not isinstance(num_channels, (int, np.integer)) or num_channels < 1:
            raise ValueError(f"RecordingWriter: num_channels must be >= 1, got {num_channels!r}")
        self.base = base_name(path)
        check_name_length(self.base)
        self.meta_path = with_ext(self.base, META_EXT)
        self.data_path = with_ext(self.base, DATA_EXT)
        self.partial_path = with_ext(self.base, PARTIAL_EXT)
        self.incomplete_path = with_ext(self.base, INCOMPLETE_EXT)
        self.journal_path = with_ext(self.base, JOURNAL_EXT)
        if not overwrite:
            if self.meta_path.exists() or self.data_path.exists():
                raise SigMFError(
                    f"{self.meta_path}: a recording with this name exists; choose another name "
                    "or pass overwrite=True"
                )
            if self.journal_path.exists():
                raise SigMFError(
                    f"{self.journal_path}: an unfinished recording with this name exists (a "
                    "killed recorder?); rebuild it with `cfisac salvage`, or choose another name "
                    "or pass overwrite=True"
                )
        if array_shape is not None and int(array_shape[0]) * int(array_shape[1]) != num_channels:
            raise ValueError(
                f"RecordingWriter: array_shape {tuple(array_shape)} has "
                f"{int(array_shape[0]) * int(array_shape[1])} elements but num_channels="
                f"{num_channels}; they must match"
            )
        self.num_channels = int(num_channels)
        self.scenario = check_scenario_name(scenario, "RecordingWriter")
        self.config = config
        self.stream = dict(stream or {})
        self.array_shape = tuple(int(x) for x in array_shape) if array_shape else None
        self.sample_rate = sample_rate
        self.frequency = frequency
        self.description = description
        self.author = author
        self.collection = collection
        self.extra_global = dict(extra_global or {})
        self.fsync_interval = float(fsync_interval)
        self.items_written = 0
        self._pending: list[Annotation] = []  # added since the last checkpoint
        self._journaled = 0  # start of the last annotation in the journal
        self._last_block: tuple[int, int] | None = None  # (start, cb) of the last block marked
        self._hash = hashlib.sha512()
        self._started = time.time()
        self._head = self._head_metadata()
        # what is known now is checked now (a bad extra_global is refused before recording)
        schema_validate({**self._head, "annotations": []}, "meta", str(self.meta_path))
        try:
            self.base.parent.mkdir(parents=True, exist_ok=True)
            for stale in (self.incomplete_path, self.meta_path, self.data_path):
                stale.unlink(missing_ok=True)  # overwrite=True (else they do not exist)
            self._file = open(self.partial_path, "wb")  # noqa: SIM115 (closed by close/abort)
            self._journal = JournalWriter(self.journal_path, self._head)
        except OSError as exc:
            raise SigMFError(
                f"{self.partial_path}: cannot create the recording ({exc.strerror or exc}); check "
                "the folder, its permissions and free space"
            ) from None
        self._synced = time.monotonic()
        self.closed = False

    # --- data and tags
    def write(self, samples: np.ndarray) -> None:
        """Append items. samples: (n, num_channels) (or (n,) for one channel), complex."""
        if self.closed:
            raise SigMFError(f"{self.meta_path}: write() after close(); open a new writer")
        x = np.asarray(samples)
        if x.ndim == 1 and self.num_channels == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[1] != self.num_channels:
            raise ValueError(
                f"RecordingWriter.write: samples must be (n, {self.num_channels}), got {x.shape}"
            )
        data = np.ascontiguousarray(x, dtype=ITEM_DTYPE)
        raw = data.view(np.uint8).reshape(-1)
        try:
            self._file.write(raw)
        except OSError as exc:
            raise self._failed(f"write failed after {self.items_written} items", exc) from exc
        self._hash.update(raw)
        self.items_written += data.shape[0]

    def _failed(self, what: str, exc: OSError) -> SigMFError:
        """Abort (marked incomplete, saying why) and the SigMFError to raise."""
        self.abort(f"{what}: {exc}")
        return SigMFError(
            f"{self.meta_path}: {what.split(' after ')[0]} ({exc.strerror or exc}); the "
            f"recording is marked incomplete ({self.incomplete_path.name}); free disk space and "
            "record again (`cfisac salvage` keeps the blocks written before)"
        )

    def _add(self, annotation: Annotation) -> None:
        if self.closed:
            raise SigMFError(f"{self.meta_path}: annotation after close(); open a new writer")
        if annotation.start < self._journaled:
            raise SigMFError(
                f"{self.meta_path}: annotation at item {annotation.start} comes before item "
                f"{self._journaled}, already checkpointed; add annotations in sample order "
                "(any order between two checkpoints)"
            )
        self._pending.append(annotation)

    def annotate(
        self,
        start: int,
        length: int | None = None,
        label: str | None = None,
        **fields: Any,
    ) -> None:
        """Add an annotation; field names without a namespace get ``cfisac:``."""
        if int(start) < 0:
            raise ValueError(f"annotate: start must be >= 0, got {start}")
        qualified = {(k if ":" in k else f"{EXTENSION}:{k}"): v for k, v in fields.items()}
        self._add(Annotation(int(start), length, label, qualified))

    def mark_block(self, start: int, cb: int, truth: dict[str, Any] | None = None) -> None:
        """A ``cb`` boundary at item ``start`` with optional per-block ground truth; its
        length is filled in at close (up to the next boundary or the end). Blocks are marked
        in order: each starts after the previous one and has a larger index (0 ... 2**63-1)."""
        start, cb = int(start), int(cb)
        if not 0 <= cb <= MAX_CB or start < 0:
            raise SigMFError(
                f"{self.meta_path}: block {cb} at item {start}: cfisac:cb must be in "
                "0 ... 2**63 - 1 and the start >= 0"
            )
        if self._last_block is not None:
            last_start, last_cb = self._last_block
            if cb <= last_cb or start <= last_start:
                raise SigMFError(
                    f"{self.meta_path}: block {cb} at item {start} marked after block {last_cb} "
                    f"at item {last_start}; cfisac:cb blocks must follow each other in time with "
                    "increasing indices (readers look blocks up by index)"
                )
        fields: dict[str, Any] = {f"{EXTENSION}:cb": cb}
        if truth:
            fields[f"{EXTENSION}:truth"] = truth
        self._add(Annotation(start, None, "cb", fields))
        self._last_block = (start, cb)

    def tag(
        self,
        offset: int,
        key: str,
        value: Any,
        value_type: str | None = None,
        encoded: str | None = None,
    ) -> None:
        """Record a stream tag: ``cb`` with an integer value becomes a block boundary, others
        ``cfisac:tag`` annotations: ``value`` (JSON-encodable, for people and other tools),
        ``type`` and ``encoded`` (an exact encoding, e.g. the base64 of a serialized PMT)."""
        if key == "cb" and isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            self.mark_block(offset, int(value))
            return
        tag = {"key": str(key), "value": jsonable(value)}
        if value_type is not None:
            tag["type"] = value_type
        if encoded is not None:
            tag["encoded"] = str(encoded)
        self._add(Annotation(int(offset), None, str(key)[:20], {f"{EXTENSION}:tag": tag}))

    def checkpoint(self, sync: bool = False) -> None:
        """Make everything written so far survive a killed process: flush the samples, then
        append the annotations added since the last checkpoint (sorted) and the item count to
        the journal. Both are fsynced when ``sync`` or every ``fsync_interval`` seconds."""
        if self.closed:
            return
        pending = sorted(self._pending, key=lambda a: a.start)
        due = sync or time.monotonic() - self._synced >= self.fsync_interval
        try:
            self._file.flush()
            if due:
                os.fsync(self._file.fileno())
            self._journal.checkpoint([a.to_sigmf() for a in pending], self.items_written, due)
        except OSError as exc:
            raise self._failed(f"checkpoint failed after {self.items_written} items", exc) from exc
        if due:
            self._synced = time.monotonic()
        self._pending = []
        if pending:
            self._journaled = pending[-1].start

    # --- finishing
    def _head_metadata(self) -> dict[str, Any]:
        """Global and captures known when recording starts (close() adds the item count and
        sha512): what the journal's head holds."""
        extensions = [declaration()]
        glob: dict[str, Any] = {
            "core:datatype": DATATYPE,
            "core:version": spec_version(),
            "core:num_channels": self.num_channels,
            "core:recorder": f"gr-cfisac {_package_version()}",
        }
        if self.sample_rate is not None:
            glob["core:sample_rate"] = float(self.sample_rate)
        elif self.config is not None:
            glob["core:sample_rate"] = float(self.config.bandwidth_hz)
        if self.description:
            glob["core:description"] = self.description
        if self.author:
            glob["core:author"] = self.author
        if self.collection:
            glob["core:collection"] = self.collection
        capture: dict[str, Any] = {
            "core:sample_start": 0,
            "core:datetime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self._started)),
        }
        freq = self.frequency
        if freq is None and self.config is not None:
            freq = self.config.carrier_hz
        if freq is not None:
            capture["core:frequency"] = float(freq)
        if self.array_shape is not None:
            extensions.append(declaration("spatial", SPATIAL_VERSION))
            glob["spatial:num_elements"] = self.num_channels
            glob["spatial:channel_index"] = 0
            if self.config is not None:
                wavelength = self.config.wavelength_m
            else:
                wavelength = 299_792_458.0 / freq if freq else 2.0  # unknown: unit spacing
            capture["spatial:element_geometry"] = spatial_element_geometry(
                *self.array_shape, wavelength
            )
        glob["core:extensions"] = extensions
        glob[SCENARIO] = self.scenario
        if self.config is not None:
            glob[f"{EXTENSION}:config"] = self.config.to_dict()
        if self.stream:
            glob[f"{EXTENSION}:stream"] = jsonable(self.stream)
        if self.array_shape is not None:
            glob[f"{EXTENSION}:array_shape"] = list(self.array_shape)
        glob.update(jsonable(self.extra_global))
        return {"global": glob, "captures": [capture]}

    def close(self, interrupted: str | None = None) -> Path:
        """Finish: checkpoint and fsync, write the metadata (streamed from the journal,
        validated) atomically, then rename the samples into place and drop the journal.
        -> meta path. ``interrupted``: why the recording stopped before its planned end."""
        if self.closed:
            return self.meta_path
        try:
            self.checkpoint(sync=True)
            self._file.close()
            self._journal.close()
            mark = None if interrupted is None else {"reason": str(interrupted)}
            finish_recording(
                self.meta_path,
                read_journal(self.journal_path),
                self.items_written,
                self._hash.hexdigest(),
                mark,
            )
        except OSError as exc:
            raise self._failed("finishing the recording failed", exc) from exc
        except SigMFError as exc:
            self.abort(f"finishing the recording failed: {exc}")
            raise
        self.closed = True
        return self.meta_path

    def abort(self, reason: str = "aborted") -> None:
        """Stop without finishing: keep the .partial samples and the journal (salvageable)
        and write the incomplete marker saying why."""
        if self.closed:
            return
        self.closed = True
        for f in (self._file, self._journal):
            try:
                f.close()
            except OSError:
                pass
        try:
            atomic_write_text(
                self.incomplete_path,
                json.dumps(
                    {
                        "reason": reason,
                        "items_written": self.items_written,
                        "num_channels": self.num_channels,
                        "started": self._started,
                        "stopped": time.time(),
                    }
                ),
            )
        except OSError:
            pass  # a full disk may refuse even the marker; the .partial file still says it


def finish_recording(
    meta_path: Path,
    journal: Any,
    items: int,
    sha512: str,
    interrupted: dict[str, Any] | None,
) -> None:
    """Metadata of ``items`` items from a journal (:class:`~.journal.JournalState`), written
    atomically before the samples are renamed into place; the journal goes last, so a finish
    cut short at any point is completed by ``cfisac salvage``."""
    base = base_name(meta_path)
    head = journal.head
    glob = dict(head["global"])
    glob["core:sha512"] = sha512
    glob[f"{EXTENSION}:num_items"] = int(items)
    if interrupted is not None:
        glob[INTERRUPTED] = jsonable(interrupted)
    stream = glob.get(f"{EXTENSION}:stream")
    per_block = stream.get("items_per_block") if isinstance(stream, dict) else None
    annotations = block_lengths(journal.annotations(), items, per_block)
    write_metadata(meta_path, glob, list(head.get("captures", [])), annotations)
    os.replace(with_ext(base, PARTIAL_EXT), with_ext(base, DATA_EXT))
    fsync_dir(meta_path.parent)
    with_ext(base, JOURNAL_EXT).unlink(missing_ok=True)


def _package_version() -> str:
    """The installed gr-cfisac version, "dev" in a source checkout."""
    try:
        from importlib.metadata import version

        return version("gr-cfisac")
    except Exception:  # noqa: BLE001 (not installed: a source checkout)
        return "dev"


def write_recording(
    path: str | os.PathLike,
    samples: np.ndarray,
    *,
    blocks: Sequence[tuple[int, int]] | None = None,
    truth: Sequence[dict[str, Any]] | None = None,
    **kwargs: Any,
) -> Path:
    """Write a whole recording in one call. samples: (n, C) complex. blocks: (start, cb) pairs
    marking coherence blocks, truth: one ground-truth dict per block. -> meta path."""
    x = np.asarray(samples)
    if x.ndim == 1:
        x = x[:, None]
    with RecordingWriter(path, x.shape[1], **kwargs) as w:
        w.write(x)
        for i, (start, cb) in enumerate(blocks or ()):
            w.mark_block(start, cb, truth[i] if truth is not None else None)
    return w.meta_path
