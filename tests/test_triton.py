"""Inference as a service: a real tritonserver started here on 127.0.0.1, the triton backend.

Skipped with the reason when the Triton server (the nvidia-pytriton wheel in a venv beside
this one, see ``make triton``) or tritonclient is not installed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from conftest import FAST_TIMING
from hepinfer.convert.artifact import ModelArtifact
from hepinfer.errors import ConfigurationError, HepinferError
from hepinfer.serve.repository import ServedModel, config_text, model_name, write_repository
from hepinfer.serve.server import TritonServer, check_listen, find_tritonserver, unavailable_reason
from hepinfer.zoo import build_inputs, model_ref, spec_of

LINEAR_EVENT = Path(__file__).resolve().parents[2] / "shared" / "models" / "rootbench" / "Linear_event.onnx"


def _skip_reason() -> str | None:
    reason = unavailable_reason()
    if reason is not None:
        return reason
    from hepinfer.backends.triton import TritonBackend

    return TritonBackend.unavailable_reason()


needs_server = pytest.mark.skipif(_skip_reason() is not None, reason=f"{_skip_reason()}")


def _served(name_or_path: str, **kw: object) -> ServedModel:
    ref = model_ref(name_or_path)
    spec = spec_of(ref)
    ModelArtifact(ref=ref, spec=spec).onnx_path()  # export before the server loads it
    return ServedModel(ref=ref, spec=spec, **kw)  # type: ignore[arg-type]


def _start(tmp: Path, models: list[ServedModel]) -> TritonServer:
    repo = write_repository(tmp / "repository", models)
    return TritonServer(repo, tmp, find_tritonserver()).start()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    """One server for the module: linear_event with dynamic batching, and the real
    fixed-batch rootbench file when ../shared is here."""
    models = [_served("linear_event", dynamic_batching=True, max_queue_delay_us=2000)]
    if LINEAR_EVENT.is_file():
        models.append(_served(str(LINEAR_EVENT)))
    with _start(tmp_path_factory.mktemp("triton"), models) as srv:
        yield srv


def _client(url: str, model: str = "linear_event", path: str = "linear_event") -> object:
    from hepinfer.backends.triton import TritonBackend

    ref = model_ref(path)
    backend = TritonBackend()
    options = TritonBackend.Options.from_strings("triton", {"server": url, "model": model, "timeout_s": "10"})
    backend.load(ModelArtifact(ref=ref, spec=spec_of(ref)), options)
    return backend


def _in_process(path: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    from hepinfer.backends.onnxruntime import OnnxRuntimeBackend

    ref = model_ref(path)
    backend = OnnxRuntimeBackend()
    backend.load(ModelArtifact(ref=ref, spec=spec_of(ref)), OnnxRuntimeBackend.Options())
    prepared = backend.prepare(inputs)
    return backend.fetch(prepared, backend.run(prepared))


def test_config_from_the_spec() -> None:
    """Batched models lose the batch axis in config.pbtxt; batching is off without one."""
    ref = model_ref("linear_event")
    text = config_text(ServedModel(ref=ref, spec=spec_of(ref), dynamic_batching=True, instances=2))
    assert "max_batch_size: 64" in text and "dims: [ 100 ]" in text and "dims: [ 10 ]" in text
    assert "max_queue_delay_microseconds: 100" in text and "count: 2" in text
    flat = config_text(ServedModel(ref=ref, spec=spec_of(ref), max_batch=0))
    assert "max_batch_size: 0" in flat and "dims: [ -1, 100 ]" in flat and "dynamic_batching" not in flat
    assert model_name(model_ref("linear_event")) == "linear_event"


def test_listen_is_loopback_unless_asked() -> None:
    """A non-loopback address is refused without --allow-remote."""
    assert check_listen("127.0.0.1", False) == "127.0.0.1"
    assert check_listen("localhost", False) == "127.0.0.1"
    with pytest.raises(ConfigurationError, match="--allow-remote"):
        check_listen("0.0.0.0", False)
    with pytest.raises(ConfigurationError, match="IP address"):
        check_listen("not-an-address", False)


@pytest.mark.slow
@needs_server
@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_served_outputs_equal_in_process(server: TritonServer, protocol: str) -> None:
    """The served model answers exactly what the same backend answers in process; the record
    names server, protocol and version, and the statistics split the requests' time."""
    ref = model_ref("linear_event")
    inputs = build_inputs(ref, spec_of(ref), 4, {}, 3)
    backend = _client(server.endpoints()[protocol])
    prepared = backend.prepare(inputs)  # type: ignore[attr-defined]
    for _ in range(3):
        raw = backend.run(prepared)  # type: ignore[attr-defined]
    got = backend.fetch(prepared, raw)  # type: ignore[attr-defined]
    want = _in_process("linear_event", inputs)
    assert got.keys() == want.keys()
    for name in want:
        np.testing.assert_array_equal(got[name], want[name])
    settings = backend.settings()  # type: ignore[attr-defined]
    assert settings["protocol"] == protocol and settings["model_version"] == "1"
    assert settings["server"] == server.endpoints()[protocol] and settings["server_version"]
    split = backend.after_timing(prepared)["timing"]["breakdown"]  # type: ignore[attr-defined]
    assert split["available"] and split["requests"] == 3 and split["client_calls"] == 3
    assert split["compute_ns"] > 0 and split["queue_ns"] >= 0
    assert split["client_ns"] >= split["server_ns"] >= split["compute_ns"]


@pytest.mark.slow
@needs_server
def test_concurrent_clients_batched_by_the_server(server: TritonServer) -> None:
    """Eight threads share one backend; whatever the server merges, each gets its own answer."""
    ref = model_ref("linear_event")
    backend = _client(server.endpoints()["grpc"])
    sets = [build_inputs(ref, spec_of(ref), 1 + i % 3, {}, i) for i in range(8)]
    prepared = [backend.prepare(s) for s in sets]  # type: ignore[attr-defined]
    got: dict[int, dict[str, np.ndarray]] = {}
    barrier = threading.Barrier(8)

    def call(i: int) -> None:
        barrier.wait()
        got[i] = backend.fetch(prepared[i], backend.run(prepared[i]))  # type: ignore[attr-defined]

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, s in enumerate(sets):
        want = _in_process("linear_event", s)
        for name in want:
            np.testing.assert_allclose(got[i][name], want[name], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@needs_server
def test_wrong_shape_gives_tritons_message(server: TritonServer) -> None:
    """A request the model cannot take fails with Triton's message, in one line."""
    backend = _client(server.endpoints()["grpc"])
    bad = {"input": np.zeros((2, 7), dtype=np.float32)}
    with pytest.raises(HepinferError) as err:
        backend.run(backend.prepare(bad))  # type: ignore[attr-defined]
    text = str(err.value)
    assert "\n" not in text and "linear_event" in text and "shape" in text.lower()
    wrong_type = {"input": np.zeros((2, 100), dtype=np.float64)}
    with pytest.raises(HepinferError) as err:
        backend.run(backend.prepare(wrong_type))  # type: ignore[attr-defined]
    assert "\n" not in str(err.value) and "FP64" in str(err.value)


@pytest.mark.slow
@needs_server
def test_real_fixed_batch_model_is_served(server: TritonServer) -> None:
    """The repository written for a real ONNX file (batch fixed to 1 inside) is accepted."""
    if not LINEAR_EVENT.is_file():
        pytest.skip(f"the real models are not here ({LINEAR_EVENT} is absent)")
    name = model_name(model_ref(str(LINEAR_EVENT)))
    config = (server.repository / name / "config.pbtxt").read_text()
    assert "max_batch_size: 0" in config and "dims: [ 1, 100 ]" in config
    ref = model_ref(str(LINEAR_EVENT))
    inputs = build_inputs(ref, spec_of(ref), 1, {}, 0)
    backend = _client(server.endpoints()["http"], model=name, path=str(LINEAR_EVENT))
    prepared = backend.prepare(inputs)  # type: ignore[attr-defined]
    got = backend.fetch(prepared, backend.run(prepared))  # type: ignore[attr-defined]
    for key, value in _in_process(str(LINEAR_EVENT), inputs).items():
        np.testing.assert_array_equal(got[key], value)


@pytest.mark.slow
@needs_server
def test_bench_against_the_server(server: TritonServer) -> None:
    """bench runs the triton backend like any other: agreement with onnxruntime, the split."""
    from hepinfer.measure.timer import TimingPolicy
    from hepinfer.runner.bench import BenchRequest, run_bench

    url = server.endpoints()["grpc"]
    request = BenchRequest(
        model="linear_event",
        backends=["onnxruntime", "triton"],
        batches=[2],
        options={"triton": {"server": [url]}},
        reference="onnxruntime",
        policy=TimingPolicy(**FAST_TIMING),  # type: ignore[arg-type]
        timeout_s=120,
    )
    records = {r["key"]["backend"]: r for r in run_bench(request)}
    served = records["triton"]
    assert served["status"] == "ok", served.get("error")
    assert served["agreement"]["verdict"] == "identical"
    assert served["backend"]["settings"]["server"] == url
    assert served["timing"]["breakdown"]["requests"] >= len(served["samples_ns"])


@pytest.mark.slow
@needs_server
def test_killed_server_gives_error_records_and_the_run_goes_on(tmp_path: Path) -> None:
    """A server that dies: the loaded client's next request fails in one line, and a bench
    run against it records errors for the triton configurations and measures the rest."""
    from hepinfer.measure.timer import TimingPolicy
    from hepinfer.runner.bench import BenchRequest, run_bench

    srv = _start(tmp_path, [_served("linear_event")])
    url = srv.endpoints()["grpc"]
    try:
        ref = model_ref("linear_event")
        backend = _client(url)
        prepared = backend.prepare(build_inputs(ref, spec_of(ref), 1, {}, 0))  # type: ignore[attr-defined]
        backend.run(prepared)  # type: ignore[attr-defined]
        assert srv.process is not None
        srv.process.kill()
        srv.process.wait()
        with pytest.raises(HepinferError) as err:
            backend.run(prepared)  # type: ignore[attr-defined]
        assert "\n" not in str(err.value) and url.removeprefix("grpc://") in str(err.value)
    finally:
        srv.stop()
    request = BenchRequest(
        model="linear_event",
        backends=["onnxruntime", "triton"],
        batches=[1],
        options={"triton": {"server": [url], "timeout_s": ["5"]}},
        reference="onnxruntime",
        policy=TimingPolicy(**FAST_TIMING),  # type: ignore[arg-type]
        timeout_s=120,
    )
    records = {r["key"]["backend"]: r for r in run_bench(request)}
    assert records["onnxruntime"]["status"] == "ok"
    assert records["triton"]["status"] == "error"
    assert "no Triton server answers" in records["triton"]["error"]["message"]


@pytest.mark.slow
@needs_server
def test_serve_command_starts_and_stops_on_sigterm(tmp_path: Path) -> None:
    """hepinfer serve prints the endpoints once ready and exits 0 on SIGTERM."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parents[1] / "src"), *sys.path]))
    cmd = [sys.executable, "-m", "hepinfer.cli.main", "serve", "linear_event", "--http-port", "0"]
    cmd += ["--grpc-port", "0", "--workdir", str(tmp_path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        lines = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("stop with"):
                break
        text = "".join(lines)
        assert "grpc: grpc://127.0.0.1:" in text and "http: http://127.0.0.1:" in text, text
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "tritonserver stopped (exit status 0)" in err


@pytest.mark.slow
@needs_server
def test_eventloop_threads_share_the_served_model(server: TritonServer) -> None:
    """Framework threads sharing one triton backend process every event, with the answers of
    one thread (the server merges some of their requests)."""
    from hepinfer.runner.eventloop import EventLoopRequest, run_eventloop

    request = EventLoopRequest(
        model="linear_event",
        backends=["triton"],
        threads=[1, 3],
        modes=["shared"],
        events=60,
        options={"triton": {"server": server.endpoints()["grpc"]}},
        pool=6,
        timeout_s=120,
    )
    records = run_eventloop(request)
    assert [r["status"] for r in records] == ["ok", "ok"], [r.get("error") for r in records]
    assert [r["eventloop"]["events_processed"] for r in records] == [60, 60]
    assert records[1]["agreement"]["verdict"] in ("identical", "within tolerance")
    assert records[1]["backend"]["settings"]["breakdown_since_load"]["requests"] >= 60
