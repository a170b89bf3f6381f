"""Writing a capture: the recordings of one run (one per access point or recorded stream)
side by side, grouped in a collection once every one of them has finished; until then the
capture journal ``NAME.sigmf-collection.journal`` holds what the collection will (for
``cfisac salvage``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..config import SystemConfig
from .collection import write_collection
from .conventions import (
    CAPTURE_JOURNAL_EXT,
    COLLECTION_EXT,
    DEFAULT_SCENARIO,
    INTERRUPTED,
    SigMFError,
    check_name_length,
    check_scenario_name,
    with_ext,
)
from .extension import jsonable
from .files import atomic_write_text
from .writer import Finishing, RecordingWriter


class CaptureWriter(Finishing):
    """Several recordings of one run written side by side and grouped in a collection.

    ``stream(name, num_channels, ...)`` opens a :class:`RecordingWriter` named
    ``<directory>/<capture>-<name>``; ``checkpoint()`` checkpoints them all (call it after each
    batch of whole blocks); ``close()`` finishes them all and writes the collection (only if
    every recording finished: a failed one leaves the capture incomplete). ``scenario`` (the
    scenario recorded, ``cfisac:scenario``) goes into every recording and the collection.
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
        scenario: str = DEFAULT_SCENARIO,
    ) -> None:
        if not name or "/" in name:
            raise ValueError(f"CaptureWriter: name must be a plain file name, got {name!r}")
        self.directory = Path(directory)
        self.name = name
        self.config = config
        self.scenario = check_scenario_name(scenario, "CaptureWriter")
        self.geometry = geometry
        self.description = description
        self.overwrite = overwrite
        self.writers: dict[str, RecordingWriter] = {}
        self.path = with_ext(self.directory / name, COLLECTION_EXT)
        self.journal_path = with_ext(self.directory / name, CAPTURE_JOURNAL_EXT)
        check_name_length(self.directory / name)
        if self.path.exists() and not overwrite:
            raise SigMFError(f"{self.path}: a capture with this name exists; choose another name")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self.path.unlink(missing_ok=True)  # overwrite: the old capture goes
            self._write_journal()
        except OSError as exc:
            raise SigMFError(
                f"{self.journal_path}: cannot create the capture ({exc.strerror or exc}); check "
                "the folder, its permissions and free space"
            ) from None

    def stream(self, stream_name: str, num_channels: int, **kwargs: Any) -> RecordingWriter:
        """Open recording ``<capture>-<stream_name>``; kwargs go to :class:`RecordingWriter`."""
        if stream_name in self.writers:
            raise ValueError(f"CaptureWriter.stream: {stream_name!r} is already open")
        kwargs.setdefault("config", self.config)
        kwargs.setdefault("scenario", self.scenario)
        kwargs.setdefault("overwrite", self.overwrite)
        kwargs.setdefault("description", self.description)
        writer = RecordingWriter(
            self.directory / f"{self.name}-{stream_name}",
            num_channels,
            collection=self.name,
            **kwargs,
        )
        self.writers[stream_name] = writer
        try:
            self._write_journal()
        except OSError as exc:
            writer.abort(f"cannot update the capture journal: {exc}")
            raise SigMFError(f"{self.journal_path}: cannot be written ({exc.strerror})") from None
        return writer

    def _write_journal(self) -> None:
        """What the collection will hold, for ``cfisac salvage`` if the recorder dies."""
        info = {
            "cfisac_capture_journal": 1,
            "config": None if self.config is None else self.config.to_dict(),
            "scenario": self.scenario,
            "geometry": jsonable(self.geometry or {}),
            "description": self.description,
            "streams": [w.base.name for w in self.writers.values()],
        }
        atomic_write_text(self.journal_path, json.dumps(info) + "\n")

    def checkpoint(self, sync: bool = False) -> None:
        """Checkpoint every recording (RecordingWriter.checkpoint)."""
        for w in self.writers.values():
            w.checkpoint(sync)

    def close(self, interrupted: str | None = None) -> Path:
        """Finish every recording, then write the collection (both marked
        ``cfisac:interrupted`` with this reason if given). -> collection path."""
        for w in self.writers.values():
            w.close(interrupted)
        path = write_collection(
            self.path,
            [w.meta_path for w in self.writers.values()],
            config=self.config,
            geometry=self.geometry,
            description=self.description,
            scenario=self.scenario,
            extra=None if interrupted is None else {INTERRUPTED: {"reason": str(interrupted)}},
        )
        self.journal_path.unlink(missing_ok=True)
        return path

    def abort(self, reason: str = "aborted") -> None:
        """Abort every unfinished recording (each marked incomplete); no collection is written."""
        for w in self.writers.values():
            w.abort(reason)
