"""The real worker (``hepinfer.runner.worker``), which also writes the names in its
``sys.modules`` at exit to $HEPINFER_TEST_MODULES, for the tests of what a worker imports."""

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
    runpy.run_module("hepinfer.runner.worker", run_name="__main__", alter_sys=True)
