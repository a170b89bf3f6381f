"""Writing a ``.sigmf-meta`` file whose annotations are streamed (from a journal), validated as
they pass (:class:`~gr_cfisac.sigmf_io.validate.AnnotationChecker`), in O(1) memory, and renamed
into place atomically only once it is valid."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .conventions import SigMFError
from .files import atomic_writer
from .validate import AnnotationChecker, schema_validate


def write_metadata(
    path: Path,
    glob: dict[str, Any],
    captures: list[dict[str, Any]],
    annotations: Iterable[dict[str, Any]],
) -> int:
    """Write ``{"global", "captures", "annotations"}`` to ``path`` atomically. -> annotations
    written. SigMFError (and ``path`` untouched) if the result would not be valid SigMF."""
    checker = AnnotationChecker()

    def validate() -> None:
        meta = {"global": glob, "captures": captures, "annotations": checker.representatives()}
        schema_validate(meta, "meta", str(path))

    try:
        with atomic_writer(path, before_rename=validate) as f:
            f.write('{\n"global": ' + json.dumps(glob, indent=1))
            f.write(',\n"captures": ' + json.dumps(captures, indent=1))
            f.write(',\n"annotations": [')
            for a in annotations:
                checker.add(a)
                f.write(("\n" if checker.count == 1 else ",\n") + json.dumps(a))
            f.write("\n]\n}\n")
    except SigMFError as exc:
        if str(exc).startswith(str(path)):
            raise
        raise SigMFError(f"{path}: not valid SigMF ({exc})") from None
    return checker.count
