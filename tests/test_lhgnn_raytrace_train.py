"""The LHGNN trained on a ray-traced channel source (LHGNNConfig.dataset, coisac.raytrace_split):
the dataset field's errors, the seeded split, and one epoch on a synthetic dataset.npz in the
RaytracedDataset format (no sionna needed) ending in a card whose channel_source names it."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from gr_cfisac.bench import lhgnn as bench  # noqa: E402
from gr_cfisac.coisac import CoisacConfig, CoisacScenario  # noqa: E402
from gr_cfisac.coisac.raytrace import RaytraceSettings  # noqa: E402
from gr_cfisac.coisac.raytrace_dataset import RaytracedDataset  # noqa: E402
from gr_cfisac.coisac.raytrace_split import split_indices  # noqa: E402
from gr_cfisac.train.lhgnn.config import CONFIG_DIR, LHGNNConfig  # noqa: E402
from gr_cfisac.train.lhgnn.export import export_trainer  # noqa: E402
from gr_cfisac.train.lhgnn.trainer import Trainer  # noqa: E402

B = 20
TINY = dict(dims=[8], hidden=8, train_size=8, val_size=4, batch_size=4, gamma_m2=12.0, epochs=1)


def synthetic(path, size=B, seed=5):
    """A dataset.npz as cfisac coisac-raytrace writes it, channels from the geometric source
    (recognizable: each realization's F is its own)."""
    cfg = CoisacConfig()
    batch = CoisacScenario(cfg).draw(size, rng=seed)
    K, N = cfg.K, cfg.N
    counts = np.ones((size, K, N), int)
    delays = np.full((size, K, N, 1), 1e-7)
    powers = np.full((size, K, N, 1), 1e-9)
    ds = RaytracedDataset(cfg, RaytraceSettings(), batch.users, batch.F, counts, delays, powers,
                          redrawn=3, dropped=1, first_reached=0.9)  # fmt: skip
    ds.save(path)
    return ds


def test_missing_dataset_is_named_with_the_command_that_makes_it(tmp_path):
    cfg = LHGNNConfig(dataset=str(tmp_path / "nope" / "dataset.npz"), **TINY)
    with pytest.raises(ValueError, match=r"dataset: .*does not exist.*cfisac coisac-raytrace"):
        Trainer(cfg, tmp_path / "run")
    with pytest.raises(ValueError, match="dataset must be a path"):
        LHGNNConfig(dataset="")


def test_dataset_of_another_scenario_or_too_small_is_refused(tmp_path):
    path = tmp_path / "dataset.npz"
    synthetic(path)
    with pytest.raises(ValueError, match=r"dataset: .*another scenario config.*power_dbm"):
        Trainer(LHGNNConfig(dataset=str(path), **TINY, power_dbm=25.0), tmp_path / "a")
    with pytest.raises(ValueError, match=r"dataset: .*another scenario config.*\bK\b"):
        Trainer(LHGNNConfig(dataset=str(path), **{**TINY, "K": 4}), tmp_path / "b")
    with pytest.raises(ValueError, match=r"dataset: .*holds 20 realizations"):
        Trainer(LHGNNConfig(dataset=str(path), **{**TINY, "train_size": 16}), tmp_path / "c")
    other = tmp_path / "other.npz"
    np.savez(other, x=np.zeros(3))
    with pytest.raises(ValueError, match="dataset: .*not a cfisac coisac-raytrace dataset"):
        Trainer(LHGNNConfig(dataset=str(other), **TINY), tmp_path / "d")


def test_split_is_seeded_disjoint_and_complete():
    a, b = split_indices(50, 30, 10, 7), split_indices(50, 30, 10, 7)
    assert all(np.array_equal(a[s], b[s]) for s in a)
    assert [a[s].size for s in ("train", "val", "test")] == [30, 10, 10]
    assert np.array_equal(np.sort(np.concatenate(list(a.values()))), np.arange(50))
    assert not np.array_equal(a["train"], split_indices(50, 30, 10, 8)["train"])


def test_one_epoch_on_a_raytraced_dataset_gives_a_card_naming_it(tmp_path):
    path = tmp_path / "dataset.npz"
    ds = synthetic(path)
    cfg = LHGNNConfig(dataset=str(path), **TINY)
    trainer = Trainer(cfg, tmp_path / "run")
    train, val = trainer.datasets()
    idx = split_indices(B, 8, 4, cfg.data_seed)
    assert np.array_equal(train.batch.F, ds.F[idx["train"]])  # the dataset's channels
    assert np.array_equal(val.batch.users, ds.users[idx["val"]])
    fit = trainer.fit(progress=False)
    assert fit["epochs"] == 1
    card = export_trainer(trainer, tmp_path / "lhgnn_rt.onnx", fit)
    assert card["channel_source"].startswith("sionna-rt simple_street_canyon")
    assert (
        str(path) in card["channel_source"]
        and "8 train / 4 validation / 8 test" in (card["channel_source"])
    )
    assert card["validation"]["blocks"] == B - 12  # the test split, not geometric blocks
    assert card["training"]["config"]["dataset"] == str(path)
    saved = json.loads((tmp_path / "lhgnn_rt.json").read_text())
    assert saved["channel_source"] == card["channel_source"]

    # the bench's cross table: a note without the models, 2 models x 2 test sets x 3 rows with
    assert "skipped" in bench.raytraced_section(2, tmp_path / "models")["note"]
    for rel in bench.RAYTRACED.values():
        export_trainer(trainer, tmp_path / "models" / rel, fit)
    table = bench.raytraced_section(2, tmp_path / "models")
    assert table["test_blocks"] == 8 and table["dataset"] == str(path)
    rows = {(r["model"], r["test_set"], r["ascent_steps"], r["realizations"]): r
            for r in table["rows"]}  # fmt: skip
    assert len(rows) == 12
    for label in bench.RAYTRACED:
        for test_set in ("raytraced", "geometric"):
            alone, refined = rows[label, test_set, 0, 2], rows[label, test_set, 50, 2]
            assert rows[label, test_set, 0, 8]["sum_rate"] > 0
            assert refined["speb_m2"] != alone["speb_m2"]  # ascent_steps reached the precoder


def test_geometric_recipes_keep_the_geometric_source_and_the_rt_recipe_names_its_dataset():
    assert LHGNNConfig().dataset is None
    assert LHGNNConfig.from_yaml(CONFIG_DIR / "lhgnn_small.yml").dataset is None
    rt = LHGNNConfig.from_yaml(CONFIG_DIR / "lhgnn_rt_small.yml")
    small = LHGNNConfig.from_yaml(CONFIG_DIR / "lhgnn_small.yml")
    assert rt.dataset == "data/coisac_rt_train/dataset.npz"
    assert rt.train_size == 2000  # of the dataset's 3000 realizations (500 validation, 500 test)
    assert rt.replace(dataset=None, name=small.name, train_size=small.train_size) == small
