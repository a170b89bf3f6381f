"""The whole CF-ISAC chain wired into a top block from Python (what cfisac_sim.grc draws).

    tb = gr.top_block()
    chain = build_chain(tb, SystemConfig(), num_blocks=100)
    tb.run()
    print(chain.metrics.summary())

Five blocks, connected by port name (:class:`~gr_cfisac.blocks.wiring.Wiring`; ports named
alike carry the same thing)::

    tap (tap_side) --tap0.., truth--> downlink --user1..--> metrics
        |  \\--symbols, truth, W, geometry, active----------> metrics
        \\--tap0.., truth--> echo --rap1..--> rap (rap_side) --fix--> metrics
            geometry ------------------------^   \\--rap1..--------------> metrics

Useful for scripts, tests and benchmarks that want the chain without GRC. The GRC flowgraph
``flowgraphs/cfisac_sim.grc`` draws the same blocks the same way: its builder replays this
wiring (``Chain.wiring`` and the hier blocks' ``wiring``).
"""

from __future__ import annotations

from dataclasses import dataclass

from gnuradio import gr

from ..config import SystemConfig
from .downlink_channel import downlink_channel
from .echo_channel import echo_channel
from .hier import part_setting
from .metrics_sink import metrics_sink
from .rap_side import rap_side
from .tap_side import SEED_OFFSETS as TAP_SEED_OFFSETS
from .tap_side import tap_side
from .wiring import Wiring

#: every block's seed relative to the chain's ``seed``
SEED_OFFSETS = TAP_SEED_OFFSETS | {"downlink": 2, "echo": 3}
#: the names ``max_blocks`` may be given per (the parts of the hier blocks and the others)
PART_NAMES = ("scenario", "estimator", "precoder", "transmitter", "downlink", "echo")
PART_NAMES += ("music", "fusion", "metrics")
#: what is connected to what: (source, destination) pairs, every port name they share
LINKS = (("tap", "downlink"), ("downlink", "metrics"), ("tap", "metrics"))
SENSING_LINKS = (("tap", "echo"), ("echo", "rap"), ("echo", "metrics"), ("tap", "rap"))
SENSING_LINKS += (("rap", "metrics"),)


@dataclass
class Chain:
    """The blocks of one chain (the sensing ones are None without sensing); ``wiring`` says how
    they are connected."""

    tap: tap_side
    downlink: downlink_channel
    echo: echo_channel | None
    rap: rap_side | None
    metrics: metrics_sink
    wiring: Wiring

    @property
    def scenario(self):
        return self.tap.scenario

    @property
    def estimator(self):
        return self.tap.estimator

    @property
    def precoder(self):
        return self.tap.precoder

    @property
    def transmitter(self):
        return self.tap.transmitter

    @property
    def music(self):
        return None if self.rap is None else self.rap.music

    @property
    def fusion(self):
        return None if self.rap is None else self.rap.fusion

    @property
    def blocks(self) -> list[gr.basic_block]:
        """Every cfisac block, in signal order (the hier blocks' parts, not the hier blocks)."""
        sensing = [] if self.rap is None else [self.echo, *self.rap.blocks]
        return [*self.tap.blocks, self.downlink, *sensing, self.metrics]

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

    max_blocks: coherence blocks per work() call, one number or per block name (PART_NAMES;
    tests use odd sizes to shuffle the call boundaries). n_sources: MUSIC's model order
    (default NC + 1; 0: MDL per block, as cfisac_sim does). scenario_options go to the
    scenario source (tap_side's scene, user_speed_mps, …). Seeds: SEED_OFFSETS.
    """
    if isinstance(max_blocks, dict) and set(max_blocks) - set(PART_NAMES):
        raise ValueError(
            f"build_chain: max_blocks names unknown blocks {sorted(set(max_blocks) - set(PART_NAMES))}"
            f"; the blocks: {PART_NAMES}"
        )

    def mb(name: str) -> int:
        return part_setting(max_blocks, name, 64)

    parts = {
        "tap": tap_side(
            cfg,
            seed=seed,
            num_blocks=num_blocks,
            algorithm=algorithm,
            sensing_fraction=sensing_fraction,
            msg_interval=msg_interval,
            max_blocks=max_blocks,
            **scenario_options,
        ),
        "downlink": downlink_channel(
            cfg, seed=seed + SEED_OFFSETS["downlink"], max_blocks=mb("downlink")
        ),
        "metrics": metrics_sink(
            cfg,
            with_sensing=with_sensing,
            msg_interval=msg_interval,
            print_interval=print_interval,
            csv_path=csv_path,
            max_blocks=mb("metrics"),
        ),
    }
    if with_sensing:
        parts["echo"] = echo_channel(cfg, seed=seed + SEED_OFFSETS["echo"], max_blocks=mb("echo"))
        parts["rap"] = rap_side(
            cfg, n_sources=n_sources, msg_interval=msg_interval, max_blocks=max_blocks
        )
    wiring = Wiring(tb, parts)
    for src, dst in LINKS + (SENSING_LINKS if with_sensing else ()):
        wiring.connect_by_name(src, dst)
    return Chain(
        tap=parts["tap"],
        downlink=parts["downlink"],
        echo=parts.get("echo"),
        rap=parts.get("rap"),
        metrics=parts["metrics"],
        wiring=wiring,
    )
