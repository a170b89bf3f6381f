"""GNU Radio blocks of gr-cfisac: thin adapters over the numerical core (DESIGN.md).

``from gnuradio import cfisac`` re-exports these. Every block works on whole coherence blocks
(see :mod:`gr_cfisac.blocks._base`); item layouts are in :mod:`gr_cfisac.blocks.layout`,
message format in :mod:`gr_cfisac.blocks.messages`. :class:`tap_side` and :class:`rap_side`
are the network's transmit and sensing receive sides as hier blocks, :func:`build_chain`
composes them, and :mod:`gr_cfisac.blocks.wiring` connects blocks by port name.
:class:`burst_time` and :class:`time_align` put coherence blocks on a radio's clock (TAP and
RAP side of a radio testbed, :mod:`gr_cfisac.timing`); :class:`calibrate` corrects the RAPs'
receive chains before MUSIC (:mod:`gr_cfisac.calibration`); :class:`radio_source` /
:class:`radio_sink` are the RAPs' and TAPs' antennas on UHD or SoapySDR radios (or, without
radios, metadata files or ZeroMQ), and :class:`scene_follower` gives the truth and geometry of
the blocks a radio stream carries. :class:`coisac_source`, :class:`coisac_fusion` and
:class:`coisac_metrics_sink` are paper 003's cooperative ISAC network (scenario coisac) around
the same precoder, channel and MUSIC blocks, all built with :func:`coisac_stream_config` of a
:class:`CoisacConfig` (gr_cfisac.coisac.network).
"""

from ..coisac import CoisacConfig
from ..coisac.network import stream_config as coisac_stream_config
from .burst_time import burst_time
from .calibrate import calibrate
from .chain import Chain, build_chain
from .coisac_fusion import coisac_fusion
from .coisac_metrics import coisac_metrics_sink
from .coisac_source import coisac_source
from .downlink_channel import downlink_channel
from .echo_channel import echo_channel
from .fusion import fusion
from .head import head
from .layout import item_size
from .metrics_sink import metrics_sink
from .music_localizer import display_size, music_localizer
from .pilot_estimator import pilot_estimator
from .precoder import precoder, resolve_precoder
from .radio_sink import radio_sink
from .radio_source import radio_source
from .rap_side import rap_side
from .scenario_source import scenario_source
from .scene_follower import scene_follower
from .sigmf_sink import sigmf_sink
from .sigmf_source import sigmf_source
from .tap_side import tap_side
from .time_align import time_align
from .transmitter import transmitter

__all__ = [
    "scenario_source",
    "pilot_estimator",
    "precoder",
    "resolve_precoder",
    "transmitter",
    "downlink_channel",
    "echo_channel",
    "music_localizer",
    "fusion",
    "metrics_sink",
    "tap_side",
    "rap_side",
    "item_size",
    "display_size",
    "build_chain",
    "Chain",
    "sigmf_sink",
    "sigmf_source",
    "head",
    "time_align",
    "burst_time",
    "calibrate",
    "radio_source",
    "radio_sink",
    "scene_follower",
    "coisac_source",
    "coisac_fusion",
    "coisac_metrics_sink",
    "coisac_stream_config",
    "CoisacConfig",
]
