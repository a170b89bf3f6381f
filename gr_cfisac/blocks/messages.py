"""PMT message format of the cfisac blocks: the convention of :mod:`gr_cfisac.pmt_messages`.

``encode(cb, **fields)`` builds a message, ``decode(msg)`` reads one back with its arrays
reshaped; the precoder service uses the same functions on the wire.
"""

from __future__ import annotations

from ..pmt_messages import from_pmt as decode
from ..pmt_messages import to_pmt as encode

__all__ = ["encode", "decode"]
