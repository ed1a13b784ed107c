"""``make demo``'s first half: a quick sweep of the zoo over the CPU backends and its HTML report
(the second half, the seed studies, is repository tooling: ``benchmarks/seeds``).

Reads ``benchmarks/demo.yaml`` (or the same grid built in, outside a checkout), keeps the
backends that can run here, writes that configuration to ``results/demo-sweep.yaml``, runs
it with ``hepinfer sweep --resume`` into ``results/demo.jsonl`` (an interrupted demo goes on
where it stopped) and writes ``results/demo.html`` (plus Markdown, CSV and PNG/PDF plots),
printing its path. Measured on 2 cores: about 3 minutes.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

BUILTIN = """\
name: demo
models:
  - name: linear_event
    backends: [pytorch, onnxruntime, openvino, sofie]
  - higgs_model_dense
  - name: jet_vae
    backends: [tensorflow, pytorch, onnxruntime, openvino]
    batches: [1, 16]
  - name: event_vae
    backends: [pytorch, onnxruntime, openvino, sofie]
    threads: [1, 2]
backends: [pytorch, onnxruntime, tensorflow, openvino, sofie]
batches: [1, 16, 256]
threads: [1]
timing: {max_time_s: 0.5, min_calls: 20, rel_ci: 0.02, warmup_calls: 5, warmup_s: 0.05}
timeout_s: 300
"""
RESULTS = Path("results")


def config(source: Path | None = None) -> dict[str, Any]:
    """The demo grid with only the backends usable here."""
    from hepinfer._optional import require
    from hepinfer.backends.registry import usable

    yaml = require("yaml", "the demo (its grid is YAML)")

    source = source or Path("benchmarks/demo.yaml")
    data: dict[str, Any] = yaml.safe_load(source.read_text() if source.exists() else BUILTIN)
    keep, dropped = usable(list(data.get("backends", [])))
    for name, why in dropped.items():
        print(f"demo: leaving out {name}: {why}", file=sys.stderr)
    data["backends"] = keep
    for model in data["models"]:  # a model's own backend list loses the same ones
        if isinstance(model, dict) and "backends" in model:
            model["backends"] = [b for b in model["backends"] if b not in dropped]
    return data


def main() -> int:
    """Sweep, report, print the report's path (through the Python API, as a user would)."""
    import hepinfer
    from hepinfer._optional import require
    from hepinfer.errors import HepinferError

    yaml = require("yaml", "the demo (its grid is YAML)")

    RESULTS.mkdir(exist_ok=True)
    grid = RESULTS / "demo-sweep.yaml"
    grid.write_text(yaml.safe_dump(config(), sort_keys=False))
    out, html = RESULTS / "demo.jsonl", RESULTS / "demo.html"

    def progress(record: dict[str, Any]) -> None:
        key = record["key"]
        what = "ok" if record["status"] == "ok" else f"error: {record['error']['message']}"
        print(f"demo: {key['model']} {key['backend']} batch {key['batch']} threads {key['threads']}: {what}",
              file=sys.stderr)  # fmt: skip

    try:
        records = hepinfer.sweep(grid, out=out, resume=True, on_record=progress)
        if not out.exists():
            print("demo: no records were written", file=sys.stderr)
            return 1
        written = hepinfer.write_report(
            out, html=html, md=RESULTS / "demo.md", csv=RESULTS / "demo.csv", plots=RESULTS / "demo-plots"
        )
    except HepinferError as err:
        print(f"demo: {err}", file=sys.stderr)
        return 1
    failed = sum(r["status"] != "ok" for r in records)
    print(f"demo: {len(records)} configurations measured now, {failed} failed; "
          f"the report covers {written.configurations}")  # fmt: skip
    print(f"demo report: {html.resolve()}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
