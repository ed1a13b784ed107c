"""Exports of zoo models: dynamic axes, agreement with PyTorch, and the real files' layouts."""

from __future__ import annotations

import math
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from hepinfer.errors import ConversionError
from hepinfer.zoo import ZooEntry, build_inputs, catalog, entry, model_ref, spec_of

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from hepinfer.convert.torch_onnx import export_zoo, failing_operation  # noqa: E402

SHARED_MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HEPINFER_CACHE", str(tmp_path_factory.mktemp("zoo-cache")))
        yield


def _session(path: Path) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # the flat GNN's data-dependent shapes warn at every call
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _torch_outputs(model: object, spec: object, x: dict[str, np.ndarray]) -> list[np.ndarray]:
    with torch.no_grad():
        out = model(*[torch.from_numpy(x[t.name]) for t in spec.inputs])  # type: ignore[attr-defined,operator]
    return [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]


def _check_agreement(name: str, params: dict[str, str], exporter: str) -> Path:
    ref = model_ref(name, params)
    spec = spec_of(ref)
    export = export_zoo(ref, spec, exporter)  # type: ignore[arg-type]
    sess = _session(export.path)
    assert [i.name for i in sess.get_inputs()] == [t.name for t in spec.inputs]
    for i, t in zip(sess.get_inputs(), spec.inputs, strict=True):
        # Dynamic axes keep the spec's names: batch, n_pf, n_nodes...
        assert [d if isinstance(d, str) else int(d) for d in i.shape] == list(t.shape)
    model = entry(name).build(dict(ref.params))
    for batch in (1, 7):
        x = build_inputs(ref, spec, batch, spec.resolve_dims({}), seed=11)
        got = sess.run(None, x)
        want = _torch_outputs(model, spec, x)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)
    return export.path


LEGACY = [
    ("linear_event", {}),
    ("conv_d100_l1", {}),
    ("convtrans2d", {}),
    ("rnn_d10_l20_h8", {}),
    ("gru_d10_l20_h8", {}),
    ("lstm_d10_l20_h8", {}),
    ("jet_vae", {}),
    ("event_vae", {"R": "39"}),
    ("gnn_tau", {"form": "knn"}),
    ("gnn_tau", {"form": "flat"}),
    ("deepdoublex", {}),
    ("calo_flow", {"voxels": "368"}),
]


@pytest.mark.parametrize(("name", "params"), LEGACY, ids=[f"{n}-{p}" for n, p in LEGACY])
def test_legacy_export_agrees(name: str, params: dict[str, str]) -> None:
    _check_agreement(name, params, "legacy")


DYNAMO = [
    ("linear_event", {}),
    ("gnn_tau", {"form": "flat"}),
    ("particlenet", {"variant": "lite"}),  # dynamic particle axis, TopK inside
]


@pytest.mark.parametrize(("name", "params"), DYNAMO, ids=[f"{n}-{p}" for n, p in DYNAMO])
def test_dynamo_export_agrees(name: str, params: dict[str, str]) -> None:
    _check_agreement(name, params, "dynamo")


def test_particle_axes_are_dynamic_and_padding_is_neutral() -> None:
    path = _check_agreement("particlenet", {}, "legacy")
    ref = model_ref("particlenet")
    spec = spec_of(ref)
    sess = _session(path)
    x = build_inputs(ref, spec, 3, {"n_pf": 100, "n_sv": 10}, seed=2)
    more = {k: np.concatenate([v, np.zeros_like(v[..., :37])], axis=-1) for k, v in x.items()}
    np.testing.assert_allclose(sess.run(None, more)[0], sess.run(None, x)[0], rtol=1e-5, atol=1e-6)


def test_gnn_runs_with_node_counts_changing_between_calls() -> None:
    ref = model_ref("gnn_tau", {"form": "flat"})
    spec = spec_of(ref)
    sess = _session(export_zoo(ref, spec, "legacy").path)
    sizes = set()
    for seed in range(3):
        x = build_inputs(ref, spec, 4, spec.resolve_dims({}), seed=seed)
        sizes.add(x["nodes"].shape[0])
        assert sess.run(None, x)[0].shape == (4, 2)
    assert len(sizes) == 3


# --- the real exports in ../shared/models -------------------------------------------------------

REAL = [
    ("deepak8", {}, "cms/DeepAK8_V02_full.onnx", True),
    ("deepjet", {}, "cms/DeepJet_Run3_122X.onnx", True),
    ("deepdoublex", {}, "cms/DeepDoubleX_102X_V02_BvL.onnx", True),
    ("particlenet", {}, "cms/ParticleNetAK8_General_V01.onnx", True),
    # This file has its batch norms folded into the convolutions, as our exports do.
    ("particlenet", {"variant": "ak4"}, "cms/ParticleNetAK4_CHS_V01.onnx", True),
    ("deepdoublex", {"version": "94X"}, "rootbench/DDB_B1.onnx", True),
    ("linear_event", {}, "rootbench/Linear_event.onnx", False),
    ("higgs_model_dense", {}, "rootbench/higgs_model_dense.onnx", False),
    ("conv_d100_l1", {}, "rootbench/Conv_d100_L1_B1.onnx", False),
    ("conv_d100_l14", {}, "rootbench/Conv_d100_L14_B1.onnx", False),
    ("conv3d_d32_l4", {}, "rootbench/Conv3d_d32_L4_B1.onnx", False),
    ("convtrans2d", {}, "rootbench/ConvTrans2dModel_B1.onnx", False),
    ("rnn_d10_l20_h8", {}, "rootbench/RNN_d10_L20_h8_B1.onnx", False),
    ("gru_d10_l20_h8", {}, "rootbench/GRU_d10_L20_h8_B1.onnx", False),
    ("lstm_d10_l20_h8", {}, "rootbench/LSTM_d10_L20_h8_B1.onnx", False),
]


def _io(model: object) -> tuple[list[tuple[str, list[object]]], list[list[object]]]:
    """Graph inputs (without initializers) and output shapes, axes past the batch only."""
    graph = model.graph  # type: ignore[attr-defined]
    inits = {i.name for i in graph.initializer}

    def dims(vi: object) -> list[object]:
        ds = vi.type.tensor_type.shape.dim  # type: ignore[attr-defined]
        return [d.dim_param or d.dim_value for d in ds][1:]

    ins = [(vi.name, dims(vi)) for vi in graph.input if vi.name not in inits]
    return ins, [dims(vo) for vo in graph.output]


def _params(model: object) -> int:
    return sum(math.prod(i.dims) for i in model.graph.initializer)  # type: ignore[attr-defined]


@pytest.mark.shared
@pytest.mark.parametrize(("name", "params", "real", "names"), REAL, ids=[r[2] for r in REAL])
def test_export_matches_the_real_file(name: str, params: dict[str, str], real: str, names: bool) -> None:
    path = SHARED_MODELS / real
    if not path.exists():
        pytest.skip(f"the real model is not here ({path} is absent)")
    theirs = onnx.load(str(path))  # DDB_B1 fails onnx's checker (unsorted nodes): load only
    ref = model_ref(name, params)
    ours = onnx.load(str(export_zoo(ref, spec_of(ref), "legacy").path))
    (our_in, our_out), (their_in, their_out) = _io(ours), _io(theirs)
    # Same inputs up to the batch axis (and, for the CMS files, the same names); the rootbench
    # files name theirs after tracer numbers ('input.1', '0'), ours are 'input'.
    assert [s for _, s in our_in] == [s for _, s in their_in]
    if names:
        assert [n for n, _ in our_in] == [n for n, _ in their_in]
    assert [len(s) for s in our_out] == [len(s) for s in their_out]
    assert [s for s in our_out if all(isinstance(d, int) for d in s)] == [
        s for s in their_out if all(isinstance(d, int) for d in s)
    ]
    if "AK4" in real:  # folded like ours: the counts compare directly
        assert _params(ours) == pytest.approx(_params(theirs), rel=0.01)
        return
    # The architecture holds the same numbers: our module as an unfused file would...
    e = entry(name)
    module = e.build(e.params(params))
    stored = sum(p.numel() for p in module.parameters()) + sum(
        b.numel() for n, b in module.named_buffers() if not n.endswith("num_batches_tracked")
    )
    assert stored == pytest.approx(_params(theirs), rel=0.01)
    # ...and our export, where the exporter folds batch norms into the convolution before them
    # (3 numbers less per channel: ParticleNet's 2,240 such channels are 1.1% of it).
    assert _params(ours) == pytest.approx(_params(theirs), rel=0.015)


# --- an exporter that cannot handle a model ------------------------------------------------------


class _Spectrum(torch.nn.Module):
    """A model the legacy exporter cannot handle (no ONNX translation of aten::fft_rfft)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(5, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.fft.rfft(x).abs())


@pytest.fixture
def spectrum_entry(monkeypatch: pytest.MonkeyPatch) -> str:
    module = types.ModuleType("hepinfer.zoo.spectrum_test")

    def build(name: str, params: object) -> torch.nn.Module:
        torch.manual_seed(0)
        return _Spectrum().eval()

    module.build = build  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "hepinfer.zoo.spectrum_test", module)
    e = ZooEntry(
        name="spectrum_test", family="test", summary="fft then dense", module="spectrum_test",
        spec=catalog.fixed_spec("spectrum_test", [("input", ("batch", 8))], [("output", ("batch", 2))]),
    )  # fmt: skip
    monkeypatch.setitem(catalog.ENTRIES, "spectrum_test", e)
    return "spectrum_test"


def test_exporter_failure_names_exporter_and_operation(
    spectrum_entry: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hepinfer.convert.torch_onnx as torch_onnx

    # The module lives only in memory: its cache key is its name.
    monkeypatch.setattr(torch_onnx, "_module_sources", lambda module: module)
    ref = model_ref(spectrum_entry)
    spec = spec_of(ref)
    with pytest.raises(ConversionError, match=r"the legacy torch exporter failed.*aten::fft_rfft"):
        export_zoo(ref, spec, "legacy")
    done = export_zoo(ref, spec, "legacy", fallback=True)
    assert done.exporter == "dynamo"
    assert done.fallback_from is not None and "aten::fft_rfft" in done.fallback_from
    x = build_inputs(ref, spec, 3, {}, seed=0)
    want = _torch_outputs(entry(spectrum_entry).build({}), spec, x)[0]
    np.testing.assert_allclose(_session(done.path).run(None, x)[0], want, rtol=1e-4, atol=1e-5)


def test_failing_operation_reads_chained_errors() -> None:
    try:
        try:
            raise RuntimeError("Exporting the operator 'aten::fft_rfft' to ONNX opset 18 is not supported")
        except RuntimeError as inner:
            raise ValueError("export failed") from inner
    except ValueError as outer:
        assert failing_operation(outer) == "aten::fft_rfft"
    assert failing_operation(ValueError("nothing named here")) is None
