"""``hepinfer data``: generate events (Pythia 8 + fastjet), describe event files, find real ones."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hepinfer.errors import ConfigurationError


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Subcommands generate, info, real and train."""
    sub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    g = sub.add_parser("generate", help="generate events with Pythia 8 + fastjet (cached)")
    g.add_argument("--process", required=True, help="qcd, graviton-narrow or graviton-broad")
    g.add_argument("--events", type=int, default=1000, help="number of events (default: %(default)s)")
    g.add_argument("--seed", type=int, default=1, help="Pythia seed (default: %(default)s)")
    g.add_argument("--out", help="parquet file to write (default: the cache, keyed by the settings)")
    i = sub.add_parser("info", help="what an event file holds")
    i.add_argument("file", help="a parquet file from 'data generate' or a testdata ROOT file")
    r = sub.add_parser("real", help="path of a packaged real CMS file (hzz or zmumu)")
    r.add_argument("name", choices=("hzz", "zmumu"))
    t = sub.add_parser("train", help="train a VAE on generated QCD and score signal (ROC AUC)")
    t.add_argument("model", choices=("event_vae", "jet_vae"))
    t.add_argument("--events", type=int, default=2000, help="events per sample (default: %(default)s)")
    t.add_argument("--epochs", type=int, default=20, help="training epochs (default: %(default)s)")
    t.add_argument("--seed", type=int, default=1, help="seed of generation and training")


def execute(ns: argparse.Namespace) -> int:
    """Dispatch to the action."""
    action = {"generate": _generate, "info": _info, "real": _real, "train": _train}[ns.data_command]
    return action(ns)


def _generate(ns: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from hepinfer.data import generate

    generate.settings(ns.process, ns.seed)  # checks before Pythia starts
    if ns.events < 1:
        raise ConfigurationError(f"--events {ns.events}: generate at least 1 event")
    with Progress(
        TextColumn(f"{ns.process}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} events"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task("gen", total=ns.events)
        path, was_cached = generate.cached(
            ns.process,
            ns.events,
            ns.seed,
            Path(ns.out) if ns.out else None,
            progress=lambda done, total: progress.update(task, completed=done),
        )
    print(f"{'cached' if was_cached else 'wrote'} {path}", file=sys.stderr)
    print(path)
    return 0


def _info(ns: argparse.Namespace) -> int:
    from hepinfer.data.describe import describe
    from hepinfer.report.events import event_file_lines

    for line in event_file_lines(describe(Path(ns.file))):
        print(line)
    return 0


def _real(ns: argparse.Namespace) -> int:
    from hepinfer.data import real

    print(real.path_of(ns.name))
    return 0


def _train(ns: argparse.Namespace) -> int:
    from hepinfer.data import train

    result = train.train_and_score(
        ns.model,
        events=ns.events,
        epochs=ns.epochs,
        seed=ns.seed,
        log=lambda line: print(line, file=sys.stderr),
    )
    for signal, auc in result["auc"].items():
        print(
            f"{ns.model}: ROC AUC QCD vs {signal}: reconstruction {auc:.3f}, "
            f"KL {result['auc_kl'][signal]:.3f}"
        )
    print(f"weights: {result['weights']}")
    return 0
