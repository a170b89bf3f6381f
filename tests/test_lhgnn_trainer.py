"""LHGNN training (gr_cfisac.train.lhgnn.trainer): a resumed run continues from its checkpoint
with the same gamma; the stand-in gamma and a config's own gamma; bad config fields named."""

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from gr_cfisac.train.lhgnn.config import CONFIG_DIR, FULL, SMALL, LHGNNConfig  # noqa: E402
from gr_cfisac.train.lhgnn.trainer import Trainer  # noqa: E402

TINY = dict(dims=[8], hidden=8, train_size=32, val_size=16, batch_size=16, gamma_m2=12.0)


def test_resume_continues_from_the_checkpoint(tmp_path):
    cfg = LHGNNConfig(epochs=1, **TINY)
    first = Trainer(cfg, tmp_path)
    result = first.fit(progress=False)
    assert result["epochs"] == 1 and (tmp_path / "checkpoint.pt").is_file()
    again = Trainer(cfg.replace(epochs=2), tmp_path)
    assert again.epoch == 1 and again.gamma == 12.0
    assert torch.equal(
        next(iter(again.model.state_dict().values())), next(iter(first.model.state_dict().values()))
    )
    again.fit(progress=False)
    assert again.epoch == 2 and [h["epoch"] for h in again.history] == [1, 2]


def test_shipped_recipes_load():
    small, full = (LHGNNConfig.from_yaml(CONFIG_DIR / n) for n in (SMALL, FULL))
    assert small.device == "cpu" and small.threads == 1
    # the shipped model is this recipe's, at the SCA's mean SPEB (issue 14), like the full one
    card = json.loads((Path(__file__).parents[1] / "models/lhgnn/lhgnn_coisac.json").read_text())
    assert card["training"]["config"] == small.to_dict() | {"name": card["name"]}
    assert small.gamma_m2 == full.gamma_m2 == card["gamma_m2"] == 10.3461
    assert full.device == "cuda" and full.train_size == 4000 and full.epochs == 800
    assert len(full.dims) == 9  # U = 9 GNN layers (Section IV-A)


def test_bad_fields_are_named():
    with pytest.raises(ValueError, match="arch must be one of"):
        LHGNNConfig(arch="mlp")
    with pytest.raises(ValueError, match="gamma_m2 must be a positive SPEB"):
        LHGNNConfig(gamma_m2=-1.0)
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['gama'\]"):
        LHGNNConfig.from_dict({"gama": 3})
