"""A registry family's model or run given to a command made for STCIB/CNN models (cfisac
evaluate, demo, export) is refused with where it does run, not with a complaint about its card
or folder ("field system is missing", "best.pt not found: train first")."""

import argparse
from pathlib import Path

import pytest
import yaml

from gr_cfisac.commands import export as cmd_export
from gr_cfisac.precoding.cards import CardError, read_card
from gr_cfisac.precoding.onnx import load_card

MODELS = Path(__file__).resolve().parents[1] / "models"
FAMILY_MODELS = {
    "lhgnn": (MODELS / "lhgnn/lhgnn_coisac.onnx", "lhgnn"),
    "l2o": (MODELS / "l2o/l2o_mumiso16.onnx", "l2o"),
    "teacher_student": (MODELS / "teacher_student/ts_pos1_unet_n5_ap0.onnx", "teacher-student"),
}


@pytest.mark.parametrize("family", sorted(FAMILY_MODELS))
def test_a_family_model_is_pointed_to_its_registry_family_and_bench(family):
    from gr_cfisac.precoding import registry

    path, bench = FAMILY_MODELS[family]
    with pytest.raises(CardError) as info:
        load_card(path)
    msg = str(info.value)
    assert f"is a {family!r} model" in msg and f"registry family {family!r} with path={path}" in msg
    assert f"`cfisac bench {bench}` scores it" in msg
    # its own family's schema still reads it
    card = read_card(path.with_suffix(".json"), registry.families()[family].card_schema)
    assert card["family"] == family
    assert load_card(MODELS / "stcib_joint.onnx")["regime"]["name"] == "joint"


def write_run(folder: Path, files: dict[str, object]) -> Path:
    folder.mkdir()
    for name, content in files.items():
        text = content if isinstance(content, str) else yaml.safe_dump(content)
        (folder / name).write_text(text)
    return folder


def test_export_names_the_family_of_a_run_folder_and_the_command_that_exports_it(tmp_path):
    runs = {
        "lhgnn": {"checkpoint.pt": "x", "config.json": '{"name": "a"}'},
        "l2o": {"last.pt": "x", "config.yml": {"name": "b", "curriculum": {}, "optim": {}}},
        "teacher-student": {"last.pt": "x", "config.yml": {"name": "c", "schedule": {}}},
        "sao_isac": {"last.pt": "x", "config.yml": {"name": "d", "window_epochs": 2}},
    }
    for family, files in runs.items():
        run_dir = write_run(tmp_path / family, files)
        assert cmd_export.family_of_run(run_dir) == family
        args = argparse.Namespace(run_dir=run_dir, out=tmp_path / "m.onnx", traced=False)
        with pytest.raises(ValueError) as info:
            cmd_export.run(args)
        want = f"cfisac train --family {family} --resume {run_dir} --export {tmp_path / 'm.onnx'}"
        assert f"is a {family} run" in str(info.value) and want in str(info.value)
    stcib = write_run(tmp_path / "stcib", {"config.yml": {"name": "e", "system": {}, "loss": {}}})
    assert cmd_export.family_of_run(stcib) is None
    assert cmd_export.family_of_run(tmp_path / "nothing") is None


def test_serve_refuses_a_scenario_whose_network_is_not_a_systemconfig():
    from gr_cfisac.commands import serve as cmd_serve
    from gr_cfisac.commands.scenario_option import ELSEWHERE
    from gr_cfisac.precoding.scenarios import known_scenarios

    # every built-in scenario but cellfree needs another config: serve says where it runs
    assert set(ELSEWHERE) == set(known_scenarios()) - {"cellfree"}
    parser = argparse.ArgumentParser(prog="cfisac serve")
    cmd_serve.add_arguments(parser)
    args = parser.parse_args(["lhgnn", "--scenario", "coisac", "--param", "path=x.onnx"])
    with pytest.raises(ValueError, match=r"--scenario coisac: .*cfisac demo --scenario coisac"):
        cmd_serve.run(args)
    with pytest.raises(SystemExit):  # a typo fails while parsing, listing the known ones
        parser.parse_args(["zf", "--scenario", "cellfre"])


def test_evaluate_scores_a_cellfree_family_model_on_the_recipe_problem(capsys):
    import json

    from gr_cfisac.cli import main

    model = MODELS / "l2o/l2o_cellfree.onnx"
    args = ["evaluate", str(model), "--size", "4", "--optimizer-size", "0", "--json"]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model"] == str(model) and report["regime"] == "joint"
    assert report["precoders"]["l2o"]["name"] == "l2o" and report["realizations"] == 4
    assert 0.9 < report["objective"] / report["baselines"]["WMMSE"]["objective"] < 1.01
    assert main(["evaluate", str(MODELS / "lhgnn/lhgnn_coisac.onnx"), "--scenario", "coisac"]) == 2
    assert "cfisac evaluate scores precoders on a cell-free network" in capsys.readouterr().err
