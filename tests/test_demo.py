"""`cfisac demo` end to end on a few blocks, with a shipped learned precoder."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_demo_runs_with_a_learned_precoder(tmp_path, capsys):
    from gr_cfisac.cli import main

    model = ROOT / "models" / "stcib_joint_fast.onnx"
    argv = ["demo", "--blocks", "12", "--algorithm", str(model), "--out", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "sum rate" in out
    # its card fixes the Table-I RAP arrays: the 4x4-RAP run says it precodes with zf instead
    assert "4x4-RAP run precodes with zf" in out
    assert (tmp_path / "music_spectrum.png").exists() and (tmp_path / "rates.png").exists()
