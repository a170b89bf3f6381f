"""The precoder benchmark's figures: one colour per method in every panel and figure, values
written on the bars (a synthetic report shaped like bench/precoders.json)."""

import matplotlib
import numpy as np
import pytest

from gr_cfisac.bench.precoders_plots import (
    METHOD_COLOURS,
    method_colour,
    plot_summary,
    summary_figure,
    tradeoff_figure,
)

matplotlib.use("Agg")
JOINT = ["STCIB (ONNX)", "STCIB-PMA literal (ONNX)", "optimizer (best)", "WMMSE", "ZF", "MRT"]


def _row(i: int) -> dict:
    return {
        "on_optimizer_subset": {"objective": 10.0 + i},
        "sum_rc": 20.0 + i,
        "sum_rs": 1.0 + 0.1 * i,
        "seconds_per_realization_batch1": 1e-4 * (i + 1),
        "seconds_per_realization_batched": 1e-5 * (i + 1),
    }


@pytest.fixture
def report():
    feas = {"sc": "feasibility_sc", "cc": "feasibility_cc_averaged"}
    regime = {
        r: {
            lbl: {key: {"rate": 0.9 + 0.01 * i}}
            for i, lbl in enumerate(
                ["optimizer (best)", "optimizer (best, margin 0.2)", "STCIB (ONNX)", "ZF"]
            )  # fmt: skip
        }
        for r, key in feas.items()
    }
    return {
        "joint": {lbl: _row(i) for i, lbl in enumerate(JOINT)},
        "eta": 0.4,
        "optimizer_realizations": 8,
        "comm_threshold": 3.0,
        "sensing_threshold": 0.5,
        **regime,
    }


def _rgba(c):
    return tuple(np.round(matplotlib.colors.to_rgba(c), 6))


def _bar_colours(ax):
    return [_rgba(p.get_facecolor()) for c in ax.containers for p in c]


def test_every_panel_gives_a_method_its_one_colour_and_bars_carry_their_values(report):
    fig = summary_figure(report)
    objective, scatter, times, feasibility = fig.axes
    want = [_rgba(method_colour(lbl)) for lbl in JOINT]
    assert len(set(want)) == len(JOINT)  # distinct methods, distinct colours
    assert _bar_colours(objective) == want
    assert _bar_colours(times) == want + want  # batch 1, then batched (hatched)
    got = [_rgba(c.get_facecolor()[0]) for c in scatter.collections]
    assert got == want
    # the optimizer and its margin variant share the optimizer's colour, in SC and CC alike
    feas = [_rgba(p.get_facecolor()) for p in feasibility.containers[0]]
    opt = _rgba(METHOD_COLOURS["optimizer"])
    assert feas[:2] == [opt, opt] and feas[2] == _rgba(method_colour("STCIB (ONNX)"))
    assert feas[:4] == feas[4:]
    for ax, n in ((objective, len(JOINT)), (times, 2 * len(JOINT)), (feasibility, 8)):
        texts = [t.get_text() for t in ax.texts]
        assert len(texts) == n and all(texts)
    assert [t.get_text() for t in objective.texts][:2] == ["10.000", "11.000"]
    matplotlib.pyplot.close(fig)


def test_tradeoff_curves_use_the_summary_colours():
    rows = [
        {
            "threshold": th,
            "optimizer": {"sum_rs": 2.0, "sum_rc": 20.0},
            "stcib_conditioned": {"sum_rs": 1.8, "sum_rc": 19.0},
        }
        for th in (1.0, 2.0, 3.0)
    ]
    fig = tradeoff_figure(
        {
            "optimizer_quality": "fast",
            "sc": rows,
            "cc": rows,
            "sc_fixed_model": {"threshold": 3.0, "sum_rs": 1.7, "sum_rc": 20.0},
        }
    )
    for ax in fig.axes:
        colours = {ln.get_label(): _rgba(ln.get_color()) for ln in ax.lines}
        assert colours["optimizer (fast)"] == _rgba(method_colour("optimizer (best)"))
        assert colours["STCIB, threshold input"] == _rgba(method_colour("STCIB (ONNX)"))
    assert _rgba(fig.axes[0].lines[-1].get_color()) == _rgba(method_colour("STCIB (ONNX)"))
    matplotlib.pyplot.close(fig)


def test_plot_summary_writes_the_png(report, tmp_path):
    plot_summary(report, tmp_path / "bench" / "precoders.png")
    assert (tmp_path / "bench" / "precoders.png").stat().st_size > 10_000


def test_the_speedup_baseline_is_named_in_the_time_panel(report):
    """The optimizer setting the learned models' speed-ups are measured against is marked."""
    report["optimizer_baseline"] = {"label": "optimizer (best)"}
    fig = summary_figure(report)
    ticks = [t.get_text() for t in fig.axes[2].get_yticklabels()]
    assert ticks[JOINT.index("optimizer (best)")] == "optimizer (best) [speed-up baseline]"
    assert sum("baseline" in t for t in ticks) == 1
    matplotlib.pyplot.close(fig)
