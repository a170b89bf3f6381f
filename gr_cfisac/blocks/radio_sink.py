"""Radio sink: the TAPs' antennas sent through a radio (UHD or SoapySDR), or, without radios,
written to a file or sent over ZeroMQ with the same tags.

Ports (a ``gr.hier_block2``):

- in ``tap0`` .. ``tap{NT-1}``: complex64[MT] (the TAP Side's, through CF-ISAC Burst Time so
  the first item carries its ``tx_time``). TAPs this radio does not send (``taps``) are
  consumed and dropped, so every TAP host runs the same flowgraph (same seed: same scenario
  and beams) and sends its own TAPs.

Every sent sample is scaled by ``tx_scale`` (0: automatic, 0.25 / sqrt(rho / MT), which puts a
TAP antenna's rms amplitude a quarter of the DAC's full scale: the core's samples are in the
normalized units where the TAP power is rho).

Drivers (``driver``):

- ``uhd``: ``uhd.usrp_sink`` on the device channels ``channels`` (one per sent antenna,
  TAP-major: TAP i's antenna m is entry i*MT + m; '' = 0, 1, ...), time set by ``sync``; the
  tx_time tag starts the stream in its slot of the grid.
- ``soapy``: ``soapy.sink`` on channels 0 .. max(channels) (others send zeros). gr-soapy 3.10
  ignores tx_time: the stream starts when the flowgraph does.
- ``file``: the items complex64[len(taps) * MT] to the file ``sink`` (raw, no tags).
- ``zeromq``: a ZeroMQ PUSH sink at address ``sink`` (tags passed: cb, tx_time).
"""

from __future__ import annotations

import numpy as np

from gnuradio import blocks, gr

from ..config import SystemConfig
from ._base import Port, check_config
from .radio_device import RadioSettings, open_soapy, open_uhd, parse_indices

ITEM = gr.sizeof_gr_complex
#: rms amplitude of a TAP antenna's samples with tx_scale automatic (of the DAC's full scale 1)
TX_RMS = 0.25


def auto_scale(cfg: SystemConfig) -> float:
    """tx_scale 0: TX_RMS over the rms amplitude of a TAP antenna, sqrt(rho / MT)."""
    return TX_RMS / float(np.sqrt(cfg.rho / cfg.MT))


class radio_sink(gr.hier_block2):  # noqa: N801 - GNU Radio block naming
    """The TAPs' antennas to a radio, a file or ZeroMQ (see the module docstring).

    Args:
        config: the flowgraph's SystemConfig (NT ports of MT antennas).
        driver: "uhd", "soapy", "file" or "zeromq".
        device_args, samp_rate, center_freq, gain, antenna, clock_source, time_source, sync:
            the radio (gr_cfisac.blocks.radio_device.RadioSettings).
        taps: TAPs this radio sends, 0-based as the TAP Side's ports, e.g. "0,1" ('' = all).
        channels: device channel of every sent antenna, TAP-major ('' = 0, 1, ...).
        sink: the file (driver file) or ZeroMQ address (driver zeromq).
        tx_scale: amplitude factor before the radio (0: automatic).
    """

    def __init__(
        self,
        config: SystemConfig,
        driver: str = "uhd",
        device_args: str = "",
        samp_rate: float = 1e6,
        center_freq: float = 3.5e9,
        gain: float = 0.0,
        antenna: str = "",
        taps: str = "",
        channels: str = "",
        clock_source: str = "",
        time_source: str = "",
        sync: str = "pc_clock_next_pps",
        sink: str = "",
        tx_scale: float = 0.0,
    ) -> None:
        cfg = check_config(config)
        self.cfg = cfg
        self.settings = RadioSettings(
            driver,
            str(device_args),
            float(samp_rate),
            float(center_freq),
            float(gain),
            str(antenna),
            str(clock_source),
            str(time_source),
            str(sync),
        )
        self.sent = parse_indices(taps, "taps", list(range(cfg.NT)), 0, cfg.NT - 1)
        if not float(tx_scale) >= 0:
            raise ValueError(f"radio_sink: tx_scale must be >= 0 (0: automatic), got {tx_scale}")
        self.scale = auto_scale(cfg) if float(tx_scale) == 0 else float(tx_scale)
        self.in_ports = [Port(f"tap{i}", np.complex64, cfg.MT, cfg.tau) for i in range(cfg.NT)]
        self.out_ports: list[Port] = []
        in_sig = gr.io_signature.makev(cfg.NT, cfg.NT, [ITEM * cfg.MT] * cfg.NT)
        gr.hier_block2.__init__(self, "cfisac_radio_sink", in_sig, gr.io_signature(0, 0, 0))
        self.radio = None
        streams = []  # the n sent antennas as (block, port), TAP-major
        for i in self.sent:
            scale = blocks.multiply_const_vcc([self.scale] * cfg.MT)
            v2s = blocks.vector_to_streams(ITEM, cfg.MT)
            self.connect((self, i), scale, v2s)
            streams += [(v2s, m) for m in range(cfg.MT)]
        for i in set(range(cfg.NT)) - set(self.sent):
            self.connect((self, i), blocks.null_sink(ITEM * cfg.MT))
        self._send(streams, channels, str(sink))

    def _send(self, streams: list, channels: str, sink: str) -> None:
        s, n = self.settings, len(streams)
        if s.driver in ("uhd", "soapy"):
            chans = parse_indices(channels, "channels", list(range(n)), 0, 1023)
            if len(chans) != n:
                raise ValueError(
                    f"radio_sink: channels lists {len(chans)} device channels for {n} antennas "
                    f"({len(self.sent)} TAPs x MT={self.cfg.MT}); give one per antenna"
                )
        if s.driver == "uhd":
            self.radio = open_uhd(s, chans, transmit=True)
            for k, st in enumerate(streams):
                self.connect(st, (self.radio, k))
            return
        if s.driver == "soapy":
            self.radio = open_soapy(s, max(chans) + 1, transmit=True)
            for st, c in zip(streams, chans):
                self.connect(st, (self.radio, c))
            for c in set(range(max(chans) + 1)) - set(chans):
                self.connect(blocks.null_source(ITEM), (self.radio, c))
            return
        if not sink:
            raise ValueError(
                f"radio_sink: driver {s.driver} needs sink = "
                + ("a file path" if s.driver == "file" else "a ZeroMQ address")
            )
        s2v = blocks.streams_to_vector(ITEM, n)
        for k, st in enumerate(streams):
            self.connect(st, (s2v, k))
        if s.driver == "file":
            out = blocks.file_sink(ITEM * n, sink, False)
            out.set_unbuffered(False)
        else:
            from gnuradio import zeromq

            out = zeromq.push_sink(ITEM, n, sink, 100, True, -1)
        self.connect(s2v, out)
        self.sink_block = out
