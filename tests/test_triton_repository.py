"""``hepinfer serve --repository``: a Triton model repository laid out as CMS ships it, served
by a real tritonserver on 127.0.0.1 through hepinfer's Python-backend model.

The repository is built here from ../shared: the real ParticleNet AK4 (``onnxruntime_onnx``)
and a TorchScript export of the zoo's deepjet (``pytorch_libtorch``, inputs ``INPUT__K``),
beside a TensorFlow model that cannot be served. Skipped with the reason when the server,
tritonclient or the real models are not here.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from conftest import FAST_TIMING, SHARED_MODELS
from hepinfer.convert.artifact import ModelArtifact
from hepinfer.errors import ConfigurationError, HepinferError, ModelError
from hepinfer.serve.repository import config_text, read_repository, write_repository
from hepinfer.serve.server import TritonServer, find_tritonserver, unavailable_reason
from hepinfer.zoo import BATCH, build_inputs, entry, model_ref, spec_of

PNET = SHARED_MODELS / "cms" / "ParticleNetAK4_CHS_V01.onnx"
LABELS = ["b", "bb", "c", "uds"]
# deepjet's inputs, listed out of order in config.pbtxt: the __K index gives the position.
DEEPJET_DIMS = {0: [15], 1: [25, 16], 2: [25, 6], 3: [4, 12], 4: [1]}


def _skip_reason() -> str | None:
    reason = unavailable_reason()
    if reason is not None:
        return reason
    from hepinfer.backends.triton import TritonBackend

    return TritonBackend.unavailable_reason()


needs_server = pytest.mark.skipif(_skip_reason() is not None, reason=f"{_skip_reason()}")
pytestmark = pytest.mark.skipif(not PNET.is_file(), reason=f"the real models are not here ({PNET} is absent)")


def _tensor(name: str, dims: list[int], extra: str = "") -> str:
    return f'{{ name: "{name}" data_type: TYPE_FP32 dims: [{", ".join(map(str, dims))}] {extra}}}'


def build_repository(root: Path) -> Path:
    """A CMS-style repository: ParticleNet (ONNX), deepjet (TorchScript), a TF model."""
    import torch

    pnet = root / "particlenet_ak4"
    (pnet / "1").mkdir(parents=True)
    (pnet / "1" / "model.onnx").symlink_to(PNET)
    (pnet / "labels.txt").write_text("\n".join(LABELS) + "\n")
    inputs = [("pf_points", 2), ("pf_features", 23), ("pf_mask", 1)]
    inputs += [("sv_points", 2), ("sv_features", 11), ("sv_mask", 1)]
    (pnet / "config.pbtxt").write_text(
        'name: "particlenet_ak4"\nplatform: "onnxruntime_onnx"\nmax_batch_size: 16\n'
        f"input [ {', '.join(_tensor(n, [c, -1]) for n, c in inputs)} ]\n"
        f"output [ {_tensor('softmax', [4], 'label_filename: ' + chr(34) + 'labels.txt' + chr(34))} ]\n"
        "dynamic_batching { preferred_batch_size: [ 4, 8 ] max_queue_delay_microseconds: 5000 }\n"
        "instance_group [ { count: 2 kind: KIND_GPU } ]\n"
        'optimization { execution_accelerators { gpu_execution_accelerator: [ { name: "tensorrt" } ] } }\n'
    )
    deepjet = root / "deepjet_ts"
    (deepjet / "1").mkdir(parents=True)
    ref = model_ref("deepjet")
    example = build_inputs(ref, spec_of(ref), 2, {}, 0)
    module = entry("deepjet").build({}).eval()
    # The tracer warns that the LSTM's length check becomes a constant (true for this input
    # shape, which the repository's config fixes); a warning turned into an error inside
    # torch's C code would surface as a SystemError.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(module, tuple(torch.from_numpy(v) for v in example.values()))
    traced.save(str(deepjet / "1" / "model.pt"))
    order = [3, 0, 4, 2, 1]
    (deepjet / "config.pbtxt").write_text(
        'platform: "pytorch_libtorch"\nmax_batch_size: 8\n'
        f"input [ {', '.join(_tensor(f'INPUT__{k}', DEEPJET_DIMS[k]) for k in order)} ]\n"
        f"output [ {_tensor('OUTPUT__0', [6])} ]\n"
    )
    tf = root / "deeptau_tf"
    (tf / "1").mkdir(parents=True)
    (tf / "config.pbtxt").write_text('platform: "tensorflow_graphdef"\nmax_batch_size: 1\n')
    (root / "README.txt").write_text("not a model\n")
    return root


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_repository(tmp_path_factory.mktemp("cms-repo"))


def test_repository_models_and_what_is_not_served(repository: Path) -> None:
    """Both servable models are read; the TF model and each unsupported field get one line."""
    models, lines = read_repository(repository)
    assert [m.served_name for m in models] == ["deepjet_ts", "particlenet_ak4"]
    assert [m.backend for m in models] == ["pytorch", "onnxruntime"]
    assert all("\n" not in line for line in lines)
    assert len(lines) == 3, lines
    assert any("deeptau_tf: platform tensorflow_graphdef is not served" in ln for ln in lines)
    assert any("particlenet_ak4: optimization is not supported" in ln for ln in lines)
    assert any("instance_group KIND_GPU is served as KIND_CPU (2 instance(s))" in ln for ln in lines)


def test_spec_from_config(repository: Path) -> None:
    """The spec is the config's: batch in front, -1 axes named (from the ONNX file where it
    names them), TorchScript inputs in __K order."""
    pnet = spec_of(model_ref(str(repository / "particlenet_ak4")))
    assert pnet.inputs[0].shape == (BATCH, 2, "n_pf") and pnet.inputs[3].shape == (BATCH, 2, "n_sv")
    assert pnet.outputs[0].shape == (BATCH, 4) and pnet.classifier
    ref = model_ref(str(repository / "deepjet_ts" / "config.pbtxt"))
    assert ref.kind == "triton" and ref.safe_name == "deepjet_ts"
    deepjet = spec_of(ref)
    assert [t.name for t in deepjet.inputs] == [f"INPUT__{k}" for k in range(5)]
    assert [t.shape for t in deepjet.inputs] == [(BATCH, *DEEPJET_DIMS[k]) for k in range(5)]
    assert ModelArtifact(ref=ref, spec=deepjet).formats == frozenset({"torch"})


def test_served_config_keeps_the_limits(repository: Path) -> None:
    """The written config is the model's own: Python backend, limits and labels kept,
    unsupported fields gone, GPU instances on the CPU."""
    models, _ = read_repository(repository)
    text = config_text(models[1])
    assert 'backend: "python"' in text and "platform" not in text and "optimization" not in text
    assert "max_batch_size: 16" in text and "preferred_batch_size: 4" in text
    assert "preferred_batch_size: 8" in text and "max_queue_delay_microseconds: 5000" in text
    assert "count: 2" in text and "KIND_CPU" in text and "KIND_GPU" not in text
    assert 'label_filename: "labels.txt"' in text and "dims: -1" in text
    written = write_repository(repository.parent / "served", models)
    assert (written / "particlenet_ak4" / "labels.txt").read_text().split() == LABELS
    assert (written / "deepjet_ts" / "1" / "model.py").is_file()


def test_bad_repositories_say_why(tmp_path: Path, repository: Path) -> None:
    from hepinfer.cli.main import main

    with pytest.raises(ConfigurationError, match="no such folder"):
        read_repository(tmp_path / "missing")
    empty = tmp_path / "empty"
    (empty / "only_tf" / "1").mkdir(parents=True)
    (empty / "only_tf" / "config.pbtxt").write_text('platform: "tensorrt_plan"\n')
    with pytest.raises(ConfigurationError, match=r"no model hepinfer can serve.*tensorrt_plan"):
        read_repository(empty)
    broken = tmp_path / "broken" / "m"
    broken.mkdir(parents=True)
    (broken / "config.pbtxt").write_text("max_batch_size: [oops\n")
    with pytest.raises(ModelError, match="not a Triton model configuration"):
        spec_of(model_ref(str(broken)))
    assert main(["serve", "--repository", str(repository), "linear_event"]) == 1
    assert main(["serve", "--repository", str(repository), "--max-batch", "8", "--write-only"]) == 1


@pytest.fixture(scope="module")
def server(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    if _skip_reason() is not None:
        pytest.skip(str(_skip_reason()))
    work = tmp_path_factory.mktemp("served")
    models, _ = read_repository(repository)
    repo = write_repository(work / "repository", models)
    with TritonServer(repo, work, find_tritonserver()).start() as srv:
        yield srv


def _client(url: str, folder: Path) -> object:
    from hepinfer.backends.triton import TritonBackend

    ref = model_ref(str(folder))
    backend = TritonBackend()
    options = TritonBackend.Options.from_strings("triton", {"server": url, "timeout_s": "30"})
    backend.load(ModelArtifact(ref=ref, spec=spec_of(ref)), options)  # model: the folder's name
    return backend


def _local(backend: str, folder: Path, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    from hepinfer.backends.registry import backend_class

    ref = model_ref(str(folder))
    cls = backend_class(backend)
    b = cls()
    b.load(ModelArtifact(ref=ref, spec=spec_of(ref)), cls.Options.from_values(backend, {}, threads=1))
    with b.inference_scope():
        prepared = b.prepare(inputs)
        return b.fetch(prepared, b.run(prepared))


@needs_server
def test_onnx_and_torchscript_models_answer_as_in_process(server: TritonServer, repository: Path) -> None:
    """Served ParticleNet equals ONNX Runtime in process; served deepjet (torch.jit.load in
    the server's Python stub) equals the TorchScript file in process and the zoo's module."""
    import torch

    url = server.endpoints()["grpc"]
    pnet = repository / "particlenet_ak4"
    ref = model_ref(str(pnet))
    inputs = build_inputs(ref, spec_of(ref), 3, {"n_pf": 40, "n_sv": 6}, 1)
    backend = _client(url, pnet)
    got = backend.fetch(prepared := backend.prepare(inputs), backend.run(prepared))  # type: ignore[attr-defined]
    np.testing.assert_array_equal(got["softmax"], _local("onnxruntime", pnet, inputs)["softmax"])
    assert backend.settings()["model"] == "particlenet_ak4"  # type: ignore[attr-defined]

    deepjet = repository / "deepjet_ts"
    ref = model_ref(str(deepjet))
    inputs = build_inputs(ref, spec_of(ref), 4, {}, 2)
    backend = _client(url, deepjet)
    got = backend.fetch(prepared := backend.prepare(inputs), backend.run(prepared))  # type: ignore[attr-defined]
    np.testing.assert_array_equal(got["OUTPUT__0"], _local("pytorch", deepjet, inputs)["OUTPUT__0"])
    eager = entry("deepjet").build({}).eval()
    with torch.no_grad():
        want = eager(*(torch.from_numpy(inputs[f"INPUT__{k}"]) for k in range(5)))[0].numpy()
    np.testing.assert_allclose(got["OUTPUT__0"], want, rtol=1e-5, atol=1e-6)


@needs_server
def test_the_server_applies_the_config(server: TritonServer, repository: Path) -> None:
    """What Triton reports is the repository's config; its label file classifies outputs."""
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(server.endpoints()["grpc"].removeprefix("grpc://"))
    config = client.get_model_config("particlenet_ak4").config
    assert config.max_batch_size == 16 and list(config.dynamic_batching.preferred_batch_size) == [4, 8]
    assert config.instance_group[0].count == 2 and config.backend == "python"
    ref = model_ref(str(repository / "particlenet_ak4"))
    inputs = build_inputs(ref, spec_of(ref), 2, {"n_pf": 30, "n_sv": 4}, 3)
    tensors = []
    for name, value in inputs.items():
        t = grpcclient.InferInput(name, list(value.shape), "FP32")
        t.set_data_from_numpy(value)
        tensors.append(t)
    wanted = [grpcclient.InferRequestedOutput("softmax", class_count=2)]
    top = client.infer("particlenet_ak4", tensors, outputs=wanted).as_numpy("softmax")
    scores = _local("onnxruntime", repository / "particlenet_ak4", inputs)["softmax"]
    for row, event in zip(top, scores, strict=True):
        best = np.argsort(-event)[:2]
        assert [c.decode().split(":")[2] for c in row] == [LABELS[i] for i in best]
        assert float(row[0].decode().split(":")[0]) == pytest.approx(event[best[0]], rel=1e-5)
    with pytest.raises(Exception, match="batch"):  # above max_batch_size: refused by Triton
        big = build_inputs(ref, spec_of(ref), 17, {"n_pf": 30, "n_sv": 4}, 3)
        b = _client(server.endpoints()["grpc"], repository / "particlenet_ak4")
        b.run(b.prepare(big))  # type: ignore[attr-defined]


@needs_server
@pytest.mark.slow
def test_bench_and_eventloop_reach_the_models_by_name(server: TritonServer, repository: Path) -> None:
    """bench names a repository model by its folder and compares served with in process;
    eventloop threads share the served TorchScript model."""
    from hepinfer.measure.timer import TimingPolicy
    from hepinfer.runner.bench import BenchRequest
    from hepinfer.runner.bench import run_bench as bench
    from hepinfer.runner.eventloop import EventLoopRequest
    from hepinfer.runner.eventloop import run_eventloop as eventloop

    url = server.endpoints()["grpc"]
    request = BenchRequest(
        model=str(repository / "particlenet_ak4"),
        backends=["onnxruntime", "triton"],
        batches=[2],
        dims={"n_pf": 30, "n_sv": 4},
        options={"triton": {"server": [url]}},
        reference="onnxruntime",
        policy=TimingPolicy(**FAST_TIMING),  # type: ignore[arg-type]
        timeout_s=180,
    )
    records = {r["key"]["backend"]: r for r in bench(request)}
    assert all(r["status"] == "ok" for r in records.values()), [r.get("error") for r in records.values()]
    assert records["triton"]["agreement"]["verdict"] == "identical"
    assert records["triton"]["backend"]["settings"]["model"] == "particlenet_ak4"
    loop = EventLoopRequest(
        model=str(repository / "deepjet_ts"),
        backends=["triton"],
        threads=[2],
        modes=["shared"],
        events=40,
        options={"triton": {"server": url}},
        pool=4,
        timeout_s=180,
    )
    (record,) = eventloop(loop)
    assert record["status"] == "ok", record.get("error")
    assert record["eventloop"]["events_processed"] == 40
    assert record["backend"]["settings"]["model"] == "deepjet_ts"


def test_a_torchscript_model_has_no_onnx_file(repository: Path) -> None:
    """An ONNX-only backend on a TorchScript repository model says what to use instead."""
    ref = model_ref(str(repository / "deepjet_ts"))
    with pytest.raises(HepinferError, match=r"TorchScript file.*pytorch"):
        ModelArtifact(ref=ref, spec=spec_of(ref)).onnx_path()
