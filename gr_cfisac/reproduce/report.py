"""The Markdown report of ``cfisac reproduce``: per paper, each figure's files, our numbers beside
the paper's claims, whether each trend holds (and why not where it does not), and every
deviation from the paper's set-up."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .figure import Figure

__all__ = ["paper_section", "render"]

VERDICT = {True: "holds", False: "does not hold", None: "not comparable"}


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _table(fig: Figure, limit: int = 40) -> list[str]:
    columns = fig.columns()
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in fig.rows[:limit]:
        lines.append("| " + " | ".join(_cell(row.get(c)) for c in columns) + " |")
    if len(fig.rows) > limit:
        lines.append(f"| … {len(fig.rows) - limit} more rows in {fig.key}.csv |")
    return lines


def figure_section(fig: Figure, files: Sequence[str]) -> list[str]:
    """One figure: title, files, the table of points, the trends and the deviations."""
    lines = [f"### {fig.title}", "", "Files: " + ", ".join(f"`{f}`" for f in files), ""]
    if any(f.endswith(".png") for f in files):
        lines += [f"![{fig.key}]({next(f for f in files if f.endswith('.png'))})", ""]
    lines += _table(fig) + [""]
    if fig.trends:
        lines += ["| claim | paper | ours | verdict |", "|---|---|---|---|"]
        for t in fig.trends:
            verdict = VERDICT[t.holds] + (f": {t.why}" if t.why else "")
            lines.append(f"| {t.claim} | {t.paper} | {t.ours} | {verdict} |")
        lines.append("")
    if fig.deviations:
        lines += ["Deviations from the paper:", ""] + [f"- {d}" for d in fig.deviations] + [""]
    if fig.meta:
        lines += ["Settings: " + ", ".join(f"{k} = {v}" for k, v in fig.meta.items()), ""]
    return lines


def paper_section(
    title: str, figures: Sequence[tuple[Figure, Sequence[str]]], missing: str = ""
) -> list[str]:
    """One paper: a one-line verdict count, then each figure (or why there is none)."""
    lines = [f"## {title}", ""]
    if missing:
        return lines + [f"Not reproduced: {missing}", ""]
    verdicts = [t.holds for fig, _ in figures for t in fig.trends]
    counts = {v: sum(1 for x in verdicts if x is v) for v in (True, False, None)}
    lines += [
        f"{len(figures)} figures/tables; trends: {counts[True]} hold, {counts[False]} do not "
        f"(each explained below), {counts[None]} not comparable.",
        "",
    ]
    for fig, files in figures:
        lines += figure_section(fig, files)
    return lines


def render(sections: Sequence[list[str]], header: dict[str, Any]) -> str:
    """The whole report: a header (command, sizes, time) and the papers' sections."""
    lines = ["# gr-cfisac: reproduction report", ""]
    lines += [f"- {k}: {v}" for k, v in header.items()] + [""]
    for section in sections:
        lines += section
    return "\n".join(lines).rstrip() + "\n"
