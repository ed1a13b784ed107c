"""``tune``: which configuration of a model to deploy, found by successive halving in a budget.

The candidates are a bench grid (backends x options x threads x batch sizes, ``bench.plan``).
Round 0 measures every candidate once with short timing; each following round measures the
better half again with twice the timing, until two are left; the final measures those two
in K worker processes each, and ``tune_decide.decide`` says whether one beats the other or
they tie. Every measurement is a ``bench.run`` (each configuration in its own worker, agreement
with the reference), so a candidate whose answers leave the tolerance, that fails, or whose
peak memory passes ``max_memory_mib`` is out at once.

The timing of each round is planned from what is left of the budget: with ``o`` seconds to
start a worker (measured on the records so far, first guessed), rounds of ``n_i`` candidates
at ``t * 2^i`` and a final of K repeats must fit; a round never times shorter than the one
before, and when the budget cannot pay for another round the search goes to the final.

The search state is one JSON Lines file beside the output (``deploy.tune.jsonl``): a header
with the request, a line per round (its timing and candidates) and per round's cuts, and every
bench record (with a ``tune`` section: round, repeat, candidate, seconds spent). A killed
search started again reads it and measures only what is missing.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from hepinfer.backends.registry import backend_class
from hepinfer.errors import ConfigurationError, ResultsError
from hepinfer.measure.timer import TimingPolicy
from hepinfer.results.schema import Key
from hepinfer.runner import bench
from hepinfer.runner import tune_decide as judge
from hepinfer.runner.tune_state import (
    FINALISTS,
    STATE_VERSION,
    State,
    cost_s,
    halving_sizes,
    parse_budget,
    round_timing,
    state_path,
)

__all__ = ["TuneRequest", "label", "parse_budget", "state_path", "tune"]

MIN_TIME_S = 0.05  # the shortest timing a round may give a candidate


@dataclass(frozen=True)
class TuneRequest:
    """What to search and how to judge; the grid fields are those of ``bench.BenchRequest``."""

    model: str
    budget_s: float
    backends: Sequence[str] = ("onnxruntime",)
    batches: Sequence[int] | None = None
    threads: Sequence[int] = (1,)
    options: Mapping[str, Mapping[str, Sequence[str]]] = field(default_factory=dict)
    dims: Mapping[str, int] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    exporter: str = "dynamo"
    seed: int = 0
    reference: str | None = None
    objective: str = "median"
    require_agreement: bool = False
    max_memory_mib: float | None = None
    repeats: int = 5  # worker processes per finalist in the final
    alpha: float = 0.05
    min_change: float = 0.01
    # Warm-up and call limits; each round sets its own max_time_s (and min_time_s to it).
    policy: TimingPolicy = field(default_factory=TimingPolicy)
    timeout_s: float = 900.0
    worker_overhead_s: float = 3.0  # first guess of a worker's start-up, before any is measured

    def __post_init__(self) -> None:
        if self.objective not in judge.OBJECTIVES:
            raise ConfigurationError(
                f"--objective {self.objective}: choose one of {', '.join(judge.OBJECTIVES)}"
            )
        if self.repeats < 4:
            raise ConfigurationError(
                f"--repeats {self.repeats}: the final needs at least 4 processes per finalist "
                "(with 3 the one-sided Mann-Whitney U test cannot reach p < 0.05)"
            )
        if self.max_memory_mib is not None and self.max_memory_mib <= 0:
            raise ConfigurationError(f"--max-memory {self.max_memory_mib:g}: give a positive number of MiB")

    def bench_request(self, max_time_s: float) -> bench.BenchRequest:
        """The bench grid with a round's timing."""
        policy = replace(self.policy, max_time_s=max_time_s, min_time_s=max_time_s)
        return bench.BenchRequest(
            model=self.model,
            backends=list(self.backends),
            batches=list(self.batches) if self.batches else None,
            threads=list(self.threads),
            dims=dict(self.dims),
            params=dict(self.params),
            options={b: {k: list(v) for k, v in o.items()} for b, o in self.options.items()},
            exporter=self.exporter,
            seed=self.seed,
            policy=policy,
            reference=self.reference,
            timeout_s=self.timeout_s,
        )

    def identity(self) -> dict[str, Any]:
        """What makes two searches the same search (a resumed one must match)."""
        out = asdict(self)
        # A resumed search may be given more time, or another worker timeout.
        for name in ("budget_s", "timeout_s", "worker_overhead_s"):
            out.pop(name)
        return json.loads(json.dumps(out, default=list))


def label(key: Key) -> str:
    """``onnxruntime[iobinding=True] batch 16 threads 1``."""
    return f"{key.label()} batch {key.batch} threads {key.threads}"


Event = Callable[[str], None]


def tune(request: TuneRequest, out: Path, on_event: Event | None = None) -> dict[str, Any]:
    """Run (or resume) the search; write and return the deploy document."""
    say = on_event or (lambda _text: None)
    bench_plan = bench.plan(request.bench_request(MIN_TIME_S))  # every bad input fails here
    keys = bench_plan.keys
    state = State.read(state_path(out))
    _check_header(state, request, keys)
    labels = [label(k) for k in keys]
    alive = list(range(len(keys)))
    summary: list[dict[str, Any]] = []
    unavailable = {i: backend_class(k.backend).unavailable_reason() for i, k in enumerate(keys)}
    gone = {i: f"unavailable: {why}" for i, why in unavailable.items() if why}
    alive = [i for i in alive if i not in gone]
    r, prev_t = 0, 0.0
    while True:
        if not alive:
            raise ConfigurationError(
                "no candidate is left: " + "; ".join(f"{labels[i]}: {why}" for i, why in sorted(gone.items()))
            )
        line = state.rounds.get(r) or _plan_round(state, request, r, alive, prev_t, say)
        alive = list(line["candidates"])
        final, repeats, t = bool(line["final"]), int(line["repeats"]), float(line["max_time_s"])
        say(
            f"round {r}: {len(alive)} candidates at {t:.3g} s timing"
            + (f", {repeats} processes each" if final else "")
        )
        for rep in range(repeats):
            _measure(state, request, keys, r, rep, alive, t, say)
        if r in state.cuts:  # judged before a kill: keep that judgement
            kept = list(state.cuts[r]["kept"])
            cut = {int(i): w for i, w in state.cuts[r]["cut"].items()}
        else:
            cut, kept = _judge_round(state, request, r, repeats, alive)
            if not final:
                kept, cut = _halve(state, request, r, t, kept, cut)
            state.write({"tune": "cut", "round": r, "kept": kept, "cut": {str(i): w for i, w in cut.items()}})
        for i, why in cut.items():
            say(f"  cut {labels[i]}: {why}")
        summary.append(_round_summary(state, request, r, line, labels, kept, {**cut}, gone if r == 0 else {}))
        gone.update(cut)
        alive, prev_t = kept, t
        if final:
            break
        r += 1
    if not alive:
        raise ConfigurationError(
            "every candidate is out: " + "; ".join(f"{labels[i]}: {why}" for i, why in sorted(gone.items()))
        )
    finals = {
        labels[i]: [state.records[(r, k, i)] for k in range(repeats) if (r, k, i) in state.records]
        for i in alive
    }
    verdict = judge.decide(finals, request.objective, request.alpha, request.min_change)
    doc = judge.deploy_document(
        request.identity(),
        {
            **bench_plan.ref.to_dict(),
            "dims": dict(bench_plan.dims),
            "exporter": request.exporter,
            "seed": request.seed,
            "reference": bench_plan.reference,
        },
        finals,
        verdict,
        {
            "budget_s": request.budget_s,
            "spent_s": state.spent_s(),
            "candidates": len(keys),
            "rounds": summary,
            "state_file": str(state.path),
        },
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return doc


def _check_header(state: State, request: TuneRequest, keys: Sequence[Key]) -> None:
    ident = request.identity()
    if state.header is None:
        if state.rounds or state.records:
            raise ResultsError(f"{state.path} has no search header; remove it or choose another --out")
        state.header = {
            "tune": "search",
            "version": STATE_VERSION,
            "request": ident,
            "candidates": [k.to_dict() for k in keys],
        }
        state.write(state.header)
        return
    if state.header.get("request") != ident or state.header.get("candidates") != [k.to_dict() for k in keys]:
        old = state.header.get("request") or {}
        differ = sorted(k for k in set(ident) | set(old) if ident.get(k) != old.get(k)) or ["candidates"]
        raise ConfigurationError(
            f"{state.path} holds another search (differs in {', '.join(differ)}); "
            "remove it to start over, or choose another --out"
        )


def _plan_round(
    state: State, request: TuneRequest, r: int, alive: list[int], prev_t: float, say: Event
) -> dict[str, Any]:
    """Timing for round r from the budget left; the final when fewer than three are left."""
    left = request.budget_s - state.spent_s()
    overhead = state.overhead_s(request.worker_overhead_s)
    sizes = halving_sizes(len(alive))
    finalists = min(FINALISTS, len(alive))
    t = round_timing(left, sizes, overhead, request.repeats, finalists)
    if r == 0 and t < MIN_TIME_S:
        need = cost_s(sizes, MIN_TIME_S, overhead, request.repeats, finalists)
        raise ConfigurationError(
            f"--budget {request.budget_s:g}s is too short for {len(alive)} candidates: the search "
            f"needs about {need:.0f}s at {MIN_TIME_S}s timing (~{overhead:.1f}s to start each "
            "worker); raise --budget or narrow the grid"
        )
    line = {
        "tune": "round",
        "round": r,
        "final": not sizes,
        "repeats": request.repeats if not sizes else 1,
        "max_time_s": max(t, prev_t, MIN_TIME_S),
        "candidates": alive,
        "budget_left_s": left,
        "overhead_s": overhead,
    }
    state.rounds[r] = line
    state.write(line)
    return line


def _measure(
    state: State, request: TuneRequest, keys: Sequence[Key], r: int, rep: int,
    alive: Sequence[int], t: float, say: Event,
) -> None:  # fmt: skip
    """One bench run over the round's candidates not yet measured at this repeat."""
    todo = {keys[i]: i for i in alive if (r, rep, i) not in state.records}
    if not todo:
        return
    clock = [time.monotonic()]

    def on_record(record: dict[str, Any]) -> None:
        now = time.monotonic()
        i = todo[Key.from_dict(record["key"])]
        record["tune"] = {"round": r, "repeat": rep, "candidate": i, "spent_s": now - clock[0]}
        clock[0] = now
        state.write(record)
        state.records[(r, rep, i)] = record
        stats = record.get("stats") or {}
        shown = (
            f"{stats.get('per_event_median_ns', float('nan')):.4g} ns/event" if stats else record["status"]
        )
        say(f"  measured {label(keys[i])} (repeat {rep}): {shown}")

    bench.run_bench(request.bench_request(t), skip=lambda k: k not in todo, on_record=on_record)


def _judge_round(
    state: State, request: TuneRequest, r: int, repeats: int, alive: Sequence[int]
) -> tuple[dict[int, str], list[int]]:
    """Candidates out for a reason of their own (error, agreement, memory), and the rest."""
    cut: dict[int, str] = {}
    for i in alive:
        for k in range(repeats):
            record = state.records.get((r, k, i))
            why = (
                "not measured"
                if record is None
                else judge.why_out(record, request.max_memory_mib, request.require_agreement)
            )
            if why is not None:
                cut[i] = why if repeats == 1 else f"{why} (process {k})"
                break
    return cut, [i for i in alive if i not in cut]


def _halve(
    state: State, request: TuneRequest, r: int, t: float, kept: list[int], cut: dict[int, str]
) -> tuple[list[int], dict[int, str]]:
    """The better half by the objective; only the best FINALISTS when the budget left cannot
    pay for another round at no less than this round's timing before the final."""
    scores = {i: judge.score(state.records[(r, 0, i)], request.objective) for i in kept}
    order = sorted(kept, key=lambda i: scores[i][0])
    n_keep = max(FINALISTS, math.ceil(len(order) / 2))
    finalists = min(FINALISTS, n_keep)
    left = request.budget_s - state.spent_s()
    overhead = state.overhead_s(request.worker_overhead_s)
    sizes = halving_sizes(n_keep)
    short = bool(sizes) and round_timing(left, sizes, overhead, request.repeats, finalists) < t
    if short:
        n_keep = FINALISTS
    why = (
        "budget: no time for another round, the best two go to the final"
        if short
        else "not in the better half"
    )
    for rank, i in enumerate(order[n_keep:], start=n_keep + 1):
        cut[i] = f"{why} (rank {rank} of {len(order)} by {scores[i][1]})"
    return order[:n_keep], cut


def _round_summary(
    state: State, request: TuneRequest, r: int, line: dict[str, Any], labels: Sequence[str],
    kept: Sequence[int], cut: Mapping[int, str], gone: Mapping[int, str],
) -> dict[str, Any]:  # fmt: skip
    rows = []
    for i in [*line["candidates"], *gone]:
        figures = [
            judge.figure(state.records[(r, k, i)], request.objective)
            for k in range(int(line["repeats"]))
            if (r, k, i) in state.records
        ]
        values = sorted(v for v, _ in figures if v is not None)
        value = values[len(values) // 2] if values else None  # the median process's figure
        unit = figures[0][1] if figures else ""
        status = "kept" if i in kept else "cut"
        rows.append({"candidate": labels[i], "figure": value, "unit": unit, "status": status,
                     "reason": cut.get(i) or gone.get(i)})  # fmt: skip
    return {
        "round": r,
        "final": bool(line["final"]),
        "max_time_s": line["max_time_s"],
        "repeats": line["repeats"],
        "candidates": rows,
    }
