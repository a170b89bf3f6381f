"""Realizations and scores of the precoder benchmark: the held-out test split every precoder
sees, evaluation.score at the benchmark's eta and its summary at the SC / CC models'
thresholds (Table III)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import evaluation
from ..config import SystemConfig
from ..scenario import Realizations
from .precoders_settings import COMM_THRESHOLD, ETA, SENSING_THRESHOLD


def held_out_realizations(cfg: SystemConfig, scene: str, size: int) -> Realizations:
    """The held-out test split (seed of the shipped cards' data config, DataConfig defaults)."""
    from ..dataset import iter_realizations
    from ..recipe import DataConfig

    data = DataConfig(scene=scene)
    return Realizations.concatenate(list(iter_realizations(cfg, data, "test", size)))


def score(real: Realizations, W: np.ndarray) -> dict[str, np.ndarray]:
    """evaluation.score at the benchmark's eta."""
    return evaluation.score(real, W, ETA)


def summary(s: dict[str, np.ndarray], index: slice | None = None) -> dict[str, Any]:
    """evaluation.summarize of realizations ``index`` at the SC/CC models' thresholds."""
    index = slice(None) if index is None else index
    return evaluation.summarize({k: v[index] for k, v in s.items()}, COMM_THRESHOLD,
                                SENSING_THRESHOLD)  # fmt: skip
