"""Model cards: reading ``NAME.json`` beside ``NAME.onnx`` and validating it against a JSON schema.

DESIGN.md, "Learned precoders": a card records the ``scenario`` and the system it was trained
for (``system``, every SystemConfig field, and its ``dimensions``), ``rho``, the regime, the architecture, the
training data, validation metrics, the ONNX opset with input/output names and shapes, the
sensing ``scene`` and the sha256 of the .onnx. :func:`read_card` parses one (bounded size and
nesting, UTF-8, finite numbers) and :func:`validate_card` checks it against the schema of its
family (:data:`LEARNED_CARD_SCHEMA`, the STCIB/CNN models of ``gr_cfisac.train``; a precoder
registry passes its own family's schema) and for self-consistency (``system`` is a valid
SystemConfig, ``dimensions`` are the ones it implies). Every failure is one :class:`CardError`
naming the file and the field. Comparing a card with the running configuration is
``onnx.check_card``'s job. The other registry families (l2o, teacher_student, lhgnn) build
their schemas with :func:`family_card_schema`: the fields every card shares
(:func:`common_card_properties`, :func:`common_card_required`, :func:`onnx_card_section`) around
the family's own. numpy + jsonschema only.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jsonschema

from ..config import SystemConfig

CARD_FORMAT = "cfisac-model-card/1"
#: Shipped cards are ~100 kB (the sensing scene's tokens); anything far larger is not a card.
MAX_CARD_BYTES = 16 * 1024 * 1024
#: What ``dimensions`` holds: each is the SystemConfig property of the same name.
DIMENSIONS = ("NT", "NR", "MT", "MR", "K", "NC", "N")
#: The cell-free scenario (DESIGN.md): what recipes without a scenario train for, and what every
#: card written before cards named their scenario was trained for.
DEFAULT_SCENARIO = "cellfree"
#: How to mend a card missing a required field, where there is a better fix than re-exporting.
MISSING_FIXES = {
    "scenario": f'add "scenario": "{DEFAULT_SCENARIO}" to it (the scenario the model was trained '
    "for; every card written before cards named their scenario is a cell-free model), or "
    "re-export the model (cfisac export)",
}


class CardError(ValueError):
    """A model card that cannot be used: the message names the file and the field."""


def _system_schema() -> dict[str, Any]:
    """JSON types of every SystemConfig field, from its defaults (unknown fields are allowed
    here: ``check_card`` says a newer gr-cfisac wrote them)."""
    props: dict[str, Any] = {}
    for f in dataclasses.fields(SystemConfig):
        default = getattr(SystemConfig(), f.name)
        if isinstance(default, tuple):
            item = "integer" if f.name.endswith("_shape") else "number"
            props[f.name] = {"type": "array", "items": {"type": item}, "minItems": 2, "maxItems": 2}
        elif default is None:
            props[f.name] = {"type": ["number", "null"]}
        else:
            kind = {bool: "boolean", int: "integer", float: "number", str: "string", dict: "object"}
            props[f.name] = {"type": kind[type(default)]}
    return {"type": "object", "properties": props}


_NUMBERS_2D = {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}
_POSITION = {"type": "array", "items": {"type": "number"}, "minItems": 3, "maxItems": 3}
_TENSOR = {
    "type": "object",
    "required": ["dtype", "shape"],
    "properties": {
        "dtype": {"const": "float32"},
        "shape": {"type": "array", "items": {"type": ["string", "integer"]}, "minItems": 1},
        "range": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
    },
}

#: What every registry family's card requires before its own fields, then after them (in this
#: order: of several missing fields, a CardError names the first). ``scenario``, ``architecture``
#: and ``onnx`` are each family's to describe (:func:`family_card_schema`'s ``properties``).
COMMON_REQUIRED_HEAD = ("format", "family", "name", "file", "sha256", "scenario")
COMMON_REQUIRED_TAIL = ("architecture", "onnx", "training", "validation")


#: A card of a model trained on the cell-free scenario records the ``system`` it was trained for
#: (top-level keywords for :func:`family_card_schema`).
CELLFREE_NEEDS_SYSTEM: dict[str, Any] = {
    "if": {"properties": {"scenario": {"const": DEFAULT_SCENARIO}}},
    "then": {"required": ["system"]},
}


def common_card_properties(family: str) -> dict[str, Any]:
    """JSON schemas of the fields whose form every registry family's card shares: ``format``,
    ``family`` (the constant ``family``), ``name``, ``file`` (the .onnx), ``sha256`` (of that
    file), ``training`` and ``validation`` (free-form objects)."""
    return {
        "format": {"const": CARD_FORMAT},
        "family": {"const": family},
        "name": {"type": "string", "minLength": 1},
        "file": {"type": "string", "pattern": r"\.onnx$"},
        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "training": {"type": "object"},
        "validation": {"type": "object"},
    }


def common_card_required(*own: str) -> list[str]:
    """The required fields of a family's card: :data:`COMMON_REQUIRED_HEAD`, the family's
    ``own``, :data:`COMMON_REQUIRED_TAIL`."""
    return [*COMMON_REQUIRED_HEAD, *own, *COMMON_REQUIRED_TAIL]


def onnx_card_section(
    inputs: Sequence[str], min_rank: int, **properties: dict[str, Any]
) -> dict[str, Any]:
    """Schema of a card's ``onnx`` section: ``opset``, the graph's ``inputs`` (at least the
    named ones) and ``outputs`` (at least ``beamformer``), each a float32 tensor whose shape has
    ``min_rank`` or more axes; ``properties`` are further required entries of the family's own."""
    tensor = {
        "type": "object",
        "required": ["dtype", "shape"],
        "properties": {
            "dtype": {"const": "float32"},
            "shape": {"type": "array", "minItems": min_rank},
        },
    }
    return {
        "type": "object",
        "required": ["opset", "inputs", "outputs", *properties],
        "properties": {
            "opset": {"type": "integer", "minimum": 1},
            **properties,
            "inputs": {"type": "object", "required": list(inputs), "additionalProperties": tensor},
            "outputs": {
                "type": "object",
                "required": ["beamformer"],
                "additionalProperties": tensor,
            },
        },
    }


def family_card_schema(
    family: str,
    title: str,
    required: Sequence[str],
    properties: dict[str, Any],
    **keywords: Any,
) -> dict[str, Any]:
    """The JSON schema of registry family ``family``'s cards (draft 2020-12): the common fields
    (:func:`common_card_properties`, :func:`common_card_required`) around the family's own
    ``required`` fields and ``properties`` (these describe ``scenario``, ``architecture`` and
    ``onnx`` too); ``keywords`` are further top-level keywords (e.g. ``if``/``then``)."""
    common = common_card_properties(family)
    tail = {name: common.pop(name) for name in ("training", "validation")}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        "type": "object",
        "required": common_card_required(*required),
        "properties": {**common, **properties, **tail},
        **keywords,
    }


#: Schema of the learned ISAC precoders' cards (STCIB and CNN, written by train/export.py).
LEARNED_CARD_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "gr-cfisac model card (learned ISAC precoder)",
    "type": "object",
    "required": [
        "format",
        "name",
        "scenario",
        "file",
        "sha256",
        "system",
        "dimensions",
        "rho",
        "regime",
        "architecture",
        "scene",
        "onnx",
        "training",
        "validation",
    ],  # fmt: skip
    "properties": {
        "format": {"const": CARD_FORMAT},
        "name": {"type": "string", "minLength": 1},
        "scenario": {"type": "string", "minLength": 1},
        "file": {"type": "string", "pattern": r"\.onnx$"},
        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "system": _system_schema(),
        "dimensions": {
            "type": "object",
            "required": list(DIMENSIONS),
            "additionalProperties": False,
            "properties": {
                name: {"type": "integer", "minimum": 0 if name == "NC" else 1}
                for name in DIMENSIONS
            },
        },
        "rho": {"type": "number", "exclusiveMinimum": 0},
        "power_budget": {"type": "number", "exclusiveMinimum": 0},
        "input_scale": {"type": "number", "exclusiveMinimum": 0},
        "regime": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"enum": ["sc", "cc", "joint"]},
                "eta": {"type": "number"},
                "threshold_range": {
                    "type": "array",
                    "items": {"type": "number"},
                    "minItems": 2,
                    "maxItems": 2,
                },  # fmt: skip
            },
        },
        "architecture": {
            "type": "object",
            "required": ["arch"],
            "properties": {"arch": {"type": "string"}, "target_aware": {"type": "boolean"}},
        },
        "scene": {
            "type": "object",
            "required": ["kind"],
            "properties": {
                "kind": {"enum": ["paper", "random", "any"]},
                "target_pos": _POSITION,
                "clutter_pos": {"type": "array", "items": _POSITION},
                "sensing_tokens_iq": _NUMBERS_2D,
            },
            # a paper-faithful model records the one scene it was trained for
            "if": {"properties": {"kind": {"const": "paper"}}},
            "then": {"required": ["target_pos", "clutter_pos", "sensing_tokens_iq"]},
        },
        "onnx": {
            "type": "object",
            "required": ["opset", "inputs", "outputs"],
            "properties": {
                "opset": {"type": "integer", "minimum": 1},
                "inputs": {
                    "type": "object",
                    "required": ["channels"],
                    "additionalProperties": _TENSOR,
                    "properties": {
                        "threshold": {**_TENSOR, "required": ["dtype", "shape", "range"]}
                    },
                },
                "outputs": {
                    "type": "object",
                    "required": ["beamformer"],
                    "additionalProperties": _TENSOR,
                },
                "custom_domains": {"type": "array", "items": {"type": "string"}},
            },
        },
        "training": {"type": "object"},
        "validation": {"type": "object"},
    },
}


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer",
             float: "number", type(None): "null"}  # fmt: skip
    return names.get(type(value), type(value).__name__)


def _describe(error: jsonschema.ValidationError) -> tuple[str, str]:
    """(field, what is wrong) of one schema error, in a sentence without the whole instance."""
    field = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        name = f"{field}.{missing[0]}" if field else missing[0]
        return name, "is missing"
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = set(error.schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in known)
        return field, f"has unknown entries {extra}; it holds only {sorted(known)}"
    if error.validator == "type":
        return field, f"must be of type {error.validator_value}, got {_json_type(error.instance)}"
    if error.validator in ("const", "enum"):
        want = error.validator_value
        shown = (
            repr(error.instance) if len(repr(error.instance)) < 80 else _json_type(error.instance)
        )
        return field, f"must be {want!r}, got {shown}"
    message = error.message if len(error.message) < 200 else error.message[:200] + "..."
    return field, message


#: the benchmark that scores each registry family's models (``cfisac bench NAME``)
FAMILY_BENCH = {"lhgnn": "lhgnn", "l2o": "l2o", "teacher_student": "teacher-student"}


def family_card_message(card: dict[str, Any], path: str | Path) -> str:
    """Why a registry family's card is not an STCIB/CNN model's (the ``onnx`` family's), and
    where it runs."""
    family, scenario = card["family"], card.get("scenario", "?")
    model = Path(path).with_suffix(".onnx")
    bench = FAMILY_BENCH.get(family)
    score = f"; `cfisac bench {bench}` scores it" if bench else ""
    return (f"model card {path}: {model.name} is a {family!r} model (the card's family, "
            f"scenario {scenario!r}), not an STCIB/CNN model of the 'onnx' family: it runs as "
            f"the registry family {family!r} with path={model}{score}")  # fmt: skip


def validate_card(card: Any, path: str | Path, schema: dict[str, Any] | None = None) -> None:
    """Raise CardError naming ``path`` and the first bad field unless ``card`` follows
    ``schema`` (default :data:`LEARNED_CARD_SCHEMA`) and, where it has them, its ``system`` is a
    valid SystemConfig and its ``dimensions`` are the ones that system implies."""
    if not isinstance(card, dict):
        raise CardError(f"model card {path}: must be a JSON object, got {_json_type(card)}")
    if schema is None and isinstance(card.get("family"), str):
        raise CardError(family_card_message(card, path))
    schema = LEARNED_CARD_SCHEMA if schema is None else schema
    validator = jsonschema.Draft202012Validator(schema)
    errors = list(validator.iter_errors(card))
    # a wrong format says "not this kind of card" better than whatever else it lacks
    wrong_format = [e for e in errors if list(e.absolute_path)[:1] == ["format"]]
    error = jsonschema.exceptions.best_match(wrong_format or errors)
    if error is not None:
        field, what = _describe(error)
        fix = "fix the card or re-export the model (cfisac export)"
        if what == "is missing":
            fix = MISSING_FIXES.get(field, fix)
        raise CardError(f"model card {path}: field {field or '(card)'} {what}; {fix}")
    if "system" not in card or "dimensions" not in card:
        return  # a family whose schema has no cell-free system (another scenario's card)
    known = {f.name for f in dataclasses.fields(SystemConfig)}
    try:
        system = SystemConfig.from_dict({k: v for k, v in card["system"].items() if k in known})
    except ValueError as exc:
        raise CardError(
            f"model card {path}: field system is not a valid configuration: {exc}"
        ) from None
    for name in DIMENSIONS:
        if card["dimensions"][name] != getattr(system, name):
            raise CardError(
                f"model card {path}: field dimensions.{name} = {card['dimensions'][name]} "
                f"contradicts the card's system ({name} = {getattr(system, name)}); the card "
                "was edited by hand: re-export the model (cfisac export)"
            )


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} overflows a float")
    return value


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number a card may hold")


def read_card(path: str | Path, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """Parse and validate the card at ``path`` (a JSON file); CardError naming the file."""
    path = Path(path)
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "is not a regular file"
        raise CardError(f"model card {path} {what}; a card is the JSON file NAME.json")
    if path.stat().st_size > MAX_CARD_BYTES:
        raise CardError(
            f"model card {path} is {path.stat().st_size:,} bytes, over {MAX_CARD_BYTES:,}: not "
            "a model card"
        )
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CardError(
            f"model card {path} is not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None
    except OSError as exc:
        raise CardError(f"model card {path} cannot be read ({exc.strerror})") from exc
    try:
        card = json.loads(text, parse_float=_finite, parse_constant=_no_constant)
    except RecursionError:
        raise CardError(f"model card {path} is nested too deeply to be a model card") from None
    except ValueError as exc:  # JSONDecodeError, non-finite numbers, 4,300+ digit integers
        raise CardError(f"model card {path} is not valid JSON ({exc})") from None
    validate_card(card, path, schema)
    return card
