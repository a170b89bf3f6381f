"""Figures of the precoder benchmark: the summary (objective, rates, time, feasibility) and the
trade-off curves of Figs 7-8 (bench/precoders.png, bench/precoders_tradeoff.png)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

#: one colour per method, the same in every benchmark figure (labels shortened by _short)
METHOD_COLOURS = {
    "STCIB": "tab:blue",
    "STCIB fast": "tab:cyan",
    "STCIB-PMA": "tab:purple",
    "STCIB target-aware": "tab:olive",
    "CNN": "tab:brown",
    "CNN, ZF head": "tab:pink",
    "optimizer": "tab:red",
    "WMMSE": "tab:green",
    "RZF": "tab:orange",
    "ZF": "tab:gray",
    "MRT": "black",
}


def _short(label: str) -> str:
    """A benchmark label without its implementation notes: 'STCIB (ONNX)' -> 'STCIB'."""
    return label.replace(" (ONNX)", "").replace(" literal", "")


def method_colour(label: str) -> str:
    """The colour of a method in every figure: optimizer variants share the optimizer's; an
    unknown method gets a fixed tab20 colour of its name."""
    import zlib

    short = _short(label)
    if short.startswith("optimizer"):
        return METHOD_COLOURS["optimizer"]
    if short in METHOD_COLOURS:
        return METHOD_COLOURS[short]
    return f"C{zlib.crc32(short.encode()) % 10}"


def _label_bars(ax, bars, fmt: str = "", labels: list[str] | None = None) -> None:
    ax.bar_label(bars, labels=labels, fmt=fmt, padding=3, fontsize=7)
    ax.margins(x=0.15)  # room for the numbers


def plot_summary(report: dict[str, Any], path: Path) -> None:
    """Write :func:`summary_figure` to ``path``."""
    _save(summary_figure(report), path)


def plot_tradeoff(tradeoff: dict[str, Any], path: Path) -> None:
    """Write :func:`tradeoff_figure` to ``path``."""
    _save(tradeoff_figure(tradeoff), path)


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def summary_figure(report: dict[str, Any]):
    """Objective, rate pairs, time per realization and feasibility of every precoder (one colour
    per method in every panel, values on the bars); returns the matplotlib Figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    j = report["joint"]
    labels = list(j)
    short = [_short(lbl) for lbl in labels]
    colours = [method_colour(lbl) for lbl in labels]
    fig, ax = plt.subplots(2, 2, figsize=(14, 9.5))
    obj = [j[lbl]["on_optimizer_subset"]["objective"] for lbl in labels]
    bars = ax[0, 0].barh(short, obj, color=colours)
    _label_bars(ax[0, 0], bars, "%.3f")
    ax[0, 0].set_xlabel(
        f"joint objective (eta={report['eta']}), first {report['optimizer_realizations']} test realizations"
    )
    ax[0, 0].invert_yaxis()
    for lbl, s, c in zip(labels, short, colours):
        ax[0, 1].scatter(j[lbl]["sum_rc"], j[lbl]["sum_rs"], label=s, color=c, s=40)
    ax[0, 1].set_xlabel("sum comm rate (bps/Hz, true F)")
    ax[0, 1].set_ylabel("sum sensing rate (bps/Hz, realized G)")
    ax[0, 1].legend(fontsize=7)
    ax[0, 1].grid(alpha=0.3)
    t1 = [j[lbl]["seconds_per_realization_batch1"] for lbl in labels]
    tb = [j[lbl]["seconds_per_realization_batched"] for lbl in labels]
    y = np.arange(len(labels))
    for dy, t, hatch in ((-0.2, t1, None), (0.2, tb, "//")):
        bars = ax[1, 0].barh(y + dy, t, height=0.4, color=colours, hatch=hatch, edgecolor="w")
        _label_bars(ax[1, 0], bars, labels=[f"{v * 1e6:.3g} us" for v in t])
    baseline = report.get("optimizer_baseline", {}).get("label")
    ax[1, 0].set_yticks(
        y, [f"{s} [speed-up baseline]" if lbl == baseline else s for lbl, s in zip(labels, short)]
    )
    ax[1, 0].set_xscale("log")
    ax[1, 0].set_xlabel("seconds per realization")
    ax[1, 0].invert_yaxis()
    ax[1, 0].legend(
        handles=[Patch(color="0.5", label="batch 1"), Patch(color="0.5", hatch="//", ec="w",
                 label="batched")],
        fontsize=8,
    )  # fmt: skip
    names, rates, fcolours, hatches = [], [], [], []
    for regime, key in (("sc", "feasibility_sc"), ("cc", "feasibility_cc_averaged")):
        for lbl, row in report[regime].items():
            names.append(f"{regime.upper()} {_short(lbl)}")
            rates.append(row[key]["rate"])
            fcolours.append(method_colour(lbl))
            hatches.append(None if regime == "sc" else "//")
    bars = ax[1, 1].barh(names, rates, color=fcolours, edgecolor="w")
    for bar, hatch in zip(bars, hatches):
        bar.set_hatch(hatch)
    _label_bars(ax[1, 1], bars, "%.3f")
    ax[1, 1].axvline(0.985, color="k", ls="--", lw=1)
    ax[1, 1].set_xlabel(
        f"feasibility (SC: R_C,k >= {report['comm_threshold']}; CC: averaged R_S,j >= {report['sensing_threshold']})"
    )
    ax[1, 1].invert_yaxis()
    fig.tight_layout()
    return fig


def tradeoff_figure(tradeoff: dict[str, Any]):
    """Figs 7-8: SC sensing sum over vartheta_th, CC comm sum over zeta_th (optimizer, model),
    each method in its METHOD_COLOURS colour; returns the matplotlib Figure."""
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
            color=method_colour("optimizer"),
            label=f"optimizer ({tradeoff['optimizer_quality']})",
        )
        if rows and "optimizer_margin" in rows[0]:
            a.plot(
                x,
                [r["optimizer_margin"][y] for r in rows],
                "o--",
                color=method_colour("optimizer"),
                label=f"optimizer, margin {tradeoff[f'{regime}_margin']:g} (as the model)",
            )
        if rows and "stcib_conditioned" in rows[0]:
            a.plot(
                x,
                [r["stcib_conditioned"][y] for r in rows],
                "s-",
                color=method_colour("STCIB"),
                label="STCIB, threshold input",
            )
        fixed = tradeoff.get(f"{regime}_fixed_model")
        if fixed is not None:
            a.plot(
                [fixed["threshold"]],
                [fixed[y]],
                "*",
                ms=14,
                color=method_colour("STCIB"),
                mec="k",
                label="STCIB, fixed threshold",
            )
        a.set_xlabel(xlabel)
        a.set_ylabel(ylabel)
        a.set_title("SC (P1)" if regime == "sc" else "CC (P2)")
        a.grid(alpha=0.3)
        a.legend()
    fig.tight_layout()
    return fig
