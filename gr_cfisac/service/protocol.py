"""What requests and replies hold: a precode request checked against the configuration, the
routing fields a reply echoes, and the encoding of a reply (field list in the package doc)."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..config import SystemConfig
from ..pmt_messages import MalformedMessage
from .wire import encode_message

MAX_BATCH = 4096


class PrecodeRequest(NamedTuple):
    """A checked precode request: F (B, N, K) and what the model is called with."""

    F: np.ndarray
    two_d: bool  # F_hat came as (N, K): the reply's W drops the batch axis too
    power: float
    noise: float
    sensing: np.ndarray | None


def parse_precode(req: dict[str, Any], cfg: SystemConfig) -> PrecodeRequest:
    """The precode request in a decoded message; MalformedMessage names what is wrong."""
    if req.get("type", "precode") != "precode":
        raise MalformedMessage(f"unknown request type {req.get('type')!r} (precode or ping)")
    F = req.get("F_hat")
    if not isinstance(F, np.ndarray) or not np.iscomplexobj(F):
        raise MalformedMessage("needs F_hat: complex channel estimates (N, K) or (B, N, K)")
    two_d = F.ndim == 2
    if two_d:
        F = F[None]
    if F.ndim != 3 or F.shape[1:] != (cfg.N, cfg.K):
        raise MalformedMessage(
            f"F_hat has shape {F.shape}; this service's configuration needs (B, N={cfg.N}, "
            f"K={cfg.K}) (declare it in the message's 'shape' dict)"
        )
    if not 1 <= F.shape[0] <= MAX_BATCH:
        raise MalformedMessage(f"batch of {F.shape[0]} blocks; send 1..{MAX_BATCH}")
    bad = ~np.isfinite(F).all(axis=(1, 2))
    if bad.any():
        raise MalformedMessage(f"F_hat contains NaN or inf (block {_blocks(bad)})")
    silent = ~F.any(axis=(1, 2))
    if silent.any():
        raise MalformedMessage(
            f"F_hat is all zeros in block {_blocks(silent)}: no channel estimate to precode "
            "(a silent or dead receiver); leave such blocks out of the request"
        )
    power = _positive(req.get("power", cfg.power_budget), "power")
    noise = _positive(req.get("noise", 1.0), "noise")
    sensing = req.get("sensing")
    if sensing is not None:
        if not isinstance(sensing, np.ndarray) or not np.iscomplexobj(sensing):
            raise MalformedMessage("sensing must be complex tokens (1+NC, N) or (B, 1+NC, N)")
        if sensing.shape[-2:] != (1 + cfg.NC, cfg.N) or not np.all(np.isfinite(sensing)):
            raise MalformedMessage(
                f"sensing has shape {sensing.shape}; needs (B, 1+NC={1 + cfg.NC}, N={cfg.N})"
            )
    return PrecodeRequest(F, two_d, power, noise, sensing)


def _blocks(mask: np.ndarray) -> str:
    """'3' or '3, 7, 9 (and 12 more)': the indices of the True entries."""
    idx = np.flatnonzero(mask)
    text = ", ".join(str(i) for i in idx[:5])
    return text + (f" (and {idx.size - 5} more)" if idx.size > 5 else "")


class NonFiniteBeams(ValueError):
    """The precoder's W is not finite as it would go on the wire."""


def check_beams(W: np.ndarray, request: PrecodeRequest, model: str) -> np.ndarray:
    """W as it goes on the wire (complex64), or NonFiniteBeams naming why it is not finite.
    A finite F_hat can still give a NaN/inf W: magnitudes near the float limits overflow or
    underflow the precoder's norms, or a W too large for complex64 becomes inf on the wire."""
    with np.errstate(over="ignore", invalid="ignore"):
        wire = W.astype(np.complex64)
    bad = ~np.isfinite(wire).all(axis=(1, 2))
    if not bad.any():
        return wire
    mag = np.abs(request.F[bad])
    span = f"|F_hat| from {mag[mag > 0].min(initial=np.inf):.3g} to {mag.max():.3g}"
    if np.isfinite(W).all():
        cause = f"it exceeds complex64's range ({np.abs(W).max():.3g}; power {request.power:g})"
    else:
        cause = (
            f"{span}: the precoder overflows or underflows there; send estimates in the core's "
            "normalized units"
        )
    raise NonFiniteBeams(f"precoder {model} gave a non-finite W in block {_blocks(bad)}: {cause}")


def _positive(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MalformedMessage(f"{name} must be a number, got {type(value).__name__}")
    if not (np.isfinite(value) and value > 0):
        raise MalformedMessage(f"{name} must be finite and > 0, got {value}")
    return float(value)


def _is_uint(value: Any, bound: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < bound


def echo_fields(req: dict[str, Any]) -> dict[str, Any]:
    """cb, cbs, client, seq of a request, if they have the right types (to route replies)."""
    out: dict[str, Any] = {}
    cb = req.get("cb")
    if _is_uint(cb, 2**64):
        out["cb"] = cb
    cbs = req.get("cbs")
    if (
        isinstance(cbs, np.ndarray)
        and cbs.dtype.kind in "iu"
        and cbs.ndim == 1
        and cbs.size <= MAX_BATCH
    ):
        out["cbs"] = cbs
    client = req.get("client")
    if isinstance(client, str) and 0 < len(client) <= 64:
        out["client"] = client
    seq = req.get("seq")
    if _is_uint(seq, 2**62):
        out["seq"] = seq
    return out


def encode_reply(echo: dict[str, Any], **fields: Any) -> bytes:
    """A reply frame: ``fields`` then the request's routing fields ``echo`` (its ``cb`` is
    taken out of ``echo``, as the message's own index)."""
    return encode_message(echo.pop("cb", None), **fields, **echo)
