"""One result per figure or table, written three ways from the same numbers: JSON (everything),
CSV (the table of points) and PNG (the plot). The benchmarks and ``cfisac reproduce`` both call
the figure functions that return a :class:`Figure`, so a figure has one code path. numpy only;
matplotlib is imported when a PNG is drawn."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Figure", "Trend", "read_figure", "write_figure"]


@dataclass
class Trend:
    """One claim a figure makes: what the paper says (with its numbers), what we measured, and
    whether our numbers show the same thing (``None``: not comparable, ``why`` says so)."""

    claim: str
    paper: str
    ours: str
    holds: bool | None
    why: str = ""


@dataclass
class Figure:
    """A figure or table of one paper.

    key: file stem ("fig6"); title; rows: the points, one dict per row (JSON-able scalars);
    x, y: the columns plotted (y may name several columns); series: the column whose values are
    separate curves ("" for one curve); kind: "line", "bar" or "table" (no plot);
    trends: the paper's claims checked on our numbers; deviations: every way our set-up differs
    from the paper's (scenario, model size, iterations); meta: sizes, seeds, settings.
    """

    key: str
    title: str
    rows: list[dict[str, Any]]
    x: str = ""
    y: tuple[str, ...] = ()
    series: str = ""
    kind: str = "line"
    xlabel: str = ""
    ylabel: str = ""
    logy: bool = False
    trends: list[Trend] = field(default_factory=list)
    deviations: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in ("line", "bar", "table"):
            raise ValueError(f"Figure.kind must be 'line', 'bar' or 'table', got {self.kind!r}")
        self.y = tuple(self.y)
        columns = self.columns()
        for name in (self.x, self.series, *self.y):
            if name and self.rows and name not in columns:
                raise ValueError(f"Figure {self.key}: column {name!r} is not in its rows {columns}")

    def columns(self) -> list[str]:
        """Every column of the rows, in first-seen order."""
        seen: dict[str, None] = {}
        for row in self.rows:
            seen.update(dict.fromkeys(row))
        return list(seen)

    def holds(self) -> bool | None:
        """True if every comparable trend holds, False if one does not, None if none compares."""
        verdicts = [t.holds for t in self.trends if t.holds is not None]
        return None if not verdicts else all(verdicts)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Figure:
        data = dict(data)
        data["trends"] = [Trend(**t) for t in data.get("trends", [])]
        return cls(**data)


def _clean(value: Any) -> Any:
    """JSON has no NaN: non-finite floats become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_figure(fig: Figure, out_dir: Path) -> dict[str, Path]:
    """fig.json, fig.csv and (unless a table) fig.png under ``out_dir``; returns their paths.
    Each file is written to a temporary name and renamed, so a stopped run leaves none half done."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / f"{fig.key}.json", "csv": out_dir / f"{fig.key}.csv"}
    data = fig.to_dict()
    data["rows"] = [{k: _clean(v) for k, v in row.items()} for row in fig.rows]
    _atomic_text(paths["json"], json.dumps(data, indent=2, sort_keys=False) + "\n")
    columns = fig.columns()
    tmp = paths["csv"].with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(fig.rows)
    tmp.replace(paths["csv"])
    if fig.kind != "table" and fig.rows:
        paths["png"] = out_dir / f"{fig.key}.png"
        _plot(fig, paths["png"])
    return paths


def read_figure(path: Path) -> Figure:
    """The Figure a fig.json holds (non-finite numbers come back as None)."""
    return Figure.from_dict(json.loads(Path(path).read_text()))


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _curves(fig: Figure) -> list[tuple[str, list[Any], list[float]]]:
    """(label, xs, ys) per series value and y column, rows in their order."""
    groups: dict[Any, list[dict[str, Any]]] = {}
    for row in fig.rows:
        groups.setdefault(row.get(fig.series) if fig.series else None, []).append(row)
    curves = []
    for value, rows in groups.items():
        for column in fig.y:
            label = column if value is None else f"{fig.series}={value}"
            if value is not None and len(fig.y) > 1:
                label = f"{column}, {label}"
            ys = [r.get(column) for r in rows]
            ys = [float("nan") if v is None else float(v) for v in ys]
            curves.append((label, [r.get(fig.x) for r in rows], ys))
    return curves


def _plot(fig: Figure, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f, ax = plt.subplots(figsize=(6.4, 4.2))
    curves = _curves(fig)
    if fig.kind == "bar":
        width = 0.8 / max(len(curves), 1)
        for i, (label, xs, ys) in enumerate(curves):
            ax.bar([j + i * width for j in range(len(xs))], ys, width, label=label)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(curves[0][1]))])
        ax.set_xticklabels([str(x) for x in curves[0][1]], rotation=20)
    else:
        for label, xs, ys in curves:
            ax.plot(xs, ys, marker="o", label=label)
    if fig.logy:
        ax.set_yscale("log")
    ax.set_xlabel(fig.xlabel or fig.x)
    ax.set_ylabel(fig.ylabel or ", ".join(fig.y))
    ax.set_title(fig.title, fontsize=10)
    ax.grid(True, alpha=0.3)
    if len(curves) > 1:
        ax.legend(fontsize=8)
    f.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    f.savefig(tmp, dpi=110)
    plt.close(f)
    tmp.replace(path)
