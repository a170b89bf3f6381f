"""SigMF collections: the recordings of one run grouped in ``NAME.sigmf-collection``, each
member listed with the sha512 of its metadata, plus collection-level ``cfisac:`` fields
(SystemConfig, AP geometry, scenario). :func:`read_capture` opens a capture from its collection or from
any one of its recordings; a capture whose recorder never finished reads as incomplete."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import SystemConfig
from .conventions import (
    COLLECTION_EXT,
    DEFAULT_SCENARIO,
    EXTENSION,
    INCOMPLETE_EXT,
    INTERRUPTED,
    JOURNAL_EXT,
    MALFORMED,
    MAX_FILE_NAME,
    META_EXT,
    PARTIAL_EXT,
    SCENARIO,
    SigMFError,
    base_name,
    check_name_length,
    check_scenario_name,
    glob_escape,
    spec_version,
    with_ext,
)
from .extension import declaration, jsonable
from .files import atomic_write_text, is_file, load_json, sha512_of
from .reader import Recording, read_recording, resolve_meta
from .validate import check_extension_version, config_from, schema_validate


@dataclass(frozen=True)
class Collection:
    """Recordings of one run: per-AP streams plus collection-level ``cfisac:`` fields."""

    path: Path | None
    info: dict[str, Any]
    recordings: list[Recording]

    @property
    def config(self) -> SystemConfig | None:
        """The collection's SystemConfig, else the first recording's, else None."""
        cfg = config_from(self.path or Path("?"), self.info.get(f"{EXTENSION}:config"))
        if cfg is not None:
            return cfg
        return next((r.config for r in self.recordings if r.config is not None), None)

    @property
    def scenario(self) -> str:
        """The scenario recorded (``cfisac:scenario``): the collection's, else its recordings'
        (which must agree), else DEFAULT_SCENARIO (a foreign capture)."""
        where = self.path or "capture"
        value = self.info.get(SCENARIO)
        if value is None:
            named = {r.scenario for r in self.recordings if SCENARIO in r.global_info}
            if len(named) > 1:
                raise SigMFError(
                    f"{where}: its recordings name different scenarios {sorted(named)} "
                    f"({SCENARIO}); a capture records one scenario: the metadata is corrupt"
                )
            return named.pop() if named else DEFAULT_SCENARIO
        if not isinstance(value, str) or not value:
            raise SigMFError(
                f"{where}: {SCENARIO} must be a scenario name; the metadata is corrupt"
            )
        return value

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
    scenario: str | None = None,
) -> Path:
    """Group finished recordings (beside ``path``) into NAME.sigmf-collection, atomically
    (``scenario``: the scenario recorded, ``cfisac:scenario``)."""
    coll_path = with_ext(base_name(path), COLLECTION_EXT)
    streams = []
    for rec in recordings:
        meta = with_ext(base_name(rec), META_EXT)
        if not meta.is_file():
            raise SigMFError(f"{meta}: cannot collect a recording that is not finished")
        if meta.parent.resolve() != coll_path.parent.resolve():
            raise SigMFError(f"{meta}: collection members must sit beside {coll_path.name}")
        streams.append({"name": base_name(meta).name, "hash": sha512_of(meta)})
    info: dict[str, Any] = {
        "core:version": spec_version(),
        "core:extensions": [declaration()],
        "core:streams": streams,
    }
    if description:
        info["core:description"] = description
    if scenario is not None:
        info[SCENARIO] = check_scenario_name(scenario, "write_collection")
    if config is not None:
        info[f"{EXTENSION}:config"] = config.to_dict()
    if geometry:
        info[f"{EXTENSION}:geometry"] = jsonable(geometry)
    info.update(jsonable(extra or {}))
    meta = {"collection": info}
    schema_validate(meta, "collection", str(coll_path))
    atomic_write_text(coll_path, json.dumps(meta, indent=2) + "\n")
    return coll_path


def read_collection(path: str | os.PathLike, *, verify_checksum: bool = True) -> Collection:
    """Read NAME.sigmf-collection and every recording it lists (hashes checked)."""
    coll_path = with_ext(base_name(path), COLLECTION_EXT)
    check_name_length(base_name(coll_path))
    if not is_file(coll_path):
        _missing_collection(coll_path)
    try:
        meta = load_json(coll_path, "collection")
        if not isinstance(meta, dict) or not isinstance(meta.get("collection"), dict):
            raise SigMFError(f"{coll_path}: no 'collection' object; not a SigMF collection")
        schema_validate(meta, "collection", str(coll_path))
        info = meta["collection"]
        check_extension_version(coll_path, info)
        mark = info.get(INTERRUPTED)
        if mark is not None and not (
            isinstance(mark, dict) and isinstance(mark.get("reason"), str)
        ):
            raise SigMFError(f"{coll_path}: {INTERRUPTED} must be an object with a string 'reason'")
        streams = info.get("core:streams", [])
        _check_stream_names(coll_path, streams)
        recordings = []
        for stream in streams:
            member = resolve_meta(coll_path.parent / (stream["name"] + META_EXT))
            if verify_checksum and stream.get("hash") and sha512_of(member) != stream["hash"]:
                raise SigMFError(
                    f"{member}: metadata sha512 does not match the collection's hash (edited or "
                    "replaced since recording); re-copy the capture"
                )
            recordings.append(read_recording(member, verify_checksum=verify_checksum))
        return Collection(coll_path, info, recordings)
    except SigMFError:
        raise
    except MALFORMED as exc:
        raise SigMFError(
            f"{coll_path}: collection cannot be interpreted ({type(exc).__name__}: {exc})"
        ) from None


def _check_stream_names(coll_path: Path, streams: list[Any]) -> None:
    """Every core:streams entry names a recording beside the collection, once (checked before
    any member is read: a list repeating its members is refused at once, not re-verified)."""
    seen: dict[str, int] = {}
    for i, stream in enumerate(streams):
        if not isinstance(stream, dict) or not isinstance(stream.get("name"), str):
            raise SigMFError(f"{coll_path}: core:streams[{i}] needs a string 'name'")
        name = stream["name"]
        if "/" in name or "\\" in name or name in ("", ".", ".."):
            raise SigMFError(
                f"{coll_path}: core:streams[{i}].name {name[:80]!r} must be a plain file name"
            )
        size = len(os.fsencode(name + META_EXT))
        if size > MAX_FILE_NAME:
            raise SigMFError(
                f"{coll_path}: core:streams[{i}].name is {len(name)} characters ({name[:40]!r}...); "
                f"a member file name has at most {MAX_FILE_NAME} bytes: the collection is corrupt"
            )
        if name in seen:
            raise SigMFError(
                f"{coll_path}: core:streams[{i}] lists {name!r} again (first at "
                f"core:streams[{seen[name]}]); each recording may be listed once: the "
                "collection is corrupt"
            )
        seen[name] = i


def _unfinished_members(coll_path: Path) -> list[str]:
    """Names of the unfinished recordings (.partial, .sigmf-incomplete, journals) of a capture."""
    prefix = glob_escape(base_name(coll_path).name + "-")
    return sorted(
        f.name
        for ext in (PARTIAL_EXT, INCOMPLETE_EXT, JOURNAL_EXT)
        for f in coll_path.parent.glob(prefix + "*" + ext)
    )


def _missing_collection(coll_path: Path) -> None:
    """SigMFError for an absent collection: incomplete (its recordings were never finished:
    a killed flowgraph) when unfinished members lie beside it, else not found."""
    unfinished = _unfinished_members(coll_path)
    if unfinished:
        more = f" and {len(unfinished) - 3} more" if len(unfinished) > 3 else ""
        raise SigMFError(
            f"{coll_path}: incomplete/interrupted capture: its recorder never finished (a killed "
            f"flowgraph or a failed write?); unfinished: {', '.join(unfinished[:3])}{more}. "
            f"`cfisac salvage {base_name(coll_path)}` rebuilds its whole blocks"
        )
    raise SigMFError(f"{coll_path}: no such SigMF collection; check the path")


def read_capture(path: str | os.PathLike, *, verify_checksum: bool = True) -> Collection:
    """A capture from a collection file, or from one recording's metadata: a recording naming
    its collection (``core:collection``) that lies beside it opens the whole collection;
    otherwise the recording alone forms a one-stream capture. A bare NAME opens
    NAME.sigmf-collection when there is no NAME.sigmf-meta."""
    p = Path(path)
    if len(os.fsencode(p.name)) > MAX_FILE_NAME:
        raise SigMFError(
            f"{str(p)[:120]}...: the file name is longer than the {MAX_FILE_NAME} bytes file "
            "systems allow; no such capture can exist: check the name"
        )
    if p.name.endswith(COLLECTION_EXT):
        return read_collection(p, verify_checksum=verify_checksum)
    if p == base_name(p) and not with_ext(p, META_EXT).exists():
        coll = with_ext(p, COLLECTION_EXT)
        if coll.exists() or _unfinished_members(coll):
            return read_collection(coll, verify_checksum=verify_checksum)
    rec = read_recording(p, verify_checksum=verify_checksum)
    coll_name = rec.global_info.get("core:collection")
    if isinstance(coll_name, str) and coll_name:
        coll = with_ext(rec.meta_path.parent / base_name(coll_name).name, COLLECTION_EXT)
        if coll.is_file():
            return read_collection(coll, verify_checksum=verify_checksum)
    return Collection(None, {}, [rec])
