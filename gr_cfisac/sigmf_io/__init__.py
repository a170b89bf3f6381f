"""SigMF recording and replay with the declared, versioned ``cfisac:`` extension.

Layout (docs/sigmf_extension.md has every field): **one recording per access point (or per
recorded stream)**, its antennas interleaved as ``core:num_channels`` channels (item ``n`` of an
MR-antenna RAP port is samples ``n*MR ... n*MR+MR-1``, antenna index ``r + rows*c`` as in
eq 2), ``core:datatype`` ``cf32_le``, ``core:sha512`` always written; the recordings of one run
are grouped in a SigMF collection (``NAME.sigmf-collection``). Each recording also carries the
``spatial`` extension's element geometry of its array.

The ``cfisac:`` extension holds the scenario recorded (``cfisac:scenario``, a precoder-registry
scenario name; a capture without one reads as ``cellfree``), the SystemConfig
(``SystemConfig.to_dict``), what the stream carries and which AP it belongs to, and per-block ground truth in annotations. Stream tags and
annotations map both ways: a ``cb`` tag (coherence block index) becomes an annotation with
``core:label = "cb"``, ``cfisac:cb`` and ``core:sample_count`` = the block's items; any other tag
becomes an annotation with ``cfisac:tag = {key, type, value}`` (the value JSON-encoded by the
caller; the GNU Radio blocks convert PMTs).

Complete, or clearly incomplete and salvageable: samples are written to
``NAME.sigmf-data.partial`` and annotations to the journal ``NAME.sigmf-journal`` at every
checkpoint; ``close()`` writes the metadata (streamed from the journal, validated, atomically
renamed into place), then renames the samples and drops the journal. A killed flowgraph leaves
``.partial`` files and journals and no ``.sigmf-meta``; a failed write (full disk) also leaves
``NAME.sigmf-incomplete`` saying why. Readers report both as incomplete, and
:func:`salvage` (``cfisac salvage``) rebuilds every whole block checkpointed before the stop.
A capture stopped before its planned end is marked ``cfisac:interrupted``.

Every problem reading a file raises :class:`SigMFError` (a ValueError) with one message naming
the file, what is wrong and the fix. Only numpy, json, the ``sigmf`` package and the standard
library are used here (numerical-core rule: no gnuradio).

Modules, one job each: ``conventions`` (file names, datatype, versions, SigMFError),
``extension`` (the ``cfisac:`` / ``spatial`` values written: annotations, JSON encoding),
``validate`` (the sigmf schema and the ``cfisac:`` fields checked on reading), ``files``
(sha512, atomic writes, bounded JSON loads), ``writer`` (:class:`RecordingWriter`),
``reader`` (:class:`Recording`), ``collection`` (collections, :func:`read_capture`) and
``capture`` (:class:`CaptureWriter`), ``journal`` (the recording journal), ``metafile``
(metadata streamed to disk) and ``salvage`` (:func:`salvage`). Import from
``gr_cfisac.sigmf_io`` itself.
"""

from .capture import CaptureWriter
from .collection import Collection, read_capture, read_collection, write_collection
from .conventions import (
    CAPTURE_JOURNAL_EXT,
    COLLECTION_EXT,
    DATA_EXT,
    DATATYPE,
    DEFAULT_SCENARIO,
    EXTENSION,
    EXTENSION_VERSION,
    INCOMPLETE_EXT,
    INTERRUPTED,
    ITEM_DTYPE,
    JOURNAL_EXT,
    KNOWN_KINDS,
    MAX_META_BYTES,
    META_EXT,
    PARTIAL_EXT,
    SCENARIO,
    SPATIAL_VERSION,
    SigMFError,
    base_name,
    glob_escape,
)
from .extension import Annotation, geometry_dict, jsonable, spatial_element_geometry
from .reader import Recording, read_recording
from .salvage import SalvageReport, salvage
from .writer import RecordingWriter, write_recording

__all__ = [
    "CAPTURE_JOURNAL_EXT",
    "COLLECTION_EXT",
    "DATATYPE",
    "DATA_EXT",
    "DEFAULT_SCENARIO",
    "EXTENSION",
    "EXTENSION_VERSION",
    "INCOMPLETE_EXT",
    "INTERRUPTED",
    "ITEM_DTYPE",
    "JOURNAL_EXT",
    "KNOWN_KINDS",
    "MAX_META_BYTES",
    "META_EXT",
    "PARTIAL_EXT",
    "SCENARIO",
    "SPATIAL_VERSION",
    "Annotation",
    "CaptureWriter",
    "Collection",
    "Recording",
    "RecordingWriter",
    "SalvageReport",
    "SigMFError",
    "base_name",
    "geometry_dict",
    "glob_escape",
    "jsonable",
    "read_capture",
    "read_collection",
    "read_recording",
    "salvage",
    "spatial_element_geometry",
    "write_collection",
    "write_recording",
]
