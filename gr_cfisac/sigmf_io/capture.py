"""Writing a capture: the recordings of one run (one per access point or recorded stream)
side by side, grouped in a collection once every one of them has finished."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..config import SystemConfig
from .collection import write_collection
from .conventions import COLLECTION_EXT, INTERRUPTED, SigMFError, check_name_length, with_ext
from .writer import Finishing, RecordingWriter


class CaptureWriter(Finishing):
    """Several recordings of one run written side by side and grouped in a collection.

    ``stream(name, num_channels, ...)`` opens a :class:`RecordingWriter` named
    ``<directory>/<capture>-<name>``; ``checkpoint()`` checkpoints them all (call it after each
    batch of whole blocks); ``close()`` finishes them all and writes the collection (only if
    every recording finished: a failed one leaves the capture incomplete).
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
        self.path = with_ext(self.directory / name, COLLECTION_EXT)
        check_name_length(self.directory / name)
        if self.path.exists() and not overwrite:
            raise SigMFError(f"{self.path}: a capture with this name exists; choose another name")

    def stream(self, stream_name: str, num_channels: int, **kwargs: Any) -> RecordingWriter:
        """Open recording ``<capture>-<stream_name>``; kwargs go to :class:`RecordingWriter`."""
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

    def checkpoint(self, sync: bool = False) -> None:
        """Checkpoint every recording (RecordingWriter.checkpoint)."""
        for w in self.writers.values():
            w.checkpoint(sync)

    def close(self, interrupted: str | None = None) -> Path:
        """Finish every recording, then write the collection (both marked
        ``cfisac:interrupted`` with this reason if given). -> collection path."""
        for w in self.writers.values():
            w.close(interrupted)
        return write_collection(
            self.path,
            [w.meta_path for w in self.writers.values()],
            config=self.config,
            geometry=self.geometry,
            description=self.description,
            extra=None if interrupted is None else {INTERRUPTED: {"reason": str(interrupted)}},
        )

    def abort(self, reason: str = "aborted") -> None:
        """Abort every unfinished recording (each marked incomplete); no collection is written."""
        for w in self.writers.values():
            w.abort(reason)
