"""Writing one SigMF recording: :class:`RecordingWriter` streams items into
``NAME.sigmf-data.partial`` and only :meth:`~RecordingWriter.close` validates and writes the
metadata (with ``core:sha512``, the ``cfisac:`` and ``spatial`` extensions) and renames the data
into place, so a recording is complete or clearly incomplete. :class:`Finishing` is that
protocol, shared with the capture writer."""

from __future__ import annotations

import bisect
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
    EXTENSION,
    INCOMPLETE_EXT,
    ITEM_DTYPE,
    META_EXT,
    PARTIAL_EXT,
    SPATIAL_VERSION,
    SigMFError,
    base_name,
    spec_version,
    with_ext,
)
from .extension import Annotation, declaration, jsonable, spatial_element_geometry
from .files import atomic_write_text
from .validate import schema_validate

_W = TypeVar("_W", bound="Finishing")


class Finishing(ABC):
    """Complete or clearly incomplete: a writer is finished by :meth:`close`, or stopped by
    :meth:`abort` (which marks what it wrote incomplete). As a context manager it closes on
    leaving the ``with`` block and aborts on an exception inside it."""

    @abstractmethod
    def close(self) -> Path:
        """Finish writing; -> the path of what was written."""

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
    :meth:`abort`) leaves the recording marked incomplete instead of finishing it.

    path: NAME (extensions added). stream: ``cfisac:stream`` description, e.g.
    ``{"kind": "rap_echo", "ap": "rap", "index": 0, "items_per_block": 192}``.
    array_shape: (rows, cols) of the URPA whose antennas are the channels (adds ``spatial``).
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
    ) -> None:
        if not isinstance(num_channels, (int, np.integer)) or num_channels < 1:
            raise ValueError(f"RecordingWriter: num_channels must be >= 1, got {num_channels!r}")
        self.base = base_name(path)
        self.meta_path = with_ext(self.base, META_EXT)
        self.data_path = with_ext(self.base, DATA_EXT)
        self.partial_path = with_ext(self.base, PARTIAL_EXT)
        self.incomplete_path = with_ext(self.base, INCOMPLETE_EXT)
        if not overwrite and (self.meta_path.exists() or self.data_path.exists()):
            raise SigMFError(
                f"{self.meta_path}: a recording with this name exists; choose another name or "
                "pass overwrite=True"
            )
        if array_shape is not None and int(array_shape[0]) * int(array_shape[1]) != num_channels:
            raise ValueError(
                f"RecordingWriter: array_shape {tuple(array_shape)} has "
                f"{int(array_shape[0]) * int(array_shape[1])} elements but num_channels="
                f"{num_channels}; they must match"
            )
        self.num_channels = int(num_channels)
        self.config = config
        self.stream = dict(stream or {})
        self.array_shape = tuple(int(x) for x in array_shape) if array_shape else None
        self.sample_rate = sample_rate
        self.frequency = frequency
        self.description = description
        self.author = author
        self.collection = collection
        self.extra_global = dict(extra_global or {})
        self.annotations: list[Annotation] = []
        self.items_written = 0
        self._hash = hashlib.sha512()
        self._started = time.time()
        self.base.parent.mkdir(parents=True, exist_ok=True)
        if self.incomplete_path.exists():
            self.incomplete_path.unlink()
        self._file = open(self.partial_path, "wb")  # noqa: SIM115 (closed by close/abort)
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
            self.abort(f"write failed after {self.items_written} items: {exc}")
            raise SigMFError(
                f"{self.meta_path}: writing samples failed ({exc.strerror or exc}); the "
                f"recording is marked incomplete ({self.incomplete_path.name}); free disk "
                "space and record again"
            ) from exc
        self._hash.update(raw)
        self.items_written += data.shape[0]

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
        self.annotations.append(Annotation(int(start), length, label, qualified))

    def mark_block(self, start: int, cb: int, truth: dict[str, Any] | None = None) -> None:
        """A ``cb`` boundary at item ``start`` with optional per-block ground truth; its
        length is filled in at close (up to the next boundary or the end)."""
        fields: dict[str, Any] = {f"{EXTENSION}:cb": int(cb)}
        if truth:
            fields[f"{EXTENSION}:truth"] = truth
        self.annotations.append(Annotation(int(start), None, "cb", fields))

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
        self.annotations.append(
            Annotation(int(offset), None, str(key)[:20], {f"{EXTENSION}:tag": tag})
        )

    # --- finishing
    def metadata(self) -> dict[str, Any]:
        """The metadata dict close() writes (sha512 of the samples written so far)."""
        extensions = [declaration()]
        glob: dict[str, Any] = {
            "core:datatype": DATATYPE,
            "core:version": spec_version(),
            "core:num_channels": self.num_channels,
            "core:sha512": self._hash.hexdigest(),
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
        glob[f"{EXTENSION}:num_items"] = self.items_written
        if self.config is not None:
            glob[f"{EXTENSION}:config"] = self.config.to_dict()
        if self.stream:
            glob[f"{EXTENSION}:stream"] = jsonable(self.stream)
        if self.array_shape is not None:
            glob[f"{EXTENSION}:array_shape"] = list(self.array_shape)
        glob.update(jsonable(self.extra_global))
        return {
            "global": glob,
            "captures": [capture],
            "annotations": [a.to_sigmf() for a in self._finished_annotations()],
        }

    def _finished_annotations(self) -> list[Annotation]:
        """Sorted annotations; cb blocks get their length (to the next boundary or the end)."""
        ordered = sorted(self.annotations, key=lambda a: a.start)
        starts = sorted({a.start for a in ordered if a.cb is not None})
        out = []
        for a in ordered:
            if a.cb is not None and a.length is None:
                i = bisect.bisect_right(starts, a.start)
                nxt = starts[i] if i < len(starts) else self.items_written
                length = max(0, min(nxt, self.items_written) - a.start)
                fields = dict(a.fields)
                per_block = self.stream.get("items_per_block")
                if per_block is not None and length < int(per_block):
                    fields[f"{EXTENSION}:partial_block"] = True
                a = Annotation(a.start, length, a.label, fields)
            out.append(a)
        return out

    def close(self) -> Path:
        """Finish: fsync the samples, validate and write the metadata atomically. -> meta path."""
        if self.closed:
            return self.meta_path
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            meta = self.metadata()
            schema_validate(meta, "meta", str(self.meta_path))
            os.replace(self.partial_path, self.data_path)
            atomic_write_text(self.meta_path, json.dumps(meta, indent=2) + "\n")
        except OSError as exc:
            self.abort(f"finishing failed: {exc}")
            raise SigMFError(
                f"{self.meta_path}: finishing the recording failed ({exc.strerror or exc}); it "
                "is marked incomplete; free disk space and record again"
            ) from exc
        self.closed = True
        return self.meta_path

    def abort(self, reason: str = "aborted") -> None:
        """Stop without finishing: keep the .partial samples and write the incomplete marker."""
        if self.closed:
            return
        self.closed = True
        try:
            self._file.close()
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
