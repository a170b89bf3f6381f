"""The package as a user meets it: imports, the console script, the numerical core's purity."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = [
    "config",
    "geometry",
    "arrays",
    "channels",
    "estimation",
    "metrics",
    "scenario",
    "evaluation",
    "echo",
    "music",
    "bounds",
    "localization",
    "mobility",
    "sigmf_io",
    "layout",
    "models",
    "recipe",
    "dataset",
    "precoding.registry",
    "precoding.builtin_families",
    "demo",
    "sweep",
    "active_users",
    "coisac",
    "reproduce",
    "reproduce.stcib",
    "reproduce.teacher_student",
    "reproduce.l2o",
]


def test_gnuradio_namespace_import():
    code = "from gnuradio import cfisac, gr; print(cfisac.SystemConfig().K)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "4"


def test_numerical_core_imports_neither_gnuradio_nor_torch():
    mods = ", ".join(f"gr_cfisac.{m}" for m in CORE)
    code = (
        f"import sys, importlib\nfor m in '{mods}'.split(', '): importlib.import_module(m)\n"
        "import gr_cfisac.precoding\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('gnuradio', 'torch', 'pmt')]\n"
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_no_module_imports_another_modules_private_names():
    """A ``_name`` is its module's own: a name another module needs is public (issue 11)."""
    import ast

    offenders = []
    for path in sorted((ROOT / "gr_cfisac").rglob("*.py")) + sorted((ROOT / "tests").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [a.name for a in node.names]
                offenders += [
                    f"{path.relative_to(ROOT)}: {n}"
                    for n in names
                    if n.startswith("_") and not n.startswith("__")
                ]
    assert offenders == []


def test_console_script_help_lists_commands():
    exe = Path(sys.executable).parent / "cfisac"
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=True)
    for command in ("demo", "bench"):
        assert command in out.stdout


def test_cli_reports_bad_input_clearly():
    from gr_cfisac.cli import main

    assert main(["bench", "no-such-benchmark"]) == 2


def test_grc_definitions_are_packaged():
    text = (ROOT / "pyproject.toml").read_text()
    assert '"share/gnuradio/grc/blocks" = ["grc/*.block.yml"]' in text
