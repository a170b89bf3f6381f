"""The coisac simulation flowgraph (paper 003, issue 14): a registry precoder on the coisac
scenario, the downlink to the K users, the target's echo at every BS, MUSIC per BS, fusion,
and the metrics sink with the SPEB of each block next to the fused position's error.

    tb = coisac_sim(algorithm="lhgnn_coisac.onnx", num_blocks=100)
    tb.run()
    print(tb.metrics.summary_line())

Blocks (each BS is a TAP and a RAP; ports sized by coisac.network.stream_config)::

    source --estimate0.., geometry--> precoder --beam0..--> transmitter --tap0..--> downlink
      |                                  \\--W--> metrics       |  \\--symbols--> metrics  |
      |                                                         \\--tap0..--> echo         |
      \\--truth--> downlink, echo, metrics                  echo --rap1..--> music, metrics |
      \\--geometry, active--> metrics     music --angles1..--> fusion --fix--> metrics     |
                                                     echo --rap1..--> fusion (weights)    |
                                                        downlink --user1..--> metrics <----/

The precoder sees the channels (perfect CSI, the scenario's F_hat = F) and the sensing
geometry; the echo channel applies eq 7 (G_t of coisac.network.truth_fields) to what the BSs
sent, so the SPEB the metrics sink computes for the W sent and tau = ``snapshots`` samples
bounds exactly what MUSIC sees. MUSIC assumes one source per BS (the echo is rank one); fusion
weights each BS's angles by the echo SNR it measured (coisac_fusion).
"""

from __future__ import annotations

import time

from gnuradio import gr

from ..blocks.coisac_fusion import coisac_fusion
from ..blocks.coisac_metrics import coisac_metrics_sink
from ..blocks.coisac_source import coisac_source
from ..blocks.downlink_channel import downlink_channel
from ..blocks.echo_channel import echo_channel
from ..blocks.music_localizer import music_localizer
from ..blocks.precoder import precoder
from ..blocks.transmitter import transmitter
from ..blocks.wiring import Wiring
from ..coisac import CoisacConfig
from ..coisac.network import stream_config
from ..models import resolve_model

#: every block's seed relative to the flowgraph's ``seed``
SEED_OFFSETS = {"source": 0, "transmitter": 1, "downlink": 2, "echo": 3}
#: (source, destination) pairs connected by every port name they share
LINKS = (
    ("source", "precoder"),
    ("precoder", "transmitter"),
    ("transmitter", "downlink"),
    ("source", "downlink"),
    ("transmitter", "echo"),
    ("source", "echo"),
    ("echo", "music"),
    ("music", "fusion"),
    ("echo", "fusion"),
    ("source", "fusion"),
    ("downlink", "metrics"),
    ("transmitter", "metrics"),
    ("source", "metrics"),
    ("precoder", "metrics"),
    ("echo", "metrics"),
    ("fusion", "metrics"),
)
#: the default precoder: the shipped LHGNN (models/lhgnn/)
DEFAULT_ALGORITHM = "lhgnn_coisac.onnx"


class coisac_sim(gr.top_block):  # noqa: N801 - GNU Radio flowgraph naming
    """The coisac chain as a top block; its parts are attributes (``tb.precoder``, ...) and
    ``tb.wiring`` records the connections.

    Args:
        coisac: the scenario (CoisacConfig(); its power_dbm must match a learned model's card).
        num_blocks: coherence blocks to run, then stop (0: forever).
        seed: the scenario's draws; symbols and noise use SEED_OFFSETS.
        algorithm: a registry family serving "coisac" or a model file (a shipped one by its
            file name, e.g. lhgnn_coisac.onnx in models/lhgnn/: models.resolve_model).
        snapshots: echo samples per block tau (None: coisac.snapshots); the SPEB is for them.
        threads: ONNX Runtime / solver threads of the precoder.
        max_blocks: coherence blocks per work() call.
        print_interval, msg_interval, csv_path: the metrics sink's.
        music_method: music_localizer's ``method``.
    """

    def __init__(
        self,
        coisac: CoisacConfig | None = None,
        num_blocks: int = 100,
        seed: int = 1,
        algorithm: str = DEFAULT_ALGORITHM,
        snapshots: int | None = None,
        threads: int = 1,
        max_blocks: int = 32,
        print_interval: int = 0,
        msg_interval: int = 0,
        csv_path: str = "",
        music_method: str = "fast",
    ) -> None:
        gr.top_block.__init__(self, "coisac simulation", catch_exceptions=True)
        self.coisac = coisac if coisac is not None else CoisacConfig()
        self.cfg = cfg = stream_config(self.coisac, snapshots)
        algorithm = str(algorithm).strip()
        self.algorithm = str(resolve_model(algorithm)) if algorithm.endswith(".onnx") else algorithm
        mb = int(max_blocks)
        parts = {
            "source": coisac_source(cfg, seed + SEED_OFFSETS["source"], num_blocks, mb),
            "precoder": precoder(
                cfg,
                algorithm=self.algorithm,
                threads=threads,
                msg_interval=msg_interval,
                max_blocks=mb,
                scenario="coisac",
                scenario_config=self.coisac,
            ),
            "transmitter": transmitter(cfg, seed + SEED_OFFSETS["transmitter"], max_blocks=mb),
            "downlink": downlink_channel(cfg, seed + SEED_OFFSETS["downlink"], max_blocks=mb),
            "echo": echo_channel(cfg, seed + SEED_OFFSETS["echo"], max_blocks=mb),
            "music": music_localizer(
                cfg,
                n_sources=1,
                n_peaks=1,
                method=music_method,
                msg_interval=msg_interval,
                max_blocks=mb,
            ),  # fmt: skip
            "fusion": coisac_fusion(cfg, n_peaks=1, msg_interval=msg_interval, max_blocks=mb),
            "metrics": coisac_metrics_sink(
                cfg,
                print_interval=print_interval,
                msg_interval=msg_interval,
                csv_path=csv_path,
                max_blocks=mb,
            ),
        }
        for name, block in parts.items():
            setattr(self, name, block)
        self.wiring = Wiring(self, parts)
        for src, dst in LINKS:
            self.wiring.connect_by_name(src, dst)

    @property
    def blocks(self) -> list[gr.basic_block]:
        """Every cfisac block, in signal order."""
        return list(self.wiring.parts.values())

    def errors(self) -> dict[str, Exception]:
        """Blocks that stopped the flowgraph with an error: name -> exception."""
        return {b.name(): b.error for b in self.blocks if b.error is not None}


def run(
    coisac: CoisacConfig | None = None,
    blocks: int = 100,
    seed: int = 1,
    algorithm: str = DEFAULT_ALGORITHM,
    **options,
) -> tuple[coisac_sim, float]:
    """Run ``blocks`` coherence blocks (options: coisac_sim's) and return the top block and the
    wall-clock seconds; RuntimeError naming the blocks that stopped it with an error."""
    tb = coisac_sim(coisac, num_blocks=blocks, seed=seed, algorithm=algorithm, **options)
    t0 = time.perf_counter()
    tb.run()
    elapsed = time.perf_counter() - t0
    if tb.errors():
        raise RuntimeError(f"the coisac flowgraph stopped: {tb.errors()}")
    return tb, elapsed
