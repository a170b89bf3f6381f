"""Reading a training recipe file, the same way for every ``cfisac train`` family: a YAML
recipe, a run folder's saved config (config.yml / config.json) or a model card (its
``training.config``). Every way it can be unusable is a ValueError naming the file and what to
give instead -- a missing or empty file is never read as "all defaults"."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

WHAT_TO_GIVE = "a recipe .yml, a run folder's config.yml / config.json or a model card .json"


def read_recipe(path: str | Path, what: str) -> dict[str, Any]:
    """The top-level mapping of recipe fields in ``path``; ``what`` names the recipe in errors
    (e.g. "lhgnn config")."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{what} {path} does not exist (give {WHAT_TO_GIVE})")
    text = path.read_text()
    if not text.strip():
        raise ValueError(f"{what} {path} is empty (give {WHAT_TO_GIVE})")
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        first = str(exc).strip().splitlines()[0]
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:  # YAML: the problem and where
            first = f"{exc.problem} at line {mark.line + 1}, column {mark.column + 1}"
        raise ValueError(f"{what} {path} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: "
                         f"{first}") from None  # fmt: skip
    if isinstance(data, dict) and isinstance(data.get("training"), dict) \
            and "config" in data["training"]:  # fmt: skip
        data = data["training"]["config"]
    if not isinstance(data, dict):
        raise ValueError(f"{what} {path}: expected a mapping of recipe fields at the top level, "
                         f"got {type(data).__name__}")  # fmt: skip
    return data


def differing_fields(
    ours: Mapping[str, Any], theirs: Mapping[str, Any], prefix: str = ""
) -> list[str]:
    """Dotted names of the fields (nested sections flattened) whose values differ or that only
    one of two recipes has."""
    out = []
    for key in sorted(set(ours) | set(theirs), key=str):
        a, b = ours.get(key), theirs.get(key)
        name = f"{prefix}{key}"
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out += differing_fields(a, b, f"{name}.")
        elif key not in ours or key not in theirs or _plain(a) != _plain(b):
            out.append(name)
    return out


def _plain(value: Any) -> Any:
    """Tuples as lists, recursively (a recipe read back from YAML/JSON has lists)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
