"""The ``scenario`` field of model cards (issue 11): every card names the scenario its model was
trained for; a card without one, or trained for another scenario, is refused naming the field."""

import json
import shutil
from pathlib import Path

import pytest

from gr_cfisac.config import SystemConfig
from gr_cfisac.precoding import registry
from gr_cfisac.precoding.cards import DEFAULT_SCENARIO, CardError, read_card
from gr_cfisac.precoding.onnx import OnnxPrecoder, check_card

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "stcib_joint.onnx"


def _copy(tmp_path: Path, **card_fields) -> Path:
    """stcib_joint.onnx with its card beside it in tmp_path, card fields replaced (None: removed)."""
    shutil.copy(MODEL, tmp_path / MODEL.name)
    card = json.loads(MODEL.with_suffix(".json").read_text())
    for name, value in card_fields.items():
        if value is None:
            card.pop(name, None)
        else:
            card[name] = value
    (tmp_path / "stcib_joint.json").write_text(json.dumps(card))
    return tmp_path / MODEL.name


def test_shipped_cards_are_cellfree_and_the_default_is_the_registry_s():
    for path in sorted((ROOT / "models").glob("*.json")):
        assert read_card(path)["scenario"] == "cellfree", path.name
    assert DEFAULT_SCENARIO == registry.PrecoderSpec("x").scenario


def test_a_card_without_scenario_is_refused_with_the_fix(tmp_path):
    model = _copy(tmp_path, scenario=None)
    with pytest.raises(CardError, match=r'field scenario is missing; add "scenario": "cellfree"'):
        OnnxPrecoder(model, SystemConfig())
    with pytest.raises(ValueError, match=r"field scenario is missing"):
        registry.make_precoder(registry.spec_for(str(model)), SystemConfig())


def test_a_card_of_another_scenario_is_refused_naming_the_field(tmp_path):
    model = _copy(tmp_path, scenario="mu_miso")
    want = (
        r"model stcib_joint.onnx .* was trained for scenario 'mu_miso' \(card field `scenario`\); "
        r"this precoder serves scenario 'cellfree'"
    )
    with pytest.raises(ValueError, match=want):
        registry.make_precoder(registry.spec_for(str(model)), SystemConfig())
    with pytest.raises(ValueError, match=want):
        OnnxPrecoder(model, SystemConfig())
    # served for the scenario it was trained for, it passes the scenario check and goes on to
    # the system fields
    card = json.loads(model.with_suffix(".json").read_text())
    check_card(card, SystemConfig(), scenario="mu_miso")
    with pytest.raises(ValueError, match="card field `scenario`"):
        check_card(card, SystemConfig())


def test_a_matching_card_serves(tmp_path):
    model = _copy(tmp_path)
    pre = registry.make_precoder(registry.spec_for(str(model), "cellfree"), SystemConfig())
    assert pre.spec.scenario == "cellfree"
