"""Where the shipped learned precoders are: ``NAME.onnx`` with its model card ``NAME.json``.

The source tree keeps them in ``models/``; the package ships them as package data
(``gr_cfisac/data/models``, a link to ``models/`` in a checkout), so a checkout, an editable and a
regular install all find them through :func:`shipped_models_dir`, the one place that knows where.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["resolve_model", "shipped_models", "shipped_models_dir"]


def shipped_models_dir() -> Path:
    """The folder of the shipped ``.onnx`` models and their ``.json`` cards."""
    folder = Path(str(resources.files("gr_cfisac") / "data" / "models"))
    if not folder.is_dir():
        raise FileNotFoundError(
            f"the shipped models are missing ({folder}): reinstall gr-cfisac, or in a checkout "
            "restore models/ and the link gr_cfisac/data/models -> ../../models"
        )
    return folder


def shipped_models() -> list[str]:
    """File names of the shipped models (``NAME.onnx``), sorted."""
    return sorted(p.name for p in shipped_models_dir().glob("*.onnx"))


def resolve_model(model: str | Path) -> Path:
    """An ``.onnx`` path as given if it exists, else the shipped model of that file name
    (``stcib_joint.onnx`` or ``models/stcib_joint.onnx`` from any folder)."""
    path = Path(model)
    if path.exists():
        return path
    shipped = shipped_models_dir() / path.name
    if path.suffix == ".onnx" and shipped.is_file():
        return shipped
    raise FileNotFoundError(
        f"model {model}: no such file, and no shipped model of that name; the shipped ones are "
        f"{', '.join(shipped_models())} (in {shipped_models_dir()})"
    )
