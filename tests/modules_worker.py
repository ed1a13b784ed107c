"""The real worker (``hepinfer.runner.worker``, or the module in $HEPINFER_TEST_WORKER), which
also writes the names in its ``sys.modules`` at exit to $HEPINFER_TEST_MODULES, for the tests
of what a worker imports."""

from __future__ import annotations

import atexit
import json
import os
import runpy
import sys


def _dump() -> None:
    with open(os.environ["HEPINFER_TEST_MODULES"], "w") as f:
        json.dump(sorted(sys.modules), f)


if __name__ == "__main__":
    atexit.register(_dump)
    module = os.environ.get("HEPINFER_TEST_WORKER", "hepinfer.runner.worker")
    runpy.run_module(module, run_name="__main__", alter_sys=True)
