"""The GNU Radio half of ``cfisac demo``: one run of the grcc-generated cfisac_sim flowgraph with
probes on MUSIC, truth, geometry, W and the fused fix, returned as a :class:`gr_cfisac.demo.Run`
(whose tables and bounds are numpy only, in :mod:`gr_cfisac.demo`)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..demo import Run


def run_flowgraph(
    rap_shape: tuple[int, int],
    sources: int,
    *,
    blocks: int,
    seed: int,
    algorithm: str,
    sensing_fraction: float,
    capture: Path | None = None,
) -> Run:
    """One run of cfisac_sim (``blocks`` coherence blocks, RAP arrays ``rap_shape``, MUSIC
    model order ``sources``, 0: MDL) with probes on MUSIC, truth, geometry, W and the fused fix;
    ``capture`` (a capture name, folder/NAME) records it as SigMF."""
    from gnuradio import blocks as gr_blocks

    from ..flowgraphs.cfisac_sim import cfisac_sim
    from ..layout import (
        angles_layout,
        fix_layout,
        precoder_layout,
        truth_layout,
        unpack_geometry,
    )

    if capture is not None:
        capture.parent.mkdir(parents=True, exist_ok=True)
    tb = cfisac_sim(
        num_blocks=blocks,
        seed=seed,
        algorithm=algorithm,
        sensing_fraction=sensing_fraction,
        print_interval=0,
        rap_rows=rap_shape[0],
        rap_cols=rap_shape[1],
        sources=sources,
        capture="" if capture is None else str(capture),
    )
    cfg = tb.cfg
    tail = gr_blocks.keep_m_in_n(8 * cfg.MR, cfg.tau, cfg.tau * blocks, cfg.tau * (blocks - 1))
    rap1 = gr_blocks.vector_sink_c(cfg.MR)
    tb.connect((tb.echo, 0), tail, rap1)
    angles = angles_layout(tb.music.n_peaks)
    music = [gr_blocks.vector_sink_f(angles.size) for _ in range(cfg.NR)]
    for j, s in enumerate(music):
        tb.connect((tb.music, j), s)
    lay = {"truth": truth_layout(cfg), "W": precoder_layout(cfg), "fix": fix_layout(cfg)}
    probes = {
        "truth": (tb.scenario, 2 * cfg.NT, gr_blocks.vector_sink_c(lay["truth"].size)),
        "geometry": (
            tb.scenario,
            2 * cfg.NT + 1,
            gr_blocks.vector_sink_c(tb.scenario.geometry.size),
        ),
        "W": (tb.precoder, cfg.NT, gr_blocks.vector_sink_c(lay["W"].size)),
        "fix": (tb.fusion, 0, gr_blocks.vector_sink_f(lay["fix"].size)),
    }
    for block, port, sink in probes.values():
        tb.connect((block, port), sink)
    t0 = time.perf_counter()
    tb.run()
    elapsed = time.perf_counter() - t0
    errors = {
        b.name(): b.error
        for b in (tb.scenario, tb.precoder, tb.music, tb.metrics, tb.recorder)
        if b.error
    }
    if errors:
        raise RuntimeError(f"the flowgraph stopped: {errors}")
    if capture is not None and tb.recorder.recording_error:
        raise RuntimeError(f"recording {capture}: {tb.recorder.recording_error}")

    def data(name: str) -> np.ndarray:
        sink = probes[name][2]
        return np.asarray(sink.data()).reshape(blocks, -1)

    out = [angles.unpack(np.asarray(s.data()).reshape(blocks, -1)) for s in music]
    sg = unpack_geometry(cfg, data("geometry"))
    Y = np.asarray(rap1.data(), np.complex64).reshape(-1, cfg.tau, cfg.MR)[-1].T
    return Run(
        tb=tb,
        elapsed=elapsed,
        sources=sources,
        validity=np.stack([o["validity"][:, 0] for o in out], axis=1).astype(int),
        peaks=np.stack([np.stack([o["psi"], o["theta"]], axis=-1) for o in out], axis=1),
        truth=lay["truth"].unpack(data("truth")),
        sg=sg,
        W=lay["W"].unpack(data("W"))["W"],
        fix=lay["fix"].unpack(data("fix")),
        Y=Y,
        capture=tb.recorder.collection_path,
    )
