"""hepinfer validate --layerwise: the first node that goes wrong, named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h

from hepinfer.cli.main import main
from hepinfer.measure.agreement import tolerance
from hepinfer.runner.validate import layerwise

LEGACY_WARNING = "ignore:You are using the legacy TorchScript-based ONNX export"


def _particle_transformer(torch: Any) -> tuple[Any, str]:
    """weaver-core's ParticleTransformer where it imports, else a minimal faithful block of it:
    the pairwise features of its PairEmbed (to_ptrapphim: pt, rapidity, phi = atan2(py, px))
    as an attention bias over the particles, masked. Either way, 4-vectors are made physical
    from the seeded inputs (E >= |p|) and are all zero on a padded particle."""
    try:
        from weaver.nn.model.ParticleTransformer import ParticleTransformer

        torch.manual_seed(0)
        part = ParticleTransformer(
            input_dim=3, num_classes=4, pair_input_dim=4, embed_dims=[16, 16], pair_embed_dims=[8, 8],
            num_heads=2, num_layers=1, num_cls_layers=1, fc_params=[], for_inference=True,
        ).eval()  # fmt: skip
        source = "weaver-core ParticleTransformer"
    except ImportError:
        part = _MiniParT(torch).eval()
        source = "minimal ParticleTransformer pair-embedding block (weaver-core not importable)"

    class Physical(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.part = part

        def forward(self, pf_features: Any, pf_kin: Any, pf_mask: Any) -> Any:
            pt = pf_kin[:, 0:1].abs()
            px, py = pt * torch.cos(pf_kin[:, 1:2]), pt * torch.sin(pf_kin[:, 1:2])
            pz = pt * pf_kin[:, 2:3]
            energy = torch.sqrt(px * px + py * py + pz * pz + pf_kin[:, 3:4] ** 2)
            v = torch.cat([px, py, pz, energy], 1) * pf_mask
            return self.part(pf_features * pf_mask, v, pf_mask)

    return Physical().eval(), source


class _MiniParT:  # built lazily: torch is imported by the test only
    def __new__(cls, torch: Any) -> Any:
        class Mini(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                torch.manual_seed(0)
                self.embed = torch.nn.Linear(3, 8)
                self.pair = torch.nn.Linear(2, 1)
                self.head = torch.nn.Linear(8, 4)

            def forward(self, x: Any, v: Any, mask: Any) -> Any:
                px, py, pz, e = v.split((1, 1, 1, 1), dim=1)
                rap = 0.5 * torch.log(1 + (2 * pz) / (e - pz).clamp(min=1e-20))
                phi = torch.atan2(py, px)
                d_rap = rap.unsqueeze(-1) - rap.unsqueeze(-2)
                d_phi = phi.unsqueeze(-1) - phi.unsqueeze(-2)
                pair = torch.stack([d_rap[:, 0], d_phi[:, 0]], -1)  # [N, P, P, 2]
                m = mask[:, 0]
                bias = self.pair(pair)[..., 0] * (m[:, :, None] * m[:, None, :])
                att = torch.softmax(bias - 1e4 * (1 - m[:, None, :]), -1)
                h = att @ self.embed(x.transpose(1, 2))
                return torch.softmax(self.head((h * m[..., None]).sum(1)), -1)

        return Mini()


@pytest.fixture(scope="module")
def legacy_part(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, Any]:
    torch = pytest.importorskip("torch")
    import warnings

    model, source = _particle_transformer(torch)
    path = tmp_path_factory.mktemp("part") / "part_legacy.onnx"
    p = 12
    args = (torch.randn(2, 3, p), torch.randn(2, 4, p), torch.ones(2, 1, p))
    axes = {n: {0: "N", 2: "n_pf"} for n in ("pf_features", "pf_kin", "pf_mask")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, args, str(path), dynamo=False, input_names=list(axes), output_names=["softmax"],
            dynamic_axes={**axes, "softmax": {0: "N"}}, opset_version=17,
        )  # fmt: skip
    return path, source, model


@pytest.mark.slow
@pytest.mark.filterwarnings(LEGACY_WARNING)
def test_padding_nan_of_legacy_particle_transformer_is_located(legacy_part: tuple[Path, str, Any]) -> None:
    """ONNX Runtime gives NaN on zero-padded particles while PyTorch stays finite; the layerwise
    report names the Div the legacy exporter wrote for atan2(py, px)."""
    torch = pytest.importorskip("torch")
    path, source, model = legacy_part
    request = layerwise.LayerwiseRequest(
        model=str(path), mode="padding", backends=["onnxruntime"], dims={"n_pf": 16}
    )
    report = layerwise.run_layerwise(request)
    first = report["first"]
    assert first is not None and first is report["first_nonfinite"], source
    assert first["op"] == "Div" and first["why"] == "turns NaN/Inf"
    assert first["run"] == 1  # the padded run; the unpadded event is finite
    graph = onnx.load(str(path)).graph
    feeds_atan = [n for n in graph.node if n.op_type == "Atan" and first["output"] in n.input]
    assert feeds_atan, f"{first['node']} is not the Div of atan2"
    pad = report["extra_padding"]
    (num, den) = first["input_ranges"].values()
    assert num["zeros"] >= pad and den["zeros"] >= pad  # 0 / 0 on the padded particles
    assert first["output_range"]["nan"] > 0
    assert first["path"][0] in ("pf_kin", "pf_mask") and first["path"][-1] == first["node"]
    # PyTorch on the same padded event stays finite.
    from hepinfer.zoo import model_ref, spec_of

    ref = model_ref(str(path))
    _, padded, _ = layerwise.padding_pair(ref, spec_of(ref), {"n_pf": 16}, pad, 0)
    with torch.no_grad():
        out = model(*(torch.from_numpy(padded[k]) for k in ("pf_features", "pf_kin", "pf_mask")))
    assert torch.isfinite(out).all()


@pytest.mark.slow
@pytest.mark.filterwarnings(LEGACY_WARNING)
def test_cli_layerwise_padding(
    legacy_part: tuple[Path, str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = legacy_part[0]
    out = tmp_path / "lw.json"
    code = main(
        [
            "validate",
            str(path),
            "--layerwise",
            "--layerwise-mode",
            "padding",
            "--dim",
            "n_pf=16",
            "--out",
            str(out),
        ]
    )
    assert code == 1
    (record,) = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    report = record["layerwise"]  # --out appends the run as a record (kind validate)
    printed = capsys.readouterr().out
    assert f"first node that goes wrong: {report['first']['node']} (Div)" in printed
    assert "path: pf_" in printed


def test_compare_layers_names_first_nonfinite_and_first_mismatch(tmp_path: Path) -> None:
    nodes = [
        h.make_node("Relu", ["x"], ["a"], name="relu"),
        h.make_node("Div", ["a", "a"], ["b"], name="div"),
        h.make_node("Mul", ["b", "x"], ["y"], name="mul"),
    ]
    graph = h.make_graph(
        nodes,
        "g",
        [h.make_tensor_value_info("x", T.FLOAT, ["N", 3])],
        [h.make_tensor_value_info("y", T.FLOAT, ["N", 3])],
    )
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])
    exposed, order = layerwise.expose_all(model)
    assert [o.name for o in exposed.graph.output] == ["y", "a", "b"]
    x = np.array([[1.0, -1.0, 2.0]], np.float32)
    a = np.maximum(x, 0)
    with np.errstate(invalid="ignore"):
        b = a / a
    run0 = {"a": a, "b": b, "y": b * x}
    run1 = {"a": a + np.float32(0.5), "b": b, "y": b * x}
    report = layerwise.compare_layers(model, order, (run0, run1), ({"x": x}, {"x": x}), tolerance("fp32"))
    assert report["first_mismatch"]["node"] == "relu" and report["first_mismatch"]["max_abs"] == 0.5
    assert report["first_nonfinite"]["node"] == "div" and report["first_nonfinite"]["nonfinite_in"] == [0, 1]
    assert report["first"]["node"] == "relu" and report["verdict"] == "relu (Relu) leaves the tolerance"
    assert report["first_nonfinite"]["input_ranges"]["a"]["zeros"] == 1
    assert report["first_nonfinite"]["path"] == ["x", "relu", "div"]


@pytest.mark.slow
def test_two_backends_layer_by_layer_on_a_file(tmp_path: Path) -> None:
    pytest.importorskip("openvino")
    nodes = [h.make_node("Relu", ["x"], ["a"], name="relu"), h.make_node("Log", ["a"], ["y"], name="log")]
    graph = h.make_graph(
        nodes,
        "g",
        [h.make_tensor_value_info("x", T.FLOAT, ["N", 3])],
        [h.make_tensor_value_info("y", T.FLOAT, ["N", 3])],
    )
    path = tmp_path / "log_relu.onnx"
    onnx.save(h.make_model(graph, opset_imports=[h.make_opsetid("", 17)]), str(path))
    report = layerwise.run_layerwise(
        layerwise.LayerwiseRequest(model=str(path), backends=["onnxruntime", "openvino"], inputs="realistic")
    )
    assert report["compared"] == ["onnxruntime", "openvino"]
    assert (
        report["first"]["node"] == "log" and report["first"]["why"] == "turns NaN/Inf"
    )  # log(0) of Relu's zeros


def test_layerwise_bad_requests(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "linear_event", "--layerwise", "--backend", "onnxruntime,openvino,sofie"]) == 1
    assert "compares two backends" in capsys.readouterr().err
    assert main(["validate", "linear_event", "--layerwise", "--layerwise-mode", "padding"]) == 1
    assert "no input with a dynamic particle axis" in capsys.readouterr().err
    assert main(["validate", "linear_event", "--layerwise", "--extra-padding", "0"]) == 1
    assert "--extra-padding 0" in capsys.readouterr().err
