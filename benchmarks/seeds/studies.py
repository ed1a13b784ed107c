"""From result records to each seed study's comparison with its publication: the record
look-ups and formatting (``analysis``) used by the seven study functions here.

Each ``studyN`` takes the bench/sweep records of its study (and, where the study runs them,
the ``hepinfer validate`` report, the disk-inclusive bench records and the ``hepinfer
eventloop`` records) and returns a :class:`Section`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from seeds.analysis import (
    Records,
    Section,
    data_us,
    end_to_end,
    find,
    fx,
    min_ratio,
    peak_mib,
    per_event_us,
    ratio,
    sample,
    speedup_row,
)
from seeds.published import ROOTBENCH, STUDIES, TAGGERS


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


def study2(records: Records, extra: Mapping[str, Any]) -> Section:
    s = Section(2)
    pub = STUDIES[2].ratios["PyTorch / ONNX Runtime, batch 1"]
    ort = per_event_us(find(records, "event_vae", "onnxruntime"))
    eager1 = per_event_us(find(records, "event_vae", "pytorch"))
    ours = speedup_row(s, "PyTorch eager, 1 thread / ONNX Runtime, 1 thread", pub, eager1, ort)
    other: dict[str, float | None] = {}
    for opts, threads, what in (
        ({}, 2, "PyTorch eager, 2 threads / ONNX Runtime, 1 thread"),
        ({"mode": "torchscript"}, 1, "PyTorch TorchScript, 1 thread / ONNX Runtime, 1 thread"),
        ({"mode": "compile"}, 1, "PyTorch torch.compile, 1 thread / ONNX Runtime, 1 thread"),
    ):
        rec = find(records, "event_vae", "pytorch", threads=threads, options=opts)
        if rec is not None:
            other[f"{opts.get('mode', 'eager')}{threads}"] = speedup_row(s, what, pub, per_event_us(rec), ort)
    report = extra.get("validate") or {}
    diffs: list[float] = []
    for b in report.get("backends", []):
        if b.get("role") == "reference":
            continue
        realistic = (b.get("sets") or {}).get("realistic") or {}
        for out, o in (realistic.get("outputs") or {}).items():
            if isinstance(o.get("max_abs"), int | float):
                diffs.append(float(o["max_abs"]))
            s.rows.append(
                (
                    f"{b.get('backend')} vs {report.get('reference')}: output {out}, max |diff|",
                    "differs slightly",
                    f"{o.get('max_abs', float('nan')):.2g} ({o.get('verdict')})",
                )
            )
    if not report:
        s.missing.append("hepinfer validate was not run: no per-output agreement.")
    how = [
        "The PyTorch figure depends on how it is called: eager mode pays Python dispatch per "
        "operator (dozens of small ops at batch 1)"
    ]
    two, script = other.get("eager2"), other.get("torchscript1")
    if ours and two:
        how.append(
            f"a second intra-op thread made it {two / ours:.2f} times slower here (at this size "
            "threads only add synchronisation)"
            if two > ours
            else f"a second intra-op thread made it {ours / two:.2f} times faster here"
        )
    if ours and script:
        how.append(
            f"TorchScript (what LibTorch runs) removes part of the Python overhead ({ours / script:.1f} "
            "times faster than eager here)"
            if script < ours
            else "TorchScript (what LibTorch runs) was not faster than eager here"
        )
    s.why.append(
        ", ".join(how) + "; we run eager under torch.inference_mode with 1 intra-op thread, which is "
        "most likely a leaner call than the published one (the publication does not give its "
        "threads or mode)."
    )
    if ours is not None:
        if pub / ours >= 2:
            s.why.append(
                f"So our ratio ({ours:.2f}x) is far below the published {pub:.0f}x: the published "
                "PyTorch number most likely included framework overheads that inference_mode and 1 "
                "thread avoid."
            )
        else:
            s.why.append(f"Our ratio ({ours:.2f}x) is {ours / pub:.2f} times the published {pub:.0f}x.")
    if diffs:
        s.why.append(
            f"The outputs differ by at most {max(diffs):.1g}, "
            + (
                "the level of float32 rounding: ONNX Runtime fuses and reorders operations (GEMM + "
                "bias + activation), so sums are taken in another order."
                if max(diffs) < 1e-5
                else "more than float32 rounding explains."
            )
        )
    data = [r for r in extra.get("data", []) if r.get("status", "ok") == "ok"]
    got = {r["key"]["backend"]: data_us(r) for r in data}
    if got:
        pt, ort_d = got.get("pytorch", (None, None)), got.get("onnxruntime", (None, None))
        events = next((r["data"]["passes"][0].get("events") for r in data), "?")
        speedup_row(
            s,
            f"PyTorch / ONNX Runtime on real CMS events (hzz, {events} events, R=39), inference median",
            pub,
            pt[0],
            ort_d[0],
        )
        speedup_row(s, "same, with reading and preprocessing", None, pt[1], ort_d[1])
        s.why.append(end_to_end(data, "pytorch", "onnxruntime"))
    else:
        s.missing.append("The real packaged CMS events were not timed (no -data results).")
    return s


# Study 3's (model, framework) pairs: the seed's graph VAE has no Keras twin, so its framework
# is PyTorch; the TensorFlow comparison of the publication runs on the dense jet_vae.
STUDY3_PAIRS = (("jet_vae", "tensorflow", "TensorFlow"), ("graph_vae", "pytorch", "PyTorch"))


def _model_name(record: Mapping[str, Any]) -> str:
    """``graph_vae`` of a record whose key names ``graph_vae[k=8]``."""
    return str((record.get("key") or {}).get("model", "")).partition("[")[0]


def _study3_pair(
    s: Section, records: Records, mem_records: Records, model: str, framework: str, label: str
) -> None:
    """Study 3's rows and prose for one model: framework / ONNX Runtime per batch, memory."""
    batches = sorted(
        {
            int(r["key"].get("batch", 0))
            for r in records
            if r.get("status") == "ok" and _model_name(r) == model
        }
    )
    if not batches:
        return
    backends = (framework, "onnxruntime")
    mem: dict[str, dict[int, float | None]] = {b: {} for b in backends}
    ratios = []
    for i, b in enumerate(batches):
        slow = find(records, model, framework, batch=b)
        fast = find(records, model, "onnxruntime", batch=b)
        what = f"{model}: {label} / ONNX Runtime per jet, batch {b}"
        r = speedup_row(s, what, None, per_event_us(slow), per_event_us(fast))
        if i == 0:
            s.rows[-1] = (s.rows[-1][0], "shrinks with batch, saturates", s.rows[-1][2])
        else:
            s.rows[-1] = (s.rows[-1][0], "", s.rows[-1][2])
        ratios.append((b, r))
        mem[framework][b], mem["onnxruntime"][b] = peak_mib(slow), peak_mib(fast)
    peaks: dict[str, tuple[int, float, int, float]] = {}
    for backend in ("onnxruntime", framework):
        got = [(b, m) for b, m in mem[backend].items() if m is not None]
        if len(got) >= 2:
            (b0, m0), (b1, m1) = got[0], got[-1]
            peaks[backend] = (b0, m0, b1, m1)
            what = f"{model} {backend} peak RSS, batch {b1} / batch {b0}"
            s.rows.append((what, "flat (about 1x)", fx(m1 / m0)))
    growth: dict[str, float] = {}
    for backend in ("onnxruntime", framework):
        phases: dict[int, dict[str, Any]] = {
            int(r["key"]["batch"]): r["memory"]
            for r in mem_records
            if r["key"]["backend"] == backend and _model_name(r) == model and r.get("memory")
        }
        if len(phases) < 2:
            continue
        lo, hi = min(phases), max(phases)
        used_lo, used_hi = phases[lo].get("measured_bytes"), phases[hi].get("measured_bytes")
        min_lo = (phases[lo].get("minimum") or {}).get("total_bytes")
        min_hi = (phases[hi].get("minimum") or {}).get("total_bytes")
        if used_lo and used_hi:
            s.rows.append(
                (
                    f"{model} {backend} (hepinfer memory): model + inference memory, batch {hi} / batch {lo}",
                    "flat (about 1x)",
                    f"{fx(used_hi / used_lo)} ({used_lo / 2**20:.0f} -> {used_hi / 2**20:.0f} MiB)",
                )
            )
        if min_lo and min_hi and used_hi:
            growth[backend] = min_hi / min_lo
            s.rows.append(
                (
                    f"{model} {backend}: theoretical minimum, batch {hi} / batch {lo}",
                    "-",
                    f"{fx(min_hi / min_lo)} (measured / minimum at batch {hi}: {used_hi / min_hi:.1f}x, "
                    f"minimum {min_hi / 2**20:.1f} MiB)",
                )
            )
    if growth:
        s.why.append(
            f"{model}: hepinfer memory separates what loading and running the model adds from the "
            "imports: the weights are fixed, the activations grow with the batch (the theoretical "
            f"minimum grows {max(growth.values()):.0f}-fold over this range), and each runtime's own "
            "arenas come on top."
        )
    known = [(b, r) for b, r in ratios if r is not None]
    if len(known) >= 2:
        first, last = known[0][1], known[-1][1]
        trend = "shrinks" if last < first else "grows"
        s.why.append(
            f"{model}: ONNX Runtime's advantage over {label} {trend} from {first:.2f}x at batch "
            f"{known[0][0]} to {last:.2f}x at batch {known[-1][0]}"
            + (
                ": per-call overhead (Python, op dispatch) is divided among more jets, until the "
                "kernels' own time dominates."
                if last < first
                else ", unlike the publication; not investigated further."
            )
        )
    if peaks:
        growths = {b: m1 / m0 for b, (_, m0, _, m1) in peaks.items()}
        b0, _, b1, _ = next(iter(peaks.values()))
        flat = max(growths.values()) <= 1.25
        largest = max(peaks, key=lambda b: peaks[b][3])
        s.why.append(
            f"{model}: from batch {b0} to {b1} the workers' peak RSS (largest: {largest}, "
            f"{peaks[largest][3]:.0f} MiB at batch {b1}) grows at most {max(growths.values()):.2f}-fold: "
            + (
                "nearly flat, as published; the libraries' footprint dominates."
                if flat
                else "not flat, unlike the publication."
            )
        )


def study3(records: Records, extra: Mapping[str, Any]) -> Section:
    s = Section(3)
    mem_records = [r for r in extra.get("memory", []) if r.get("status", "ok") == "ok"]
    for model, framework, label in STUDY3_PAIRS:
        _study3_pair(s, records, mem_records, model, framework, label)
    s.missing.append(
        "graph_vae (the seed's graph VAE) has no Keras twin, so it is compared with PyTorch, its "
        "own framework; the publication's TensorFlow comparison runs on the zoo's dense jet_vae."
    )
    return s


def study4(records: Records, extra: Mapping[str, Any]) -> Section:
    s = Section(4)
    isa: dict[str, float] = {}
    larger: list[str] = []
    smaller: list[str] = []
    for name, (base, _sse, avx) in TAGGERS.items():
        pt = per_event_us(find(records, name, "pytorch"))
        ort = per_event_us(find(records, name, "onnxruntime"))
        got = ratio(pt, ort)
        if got is not None:
            (larger if got > base / avx else smaller).append(name)
        speedup_row(s, f"{name}: framework (PyTorch twin) / ONNX Runtime, batch 1", base / avx, pt, ort)
    for name, (_base, sse, avx) in TAGGERS.items():
        native = per_event_us(find(records, name, "sofie"))  # native is the default: no options
        portable = per_event_us(find(records, name, "sofie", options={"isa": "portable"}))
        ours = ratio(portable, native)
        if ours is not None:
            isa[name] = ours
        s.rows.append(
            (
                f"{name}: restricted / full ISA",
                f"{sse / avx:.2f}x (ORT-SSE / ORT-AVX)",
                f"{ours:.2f}x (SOFIE x86-64-v2 / -march=native)"
                if ours is not None
                else "not measured: no ISA switch in ONNX Runtime; SOFIE cannot generate it",
            )
        )
    for backend in ("pytorch", "onnxruntime"):
        one = per_event_us(find(records, "deepjet", backend, batch=1))
        eight = per_event_us(find(records, "deepjet", backend, batch=8))
        speedup_row(
            s,
            f"DeepJet {backend}: one call per jet / one call per event of 8 jets (per jet)",
            None,
            one,
            eight,
        )
    real1 = per_event_us(find(records, "DeepJet_Run3_122X.onnx", "onnxruntime", batch=1))
    real8 = per_event_us(find(records, "DeepJet_Run3_122X.onnx", "onnxruntime", batch=8))
    speedup_row(
        s, "real CMS DeepJet export, ONNX Runtime: per jet at batch 1 / at batch 8", None, real1, real8
    )
    zoo = per_event_us(find(records, "deepjet", "onnxruntime", batch=1))
    s.rows.append(("real CMS DeepJet / zoo deepjet, ONNX Runtime, batch 1", "-", fx(ratio(real1, zoo))))
    loops = {
        (r.get("eventloop") or {}).get("strategy"): r
        for r in extra.get("eventloop", [])
        if r.get("status") == "ok"
    }
    per_obj, per_ev = _event_us(loops.get("per-object")), _event_us(loops.get("per-event"))
    if per_obj is not None or per_ev is not None:
        speedup_row(
            s,
            "DeepJet event loop (ttbar AK4 jets): per-jet calls / one call per event",
            None,
            per_obj,
            per_ev,
        )
    s.why.append(
        "The baselines were the frameworks the taggers were trained in (TensorFlow/MXNet in "
        "CMSSW, with their own thread pools and graph overheads); ours is the zoo's PyTorch twin "
        "of each architecture (same layers and sizes, untrained weights), eager under "
        "inference_mode with 1 thread, so the framework side differs in kind from the baseline"
        + (f"; ours is larger for {', '.join(larger)}" if larger else "")
        + (f" and smaller for {', '.join(smaller)}" if smaller else "")
        + "."
    )
    timed = [n for n in TAGGERS if find(records, n, "sofie") is not None]
    untimed = "; ".join(f"{n}: {why}" for n, why in _SOFIE_FAILS.items() if n not in timed)
    s.why.append(
        "Restricted vs full instruction set: CMS patched a switch into ONNX Runtime's MLAS "
        "(MLAS_DYNAMIC_CPU_ARCH); upstream ONNX Runtime picks its kernels by CPUID and has no such "
        "switch, so ORT-SSE cannot be re-measured here. SOFIE compiles its generated C++ for "
        "x86-64-v2 or for this CPU (-march=native), which is the nearest comparison we can make; "
        f"of the four zoo taggers it is timed for {', '.join(timed) or 'none'}"
        + (
            f" (the configuration leaves out {untimed}; as of the sofie package installed here)"
            if untimed
            else ""
        )
        + "; "
        "PyTorch could be capped with ATEN_CPU_CAPABILITY/ONEDNN_MAX_CPU_ISA (hepinfer validate "
        "checks the answers under those caps) but a sweep carries no environment, so it is not timed."
    )
    if isa:
        s.why.append(
            "SOFIE built for x86-64-v2 vs this CPU: "
            + ", ".join(f"{n} {r:.2f}x" for n, r in isa.items())
            + (
                "; about the same, most likely because its matrix products and convolutions go to "
                "OpenBLAS, which picks its kernels by CPUID at run time whatever the compiler flags, "
                "so the flag changes only SOFIE's own loops (it is not the ORT-SSE comparison)."
                if all(0.9 <= r <= 1.1 for r in isa.values())
                else "; the compiler flags matter for SOFIE's own loops (it is not the ORT-SSE comparison)."
            )
        )
    return s


# Why SOFIE cannot generate the other taggers (as of the sofie package installed here), and so
# why the configurations leave them out of its runs.
_SOFIE_FAILS = {
    "deeptau": "PRelu unsupported",
    "deepjet": "a broadcasting error, {1,1,150} vs {1,1,50}",
    "deepak8": "a duplicate initializer after batch-norm fusion",
}


def _event_us(record: Mapping[str, Any] | None) -> float | None:
    """Median wall time per event of an event-loop record, in microseconds."""
    value = (((record or {}).get("stats") or {}).get("event") or {}).get("median_ns")
    return float(value) / 1e3 if isinstance(value, int | float) else None


_BACKENDS5 = ("tensorflow", "pytorch", "sofie", "openvino")


def study5(records: Records, extra: Mapping[str, Any]) -> Section:
    s = Section(5)
    model = "higgs_model_dense"
    batches = sorted({int((r.get("key") or {}).get("batch", 0)) for r in records if r.get("status") == "ok"})
    big = batches[-1] if batches else None
    for b in ([1] if 1 in batches else []) + ([big] if big not in (None, 1) else []):
        assert b is not None
        for t in (1, 2):
            ort = per_event_us(find(records, model, "onnxruntime", batch=b, threads=t))
            for backend in _BACKENDS5:
                got = per_event_us(find(records, model, backend, batch=b, threads=t))
                if got is not None:
                    claim = {"tensorflow": "slowest", "pytorch": "slowest", "sofie": "comparable"}.get(
                        backend, "-"
                    )
                    if backend == "sofie" and b != 1:
                        claim = "ONNX Runtime better (ratio > 1)"
                    speedup_row(s, f"{backend} / ONNX Runtime, batch {b}, {t} thread(s)", None, got, ort)
                    s.rows[-1] = (s.rows[-1][0], claim, s.rows[-1][2])
    slowed = []
    for b in batches:
        for backend in ("onnxruntime", *_BACKENDS5):
            one = per_event_us(find(records, model, backend, batch=b, threads=1))
            two = per_event_us(find(records, model, backend, batch=b, threads=2))
            if one is not None and two is not None and two > 3 * one:
                slowed.append(f"{backend} at batch {b} ({two / one:.0f}x)")
    if slowed:
        s.why.append(
            "With 2 threads some configurations were much slower than with 1: "
            + ", ".join(slowed)
            + ". This 2-core machine was shared with other jobs while measuring, so a second "
            "compute thread competes for a core, and a library that splits each matrix product "
            "between threads waits for the descheduled one; most likely a quiet machine does not "
            "show this, so read the 2-thread figures here with care."
        )
    lowest: tuple[str, float] | None = None
    for backend in ("onnxruntime", *_BACKENDS5):
        rec = find(records, model, backend, batch=big or 1)
        r = min_ratio(rec)
        if r is None:
            continue
        claim = {"tensorflow": "far above", "pytorch": "far above", "onnxruntime": "within 10x"}.get(
            backend, "within 10x, lowest" if backend == "sofie" else "-"
        )
        s.rows.append((f"{backend}: model memory / theoretical minimum, batch {big}", claim, fx(r, 0)))
        if lowest is None or r < lowest[1]:
            lowest = (backend, r)
    if lowest is not None:
        s.why.append(
            f"Memory here is what loading and running the model adds to the worker's RSS (the "
            f"imports excluded) over the theoretical minimum of the graph (weights plus the peak "
            f"of live activations, well under a megabyte for a 41k-parameter MLP); the lowest is "
            f"{lowest[0]} ({lowest[1]:.0f}x). RSS grows in pages and each runtime allocates arenas, "
            "thread pools and kernels' workspaces when it loads, so every backend stays well above "
            "the minimum for a model this small."
        )

    def vs_ort(backend: str, b: int) -> float | None:
        return ratio(
            per_event_us(find(records, model, backend, batch=b)),
            per_event_us(find(records, model, "onnxruntime", batch=b)),
        )

    small = {name: vs_ort(name, 1) for name in _BACKENDS5}
    compiled = [v for name in ("sofie", "openvino") if (v := small[name]) is not None]
    python = [v for name in ("tensorflow", "pytorch") if (v := small[name]) is not None]
    if compiled and python:
        listed = ", ".join(f"{name} {v:.1f}x" for name, v in small.items() if v is not None)
        s.why.append(
            f"At batch 1, 1 thread (per event, against ONNX Runtime: {listed}) "
            + (
                "Keras and PyTorch are the slowest: the time of a 41k-parameter MLP is call "
                "overhead, not arithmetic, and they pay Python dispatch per layer where SOFIE, "
                "OpenVINO and ONNX Runtime call compiled code."
                if min(python) > max(1.0, *compiled)
                else "Keras and PyTorch are not the slowest, unlike the publication."
            )
        )
    if big not in (None, 1):
        assert big is not None
        large = [v for name in _BACKENDS5 if (v := vs_ort(name, big)) is not None]
        if large:
            s.why.append(
                f"At batch {big} every backend is within {min(large):.2f}x to {max(large):.2f}x of "
                "ONNX Runtime: the time is GEMM throughput, where the BLAS (OpenBLAS for SOFIE, MLAS "
                "for ONNX Runtime, oneDNN for OpenVINO) and the threads decide."
            )
    s.missing.append(
        "GPU: this machine has none; the GPU half of the study is `benchmarks/gpu_zoo.py` (see "
        "docs/gpu.md) and is not re-measured here."
    )
    return s


def study6(records: Records, extra: Mapping[str, Any]) -> Section:
    s = Section(6)
    batch_of = {"generator": 64}
    same: list[str] = []
    other: list[str] = []
    for name, (ort_pub, sofie_pub) in ROOTBENCH.items():
        b = batch_of.get(name, 1)
        ort = per_event_us(find(records, name, "onnxruntime", batch=b))
        sofie = per_event_us(find(records, name, "sofie", batch=b))
        got = speedup_row(s, f"{name} (batch {b}): ONNX Runtime / SOFIE", ort_pub / sofie_pub, ort, sofie)
        if got is not None:
            (same if (got > 1) == (ort_pub > sofie_pub) else other).append(name)
        ts = per_event_us(find(records, name, "pytorch", batch=b, options={"mode": "torchscript"}))
        if ts is not None:
            s.rows.append((f"{name} (batch {b}): TorchScript / SOFIE", "-", fx(ratio(ts, sofie))))
    if same or other:
        s.why.append(
            "The faster of the two is the same as in rootbench's logs for "
            + (", ".join(same) or "none of the models")
            + (f", the other one for {', '.join(other)}" if other else "")
            + "."
        )
    s.why.append(
        "rootbench timed SOFIE's generated C++ from C++ (Google Benchmark) and ONNX Runtime's C++ "
        "API; we call both from Python (SOFIE through ctypes, ONNX Runtime through its Python "
        "binding), which adds microseconds of per-call overhead to each: for the two tiny MLPs, "
        "whose whole call takes microseconds, that overhead is a large part of the time and "
        "changes the ratio."
    )
    s.why.append(
        "The large models (the calo-sim generator, the 14-layer convolution) are dominated by "
        "arithmetic, where the GEMM/convolution kernels of each library decide; this CPU has "
        "AVX-512 and SOFIE is compiled with -march=native here."
    )
    s.missing.append(
        "The rootbench ONNX files themselves (../shared/models/rootbench) run in the full mode only; "
        "the quick mode times the zoo's twins of the same architectures (same shapes, other weights)."
    )
    return s


def study7(records: Records, extra: Mapping[str, Any]) -> Section:
    s = Section(7)
    flat = [
        r for r in records
        if r.get("status") == "ok" and ((r.get("key") or {}).get("model_params") or {}).get("form") == "flat"
    ]  # fmt: skip
    for b in sorted({int(r["key"].get("batch", 1)) for r in flat}):
        pt = find(flat, "gnn_tau", "pytorch", batch=b)
        ort = find(flat, "gnn_tau", "onnxruntime", batch=b)
        what = "1 graph per call" if b == 1 else f"{b} graphs of different sizes per call"
        speedup_row(
            s, f"scatter form, {what}: PyTorch / ONNX Runtime", None, per_event_us(pt), per_event_us(ort)
        )
        verdict = ((ort or {}).get("agreement") or {}).get("verdict")
        s.rows.append(
            (
                f"scatter form, {what}: ONNX Runtime outputs vs PyTorch",
                "exports, same answers",
                str(verdict or "-"),
            )
        )
    batched = ratio(
        per_event_us(find(flat, "gnn_tau", "pytorch", batch=16)),
        per_event_us(find(flat, "gnn_tau", "onnxruntime", batch=16)),
    )
    single = ratio(
        per_event_us(find(flat, "gnn_tau", "pytorch", batch=1)),
        per_event_us(find(flat, "gnn_tau", "onnxruntime", batch=1)),
    )
    if batched is not None and batched < 1:
        at_one = ""
        if single is not None:
            at_one = f" (at 1 graph per call it is {'faster' if single > 1 else 'slower too'}: {single:.2f}x)"
        s.why.append(
            f"With 16 graphs per call ONNX Runtime is {1 / batched:.1f} times slower than PyTorch "
            f"on the scatter form{at_one}: most likely its scatter and gather kernels over the "
            "flattened node list cost more than PyTorch's here; not profiled further."
        )
    report = extra.get("validate") or {}
    for b in report.get("backends", []):
        phys = b.get("physics")
        if phys:
            s.rows.append(
                (
                    f"ROC AUC after - before conversion ({b.get('backend')}, {phys.get('events')} graphs)",
                    "0 (preserved)",
                    f"{phys.get('auc_difference', float('nan')):+.1e} (AUC {phys.get('auc'):.4f}, "
                    f"{phys.get('selection_flips')} selection flips)",
                )
            )
    if not any("ROC AUC" in r[0] for r in s.rows):
        s.missing.append("hepinfer validate's physics check did not run: no ROC AUC comparison.")
    aucs = [
        float(b["physics"]["auc"]) for b in report.get("backends", []) if (b.get("physics") or {}).get("auc")
    ]
    auc = f" (its AUC here, {aucs[0]:.2f}, means nothing)" if aucs and abs(aucs[0] - 0.5) < 0.1 else ""
    s.why.append(
        f"The network is the zoo's gnn_tau, untrained{auc}; what the study checks is that "
        "conversion does not change the AUC. The scatter-add "
        "form exports to ONNX without torch_geometric and takes any number of nodes per graph "
        "(a batch of 16 is 16 graphs of different sizes in one call); the AUC comes from the kNN "
        "form, whose inputs have an event axis (the flat form's rank-1 inputs have none)."
    )
    return s


ANALYSES: dict[int, Callable[[Records, Mapping[str, Any]], Section]] = {
    1: study1,
    2: study2,
    3: study3,
    4: study4,
    5: study5,
    6: study6,
    7: study7,
}
