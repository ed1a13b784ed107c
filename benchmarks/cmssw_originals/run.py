"""The command line: run the parts asked for, print their tables, write records and tables."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import cmssw_originals
from cmssw_originals.agreement import agreement, agreement_table
from cmssw_originals.inputs import realistic_jets
from cmssw_originals.models import ROOT
from cmssw_originals.timing import timing, timing_table
from cmssw_originals.verify import verify, verify_table
from hepinfer.data.tagger_particles import particle_counts


def main() -> int:
    """Run the parts asked for, print their tables, write records and tables."""
    p = argparse.ArgumentParser(description=(cmssw_originals.__doc__ or "").splitlines()[0])
    p.add_argument("--parts", default="timing,agreement,verify")
    p.add_argument("--max-time", type=float, default=5.0)
    p.add_argument("--events", type=int, default=200, help="generated events per sample (2 jets each)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "cmssw_originals"))
    ns = p.parse_args()
    parts = set(ns.parts.split(","))
    out = Path(ns.out)
    out.mkdir(parents=True, exist_ok=True)
    tables = []
    if "timing" in parts:
        rows = timing(ns.max_time, out / "records.jsonl")
        (out / "rows.json").write_text(json.dumps(rows, indent=1))
        tables.append(timing_table(rows))
    if parts & {"agreement", "verify"}:
        jets = realistic_jets(ns.events)
        with tempfile.TemporaryDirectory(prefix="cmssw-originals-") as tmp:
            if "agreement" in parts:
                rows = agreement(jets, Path(tmp))
                (out / "agreement.json").write_text(json.dumps(rows, indent=1))
                tables.append(agreement_table(rows, particle_counts(jets)))
            if "verify" in parts:
                rows = verify(jets, Path(tmp))
                (out / "verify.json").write_text(json.dumps(rows, indent=1))
                tables.append(verify_table(rows))
    text = "\n\n".join(tables)
    print(text)
    (out / f"table.{'-'.join(sorted(parts))}.md").write_text(text + "\n")
    return 0
