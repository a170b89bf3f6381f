"""The cfisac command's manners: user-facing help with defaults for every command, and
`cfisac config` writing a configuration to edit and explaining one."""

from __future__ import annotations

import json

import pytest

from gr_cfisac.cli import COMMANDS, build_parser, main
from gr_cfisac.config import SystemConfig


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_user_facing_help_with_defaults(name, capsys):
    import importlib

    module = importlib.import_module(COMMANDS[name])
    assert module.HELP and module.DESCRIPTION and module.HELP != (module.__doc__ or "").strip()
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args([name, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert " ".join(module.DESCRIPTION.split()[:6]) in " ".join(text.split())
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[name]
    for action in sub._actions:  # every option with a real default says it in its help
        if action.option_strings and action.default not in (None, False, "==SUPPRESS=="):
            assert "default" in sub.formatter_class(name)._get_help_string(action), action.dest


def test_config_template_writes_an_editable_config_and_show_explains_it(tmp_path, capsys):
    path = tmp_path / "net.json"
    assert main(["config", "template", str(path)]) == 0
    assert SystemConfig.from_json(path.read_text()) == SystemConfig()
    assert main(["config", "template", str(path)]) == 2  # never overwrites by surprise
    assert "--force" in capsys.readouterr().err
    doc = json.loads(path.read_text())
    doc["MR_shape"] = [4, 4]
    path.write_text(json.dumps(doc))
    assert main(["config", "show", str(path)]) == 0
    out = capsys.readouterr().out
    assert "MR = 16 per RAP" in out and "identifiable yes" in out
    assert main(["config", "show"]) == 0
    assert "identifiable no" in capsys.readouterr().out  # Table I's 2x2 RAPs
    doc["K"] = "four"
    path.write_text(json.dumps(doc))
    assert main(["config", "show", str(path)]) == 2
    assert f"{path}: SystemConfig.K" in capsys.readouterr().err


def test_the_command_line_builds_without_gnuradio_or_torch():
    """Every command keeps GNU Radio and torch inside its run: `cfisac --help` needs neither."""
    import subprocess
    import sys

    code = (
        "import sys\nfrom gr_cfisac.cli import build_parser\nbuild_parser()\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'gnuradio', 'torch', 'pmt'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_system_error_names_the_path_and_what_went_wrong(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert main(["reproduce", "lhgnn", "--out", str(blocker / "report")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"cfisac reproduce: error: {blocker}") and "Errno" not in err
    assert err.endswith(": Not a directory")


def test_bench_scheduler_names_exactly_the_benchmarks_that_sweep():
    import importlib
    import inspect

    from gr_cfisac.commands.bench import BENCHMARKS, SWEEPS

    takes = {
        name
        for name, module in BENCHMARKS.items()
        if "scheduler" in inspect.signature(importlib.import_module(module).run).parameters
    }
    assert takes == set(SWEEPS)
