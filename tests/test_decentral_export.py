"""One ONNX model per AP (paper 001): the registry family teacher_student loads a set from any
member, runs AP l on AP l's own CSI only, equals the torch models, refuses a set whose cards
disagree (L, M, N, AP order) naming the field, and in the flowgraph each TAP's Precoder gives
the W of the centralized evaluation of the same models (rel. tol 1e-5)."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from gr_cfisac import decentral  # noqa: E402
from gr_cfisac.precoding import teacher_student  # noqa: E402
from gr_cfisac.precoding.registry import (  # noqa: E402
    PrecoderSpec,
    Realization,
    make_precoder,
    spec_for,
)
from gr_cfisac.train.decentral.export import export_model_set  # noqa: E402
from gr_cfisac.train.decentral.models import ModelSet, beams  # noqa: E402

POS = decentral.PosConfig("pos1", L=2, M=2, N=2)
ARCH = {"arch": "unet", "channels": [2, 4]}


def central_W(model: ModelSet, F: np.ndarray, a_t: np.ndarray) -> np.ndarray:
    """All APs' models evaluated in one place (torch, the training-time path)."""
    M = model.M
    csi = np.stack(
        [decentral.csi_rows(F[:, l * M : (l + 1) * M], a_t[:, l]) for l in range(model.L)], 1
    )
    with torch.no_grad():
        return beams(model(torch.from_numpy(csi))).numpy()


def export(tmp_path, L, M, N, scenario="pos1", power=1.0, scale=1.0, extra=None, head="free"):
    """``head`` free or kkt (the latter on the Gram input, the shipped Pos-1 form)."""
    torch.manual_seed(0)
    model = ModelSet(L, M, N, "unet", (2, 4), power=power, input_scale=scale, head=head,
                     input="gram" if head == "kkt" else "csi").eval()  # fmt: skip
    cards = export_model_set(model, tmp_path / "ts", scenario, {}, ARCH, extra=extra)
    return model, cards


@pytest.mark.parametrize("head", ["free", "kkt"])
def test_the_family_runs_each_ap_on_its_own_csi_like_the_torch_models(tmp_path, head):
    model, cards = export(tmp_path, 2, 2, 2, head=head)
    assert [c["ap"] for c in cards] == [0, 1] and cards[0]["onnx"]["parity_max_rel_diff"] < 1e-5
    path = tmp_path / "ts_ap1.onnx"  # any member names the set
    assert spec_for(str(path), "pos1").name == "teacher_student"
    pre = make_precoder(PrecoderSpec("teacher_student", "pos1", {"path": str(path)}), POS)
    assert pre.family.placement == "per_ap" and "own_ap_csi" in pre.family.needs
    b = decentral.draw(POS, 6, 0)
    W = pre(Realization(b.F_hat, b.sensing)).W
    want = central_W(model, b.F, b.a_t)
    np.testing.assert_allclose(W, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    np.testing.assert_allclose(decentral.per_ap_power(W, 2), 1.0, rtol=1e-5)
    # AP 0's beams depend on AP 0's CSI only
    W0 = pre.per_ap(0, Realization(b.F_hat[:, :2], b.sensing)).W
    np.testing.assert_array_equal(W0, W[:, :2])


def _edit(path, **fields):
    card = json.loads(path.read_text())
    for key, value in fields.items():
        *parents, last = key.split(".")
        node = card
        for p in parents:
            node = node[p]
        node[last] = value
    path.write_text(json.dumps(card))


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("model_set.M", 3, r"field model_set.M = 3 disagrees"),
        ("model_set.N", 5, r"field model_set.N = 5 disagrees"),
        ("model_set.L", 3, r"field model_set.L = 3 disagrees"),
        ("ap", 0, r"field ap = 0 but ts_ap1.onnx is listed for AP 1"),
    ],
)
def test_a_set_whose_cards_disagree_is_refused_naming_the_field(tmp_path, field, value, match):
    export(tmp_path, 2, 2, 2)
    _edit(tmp_path / "ts_ap1.json", **{field: value})
    with pytest.raises(ValueError, match=match):
        make_precoder(
            PrecoderSpec("teacher_student", "pos1", {"path": str(tmp_path / "ts_ap0.onnx")}), POS
        )


def test_a_set_for_another_configuration_is_refused_naming_the_field(tmp_path):
    export(tmp_path, 2, 2, 2)
    spec = PrecoderSpec("teacher_student", "pos1", {"path": str(tmp_path / "ts_ap0.onnx")})
    with pytest.raises(ValueError, match=r"N = 2 \(card field model_set.N\).*N = 3"):
        make_precoder(spec, decentral.PosConfig("pos1", L=2, M=2, N=3))
    with pytest.raises(ValueError, match=r"scenario 'pos1'.*not 'pos2'"):
        make_precoder(PrecoderSpec("teacher_student", "pos2", dict(spec.params)), POS)
    (tmp_path / "ts_ap1.onnx").write_bytes(b"changed")
    with pytest.raises(ValueError, match="sha256 does not match"):
        make_precoder(spec, POS)


@pytest.mark.parametrize("head", ["free", "kkt"])
def test_the_per_tap_flowgraph_gives_the_centralized_w_and_moves_no_estimates(
    tmp_path, monkeypatch, head
):
    from gr_cfisac.blocks import precoder
    from gr_cfisac.blocks.layout import estimate_layout, pack_geometry, unpack_geometry
    from gr_cfisac.blocks.qa import run_block
    from gr_cfisac.channels import split_tap_major
    from gr_cfisac.config import SystemConfig
    from gr_cfisac.scenario import draw_realizations

    cfg = SystemConfig(NT=2, K=2)
    B = 6
    r = draw_realizations(cfg, B, 8)
    model, _ = export(tmp_path, cfg.NT, cfg.MT, cfg.K, "cellfree", power=cfg.rho,
                      scale=1e4, extra={"system": cfg.to_dict()}, head=head)  # fmt: skip
    h = split_tap_major(r.F_hat, cfg.NT)
    ports = [estimate_layout(cfg).pack(h_hat=h[:, i])[:, None] for i in range(cfg.NT)]
    geometry = pack_geometry(cfg, r.sensing)
    ports.append(geometry[:, None])
    seen = []
    run = teacher_student.ModelSetHost.run
    monkeypatch.setattr(
        teacher_student.ModelSetHost,
        "run",
        lambda self, ap, csi: seen.append((ap, csi.shape)) or run(self, ap, csi),
    )
    outs = run_block(precoder(cfg, str(tmp_path / "ts_ap0.onnx"), msg_interval=0), ports)
    W = outs[cfg.NT].data[:, 0].reshape(B, cfg.N, cfg.K + 1)
    # every TAP ran its own model on its own K estimates and its own steering row only
    assert sorted({ap for ap, _ in seen}) == [0, 1]
    assert all(shape[1:] == (cfg.K + 1, 2 * cfg.MT) for _, shape in seen)
    F_hat = r.F_hat.astype(np.complex64).astype(complex)
    a_t = unpack_geometry(cfg, geometry).aT_t
    want = central_W(model, F_hat, a_t)
    np.testing.assert_allclose(W, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    for i in range(cfg.NT):
        Wi = outs[i].data[:, 0].reshape(B, cfg.MT, cfg.K + 1)
        np.testing.assert_array_equal(Wi, W[:, i * cfg.MT : (i + 1) * cfg.MT])
