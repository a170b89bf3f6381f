"""Seed 003 (LHGNN) in ``cfisac reproduce``: reported as not reproduced until its precoder family
is in the registry (issue 14); nothing is faked in the meantime."""

from __future__ import annotations

from typing import Any

from ..precoding.registry import families

TITLE = "Seed 003: link-heterogeneous GNN for cooperative localization and communication"
FAMILY = "lhgnn"


def missing() -> str:
    """Why seed 003 cannot be reproduced yet ("" once the family is registered)."""
    if FAMILY in families():
        return ""
    return (
        f"no '{FAMILY}' precoder family in the registry yet (issue 14: the coisac scenario, the "
        "SPEB, LHGNN and its baselines); its Figs. 7-10 appear here once it is"
    )


def figures(full: bool = False) -> dict[str, Any]:
    """Seed 003's figures: none until the family exists (``missing`` says so)."""
    return {}
