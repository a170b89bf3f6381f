"""`cfisac train` on the command line: its defaults are the shipped stcib_joint recipe, --help
shows them, an interrupted run (Ctrl-C or kill) prints the command that resumes it and that
command continues from the checkpoint, and --no-progress still prints one line per epoch."""

import argparse
import csv
import json
import shlex
import signal
from pathlib import Path

import pytest

from gr_cfisac.commands import train as cmd_train

ROOT = Path(__file__).resolve().parents[1]
CARD = ROOT / "models" / "stcib_joint.json"
TINY = ROOT / "gr_cfisac" / "train" / "configs" / "tiny.yml"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cfisac train")
    cmd_train.add_arguments(p)
    return p


def recipe() -> dict:
    """The shipped model's training config, as its card records it."""
    return json.loads(CARD.read_text())["training"]["config"]


def test_readme_command_trains_the_shipped_stcib_joint_recipe():
    cfg = cmd_train.resolve_config(parser().parse_args(["--regime", "joint", "--eta", "0.4"]))
    got, want = cfg.to_dict(), recipe()
    assert {**got, "name": None} == {**want, "name": None}
    assert cfg.model.head == "zf"  # the free head reached a sum rate of ~1, the card ~23
    assert cfg.name == "stcib_joint_eta0.4"  # a run folder of its own, not the shipped name


def test_help_shows_the_recipe_values_as_defaults():
    text = " ".join(parser().format_help().split())
    want = recipe()
    for flag, value in [("--head", want["model"]["head"]), ("--epochs", want["optim"]["max_epochs"]),
                        ("--train-size", want["data"]["train_size"]),
                        ("--d-model", want["model"]["d_model"]), ("--lr", want["optim"]["lr"])]:  # fmt: skip
        start = text.index(flag + " ", text.index("overrides"))
        assert f"(default: {value})" in text[start : text.index("(default:", start) + 40], flag


def _tiny_args(tmp_path: Path, *extra: str) -> list[str]:
    return ["--config", str(TINY), "--cache-dir", str(tmp_path / "data"),
            "--out", str(tmp_path / "run"), "--no-progress", *extra]  # fmt: skip


def _interrupt_after_first_epoch(monkeypatch, how: str) -> None:
    """Stop training right after epoch 1 was checkpointed and logged: Ctrl-C or kill (SIGTERM)."""
    from gr_cfisac.train.trainer import Trainer

    log = Trainer._log

    def log_then_stop(self, row):
        log(self, row)
        if row["epoch"] == 1:
            if how == "ctrl-c":
                raise KeyboardInterrupt
            handler = signal.getsignal(signal.SIGTERM)  # what `kill` would run
            assert callable(handler), "SIGTERM would end the process without a word"
            handler(signal.SIGTERM, None)

    monkeypatch.setattr(Trainer, "_log", log_then_stop)


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_interrupted_run_prints_the_resume_command_and_resuming_continues(
    tmp_path, monkeypatch, capsys, how
):
    pytest.importorskip("torch")
    before = signal.getsignal(signal.SIGTERM)
    with monkeypatch.context() as patch:
        _interrupt_after_first_epoch(patch, how)
        with pytest.raises(KeyboardInterrupt):
            cmd_train.run(parser().parse_args(_tiny_args(tmp_path)))
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is put back
    err = capsys.readouterr().err
    assert "interrupted after 1 of 4 epochs" in err
    command = err.strip().splitlines()[-1].strip()
    assert command == f"cfisac train --resume {shlex.quote(str(tmp_path / 'run'))}"
    if how == "sigterm":
        return
    argv = shlex.split(command)[2:]
    assert cmd_train.run(parser().parse_args(argv)) == 0
    out = capsys.readouterr().out
    assert f"resumed {tmp_path / 'run' / 'last.pt'} at epoch 1" in out
    epochs = [int(r["epoch"]) for r in csv.DictReader((tmp_path / "run" / "log.csv").open())]
    assert epochs == [1, 2, 3, 4]  # epoch 1 not trained again


def test_no_progress_prints_one_line_per_epoch(tmp_path, capsys):
    pytest.importorskip("torch")
    assert cmd_train.run(parser().parse_args(_tiny_args(tmp_path, "--epochs", "2"))) == 0
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("epoch ")]
    assert [x.split()[1] for x in lines] == ["1/2", "2/2"]
    rows = list(csv.DictReader((tmp_path / "run" / "log.csv").open()))
    for line, row in zip(lines, rows):
        assert f"val loss {float(row['val_loss']):.4f}" in line
        assert f"sum Rc {float(row['val_sum_rc']):.3f}" in line
        assert line.endswith(" s") and "train loss" in line and "feasible" in line


def test_resume_needs_a_run_folder_and_no_config(tmp_path):
    with pytest.raises(FileNotFoundError, match="no config.yml"):
        cmd_train.resolve_config(parser().parse_args(["--resume", str(tmp_path)]))
    with pytest.raises(ValueError, match="drop --config"):
        args = ["--resume", str(tmp_path), "--config", str(TINY)]
        cmd_train.resolve_config(parser().parse_args(args))


@pytest.mark.parametrize("card", sorted((ROOT / "models").glob("*.json")), ids=lambda p: p.stem)
def test_each_shipped_config_file_is_its_models_recipe(card):
    from gr_cfisac.recipe import TrainConfig

    config = ROOT / "gr_cfisac" / "train" / "configs" / f"{card.stem}.yml"
    assert TrainConfig.load(config).to_dict() == TrainConfig.load(card).to_dict()
