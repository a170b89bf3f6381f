"""What requests and replies hold: a precode request checked against the configuration, the
routing fields a reply echoes, and the encoding of a reply (field list in the package doc)."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..channels import SensingGeometry
from ..config import SystemConfig
from ..pmt_messages import MalformedMessage
from .geometry import blocks_text, parse_geometry
from .wire import encode_message

MAX_BATCH = 4096
#: how far a request's power / noise may differ from the configuration's (float round trips)
SCALAR_RTOL = 1e-9


class PrecodeRequest(NamedTuple):
    """A checked precode request: F (B, N, K) and what the precoder is called with."""

    F: np.ndarray
    two_d: bool  # F_hat came as (N, K): the reply's W drops the batch axis too
    power: float
    noise: float
    sensing: np.ndarray | None  # the old target-aware ONNX tokens (B, 1+NC, N)
    geometry: SensingGeometry | None  # the full sensing geometry (geometry.* fields)
    active: np.ndarray | None  # (B, K) bool: the users to precode for


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
    B = F.shape[0]
    if not 1 <= B <= MAX_BATCH:
        raise MalformedMessage(f"batch of {B} blocks; send 1..{MAX_BATCH}")
    bad = ~np.isfinite(F).all(axis=(1, 2))
    if bad.any():
        raise MalformedMessage(f"F_hat contains NaN or inf (block {blocks_text(bad)})")
    silent = ~F.any(axis=(1, 2))
    if silent.any():
        raise MalformedMessage(
            f"F_hat is all zeros in block {blocks_text(silent)}: no channel estimate to precode "
            "(a silent or dead receiver); leave such blocks out of the request"
        )
    power = _configured(req.get("power", cfg.power_budget), "power", cfg.power_budget)
    noise = _configured(req.get("noise", 1.0), "noise", 1.0)
    return PrecodeRequest(
        F,
        two_d,
        power,
        noise,
        _tokens(req.get("sensing"), cfg, B),
        parse_geometry(req, cfg, B, two_d),
        _active(req.get("active"), cfg, B, two_d),
    )


def _tokens(sensing: Any, cfg: SystemConfig, batch: int) -> np.ndarray | None:
    """The ``sensing`` tokens of a target-aware ONNX model (channels.sensing_tokens)."""
    if sensing is None:
        return None
    want = (1 + cfg.NC, cfg.N)
    if not isinstance(sensing, np.ndarray) or not np.iscomplexobj(sensing):
        raise MalformedMessage("sensing must be complex tokens (1+NC, N) or (B, 1+NC, N)")
    if sensing.ndim == 2:
        sensing = sensing[None]
    if sensing.ndim != 3 or sensing.shape[1:] != want or sensing.shape[0] not in (1, batch):
        raise MalformedMessage(
            f"sensing has shape {sensing.shape}; needs (B={batch}, 1+NC={want[0]}, N={want[1]})"
        )
    if not np.all(np.isfinite(sensing)):
        raise MalformedMessage("sensing contains NaN or inf")
    return sensing


def _active(active: Any, cfg: SystemConfig, batch: int, two_d: bool) -> np.ndarray | None:
    """The active-user mask (B, K) of 0/1 integers (DESIGN.md, variable user count)."""
    if active is None:
        return None
    if not isinstance(active, np.ndarray) or active.dtype.kind not in "iub":
        raise MalformedMessage("active must be an integer 0/1 mask (B, K) of the active users")
    if two_d and active.shape == (cfg.K,):
        active = active[None]
    if active.shape != (batch, cfg.K) or not np.isin(active, (0, 1)).all():
        raise MalformedMessage(
            f"active has shape {active.shape}; needs a 0/1 mask (B={batch}, K={cfg.K})"
        )
    return active.astype(bool)


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
    raise NonFiniteBeams(
        f"precoder {model} gave a non-finite W in block {blocks_text(bad)}: {cause}"
    )


def _configured(value: Any, name: str, configured: float) -> float:
    """A request's power / noise: the registry's precoders design for the configuration's
    power budget rho*NT (eq 23d) and unit noise, so another value is refused, not ignored."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MalformedMessage(f"{name} must be a number, got {type(value).__name__}")
    if not (np.isfinite(value) and value > 0):
        raise MalformedMessage(f"{name} must be finite and > 0, got {value}")
    if abs(value - configured) > SCALAR_RTOL * configured:
        raise MalformedMessage(
            f"{name} {value:g} differs from this service's {configured:g}: its precoders design "
            f"for its configuration's power budget rho*NT and unit noise; leave {name} out, or "
            "run the service with the client's --config"
        )
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
