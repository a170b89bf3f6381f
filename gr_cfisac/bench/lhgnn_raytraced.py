"""Issue 14's ray-traced channel source in the lhgnn bench (``raytraced_section``): the
geometric- and the ray-traced-trained LHGNN, each on both test sets, alone and refined by
the registry's ascent. numpy + onnxruntime."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..coisac import CoisacBatch, CoisacConfig, CoisacScenario
from ..models import shipped_models_dir
from ..precoding.lhgnn import LHGNNHost
from .lhgnn_models import TEST_SEED, block_metrics, summary

#: issue 14's ray-traced channel source: label -> model, the geometric one first
RAYTRACED = {"LHGNN (geometric-trained)": "lhgnn/lhgnn_coisac.onnx",
             "LHGNN (rt-trained)": "lhgnn/lhgnn_rt_coisac.onnx"}  # fmt: skip
RT_ASCENT_STEPS = 50


def raytraced_section(n_ascent: int, folder: Path | None = None) -> dict[str, Any]:
    """The cross table of issue 14: the geometric- and the ray-traced-trained LHGNN
    (``RAYTRACED``, lhgnn_rt_small.yml) each on the ray-traced test split (the rt card's recipe:
    its ``dataset``, split seed data_seed, coisac.raytrace_split) and on as many geometric
    blocks (seed TEST_SEED): sum rate, mean SPEB and the share with SPEB <= the card's gamma, the
    model alone on every block and, on the first ``n_ascent`` of each set, alone and refined by
    the registry's ``ascent_steps`` = RT_ASCENT_STEPS. A note instead when a model or the
    dataset is missing (it needs sionna-rt: `cfisac coisac-raytrace`)."""
    from ..coisac import raytrace_split as rts
    from ..precoding.registry import PrecoderSpec, make_precoder

    root = Path(folder) if folder is not None else shipped_models_dir()
    paths = {label: root / rel for label, rel in RAYTRACED.items()}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        return {"note": f"skipped: {', '.join(missing)} not shipped"}
    rt_card = LHGNNHost(paths["LHGNN (rt-trained)"], threads=1).card
    rc = rt_card["training"]["config"]
    cfg = CoisacConfig.from_dict(rt_card["scenario_config"])
    path = rts.resolve(rc["dataset"], root.parent)
    if not path.is_file():
        return {"note": f"skipped: the ray-traced dataset {path} does not exist (make it with "
                        f"`{rts.make_hint(path, rc['train_size'] + rc['val_size'] + 500)}`)"}  # fmt: skip
    ds = rts.load_for(path, cfg, rc["train_size"] + rc["val_size"])
    test = rts.split_indices(ds.batch, rc["train_size"], rc["val_size"], rc["data_seed"])["test"]
    n = min(n_ascent, test.size)

    def sets(size: int) -> dict[str, CoisacBatch]:  # the first ``size`` test blocks
        return {"raytraced": rts.subset(ds, test[:size]).to_batch(rng=TEST_SEED),
                "geometric": CoisacScenario(cfg).draw(size, rng=TEST_SEED)}  # fmt: skip

    full, few = sets(test.size), sets(n)
    rows = []
    for label, p in paths.items():
        gamma = float(LHGNNHost(p, threads=1).card["gamma_m2"])
        for name in full:
            for steps, b in ((0, full[name]), (0, few[name]), (RT_ASCENT_STEPS, few[name])):
                spec = PrecoderSpec("lhgnn", "coisac", {"path": str(p), "ascent_steps": steps})
                W = make_precoder(spec, cfg)(b.realization()).W.astype(complex)
                rows.append({"model": label, "test_set": name, "ascent_steps": steps,
                             "gamma_m2": gamma, **summary(block_metrics(b, W), gamma)})  # fmt: skip
    return {
        "rows": rows,
        "dataset": str(path),
        "channel_source": rt_card["channel_source"],
        "test_blocks": int(test.size),
        "ascent_blocks": n,
        "geometric_seed": TEST_SEED,
    }
