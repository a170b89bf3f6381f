"""What every seed-000 study shares: the shipped models' folder and the percent change the
paper's claims are stated in."""

from __future__ import annotations

from pathlib import Path

#: the shipped models these studies evaluate (models/ in a checkout, data/models installed)
MODELS = Path(__file__).resolve().parents[2] / "data" / "models"


def model_path(name: str) -> str:
    """Path of a shipped model file, e.g. ``model_path("stcib_cc_cond")``."""
    path = MODELS / f"{name}.onnx"
    if not path.is_file():
        raise FileNotFoundError(f"shipped model {path} is missing (a checkout has it in models/)")
    return str(path)


def percent_change(a: float, b: float) -> float:
    """100 (b - a) / a: the change from ``a`` to ``b`` in percent, as the paper quotes it."""
    return 100.0 * (b - a) / a
