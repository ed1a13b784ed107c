"""Sweeps: configuration checking, resuming after SIGKILL, and running on a Dask LocalCluster."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hepinfer.cli.main import main
from hepinfer.errors import ConfigurationError
from hepinfer.results import jsonl
from hepinfer.results.schema import Key
from hepinfer.runner import bench
from hepinfer.runner import sweep as runner

SRC = Path(__file__).resolve().parents[1] / "src"
TIMING = "timing: {max_time_s: 0.3, min_calls: 5, warmup_calls: 2, warmup_s: 0.0}\n"


def write(tmp_path: Path, text: str, name: str = "sweep.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_line(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``hepinfer sweep --dry-run`` on a config; return its one-line error (exit 1)."""
    code = main(["sweep", str(write(tmp_path, text)), "--dry-run"])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert len(err.splitlines()) == 1, err
    return err


# --------------------------------------------------------------------------- configuration


def test_config_expands_to_the_grid(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "models:\n  - linear_event\n  - name: higgs_model_dense\n    batches: [1, 4]\n"
        "    threads: [1]\nbackends: [onnxruntime, pytorch]\nbatches: [2]\nthreads: [1, 2]\n"
        "options:\n  onnxruntime: {iobinding: [false, true]}\n" + TIMING,
    )
    sweep = runner.load(path)
    keys = sweep.keys
    # linear_event: batch 2 x threads 2 x (ort 2 options + pytorch 1) = 6; higgs: 2 batches x 1 x 3 = 6
    assert len(keys) == len(set(keys)) == 12
    assert [g.keys[0].batch for g in sweep.groups] == [2, 1, 4]
    assert {k.options.get("iobinding", False) for k in keys if k.backend == "onnxruntime"} == {False, True}
    assert sweep.groups[0].request.policy.max_time_s == 0.3
    # every group starts with its reference configuration, so agreement is known inside it;
    # higgs_model_dense was a Keras model: its reference, TensorFlow, runs unmeasured there
    linear = [g for g in sweep.groups if g.keys[0].model == "linear_event"]
    assert linear and all(g.keys[0].backend == "pytorch" and g.keys[0].threads == 1 for g in linear)


def test_unknown_key_names_key_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = error_line(tmp_path, "models:\n  - linear_event\nbackends: [onnxruntime]\nthreds: [1, 2]\n", capsys)
    assert "sweep.yaml:4:" in err and "threds" in err and "unknown key" in err


def test_bad_value_names_nested_key_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = "models:\n  - linear_event\n  - name: higgs_model_dense\n    batches: [1, 0]\n"
    err = error_line(tmp_path, text, capsys)
    assert "sweep.yaml:4:" in err and "models[1].batches[1]" in err and "minimum of 1" in err


def test_bad_timing_key_and_missing_models(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = error_line(tmp_path, "models: [linear_event]\ntiming:\n  max_time: 3\n", capsys)
    assert "sweep.yaml:3:" in err and "timing.max_time" in err
    err = error_line(tmp_path, "backends: [onnxruntime]\n", capsys)
    assert "'models' is required" in err


def test_yaml_syntax_and_unknown_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = error_line(tmp_path, "models: [linear_event\nbackends: [onnxruntime]\n", capsys)
    assert "not valid YAML" in err and "sweep.yaml:" in err
    err = error_line(tmp_path, "models:\n  - linear_event\n  - name: no_such_model\n", capsys)
    assert "sweep.yaml:3:" in err and "models[1]" in err and "no_such_model" in err


def test_every_mistake_at_its_own_line_in_the_files_terms(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before, only the first mistake was named, and a wrong backend option (line 7 here) was
    # reported at the model's line (2) as the command line's "--option onnxruntime.bogus".
    text = (
        "models:\n"  # 1
        "  - linear_event\n"  # 2
        "  - name: no_such_model\n"  # 3
        "backends: [onnxruntime, pytorch, onnxrt]\n"  # 4
        "options:\n"  # 5
        "  onnxruntime:\n"  # 6
        "    bogus: [1, 2]\n"  # 7
        "    iobinding: [false, maybe]\n"  # 8
        "batches: [1, 4]\n"  # 9
        "threds: [1]\n"  # 10
    )
    config = write(tmp_path, text)
    out = tmp_path / "out.jsonl"
    code = main(["sweep", str(config), "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert not out.exists()  # nothing ran, nothing was written
    assert err[0] == f"hepinfer: error: {config}: 5 mistakes, nothing was run:"
    lines = err[1:]
    assert [line.split(": ", 1)[0] for line in lines] == [f"{config}:{n}" for n in (3, 4, 7, 8, 10)]
    unknown_model, backend, option, value, key = (line.split(": ", 2)[1:] for line in lines)
    assert unknown_model[0] == "models[1].name" and "unknown model 'no_such_model'" in unknown_model[1]
    assert backend == ["backends[2]", backend[1]] and backend[1].startswith(
        "unknown backend 'onnxrt'; use one of"
    )
    assert option[0] == "options.onnxruntime.bogus"
    assert (
        option[1].startswith("onnxruntime has no option 'bogus'; its options: ") and "iobinding" in option[1]
    )
    assert value == [
        "options.onnxruntime.iobinding[1]",
        "'maybe' is not a value of iobinding; expected true or false",
    ]
    assert key[0] == "threds" and key[1].startswith("unknown key; use one of backends, batches")
    assert not any("--option" in line or "--backend" in line for line in lines)  # the file's words


def test_model_options_batches_and_dims_at_their_lines(tmp_path: Path) -> None:
    text = (
        "models:\n"  # 1
        "  - name: gnn_tau\n"  # 2
        "    params:\n"  # 3
        "      form: bogus\n"  # 4
        "  - name: linear_event\n"  # 5
        "    batches: [1, 0]\n"  # 6
        "    dims: {n_pf: 3}\n"  # 7
        "    backends: [onnxruntime]\n"  # 8
        "    options: {pytorch: {mode: eager}}\n"  # 9
        "devices: [tpu]\n"  # 10
    )
    found = [(p.line, p.where) for p in runner.sweep_config.problems(*_parsed(text))]
    assert found == [
        (4, "models[0].params.form"),
        (6, "models[1].batches[1]"),
        (7, "models[1].dims.n_pf"),
        (9, "models[1].options.pytorch"),
        (10, "devices[0]"),
    ]
    with pytest.raises(ConfigurationError) as caught:
        runner.load(write(tmp_path, text))
    message = str(caught.value)
    assert "use one of knn, indices, flat" in message and "no dynamic axis" in message
    assert "add pytorch to models[1].backends or drop its options" in message


def test_bad_value_types_in_the_files_words() -> None:
    text = "models: [linear_event]\nbatches: one\nseed: 1.5\nexporter: torch\n"
    found = [(p.line, p.where, p.what) for p in runner.sweep_config.problems(*_parsed(text))]
    assert found == [
        (2, "batches", "'one' is not a list; write a list here"),
        (3, "seed", "1.5 is not a whole number; write a whole number here"),
        (4, "exporter", "'torch' is not allowed; use one of dynamo, legacy, tf2onnx"),
    ]


def _parsed(text: str) -> tuple[object, object]:
    import yaml

    return yaml.safe_load(text), yaml.compose(text)


def test_schema_is_published_and_valid() -> None:
    import jsonschema

    schema = runner.schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["required"] == ["models"]


def test_skipping_keeps_a_needed_reference_unmeasured() -> None:
    the_plan = bench.plan(bench.BenchRequest(model="linear_event", batches=[1, 2]))
    jobs = bench._with_reference_jobs(the_plan)
    done = {k for k in the_plan.keys if k.backend == "pytorch"}
    left = bench._skipping(jobs, the_plan.reference, lambda k: k in done)
    # ORT still needs the pytorch outputs at each batch: they run, but are not measured again.
    assert [(k.backend, k.batch, m) for k, m in left] == [
        ("pytorch", 1, False),
        ("onnxruntime", 1, True),
        ("pytorch", 2, False),
        ("onnxruntime", 2, True),
    ]
    all_done = set(the_plan.keys)
    assert bench._skipping(jobs, the_plan.reference, lambda k: k in all_done) == []


def test_run_refuses_to_mix_without_resume(tmp_path: Path) -> None:
    sweep = runner.load(
        write(tmp_path, "models: [linear_event]\nbackends: [onnxruntime, pytorch]\n" + TIMING)
    )
    out = tmp_path / "out.jsonl"
    record = {"schema_version": 1, "kind": "bench", "status": "ok", "key": sweep.keys[0].to_dict()}
    out.write_text(json.dumps(record) + "\n")
    with pytest.raises(Exception, match="--resume"):
        runner.run_sweep(sweep, out)
    assert runner.done_keys(out) == {sweep.keys[0]}


# --------------------------------------------------------------------------- resume after kill -9


@pytest.mark.slow
def test_sigkill_then_resume_gives_one_record_per_configuration(tmp_path: Path) -> None:
    # Two configurations in one group: killed after the first, the resumed run must still
    # compute the second's agreement (the reference runs again, unmeasured).
    config = write(tmp_path, "models: [linear_event]\nbackends: [onnxruntime, pytorch]\n" + TIMING)
    out = tmp_path / "results.jsonl"
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    cmd = [sys.executable, "-m", "hepinfer.cli.main", "sweep", str(config), "--out", str(out)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while not (out.exists() and out.read_bytes().count(b"\n") >= 1):
            assert proc.poll() is None, "the sweep ended before it could be killed"
            assert time.monotonic() < deadline, "no record appeared"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    before = list(jsonl.read(out))
    assert len(before) == 1
    done = subprocess.run([*cmd, "--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"{len(before)} skipped as done" in done.stderr
    records = list(jsonl.read(out))
    keys = [Key.from_dict(r["key"]) for r in records]
    assert len(keys) == len(set(keys)) == 2
    assert set(keys) == set(runner.load(config).keys)
    assert records[: len(before)] == before  # nothing measured was lost or rewritten
    assert all(r["status"] == "ok" and r["samples_ns"] for r in records)
    assert all(r["agreement"]["verdict"] in ("reference", "identical", "within tolerance") for r in records)
    # a second resume has nothing left to do
    again = subprocess.run([*cmd, "--resume"], env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "0 records appended" in again.stderr
    assert len(list(jsonl.read(out))) == 2


# --------------------------------------------------------------------------- Dask


@pytest.mark.slow
def test_dask_local_cluster_retries_a_lost_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    distributed = pytest.importorskip("distributed")
    config = write(
        tmp_path, "name: dask-test\nmodels: [linear_event]\nbackends: [onnxruntime, pytorch]\n" + TIMING
    )
    sweep = runner.load(config)
    out = tmp_path / "dask.jsonl"
    # the Dask workers and their benchmark processes import this checkout's hepinfer
    monkeypatch.setenv("PYTHONPATH", f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    killed: list[str] = []
    with (
        distributed.LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            resources={runner.RESOURCE: 1},
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):

        def kill_busy_worker() -> None:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                busy = [w for w, tasks in client.processing().items() if tasks]
                if busy:
                    time.sleep(1.0)  # inside the benchmark's worker process by now
                    for w, pid in client.run(os.getpid, workers=busy).items():
                        killed.append(w)
                        os.kill(pid, signal.SIGKILL)
                    return
                time.sleep(0.1)

        killer = threading.Thread(target=kill_busy_worker)
        killer.start()
        records = runner.run_sweep(sweep, out, scheduler=client)
        killer.join()
    assert killed, "no worker was busy"
    stored = list(jsonl.read(out))
    assert [r["record_id"] for r in stored] == [r["record_id"] for r in records]
    keys = [Key.from_dict(r["key"]) for r in stored]
    assert len(keys) == len(set(keys)) == len(sweep.keys) == 2
    assert all(r["status"] == "ok" for r in stored)
    for r in stored:
        assert r["sweep"]["name"] == "dask-test"
        assert r["sweep"]["host"] and r["environment"]["host"]
        assert r["sweep"]["worker"].startswith("tcp://127.0.0.1:")
        assert r["sweep"]["worker"] not in killed  # measured again on the restarted worker


def test_dask_without_resource_says_how_to_start_workers() -> None:
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
        pytest.raises(ConfigurationError, match="--resources benchmark=1"),
    ):
        runner._wait_for_resource(client, timeout_s=0.5)


def test_demo_config_keeps_usable_cpu_backends(tmp_path: Path) -> None:
    from hepinfer import demo
    from hepinfer.backends import registry

    keep, dropped = registry.usable(["pytorch", "onnxruntime", "no_such_backend"])
    assert keep == ["pytorch", "onnxruntime"] and "no_such_backend" in dropped
    grid = demo.config(Path(__file__).resolve().parents[1] / "benchmarks" / "demo.yaml")
    assert {"pytorch", "onnxruntime"} <= set(grid["backends"])
    path = tmp_path / "demo.yaml"
    import yaml

    path.write_text(yaml.safe_dump(grid))
    keys = runner.load(path).keys
    assert {k.model for k in keys} >= {"linear_event", "higgs_model_dense"}
    assert {k.batch for k in keys} == {1, 16, 256}
