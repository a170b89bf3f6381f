"""A seconds-long training run lowers the validation loss; runs resume; data are reproducible."""

import csv
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from gr_cfisac.dataset import chunk_seed, load_split  # noqa: E402
from gr_cfisac.recipe import TrainConfig  # noqa: E402
from gr_cfisac.train.trainer import Trainer, evaluate, load_best, make_model, to_tensors  # noqa: E402

TINY = Path(__file__).resolve().parents[1] / "gr_cfisac" / "train" / "configs" / "tiny.yml"


def tiny(tmp_path: Path, **optim) -> TrainConfig:
    data = TrainConfig.load(TINY).to_dict()
    data["data"]["cache_dir"] = str(tmp_path / "data")
    data["optim"].update(optim)
    return TrainConfig.from_dict(data)


def test_short_training_lowers_the_validation_loss(tmp_path):
    cfg = tiny(tmp_path)
    val = to_tensors(load_split(cfg.system_config(), cfg.data, "val", cfg.data.val_size, False))
    before = evaluate(make_model(cfg), val, cfg)["loss"]
    result = Trainer(cfg, tmp_path / "run", progress=False).fit()
    assert result.best["loss"] < before - 0.5, (before, result.best)
    rows = list(csv.DictReader((tmp_path / "run" / "log.csv").open()))
    assert len(rows) == cfg.optim.max_epochs
    model, loaded_cfg, record = load_best(tmp_path / "run")
    assert loaded_cfg == cfg
    assert evaluate(model, val, cfg)["loss"] == pytest.approx(record["metrics"]["loss"], rel=1e-5)


def test_interrupted_run_resumes_from_its_checkpoint(tmp_path):
    cfg2 = tiny(tmp_path, max_epochs=2)
    Trainer(cfg2, tmp_path / "a", progress=False).fit()
    ckpt = torch.load(tmp_path / "a" / "last.pt", weights_only=True)
    assert ckpt["state"]["epoch"] == 2
    # a longer run in the same folder with the same config continues at epoch 3
    cfg4 = tiny(tmp_path, max_epochs=4)
    ckpt["config"] = cfg4.to_dict()
    torch.save(ckpt, tmp_path / "a" / "last.pt")
    result = Trainer(cfg4, tmp_path / "a", progress=False).fit()
    assert result.epochs == 4
    epochs = [int(r["epoch"]) for r in csv.DictReader((tmp_path / "a" / "log.csv").open())]
    assert epochs == [1, 2, 3, 4]


def test_resume_refuses_a_different_config(tmp_path):
    Trainer(tiny(tmp_path, max_epochs=1), tmp_path / "b", progress=False).fit()
    other = tiny(tmp_path, max_epochs=1, lr=0.01)
    with pytest.raises(ValueError, match=r"another training config \(it differs in optim.lr\)"):
        Trainer(other, tmp_path / "b", progress=False).fit()


def test_dataset_is_reproducible_and_splits_differ(tmp_path):
    cfg = tiny(tmp_path)
    sc = cfg.system_config()
    a = load_split(sc, cfg.data, "val", 300, False)  # drawn and cached
    b = load_split(sc, cfg.data, "val", 300, False)  # from the cache
    np.testing.assert_array_equal(a["F_hat"], b["F_hat"])
    cached = sorted(p.name for p in Path(cfg.data.cache_dir).rglob("*.npz"))
    assert cached == ["val_00000.npz", "val_00001.npz"]
    train = load_split(sc, cfg.data, "train", 256, False)
    assert not np.allclose(train["F_hat"][:10], a["F_hat"][:10])
    s1 = chunk_seed(7, "train", 0).generate_state(2)
    assert not np.array_equal(s1, chunk_seed(7, "test", 0).generate_state(2))


def test_same_config_and_seed_reproduce_the_same_weights(tmp_path):
    cfg = tiny(tmp_path, max_epochs=1)
    Trainer(cfg, tmp_path / "r1", progress=False).fit()
    Trainer(cfg, tmp_path / "r2", progress=False).fit()
    a = torch.load(tmp_path / "r1" / "best.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "r2" / "best.pt", weights_only=True)["model"]
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
