"""SigMF recording and replay with the declared, versioned ``cfisac:`` extension.

Layout (docs/sigmf_extension.md has every field): **one recording per access point (or per
recorded stream)**, its antennas interleaved as ``core:num_channels`` channels (item ``n`` of an
MR-antenna RAP port is samples ``n*MR ... n*MR+MR-1``, antenna index ``r + rows*c`` as in
eq 2), ``core:datatype`` ``cf32_le``, ``core:sha512`` always written; the recordings of one run
are grouped in a SigMF collection (``NAME.sigmf-collection``). Each recording also carries the
``spatial`` extension's element geometry of its array.

The ``cfisac:`` extension holds the SystemConfig (``SystemConfig.to_dict``), what the stream
carries and which AP it belongs to, and per-block ground truth in annotations. Stream tags and
annotations map both ways: a ``cb`` tag (coherence block index) becomes an annotation with
``core:label = "cb"``, ``cfisac:cb`` and ``core:sample_count`` = the block's items; any other tag
becomes an annotation with ``cfisac:tag = {key, type, value}`` (the value JSON-encoded by the
caller; the GNU Radio blocks convert PMTs).

Complete or clearly incomplete: samples are written to ``NAME.sigmf-data.partial`` and the
metadata is written (validated, then atomically renamed into place) only by ``close()``. A
killed flowgraph leaves the ``.partial`` file and no ``.sigmf-meta``; a failed write (full
disk) also leaves ``NAME.sigmf-incomplete`` saying why. Readers report both as incomplete.

Every problem reading a file raises :class:`SigMFError` (a ValueError) with one message naming
the file, what is wrong and the fix. Only numpy, json, the ``sigmf`` package and the standard
library are used here (numerical-core rule: no gnuradio).
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
import os
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .config import SystemConfig

#: The extension namespace and its version (semantic: a reader accepts the same major version).
EXTENSION = "cfisac"
EXTENSION_VERSION = "1.0.0"
#: The SigMF ``spatial`` extension version whose fields we write.
SPATIAL_VERSION = "1.1.0"
DATATYPE = "cf32_le"
ITEM_DTYPE = np.dtype("<c8")
META_EXT = ".sigmf-meta"
DATA_EXT = ".sigmf-data"
COLLECTION_EXT = ".sigmf-collection"
PARTIAL_EXT = ".sigmf-data.partial"
INCOMPLETE_EXT = ".sigmf-incomplete"
#: Metadata files larger than this are refused (a recording's metadata is KBs to a few MBs).
MAX_META_BYTES = 256 * 1024 * 1024

#: Stream kinds with a documented item layout (docs/sigmf_extension.md); others are allowed.
#: Per-block data kinds record their item layout in ``cfisac:stream.layout``.
KNOWN_KINDS = (
    "rap_echo",  # received echo snapshots at a RAP: tau items of MR per block (eq 18)
    "tap_pilots",  # received uplink pilots at a TAP: tau_p items of MT per block (eq 6)
    "tap_downlink",  # transmitted downlink snapshots of a TAP: tau items of MT per block
    "stats",  # known statistics of one TAP (c_ik, C_hik): 1 item per block
    "estimate",  # channel estimates h_hat_ik of one TAP: 1 item per block
    "truth",  # ground truth (F, G_t, G_c, positions, target angles): 1 item per block
    "geometry",  # network-known sensing geometry: 1 item per block
    "beam",  # one TAP's rows of W: 1 item per block
    "precoder",  # the whole W: 1 item per block
    "other",
)


class SigMFError(ValueError):
    """A SigMF file that cannot be written or read as asked: corrupt, truncated, incomplete,
    mismatched (datatype, channel count, checksum) or not valid SigMF. The message names the
    file, what is wrong and how to fix it."""


# ----------------------------------------------------------------------------- helpers


def jsonable(value: Any) -> Any:
    """Plain JSON types for numpy scalars/arrays and complex numbers ([re, im] pairs)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        if np.iscomplexobj(value):
            return jsonable(np.stack([value.real, value.imag], axis=-1))
        if value.dtype.kind == "f":
            return jsonable(value.tolist())
        return value.tolist()
    if isinstance(value, (complex, np.complexfloating)):
        return [float(value.real), float(value.imag)]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None  # JSON has no NaN/inf
    return value


def base_name(path: str | os.PathLike) -> Path:
    """NAME for NAME, NAME.sigmf-meta, NAME.sigmf-data, NAME.sigmf-collection or NAME.partial."""
    p = Path(path)
    for ext in (PARTIAL_EXT, META_EXT, DATA_EXT, COLLECTION_EXT, INCOMPLETE_EXT, ".sigmf"):
        if p.name.endswith(ext):
            return p.with_name(p.name[: -len(ext)])
    return p


def _with_ext(base: Path, ext: str) -> Path:
    return base.with_name(base.name + ext)


def spatial_element_geometry(rows: int, cols: int, wavelength_m: float) -> list[dict]:
    """``spatial:element_geometry`` of a rows x cols URPA at half-wavelength spacing.

    Element (r, c) (channel r + rows*c) has phase exp(-j pi (r u - c v)) (eq 2), i.e. sits at
    r*lambda/2 along e1 and -c*lambda/2 along e2. The spatial CRS has boresight +X = the array
    normal n, and Y = e2, Z = e1 keeps it right-handed: point = [0, -c*lambda/2, r*lambda/2].
    """
    half = wavelength_m / 2.0
    idx = np.arange(rows * cols)
    r, c = idx % rows, idx // rows
    return [{"point": [0.0, float(-ci * half), float(ri * half)]} for ri, ci in zip(r, c)]


def _schema_validate(metadata: dict, schema_file: str, where: str) -> None:
    """Run the sigmf package's validator; SigMFError with the validator's message."""
    import jsonschema
    from sigmf import schema as sigmf_schema
    from sigmf import validate as sigmf_validate

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            if schema_file == "meta":
                sigmf_validate.validate(_representative(metadata), sigmf_schema.get_schema())
            else:
                # The package's collection schema still describes core:streams as arrays,
                # while the SigMF 1.2 spec and the package's own SigMFCollection use objects
                # {name, hash}: validate everything else with the schema, streams here.
                info = dict(metadata.get("collection") or {})
                streams = info.pop("core:streams", [])
                jsonschema.validators.validate(
                    instance={**metadata, "collection": info},
                    schema=sigmf_schema.get_schema(schema_file=sigmf_schema.SCHEMA_COLLECTION),
                )
                _check_streams(streams, where)
    except jsonschema.exceptions.ValidationError as exc:
        path = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise SigMFError(
            f"{where}: not valid SigMF ({exc.message} at {path}); fix or re-record the file"
        ) from None
    except (RecursionError, TypeError, KeyError, ValueError) as exc:
        raise SigMFError(f"{where}: not valid SigMF ({type(exc).__name__}: {exc})") from None


def _representative(metadata: dict) -> dict:
    """Metadata with one annotation per distinct (key, value type) signature, after checking
    every annotation's numeric ranges and order against the schema directly.

    The schema constrains an annotation only through the types and numeric ranges of its
    ``core:`` keys (no patterns; formats are not enforced), so validating one annotation per
    signature plus these checks is equivalent to validating them all, at a fraction of the
    cost (jsonschema spends ~150 us per annotation: 0.3 s for 2000 coherence blocks).
    """
    annotations = metadata.get("annotations")
    if not isinstance(annotations, list) or len(annotations) <= 64:
        return metadata
    from sigmf import schema as sigmf_schema

    props = sigmf_schema.get_schema()["properties"]["annotations"]["items"]["properties"]
    ranges = {k: (v["minimum"], v["maximum"]) for k, v in props.items() if "minimum" in v}
    reps: dict[tuple, Any] = {}
    previous = -1
    for i, a in enumerate(annotations):
        if not isinstance(a, dict):
            reps.setdefault(("not an object", type(a).__name__), a)
            continue
        sig = tuple(sorted((k, type(v).__name__) for k, v in a.items()))
        reps.setdefault(sig, a)
        for key, (lo, hi) in ranges.items():
            v = a.get(key)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and not lo <= v <= hi:
                raise SigMFError(f"annotations/{i}/{key} = {v} is outside [{lo}, {hi}]")
        start = a.get("core:sample_start")
        if isinstance(start, int):
            if start < previous:
                raise SigMFError("annotations has incorrect sample start ordering")
            previous = start
    return {**metadata, "annotations": list(reps.values())}


def _check_streams(streams: Any, where: str) -> None:
    """core:streams of a collection: SigMF Recording Objects {name, hash (sha512 hex)}."""
    if not isinstance(streams, list):
        raise SigMFError(f"{where}: core:streams must be an array of {{name, hash}} objects")
    for i, s in enumerate(streams):
        ok = (
            isinstance(s, dict)
            and isinstance(s.get("name"), str)
            and isinstance(s.get("hash"), str)
            and len(s["hash"]) == 128
        )
        if not ok:
            raise SigMFError(
                f"{where}: core:streams[{i}] must be {{'name': str, 'hash': sha512 hex}}, got "
                f"{str(s)[:80]}"
            )


def _sha512_of(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha512()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _atomic_write_text(path: Path, text: str) -> None:
    """Write to a temporary file beside ``path``, fsync, then rename over it (atomic)."""
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _load_json(path: Path, what: str) -> Any:
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


# ----------------------------------------------------------------------------- annotations


@dataclass(frozen=True)
class Annotation:
    """One SigMF annotation: item range [start, start+length) and its non-core fields."""

    start: int
    length: int | None = None
    label: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def cb(self) -> int | None:
        """The coherence block index if this annotation marks a ``cb`` boundary."""
        value = self.fields.get(f"{EXTENSION}:cb")
        return int(value) if value is not None else None

    @property
    def truth(self) -> dict[str, Any]:
        """Per-block ground truth (``cfisac:truth``), empty if none."""
        return dict(self.fields.get(f"{EXTENSION}:truth") or {})

    @property
    def tag(self) -> dict[str, Any] | None:
        """``{key, type, value}`` of a recorded stream tag other than ``cb``, else None."""
        return self.fields.get(f"{EXTENSION}:tag")

    def to_sigmf(self) -> dict[str, Any]:
        out: dict[str, Any] = {"core:sample_start": int(self.start)}
        if self.length is not None:
            out["core:sample_count"] = int(self.length)
        if self.label is not None:
            out["core:label"] = str(self.label)
        out.update(jsonable(self.fields))
        return out


# ----------------------------------------------------------------------------- writer


class RecordingWriter:
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
        self.meta_path = _with_ext(self.base, META_EXT)
        self.data_path = _with_ext(self.base, DATA_EXT)
        self.partial_path = _with_ext(self.base, PARTIAL_EXT)
        self.incomplete_path = _with_ext(self.base, INCOMPLETE_EXT)
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
        extensions = [{"name": EXTENSION, "version": EXTENSION_VERSION, "optional": True}]
        glob: dict[str, Any] = {
            "core:datatype": DATATYPE,
            "core:version": _spec_version(),
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
            extensions.append({"name": "spatial", "version": SPATIAL_VERSION, "optional": True})
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
            _schema_validate(meta, "meta", str(self.meta_path))
            os.replace(self.partial_path, self.data_path)
            _atomic_write_text(self.meta_path, json.dumps(meta, indent=2) + "\n")
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
            _atomic_write_text(
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

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort(f"{exc_type.__name__}: {exc}")


def _spec_version() -> str:
    import sigmf

    return str(sigmf.__specification__)


def _package_version() -> str:
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


# ----------------------------------------------------------------------------- reader


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
        or float64 for real fields), from the layout recorded in the metadata."""
        layout = self.layout
        if layout is None:
            raise SigMFError(f"{self.meta_path}: no cfisac:stream.layout to unpack items with")
        items = np.asarray(items).reshape(len(items), -1)
        out, start = {}, 0
        for f in layout:
            shape = tuple(int(d) for d in f["shape"])
            size = int(np.prod(shape, dtype=np.int64))
            part = items[:, start : start + size]
            part = part.real.astype(np.float64) if f.get("real") else part.astype(np.complex128)
            out[str(f["name"])] = part.reshape((len(items),) + shape)
            start += size
        if start != items.shape[1]:
            raise SigMFError(
                f"{self.meta_path}: cfisac:stream.layout covers {start} values, items have "
                f"{items.shape[1]}"
            )
        return out

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


def _resolve_meta(path: str | os.PathLike) -> Path:
    base = base_name(path)
    meta = _with_ext(base, META_EXT)
    if meta.is_file():
        return meta
    incomplete = _with_ext(base, INCOMPLETE_EXT)
    partial = _with_ext(base, PARTIAL_EXT)
    if incomplete.is_file():
        try:
            reason = json.loads(incomplete.read_text()).get("reason", "unknown")
        except (OSError, ValueError, AttributeError):
            reason = "unknown (marker unreadable)"
        raise SigMFError(
            f"{meta}: the recording is incomplete ({reason}); only {partial.name} exists. "
            "Record it again (the partial samples are kept for inspection)"
        )
    if partial.is_file():
        raise SigMFError(
            f"{meta}: the recording is incomplete (its writer never finished: a killed flowgraph?); "
            f"only {partial.name} exists. Record it again"
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
    meta_path = _resolve_meta(path)
    try:
        return _read_recording(meta_path, verify_checksum, num_channels)
    except SigMFError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError) as exc:
        raise SigMFError(
            f"{meta_path}: metadata cannot be interpreted ({type(exc).__name__}: {exc}); the file "
            "is corrupt or not written for this reader"
        ) from None


def _read_recording(meta_path: Path, verify_checksum: bool, num_channels: int | None) -> Recording:
    meta = _load_json(meta_path, "metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("global"), dict):
        raise SigMFError(f"{meta_path}: metadata has no 'global' object; not a SigMF recording")
    meta.setdefault("captures", [])
    meta.setdefault("annotations", [])
    _schema_validate(meta, "meta", str(meta_path))
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
    _check_extension_version(meta_path, glob)
    _check_stream_fields(meta_path, glob)
    data_path = _data_path(meta_path, glob)
    try:
        size = data_path.stat().st_size
    except OSError:
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
        actual = _sha512_of(data_path)
        if actual != str(glob["core:sha512"]).lower():
            raise SigMFError(
                f"{data_path}: sha512 checksum mismatch (the samples changed or were cut short "
                "since recording); re-copy the data file, or skip the check "
                "(verify_checksum=False; cfisac replay --no-verify)"
            )
    annotations = [_annotation(meta_path, a, n_items) for a in meta["annotations"]]
    config = _config_from(meta_path, glob.get(f"{EXTENSION}:config"))
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


def _is_count(value: Any, minimum: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _check_stream_fields(meta_path: Path, glob: dict[str, Any]) -> None:
    """The ``cfisac:`` global fields readers act on have the documented types."""

    def bad(field: str, want: str) -> SigMFError:
        return SigMFError(
            f"{meta_path}: {EXTENSION}:{field} must be {want}; the metadata is corrupt"
        )

    stream = glob.get(f"{EXTENSION}:stream")
    if stream is not None:
        if not isinstance(stream, dict):
            raise bad("stream", "an object")
        if "kind" in stream and not isinstance(stream["kind"], str):
            raise bad("stream.kind", "a string")
        if "index" in stream and not _is_count(stream["index"]):
            raise bad("stream.index", "a non-negative integer")
        if "items_per_block" in stream and not _is_count(stream["items_per_block"], 1):
            raise bad("stream.items_per_block", "a positive integer")
        layout = stream.get("layout")
        if layout is not None and not (
            isinstance(layout, list)
            and all(
                isinstance(f, dict)
                and isinstance(f.get("name"), str)
                and isinstance(f.get("shape"), list)
                and all(_is_count(d) for d in f["shape"])
                and isinstance(f.get("real", False), bool)
                for f in layout
            )
        ):
            raise bad("stream.layout", "a list of {name, shape (integers), real}")
    shape = glob.get(f"{EXTENSION}:array_shape")
    if shape is not None and not (
        isinstance(shape, list) and len(shape) == 2 and all(_is_count(d, 1) for d in shape)
    ):
        raise bad("array_shape", "[rows, cols]")
    num_items = glob.get(f"{EXTENSION}:num_items")
    if num_items is not None and not _is_count(num_items):
        raise bad("num_items", "a non-negative integer")


def _check_extension_version(meta_path: Path, info: dict[str, Any]) -> None:
    for ext in info.get("core:extensions", []):
        if ext.get("name") == EXTENSION:
            version = str(ext.get("version", ""))
            major = version.split(".")[0]
            if major != EXTENSION_VERSION.split(".")[0]:
                raise SigMFError(
                    f"{meta_path}: cfisac extension version {version!r} is not supported (this "
                    f"reader knows {EXTENSION_VERSION}); update gr-cfisac"
                )


def _data_path(meta_path: Path, glob: dict[str, Any]) -> Path:
    dataset = glob.get("core:dataset")
    if dataset:
        candidate = meta_path.parent / str(dataset)
        if candidate.parent != meta_path.parent:
            raise SigMFError(f"{meta_path}: core:dataset must name a file beside the metadata")
        return candidate
    return _with_ext(base_name(meta_path), DATA_EXT)


def _annotation(meta_path: Path, raw: dict[str, Any], n_items: int) -> Annotation:
    start = raw["core:sample_start"]
    length = raw.get("core:sample_count")
    if start > n_items or (length is not None and start + length > n_items):
        raise SigMFError(
            f"{meta_path}: annotation at item {start} (+{length}) lies beyond the data's "
            f"{n_items} items: the data file is truncated or belongs to another recording"
        )
    fields = {k: v for k, v in raw.items() if not k.startswith("core:")}
    cb = fields.get(f"{EXTENSION}:cb")
    if cb is not None and (isinstance(cb, bool) or not isinstance(cb, int) or cb < 0):
        raise SigMFError(
            f"{meta_path}: annotation at item {start} has cfisac:cb={cb!r}; it must be a "
            "non-negative integer (the coherence block index)"
        )
    truth = fields.get(f"{EXTENSION}:truth")
    if truth is not None and not isinstance(truth, dict):
        raise SigMFError(f"{meta_path}: annotation at item {start}: cfisac:truth must be an object")
    tag = fields.get(f"{EXTENSION}:tag")
    if tag is not None and not (isinstance(tag, dict) and isinstance(tag.get("key"), str)):
        raise SigMFError(
            f"{meta_path}: annotation at item {start}: cfisac:tag must be an object with a "
            "string 'key'"
        )
    label = raw.get("core:label")
    return Annotation(int(start), None if length is None else int(length), label, fields)


def _config_from(where: Path, data: Any) -> SystemConfig | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise SigMFError(f"{where}: cfisac:config must be an object (SystemConfig.to_dict())")
    try:
        return SystemConfig.from_dict(data)
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:
        raise SigMFError(f"{where}: cfisac:config is not a valid SystemConfig ({exc})") from None


# ----------------------------------------------------------------------------- collections


@dataclass(frozen=True)
class Collection:
    """Recordings of one run: per-AP streams plus collection-level ``cfisac:`` fields."""

    path: Path | None
    info: dict[str, Any]
    recordings: list[Recording]

    @property
    def config(self) -> SystemConfig | None:
        """The collection's SystemConfig, else the first recording's, else None."""
        cfg = _config_from(self.path or Path("?"), self.info.get(f"{EXTENSION}:config"))
        if cfg is not None:
            return cfg
        return next((r.config for r in self.recordings if r.config is not None), None)

    @property
    def geometry(self) -> dict[str, Any]:
        """``cfisac:geometry`` (AP positions and frames), {} if absent."""
        g = self.info.get(f"{EXTENSION}:geometry")
        if not g:
            g = next(
                (
                    r.global_info.get(f"{EXTENSION}:geometry")
                    for r in self.recordings
                    if r.global_info.get(f"{EXTENSION}:geometry")
                ),
                {},
            )
        if not isinstance(g, dict):
            raise SigMFError(
                f"{self.path or 'capture'}: {EXTENSION}:geometry must be an object (AP positions "
                "and frames); the metadata is corrupt"
            )
        return dict(g)

    def by_kind(self, kind: str) -> list[Recording]:
        """Recordings of one stream kind ordered by AP index (``cfisac:stream.index``)."""
        found = [r for r in self.recordings if r.kind == kind]
        return sorted(found, key=lambda r: int(r.stream.get("index", 0)))


def write_collection(
    path: str | os.PathLike,
    recordings: Iterable[str | os.PathLike],
    *,
    config: SystemConfig | None = None,
    geometry: dict[str, Any] | None = None,
    description: str = "",
    extra: dict[str, Any] | None = None,
) -> Path:
    """Group finished recordings (beside ``path``) into NAME.sigmf-collection, atomically."""
    coll_path = _with_ext(base_name(path), COLLECTION_EXT)
    streams = []
    for rec in recordings:
        meta = _with_ext(base_name(rec), META_EXT)
        if not meta.is_file():
            raise SigMFError(f"{meta}: cannot collect a recording that is not finished")
        if meta.parent.resolve() != coll_path.parent.resolve():
            raise SigMFError(f"{meta}: collection members must sit beside {coll_path.name}")
        streams.append({"name": base_name(meta).name, "hash": _sha512_of(meta)})
    info: dict[str, Any] = {
        "core:version": _spec_version(),
        "core:extensions": [{"name": EXTENSION, "version": EXTENSION_VERSION, "optional": True}],
        "core:streams": streams,
    }
    if description:
        info["core:description"] = description
    if config is not None:
        info[f"{EXTENSION}:config"] = config.to_dict()
    if geometry:
        info[f"{EXTENSION}:geometry"] = jsonable(geometry)
    info.update(jsonable(extra or {}))
    meta = {"collection": info}
    _schema_validate(meta, "collection", str(coll_path))
    _atomic_write_text(coll_path, json.dumps(meta, indent=2) + "\n")
    return coll_path


def read_collection(path: str | os.PathLike, *, verify_checksum: bool = True) -> Collection:
    """Read NAME.sigmf-collection and every recording it lists (hashes checked)."""
    coll_path = _with_ext(base_name(path), COLLECTION_EXT)
    if not coll_path.is_file():
        _missing_collection(coll_path)
    try:
        meta = _load_json(coll_path, "collection")
        if not isinstance(meta, dict) or not isinstance(meta.get("collection"), dict):
            raise SigMFError(f"{coll_path}: no 'collection' object; not a SigMF collection")
        _schema_validate(meta, "collection", str(coll_path))
        info = meta["collection"]
        _check_extension_version(coll_path, info)
        recordings = []
        for stream in info.get("core:streams", []):
            if not isinstance(stream, dict) or not isinstance(stream.get("name"), str):
                raise SigMFError(f"{coll_path}: core:streams entries need a string 'name'")
            name = stream["name"]
            if "/" in name or "\\" in name or name in ("", ".", ".."):
                raise SigMFError(f"{coll_path}: stream name {name!r} must be a plain file name")
            member = coll_path.parent / (name + META_EXT)
            if not member.is_file():
                _resolve_meta(member)  # raises incomplete / missing
            if verify_checksum and stream.get("hash") and _sha512_of(member) != stream["hash"]:
                raise SigMFError(
                    f"{member}: metadata sha512 does not match the collection's hash (edited or "
                    "replaced since recording); re-copy the capture"
                )
            recordings.append(read_recording(member, verify_checksum=verify_checksum))
        return Collection(coll_path, info, recordings)
    except SigMFError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError) as exc:
        raise SigMFError(
            f"{coll_path}: collection cannot be interpreted ({type(exc).__name__}: {exc})"
        ) from None


def _unfinished_members(coll_path: Path) -> list[str]:
    """Names of the unfinished recordings (.partial, .sigmf-incomplete) of a capture."""
    prefix = glob_escape(base_name(coll_path).name + "-")
    return sorted(
        f.name
        for ext in (PARTIAL_EXT, INCOMPLETE_EXT)
        for f in coll_path.parent.glob(prefix + "*" + ext)
    )


def _missing_collection(coll_path: Path) -> None:
    """SigMFError for an absent collection: incomplete (its recordings were never finished:
    a killed flowgraph) when unfinished members lie beside it, else not found."""
    unfinished = _unfinished_members(coll_path)
    if unfinished:
        more = f" and {len(unfinished) - 3} more" if len(unfinished) > 3 else ""
        raise SigMFError(
            f"{coll_path}: the capture is incomplete (its recorder never finished: a killed "
            f"flowgraph or a failed write?); unfinished: {', '.join(unfinished[:3])}{more}. "
            "Record it again"
        )
    raise SigMFError(f"{coll_path}: no such SigMF collection; check the path")


def glob_escape(text: str) -> str:
    """``text`` with glob metacharacters escaped (a capture name is a plain file name)."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def read_capture(path: str | os.PathLike, *, verify_checksum: bool = True) -> Collection:
    """A capture from a collection file, or from one recording's metadata: a recording naming
    its collection (``core:collection``) that lies beside it opens the whole collection;
    otherwise the recording alone forms a one-stream capture. A bare NAME opens
    NAME.sigmf-collection when there is no NAME.sigmf-meta."""
    p = Path(path)
    if p.name.endswith(COLLECTION_EXT):
        return read_collection(p, verify_checksum=verify_checksum)
    if p == base_name(p) and not _with_ext(p, META_EXT).exists():
        coll = _with_ext(p, COLLECTION_EXT)
        if coll.exists() or _unfinished_members(coll):
            return read_collection(coll, verify_checksum=verify_checksum)
    rec = read_recording(p, verify_checksum=verify_checksum)
    coll_name = rec.global_info.get("core:collection")
    if isinstance(coll_name, str) and coll_name:
        coll = _with_ext(rec.meta_path.parent / base_name(coll_name).name, COLLECTION_EXT)
        if coll.is_file():
            return read_collection(coll, verify_checksum=verify_checksum)
    return Collection(None, {}, [rec])


# ----------------------------------------------------------------------------- capture writer


class CaptureWriter:
    """Several recordings of one run written side by side and grouped in a collection.

    ``stream(name, num_channels, ...)`` opens a :class:`RecordingWriter` named
    ``<directory>/<capture>-<name>``; ``close()`` finishes them all and writes the collection
    (only if every recording finished: a failed one leaves the capture incomplete).
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        name: str,
        config: SystemConfig | None = None,
        *,
        geometry: dict[str, Any] | None = None,
        description: str = "",
        overwrite: bool = False,
    ) -> None:
        if not name or "/" in name:
            raise ValueError(f"CaptureWriter: name must be a plain file name, got {name!r}")
        self.directory = Path(directory)
        self.name = name
        self.config = config
        self.geometry = geometry
        self.description = description
        self.overwrite = overwrite
        self.writers: dict[str, RecordingWriter] = {}
        self.path = _with_ext(self.directory / name, COLLECTION_EXT)
        if self.path.exists() and not overwrite:
            raise SigMFError(f"{self.path}: a capture with this name exists; choose another name")

    def stream(self, stream_name: str, num_channels: int, **kwargs: Any) -> RecordingWriter:
        if stream_name in self.writers:
            raise ValueError(f"CaptureWriter.stream: {stream_name!r} is already open")
        kwargs.setdefault("config", self.config)
        kwargs.setdefault("overwrite", self.overwrite)
        kwargs.setdefault("description", self.description)
        writer = RecordingWriter(
            self.directory / f"{self.name}-{stream_name}",
            num_channels,
            collection=self.name,
            **kwargs,
        )
        self.writers[stream_name] = writer
        return writer

    def close(self) -> Path:
        for w in self.writers.values():
            w.close()
        return write_collection(
            self.path,
            [w.meta_path for w in self.writers.values()],
            config=self.config,
            geometry=self.geometry,
            description=self.description,
        )

    def abort(self, reason: str = "aborted") -> None:
        for w in self.writers.values():
            w.abort(reason)

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort(f"{exc_type.__name__}: {exc}")


def geometry_dict(geom: Any) -> dict[str, Any]:
    """``cfisac:geometry`` of a :class:`gr_cfisac.geometry.Geometry` (static AP part)."""
    return {
        "tap_pos_m": jsonable(geom.tap_pos),
        "rap_pos_m": jsonable(geom.rap_pos),
        "tap_frame": jsonable(geom.tap_frame),
        "rap_frame": jsonable(geom.rap_frame),
    }
