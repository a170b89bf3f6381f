"""Seed 001 (decentralized teacher-student precoders) in ``cfisac reproduce``: Fig. 16 — the
shipped U-Net students against the SDP + bisection baseline on the same Pos-1 realizations
(min-SINR and SSNR in linear units, as the paper's figures) and the run time per realization
(slowest AP's student vs the SDP solved afresh). The numbers come from the teacher-student
benchmark's :func:`~gr_cfisac.bench.teacher_student.compare` (one code path)."""

from __future__ import annotations

from typing import Any

from ..bench import teacher_student as bench
from ..models import shipped_models_dir
from .figure import Figure, Trend
from .run import IN_PROCESS, Run

TITLE = "Seed 001: decentralized teacher-student precoders (one network per AP)"


def missing() -> str:
    """Why seed 001 cannot run ("" when it can): the shipped Pos-1 student set."""
    path = shipped_models_dir() / bench.SET
    return "" if path.is_file() else f"the student set {path} is not shipped"


def fig16(count: int = 10, repeats: int = 10, run: Run = IN_PROCESS) -> Figure:
    """Fig. 16 (Pos-1, N = 5 users, L = 2 APs): (a) the selected student's mean min-SINR and
    SSNR beside the SDP + bisection's on the same ``count`` realizations, (b) seconds per
    realization. The SDPs run where ``run`` says (sweep runner) and are cached on disk."""
    scheduler = None if run.scheduler in (None, "local") else run.scheduler
    res = bench.compare(shipped_models_dir() / bench.SET, "pos1", 5, count, repeats, scheduler)
    t = res["seconds_per_realization"]
    rows = [
        {"method": "U-Net student (per AP)", "min_sinr": res["student"]["min_sinr"],
         "ssnr": res["student"]["ssnr"], "seconds": t["student_per_ap_max"]},
        {"method": "SDP + bisection", "min_sinr": res["sdp_bisection"]["min_sinr"],
         "ssnr": res["sdp_bisection"]["ssnr"], "seconds": t["sdp_bisection"]},
    ]  # fmt: skip
    ratio = res["ratio_student_to_sdp"]
    trends = [
        Trend(
            "the student is close to the SDP baseline (not dominated: one metric higher, the "
            "other within 6 %)",
            "at N = 5 the student's SINR is above the SDP's and its SSNR below; the gap shrinks "
            "as N grows",
            f"student / SDP: min-SINR {ratio['min_sinr']:.2f}, SSNR {ratio['ssnr']:.2f}",
            bool(res["not_dominated"]),
            ""
            if res["not_dominated"]
            else "the CPU-trained set (2000 draws, <= 80 epochs, "
            "models/teacher_student/README) falls short of the paper's 1000-epoch GPU training: "
            "its teachers are weaker and eq 12's lambda oscillates at 8 mini-batches per epoch",
        ),
        Trend(
            "the per-AP student runs orders of magnitude faster than SDP + bisection",
            "Fig. 16b: the U-Nets take a small fraction of the CVX solution's time",
            f"{res['speedup']:.0f}x (slowest AP, batch 1, vs one SDP + bisection solved now)",
            res["speedup"] >= 1000,
        ),
    ]
    return Figure(
        "fig16", "Fig. 16: U-Net students vs SDP + bisection, Pos-1, N = 5", rows, kind="bar",
        x="method", y=("min_sinr", "ssnr"), ylabel="linear", trends=trends,
        deviations=[f"{count} SDP realizations (the paper: 100), the first {count} of "
                    f"{bench.POOL} drawn with seed {bench.SEED}",
                    "N = 5 only: the Pos-2 sets of Fig. 13 (N = 2, 5, 8) are not shipped yet",
                    "the paper's lambda (antenna spacing ratio) is not given; we use 0.5"],
        meta={"count": count, "repeats": repeats, "selection": res["selection"]},
    )  # fmt: skip


def figures(full: bool = False) -> dict[str, Any]:
    """Seed 001's figure functions with their sizes."""
    return {"fig16": (fig16, {"count": 100 if full else 10})}
