"""The measured process holds its backend and nothing else, and never outlives its parent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import FAST_TIMING
from hepinfer.measure.timer import TimingPolicy
from hepinfer.runner.bench import BenchRequest, run_bench

pytestmark = pytest.mark.slow


def _bench(model: str, backends: list[str], **kw: Any) -> list[dict[str, Any]]:
    request = BenchRequest(model=model, backends=backends, policy=TimingPolicy(**FAST_TIMING), **kw)
    return run_bench(request)


def _peak(record: dict[str, Any]) -> int:
    return max(record["memory"]["peak"].values())


def test_an_onnxruntime_worker_on_a_zoo_model_holds_no_torch() -> None:
    records = _bench("linear_event", ["onnxruntime", "pytorch"], reference="onnxruntime")
    ort, torch_ = records
    assert ort["status"] == torch_["status"] == "ok"
    assert "onnxruntime" in ort["process"]["modules"]
    assert "torch" not in ort["process"]["modules"]
    assert "torch" in torch_["process"]["modules"]
    # The export happened in the parent, and is recorded as a one-off cost of its own.
    assert ort["one_off"]["conversion"]["torch_to_onnx"]["exporter"] == "dynamo"
    assert ort["one_off"]["analysis_s"] > 0
    assert ort["model"]["cost"]["params"] > 0 and ort["memory"]["minimum"]["total_bytes"] > 0


def _modules_env(tmp_path: Path, worker: str = "hepinfer.runner.worker") -> tuple[Path, dict[str, str]]:
    """Where tests/modules_worker.py writes the worker's sys.modules, and the environment that
    runs ``worker`` through it."""
    out = tmp_path / "modules.json"
    path = os.pathsep.join(filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")]))
    return out, {"PYTHONPATH": path, "HEPINFER_TEST_MODULES": str(out), "HEPINFER_TEST_WORKER": worker}


def test_an_onnxruntime_worker_on_a_zoo_model_imports_no_zoo_catalog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The parent staged the ONNX file and the seeded inputs: the worker needs the spec types
    # (hepinfer.zoo.spec, and its package, now light) and nothing else of the zoo. Before,
    # every worker imported the whole catalog (each family, the input builders, numpy.random)
    # and importlib.metadata through hepinfer._optional: 1.107x a bare ORT process's peak RSS.
    import functools

    from hepinfer.runner import bench, launch

    out, env = _modules_env(tmp_path)
    spy = functools.partial(launch.run_job, module="modules_worker", env=env)
    monkeypatch.setattr(bench, "run_job", spy)
    (record,) = _bench("linear_event", ["onnxruntime"], reference="onnxruntime")
    assert record["status"] == "ok", record.get("error")
    modules = set(json.loads(out.read_text()))
    assert "hepinfer.runner.harness" in modules and "onnxruntime" in modules
    assert sorted(m for m in modules if m.startswith("hepinfer.zoo")) == ["hepinfer.zoo", "hepinfer.zoo.spec"]
    assert "numpy.random" not in modules  # the inputs were built in the parent
    # statistics (with random and fractions, ~20 ms a start) for one normal quantile, and socket
    # for the host name the parent already passes: neither is imported by a worker.
    assert not {"statistics", "random", "fractions", "socket"} & modules
    # The versions the parent found are not asked again (importlib.metadata: 65 modules).
    assert "importlib.metadata" not in modules


def test_a_memory_worker_on_a_zoo_model_imports_no_zoo_catalog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: the memory worker built each thread's inputs itself, so its prepare phase (and its
    # peak) held the zoo catalog and numpy.random; now the parent stages one file per seed.

    import numpy as np

    from hepinfer.runner import launch, memory
    from hepinfer.runner.memory import MemoryRequest, run_memory
    from hepinfer.zoo import build_inputs, model_ref, spec_of

    out, env = _modules_env(tmp_path)
    seen: list[dict[str, Any]] = []

    def spy(job: dict[str, Any], *args: Any, **kw: Any) -> dict[str, Any]:
        seen.append(job)
        return launch.run_job(job, *args, **kw, module="modules_worker", env=env)

    monkeypatch.setattr(memory, "run_job", spy)
    (record,) = run_memory(MemoryRequest(model="linear_event", batches=(4,), threads=2, calls=2))
    assert record["status"] == "ok", record.get("error")
    modules = set(json.loads(out.read_text()))
    assert sorted(m for m in modules if m.startswith("hepinfer.zoo")) == ["hepinfer.zoo", "hepinfer.zoo.spec"]
    assert "numpy.random" not in modules
    # One file per thread's seed, bitwise the builders' inputs.
    (job,) = seen
    ref = model_ref("linear_event")
    spec = spec_of(ref)
    assert len(job["inputs_paths"]) == 2
    for t, staged_path in enumerate(job["inputs_paths"]):
        want = build_inputs(ref, spec, 4, {}, job["key"]["seed"] + t)
        with np.load(staged_path) as staged:
            assert sorted(staged.files) == sorted(want)
            assert all(np.array_equal(staged[k], want[k]) for k in want)


def test_an_event_loop_worker_loads_the_pool_the_parent_staged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: the event-loop worker built its pool of events itself (the zoo catalog, the
    # input builders and numpy.random in its prepare phase and its memory figures).

    import numpy as np

    from hepinfer.runner import eventloop, launch
    from hepinfer.runner.eventloop import EventLoopRequest, run_eventloop
    from hepinfer.runner.eventloop_worker import slot_inputs
    from hepinfer.runner.multiplicity import Multiplicity

    out, env = _modules_env(tmp_path, "hepinfer.runner.eventloop_worker")
    seen: list[dict[str, Any]] = []
    real_run_job = launch.run_job

    def spy(job: dict[str, Any], *args: Any, **kw: Any) -> dict[str, Any]:
        seen.append(job)
        return real_run_job(job, *args, **{**kw, "module": "modules_worker", "env": env})

    monkeypatch.setattr(launch, "run_job", spy)  # run_eventloop imports it when it runs
    request = EventLoopRequest(
        model="linear_event", backends=["onnxruntime"], threads=[2], modes=["shared"], events=40, pool=6
    )
    (record,) = run_eventloop(request)
    assert record["status"] == "ok", record.get("error")
    modules = set(json.loads(out.read_text()))
    assert sorted(m for m in modules if m.startswith("hepinfer.zoo")) == ["hepinfer.zoo", "hepinfer.zoo.spec"]
    (job,) = seen
    plan = eventloop.plan(request)
    dist = Multiplicity(**job["multiplicity"])
    with np.load(job["pool_inputs_path"]) as staged:
        assert len({k.split(":")[0] for k in staged.files}) == 6
        for slot in range(6):
            want = slot_inputs(plan.ref, plan.spec, job["dims"], dist, job["seed"], slot)
            assert all(np.array_equal(staged[f"{slot}:{k}"], v) for k, v in want.items())


def test_the_worker_and_its_backend_import_no_package_metadata() -> None:
    # importlib.metadata (65 modules, ~4 MB RSS) was imported by hepinfer._optional at module
    # level, so every worker held it through its measured phases; now only a message that names
    # an install command (or the environment section, after the last memory mark) reads it.
    code = (
        "import sys, hepinfer.runner.worker, hepinfer.runner.harness, hepinfer.runner.job; "
        "from hepinfer.backends.registry import backend_class; "
        "cls = backend_class('onnxruntime'); assert cls.unavailable_reason() is None; "
        "import onnxruntime; print('importlib.metadata' in sys.modules)"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "False"


def test_the_staged_inputs_are_bitwise_the_builders(tmp_path: Path) -> None:
    import numpy as np

    from hepinfer.backends.registry import backend_class
    from hepinfer.results.schema import Key
    from hepinfer.runner.stage import Stager
    from hepinfer.zoo import build_inputs, model_ref, spec_of

    ref = model_ref("deepjet")
    spec = spec_of(ref)
    stager = Stager(ref, spec)
    key = Key(model="deepjet", backend="onnxruntime", batch=7, threads=1, seed=5)
    first = stager.stage(key, backend_class("onnxruntime"), analyse=False)
    again = stager.stage(
        Key(model="deepjet", backend="onnxruntime", batch=7, threads=2, seed=5),
        backend_class("onnxruntime"),
        analyse=False,
    )
    assert (
        first.inputs_path is not None and again.inputs_path == first.inputs_path
    )  # one per batch, dims, seed
    built = build_inputs(ref, spec, 7, {}, 5)
    with np.load(first.inputs_path) as staged:
        assert list(staged.files) == list(built)
        for name, value in built.items():
            assert staged[name].dtype == value.dtype and staged[name].tobytes() == value.tobytes()


def test_zoo_model_memory_is_the_same_networks_from_a_file(shared_models: Path) -> None:
    """Zoo linear_event on ORT against the same network as rootbench's file: within 10%."""
    (zoo,) = _bench("linear_event", ["onnxruntime"], reference="onnxruntime")
    (file,) = _bench(str(shared_models / "rootbench" / "Linear_event.onnx"), ["onnxruntime"])
    assert zoo["status"] == file["status"] == "ok"
    assert _peak(zoo) == pytest.approx(_peak(file), rel=0.10)
    assert zoo["process"]["modules"] == file["process"]["modules"]


def test_eventloop_and_memory_workers_hold_no_torch() -> None:
    from hepinfer.runner.eventloop import EventLoopRequest
    from hepinfer.runner.eventloop import run_eventloop as run_loop
    from hepinfer.runner.memory import MemoryRequest, run_memory

    (mem,) = run_memory(MemoryRequest(model="linear_event", batches=(1,), calls=2))
    (loop,) = run_loop(EventLoopRequest(model="linear_event", threads=(1,), events=20))
    for record in (mem, loop):
        assert record["status"] == "ok", record["error"]
        assert "torch" not in record["process"]["modules"]
    assert mem["memory"]["minimum"]["ratio"] > 0


def test_a_backend_that_is_not_shareable_is_never_called_by_two_threads(test_backends: str) -> None:
    from hepinfer.runner.memory import MemoryRequest, run_memory

    request = MemoryRequest(
        model="linear_event", backends=(f"{test_backends}:NotShareable",), batches=(1,), threads=2, calls=5
    )
    (record,) = run_memory(request)
    assert record["status"] == "ok", record["error"]
    sessions = record["sessions"]
    assert sessions["shareable"] is False and sessions["peak_shared"] is None
    assert "not shareable" in sessions["shared_skipped"]
    assert sessions["peak_separate"] > 0


def test_a_worker_dies_with_its_parent(tmp_path: Path) -> None:
    """A sweep killed with SIGKILL takes its running worker with it."""
    psutil = pytest.importorskip("psutil")
    script = tmp_path / "parent.py"
    script.write_text(
        textwrap.dedent(
            """
            from hepinfer.measure.timer import TimingPolicy
            from hepinfer.runner.bench import BenchRequest, run_bench

            # Timing that would go on for minutes: only the parent's death can end it early.
            policy = TimingPolicy(min_calls=10**9, max_calls=10**9, max_time_s=600, warmup_s=0)
            run_bench(BenchRequest(model="linear_event", backends=["onnxruntime"],
                             reference="onnxruntime", policy=policy))
            """
        )
    )
    parent = subprocess.Popen([sys.executable, str(script)], env=os.environ.copy())
    try:
        worker = _wait_for_worker(psutil.Process(parent.pid))
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        _, alive = psutil.wait_procs([worker], timeout=60)
        assert not alive, "the worker went on measuring after its parent was killed"
    finally:
        for p in psutil.Process().children(recursive=True):
            p.kill()


def _wait_for_worker(parent: Any) -> Any:
    """The parent's worker process, once it is measuring (polls; the parent exports first)."""
    for _ in range(1200):
        for child in parent.children(recursive=True):
            if "hepinfer.runner.worker" in " ".join(child.cmdline()):
                return child
        time.sleep(0.1)
    raise AssertionError("the parent started no worker")


def test_the_measuring_core_runs_under_another_interpreter_without_numpy(tmp_path: Path) -> None:
    """The protocol and the timer need only the standard library: a Python 3.12 without numpy."""
    from hepinfer.runner.launch import run_job

    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    python = str(root / "versions" / "3.12.1" / "bin" / "python3.12")
    if not Path(python).exists():
        pytest.skip(f"no Python 3.12 at {python} (pyenv installs it on this project's machines)")
    check = subprocess.run([python, "-c", "import numpy"], capture_output=True)
    if check.returncode == 0:
        pytest.skip(f"{python} has numpy; this test needs an interpreter without it")
    tests = str(Path(__file__).resolve().parent)
    policy = {"min_calls": 20, "max_calls": 200, "warmup_calls": 2, "warmup_s": 0.0, "min_time_s": 0.0}
    result = run_job(
        {"n": 100, "policy": policy},
        tmp_path,
        "core",
        120,
        env={"PYTHONPATH": tests},
        module="stdlib_worker",
        python=python,
    )
    assert result["status"] == "ok", result.get("error")
    assert result["python"].startswith("3.12") and result["numpy"] is False
    assert 20 <= len(result["timing"]["samples_ns"]) <= 200
    assert result["guard"] in ("pdeathsig", "watchdog")


def test_the_inference_memory_holds_none_of_the_harness() -> None:
    """The inference delta is the model's: it does not grow with the number of samples taken.

    Before, bench's delta held the Python list of samples and numpy.ma's lazy import (2.17 MB
    against 37 KB from `hepinfer memory` for the same configuration). Compared between two
    workers of one configuration, 50 and 10^5 samples (after a first run, so that the
    libraries' pages are in the page cache alike: a first call's code pages count in RSS).
    """

    def bench(**timing: float) -> dict[str, Any]:
        policy = TimingPolicy(warmup_s=0.0, **timing)  # type: ignore[arg-type]
        request = BenchRequest(
            model="linear_event", backends=["onnxruntime"], reference="onnxruntime", policy=policy
        )
        (record,) = run_bench(request)
        assert record["status"] == "ok", record["error"]
        return record

    bench(max_time_s=0.2, min_time_s=0.0)  # the libraries and the export in the page cache
    few = bench(min_calls=50, max_calls=50, min_time_s=0.0)
    many = bench(max_time_s=2.0, min_time_s=1.5, rel_ci=1e-6)
    assert few["stats"]["n"] == 50 and many["stats"]["n"] > 20_000  # a list of them would show
    kib = 2**10
    grown = many["memory"]["deltas"]["inference"] - few["memory"]["deltas"]["inference"]
    assert abs(grown) < 256 * kib, f"the inference delta grew by {grown} B with the sample count"
    # The harness's own memory is shown apart: the sample buffer, 8 bytes a sample at most.
    assert many["memory"]["deltas"]["timing"] <= 8 * many["stats"]["n"] + 1024 * kib


def test_the_environment_a_parent_passes_is_what_the_worker_would_find() -> None:
    # A worker under the parent's interpreter gets host, OS, CPU and versions from the parent
    # (launch.run_job): the same section as found in the process itself, thread pools its own.
    from hepinfer.measure.environment import environment, machine_environment

    packages = ("onnxruntime", "no_such_module_here")
    known = machine_environment(packages)
    assert known["versions"]["no_such_module_here"] == "absent"
    assert environment(packages, known=known) == environment(packages)
    known["versions"]["onnxruntime"] = "absent"  # not found by the parent: asked again here
    assert (
        environment(packages, known=known)["versions"]["onnxruntime"]
        == environment(packages)["versions"]["onnxruntime"]
        != "absent"
    )
