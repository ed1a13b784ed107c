"""The published figures of the seven seed studies (issue 11), in one table.

Times are as published (ms or s per event/jet, see ``unit``); ``ratios`` are the figures that
can be compared across machines (a speed-up is the slower time over the faster one). A claim
that was published without a number is a ``claims`` sentence.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Study:
    """One seed study: what was published, and which of our sweep configurations re-measures it."""

    number: int
    slug: str
    title: str
    # What was measured and how, in the publication's words.
    setup: str
    # name -> value, in ``unit`` (published absolute figures).
    figures: dict[str, float] = field(default_factory=dict)
    unit: str = ""
    # name -> value: ratios comparable across machines.
    ratios: dict[str, float] = field(default_factory=dict)
    # Qualitative findings published without a number.
    claims: tuple[str, ...] = ()

    @property
    def config(self) -> str:
        """The sweep configuration's file stem under benchmarks/seeds/."""
        return f"study{self.number}_{self.slug}"


def _r(a: float, b: float) -> float:
    return round(a / b, 2)


# Tagger times per event in seconds: baseline framework / ORT restricted to SSE / ORT with AVX.
TAGGERS = {
    "deeptau": (0.0392, 0.0531, 0.0249),
    "deepjet": (0.0586, 0.00933, 0.00674),
    "deepak8": (0.00354, 0.00322, 0.00211),
    "deepdoublex": (0.00446, 0.000451, 0.000363),
}

# rootbench's own logs, time per event: ONNX Runtime / SOFIE, in microseconds.
ROOTBENCH = {
    "higgs_model_dense": (7.2, 2.4),
    "linear_event": (7.5, 2.0),
    "generator": (130.0, 170.0),
    "conv_d100_l14": (97_000.0, 124_000.0),
}

STUDIES: dict[int, Study] = {
    s.number: s
    for s in (
        Study(
            1,
            "jet_vae",
            "Jet-level VAE, dijet anomaly detection, batch 1 on CPU",
            "TensorFlow vs ONNX Runtime, one jet per call, on signal samples G to WW (1.5 TeV, "
            "narrow and broad) and QCD",
            figures={"tensorflow": 2.28, "onnxruntime": 0.52},
            unit="ms per jet",
            ratios={"TensorFlow / ONNX Runtime, batch 1": _r(2.28, 0.52)},
        ),
        Study(
            2,
            "event_vae",
            "Event-level VAE (DarkMachines), batch 1 on CPU",
            "PyTorch vs ONNX Runtime, one event per call; the outputs (reconstruction, latent z) "
            "differ slightly between the two",
            figures={"pytorch": 4.11, "onnxruntime": 0.14},
            unit="ms per event",
            ratios={"PyTorch / ONNX Runtime, batch 1": _r(4.11, 0.14)},
            claims=("outputs (reconstruction, latent z) differ slightly between PyTorch and ONNX Runtime",),
        ),
        Study(
            3,
            "batch",
            "Batch-size sensitivity",
            "latency and memory of the graph VAE against batch size, ONNX Runtime vs TensorFlow",
            claims=(
                "ONNX Runtime's advantage over TensorFlow shrinks as the batch grows, then saturates",
                "memory stays flat with batch size",
            ),
        ),
        Study(
            4,
            "taggers",
            "CMS taggers: ONNX Runtime vs the frameworks they replaced, restricted vs full instruction sets",
            "time per event in seconds: baseline framework / ONNX Runtime restricted to SSE / "
            "ONNX Runtime with AVX; and the speed-up from batching DeepJet's jets per event",
            figures={
                f"{name} {what}": t
                for name, times in TAGGERS.items()
                for what, t in zip(("baseline", "ort-sse", "ort-avx"), times, strict=True)
            },
            unit="s per event",
            ratios={
                **{f"{name}: baseline / ORT-AVX": _r(t[0], t[2]) for name, t in TAGGERS.items()},
                **{f"{name}: ORT-SSE / ORT-AVX": _r(t[1], t[2]) for name, t in TAGGERS.items()},
            },
            claims=("batching DeepJet's jets (one call per event instead of one per jet) speeds it up",),
        ),
        Study(
            5,
            "mlp",
            "MLP on CPU (1 and N threads) and GPU, with memory",
            "dense MLP on Keras, PyTorch, SOFIE and ONNX Runtime; memory against the theoretical minimum",
            claims=(
                "Keras and PyTorch are the slowest on CPU",
                "SOFIE and ONNX Runtime are comparable; ONNX Runtime is better at large batch",
                "on GPU, throughput scales with batch",
                "memory: Keras and PyTorch far above the theoretical minimum, ONNX Runtime and SOFIE "
                "within an order of magnitude of it, SOFIE lowest",
            ),
        ),
        Study(
            6,
            "rootbench",
            "The rootbench models, time per event",
            "ONNX Runtime vs SOFIE in rootbench's own logs; and LibTorch-like TorchScript",
            figures={
                f"{name} {b}": t
                for name, ts in ROOTBENCH.items()
                for b, t in zip(("onnxruntime", "sofie"), ts, strict=True)
            },
            unit="us per event",
            ratios={f"{name}: ONNX Runtime / SOFIE": _r(ts[0], ts[1]) for name, ts in ROOTBENCH.items()},
        ),
        Study(
            7,
            "gnn",
            "Graph network from detector images",
            "a graph network exported without torch_geometric (scatter-based), variable numbers "
            "of nodes, ROC AUC before and after conversion",
            ratios={"ROC AUC after - before conversion": 0.0},
            claims=(
                "exports without torch_geometric, with a variable number of nodes per graph",
                "ROC AUC is preserved after conversion",
            ),
        ),
    )
}
