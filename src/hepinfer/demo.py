"""``make demo``: the main job on the built-in default, with its result printed and written.

Measures event_vae (the DarkMachines seed study) on ONNX Runtime and PyTorch at batch 1, 16
and 256 with one thread, appends the records to results/demo.jsonl and prints the table.
"""

from __future__ import annotations

import sys

from hepinfer.cli.main import main as cli


def main() -> int:
    """Run the demo bench."""
    return cli(
        ["bench", "event_vae", "--backend", "onnxruntime,pytorch", "--batch", "1,16,256",
         "--threads", "1", "--max-time", "3", "--out", "results/demo.jsonl"]
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
