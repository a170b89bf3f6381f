"""Radio source: the RAPs' antennas as received by a radio (UHD or SoapySDR), or, without
radios, as recorded in a GNU Radio metadata file or sent over ZeroMQ with the same time tags.

Ports (a ``gr.hier_block2``):

- out ``rap1`` .. ``rapNR``: complex64[MR] raw samples with the receiver's ``rx_time`` tags
  (UHD: first item and after every overflow), ready for CF-ISAC Time Align. A RAP this radio
  does not receive (``raps``) carries zeros at the same rate (MUSIC marks its blocks silent
  and fusion leaves it out), so one RAP flowgraph serves any subset of the RAPs.

Drivers (``driver``):

- ``uhd``: ``uhd.usrp_source`` streaming the device channels ``channels`` (one per received
  antenna, RAP-major: RAP r's antenna m is entry r*MR + m; '' = 0, 1, ...; several devices
  form one multi-USRP through ``device_args`` such as ``addr0=...,addr1=...``), time set by
  ``sync``, streaming started on a block boundary of the grid (``start_time_s``) so every
  channel of every device starts at the same sample.
- ``soapy``: ``soapy.source`` (``device_args`` e.g. ``driver=lime``); channels 0 ..
  max(channels) are opened. gr-soapy 3.10 puts no time tags on its stream: the first item is
  stamped with the host's clock when it arrives (coarse; overflows are not seen).
- ``file``: ``source`` is a GNU Radio metadata file (File Meta Sink; ``record`` writes one)
  whose items are complex64[len(raps) * MR] and whose headers carry rx_time / rx_rate.
- ``zeromq``: a ZeroMQ PULL source at address ``source`` (tags passed) of such items.

``record`` (radio drivers): also write what the radio delivers, with its time tags, to that
metadata file, for replay through the same flowgraph with ``driver=file``.
"""

from __future__ import annotations

import time

import numpy as np
import pmt

from gnuradio import blocks, gr

from ..config import SystemConfig
from ..timing import RadioTime
from ._base import Port, check_config
from .radio_device import (
    RadioError,
    RadioSettings,
    open_soapy,
    open_uhd,
    parse_indices,
    start_on_grid,
)
from .time_align import time_to_pmt

ITEM = gr.sizeof_gr_complex
#: samples per metadata-file segment (a new header also starts at every rx_time tag)
SEGMENT = 1 << 24


class host_time_stamp(gr.sync_block):  # noqa: N801 - GNU Radio block naming
    """Passes a stream, tagging its first item with rx_time = the host's clock minus the
    items already buffered (for receivers that put no time tags on their stream)."""

    def __init__(self, rate: float) -> None:
        gr.sync_block.__init__(self, "cfisac_host_time_stamp", [np.complex64], [np.complex64])
        self.rate = rate
        self.stamped = False

    def work(self, input_items, output_items):
        n = len(output_items[0])
        output_items[0][:] = input_items[0][:n]
        if not self.stamped and n:
            buffered = len(input_items[0]) / self.rate
            t = RadioTime.of(time.time() - buffered)
            self.add_item_tag(0, self.nitems_written(0), pmt.intern("rx_time"), time_to_pmt(t))
            self.stamped = True
        return n


class radio_source(gr.hier_block2):  # noqa: N801 - GNU Radio block naming
    """The RAPs' antennas from a radio, a metadata file or ZeroMQ (see the module docstring).

    Args:
        config: the flowgraph's SystemConfig (NR ports of MR antennas, tau per block).
        driver: "uhd", "soapy", "file" or "zeromq".
        device_args, samp_rate, center_freq, gain, antenna, clock_source, time_source, sync:
            the radio (gr_cfisac.blocks.radio_device.RadioSettings).
        raps: RAPs this radio receives, 1-based, e.g. "1,2" ('' = all NR).
        channels: device channel of every received antenna, RAP-major ('' = 0, 1, ...).
        start_time_s: radio time of block 0 (the grid; UHD starts streaming on it).
        source: the metadata file (driver file) or ZeroMQ address (driver zeromq).
        record: metadata file to record the radio's stream to ('' = none).
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
        raps: str = "",
        channels: str = "",
        clock_source: str = "",
        time_source: str = "",
        sync: str = "pc_clock_next_pps",
        start_time_s: float = 0.0,
        source: str = "",
        record: str = "",
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
        self.received = parse_indices(raps, "raps", list(range(1, cfg.NR + 1)), 1, cfg.NR)
        n = len(self.received) * cfg.MR
        self.out_ports = [Port(f"rap{j + 1}", np.complex64, cfg.MR, 1) for j in range(cfg.NR)]
        self.in_ports: list[Port] = []
        out_sig = gr.io_signature.makev(cfg.NR, cfg.NR, [ITEM * cfg.MR] * cfg.NR)
        gr.hier_block2.__init__(self, "cfisac_radio_source", gr.io_signature(0, 0, 0), out_sig)
        #: the device block (uhd or soapy), None without radios
        self.radio = None
        self.start_time: RadioTime | None = None  # when a UHD receiver starts streaming
        streams = self._streams(n, channels, start_time_s, str(source))
        if record and driver in ("uhd", "soapy"):
            self._record(streams, str(record))
        vectors = []
        for idx, j in enumerate(self.received):
            s2v = blocks.streams_to_vector(ITEM, cfg.MR)
            for m in range(cfg.MR):
                self.connect(streams[idx * cfg.MR + m], (s2v, m))
            self.connect(s2v, (self, j - 1))
            vectors.append(s2v)
        silent = [j for j in range(1, cfg.NR + 1) if j not in self.received]
        if silent:
            zeros = blocks.multiply_const_vcc([0j] * cfg.MR)
            self.connect(vectors[0], zeros)
            for j in silent:
                self.connect(zeros, (self, j - 1))

    def _streams(self, n: int, channels: str, start_time_s: float, source: str) -> list:
        """The n received antennas as (block, port) scalar streams, in RAP-major order."""
        s, cfg = self.settings, self.cfg
        if s.driver in ("uhd", "soapy"):
            chans = parse_indices(channels, "channels", list(range(n)), 0, 1023)
            if len(chans) != n:
                raise ValueError(
                    f"radio_source: channels lists {len(chans)} device channels for {n} "
                    f"antennas ({len(self.received)} RAPs x MR={cfg.MR}); give one per antenna"
                )
        if s.driver == "uhd":
            self.radio = open_uhd(s, chans, transmit=False)
            self.start_time = start_on_grid(
                self.radio, RadioTime.of(float(start_time_s)), cfg.tau, s.samp_rate
            )
            return [(self.radio, k) for k in range(n)]
        if s.driver == "soapy":
            self.radio = open_soapy(s, max(chans) + 1, transmit=False)
            stamp = host_time_stamp(s.samp_rate)
            streams = [(self.radio, c) for c in chans]
            self.connect(streams[0], stamp)
            for c in set(range(max(chans) + 1)) - set(chans):
                self.connect((self.radio, c), blocks.null_sink(ITEM))
            return [(stamp, 0), *streams[1:]]
        if not source:
            raise ValueError(
                f"radio_source: driver {s.driver} needs source = "
                + ("a GNU Radio metadata file" if s.driver == "file" else "a ZeroMQ address")
            )
        if s.driver == "file":
            try:
                src = blocks.file_meta_source(source, False, False, "")
            except RuntimeError as exc:
                raise RadioError(
                    f"source={source!r}: not a readable GNU Radio metadata file ({exc}); record "
                    "one with the radio flowgraph's record parameter (File Meta Sink)"
                ) from None
            size = src.output_signature().sizeof_stream_item(0)
            if size != n * ITEM:
                raise RadioError(
                    f"source={source!r} holds items of {size // ITEM} complex samples, raps="
                    f"{self.received} x MR={cfg.MR} needs {n}: record and replay the same RAPs"
                )
        else:
            from gnuradio import zeromq

            src = zeromq.pull_source(ITEM, n, source, 100, True, -1)
        v2s = blocks.vector_to_streams(ITEM, n)
        self.connect(src, v2s)
        self.source_block = src
        return [(v2s, k) for k in range(n)]

    def _record(self, streams: list, path: str) -> None:
        """The radio's stream, with its time tags, to a GNU Radio metadata file."""
        s2v = blocks.streams_to_vector(ITEM, len(streams))
        for k, st in enumerate(streams):
            self.connect(st, (s2v, k))
        sink = blocks.file_meta_sink(
            ITEM * len(streams),
            path,
            self.settings.samp_rate,
            1.0,
            blocks.GR_FILE_FLOAT,
            True,
            SEGMENT,
            pmt.make_dict(),
            False,
        )
        self.connect(s2v, sink)
