"""Study 1: the jet-level VAE, TensorFlow against ONNX Runtime at batch 1, on seeded inputs and on
generated jets from disk."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from seeds.analysis import (
    Records,
    Section,
    data_us,
    end_to_end,
    find,
    per_event_us,
    sample,
    speedup_row,
)
from seeds.published import STUDIES


def _setup(records: Records, libraries: tuple[str, ...]) -> str:
    """``TensorFlow 2.21.0 and onnxruntime 1.23.2 on a 2-core AMD EPYC with AVX-512``, from the
    records' environment."""
    versions: dict[str, str] = {}
    cpu: Mapping[str, Any] = {}
    for r in records:
        env = r.get("environment") or {}
        versions.update(env.get("versions") or {})
        cpu = env.get("cpu") or cpu
    libs = " and ".join(f"{lib} {versions.get(lib, '(version not recorded)')}" for lib in libraries)
    avx512 = " with AVX-512" if "avx512f" in cpu.get("isa", []) else ""
    return f"{libs} on a {cpu.get('usable_cores', '?')}-core {cpu.get('model', 'CPU')}{avx512}"


def study1(records: Records, extra: Mapping[str, Any]) -> Section:
    s = Section(1)
    pub = STUDIES[1].ratios["TensorFlow / ONNX Runtime, batch 1"]
    ort = per_event_us(find(records, "jet_vae", "onnxruntime"))
    tf_fn = per_event_us(find(records, "jet_vae", "tensorflow"))
    tf_call = per_event_us(find(records, "jet_vae", "tensorflow", options={"mode": "call"}))
    ours = speedup_row(s, "TensorFlow (tf.function) / ONNX Runtime, batch 1", pub, tf_fn, ort)
    eager = speedup_row(s, "TensorFlow (model call, eager) / ONNX Runtime, batch 1", pub, tf_call, ort)
    if ours and eager:
        s.why.append(
            "The publication does not say how TensorFlow was called. "
            + (
                "A Keras model called eagerly pays Python and op-dispatch overhead on every call, "
                "which at batch 1 is nearly all of the time; a compiled tf.function pays much less "
                f"(here eager is {eager / ours:.0f} times slower than tf.function)."
                if eager / ours >= 2
                else f"Here eager and tf.function are within {eager / ours:.2f}x of each other."
            )
        )
    if ours is not None:
        s.why.append(
            f"With tf.function ours is {ours / pub:.2f} times the published speed-up: "
            f"{_setup(records, ('tensorflow', 'onnxruntime'))}, not the versions and CPU of "
            "the publication; at batch 1 the ratio is one of per-call overheads, which both libraries "
            "have changed since."
        )
    data = [r for r in extra.get("data", []) if r.get("status", "ok") == "ok"]
    disk: list[float | None] = []
    for name in sorted({sample(r) for r in data}):
        got = {r["key"]["backend"]: data_us(r) for r in data if sample(r) == name}
        tf_d, ort_d = got.get("tensorflow", (None, None)), got.get("onnxruntime", (None, None))
        events = next((r["data"]["passes"][0].get("events") for r in data if sample(r) == name), "?")
        disk.append(
            speedup_row(
                s,
                f"same, on {name} jets from disk ({events} events), inference median",
                pub,
                tf_d[0],
                ort_d[0],
            )
        )
        speedup_row(s, f"same, on {name} jets, with reading and preprocessing", None, tf_d[1], ort_d[1])
    on_disk = [r for r in disk if r is not None]
    if data and on_disk and ours:
        lo, hi = min(on_disk) / ours, max(on_disk) / ours
        s.why.append(
            "On generated jets (Pythia 8 + fastjet, G -> WW at 1.5 TeV narrow and broad, and QCD) "
            f"the inference ratio is {lo:.2f} to {hi:.2f} times the one on seeded inputs"
            + (
                ": a dense VAE's time does not depend on the values."
                if lo >= 0.8 and hi <= 1.25
                else ", more than the noise of a shared machine explains; not investigated further."
            )
        )
    if data:
        s.why.append(end_to_end(data, "tensorflow", "onnxruntime"))
    else:
        s.missing.append("The generated G -> WW and QCD jets were not timed (no -data results).")
    s.missing.append(
        "The anomaly-detection performance itself (ROC AUC of the VAE's score on G -> WW vs QCD) "
        "needs a trained VAE: `hepinfer data train jet_vae` (docs/data.md), not run by this suite."
    )
    return s
