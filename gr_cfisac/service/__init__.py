"""The precoder as a ZeroMQ service, and its client :class:`RemotePrecoder`.

Wire format: one ZeroMQ frame per message, a PMT dict serialized with ``pmt.serialize_str`` —
exactly what GNU Radio's ``zeromq.push_msg_sink`` sends and ``zeromq.pull_msg_source`` /
``zeromq.sub_msg_source`` receive — in the cfisac message convention of
:mod:`gr_cfisac.pmt_messages`: ``cb`` (uint64), complex arrays as c32vectors flattened in C
order, real arrays as f64vectors, integer arrays as s64vectors, with their shapes in a ``shape``
dict (field -> s64vector), scalars as PMT numbers, strings as symbols.

Sockets (the service binds, peers connect; 127.0.0.1 unless another address is given):

- routed: ROUTER at ``address`` (default tcp://127.0.0.1:5560). A :class:`RemotePrecoder`
  (DEALER) or any DEALER/REQ peer sends a request and receives its reply on the same
  connection; no other peer can receive it. Optional CURVE authentication (:mod:`.curve`).
- stock (optional, loopback only): PULL at ``stock_address`` for GNU Radio's stock
  ``push_msg_sink`` (bind off); replies leave unrouted on PUSH or PUB at
  ``stock_reply_address`` (default port + 1) for a stock ``pull_msg_source`` or
  ``sub_msg_source``. Any local process connecting there can receive them: the service warns.

The service runs any precoder of the registry (gr_cfisac.precoding.registry): a family name
(mrt, zf, rzf, wmmse, optimize, a plug-in's) or an .onnx model, with the family's parameters;
``remote`` is refused (a service forwarding to a service).

Request fields: ``F_hat`` complex (N, K) for one block or (B, N, K) for B blocks (required);
the sensing geometry ``geometry.amp_t``, ``geometry.amp_c``, ``geometry.aT_t``, ...: every
array of channels.SensingGeometry, batch axis first (:mod:`.geometry`; required by the families
that need it: the sensing beam of mrt/zf/rzf/wmmse, optimize's grams, ONNX models);
``sensing`` complex (1+NC, N) or (B, 1+NC, N) tokens, which ONNX models take instead of the
geometry; ``active`` 0/1 integers (B, K), the active users; ``cb`` uint64 (echoed; the first
block), ``cbs`` int array (B,) (echoed), ``power`` and ``noise`` (optional; if given they must
be the configuration's rho*NT and 1), ``client`` symbol and ``seq`` integer (echoed, to match
replies), ``type``: ``precode`` (default) or ``ping``. Reply: ``status`` ``ok`` or ``error``,
``W`` complex with the request's batch layout and always K+1 columns (column 0 the sensing
beam, column k user k), ``error`` (text, on error), ``model``, ``elapsed_us`` and the echoed
fields. A pong has ``model``, ``spec`` (the PrecoderSpec as JSON), ``needs``, ``N``, ``K``,
``served``.

Robustness: every frame is checked structurally before ``pmt.deserialize_str`` sees it (the
deserializer trusts lengths in the frame and recurses per dict entry, so a hostile 20-byte
frame could ask it for gigabytes or blow its stack); every frame gets one reply, an ``error``
naming the problem for a malformed, oversized (> MAX_FRAME_BYTES) or non-finite request and for
a precoder whose W is not finite in complex64; nothing stops the server. A frame over
MAX_WIRE_BYTES makes ZeroMQ drop its sender's connection unanswered: RemotePrecoder raises
ValueError rather than send one over MAX_FRAME_BYTES.

Modules: :mod:`.wire` (frame check, encode/decode), :mod:`.endpoints` (addresses, loopback,
stock reply pattern), :mod:`.curve` (CURVE keys), :mod:`.protocol` (request checks, echoed
fields, output check, replies), :mod:`.geometry` (the sensing geometry fields),
:mod:`.models` (what is served: a registry precoder), :mod:`.server`
(:class:`PrecoderService`), :mod:`.client` (:class:`RemotePrecoder`). See docs/service.md.
"""

from __future__ import annotations

from ..pmt_messages import MalformedMessage, from_pmt, to_pmt
from .client import RemotePrecoder
from .curve import ServerCurve, keygen
from .endpoints import DEFAULT_ADDRESS, check_address, exposure_warning, is_local, reply_address_for
from .geometry import geometry_fields
from .models import Model, load_model, parse_params
from .protocol import MAX_BATCH
from .server import REPLY_WAIT_MS, PrecoderService
from .wire import (
    MAX_DEPTH,
    MAX_FRAME_BYTES,
    MAX_NODES,
    MAX_WIRE_BYTES,
    check_frame,
    decode_message,
    encode_message,
)

__all__ = [
    "DEFAULT_ADDRESS",
    "MAX_BATCH",
    "MAX_DEPTH",
    "MAX_FRAME_BYTES",
    "MAX_NODES",
    "MAX_WIRE_BYTES",
    "REPLY_WAIT_MS",
    "MalformedMessage",
    "Model",
    "PrecoderService",
    "RemotePrecoder",
    "ServerCurve",
    "check_address",
    "check_frame",
    "decode_message",
    "encode_message",
    "exposure_warning",
    "from_pmt",
    "geometry_fields",
    "is_local",
    "keygen",
    "load_model",
    "parse_params",
    "reply_address_for",
    "to_pmt",
]
