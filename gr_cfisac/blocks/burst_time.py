"""Burst time: the TAP side's first burst scheduled on the radio-time block grid (the transmit
half of :mod:`gr_cfisac.timing`).

Ports (``num_ports`` of them, NT by default, one per TAP):

- in  ``tap0`` .. : complex64[MT], tau items per coherence block, ``cb`` tagged (the TAP Side)
- out ``tap0`` .. : the same items and tags, plus a ``tx_time`` tag (UHD's: uint64 seconds,
  double fraction) on the first item: the radio time t_k = start_time_s + k tau / samp_rate of
  that item's block k (its ``cb`` tag; 0 without one), so a USRP sink sends block k in its slot
  of the grid every host shares. The stream is one continuous burst after that (no further
  tags: an underflow is the radio's to report, ``U`` on the console).

``first_tx_time`` holds the time stamped (a :class:`gr_cfisac.timing.RadioTime`) once the first
item has passed.
"""

from __future__ import annotations

import numpy as np
import pmt

from gnuradio import gr

from ..config import SystemConfig
from ..timing import RadioTime, block_start_time, check_rate
from ._base import CB_KEY, Port, check_config
from .time_align import time_to_pmt

TX_TIME = pmt.intern("tx_time")


class burst_time(gr.sync_block):  # noqa: N801 - GNU Radio block naming
    """Pass the TAP streams through, stamping the first item with its block's tx_time.

    Args:
        config: the flowgraph's SystemConfig (tau items per block, MT per port, NT ports).
        samp_rate: the radio's sample rate (S/s).
        start_time_s: radio time (s) of block 0's first sample, the same on every host.
        num_ports: ports (0: NT).
    """

    def __init__(
        self,
        config: SystemConfig,
        samp_rate: float,
        start_time_s: float = 0.0,
        num_ports: int = 0,
    ) -> None:
        cfg = check_config(config)
        n = cfg.NT if int(num_ports) == 0 else int(num_ports)
        if n < 1:
            raise ValueError(f"burst_time: num_ports must be >= 0 (0: NT), got {num_ports}")
        sig = [(np.complex64, cfg.MT)] * n
        gr.sync_block.__init__(self, name="cfisac_burst_time", in_sig=sig, out_sig=sig)
        self.cfg = cfg
        self.rate = check_rate(samp_rate)
        self.grid_start = RadioTime.of(float(start_time_s))
        self.in_ports = [Port(f"tap{i}", np.complex64, cfg.MT, cfg.tau) for i in range(n)]
        self.out_ports = list(self.in_ports)
        self.first_tx_time: RadioTime | None = None
        self._srcid = pmt.intern("cfisac_burst_time")
        self.set_tag_propagation_policy(gr.TPP_ONE_TO_ONE)

    def work(self, input_items, output_items):
        n = len(output_items[0])
        for src, dst in zip(input_items, output_items):
            dst[:] = src[:n]
        if self.first_tx_time is None and n:
            cb = 0
            tags = self.get_tags_in_window(0, 0, 1, CB_KEY)
            if tags:
                cb = int(pmt.to_uint64(tags[0].value))
            self.first_tx_time = block_start_time(cb, self.grid_start, self.cfg.tau, self.rate)
            value = time_to_pmt(self.first_tx_time)
            for o in range(len(output_items)):
                self.add_item_tag(o, self.nitems_written(o), TX_TIME, value, self._srcid)
        return n
