"""Figs. 7-8 of paper 003 for the lhgnn bench (``power_sweep``): the SCA optimizer of problem 32
(``precoding.convex.sca_speb``, strict SPEB <= gamma_sca(P), true channels, alpha and target) on
``n_sca`` realizations per power, the learned models at their card's power P0 and rescaled
elsewhere, and at P0 the LHGNN refined by projected gradient ascent (``ascent_rows``,
``precoding.speb_ascent``) next to the ascent from a start without learning. The bench module
(``bench.lhgnn``) states every choice. numpy + onnxruntime + cvxpy (the SCA)."""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import numpy as np

from ..coisac import CoisacBatch, CoisacConfig, CoisacScenario, power_from_dbm, sum_rate
from ..precoding.convex import sca_speb
from ..precoding.lhgnn import LHGNNHost
from ..precoding.speb_ascent import AscentSettings, Problem, ascend
from ..reproduce.run import IN_PROCESS, Run
from .lhgnn_models import (
    RESCALED,
    SCA,
    TEST_SEED,
    beams,
    block_metrics,
    card_power_dbm,
    scenario_of,
    summary,
)

#: SCA settings of the bench (defaults but fewer SCA steps; the cache key includes them)
SCA_SETTINGS = sca_speb.Settings(max_iters=15, draws=30)
#: the SCA's constraint at 20 dBm, gamma_card P0 / P at other powers: the stand-in threshold the
#: first models were trained for (mean SPEB of ZF users + a target beam with half the power).
#: The SCA's mean SPEB under it (gamma(P)) is the threshold the shipped models train for.
SCA_GAMMA_REF_M2, SCA_P0_DBM = 11.065971154359223, 20.0
#: ascent steps after the LHGNN (speb_ascent, true echo model as the SCA), and the realizations
#: of the test set they run on (quick / full)
ASCENT_STEPS = (50, 100, 200)
ASCENT_BLOCKS = {True: 50, False: 200}
ASCENT = "LHGNN + ascent ({} steps)"
ASCENT_HEURISTIC = "target beam + MRT + ascent ({} steps)"


def sca_blocks(cfg: CoisacConfig, n: int, seed: int = TEST_SEED) -> list[CoisacBatch]:
    """The SCA's realizations: block i drawn alone with seed (seed, i), so a run with more
    realizations reuses (and the cache keeps) the ones of a smaller run."""
    return [CoisacScenario(cfg).draw(1, rng=[seed, i]) for i in range(n)]


def sca_threshold(
    cfg: CoisacConfig, power_dbm: float, gamma_ref: float = SCA_GAMMA_REF_M2,
    p0_dbm: float = SCA_P0_DBM,
) -> float:  # fmt: skip
    """The SCA's strict SPEB threshold at ``power_dbm``: gamma_ref P0 / P (m^2; SPEB ~ 1 / P
    for fixed beam directions)."""
    return gamma_ref * power_from_dbm(cfg, p0_dbm) / power_from_dbm(cfg, power_dbm)


def run_sca(
    blocks: list[CoisacBatch], power_dbm: float, gamma_m2: float, run: Run = IN_PROCESS,
    settings: sca_speb.Settings = SCA_SETTINGS,
) -> sca_speb.PrecoderResult:  # fmt: skip
    """The SCA (strict SPEB <= gamma_m2) on ``blocks`` at ``power_dbm`` per BS, through the
    sweep runner with ``run``'s scheduler and cache."""
    scenes = [sca_speb.scenes_of(b, power_from_dbm(b.cfg, power_dbm))[0] for b in blocks]
    s = dataclasses.replace(settings, gamma=float(gamma_m2))
    cache = None if run.cache_dir is None else str(run.cache_dir)
    return sca_speb.solve_scenes(scenes, s, run.scheduler, cache, run.progress)


def time_sca(cfg: CoisacConfig, n: int, p0_dbm: float) -> list[float]:
    """Seconds of the SCA on the first ``n`` of its realizations (``sca_blocks``) at P0 and the
    bench's settings, solved now: in process, one at a time, no cache."""
    res = run_sca(
        sca_blocks(cfg, n), p0_dbm, sca_threshold(cfg, p0_dbm), Run("sync", progress=True)
    )
    return [float(x) for x in res.extras["seconds"]]


def power_point(
    hosts: dict[str, LHGNNHost], batch: CoisacBatch, blocks: list[CoisacBatch],
    power_dbm: float, gamma_ref: float, p0_dbm: float, run: Run = IN_PROCESS,
    settings: sca_speb.Settings = SCA_SETTINGS, n_ascent: int = 0,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:  # fmt: skip
    """Rows (one per method) at one power and the point's facts (gammas, SCA extras): the
    learned models on ``batch``, the SCA on ``blocks`` (the learned models' rate on those too:
    ``sum_rate_shared``)."""
    cfg = batch.cfg
    P = power_from_dbm(cfg, power_dbm)
    gamma_sca = sca_threshold(cfg, power_dbm, gamma_ref, p0_dbm)
    res = run_sca(blocks, power_dbm, gamma_sca, run, settings)
    ex = res.extras
    ok = ex["feasible"] > 0
    # a realization whose solvers both failed (sca_speb "solved" 0) is no SCA result: the
    # SCA rows and the learned models' shared rate are over the solved ones
    solved = ex["solved"] > 0
    kept = [b for b, keep in zip(blocks, solved) if keep]
    gamma = float(np.mean(ex["speb"][ok])) if ok.any() else math.nan  # mean_speb_at_power
    native = bool(np.isclose(power_dbm, p0_dbm))
    sca_m = {"rate": ex["sum_rate"], "speb": ex["speb"]}
    rows = [{"power_dbm": power_dbm, "method": SCA, "native": True,
             **summary(sca_m, gamma, solved),
             "speb_satisfied_strict": float(np.mean(ex["speb_met"][solved])),
             "sum_rate_shared": float(np.mean(ex["sum_rate"][solved]))}]  # fmt: skip
    scale = None if native else P
    for label, host in hosts.items():
        m = block_metrics(batch, beams(host, batch.F_hat, batch.sensing.aT_t, scale))
        shared = [float(sum_rate(b.F, beams(host, b.F_hat, b.sensing.aT_t, scale))[0])
                  for b in kept]  # fmt: skip
        rows.append({"power_dbm": power_dbm, "method": label if native else label + RESCALED,
                     "native": native, **summary(m, gamma), "speb_satisfied_strict":
                     float(np.mean(m["speb"] <= gamma_sca * (1 + 1e-6))),
                     "sum_rate_shared": float(np.mean(shared))})  # fmt: skip
    if native and n_ascent and "LHGNN" in hosts and ok.any():
        rows += ascent_rows(hosts["LHGNN"], batch, kept, power_dbm, gamma, n_ascent)
    facts = {"power_dbm": power_dbm, "gamma_sca_m2": gamma_sca, "gamma_m2": gamma,
             "sca_feasible": int(ok.sum()), "sca_solved": int(solved.sum()),
             "sca_realizations": len(blocks),
             "sca_seconds": ex["seconds"].tolist(), "sca_sum_rate": ex["sum_rate"].tolist(),
             "sca_speb_m2": ex["speb"].tolist(), "sca_rank_one": ex["rank_one_fraction"].tolist()}  # fmt: skip
    return rows, facts


def target_mrt_start(p: Problem) -> np.ndarray:
    """A start without learning: half of every BS's budget on its target beam p*, half on MRT
    user beams (equal per user)."""
    B, NL, K = p.F.shape
    N = p.N
    Fn = p.F.reshape(B, N, NL // N, K)
    mrt = (
        Fn
        / np.linalg.norm(Fn, axis=2, keepdims=True)
        * np.sqrt(p.power[:, :, None, None] / (2 * K))
    )
    return np.concatenate([np.sqrt(0.5) * p.target[..., None], mrt.reshape(B, NL, K)], -1)


def ascent_rows(
    host: LHGNNHost, batch: CoisacBatch, blocks: list[CoisacBatch], power_dbm: float,
    gamma: float, n: int, steps: tuple[int, ...] = ASCENT_STEPS,
) -> list[dict[str, Any]]:  # fmt: skip
    """The LHGNN's beams refined by ``steps`` ascent steps (speb_ascent, SPEB <= gamma on the
    true echo model, the SCA's knowledge) on the first ``n`` test blocks and on the SCA's blocks,
    and the ascent from ``target_mrt_start`` with the most steps; seconds per realization at
    batch 1 (first block) and batched."""
    P = power_from_dbm(batch.cfg, power_dbm)
    test = Problem.of_scenes(sca_speb.scenes_of(batch, P)[:n], gamma)
    shared = Problem.of_scenes([sca_speb.scenes_of(b, P)[0] for b in blocks], gamma)
    one = test.take(np.arange(1))  # batch 1: the first test block

    def learned(b: CoisacBatch, count: int) -> np.ndarray:
        return beams(host, b.F_hat[:count], b.sensing.aT_t[:count]).astype(complex)

    starts = {"test": learned(batch, n), "shared": np.concatenate([learned(b, 1) for b in blocks])}
    rows = []
    for label, k, start_of in [(ASCENT.format(k), k, None) for k in steps] + [
        (ASCENT_HEURISTIC.format(max(steps)), max(steps), target_mrt_start)
    ]:
        settings = AscentSettings(steps=k)
        t0 = time.perf_counter()
        out = ascend(test, starts["test"] if start_of is None else start_of(test), settings)
        batched = (time.perf_counter() - t0) / n
        t0 = time.perf_counter()
        ascend(one, starts["test"][:1] if start_of is None else start_of(one), settings)
        single = time.perf_counter() - t0
        sh = ascend(shared, starts["shared"] if start_of is None else start_of(shared), settings)
        rows.append({"power_dbm": power_dbm, "method": label, "native": True,
                     **summary({"rate": out.sum_rate, "speb": out.speb}, gamma),
                     "speb_satisfied_strict": float(np.mean(out.met)),
                     "sum_rate_shared": float(np.mean(sh.sum_rate)),
                     "speb_shared_m2": sh.speb.tolist(), "steps": k,
                     "seconds_batch1": single, "seconds_batched": batched})  # fmt: skip
    return rows


def power_sweep(
    hosts: dict[str, LHGNNHost], powers_dbm: tuple[float, ...], n_sca: int, n_test: int,
    run: Run = IN_PROCESS, gamma_ref: float | None = None, p0_dbm: float | None = None,
    cfg: CoisacConfig | None = None, seed: int = TEST_SEED,
    settings: sca_speb.Settings = SCA_SETTINGS, n_ascent: int = 0,
) -> dict[str, Any]:  # fmt: skip
    """Figs. 7-8 (``n_ascent`` > 0 adds ``ascent_rows`` at p0 on that many test blocks): rows (power, method) of sum rate, SPEB and satisfaction. The SCA runs with
    SPEB <= gamma_ref p0 / P (default SCA_GAMMA_REF_M2 at SCA_P0_DBM); p0_dbm is also the power
    the learned models are native at (default the LHGNN card's, needed without hosts)."""
    first = next(iter(hosts.values()), None)
    if p0_dbm is None:
        if first is None:
            raise ValueError("power_sweep: without models pass p0_dbm")
        p0_dbm = card_power_dbm(first)
    cfg = cfg or scenario_of(hosts)
    if gamma_ref is None:  # SCA_GAMMA_REF_M2 at SCA_P0_DBM, expressed at p0
        gamma_ref = SCA_GAMMA_REF_M2 * 10 ** ((SCA_P0_DBM - p0_dbm) / 10)
    if n_sca < 1 or n_test < 1:
        raise ValueError(f"n_sca and n_test must be >= 1, got {n_sca}, {n_test}")
    batch = CoisacScenario(cfg).draw(n_test, rng=seed)
    blocks = sca_blocks(cfg, n_sca, seed)
    rows, points = [], []
    for p in powers_dbm:
        r, f = power_point(hosts, batch, blocks, float(p), gamma_ref, p0_dbm, run, settings,
                           n_ascent)  # fmt: skip
        rows += r
        points.append(f)
    return {"rows": rows, "points": points, "p0_dbm": p0_dbm, "gamma_ref_m2": gamma_ref,
            "n_sca": n_sca, "n_test": n_test, "seed": seed,
            "sca_settings": dataclasses.asdict(settings)}  # fmt: skip
