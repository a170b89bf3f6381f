"""The whole CF-ISAC chain wired into a top block from Python (what cfisac_sim.grc draws).

    tb = gr.top_block()
    chain = build_chain(tb, SystemConfig(), num_blocks=100)
    tb.run()
    print(chain.metrics.summary())

Useful for scripts, tests and benchmarks that want the chain without GRC; the GRC flowgraph
``flowgraphs/cfisac_sim.grc`` wires the same blocks the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from gnuradio import gr

from ..config import SystemConfig
from .downlink_channel import downlink_channel
from .echo_channel import echo_channel
from .fusion import fusion
from .metrics_sink import metrics_sink
from .music_localizer import music_localizer
from .pilot_estimator import pilot_estimator
from .precoder import precoder
from .scenario_source import scenario_source
from .transmitter import transmitter


@dataclass
class Chain:
    """The blocks of one chain (sensing blocks are None without sensing)."""

    scenario: scenario_source
    estimator: pilot_estimator
    precoder: precoder
    transmitter: transmitter
    downlink: downlink_channel
    echo: echo_channel | None
    music: music_localizer | None
    fusion: fusion | None
    metrics: metrics_sink

    @property
    def blocks(self) -> list[gr.basic_block]:
        return [b for b in vars(self).values() if b is not None]

    def errors(self) -> dict[str, Exception]:
        """Blocks that stopped the flowgraph with an error: name -> exception."""
        return {b.name(): b.error for b in self.blocks if b.error is not None}


def build_chain(
    tb: gr.top_block,
    cfg: SystemConfig,
    seed: int = 1,
    num_blocks: int = 100,
    algorithm: str = "zf",
    sensing_fraction: float = 0.3,
    with_sensing: bool = True,
    max_blocks: int | dict[str, int] = 64,
    msg_interval: int = 0,
    print_interval: int = 0,
    csv_path: str = "",
    n_sources: int | None = None,
    **scenario_options,
) -> Chain:
    """Create and connect every block of the chain in ``tb``.

    max_blocks: coherence blocks per work() call, one number or per block name (tests use odd
    sizes to shuffle the call boundaries). n_sources: MUSIC's model order (default NC + 1;
    0: MDL per block, as cfisac_sim does). scenario_options go to scenario_source.
    """

    def mb(name: str) -> int:
        return max_blocks.get(name, 64) if isinstance(max_blocks, dict) else int(max_blocks)

    NT, K, NR = cfg.NT, cfg.K, cfg.NR
    c = Chain(
        scenario=scenario_source(
            cfg, seed=seed, num_blocks=num_blocks, max_blocks=mb("scenario"), **scenario_options
        ),
        estimator=pilot_estimator(cfg, max_blocks=mb("estimator")),
        precoder=precoder(
            cfg,
            algorithm,
            sensing_fraction=sensing_fraction,
            msg_interval=msg_interval,
            max_blocks=mb("precoder"),
        ),
        transmitter=transmitter(cfg, seed=seed + 1, max_blocks=mb("transmitter")),
        downlink=downlink_channel(cfg, seed=seed + 2, max_blocks=mb("downlink")),
        echo=echo_channel(cfg, seed=seed + 3, max_blocks=mb("echo")) if with_sensing else None,
        music=(
            music_localizer(
                cfg, n_sources=n_sources, msg_interval=msg_interval, max_blocks=mb("music")
            )
            if with_sensing
            else None
        ),
        fusion=fusion(cfg, msg_interval=msg_interval, max_blocks=mb("fusion"))
        if with_sensing
        else None,
        metrics=metrics_sink(
            cfg,
            with_sensing=with_sensing,
            msg_interval=msg_interval,
            print_interval=print_interval,
            csv_path=csv_path,
            max_blocks=mb("metrics"),
        ),
    )
    truth, geometry = (c.scenario, 2 * NT), (c.scenario, 2 * NT + 1)
    for i in range(NT):
        tb.connect((c.scenario, i), (c.estimator, i))
        tb.connect((c.scenario, NT + i), (c.estimator, NT + i))
        tb.connect((c.estimator, i), (c.precoder, i))
        tb.connect((c.precoder, i), (c.transmitter, i))
        tb.connect((c.transmitter, i), (c.downlink, i))
    tb.connect(geometry, (c.precoder, NT))
    tb.connect(truth, (c.downlink, NT))
    for k in range(K):
        tb.connect((c.downlink, k), (c.metrics, k))
    tb.connect((c.transmitter, NT), (c.metrics, K))
    tb.connect(truth, (c.metrics, K + 1))
    tb.connect((c.precoder, NT), (c.metrics, K + 2))
    if with_sensing:
        for i in range(NT):
            tb.connect((c.transmitter, i), (c.echo, i))
        tb.connect(truth, (c.echo, NT))
        tb.connect(geometry, (c.metrics, K + 3))
        for j in range(NR):
            tb.connect((c.echo, j), (c.music, j))
            tb.connect((c.echo, j), (c.metrics, K + 4 + j))
            tb.connect((c.music, j), (c.fusion, j))
        tb.connect(geometry, (c.fusion, NR))
        tb.connect(c.fusion, (c.metrics, K + 4 + NR))
    return c
