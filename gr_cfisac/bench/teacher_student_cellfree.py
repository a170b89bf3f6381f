"""Issue 12's Table-I section of ``cfisac bench teacher-student``: how much of the eq 23a
objective does decentralization cost on our cell-free network?

On the same held-out Table-I realizations (the 'test' split of the shipped models' data seed,
paper scene, MMSE estimates; bench.precoders.held_out_realizations) every precoder sees the
estimates and the varpi-averaged sensing geometry, and is scored on the TRUE channels and the
REALIZED sensing matrices as the STCIB bench scores it (evaluation.score / bench.precoders.summary):
the eq 23a objective with eta = 0.4 on the kappa-rates, its parts sum R_C and sum R_S, SC
feasibility (every R_C,k >= 3 bps/Hz, the SINR side) and CC feasibility (every R_S,j >= 0.5,
the SCNR side, realized and varpi-averaged). Rows:

- the decentralized per-TAP set (models/teacher_student/ts_cellfree_ap*.onnx; each TAP's model
  on its own estimates and steering vector only, run per TAP through the registry);
- the centralized STCIB (models/stcib_joint.onnx, same objective, eta = 0.4);
- the iterative optimizer at quality "fast" (joint, eta = 0.4), on the first ``optimizer``
  realizations (every row is also reported on that subset);
- ZF user beams with the registry's default null-space sensing beam (10 % of the power);
- local RZF (:func:`local_rzf`), a classical decentralized reference with the set's knowledge:
  each TAP's regularized ZF on its own estimates plus its own steering vector toward the target
  (10 % of its power), at its power rho; it separates what the missing cooperation costs from
  what the small CPU-trained networks leave on the table.

The answer is ``ratio_decentralized_to_centralized`` = mean objective of the set / STCIB's.
Also: seconds per realization (batched; and at batch 1: the slowest TAP's own model, the TAPs
running in parallel, vs STCIB's whole-network call) and fronthaul bytes per coherence block
(bench.teacher_student.fronthaul: the centralized rows move estimates up and beams down).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import evaluation
from ..config import SystemConfig
from ..models import shipped_models_dir
from ..precoding.isac import isac_beamformer
from ..precoding.linear import rzf
from ..precoding.lineup import designer
from ..precoding.registry import PrecoderSpec, Realization, spec_for
from .common import best_time
from .precoders import held_out_realizations, summary

SET = "teacher_student/ts_cellfree_ap0.onnx"
STCIB = "stcib_joint.onnx"
ETA = 0.4
SIZES = {True: {"test": 100, "optimizer": 8, "repeats": 3},
         False: {"test": 2000, "optimizer": 200, "repeats": 20}}  # fmt: skip
DECENTRAL, CENTRAL, OPTIMIZER, ZF, LOCAL = (
    "decentralized per-TAP U-Net set",
    "STCIB (centralized)",
    "optimizer (fast)",
    "ZF + null-space sensing beam",
    "local RZF per TAP + own target beam",
)
#: the sensing share of the classical rows (the zf family's default)
SENSING_FRACTION = 0.1


def local_rzf(F_hat: np.ndarray, aT_t: np.ndarray, rho: float,
              fraction: float = SENSING_FRACTION) -> np.ndarray:  # fmt: skip
    """Decentralized classical ISAC W (B, NT MT, K+1): TAP t's rows are RZF (paper 002 eq 5) on
    its own estimates F_hat_t (B, MT, K) with its steering vector a_T,t toward the target as the
    sensing beam, ``fraction`` of its power rho on it (isac_beamformer), so ||W_t||_F^2 = rho."""
    B, NT, MT = np.shape(aT_t)
    parts = []
    for t in range(NT):
        F_t = np.asarray(F_hat)[:, t * MT : (t + 1) * MT]
        parts.append(isac_beamformer(rzf(F_t, rho), np.asarray(aT_t)[:, t], rho, fraction))
    return np.concatenate(parts, axis=1)


def specs(scenario: str = "cellfree") -> dict[str, PrecoderSpec]:
    """label -> registry spec of the section's rows (the shipped ones that exist)."""
    folder = shipped_models_dir()
    out = {}
    if (folder / SET).is_file():
        out[DECENTRAL] = PrecoderSpec("teacher_student", scenario, {"path": str(folder / SET)})
    if (folder / STCIB).is_file():
        out[CENTRAL] = spec_for(str(folder / STCIB), scenario, threads=1)
    out[OPTIMIZER] = PrecoderSpec("optimize", scenario, {"regime": "joint", "eta": ETA,
                                                         "threshold": None, "quality": "fast"})  # fmt: skip
    out[ZF] = PrecoderSpec("zf", scenario)
    return out


def per_tap_seconds(pre: Any, real: Any, MT: int, repeats: int) -> list[float]:
    """Batch-1 seconds of each TAP's own model on realization 0 (best of ``repeats``)."""
    one = real.take(slice(0, 1))
    out = []
    for t in range(one.F_hat.shape[1] // MT):
        r = Realization(one.F_hat[:, t * MT : (t + 1) * MT], one.sensing)
        out.append(best_time(lambda r=r, t=t: pre.per_ap(t, r), repeat=repeats))
    return out


def section(quick: bool, fronthaul: dict[str, Any]) -> dict[str, Any]:
    """The Table-I comparison (module docstring); ``fronthaul`` the cellfree entry of
    bench.teacher_student.fronthaul."""
    sizes = SIZES[quick]
    cfg = SystemConfig()
    rows = specs()
    if DECENTRAL not in rows or CENTRAL not in rows:
        missing = [p for p in (SET, STCIB) if not (shipped_models_dir() / p).is_file()]
        return {"missing": missing, "train": "cfisac train --family teacher-student --config "
                "gr_cfisac/train/configs/ts_cellfree.yml --export "
                "models/teacher_student/ts_cellfree.onnx"}  # fmt: skip
    real = held_out_realizations(cfg, "paper", sizes["test"])
    run = {label: designer(spec, cfg) for label, spec in rows.items()}
    run[LOCAL] = lambda r: local_rzf(r.F_hat, r.sensing.aT_t, cfg.rho)
    n_opt = min(sizes["optimizer"], sizes["test"])
    scored = evaluation.compare([real], run, ETA, limits={OPTIMIZER: n_opt})
    sub = slice(0, n_opt)
    table = {}
    for label, (parts, seconds) in scored.items():
        full = summary(parts)
        table[label] = {
            "realizations": int(len(parts["objective"])),
            **full,
            "on_optimizer_subset": summary(parts, sub),
            "seconds_per_realization_batched": seconds,
            "fronthaul_bytes_per_block": fronthaul[
                "decentralized" if label in (DECENTRAL, LOCAL) else "centralized"
            ],  # fmt: skip
        }
    dec, cen = table[DECENTRAL], table[CENTRAL]
    ratio = dec["objective"] / cen["objective"]
    ratio_sub = dec["on_optimizer_subset"]["objective"] / cen["on_optimizer_subset"]["objective"]
    tap = per_tap_seconds(run[DECENTRAL].precoder, real, cfg.MT, sizes["repeats"])
    one = real.take(slice(0, 1))
    stcib_1 = best_time(lambda: run[CENTRAL](one), repeat=sizes["repeats"])
    return {
        "realizations": sizes["test"],
        "optimizer_realizations": n_opt,
        "eta": ETA,
        "rows": table,
        "ratio_decentralized_to_centralized": ratio,
        "ratio_decentralized_to_centralized_on_optimizer_subset": ratio_sub,
        "ratio_decentralized_to_optimizer_fast": (
            dec["on_optimizer_subset"]["objective"]
            / table[OPTIMIZER]["on_optimizer_subset"]["objective"]
        ),
        "objective_cost_of_decentralization": 1.0 - ratio,
        "ratio_local_rzf_to_centralized": table[LOCAL]["objective"] / cen["objective"],
        "seconds_batch1": {"per_tap": tap, "per_tap_max": max(tap), "stcib": stcib_1},
        "note": "decentralized: each TAP's own model on its own estimates and steering vector, "
        "per-TAP power rho (meets eq 23d's total rho NT); STCIB: the whole network's estimates, "
        "total power rho NT. Both trained on minus eq 23a with eta = 0.4 on the same dataset.",
    }
