"""``cfisac train --family teacher-student``: paper 001's decentralized teacher-student
precoders (gr_cfisac.train.decentral) into runs/NAME, resumable; ``--export PREFIX.onnx``
writes one ONNX graph per AP (PREFIX_ap0.onnx, ...) with its card.

Recipes: ``ts_small.yml`` (CPU, the paper's recipe at small sizes) or, with ``--full``,
``ts_full.yml`` (the paper's sizes, a GPU job); ``--config`` another (``ts_pos1_n5.yml``: the
shipped Pos-1 N = 5 set; ``ts_pos2_n*.yml``: the Pos-2 sets; ``ts_cellfree.yml``: the per-TAP
set on the Table-I cell-free network, trained on eq 23a as STCIB), ``--resume RUN_DIR`` a run's
own. ``--device``,
``--seed``, ``--name`` and the optim overrides --lr, --batch-size, --threads, --max-minutes
apply; the STCIB-only flags are refused by name.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .train_runs import (
    OPTIM_OVERRIDES,
    family_config,
    fit_resumable,
    refuse_foreign_run,
    resume_command,
    run_folder,
)

TS_SMALL, TS_FULL = "ts_small.yml", "ts_full.yml"
#: override flag -> (section, field) of the recipe (the optim section)
TS_OVERRIDES = OPTIM_OVERRIDES


def resolve_ts_config(args: argparse.Namespace, stcib_flags: tuple[str, ...] = ()):
    """The TSConfig of ``--family teacher-student`` (module docstring); ValueError naming a
    flag that does not apply."""
    from ..train.decentral.config import TSConfig, config_path

    small, full = config_path(TS_SMALL), config_path(TS_FULL)
    return family_config(args, TSConfig, "teacher-student", small, full, stcib_flags)


def run_teacher_student(args: argparse.Namespace, stcib_flags: tuple[str, ...] = ()) -> int:
    """Train the three stages (SSNR teacher, SINR teacher, student) and optionally export."""
    from ..train.decentral.cellfree import trainer_for
    from ..train.decentral.config import TSConfig

    cfg = resolve_ts_config(args, stcib_flags)
    out = run_folder(args, cfg.name)
    refuse_foreign_run(Path(out), cfg.to_dict(), "teacher-student",
                       lambda p: TSConfig.load(p).to_dict())  # fmt: skip
    trainer = trainer_for(cfg, out, progress=not args.no_progress)
    again = resume_command(out, args.export, family="teacher-student")
    print(f"cfisac train --family teacher-student {cfg.name}: {cfg.scenario.L} x "
          f"{trainer.parameters // cfg.scenario.L} parameters ({cfg.model.arch} per AP) on "
          f"{cfg.optim.device} -> {out}")  # fmt: skip
    result = fit_resumable(trainer.fit, out, again,
                           lambda: f"in stage {trainer.state['stage']} epoch {trainer.state['epoch']}")  # fmt: skip
    summary = {
        "stopped": result.stopped,
        "selected_epoch": result.selected_epoch,
        "validation": result.validation,
        "wall_s": round(result.wall_s, 1),
    }
    if not cfg.scenario.cellfree:  # the teachers' references (no teachers on cellfree)
        summary["g_max"] = result.g_max
    print(json.dumps(summary))
    if result.stopped != "done":
        print(f"time budget reached; resume with: {again}", file=sys.stderr)
    if args.export and result.stopped == "done":
        from ..train.decentral.export import export_run

        cards = export_run(out, args.export)
        worst = max(c["onnx"]["parity_max_rel_diff"] for c in cards)
        print(f"exported {', '.join(c['file'] for c in cards)} (parity {worst:.1e})")
    return 0
