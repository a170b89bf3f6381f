"""Model cards against their schema (issue 17): every shipped card validates, and each broken
card is one CardError naming the file and the field (never a traceback from json or numpy)."""

import json
import shutil
from pathlib import Path

import pytest

from gr_cfisac.precoding.cards import LEARNED_CARD_SCHEMA, CardError, read_card, validate_card

ROOT = Path(__file__).resolve().parents[1]
CARDS = sorted((ROOT / "models").glob("*.json"))
BASE = ROOT / "models" / "stcib_joint.json"


def _write(tmp_path: Path, card, name: str = "m.json") -> Path:
    path = tmp_path / name
    path.write_text(card if isinstance(card, str) else json.dumps(card))
    return path


def _edited(**fields) -> dict:
    card = json.loads(BASE.read_text())
    for dotted, value in fields.items():
        *parents, last = dotted.split("__")
        node = card
        for p in parents:
            node = node[p]
        if value is KeyError:
            del node[last]
        else:
            node[last] = value
    return card


def _refused(path: Path, pattern: str) -> str:
    with pytest.raises(CardError, match=pattern) as info:
        read_card(path)
    assert str(path) in str(info.value)  # the file is named
    return str(info.value)


@pytest.mark.parametrize("path", CARDS, ids=[p.stem for p in CARDS])
def test_every_shipped_card_validates(path):
    card = read_card(path)
    validate_card(card, path, LEARNED_CARD_SCHEMA)
    assert card["dimensions"]["N"] == card["dimensions"]["NT"] * card["dimensions"]["MT"]


@pytest.mark.parametrize("name", ["NT", "NR", "MT", "MR", "K", "NC", "N"])
def test_an_edited_dimension_contradicts_the_system(tmp_path, name):
    card = _edited(**{f"dimensions__{name}": json.loads(BASE.read_text())["dimensions"][name] + 1})
    _refused(
        _write(tmp_path, card), rf"field dimensions\.{name} = \d+ contradicts the card's system"
    )


@pytest.mark.parametrize(
    "fields, pattern",
    [
        ({"dimensions": "garbage"}, r"field dimensions must be of type object, got string"),
        ({"dimensions__extra": 3}, r"field dimensions has unknown entries \['extra'\]"),
        ({"dimensions__K": KeyError}, r"field dimensions\.K is missing"),
        ({"system": "garbage"}, r"field system must be of type object, got string"),
        ({"system__NT": True}, r"field system\.NT must be of type integer, got boolean"),
        ({"system__MT_shape": [2]}, r"field system\.MT_shape"),
        ({"system__tap_power_dbm": 1e300}, r"field system is not a valid .*tap_power_dbm"),
        ({"onnx": None}, r"field onnx must be of type object, got null"),
        ({"onnx__inputs__channels": {"dtype": "float64", "shape": [1]}},
         r"field onnx\.inputs\.channels\.dtype must be 'float32'"),
        ({"onnx__outputs": {}}, r"field onnx\.outputs\.beamformer is missing"),
        ({"onnx__inputs__threshold": {"dtype": "float32", "shape": ["batch", 1]}},
         r"field onnx\.inputs\.threshold\.range is missing"),
        ({"sha256": KeyError}, r"field sha256 is missing"),
        ({"sha256": "xyz"}, r"field sha256 .*does not match"),
        ({"format": "other"}, r"field format must be 'cfisac-model-card/1'"),
        ({"scene__kind": "moon"}, r"field scene\.kind must be \['paper', 'random', 'any'\]"),
        ({"scene__sensing_tokens_iq": KeyError}, r"field scene\.sensing_tokens_iq is missing"),
        ({"scene__target_pos": [1, "x", 2]}, r"field scene\.target_pos\.1 must be of type number"),
        ({"regime__name": 3}, r"field regime\.name must be \['sc', 'cc', 'joint'\], got 3"),
        ({"rho": -1.0}, r"field rho "),
    ],
)  # fmt: skip
def test_a_broken_field_is_named(tmp_path, fields, pattern):
    message = _refused(_write(tmp_path, _edited(**fields)), pattern)
    assert "Traceback" not in message and len(message) < 600  # one sentence, no dumped card


@pytest.mark.parametrize(
    "text, pattern",
    [
        ("[" * 100_000 + "]" * 100_000, r"nested too deeply"),
        ('{"rho": NaN}', r"not valid JSON \(NaN is not a number"),
        ('{"rho": 1e999}', r"not valid JSON \(the number 1e999 overflows"),
        ("{nope", r"not valid JSON"),
        ("[1, 2]", r"must be a JSON object, got array"),
        ("", r"not valid JSON"),
    ],
    ids=["deep", "nan", "overflow", "syntax", "array", "empty"],
)
def test_unparseable_cards_name_the_file(tmp_path, text, pattern):
    _refused(_write(tmp_path, text), pattern)


def test_a_card_that_is_not_utf8_a_directory_or_huge(tmp_path):
    path = tmp_path / "latin.json"
    path.write_bytes(BASE.read_bytes().replace(b'"stcib_joint"', '"stcib_jöint"'.encode("latin-1")))
    _refused(path, r"is not UTF-8 text")
    folder = tmp_path / "dir.json"
    folder.mkdir()
    _refused(folder, r"is a directory")
    big = tmp_path / "big.json"
    with open(big, "wb") as f:
        f.truncate(17 * 1024 * 1024)
    _refused(big, r"bytes, over .*not a model card")


def test_the_schema_belongs_to_a_family():
    """validate_card takes the schema a registry hands it: a family's own fields are checked."""
    card = json.loads(BASE.read_text())
    strict = {**LEARNED_CARD_SCHEMA, "required": [*LEARNED_CARD_SCHEMA["required"], "per_ap"]}
    validate_card(card, BASE)
    with pytest.raises(CardError, match=r"field per_ap is missing"):
        validate_card(card, BASE, strict)


def test_target_aware_card_may_omit_the_scene(tmp_path):
    src = ROOT / "models" / "stcib_target_joint.json"
    shutil.copy(src, tmp_path / src.name)
    assert read_card(tmp_path / src.name)["scene"]["kind"] == "any"
