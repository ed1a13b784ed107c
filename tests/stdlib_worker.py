"""A worker that uses only the measuring core, for the test that runs it under another
interpreter (one without numpy): ``python -m stdlib_worker JOB.json``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hepinfer.measure.timer import TimingPolicy, measure
from hepinfer.runner.protocol import Phases, heavy_modules, serve


def body(job: dict[str, Any], phases: Phases) -> dict[str, Any]:
    """Time a pure-Python call the way a backend's run is timed, through the protocol."""
    phases.enter("timing")
    timed = measure(sum, range(job["n"]), TimingPolicy(**job["policy"]))
    return {
        "timing": timed.to_dict(),
        "python": sys.version.split()[0],
        "modules": heavy_modules(),
        "numpy": "numpy" in sys.modules,
        "guard": job.get("parent_guard"),
    }


if __name__ == "__main__":
    sys.exit(serve(Path(sys.argv[1]), body))
