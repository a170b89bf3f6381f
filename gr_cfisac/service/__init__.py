"""The precoder as a ZeroMQ service, and its client :class:`RemotePrecoder`.

Wire format: one ZeroMQ frame per message, a PMT dict serialized with ``pmt.serialize_str`` —
exactly what GNU Radio's ``zeromq.push_msg_sink`` sends and ``zeromq.pull_msg_source`` /
``zeromq.sub_msg_source`` receive — in the cfisac message convention of
:mod:`gr_cfisac.pmt_messages`: ``cb`` (uint64), complex arrays as c32vectors flattened in C
order, real arrays as f64vectors, integer arrays as s64vectors, with their shapes in a ``shape``
dict (field -> s64vector), scalars as PMT numbers, strings as symbols.

Sockets (the service binds, peers connect; 127.0.0.1 unless another address is given):

- requests: PULL at ``address`` (default tcp://127.0.0.1:5560). A stock ``push_msg_sink``
  with ``bind=False`` pointed there, or a :class:`RemotePrecoder`, sends to it.
- replies: PUSH (default) or PUB at ``reply_address`` (default: the request port + 1). A stock
  ``pull_msg_source`` (PUSH) or ``sub_msg_source`` (PUB) connects. PUSH hands each reply to one
  connected peer (use it with one consumer); with PUB every peer sees every reply and keeps its
  own by ``client``/``seq``/``cb``.

Request fields: ``F_hat`` complex (N, K) for one block or (B, N, K) for B blocks (required);
``cb`` uint64 (echoed; the first block), ``cbs`` int array (B,) (echoed), ``power`` (default the
config's rho*NT), ``noise`` (default 1), ``sensing`` complex (1+NC, N) or (B, 1+NC, N) for
target-aware models, ``client`` symbol and ``seq`` integer (echoed, to match replies),
``type``: ``precode`` (default) or ``ping``. Reply: ``status`` ``ok`` or ``error``, ``W`` complex
with the request's batch layout and K+1 columns (ISAC, column 0 the sensing beam) or K (a
MU-MISO precoder), ``error`` (text, on error), ``model``, ``elapsed_us`` and the echoed fields.

Robustness: every frame is checked structurally before ``pmt.deserialize_str`` sees it (the
deserializer trusts lengths in the frame and recurses per dict entry, so a hostile 20-byte
frame could ask it for gigabytes or blow its stack); malformed requests are counted, answered
with an error when they can be routed, and never stop the server.

Modules: :mod:`.wire` (frame check, encode/decode), :mod:`.endpoints` (addresses, reply
pattern), :mod:`.protocol` (request checks, echoed fields, replies), :mod:`.models` (what is
served), :mod:`.server` (:class:`PrecoderService`), :mod:`.client` (:class:`RemotePrecoder`).
"""

from __future__ import annotations

from ..pmt_messages import MalformedMessage, from_pmt, to_pmt
from .client import RemotePrecoder
from .endpoints import DEFAULT_ADDRESS, check_address, reply_address_for
from .models import CLASSICAL, Model, load_model
from .protocol import MAX_BATCH
from .server import REPLY_WAIT_MS, PrecoderService
from .wire import MAX_DEPTH, MAX_FRAME_BYTES, MAX_NODES, check_frame, decode_message, encode_message

__all__ = [
    "CLASSICAL",
    "DEFAULT_ADDRESS",
    "MAX_BATCH",
    "MAX_DEPTH",
    "MAX_FRAME_BYTES",
    "MAX_NODES",
    "REPLY_WAIT_MS",
    "MalformedMessage",
    "Model",
    "PrecoderService",
    "RemotePrecoder",
    "check_address",
    "check_frame",
    "decode_message",
    "encode_message",
    "from_pmt",
    "load_model",
    "reply_address_for",
    "to_pmt",
]
