"""Recipe files and run folders of `cfisac train`, the same for every family: a missing, empty,
malformed or non-mapping recipe is an error naming the file (never "all defaults"), a model card
gives its training config, and a run folder holding a checkpoint of another recipe is refused
before anything in it changes (the trainers resume any checkpoint they find)."""

import argparse
import hashlib
import json
from pathlib import Path

import pytest
import yaml

from gr_cfisac.commands import train as cmd_train
from gr_cfisac.commands.train_runs import refuse_foreign_run
from gr_cfisac.recipe_files import differing_fields, read_recipe

CONFIGS = Path(__file__).resolve().parents[1] / "gr_cfisac" / "train" / "configs"


def loaders():
    """(family's recipe name in errors, its loader) for every `cfisac train` family."""
    from gr_cfisac.recipe import TrainConfig
    from gr_cfisac.train.decentral.config import TSConfig
    from gr_cfisac.train.l2o.config import L2OConfig
    from gr_cfisac.train.l2o.isac_train import IsacConfig
    from gr_cfisac.train.lhgnn.config import LHGNNConfig

    return [("training config", TrainConfig.load, "tiny.yml"),
            ("l2o config", L2OConfig.load, "l2o_tiny.yml"),
            ("teacher-student config", TSConfig.load, "ts_tiny.yml"),
            ("sao_isac config", IsacConfig.load, "sao_isac_small.yml"),
            ("lhgnn config", LHGNNConfig.from_yaml, "lhgnn_small.yml")]  # fmt: skip


@pytest.mark.parametrize("index", range(5))
def test_every_family_names_the_file_and_what_is_wrong_with_it(tmp_path, index):
    pytest.importorskip("torch")
    what, load, shipped = loaders()[index]
    cases = {
        "missing.yml": (None, "does not exist"),
        "empty.yml": ("  \n", "is empty"),
        "broken.yml": ("foo: [1\n", r"is not valid YAML: .* at line 2, column 1"),
        "list.yml": ("- 1\n- 2\n", "expected a mapping of recipe fields at the top level, got list"),
        "broken.json": ('{"name": ', r"is not valid JSON: .*line 1 column"),
    }  # fmt: skip
    for name, (text, message) in cases.items():
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        with pytest.raises(
            ValueError, match=f"{what} {path} {message}".replace(f"{path} e", f"{path}: e")
        ):
            load(path)
    # a model card holding the recipe as training.config reads as the recipe itself
    recipe = yaml.safe_load((CONFIGS / shipped).read_text())
    card = tmp_path / "card.json"
    card.write_text(json.dumps({"name": "x", "training": {"config": recipe}}))
    assert load(card) == load(CONFIGS / shipped)


def test_differing_fields_are_named_with_their_section():
    ours = {"name": "a", "optim": {"lr": 1e-3, "device": "cpu"}, "dims": (8, 8)}
    theirs = {"name": "a", "optim": {"lr": 2e-3, "device": "cuda"}, "dims": [8, 8], "x": 1}
    assert differing_fields(ours, theirs) == ["optim.device", "optim.lr", "x"]


def test_a_run_folder_of_another_recipe_is_refused_and_left_alone(tmp_path):
    def read(path):  # the saved config as it is (the families pass their loader)
        return read_recipe(path, "l2o config")

    recipe = {"name": "r", "lr": 1e-3, "epochs": 5, "optim": {"device": "cpu", "wd": 0.0}}
    refuse_foreign_run(tmp_path, recipe, "l2o", read)  # no checkpoint: a new run, fine
    (tmp_path / "last.pt").write_bytes(b"weights")
    with pytest.raises(ValueError, match=r"no config.yml to tell its recipe.*--name NEW"):
        refuse_foreign_run(tmp_path, recipe, "l2o", read)
    saved = dict(recipe, lr=2e-3, epochs=9, optim={"device": "cuda", "wd": 0.1})
    (tmp_path / "config.yml").write_text(yaml.safe_dump(saved))
    with pytest.raises(ValueError) as info:
        refuse_foreign_run(tmp_path, recipe, "l2o", read)
    msg = str(info.value)
    assert "differs in lr, optim.wd)" in msg  # epochs and device may change on a resume
    assert f"cfisac train --family l2o --resume {tmp_path}" in msg and "--name NEW" in msg
    refuse_foreign_run(tmp_path, dict(recipe, lr=2e-3, optim={"device": "x", "wd": 0.1}), "l2o",
                       read)  # fmt: skip


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="cfisac train")
    cmd_train.add_arguments(p)
    return p.parse_args(list(argv))


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_lhgnn_refuses_a_changed_recipe_in_a_trained_run_folder_and_resumes_its_own(tmp_path):
    pytest.importorskip("torch")
    tiny = dict(name="tiny_lhgnn", dims=[8], hidden=8, train_size=32, val_size=16, batch_size=16,
                gamma_m2=12.0, epochs=1)  # fmt: skip
    first, changed = tmp_path / "a.yml", tmp_path / "b.yml"
    first.write_text(yaml.safe_dump(tiny))
    changed.write_text(yaml.safe_dump(dict(tiny, lr=5e-3, hidden=16)))
    out = tmp_path / "run"
    common = ("--family", "lhgnn", "--out", str(out), "--no-progress")
    assert cmd_train.run(parse(*common, "--config", str(first))) == 0
    before = digest(out)
    with pytest.raises(ValueError, match=r"another lhgnn recipe \(it differs in hidden, lr\)"):
        cmd_train.run(parse(*common, "--config", str(changed)))
    assert digest(out) == before  # nothing in the old run was touched
    with pytest.raises(ValueError, match="drop --config"):
        cmd_train.run(parse(*common, "--resume", str(out), "--config", str(first)))
    assert cmd_train.run(parse("--family", "lhgnn", "--resume", str(out), "--no-progress")) == 0


def test_teacher_student_refuses_before_its_trainer_reads_the_checkpoint(tmp_path):
    pytest.importorskip("torch")
    from gr_cfisac.train.decentral.config import TSConfig

    out = tmp_path / "run"
    out.mkdir()
    saved = TSConfig.load(CONFIGS / "ts_tiny.yml").to_dict()
    saved["optim"]["lr"] = 0.5
    (out / "config.yml").write_text(yaml.safe_dump(saved))
    (out / "last.pt").write_bytes(b"not a checkpoint")  # would crash the trainer's load
    args = parse("--family", "teacher-student", "--config", str(CONFIGS / "ts_tiny.yml"),
                 "--out", str(out), "--no-progress")  # fmt: skip
    with pytest.raises(
        ValueError, match=r"another teacher-student recipe \(it differs in optim.lr\)"
    ):
        cmd_train.run(args)
    assert yaml.safe_load((out / "config.yml").read_text())["optim"]["lr"] == 0.5
