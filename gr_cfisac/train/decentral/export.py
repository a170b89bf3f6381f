"""Export a decentralized model set: one ONNX graph per AP with a card naming its AP.

``PREFIX_ap{l}.onnx`` (opset :data:`OPSET`, dynamic batch): input ``csi`` float32
(B, N+1, 2M), AP l's own CSI rows (gr_cfisac.decentral.csi_rows), output ``beamformer``
float32 (B, N+1, 2M), AP l's beams, row 0 the sensing beam, at the AP's power. Each graph has
its card ``PREFIX_ap{l}.json`` (schema gr_cfisac.precoding.teacher_student.CARD_SCHEMA): the
AP it serves (``ap``), the whole set (``model_set``: L, M, N and the files in AP order), the
scenario and its configuration, the architecture, training and validation summaries, and the
ONNX parity against torch. The registry family ``teacher_student`` loads the set from any
member's path.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .models import ModelSet

OPSET = 17


def _onnx_bytes(net: torch.nn.Module, Q: int, M2: int) -> bytes:
    import onnx

    from ..export import register_inverse_export

    register_inverse_export()  # kkt_head's A^{-1}: com.microsoft::Inverse
    buffer = io.BytesIO()
    example = torch.randn(2, Q, M2)
    contrib = {"com.microsoft": 1} if getattr(net, "head", None) is not None else None
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter's notice
        torch.onnx.export(net, (example,), buffer, dynamo=False, opset_version=OPSET,
                          input_names=["csi"], output_names=["beamformer"],
                          dynamic_axes={"csi": {0: "batch"}, "beamformer": {0: "batch"}},
                          do_constant_folding=True, custom_opsets=contrib)  # fmt: skip
    proto = onnx.load_from_string(buffer.getvalue())
    proto.producer_name = "gr-cfisac"
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def parity(path: Path, net: torch.nn.Module, csi: np.ndarray) -> float:
    """Max |onnx - torch| / max |torch| of one AP's graph on ``csi`` (B, N+1, 2M)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(["beamformer"], {"csi": csi.astype(np.float32)})[0]
    with torch.no_grad():
        want = net(torch.from_numpy(csi.astype(np.float32))).numpy()
    return float(np.abs(got - want).max() / np.abs(want).max())


def architecture(section: Any, model: ModelSet, **described: str) -> dict[str, Any]:
    """A card's ``architecture``: the recipe's model section (config.ModelSection), ``described``
    fields (e.g. what the input is) and the parameters per AP."""
    return {"arch": section.arch, "channels": list(section.channels),
            "hidden": list(section.hidden), "kernel": section.kernel, "head": section.head,
            "network_input": section.input, **described,
            "parameters_per_ap": sum(p.numel() for p in model.aps[0].parameters())}  # fmt: skip


def export_model_set(
    model: ModelSet,
    prefix: str | Path,
    scenario: str,
    scenario_config: dict[str, Any],
    architecture: dict[str, Any],
    training: dict[str, Any] | None = None,
    validation: dict[str, Any] | None = None,
    check_csi: np.ndarray | None = None,
    extra: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Write ``PREFIX_ap{l}.onnx`` and ``PREFIX_ap{l}.json`` for every AP l of ``model``;
    ``check_csi`` (B, L, N+1, 2M) the inputs of the parity check (default: random); ``extra``
    more card fields (a cell-free set's ``system``). The cards."""
    from ...precoding.cards import CARD_FORMAT

    model = model.cpu().eval()
    prefix = Path(str(prefix).removesuffix(".onnx"))
    prefix.parent.mkdir(parents=True, exist_ok=True)
    L, M, N = model.L, model.M, model.N
    files = [f"{prefix.name}_ap{l}.onnx" for l in range(L)]
    if check_csi is None:
        check_csi = np.random.default_rng(0).standard_normal((16, L, N + 1, 2 * M))
    cards = []
    for l, net in enumerate(model.aps):
        path = prefix.parent / files[l]
        blob = _onnx_bytes(net, N + 1, 2 * M)
        path.write_bytes(blob)
        shape = ["batch", N + 1, 2 * M]
        card = {
            "format": CARD_FORMAT,
            "family": "teacher_student",
            "name": f"{prefix.name}_ap{l}",
            "file": files[l],
            "sha256": hashlib.sha256(blob).hexdigest(),
            "scenario": scenario,
            "ap": l,
            "model_set": {"L": L, "M": M, "N": N, "files": files},
            "scenario_config": scenario_config,
            "power": float(net.power_sqrt) ** 2,
            "input_scale": float(net.scale),
            "architecture": architecture,
            "onnx": {
                "opset": OPSET,
                "inputs": {"csi": {"dtype": "float32", "shape": shape}},
                "outputs": {"beamformer": {"dtype": "float32", "shape": shape}},
                "parity_max_rel_diff": parity(path, net, check_csi[:, l]),
            },
            "training": training or {},
            "validation": validation or {},
            **(extra or {}),
        }
        path.with_suffix(".json").write_text(json.dumps(card, indent=1, allow_nan=False) + "\n")
        cards.append(card)
    return cards


def export_run(run_dir: str | Path, out: str | Path) -> list[dict[str, Any]]:
    """Export the selected student of the run in ``run_dir`` (section 8.3) as ``out``'s
    per-AP files; the cards carry the teachers' and the student's validation curves. A cellfree
    run exports its best-objective set (cellfree.export_cellfree_run)."""
    from .config import TSConfig
    from .trainer import Trainer

    run_dir = Path(run_dir)
    cfg = TSConfig.load(run_dir / "config.yml")
    if cfg.scenario.cellfree:
        from .cellfree import export_cellfree_run

        return export_cellfree_run(run_dir, out)
    t = Trainer(cfg, run_dir, progress=False)
    model = t.selected_model()
    pick = t.selected()
    history = {
        stage: {k: [round(e[k], 6) for e in rows] for k in ("val_ssnr", "val_sinr", "lambda")}
        for stage, rows in t.state["history"].items()
    }
    g1, g2 = t.state["g_max"]
    training = {"config": cfg.to_dict(), "g_max": {"ssnr": g1, "min_sinr": g2},
                "epochs": {s: len(h) for s, h in t.state["history"].items()},
                "history": history}  # fmt: skip
    validation = {"selected_epoch": pick["epoch"], "mean_min_sinr": pick["sinr"],
                  "mean_ssnr": pick["ssnr"], "select": cfg.schedule.select,
                  "size": cfg.data.val_size}  # fmt: skip
    arch = architecture(cfg.model, model)
    return export_model_set(model, out, cfg.scenario.layout, t.pos.to_dict(), arch, training,
                            validation, t.val.csi[:64].cpu().numpy())  # fmt: skip
