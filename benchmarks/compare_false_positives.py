"""How often ``hepinfer compare`` calls identical runs different, and how often it sees a real 2x.

Identical runs: the same small configurations (linear_event on onnxruntime and pytorch at batch
1 and 16, as in the report that found the defect) measured in ``--pairs`` pairs of separate
``bench --repeat K`` runs; the fraction of configurations called faster or slower should be at
most the nominal alpha (5%). Beside it, the fraction the old test (Mann-Whitney U on the pooled
samples of the latest process of each run, alpha 0.01) flagged on the same records.

A real 2x change: an ONNX chain of N MatMuls against one of 2N (the same shapes, so twice the
arithmetic, compute-bound at batch 64), compared along the model axis; every pair should be
called slower with a ratio near 2.

    python benchmarks/compare_false_positives.py [--pairs 3] [--repeat 3] [--min-time 0.3]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

import hepinfer
from hepinfer.report.compare import SAME, compare_records


def chain_model(path: Path, n: int, width: int = 256) -> Path:
    """An ONNX model of ``n`` MatMuls with one fixed weight, batch axis dynamic."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(0).normal(0, 1 / np.sqrt(width), (width, width)).astype(np.float32)
    nodes, prev = [], "x"
    for i in range(n):
        nodes.append(helper.make_node("MatMul", [prev, "w"], [f"h{i}"]))
        prev = f"h{i}"
    nodes.append(helper.make_node("Identity", [prev], ["y"]))
    graph = helper.make_graph(
        nodes,
        "chain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", width])],
        initializer=[numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def old_flagged(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> int:
    """Configurations the old compare flagged: Mann-Whitney U on the samples of one process each."""
    from scipy.stats import mannwhitneyu

    def last(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {repr(sorted(r["key"].items())): r for r in records if r["status"] == "ok"}

    la, lb = last(a), last(b)
    flagged = 0
    for k in la.keys() & lb.keys():
        sa, sb = la[k]["samples_ns"], lb[k]["samples_ns"]
        ratio = np.median(sb) / np.median(sa)
        p = mannwhitneyu(sa, sb, alternative="two-sided").pvalue
        flagged += bool(p < 0.01 and abs(ratio - 1) >= 0.02)
    return flagged


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--min-time", type=float, default=0.3)
    p.add_argument("--alpha", type=float, default=0.05)
    ns = p.parse_args()
    timing = {"min_time_s": ns.min_time, "max_time_s": 5.0}

    def run(model: str, backends: tuple[str, ...], batches: tuple[int, ...]) -> list[dict[str, Any]]:
        return hepinfer.bench(model, backends=backends, batches=batches, repeat=ns.repeat, **timing)

    flagged = total = flagged_old = 0
    for i in range(ns.pairs):
        a = run("linear_event", ("onnxruntime", "pytorch"), (1, 16))
        b = run("linear_event", ("onnxruntime", "pytorch"), (1, 16))
        result = compare_records(a, b, alpha=ns.alpha)
        hits = [r for r in result.rows if r["verdict"] != SAME]
        flagged += len(hits)
        total += len(result.rows)
        flagged_old += old_flagged(a, b)
        for r in result.rows:
            print(
                f"identical pair {i}: {r['configuration']}: B/A {r['ratio']:.3f} "
                f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}] p={r['p_value']:.2g} {r['verdict']}"
            )
    hit2x = n2x = 0
    with tempfile.TemporaryDirectory() as tmp:
        small = chain_model(Path(tmp) / "chain8.onnx", 8)
        large = chain_model(Path(tmp) / "chain16.onnx", 16)
        for i in range(ns.pairs):
            a = run(str(small), ("onnxruntime",), (64,))
            b = run(str(large), ("onnxruntime",), (64,))
            result = compare_records(a, b, alpha=ns.alpha, by="model")
            for r in result.rows:
                n2x += 1
                hit2x += r["verdict"] == "slower"
                print(
                    f"2x pair {i}: {r['configuration']}: B/A {r['ratio']:.3f} "
                    f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}] p={r['p_value']:.2g} {r['verdict']}"
                )
    print(
        f"identical runs flagged: {flagged}/{total} = {flagged / total:.3f} "
        f"(target <= {ns.alpha}; the old pooled-sample test: "
        f"{flagged_old}/{total} = {flagged_old / total:.3f})"
    )
    print(f"real 2x change flagged: {hit2x}/{n2x} = {hit2x / max(n2x, 1):.3f} (target 1.0)")


if __name__ == "__main__":
    main()
