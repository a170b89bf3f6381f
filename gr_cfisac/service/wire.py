"""One wire frame: its structural check, and the cfisac message it carries in and out.

A frame is one ``pmt.serialize_str`` PMT dict in the convention of
:mod:`gr_cfisac.pmt_messages`. :func:`check_frame` walks the bytes before
``pmt.deserialize_str`` sees them (the deserializer trusts lengths in the frame and recurses
per dict entry, so a hostile 20-byte frame could ask it for gigabytes or blow its stack).
"""

from __future__ import annotations

import struct
from typing import Any

import pmt

from ..pmt_messages import MalformedMessage, from_pmt, to_pmt

#: Largest frame served (a Table-I request of 1024 blocks is ~1 MB); a larger one is answered
#: with an error frame, unread.
MAX_FRAME_BYTES = 16 * 1024 * 1024
#: Largest frame a service socket takes in at all: ZeroMQ drops the connection of a peer that
#: sends more (ZMQ_MAXMSGSIZE), with what it had queued. RemotePrecoder refuses to send a frame
#: over MAX_FRAME_BYTES, so it never gets there.
MAX_WIRE_BYTES = 4 * MAX_FRAME_BYTES
MAX_DEPTH = 64
MAX_NODES = 4096

# PMT serialization tags (gnuradio-runtime/lib/pmt/pmt_serial_tags.h)
_FIXED = {0x00: 0, 0x01: 0, 0x06: 0, 0x03: 4, 0x04: 8, 0x05: 16, 0x0B: 8, 0x0D: 8}
_SYMBOL, _PAIR, _VECTOR, _DICT, _UVECTOR, _TUPLE = 0x02, 0x07, 0x08, 0x09, 0x0A, 0x0C
#: uniform vector element sizes by type index: u8 s8 u16 s16 u32 s32 u64 s64 f32 f64 c32 c64
_UV_SIZE = (1, 1, 2, 2, 4, 4, 8, 8, 4, 8, 8, 16)


def check_frame(frame: bytes, max_bytes: int = MAX_FRAME_BYTES) -> None:
    """Raise MalformedMessage unless ``frame`` is exactly one well-formed serialized PMT whose
    every declared length fits in the frame, nested at most MAX_DEPTH deep with at most
    MAX_NODES objects (what makes ``pmt.deserialize_str`` safe to call on it)."""
    if not isinstance(frame, (bytes, bytearray, memoryview)):
        raise MalformedMessage(f"frame must be bytes, got {type(frame).__name__}")
    if len(frame) > max_bytes:  # before copying it
        raise MalformedMessage(
            f"frame of {len(frame)} bytes exceeds the {max_bytes}-byte limit; send fewer blocks "
            "per request"
        )
    buf = bytes(frame)
    if not buf:
        raise MalformedMessage("empty frame")
    nodes = [0]
    end = _walk(buf, 0, 0, nodes)
    if end != len(buf):
        raise MalformedMessage(f"{len(buf) - end} trailing bytes after the PMT")


def _need(buf: bytes, pos: int, n: int) -> None:
    if pos + n > len(buf):
        raise MalformedMessage(
            f"truncated PMT: needs {n} bytes at offset {pos}, has {len(buf) - pos}"
        )


def _walk(buf: bytes, pos: int, depth: int, nodes: list[int]) -> int:
    """Offset after the PMT starting at ``pos`` (mirrors pmt::deserialize)."""
    nodes[0] += 1
    if depth > MAX_DEPTH or nodes[0] > MAX_NODES:
        raise MalformedMessage("PMT nests too deep or has too many elements")
    _need(buf, pos, 1)
    tag = buf[pos]
    pos += 1
    if tag in _FIXED:
        _need(buf, pos, _FIXED[tag])
        return pos + _FIXED[tag]
    if tag == _SYMBOL:
        _need(buf, pos, 2)
        (n,) = struct.unpack_from(">H", buf, pos)
        if n > 1024:
            raise MalformedMessage("symbol longer than 1024 bytes")
        _need(buf, pos + 2, n)
        return pos + 2 + n
    if tag in (_PAIR, _DICT):
        pos = _walk(buf, pos, depth + 1, nodes)  # car
        while True:
            _need(buf, pos, 1)
            nxt = buf[pos]
            if nxt == _PAIR:  # the deserializer loops here without recursing
                pos = _walk(buf, pos + 1, depth + 1, nodes)
                continue
            if nxt == 0x06:
                return pos + 1
            depth += 1  # any other cdr is parsed recursively (a dict's next entry)
            return _walk(buf, pos, depth, nodes)
    if tag in (_VECTOR, _TUPLE):
        _need(buf, pos, 4)
        (n,) = struct.unpack_from(">I", buf, pos)
        pos += 4
        if n > len(buf) - pos:  # every element takes at least one byte
            raise MalformedMessage(f"vector of {n} elements in {len(buf) - pos} bytes")
        if tag == _TUPLE and n == 0:
            raise MalformedMessage("empty tuple")
        for _ in range(n):
            pos = _walk(buf, pos, depth + 1, nodes)
        return pos
    if tag == _UVECTOR:
        _need(buf, pos, 6)
        utag = buf[pos]
        (n,) = struct.unpack_from(">I", buf, pos + 1)
        npad = buf[pos + 5]
        pos += 6 + npad
        if utag >= len(_UV_SIZE):
            raise MalformedMessage(f"unknown uniform vector type {utag}")
        _need(buf, pos, n * _UV_SIZE[utag])
        return pos + n * _UV_SIZE[utag]
    raise MalformedMessage(f"unknown PMT tag 0x{tag:02x} at offset {pos - 1}")


def encode_message(cb: int | None = None, **fields: Any) -> bytes:
    """Serialized PMT dict in the cfisac message convention (see the package doc)."""
    return pmt.serialize_str(to_pmt(cb, **fields))


def decode_message(frame: bytes) -> dict[str, Any]:
    """Checked inverse of :func:`encode_message`: {name: value} with arrays reshaped.
    Raises MalformedMessage for anything else (never another exception)."""
    check_frame(frame)
    try:
        msg = pmt.deserialize_str(bytes(frame))
    except Exception as exc:  # noqa: BLE001 (the C++ deserializer's errors are RuntimeErrors)
        raise MalformedMessage(f"not a serialized PMT ({exc})") from None
    return from_pmt(msg)
