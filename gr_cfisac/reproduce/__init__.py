"""``cfisac reproduce``: every paper's headline figures and tables from one command.

Each paper is a module with ``TITLE``, ``missing()`` (why it cannot run yet, "" when it can) and
``figures(full)`` -> {key: (figure function, keyword arguments)}; each figure function returns a
:class:`~gr_cfisac.reproduce.figure.Figure` (the benchmarks call the same functions). Points run
through the project's sweep runner (Dask or in process) with a content-addressed cache, and each
finished figure is kept too, so an interrupted run picks up where it stopped. numpy only.
"""

from __future__ import annotations

import importlib
import json
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ..sweep import point_key
from .figure import Figure, read_figure, write_figure
from .report import paper_section, render
from .run import Run

__all__ = ["PAPERS", "Figure", "Run", "reproduce", "reproduce_paper"]

#: cfisac reproduce PAPER -> module of gr_cfisac.reproduce
PAPERS: dict[str, str] = {
    "stcib": "stcib",
    "teacher-student": "teacher_student",
    "l2o": "l2o",
    "lhgnn": "lhgnn",
}
#: bump when a figure function's results change, so cached figures are not reused
VERSION = "3"


def paper_module(paper: str) -> Any:
    if paper not in PAPERS:
        raise ValueError(f"paper must be one of {', '.join(PAPERS)} or all, got {paper!r}")
    return importlib.import_module(f".{PAPERS[paper]}", __name__)


def _figure(paper: str, key: str, fn: Any, kwargs: dict[str, Any], run: Run, out: Path) -> Figure:
    """The figure, from the figure cache when this exact call finished before."""
    cache = out / "cache" / "figures"
    name = f"{fn.__module__}.{fn.__qualname__}"
    stem = f"{paper}-{key}-{point_key(name, VERSION, kwargs)[:16]}"
    kept = cache / f"{stem}.json"
    if kept.is_file():
        return read_figure(kept)
    fig = fn(**kwargs, run=run)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = kept.with_suffix(".tmp")
    tmp.write_text(json.dumps(fig.to_dict(), default=str))
    tmp.replace(kept)
    return fig


def reproduce_paper(paper: str, out: Path, full: bool = False, run: Run | None = None) -> list[str]:
    """Run one paper's figures into ``out/PAPER/``; returns its report section (Markdown lines)."""
    module = paper_module(paper)
    missing = module.missing()
    if missing:
        return paper_section(module.TITLE, [], missing)
    run = run or Run(cache_dir=out / "cache" / "points", progress=True)
    folder = out / paper
    done = []
    plan = module.figures(full)
    for key, (fn, kwargs) in tqdm(plan.items(), desc=paper, unit="figure"):
        fig = _figure(paper, key, fn, kwargs, run, out)
        files = write_figure(fig, folder)
        done.append((fig, [str(p.relative_to(out)) for p in files.values()]))
    return paper_section(module.TITLE, done)


def reproduce(papers: list[str], out: Path, full: bool = False, run: Run | None = None) -> Path:
    """Every paper of ``papers`` ("all" for every one) and out/REPORT.md; returns its path."""
    names = list(PAPERS) if "all" in papers else papers
    for name in names:
        paper_module(name)  # refuse an unknown name before anything runs
    start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    sections = [reproduce_paper(name, out, full, run) for name in names]
    header = {
        "papers": ", ".join(names),
        "sizes": "the papers' (--full)" if full else "laptop (2 cores, <= 30 min per paper)",
        "wall time": f"{time.perf_counter() - start:.0f} s",
        "cache": str(out / "cache"),
    }
    path = out / "REPORT.md"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(render(sections, header))
    tmp.replace(path)
    return path
