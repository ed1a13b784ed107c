"""Where the command tables are printed: a terminal at its width, a pipe or file whole."""

from __future__ import annotations

import sys

from rich.console import Console

# Wide enough for any table hepinfer builds: rich shrinks columns (and cuts names to "linear_…")
# only when a table is wider than the console, and pads no line to the console's width.
PIPE_WIDTH = 10_000


def stdout_console() -> Console:
    """rich's Console for stdout: the terminal's width on a terminal, else one that never
    wraps or truncates a cell, so that ``hepinfer zoo | cat`` and ``> file`` keep every name."""
    if sys.stdout.isatty():
        return Console()
    return Console(width=PIPE_WIDTH)
