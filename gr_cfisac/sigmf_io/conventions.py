"""Names every part of the SigMF I/O agrees on: file extensions, datatype, versions, stream
kinds, and its one error type :class:`SigMFError`.

A finished recording NAME is ``NAME.sigmf-meta`` + ``NAME.sigmf-data`` (``cf32_le``); an
unfinished one is ``NAME.sigmf-data.partial`` with its journal ``NAME.sigmf-journal`` (and
``NAME.sigmf-incomplete`` saying why it stopped); the recordings of one run are grouped in
``NAME.sigmf-collection`` (docs/sigmf_extension.md).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

#: The extension namespace and its version (semantic: a reader accepts the same major version).
EXTENSION = "cfisac"
EXTENSION_VERSION = "1.1.0"  # 1.1.0 added cfisac:scenario
#: The SigMF ``spatial`` extension version whose fields we write.
SPATIAL_VERSION = "1.1.0"
DATATYPE = "cf32_le"
ITEM_DTYPE = np.dtype("<c8")
META_EXT = ".sigmf-meta"
DATA_EXT = ".sigmf-data"
COLLECTION_EXT = ".sigmf-collection"
PARTIAL_EXT = ".sigmf-data.partial"
INCOMPLETE_EXT = ".sigmf-incomplete"
JOURNAL_EXT = ".sigmf-journal"
#: What a capture's collection will hold (config, geometry, members), written when it starts.
CAPTURE_JOURNAL_EXT = ".sigmf-collection.journal"
#: Longest file name (bytes) most file systems take, and what a recording's NAME may use of it
#: (the rest is room for the longest extension plus a temporary suffix).
MAX_FILE_NAME = 255
MAX_BASE_NAME = MAX_FILE_NAME - 32
#: Global (and collection) field marking a capture that stopped before its planned end.
INTERRUPTED = "cfisac:interrupted"
#: Global (and collection) field naming the scenario recorded (the precoder registry's names).
SCENARIO = "cfisac:scenario"
#: The scenario of a capture that names none (foreign captures, captures made before the field):
#: the cell-free scenario of DESIGN.md, the registry's default.
DEFAULT_SCENARIO = "cellfree"
#: Largest coherence block index (``cfisac:cb``): block indices are int64 in the core.
MAX_CB = 2**63 - 1
#: Integers in metadata longer than this many digits are refused (uint64 has 20).
MAX_INT_DIGITS = 20
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


def check_scenario_name(scenario: object, who: str) -> str:
    """``scenario`` if it is a non-empty string, else ValueError naming ``who``'s parameter."""
    if not isinstance(scenario, str) or not scenario.strip():
        raise ValueError(
            f"{who}: scenario must be a scenario name such as {DEFAULT_SCENARIO!r}, got "
            f"{scenario!r}"
        )
    return scenario


class SigMFError(ValueError):
    """A SigMF file that cannot be written or read as asked: corrupt, truncated, incomplete,
    mismatched (datatype, channel count, checksum) or not valid SigMF. The message names the
    file, what is wrong and how to fix it."""


#: What a malformed metadata value raises when it is interpreted (turned into a SigMFError).
MALFORMED = (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError)


def base_name(path: str | os.PathLike) -> Path:
    """NAME for NAME, NAME.sigmf-meta, NAME.sigmf-data, NAME.sigmf-collection or NAME.partial."""
    p = Path(path)
    exts = (PARTIAL_EXT, META_EXT, DATA_EXT, CAPTURE_JOURNAL_EXT, COLLECTION_EXT, INCOMPLETE_EXT)
    exts += (JOURNAL_EXT, ".sigmf")
    for ext in exts:
        if p.name.endswith(ext):
            return p.with_name(p.name[: -len(ext)])
    return p


def with_ext(base: Path, ext: str) -> Path:
    """NAME + ext (NAME may contain dots)."""
    return base.with_name(base.name + ext)


def check_name_length(base: Path) -> None:
    """SigMFError unless NAME leaves room for every file a recording or capture writes."""
    size = len(os.fsencode(base.name))
    if size > MAX_BASE_NAME:
        raise SigMFError(
            f"{base}: the name is {size} bytes; recording and capture names may have at most "
            f"{MAX_BASE_NAME} (file names are limited to {MAX_FILE_NAME} bytes with their "
            "SigMF extensions); choose a shorter name"
        )


def glob_escape(text: str) -> str:
    """``text`` with glob metacharacters escaped (a capture name is a plain file name)."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def spec_version() -> str:
    """The SigMF specification version written (the ``sigmf`` package's)."""
    import sigmf

    return str(sigmf.__specification__)
