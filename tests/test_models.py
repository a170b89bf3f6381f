"""gr_cfisac.models.resolve_model: shipped models are found by file name in models/ and in its
family folders (models/lhgnn/, models/l2o/dt/, ...), and a name found nowhere says where it
looked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gr_cfisac.models import resolve_model, shipped_models, shipped_models_dir

ROOT = Path(__file__).resolve().parents[1]


def test_a_model_in_a_family_folder_is_found_by_its_file_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # away from the checkout: only the shipped folder can match
    want = ROOT / "models" / "lhgnn" / "lhgnn_coisac.onnx"
    for given in ("lhgnn_coisac.onnx", "lhgnn/lhgnn_coisac.onnx", "models/lhgnn/lhgnn_coisac.onnx"):
        found = resolve_model(given)
        assert found.is_absolute() and found.samefile(want), given
        assert found.with_suffix(".json").is_file(), given  # its card is beside it
    deeper = resolve_model("l2o_dt_k4_n11.onnx")  # two folders down
    assert deeper.samefile(ROOT / "models" / "l2o" / "dt" / "l2o_dt_k4_n11.onnx")
    assert resolve_model("stcib_joint.onnx").samefile(ROOT / "models" / "stcib_joint.onnx")


def test_every_listed_shipped_model_resolves_to_itself(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    listed = shipped_models()
    assert "lhgnn/lhgnn_coisac.onnx" in listed and "stcib_joint.onnx" in listed
    assert listed.index("stcib_joint.onnx") < listed.index("lhgnn/lhgnn_coisac.onnx")
    for rel in listed:
        assert resolve_model(Path(rel).name).samefile(shipped_models_dir() / rel), rel


def test_a_file_the_user_names_wins_over_a_shipped_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lhgnn_coisac.onnx").write_bytes(b"mine")
    assert resolve_model("lhgnn_coisac.onnx") == Path("lhgnn_coisac.onnx")


def test_an_unknown_model_error_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError) as info:
        resolve_model("no_such_coisac.onnx")
    msg = str(info.value)
    assert str(tmp_path / "no_such_coisac.onnx") in msg  # the path as given
    assert str(shipped_models_dir()) in msg
    looked = re.search(r"its folders ([^)]*)\)", msg).group(1).split(", ")
    assert {"lhgnn", "l2o", "l2o/dt", "teacher_student"} <= set(looked)
    assert "lhgnn/lhgnn_coisac.onnx" in msg  # what there is instead


def test_a_file_name_shipped_twice_must_be_named_by_its_folder(tmp_path, monkeypatch):
    """Two family folders holding the same file name: a bare name is ambiguous, a path is not."""
    import gr_cfisac.models as models

    shipped = tmp_path / "shipped"
    for family in ("a", "b"):
        (shipped / family).mkdir(parents=True)
        (shipped / family / "twin.onnx").write_bytes(b"x")
    monkeypatch.setattr(models, "shipped_models_dir", lambda: shipped)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"twin.onnx: 2 shipped models .*a/twin.onnx, b/twin.onnx"):
        models.resolve_model("twin.onnx")
    assert models.resolve_model("b/twin.onnx") == shipped / "b" / "twin.onnx"
