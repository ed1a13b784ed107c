"""Variable axes a user can name: the axes an ONNX graph ties together are one --dim.

A ParticleTransformer-like export (three particle collections, each a feature tensor and a
four-vector tensor on the same particle axis) made here with the legacy torch exporter and
unnamed dynamic axes; small onnx.helper graphs for each rule; the real ParticleNet files with
their axis names blanked, whose groups must come back as the authors named them.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from hepinfer.errors import ConfigurationError
from hepinfer.zoo import BATCH, build_inputs, model_ref, spec_of
from hepinfer.zoo.onnx_file import spec_from_onnx

COLLECTIONS = [(16, 10), (8, 6), (12, 3)]  # (features, particles) of charged, neutral, SVs


@pytest.fixture(scope="module")
def part_like(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six inputs input_1..input_6, exported with dynamic axes given as lists (no names)."""
    import torch

    class PartLike(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.ModuleList([torch.nn.Conv1d(c + 4, 8, 1) for c, _ in COLLECTIONS])
            self.fc = torch.nn.Linear(8, 3)

        def forward(self, *xs: torch.Tensor) -> torch.Tensor:
            pairs = zip(xs[0::2], xs[1::2], strict=True)
            x = torch.cat([e(torch.cat([f, v], 1)) for e, (f, v) in zip(self.embed, pairs, strict=True)], 2)
            attention = torch.softmax(x.transpose(1, 2) @ x, -1)  # all particles: (B, P, P)
            return torch.softmax(self.fc((x @ attention).mean(2)), 1)

    torch.manual_seed(0)
    names = [f"input_{i}" for i in range(1, 7)]
    args = tuple(torch.randn(2, c, n) for cn in COLLECTIONS for c, n in ((cn[0], cn[1]), (4, cn[1])))
    path = tmp_path_factory.mktemp("part") / "part_like.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            PartLike().eval(),
            args,
            str(path),
            input_names=names,
            output_names=["softmax"],
            dynamic_axes={n: [0, 2] for n in names},  # a list: torch invents the names
            dynamo=False,
            opset_version=17,
        )
    return path


def test_unnamed_part_axes_form_three_groups(part_like: Path) -> None:
    """Six invented names (input_K_dynamic_axes_2), three groups named after their first
    input; the per-input names are still accepted."""
    raw = onnx.load(str(part_like))
    invented = {d.dim_param for vi in raw.graph.input for d in vi.type.tensor_type.shape.dim[2:]}
    assert len(invented) == 6  # what hepinfer asked a --dim for, one by one, before
    spec = spec_from_onnx(part_like)
    assert spec.symbols() == ["n_input_1", "n_input_3", "n_input_5"]
    assert [t.shape for t in spec.inputs] == [
        (BATCH, 16, "n_input_1"),
        (BATCH, 4, "n_input_1"),
        (BATCH, 8, "n_input_3"),
        (BATCH, 4, "n_input_3"),
        (BATCH, 12, "n_input_5"),
        (BATCH, 4, "n_input_5"),
    ]
    assert dict(spec.dim_aliases)["input_2_dynamic_axes_2"] == "n_input_1"
    sizes = {"n_input_1": 20, "input_4_dynamic_axes_2": 5, "n_input_5": 3}
    assert spec.resolve_dims(sizes) == {"n_input_1": 20, "n_input_3": 5, "n_input_5": 3}
    with pytest.raises(ConfigurationError, match=r"size the same axis.*--dim n_input_1=N"):
        spec.resolve_dims({"input_1_dynamic_axes_2": 20, "input_2_dynamic_axes_2": 21, **sizes})
    with pytest.raises(ConfigurationError, match="--dim n_input_3=N"):
        spec.resolve_dims({"n_input_1": 20, "n_input_5": 3})


def test_grouped_sizes_run(part_like: Path) -> None:
    """Inputs built at the three group sizes are what the file runs on."""
    import onnxruntime as ort

    ref = model_ref(str(part_like))
    spec = spec_of(ref)
    dims = spec.resolve_dims({"n_input_1": 30, "n_input_3": 7, "n_input_5": 2})
    inputs = build_inputs(ref, spec, 4, dims, 0)
    assert inputs["input_2"].shape == (4, 4, 30) and inputs["input_6"].shape == (4, 4, 2)
    session = ort.InferenceSession(str(part_like), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, inputs)
    assert out.shape == (4, 3) and np.allclose(out.sum(axis=1), 1, atol=1e-5)


def _graph(path: Path, inputs: list[tuple[str, list[object]]], nodes: list[object], out: str) -> Path:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, d) for n, d in inputs],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_rules_on_blank_axes(tmp_path: Path) -> None:
    """Blank axes (neither size nor name, which hepinfer refused before) are named after their
    tensor; Concat ties all but its axis, MatMul the inner pair, Add what it broadcasts."""
    path = _graph(
        tmp_path / "m.onnx",
        [("f", ["N", 8, None]), ("v", ["N", 4, None]), ("a", ["N", 3, None]), ("b", ["N", None, 5])],
        [
            helper.make_node("Concat", ["f", "v"], ["fv"], axis=1),  # f[2] ~ v[2]
            helper.make_node("MatMul", ["a", "b"], ["ab"]),  # a[2] ~ b[1]
            helper.make_node("ReduceSum", ["fv"], ["s"], keepdims=1),
            helper.make_node("ReduceSum", ["ab"], ["t"], keepdims=1),
            helper.make_node("Add", ["s", "t"], ["out"]),  # (N,1,1) + (N,1,1): ties nothing
        ],
        "out",
    )
    spec = spec_from_onnx(path)
    assert [t.shape for t in spec.inputs] == [
        (BATCH, 8, "n_f"),
        (BATCH, 4, "n_f"),
        (BATCH, 3, "n_a"),
        (BATCH, "n_a", 5),
    ]
    assert spec.dim_aliases == (("n_b", "n_a"), ("n_v", "n_f"))


def test_broadcast_and_concat_axis_do_not_tie(tmp_path: Path) -> None:
    """Concatenated along the axis, or broadcast against 1: separate axes, named by author."""
    path = _graph(
        tmp_path / "c.onnx",
        [("x", ["N", 2, "n_x"]), ("y", ["N", 2, "n_y"]), ("w", ["N", 1, "n_w"]), ("z", ["N", 1, 1])],
        [
            helper.make_node("Concat", ["x", "y"], ["xy"], axis=2),
            helper.make_node("Mul", ["w", "z"], ["wz"]),
            helper.make_node("Concat", ["xy", "wz"], ["out"], axis=2),
        ],
        "out",
    )
    spec = spec_from_onnx(path)
    assert spec.symbols() == ["n_x", "n_y", "n_w"] and spec.dim_aliases == ()


@pytest.mark.shared
@pytest.mark.parametrize("name", ["ParticleNetAK4_CHS_V01", "ParticleNetAK8_General_V01"])
def test_real_particlenet_groups_come_back(shared_models: Path, tmp_path: Path, name: str) -> None:
    """The real file names n_pf and n_sv itself; with those names blanked, the graph ties
    points, features and mask of each collection again (two groups, not six)."""
    path = shared_models / "cms" / f"{name}.onnx"
    named = spec_from_onnx(path)
    assert named.symbols() == ["n_pf", "n_sv"] and named.dim_aliases == ()
    model = onnx.load(str(path))
    for vi in model.graph.input:
        for d in vi.type.tensor_type.shape.dim[1:]:
            if d.HasField("dim_param"):
                d.Clear()
    blank = tmp_path / "blank.onnx"
    onnx.save(model, str(blank))
    spec = spec_from_onnx(blank)
    assert spec.symbols() == ["n_pf_points", "n_sv_points"]
    rename = {"n_pf": "n_pf_points", "n_sv": "n_sv_points"}
    assert [t.shape for t in spec.inputs] == [
        tuple(rename.get(d, d) if isinstance(d, str) else d for d in t.shape) for t in named.inputs
    ]
    assert dict(spec.dim_aliases)["n_sv_mask"] == "n_sv_points"


@pytest.mark.shared
def test_real_files_without_variable_axes_are_unchanged(shared_models: Path) -> None:
    for name in ("DeepJet_Run3_122X", "DeepAK8_V02_full", "DeepDoubleX_102X_V02_BvL"):
        spec = spec_from_onnx(shared_models / "cms" / f"{name}.onnx")
        assert spec.symbols() == [] and spec.dim_aliases == ()


def test_zoo_shows_the_groups(part_like: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """hepinfer zoo FILE lists one --dim per group with the per-input names, and says which
    sizes the cost needs instead of failing."""
    from hepinfer.cli.main import main

    assert main(["zoo", str(part_like)]) == 0
    text = capsys.readouterr().out
    assert "--dim n_input_1=N sizes input_1[2], input_2[2]; also --dim input_1_dynamic_axes_2" in text
    assert "cost: give --dim n_input_1=N, --dim n_input_3=N, --dim n_input_5=N" in text
    args = ["zoo", str(part_like), "--dim", "n_input_1=20", "--dim", "input_3_dynamic_axes_2=5"]
    assert main([*args, "--dim", "n_input_5=3", "--json"]) == 0
    import json

    shown = json.loads(capsys.readouterr().out)
    assert shown["dims"] == {"n_input_1": 20, "n_input_3": 5, "n_input_5": 3} and shown["macs"] > 0
    assert [g["name"] for g in shown["dynamic_axes"]] == ["n_input_1", "n_input_3", "n_input_5"]
