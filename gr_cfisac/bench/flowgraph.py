"""Throughput of the whole GNU Radio chain vs the same computation by the core in a Python loop.

The flowgraph is the chain of cfisac blocks (gr_cfisac.blocks.build_chain, as cfisac_sim.grc
wires it) on the Table-I network, up to 64 coherence blocks per work() call; the reference does
the same steps with the numerical core's functions in a plain loop: scenario draw, pilots,
MMSE estimation, ZF + null-space sensing beam, symbols, downlink and echo channels, 2D MUSIC at
every RAP, association and fusion, measured and formula metrics with the CRB. It runs twice:
batched like the flowgraph (64 blocks per iteration: the fair reference, the same work per
block) and one block per iteration (what batching buys). The ratio flowgraph blocks/s over the
batched loop's shows what the GNU Radio plumbing costs once work() calls are batched; the
equivalent symbol rate per antenna is blocks/s x tau_c.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .common import write_report

#: coherence blocks per work() call in the flowgraph, and per iteration of the batched loop
BATCH = 64


def core_loop(cfg, n_blocks: int, seed: int = 1, sensing: bool = True, batch: int = 1) -> float:
    """Seconds for n_blocks coherence blocks done ``batch`` at a time (the last iteration
    takes what is left) with the core's functions (without the echo, MUSIC, fusion and
    sensing metrics when ``sensing`` is False)."""
    from ..bounds import position_error_bound, target_bounds
    from ..channels import (
        crandn,
        draw_comm_channels,
        draw_rcs,
        sensing_geometry,
        sensing_matrices,
        split_tap_major,
        stack_tap_major,
    )
    from ..echo import apply_sensing_channel, scatterer_gains, source_covariance, transmit_symbols
    from ..estimation import mmse_estimate, orthogonal_pilots, project_pilots, received_pilots
    from ..geometry import rap_poses
    from ..localization import associate_target, fuse_position, localization_error, pick
    from ..metrics import measured_scnr, measured_sinr, rate, scnr, sinr
    from ..mobility import Mobility
    from ..music import estimate
    from ..precoding import isac_beamformer, nullspace_beam, target_beam, zf

    rng = np.random.default_rng(seed)
    mobility = Mobility(cfg, seed, "paper", 0.0, 0.0, cfg.tau_c / cfg.bandwidth_hz)
    pilots = orthogonal_pilots(cfg.K, cfg.tau_p)
    rap_pos, rap_frame = rap_poses(cfg)
    P = cfg.power_budget
    t0 = time.perf_counter()
    for first in range(0, n_blocks, batch):
        b = min(batch, n_blocks - first)
        geom = mobility.geometry(np.arange(first, first + b))
        comm = draw_comm_channels(cfg, geom, rng)
        Y = received_pilots(split_tap_major(comm.F, cfg.NT), pilots, cfg.rho_p, rng)
        mean = split_tap_major(comm.mean, cfg.NT)
        F_hat = stack_tap_major(
            mmse_estimate(project_pilots(Y, pilots), mean, comm.cov, cfg.rho_p, cfg.tau_p)
        )
        sg = sensing_geometry(cfg, geom)
        varpi_t, varpi_c = draw_rcs(rng, b, cfg.NR, cfg.NT, cfg.NC)
        G_t, G_c = sensing_matrices(sg, varpi_t, varpi_c)
        beam = nullspace_beam(target_beam(sg.aT_t, sg.amp_t), F_hat)
        W = isac_beamformer(zf(F_hat, P), beam, P, 0.3)
        x = transmit_symbols(rng, b, cfg.K, cfg.tau)
        S = W @ x
        y = np.swapaxes(comm.F.conj(), 1, 2) @ S + crandn(rng, (b, cfg.K, cfg.tau))
        measured_sinr(y, x[:, 1:])
        rate(sinr(comm.F, W), cfg.kappa)
        if not sensing:
            continue
        y_rap = apply_sensing_channel(G_t, G_c, S, rng)
        peaks = estimate(y_rap, *cfg.MR_shape, cfg.NC + 1, cfg.NC + 1).angles
        prior = np.stack([sg.psi_t, sg.theta_t], -1)
        target = pick(peaks, associate_target(peaks, prior=prior, gate=np.radians(10)))
        fix = fuse_position(
            rap_pos, rap_frame, target[..., 0], target[..., 1], height_m=cfg.target_height_m
        )
        echo_t = (G_t.reshape(b, -1, cfg.N) @ W @ x).reshape(y_rap.shape)
        measured_scnr(y_rap, echo_t)
        rate(scnr(G_t, G_c, W), cfg.kappa)
        localization_error(sg.psi_t, sg.theta_t, target[..., 0], target[..., 1])
        np.linalg.norm(fix.position - geom.target_pos, axis=-1)
        with np.errstate(all="ignore"):
            bounds = target_bounds(
                sg,
                source_covariance(*scatterer_gains(sg, W, varpi_t, varpi_c)),
                *cfg.MR_shape,
                cfg.tau,
            )
            position_error_bound(rap_pos, rap_frame, geom.target_pos, bounds.info_uv, True)
    return time.perf_counter() - t0


def flowgraph_run(cfg, n_blocks: int, max_blocks: int = 64, seed: int = 1, sensing: bool = True):
    """(seconds, chain) for n_blocks through the whole chain of GNU Radio blocks."""
    from gnuradio import gr

    from ..blocks import build_chain

    tb = gr.top_block()
    chain = build_chain(
        tb, cfg, seed=seed, num_blocks=n_blocks, max_blocks=max_blocks, with_sensing=sensing
    )
    t0 = time.perf_counter()
    tb.run()
    elapsed = time.perf_counter() - t0
    if chain.errors():
        raise RuntimeError(f"the flowgraph stopped: {chain.errors()}")
    return elapsed, chain


def run(out_dir: Path, quick: bool) -> dict:
    from .. import blas
    from ..config import SystemConfig

    cfg = SystemConfig()
    n_fg, n_loop = (128, 32) if quick else (960, 240)
    flowgraph_run(cfg, 32)  # warm-up: imports, MUSIC grids
    blas.enter_block_thread()  # the loops get the BLAS threads a block thread gets
    core_loop(cfg, 4)
    core_loop(cfg, BATCH, batch=BATCH)
    t_loop = core_loop(cfg, n_loop)
    t_batched = core_loop(cfg, n_fg, batch=BATCH)
    t_fg, chain = flowgraph_run(cfg, n_fg, max_blocks=BATCH)
    small, _ = flowgraph_run(cfg, n_fg // 4, max_blocks=1)
    fg_rate, loop_rate, batched_rate = n_fg / t_fg, n_loop / t_loop, n_fg / t_batched
    one_rate = (n_fg // 4) / small
    # the communication chain alone (no echo, MUSIC, fusion): less numerics per block, so the
    # plumbing's share shows more
    comm_loop = n_loop / core_loop(cfg, n_loop, sensing=False)
    comm_batched = n_fg / core_loop(cfg, n_fg, sensing=False, batch=BATCH)
    comm_fg = n_fg / flowgraph_run(cfg, n_fg, max_blocks=BATCH, sensing=False)[0]
    breakdown = {
        b.name(): {
            "calls": b.calls,
            "process_s": round(b.process_time, 4),
            "blocks_per_call": round(b.blocks_done / max(b.calls, 1), 1),
        }
        for b in chain.blocks
    }
    summary = {
        "flowgraph_blocks_per_s": fg_rate,
        "core_batched_blocks_per_s": batched_rate,
        "ratio_flowgraph_over_batched_core": fg_rate / batched_rate,
        "core_loop_blocks_per_s": loop_rate,
        "ratio_flowgraph_over_loop": fg_rate / loop_rate,
        "flowgraph_one_block_per_call_blocks_per_s": one_rate,
        "comm_only_flowgraph_blocks_per_s": comm_fg,
        "comm_only_core_batched_blocks_per_s": comm_batched,
        "comm_only_ratio_over_batched_core": comm_fg / comm_batched,
        "comm_only_core_loop_blocks_per_s": comm_loop,
        "comm_only_ratio": comm_fg / comm_loop,
        "symbols_per_s_per_antenna": fg_rate * cfg.tau_c,
        "real_time_fraction_of_bandwidth": fg_rate * cfg.tau_c / cfg.bandwidth_hz,
    }
    report = {
        "summary": summary,
        "network": cfg.summary(),
        "flowgraph_blocks": n_fg,
        "core_batched_blocks": n_fg,
        "core_loop_blocks": n_loop,
        "max_blocks_per_call": BATCH,
        "per_block": breakdown,
        "note": f"both sides run the same core functions; the flowgraph batches up to {BATCH} "
        "coherence blocks per work() call across 9 Python blocks in their own threads (2 "
        f"shared cores here). The fair reference is the batched core loop ({BATCH} blocks "
        "per iteration, one thread, one BLAS thread: core_batched_*, ratio_*_over_batched_"
        "core); the loop of one block per iteration (core_loop_*, ratio_flowgraph_over_loop) "
        "and the flowgraph at one block per call show what batching buys.",
    }
    write_report(out_dir, "flowgraph", report)
    return report
