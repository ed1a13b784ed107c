"""The tuner's bookkeeping: the budget, the search state file, and the timing plan.

The state file is JSON Lines, appended whole (``jsonl.append``: one write, fsynced, records
type-checked): a ``search`` header with the request and the candidates, a ``round`` line per
round (its timing, repeats and candidates), a ``cut`` line per judged round (kept, and why each
other is out), and every bench record with a ``tune`` section (round, repeat, candidate,
seconds spent). A line torn by a killed writer is skipped on reading.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hepinfer.errors import ConfigurationError, ResultsError
from hepinfer.results import jsonl
from hepinfer.results.schema import migrate

FINALISTS = 2
STATE_VERSION = 1
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_budget(text: str) -> float:
    """``90s``, ``10m``, ``1h`` (or ``1.5h``) in seconds; a one-line error otherwise."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh])\s*", text or "")
    if match is None:
        raise ConfigurationError(f"--budget {text!r}: expected a duration such as 90s, 10m or 1h")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ConfigurationError(f"--budget {text}: the budget must be more than zero")
    return seconds


def state_path(out: Path) -> Path:
    """The search state beside the output: ``deploy.json`` -> ``deploy.tune.jsonl``."""
    return out.with_name(out.stem + ".tune.jsonl")


@dataclass
class State:
    """The search file as read: header, round lines, cut lines, records by (round, repeat, candidate)."""

    path: Path
    header: dict[str, Any] | None = None
    rounds: dict[int, dict[str, Any]] = field(default_factory=dict)
    cuts: dict[int, dict[str, Any]] = field(default_factory=dict)
    records: dict[tuple[int, int, int], dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> State:
        """Every complete line; a torn last line (a killed writer) is skipped."""
        state = cls(path)
        if not path.exists():
            return state
        for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
            try:
                line = json.loads(raw)
            except json.JSONDecodeError:
                continue
            if not isinstance(line, dict):
                raise ResultsError(f"{path}:{number} is not a tune state line; choose another --out")
            what = line.get("tune")
            if what == "search":
                state.header = line
            elif what == "round":
                state.rounds[int(line["round"])] = line
            elif what == "cut":
                state.cuts[int(line["round"])] = line
            elif "kind" in line and isinstance(line.get("tune"), dict):
                t = line["tune"]
                state.records[(t["round"], t["repeat"], t["candidate"])] = migrate(line, f"{path}:{number}")
            else:
                raise ResultsError(f"{path}:{number} is not a tune state line; choose another --out")
        return state

    def write(self, line: dict[str, Any]) -> None:
        """Append one line whole (``jsonl.append``: one write, fsynced; records type-checked)."""
        jsonl.append(self.path, line)

    def spent_s(self) -> float:
        """Seconds of measurement the records so far cost (what the budget has paid)."""
        return sum(float(r["tune"].get("spent_s", 0.0)) for r in self.records.values())

    def overhead_s(self, default: float) -> float:
        """Mean seconds a record cost beyond its timed loop (start-up, load, reference runs)."""
        extra = [
            float(r["tune"]["spent_s"]) - float((r.get("timing") or {}).get("wall_s") or 0.0)
            for r in self.records.values()
            if "spent_s" in r["tune"]
        ]
        return max(sum(extra) / len(extra), 0.1) if extra else default


def halving_sizes(n: int) -> list[int]:
    """Candidates per halving round until FINALISTS are left (the final not included)."""
    sizes = []
    while n > FINALISTS:
        sizes.append(n)
        n = math.ceil(n / 2)
    return sizes


def cost_s(sizes: Sequence[int], t: float, overhead: float, repeats: int, finalists: int) -> float:
    """Seconds the rounds of ``sizes`` (timing t, 2t, ...) and the final would take."""
    rounds = sum(n * (overhead + t * 2**i) for i, n in enumerate(sizes))
    return rounds + repeats * finalists * (overhead + t * 2 ** len(sizes))


def round_timing(left_s: float, sizes: Sequence[int], overhead: float, repeats: int, finalists: int) -> float:
    """The timing t of the current round for which the rest of the search fits ``left_s``."""
    workers = sum(sizes) + repeats * finalists
    weight = sum(n * 2**i for i, n in enumerate(sizes)) + repeats * finalists * 2 ** len(sizes)
    return (left_s - overhead * workers) / weight
