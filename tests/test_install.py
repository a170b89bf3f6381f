"""The package away from its checkout: the shipped models and the demo's flowgraph come with the
wheel, and a regular (non-editable) install in a fresh venv runs `cfisac demo` and
`cfisac evaluate` on a shipped model from a folder outside the source tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from gr_cfisac.models import resolve_model, shipped_models, shipped_models_dir

ROOT = Path(__file__).resolve().parents[1]
#: what a wheel is built from: the package, the GRC definitions and the project files
SOURCES = ["gr_cfisac", "gnuradio", "grc", "models", "pyproject.toml", "README.md", "LICENSE"]


def test_shipped_models_are_found_from_any_folder(tmp_path, monkeypatch):
    names = [p.relative_to(ROOT / "models").as_posix() for p in (ROOT / "models").rglob("*.onnx")]
    assert names and sorted(shipped_models()) == sorted(names)  # family folders too
    for name in names:
        assert (shipped_models_dir() / name).with_suffix(".json").is_file(), name
    monkeypatch.chdir(tmp_path)
    for given in ("stcib_joint.onnx", "models/stcib_joint.onnx"):
        found = resolve_model(given)
        assert found.samefile(ROOT / "models" / "stcib_joint.onnx"), given
    (tmp_path / "stcib_joint.onnx").write_bytes(b"mine")  # a file the user names wins
    assert resolve_model("stcib_joint.onnx") == Path("stcib_joint.onnx")
    with pytest.raises(FileNotFoundError, match="no_such.onnx.*stcib_joint.onnx"):
        resolve_model("no_such.onnx")


def test_the_flowgraph_users_open_is_the_one_the_package_runs():
    """flowgraphs/cfisac_sim.py links to the package's module, so GRC's Generate and
    `grcc -o flowgraphs` rewrite what `cfisac demo` imports."""
    link = ROOT / "flowgraphs" / "cfisac_sim.py"
    assert link.is_symlink()
    assert link.resolve() == ROOT / "gr_cfisac" / "flowgraphs" / "cfisac_sim.py"


def build_wheel(out: Path) -> Path:
    """A wheel built from a copy of the sources (no stale build/ of the checkout in it)."""
    src = out / "src"
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", "ruff.toml")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, symlinks=True, ignore=junk)
        else:
            shutil.copy2(ROOT / name, src / name)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(src),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = out.glob("gr_cfisac-*.whl")
    return wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


def test_the_wheel_ships_the_flowgraph_models_and_commands(wheel):
    from gr_cfisac.cli import COMMANDS

    with zipfile.ZipFile(wheel) as z:
        files = {i.filename: i.file_size for i in z.infolist()}
    assert files["gr_cfisac/flowgraphs/cfisac_sim.py"] > 1000
    assert (
        "class cfisac_sim(gr.top_block)"
        in zipfile.Path(wheel, "gr_cfisac/flowgraphs/cfisac_sim.py").read_text()
    )
    for model in sorted(p for p in (ROOT / "models").rglob("*") if p.is_file()):
        shipped = f"gr_cfisac/data/models/{model.relative_to(ROOT / 'models').as_posix()}"
        assert files.get(shipped) == model.stat().st_size, shipped  # the file, not a link
    for module in COMMANDS.values():
        assert module.replace(".", "/") + ".py" in files, module


def test_a_regular_install_runs_the_demo_and_evaluates_a_shipped_model(wheel, tmp_path):
    """A fresh venv on the system Python the main venv is built on (GNU Radio is there), the
    main venv's packages for the dependencies, the wheel installed without them; every command
    runs in a folder outside the source tree (about 10 s)."""
    venv = tmp_path / "venv"
    subprocess.run(
        [
            str(Path(sys.base_prefix) / "bin" / "python3"),
            "-m",
            "venv",
            "--system-site-packages",
            "--without-pip",
            str(venv),
        ],
        check=True,
        timeout=120,
    )
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    # the dependencies: the main venv's site-packages (a path line: its editable link to this
    # checkout is a .pth there, which a path line does not run)
    (Path(site) / "main_venv.pth").write_text(sysconfig.get_path("purelib") + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    work = tmp_path / "elsewhere"
    work.mkdir()

    def run(*argv: str, timeout: float = 300) -> str:
        done = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True,
                              timeout=timeout)  # fmt: skip
        assert done.returncode == 0, f"{argv}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done.stdout

    run(
        str(python),
        "-m",
        "pip",
        "install",
        "-q",
        "--no-deps",
        "--no-index",
        "--ignore-installed",
        str(wheel),
    )
    where = run(str(python), "-c", "import gr_cfisac.models as m; print(m.shipped_models_dir())")
    models = Path(where.strip())
    assert models.is_relative_to(site) and (models / "stcib_joint.onnx").is_file(), where
    cfisac = str(venv / "bin" / "cfisac")
    text = run(cfisac, "demo", "--blocks", "5", "--algorithm", "stcib_joint_fast.onnx")
    assert "sum rate" in text and "4x4-RAP run precodes with zf" in text
    assert (work / "demo" / "rates.png").stat().st_size > 10_000
    text = run(cfisac, "evaluate", str(models / "stcib_joint.onnx"), "--size", "20",
               "--optimizer-size", "0", "--json")  # fmt: skip
    assert '"realizations": 20' in text and str(models / "stcib_joint.onnx") in text
