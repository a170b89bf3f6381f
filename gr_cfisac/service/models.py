"""What a service runs: any precoder of the registry (gr_cfisac.precoding.registry) as a
:class:`Model` — a family name (mrt, zf, rzf, wmmse, optimize, a plug-in's) or an ``.onnx``
path, with the family's parameters — answering W (B, N, K+1), sensing beam first."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import SystemConfig
from ..precoding.registry import PrecoderSpec, Realization, make_precoder, spec_for

#: the longest spec a pong carries (a PMT symbol holds at most 1024 bytes on the wire)
MAX_SPEC_CHARS = 1000


@dataclass
class Model:
    """A precoder the service runs: ``precode(Realization) -> PrecoderResult`` (or W) with W
    (B, N, K+1); ``needs`` what it must be given (the registry family's declaration: with
    ``sensing_geometry`` a request without the ``geometry.*`` fields is refused); ``tokens``:
    the old ``sensing`` tokens may stand in for the geometry (target-aware ONNX models)."""

    name: str
    precode: Callable[[Realization], Any]
    needs: frozenset[str] = frozenset({"estimates"})
    tokens: bool = False
    spec: PrecoderSpec | None = None

    def describe(self) -> str | None:
        """The spec as JSON for a pong (None if there is none or it is too long)."""
        if self.spec is None:
            return None
        text = self.spec.to_json()
        return text if len(text) <= MAX_SPEC_CHARS else None


def load_model(
    algorithm: str,
    cfg: SystemConfig,
    threshold: float | None = None,
    *,
    scenario: str = "cellfree",
    params: Mapping[str, Any] | None = None,
) -> Model:
    """The registry precoder ``algorithm`` (a family name or an .onnx path) for ``cfg``, built
    with ``params`` (unknown names refused by make_precoder, naming them); ``threshold``
    (bps/Hz) is the family's ``threshold`` parameter (threshold-conditioned .onnx models,
    optimize's sc/cc regimes). ValueError for ``remote`` (a service forwarding to a service)."""
    params = dict(params or {})
    if threshold is not None:
        if params.get("threshold", threshold) != threshold:
            raise ValueError(
                f"threshold given twice ({threshold} and --param threshold="
                f"{params['threshold']}); give it once"
            )
        params["threshold"] = threshold
    spec = spec_for(algorithm, scenario, **params)
    if spec.name == "remote":
        raise ValueError(
            "cfisac serve cannot serve 'remote': a service forwarding to a service adds a hop "
            "and nothing else; serve the precoder itself (e.g. `cfisac serve zf` or "
            '`cfisac serve optimize --param regime="sc" --param threshold=1.0`)'
        )
    precoder = make_precoder(spec, cfg)
    name = Path(str(spec.params["path"])).name if spec.name == "onnx" else spec.name
    return Model(name, precoder, precoder.family.needs, spec.name == "onnx", precoder.spec)


def parse_param(text: str) -> tuple[str, Any]:
    """``name=value`` of ``--param``: the value parsed as JSON where it is JSON (numbers, true,
    null, "quoted", lists), else taken as a string."""
    name, sep, value = str(text).partition("=")
    name = name.strip()
    if not sep or not name.isidentifier():
        raise ValueError(
            f"--param {text!r}: expected name=value, e.g. --param regime=sc --param threshold=1.0"
        )
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = value
    return name, parsed


def parse_params(items: list[str] | None) -> dict[str, Any]:
    """{name: value} of repeated ``--param name=value`` (a name given twice is refused)."""
    out: dict[str, Any] = {}
    for item in items or []:
        name, value = parse_param(item)
        if name in out:
            raise ValueError(f"--param {name} given twice; give each parameter once")
        out[name] = value
    return out
