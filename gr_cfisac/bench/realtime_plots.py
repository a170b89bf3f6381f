"""The figure of ``cfisac bench realtime`` (bench/realtime.png): blocks/s per part and network
size against the 1 MS/s-per-antenna line, flowgraph/core cost ratios, the Table-I RAP and TAP
sides, and the TAP latency."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

#: one colour per part, the same in every panel
PART_COLOURS = {
    "chain": "tab:blue",
    "tap": "tab:orange",
    "tap_sim": "tab:olive",
    "rap": "tab:green",
}
PART_LABELS = {
    "chain": "chain (simulated)",
    "tap": "TAP side (recorded pilots)",
    "tap_sim": "TAP side (tap_side, scenario included)",
    "rap": "RAP side (2x2, fast MUSIC)",
}


def plot_realtime(report: dict[str, Any], path: Path) -> None:
    """Write :func:`realtime_figure` to ``path``."""
    import matplotlib.pyplot as plt

    fig = realtime_figure(report)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def realtime_figure(report: dict[str, Any]):
    """Four panels: blocks/s vs size (flowgraph solid, core twin dashed, the goal line),
    flowgraph/core ratios vs size (the 1.2 line), Table-I sides, TAP latency p50/p99."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    goal = report["goal_blocks_per_s"]
    sizes = report["sweep"]["sizes"]
    names = list(sizes)
    x = np.arange(len(names))
    fig, ax = plt.subplots(2, 2, figsize=(14, 9.5))
    goal_label = f"{goal:,.0f} blocks/s = 1 MS/s per antenna (tau_c = 196)"
    for part, colour in PART_COLOURS.items():
        ax[0, 0].plot(x, [sizes[n][part]["blocks_per_s"] for n in names], "o-", color=colour,
                      label=PART_LABELS[part])  # fmt: skip
        ax[0, 0].plot(x, [sizes[n][part]["core_blocks_per_s"] for n in names], "x--",
                      color=colour, alpha=0.6)  # fmt: skip
        ax[0, 1].plot(x, [sizes[n][part]["flowgraph_over_core"] for n in names], "o-",
                      color=colour, label=PART_LABELS[part])  # fmt: skip
    ax[0, 0].axhline(goal, color="k", ls=":", label=goal_label)
    ax[0, 0].plot([], [], "kx--", alpha=0.6, label="batched core twin (dashed)")
    ax[0, 0].set_yscale("log")
    ax[0, 0].set_ylabel("coherence blocks / s")
    ax[0, 1].axhline(1.2, color="k", ls=":", label="goal: flowgraph <= 1.2x core")
    ax[0, 1].set_ylabel("flowgraph / core time per block")
    for a in ax[0]:
        a.set_xticks(x, names, rotation=30, fontsize=8)
        a.grid(alpha=0.3)
        a.legend(fontsize=7)
    t1 = report["table1"]
    labels, rates, colours = [], [], []
    for key, row in t1["rap"].items():
        for method, r in row.items():
            if isinstance(r, dict):
                labels.append(f"RAP {key} {method}")
                rates.append(r["blocks_per_s"])
                colours.append(PART_COLOURS["rap"])
    for name, r in t1["tap"].items():
        if "blocks_per_s" in r:
            labels.append(f"TAP {name}")
            rates.append(r["blocks_per_s"])
            colours.append(PART_COLOURS["tap"])
    bars = ax[1, 0].barh(labels, rates, color=colours)
    ax[1, 0].bar_label(bars, fmt="%.0f", padding=3, fontsize=7)
    ax[1, 0].axvline(goal, color="k", ls=":", label=goal_label)
    ax[1, 0].set_xscale("log")
    ax[1, 0].set_xlabel("coherence blocks / s, Table-I network")
    ax[1, 0].invert_yaxis()
    ax[1, 0].legend(fontsize=7)
    lat = t1["latency"]
    algs = list(lat)
    y = np.arange(len(algs))
    for dy, key, hatch in ((-0.2, "p50_us", None), (0.2, "p99_us", "//")):
        vals = [lat[a][key] for a in algs]
        bars = ax[1, 1].barh(y + dy, vals, height=0.4, color=PART_COLOURS["tap"], hatch=hatch,
                             edgecolor="w", label=key.split("_")[0])  # fmt: skip
        ax[1, 1].bar_label(bars, fmt="%.0f us", padding=3, fontsize=7)
    ax[1, 1].set_yticks(y, algs)
    ax[1, 1].set_xlabel("TAP latency: last pilot sample in -> W out (us), one block in flight")
    ax[1, 1].invert_yaxis()
    ax[1, 1].legend(fontsize=7)
    fig.tight_layout()
    return fig
