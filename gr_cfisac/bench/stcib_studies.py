"""The seed-000 studies (issue 15) as a benchmark: the same figure functions ``cfisac reproduce
stcib`` runs (:mod:`gr_cfisac.reproduce.stcib`: Figs. 6, 13, 14, Tables II, III and the
cross-family table), at their laptop sizes or, with --quick, tiny ones; each figure written as
bench/stcib_studies/KEY.{json,csv,png} and the verdicts of the paper's claims collected in
bench/stcib_studies.json. One code path: nothing here computes a number itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..reproduce import stcib
from ..reproduce.figure import write_figure
from .common import write_report

NAME = "stcib_studies"
#: --quick: tiny sizes per figure (a smoke run of the same functions)
QUICK: dict[str, dict[str, Any]] = {
    "fig6": {"tau_ps": (8, 24, 40), "draws": 40},
    "table3": {"draws": 50},
    "fig14": {"chis": (0.0, 0.5, 1.0), "draws": 50},
    "table2": {"draws": 8, "ccpa_draws": 0},
    "fig13": {"Ks": (2, 4), "shapes": ((1, 1), (2, 2)), "draws": 3, "ccpa_draws": 0},
    "families": {"draws": 10, "ccpa_draws": 0},
}


def run(out_dir: Path, quick: bool = False) -> dict[str, Any]:
    report: dict[str, Any] = {"sizes": "quick" if quick else "laptop", "figures": {}}
    for key, (fn, kwargs) in stcib.figures(full=False).items():
        fig = fn(**(QUICK[key] if quick else kwargs))
        files = write_figure(fig, out_dir / NAME)
        report["figures"][key] = {
            "title": fig.title,
            "files": [str(p) for p in files.values()],
            "claims": [
                {"claim": t.claim, "paper": t.paper, "ours": t.ours, "holds": t.holds}
                for t in fig.trends
            ],
        }
    write_report(out_dir, NAME, report)
    return report
