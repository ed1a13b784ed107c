"""GPU backends: availability reasons, the error path without a GPU, crossover, memory sampler.

The tests marked ``gpu`` run the real backends on an NVIDIA GPU and skip elsewhere with the
backend's own unavailable_reason(); the others run everywhere (they need no GPU).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import FAST_TIMING
from hepinfer.backends import _gpu
from hepinfer.backends.onnxruntime import OnnxRuntimeBackend
from hepinfer.backends.onnxruntime_gpu import OnnxRuntimeTrtOptions
from hepinfer.backends.registry import backend_class
from hepinfer.errors import ConfigurationError
from hepinfer.measure.gpu_memory import PeakSampler
from hepinfer.measure.stats import summarize
from hepinfer.measure.timer import TimingPolicy
from hepinfer.report.crossover import crossover_batch, crossover_lines, crossovers, is_gpu_record
from hepinfer.results.schema import Key, new_record

GPU_BACKENDS = ("pytorch-cuda", "onnxruntime-cuda", "onnxruntime-trt", "tensorrt")
NO_DRIVER = _gpu.driver_reason()


# --- availability, without a GPU -----------------------------------------------------------


def test_env_lists_gpu_backends_with_reasons() -> None:
    from hepinfer.backends.registry import availability

    status = availability()
    for name in GPU_BACKENDS:
        cls = backend_class(name)
        assert cls.devices == frozenset({"cuda"}) and cls.needs_sync
        reason = cls.unavailable_reason()
        assert status[name]["status"] == ("available" if reason is None else "unavailable")
        if NO_DRIVER is None:  # a GPU machine: whatever is missing, it is not the driver
            assert "driver" not in (status[name].get("reason") or "")
        else:
            assert status[name]["reason"].startswith(NO_DRIVER)


def test_env_json_names_the_extra(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from hepinfer.cli.main import main

    monkeypatch.setitem(sys.modules, "tensorrt", None)  # absent, whether installed here or not
    assert main(["env", "--json"]) == 0
    trt = json.loads(capsys.readouterr().out)["backends"]["tensorrt"]
    assert trt["status"] == "unavailable"
    assert "tensorrt, which is not installed; install it with: pip install 'hepinfer[gpu]'" in trt["reason"]


def test_hidden_gpus_are_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    reason = _gpu.driver_reason()
    assert reason is not None and "CUDA_VISIBLE_DEVICES" in reason
    assert backend_class("pytorch-cuda").unavailable_reason() is not None


def _versions(monkeypatch: pytest.MonkeyPatch, **installed: str) -> None:
    """Make the package metadata _gpu reads say that exactly these distributions are installed."""
    from importlib import metadata

    def version(name: str) -> str:
        if name not in installed:
            raise metadata.PackageNotFoundError(name)
        return installed[name]

    monkeypatch.setattr(_gpu.metadata, "version", version)


def test_cpu_builds_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    _versions(monkeypatch, torch="2.13.0+cpu", onnxruntime="1.23.2")
    reason = _gpu.torch_build_reason()
    assert reason is not None and reason.startswith("torch 2.13.0+cpu is a CPU-only build")
    reason = _gpu.onnxruntime_build_reason()
    assert reason is not None and "pip install onnxruntime-gpu==1.23.2" in reason
    _versions(monkeypatch, torch="2.13.0+cu126", **{"onnxruntime-gpu": "1.23.2"})
    assert _gpu.torch_build_reason() is None and _gpu.onnxruntime_build_reason() is None


def test_options_and_profiles() -> None:
    opts = OnnxRuntimeTrtOptions.from_strings(
        "onnxruntime-trt", {"precision": "fp16", "profile": "1:64:1024"}
    )
    assert opts.variant() == {"precision": "fp16", "profile": "1:64:1024"}
    with pytest.raises(ConfigurationError, match="fp32, fp16"):
        OnnxRuntimeTrtOptions.from_strings("onnxruntime-trt", {"precision": "int8"})
    assert _gpu.batch_profile("", 64) == (64, 64, 64)
    assert _gpu.batch_profile("1:64:1024", 1024) == (1, 64, 1024)
    with pytest.raises(ConfigurationError, match="does not cover batch 2048"):
        _gpu.batch_profile("1:64:1024", 2048)
    with pytest.raises(ConfigurationError, match="MIN:OPT:MAX"):
        _gpu.batch_profile("1,64", 1)
    with pytest.raises(ConfigurationError, match="MIN <= OPT <= MAX"):
        _gpu.batch_profile("64:1:1024", 64)


@pytest.mark.slow
def test_bench_gpu_backend_unavailable_is_an_error_record(tmp_path: Path) -> None:
    reason = backend_class("onnxruntime-cuda").unavailable_reason()
    if reason is None:
        pytest.skip("onnxruntime-cuda is available here; its error path is not reachable")
    from hepinfer.cli.main import main

    out = tmp_path / "res.jsonl"
    code = main(
        ["bench", "event_vae", "--backend", "pytorch,onnxruntime-cuda", "--batch", "1,2",
         "--max-time", "0.3", "--min-calls", "5", "--out", str(out)]
    )  # fmt: skip
    assert code == 1  # one configuration failed, and the command says so
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["key"]["backend"], r["key"]["batch"], r["status"]) for r in records] == [
        ("pytorch", 1, "ok"),
        ("onnxruntime-cuda", 1, "error"),
        ("pytorch", 2, "ok"),
        ("onnxruntime-cuda", 2, "error"),
    ]
    for r in records[1::2]:
        assert r["error"]["phase"] == "import"
        assert "\n" not in r["error"]["message"] and reason in r["error"]["message"]


# --- breakdown and memory helpers ----------------------------------------------------------


def test_breakdown_medians_and_overhead() -> None:
    rows = [
        {"h2d_ns": 10, "compute_ns": 100, "d2h_ns": 5, "device_ns": 115, "enqueue_ns": 30, "wall_ns": 150},
        {"h2d_ns": 12, "compute_ns": 90, "d2h_ns": 6, "device_ns": 108, "enqueue_ns": 31, "wall_ns": 160},
        {"h2d_ns": 11, "compute_ns": 95, "d2h_ns": 7, "device_ns": 113, "enqueue_ns": 29, "wall_ns": 140},
    ]
    b = _gpu.summarize_breakdown(rows, "cuda_events", io="host")
    assert (b["h2d_ns"], b["compute_ns"], b["d2h_ns"], b["wall_ns"]) == (11, 95, 6, 150)
    assert b["host_overhead_ns"] == 35  # medians of 35, 52, 27 per call
    assert b["calls"] == 3 and b["method"] == "cuda_events" and b["io"] == "host"
    timers = [{**r, "device_ns": None, "enqueue_ns": None} for r in rows]
    b = _gpu.summarize_breakdown(timers, "host_timers")
    assert b["host_overhead_ns"] is None and b["device_ns"] is None and b["compute_ns"] == 95
    with pytest.raises(ValueError):
        _gpu.summarize_breakdown([], "cuda_events")


def test_peak_sampler_keeps_the_high_water_mark() -> None:
    level = {"bytes": 3}
    sampler = PeakSampler(lambda: level["bytes"], interval_s=0.001).start()
    level["bytes"] = 10
    sampler.sample()
    level["bytes"] = 2
    assert sampler.stop() == 10
    assert sampler.first == 3 and sampler.samples >= 3
    unknown = PeakSampler(lambda: None).start()
    assert unknown.stop() is None


# --- crossover, on synthetic records -------------------------------------------------------


def _record(
    backend: str, batch: int, per_call_ns: float, threads: int = 1, spread: float = 0.01
) -> dict[str, Any]:
    # The device the plan writes into the key (a GPU-only backend's is cuda).
    device = "cpu" if "cpu" in backend_class(backend).devices else "cuda"
    key = Key(model="m", backend=backend, batch=batch, threads=threads, device=device)
    record = new_record(key, "run")
    samples = [int(per_call_ns * (1 + spread * ((i % 11) - 5) / 5)) for i in range(101)]
    record["samples_ns"] = samples
    record["stats"] = summarize(samples, batch)
    return record


def _cpu_ns(batch: int) -> float:
    return 10_000.0 * batch  # 10 us per event, no fixed cost


def _gpu_ns(batch: int) -> float:
    return 200_000.0 + 50.0 * batch  # 200 us launch and copies, 50 ns per event


def test_crossover_from_the_first_winning_batch() -> None:
    batches = (1, 16, 64, 1024)
    records = [_record("onnxruntime", b, _cpu_ns(b)) for b in batches]
    records += [_record("onnxruntime", b, _cpu_ns(b) * 0.6, threads=4) for b in batches]  # the best CPU
    records += [_record("onnxruntime-cuda", b, _gpu_ns(b)) for b in batches]
    (c,) = crossovers(records)
    # Best CPU per call: 6, 96, 384, 6144 us; GPU: 200, 201, 203, 251 us.
    assert [(v.batch, v.verdict) for v in c.verdicts] == [(1, "cpu"), (16, "cpu"), (64, "gpu"), (1024, "gpu")]
    assert c.batch == 64
    assert all(v.cpu_label == "onnxruntime x4t" for v in c.verdicts)
    assert c.verdicts[-1].ratio == pytest.approx(6144 / 251.2, rel=0.02)
    (line,) = crossover_lines(records)
    assert "onnxruntime-cuda x1t beats the best CPU configuration from batch 64" in line


def test_crossover_needs_every_larger_batch() -> None:
    records = [_record("onnxruntime", b, _cpu_ns(b)) for b in (1, 16, 64)]
    records.append(_record("tensorrt", 1, 5_000.0))  # wins at 1
    records.append(_record("tensorrt", 16, 161_000.0, spread=0.05))  # overlaps the CPU's 160 us: a tie
    records.append(_record("tensorrt", 64, 100_000.0))  # wins at 64
    (c,) = crossovers(records)
    assert [v.verdict for v in c.verdicts] == ["gpu", "tie", "gpu"]
    assert c.batch == 64
    never = [_record("onnxruntime", 1, 1_000.0), _record("pytorch-cuda", 1, 9_000.0)]
    (c,) = crossovers(never)
    assert c.batch is None and "never beats" in c.describe()


def test_crossover_ignores_errors_and_cpu_only_runs() -> None:
    cpu = [_record("onnxruntime", b, _cpu_ns(b)) for b in (1, 64)]
    assert crossover_lines(cpu) == []
    failed = _record("onnxruntime-cuda", 64, 1.0)
    failed["status"] = "error"
    assert crossover_lines([*cpu, failed]) == []
    assert crossover_batch([]) is None
    assert is_gpu_record(_record("tensorrt", 1, 1.0)) and not is_gpu_record(cpu[0])
    thing = new_record(Key(model="m", backend="tests_backends:Thing", batch=1, threads=1), "run")
    assert not is_gpu_record(thing)
    # A backend on a CUDA device it reports in its settings, though its key says cpu.
    assert is_gpu_record({**thing, "backend": {"settings": {"device": "cuda:0"}}})


def test_plan_writes_a_gpu_only_backends_device_into_the_key() -> None:
    """Crossover reads the device from the key: the plan must put cuda there."""
    from hepinfer.runner.bench import BenchRequest, plan

    p = plan(BenchRequest(model="linear_event", backends=["onnxruntime", "tensorrt"]))
    assert {k.backend: k.device for k in p.keys} == {"onnxruntime": "cpu", "tensorrt": "cuda"}


# --- on a real GPU -------------------------------------------------------------------------


def _skip_reason(name: str) -> str:
    return backend_class(name).unavailable_reason() or ""


@pytest.mark.gpu
@pytest.mark.slow
@pytest.mark.parametrize(
    ("backend", "options"),
    [
        ("pytorch-cuda", {}),
        ("pytorch-cuda", {"cuda_graph": ["true"]}),
        ("onnxruntime-cuda", {}),
        ("onnxruntime-trt", {"precision": ["fp16"]}),
        ("tensorrt", {"profile": ["1:2:4"]}),
    ],
)
def test_gpu_backend_end_to_end(backend: str, options: dict[str, list[str]]) -> None:
    reason = _skip_reason(backend)
    if reason:
        pytest.skip(f"{backend} is unavailable here: {reason}")
    from hepinfer.runner.bench import BenchRequest, run_bench

    request = BenchRequest(
        model="higgs_model_dense",
        backends=("pytorch", backend),
        batches=(1, 4),
        options={backend: options} if options else {},
        policy=TimingPolicy(**FAST_TIMING),  # type: ignore[arg-type]
    )
    gpu = [r for r in run_bench(request) if r["key"]["backend"] == backend]
    assert [r["status"] for r in gpu] == ["ok", "ok"], [r.get("error") for r in gpu]
    for r in gpu:
        # TF32 (ONNX Runtime's CUDA default on Ampere+) and fp16 miss the fp32 tolerance; the
        # outputs are probabilities, so an absolute bound still catches a wrong result.
        agreement = r["agreement"]
        worst = max(o.get("max_abs", float("inf")) for o in agreement["outputs"].values())
        assert worst < (5e-2 if options.get("precision") == ["fp16"] else 1e-2), agreement
        b = r["timing"]["breakdown"]
        assert b["calls"] > 0 and b["compute_ns"] > 0 and b["wall_ns"] >= b["compute_ns"]
        assert r["memory"]["device"]
        assert r["backend"]["settings"]["device"].startswith("cuda")
    if backend == "tensorrt":
        # One profile covers both batch sizes: the second configuration loads the cached engine.
        assert [r["one_off"]["engine_cache_hit"] for r in gpu] == [False, True]


# --- the worker's after_timing hook, with a CPU backend ------------------------------------


class HookedOnnxRuntime(OnnxRuntimeBackend):
    """ONNX Runtime on CPU with an after_timing hook, as the GPU backends have."""

    name = "hooked-onnxruntime"

    def after_timing(self, prepared: Any) -> dict[str, dict[str, Any]]:
        """A host-timer breakdown of real calls, merged by the worker into the record."""
        import time

        rows = []
        for _ in range(5):
            t0 = time.perf_counter_ns()
            self.run(prepared)
            t1 = time.perf_counter_ns()
            rows.append({"h2d_ns": 0, "compute_ns": t1 - t0, "d2h_ns": 0, "wall_ns": t1 - t0})
        return {
            "timing": {"breakdown": _gpu.summarize_breakdown(rows, "host_timers")},
            "memory": {"device": {"note": "cpu"}},
            "one_off": {"engine_build_s": 0.0},
        }


@pytest.mark.slow
def test_worker_merges_the_after_timing_hook(tmp_path: Path, test_backends: str) -> None:
    import onnx
    from onnx import TensorProto, helper

    from hepinfer.runner.bench import BenchRequest, run_bench

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "relu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8])],
    )
    path = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    request = BenchRequest(
        model=str(path),
        backends=("onnxruntime", "test_gpu:HookedOnnxRuntime"),
        batches=(2,),
        policy=TimingPolicy(**FAST_TIMING),  # type: ignore[arg-type]
    )
    plain, hooked = run_bench(request)
    assert plain["status"] == hooked["status"] == "ok", hooked.get("error")
    assert "breakdown" not in plain["timing"] and "device" not in plain["memory"]
    b = hooked["timing"]["breakdown"]
    assert b["method"] == "host_timers" and b["calls"] == 5 and b["compute_ns"] > 0
    assert b["host_overhead_ns"] is None
    assert hooked["timing"]["stop_reason"]  # the worker's own timing fields are kept
    assert hooked["memory"]["device"] == {"note": "cpu"} and hooked["memory"]["peak_rss"]
    assert hooked["one_off"]["engine_build_s"] == 0.0 and hooked["one_off"]["load_s"] > 0
    assert hooked["agreement"]["verdict"] == "identical"
