"""Figures of the precoder benchmark: the summary (objective, rates, time, feasibility) and the
trade-off curves of Figs 7-8 (bench/precoders.png, bench/precoders_tradeoff.png)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def plot_summary(report: dict[str, Any], path: Path) -> None:
    """Objective, rate pairs, time per realization and feasibility of every precoder."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    j = report["joint"]
    labels = list(j)
    short = [lbl.replace(" (ONNX)", "").replace(" literal", "") for lbl in labels]
    fig, ax = plt.subplots(2, 2, figsize=(13, 9))
    obj = [j[lbl]["on_optimizer_subset"]["objective"] for lbl in labels]
    ax[0, 0].barh(short, obj, color="C0")
    ax[0, 0].set_xlabel(
        f"joint objective (eta={report['eta']}), first {report['optimizer_realizations']} test realizations"
    )
    ax[0, 0].invert_yaxis()
    for lbl, s in zip(labels, short):
        ax[0, 1].scatter(j[lbl]["sum_rc"], j[lbl]["sum_rs"], label=s)
    ax[0, 1].set_xlabel("sum comm rate (bps/Hz, true F)")
    ax[0, 1].set_ylabel("sum sensing rate (bps/Hz, realized G)")
    ax[0, 1].legend(fontsize=7)
    ax[0, 1].grid(alpha=0.3)
    t1 = [j[lbl]["seconds_per_realization_batch1"] for lbl in labels]
    tb = [j[lbl]["seconds_per_realization_batched"] for lbl in labels]
    y = np.arange(len(labels))
    ax[1, 0].barh(y - 0.2, t1, height=0.4, label="batch 1")
    ax[1, 0].barh(y + 0.2, tb, height=0.4, label="batched")
    ax[1, 0].set_yticks(y, short)
    ax[1, 0].set_xscale("log")
    ax[1, 0].set_xlabel("seconds per realization")
    ax[1, 0].invert_yaxis()
    ax[1, 0].legend()
    names, rates = [], []
    for regime, key in (("sc", "feasibility_sc"), ("cc", "feasibility_cc_averaged")):
        for lbl, row in report[regime].items():
            names.append(f"{regime.upper()} {lbl.replace(' (ONNX)', '')}")
            rates.append(row[key]["rate"])
    ax[1, 1].barh(names, rates, color="C2")
    ax[1, 1].axvline(0.985, color="k", ls="--", lw=1)
    ax[1, 1].set_xlabel(
        f"feasibility (SC: R_C,k >= {report['comm_threshold']}; CC: averaged R_S,j >= {report['sensing_threshold']})"
    )
    ax[1, 1].invert_yaxis()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_tradeoff(tradeoff: dict[str, Any], path: Path) -> None:
    """Figs 7-8: SC sensing sum over vartheta_th, CC comm sum over zeta_th (optimizer, model)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(12, 4.5))
    panels = (("sc", "sum_rs", "vartheta_th (bps/Hz)", "sum sensing rate (bps/Hz, realized G)"),
              ("cc", "sum_rc", "zeta_th (bps/Hz)", "sum comm rate (bps/Hz, true F)"))  # fmt: skip
    for a, (regime, y, xlabel, ylabel) in zip(ax, panels):
        rows = tradeoff.get(regime, [])
        x = [r["threshold"] for r in rows]
        a.plot(
            x,
            [r["optimizer"][y] for r in rows],
            "o-",
            label=f"optimizer ({tradeoff['optimizer_quality']})",
        )
        if rows and "optimizer_margin" in rows[0]:
            a.plot(
                x,
                [r["optimizer_margin"][y] for r in rows],
                "o--",
                label=f"optimizer, margin {tradeoff[f'{regime}_margin']:g} (as the model)",
            )
        if rows and "stcib_conditioned" in rows[0]:
            a.plot(
                x, [r["stcib_conditioned"][y] for r in rows], "s-", label="STCIB, threshold input"
            )
        fixed = tradeoff.get(f"{regime}_fixed_model")
        if fixed is not None:
            a.plot([fixed["threshold"]], [fixed[y]], "k*", ms=12, label="STCIB, fixed threshold")
        a.set_xlabel(xlabel)
        a.set_ylabel(ylabel)
        a.set_title("SC (P1)" if regime == "sc" else "CC (P2)")
        a.grid(alpha=0.3)
        a.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
