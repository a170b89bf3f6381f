"""Algorithm 1 (paper 002) and `cfisac train --family l2o`: the schedule slides the window and
walks the (K, N) curriculum, replay draws only earlier stages, an interrupted run resumes to the
same weights, the recipes load (small, --full) and STCIB-only flags are refused."""

import argparse
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from gr_cfisac.commands import train as cmd_train  # noqa: E402
from gr_cfisac.train.l2o.config import L2OConfig, config_path  # noqa: E402
from gr_cfisac.train.l2o.trainer import ReplayBuffer, Trainer, draw_batch  # noqa: E402

TINY = config_path("l2o_tiny.yml")


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="cfisac train")
    cmd_train.add_arguments(p)
    return p.parse_args(list(argv))


def test_schedule_follows_algorithm_1(tmp_path):
    cfg = L2OConfig.load(TINY)  # T = 3, W = 2, stages (3,3) (3,5) (6,3) (6,5), T_m = 1
    t = Trainer(cfg, tmp_path, progress=False)
    got = [t.schedule(e) for e in range(cfg.total_epochs)]
    assert got[:4] == [(0, 3, 3), (0, 3, 5), (0, 6, 3), (0, 6, 5)]  # N inner, K outer
    assert got[4:] == [(1, 3, 3), (1, 3, 5), (1, 6, 3), (1, 6, 5)]  # the window slid, stage reset
    assert t.lr(0) == pytest.approx(cfg.optim.lr)
    assert t.lr(cfg.total_epochs * cfg.curriculum.steps_per_epoch) == pytest.approx(
        cfg.optim.lr_min
    )


def test_batches_mask_the_stage_and_replay_only_earlier_stages():
    cfg = L2OConfig.load(TINY)
    rng = np.random.default_rng(0)
    b = draw_batch(cfg, 3, 4, 50, rng)
    assert (b["users"].sum(-1) == 3).all() and (b["antennas"].sum(-1) == 4).all()
    snr = -10 * np.log10(b["noise"][:, 0])
    assert snr.min() >= 10 - 1e-4 and snr.max() <= 20 + 1e-4
    replay = ReplayBuffer(16)
    assert replay.sample(4, 0, rng) is None
    replay.add(b, 0, rng)
    replay.add(draw_batch(cfg, 6, 5, 50, rng), 1, rng)
    old = replay.sample(8, 1, rng)  # stage 1 asks: only stage 0's samples
    assert (old["users"].sum(-1) == 3).all()
    assert (replay.serial >= 0).sum() == 16  # a bounded reservoir


def test_interrupted_run_resumes_to_the_same_weights(tmp_path, monkeypatch):
    cfg = L2OConfig.load(TINY)
    Trainer(cfg, tmp_path / "a", progress=False).fit(validate_every=100)
    log = Trainer._log

    def stop_after_3(self, row):
        log(self, row)
        if row["epoch"] == 3:
            self._save(self.out / "last.pt")
            raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_log", stop_after_3)
    with pytest.raises(KeyboardInterrupt):
        Trainer(cfg, tmp_path / "b", progress=False).fit(validate_every=100)
    monkeypatch.setattr(Trainer, "_log", log)
    resumed = Trainer(cfg, tmp_path / "b", progress=False)
    assert resumed.state["epoch"] == 3
    resumed.fit(validate_every=100)
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=True)["model"]
    for name in a:
        torch.testing.assert_close(a[name], b[name])


def test_cli_recipes_and_overrides():
    cfg = cmd_train.resolve_l2o_config(parse("--family", "l2o"))
    assert (cfg.scenario.Km, cfg.scenario.Nm, cfg.model.layers) == (16, 16, 6)
    assert cfg.optim.device == "cpu" and cfg.name == "l2o_mumiso16"
    full = cmd_train.resolve_l2o_config(parse("--family", "l2o", "--full"))
    assert (full.scenario.Km, full.scenario.Nm, full.model.layers) == (40, 40, 10)
    assert full.model.q_train == 5 and full.model.q_infer == 10 and full.curriculum.window == 5
    assert full.optim.device == "cuda"
    cpu = cmd_train.resolve_l2o_config(parse("--family", "l2o", "--full", "--device", "cpu",
                                             "--lr", "0.01", "--seed", "3"))  # fmt: skip
    assert cpu.optim.device == "cpu" and cpu.optim.lr == 0.01 and cpu.seed == 3
    with pytest.raises(ValueError, match="--regime"):
        cmd_train.resolve_l2o_config(parse("--family", "l2o", "--regime", "sc"))
    with pytest.raises(ValueError, match="--full"):
        cmd_train.run(parse("--full"))


SHIPPED = sorted((Path(__file__).resolve().parents[1] / "models" / "l2o").glob("*.json"))


def _family(card: Path) -> str:
    import json

    return json.loads(card.read_text()).get("family", "")


@pytest.mark.parametrize("card", [c for c in SHIPPED if _family(c) == "l2o"], ids=lambda p: p.stem)
def test_each_shipped_l2o_model_has_its_recipe_and_a_valid_card(card):
    import hashlib
    import json

    from gr_cfisac.precoding.l2o import read_l2o_card

    data = read_l2o_card(card)
    onnx = card.with_suffix(".onnx")
    assert hashlib.sha256(onnx.read_bytes()).hexdigest() == data["sha256"]
    recipes = {}
    for path in config_path("l2o_small.yml").parent.glob("l2o_*.yml"):
        cfg = L2OConfig.load(path)
        recipes[cfg.name] = cfg.to_dict()
    trained = L2OConfig.load(card).to_dict()
    assert recipes.get(trained["name"]) == trained, f"no configs/l2o_*.yml reproduces {card.name}"
    assert json.loads(card.read_text())["onnx"]["parity_max_rel_diff"] <= 1e-5


def test_killed_l2o_run_prints_the_resume_command_that_finishes_it(tmp_path, monkeypatch, capsys):
    import os
    import signal

    log = Trainer._log

    def kill_after_first(self, row):
        log(self, row)
        if row["epoch"] == 1:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(Trainer, "_log", kill_after_first)
    out = tmp_path / "run"
    args = parse("--family", "l2o", "--config", str(TINY), "--out", str(out), "--no-progress")
    with pytest.raises(KeyboardInterrupt):
        cmd_train.run(args)
    err = capsys.readouterr().err
    assert f"resume with:\n  cfisac train --family l2o --resume {out}" in err
    monkeypatch.setattr(Trainer, "_log", log)
    from gr_cfisac.cli import main

    onnx = tmp_path / "m.onnx"
    assert main(["train", "--family", "l2o", "--resume", str(out), "--no-progress",
                 "--export", str(onnx)]) == 0  # fmt: skip
    rows = (out / "log.csv").read_text().splitlines()
    assert len(rows) == 1 + L2OConfig.load(TINY).total_epochs  # epoch 1 once, then the rest
    assert onnx.exists() and onnx.with_suffix(".json").exists()
    assert "parity" in capsys.readouterr().out


@pytest.mark.parametrize(
    "card", [c for c in SHIPPED if _family(c) == "sao_isac"], ids=lambda p: p.stem
)
def test_each_shipped_sao_isac_model_has_its_recipe(card):
    import hashlib
    import json

    from gr_cfisac.train.l2o.isac_train import IsacConfig

    data = json.loads(card.read_text())
    assert hashlib.sha256(card.with_suffix(".onnx").read_bytes()).hexdigest() == data["sha256"]
    recipes = {}
    for path in config_path("sao_isac_small.yml").parent.glob("sao_isac_*.yml"):
        cfg = IsacConfig.load(path)
        recipes[cfg.name] = cfg
    trained = IsacConfig(**data["training"]["config"])
    assert recipes.get(trained.name) == trained, f"no configs/sao_isac_*.yml reproduces {card.name}"
    assert data["onnx"]["parity_max_rel_diff"] <= 1e-5
