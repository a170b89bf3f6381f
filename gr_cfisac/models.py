"""Where the shipped learned precoders are: ``NAME.onnx`` with its model card ``NAME.json``.

The source tree keeps them in ``models/`` and its family folders (``models/lhgnn/``,
``models/l2o/``, ``models/l2o/dt/``, ``models/teacher_student/``, ...); the package ships them as
package data (``gr_cfisac/data/models``, a link to ``models/`` in a checkout), so a checkout, an
editable and a regular install all find them through :func:`shipped_models_dir`, the one place
that knows where. A shipped model is named by its file name alone (``lhgnn_coisac.onnx``) or by
its path under ``models/`` (``lhgnn/lhgnn_coisac.onnx``); file names are unique across the folders.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["resolve_model", "shipped_models", "shipped_models_dir"]


def shipped_models_dir() -> Path:
    """The folder of the shipped ``.onnx`` models and their ``.json`` cards (family subfolders
    inside it)."""
    folder = Path(str(resources.files("gr_cfisac") / "data" / "models"))
    if not folder.is_dir():
        raise FileNotFoundError(
            f"the shipped models are missing ({folder}): reinstall gr-cfisac, or in a checkout "
            "restore models/ and the link gr_cfisac/data/models -> ../../models"
        )
    return folder


def shipped_models() -> list[str]:
    """The shipped models as paths relative to :func:`shipped_models_dir` (``stcib_joint.onnx``,
    ``lhgnn/lhgnn_coisac.onnx``), POSIX separators, sorted by folder (top-level ones first)."""
    root = shipped_models_dir()
    found = [p.relative_to(root) for p in root.rglob("*.onnx") if p.is_file()]
    return [p.as_posix() for p in sorted(found, key=lambda p: (p.parent.as_posix(), p.name))]


def resolve_model(model: str | Path) -> Path:
    """An ``.onnx`` path as given if it exists, else the shipped model it names: its path under
    ``models/`` (``lhgnn/lhgnn_coisac.onnx``, also with a leading ``models/``), or its file name
    alone, looked up in ``models/`` and every family folder below it (``lhgnn_coisac.onnx`` ->
    ``models/lhgnn/lhgnn_coisac.onnx``). FileNotFoundError saying where it looked and listing
    the shipped models; ValueError if a bare file name is shipped in two folders."""
    path = Path(model)
    if path.exists():
        return path
    root = shipped_models_dir()
    if path.suffix == ".onnx" and not path.is_absolute():
        parts = path.parts[1:] if path.parts[:1] == ("models",) else path.parts
        named = root.joinpath(*parts)
        if len(parts) > 1 and named.is_file():
            return named
        matches = [root / rel for rel in shipped_models() if Path(rel).name == path.name]
        if len(matches) > 1:
            raise ValueError(
                f"model {model}: {len(matches)} shipped models have that file name "
                f"({', '.join(str(m.relative_to(root)) for m in matches)}); name one by its path "
                "under models/"
            )
        if matches:
            return matches[0]
    raise FileNotFoundError(
        f"model {model}: no such file (looked for {path.absolute()}), and no shipped model of "
        f"that name (looked in {root} and its folders "
        f"{', '.join(sorted({str(Path(r).parent) for r in shipped_models()} - {'.'}))}); "
        f"the shipped ones are {', '.join(shipped_models())}"
    )
