"""Progress of ``zoo --cost`` and ``eventloop``: one line per finished item on stderr when it is
not a terminal, a live bar with a known total on a terminal, and stdout left clean."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hepinfer.zoo import ENTRIES

EVENTLOOP = ["eventloop", "linear_event", "--backend", "onnxruntime", "--threads", "1,2"]
EVENTLOOP += ["--mode", "shared,per-thread", "--strategy", "per-event", "--events", "40", "--json"]
# 1 thread folds the modes into one: shared N=1, shared N=2, per-thread N=2
EVENTLOOP_CONFIGS = 3


def _hepinfer(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "hepinfer.cli.main", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, check=False)


def _progress(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if re.match(r"\[\d+/\d+\] ", line)]


@pytest.mark.slow
def test_eventloop_prints_one_line_per_configuration_off_a_terminal(tmp_path: Path) -> None:
    # Before: only "[1/3] onnxruntime per-event shared N=1" as each one started, nothing at its end.
    proc = _hepinfer(*EVENTLOOP, "--out", str(tmp_path / "el.jsonl"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = _progress(proc.stderr)
    assert [line.split("]")[0] for line in lines] == [f"[{i}/{EVENTLOOP_CONFIGS}" for i in (1, 2, 3)]
    records = [json.loads(x) for x in proc.stdout.splitlines()]  # stdout: only the JSON Lines
    assert len(records) == EVENTLOOP_CONFIGS
    for line, record in zip(lines, records, strict=True):
        k = record["key"]
        mode, threads = record["eventloop"]["mode"], k["threads"]
        assert f" onnxruntime per-event {mode} N={threads}: ok, " in line
        events_per_s = f"{record['stats']['events_per_s']:,.0f} events/s"
        assert events_per_s in line and " per event (" in line


@pytest.mark.slow
def test_eventloop_on_a_terminal_shows_a_bar_with_its_total(tmp_path: Path) -> None:
    args = [sys.executable, "-m", "hepinfer.cli.main", *EVENTLOOP, "--out", str(tmp_path / "el.jsonl")]
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "200", "TERM": "xterm"}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=follower, cwd=tmp_path, env=env)
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the pty closes when the process ends
            break
        if not chunk:
            break
        seen += chunk
    assert proc.stdout is not None
    with proc.stdout:
        stdout = proc.stdout.read()
    assert proc.wait() == 0
    os.close(leader)
    text = seen.decode(errors="replace")
    assert f"/{EVENTLOOP_CONFIGS}" in text and "None" not in text
    assert not _progress(text)  # the bar, not the lines
    assert len(stdout.decode().splitlines()) == EVENTLOOP_CONFIGS


@pytest.mark.slow
def test_zoo_cost_prints_one_line_per_model_off_a_terminal(tmp_path: Path) -> None:
    # Before: minutes of exports with nothing on stderr.
    # One family (two small VAEs) keeps the exports short; the lines are the same for all 23.
    proc = _hepinfer("zoo", "--cost", "--no-count", "--json", "--family", "vae", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)  # stdout: only the JSON array
    lines = _progress(proc.stderr)
    n = len([e for e in ENTRIES.values() if e.family == "vae"])
    assert n == 2
    assert len(rows) == len(lines) == n
    for i, (line, row) in enumerate(zip(lines, rows, strict=True), start=1):
        macs = f"{row['macs_per_event']:,.0f}" if float(row["macs_per_event"]).is_integer() else None
        assert line.startswith(f"[{i}/{n}] {row['model']}: ")
        assert f"{row['weight_bytes']:,} weight bytes" in line
        assert macs is None or f"{macs} MACs per event" in line
