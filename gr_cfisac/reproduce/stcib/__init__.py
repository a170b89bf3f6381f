"""Seed 000 (STCIB) studies as figure functions: estimation error vs tau_p and K (Fig. 6), the
localization RMSE table (Table II), runtime vs K and antenna configuration (Fig. 13), the
feasibility table (Table III) and CSI-error robustness over chi for Rician factors 1, 3, 5
(Fig. 14). Each returns a :class:`~gr_cfisac.reproduce.figure.Figure` with the paper's claims
checked on our numbers. numpy only (the learned models run in ONNX Runtime).

One module per figure group (``fig6_estimation``, ``table3_feasibility``, ``fig14_robustness``,
``table2_localization``, ``fig13_runtime``, ``lineup_table``; ``common``: the shipped models);
this package re-exports their names and gives :mod:`gr_cfisac.reproduce` ``TITLE``,
``missing()`` and ``figures(full)``. Every precoder comes from the registry; every function
takes its sizes as arguments and a seed, so ``cfisac reproduce`` and the tests call the same
code at different sizes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .common import MODELS, model_path
from .fig6_estimation import estimation_error, fig6
from .fig13_runtime import fig13
from .fig14_robustness import fig14, robustness_point, with_csi_error
from .lineup_table import families_table, lineup_cellfree
from .table2_localization import METHODS, TABLE2, localization_point, localization_rmse_deg, table2
from .table3_feasibility import TABLE3, feasibility_point, table3

__all__ = [
    "METHODS",
    "MODELS",
    "TABLE2",
    "TABLE3",
    "TITLE",
    "estimation_error",
    "families_table",
    "feasibility_point",
    "fig6",
    "fig13",
    "fig14",
    "figures",
    "lineup_cellfree",
    "localization_point",
    "localization_rmse_deg",
    "missing",
    "model_path",
    "robustness_point",
    "table2",
    "table3",
    "with_csi_error",
]

TITLE = "Seed 000: STCIB (set-transformer CF-ISAC beamforming)"


def missing() -> str:
    """Why the seed-000 studies cannot run ("" when they can): the shipped models."""
    try:
        for name in ("stcib_sc_cond", "stcib_cc_cond", "stcib_joint", "cnn_joint"):
            model_path(name)
    except FileNotFoundError as exc:
        return str(exc)
    return ""


def figures(full: bool = False) -> dict[str, Any]:
    """The seed-000 figure functions with their sizes: laptop (default) or the paper's (full)."""
    if full:
        return {
            "fig6": (fig6, {"tau_ps": tuple(range(8, 41, 4)), "draws": 2000}),
            "table3": (table3, {"draws": 5000}),
            "fig14": (fig14, {"chis": tuple(np.linspace(0, 1, 11).round(2)), "draws": 2000}),
            "table2": (table2, {"draws": 500, "ccpa_draws": 20}),
            "families": (families_table, {"draws": 2000, "ccpa_draws": 20}),
            "fig13": (fig13, {"shapes": ((1, 1), (2, 2), (3, 3), (4, 4)), "draws": 50,
                              "ccpa_draws": 3, "ccpa_max_n": 10**9}),
        }  # fmt: skip
    return {
        "fig6": (fig6, {}),
        "table3": (table3, {}),
        "fig14": (fig14, {}),
        "table2": (table2, {}),
        "fig13": (fig13, {}),
        "families": (families_table, {}),
    }
