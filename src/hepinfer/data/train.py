"""Quick training of the anomaly-detection VAEs on generated QCD, scored on graviton signals.

The VAE learns to reconstruct background (QCD dijets); its reconstruction error (MSE per row:
per event for event_vae, per AK8 jet for jet_vae) is the anomaly score, and the ROC AUC of
QCD against each graviton sample says how well it separates them. Everything is seeded (the
generation, the split, the initial weights from the zoo, the batch order) and cached: the
weights and the result under a digest of the model, the data files and the settings.

``train_vae`` and ``reconstruction_error`` take any torch module whose forward takes the
inputs by name and returns (reconstruction of ``target``, z_mean, z_log_var), so a model the
catalog of this build lacks can be passed in.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hepinfer._optional import require
from hepinfer.data import builders, generate, store
from hepinfer.errors import ConfigurationError

SIGNALS = ("graviton-narrow", "graviton-broad")
TARGET = {"event_vae": "objects", "jet_vae": "jet"}


def roc_auc(background: np.ndarray, signal: np.ndarray) -> float:
    """ROC AUC of score > cut, signal vs background (Mann-Whitney; ties count half)."""
    b = np.asarray(background, np.float64)
    s = np.asarray(signal, np.float64)
    if len(b) == 0 or len(s) == 0:
        raise ValueError("roc_auc needs background and signal scores")
    allv = np.concatenate([b, s])
    order = np.argsort(allv, kind="mergesort")
    ranks = np.empty(len(allv), np.float64)
    sorted_v = allv[order]
    # average ranks over ties
    _, start, counts = np.unique(sorted_v, return_index=True, return_counts=True)
    avg = start + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    r_s = ranks[len(b) :].sum()
    return float((r_s - len(s) * (len(s) + 1) / 2.0) / (len(s) * len(b)))


def model_inputs(model: str, events: Any, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """A VAE's inputs from event records (event_vae: per event; jet_vae: 2 leading AK8 jets)."""
    if model == "event_vae":
        return builders.event_vae_inputs(events, rows=int(params.get("R", 32)))
    if model == "jet_vae":
        return builders.jet_vae_inputs(builders.leading_fatjets(events))
    raise ConfigurationError(f"no training recipe for {model}: use event_vae or jet_vae")


def feature_scale(x: np.ndarray) -> np.ndarray:
    """Per-feature (last axis) standard deviation over all rows and slots, padding included:
    reconstruction errors are divided by it, so that no feature's units dominate."""
    flat = x.reshape(-1, x.shape[-1])
    return np.maximum(flat.std(axis=0), 1e-6).astype(np.float32)


def train_vae(
    module: Any,
    inputs: Mapping[str, np.ndarray],
    target: str,
    epochs: int = 20,
    seed: int = 1,
    batch_size: int = 128,
    lr: float = 1e-3,
    beta: float = 1e-3,
    scale: np.ndarray | None = None,
    log: Callable[[str], None] | None = None,
) -> list[float]:
    """Fit ``module`` to reconstruct ``inputs[target]``: mean of ((recon - x) / scale)^2 plus
    beta * KL; returns the epoch losses. ``scale`` defaults to feature_scale(inputs[target]).

    ``module``'s forward takes the inputs (keyword) and returns (recon, z_mean, z_log_var).
    """
    torch = require("torch", "training the VAEs")

    torch.manual_seed(seed)
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in inputs.items()}
    inv = torch.from_numpy(1.0 / (feature_scale(inputs[target]) if scale is None else scale))
    n = len(tensors[target])
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(module.parameters(), lr=lr)
    module.train()
    losses = []
    for epoch in range(epochs):
        perm = torch.randperm(n, generator=gen)
        total = 0.0
        for start in range(0, n - 1, batch_size):
            idx = perm[start : start + batch_size]
            if len(idx) < 2:  # batch norm needs two rows
                continue
            recon, mu, logvar = module(**{k: v[idx] for k, v in tensors.items()})
            mse = (((recon - tensors[target][idx]) * inv) ** 2).mean()
            kl = -0.5 * torch.mean(1 + logvar - mu**2 - logvar.exp())
            loss = mse + beta * kl
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / n)
        if log is not None and (epoch + 1) % max(1, epochs // 5) == 0:
            log(f"epoch {epoch + 1}/{epochs}: loss {losses[-1]:.4g}")
    module.eval()
    return losses


def reconstruction_error(
    module: Any, inputs: Mapping[str, np.ndarray], target: str, scale: np.ndarray | None = None
) -> np.ndarray:
    """Anomaly score: mean of ((recon - x) / scale)^2 per row (eval mode, no gradient)."""
    torch = require("torch", "training the VAEs")

    module.eval()
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in inputs.items()}
    with torch.no_grad():
        recon = module(**tensors)[0].numpy()
    err = ((recon - inputs[target]) / (1.0 if scale is None else scale)) ** 2
    return err.reshape(len(err), -1).mean(axis=1)


def kl_score(module: Any, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
    """The other usual anomaly score: KL divergence of the encoded Gaussian from N(0, 1) per row."""
    torch = require("torch", "training the VAEs")

    module.eval()
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in inputs.items()}
    with torch.no_grad():
        _, mu, logvar = module(**tensors)
    kl = -0.5 * (1 + logvar - mu**2 - logvar.exp())
    return kl.sum(dim=1).numpy()


def _split(inputs: Mapping[str, np.ndarray], frac: float, seed: int) -> tuple[dict[str, np.ndarray], ...]:
    n = len(next(iter(inputs.values())))
    perm = np.random.default_rng(seed).permutation(n)
    cut = int(n * frac)
    return (
        {k: v[perm[:cut]] for k, v in inputs.items()},
        {k: v[perm[cut:]] for k, v in inputs.items()},
    )


def train_and_score(
    model: str,
    events: int = 2000,
    epochs: int = 20,
    seed: int = 1,
    params: Mapping[str, Any] | None = None,
    module: Any = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Generate (or reuse) QCD and graviton samples, train on 80% of QCD, score the rest.

    ``module``: the torch module to train (default: the zoo's, from this build's catalog).
    Returns {"auc": {signal: AUC of the reconstruction error}, "auc_kl": {signal: AUC of the
    KL score}, "weights": path, "losses": [...], ...}; cached.
    """
    torch = require("torch", "training the VAEs")

    from hepinfer.cache import cache_dir, digest

    params = dict(params or {})
    if module is None:
        from hepinfer.zoo import entry

        zoo = entry(model)  # raises, naming the known models, if this build lacks it
        params = zoo.params(params)
        module = zoo.build(params)
    say = log or (lambda _line: None)
    files = {}
    for process in ("qcd", *SIGNALS):
        n = events if process == "qcd" else max(events // 2, 1)
        say(f"events: {process} x {n}")
        path, _ = generate.cached(process, n, seed)
        files[process] = path
    keys = {p: store.metadata(f)["key"] for p, f in files.items()}
    n_params = sum(int(p.numel()) for p in module.parameters())
    key = digest(model, params, keys, epochs, seed, n_params, type(module).__name__, 3)
    out_dir = cache_dir() / "trained"
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = out_dir / f"{model}-{key}.pt"
    summary = out_dir / f"{model}-{key}.json"
    target = TARGET[model]
    bkg = model_inputs(model, store.read(files["qcd"]), params)
    train_in, test_in = _split(bkg, 0.8, seed)
    if weights.exists() and summary.exists():
        module.load_state_dict(torch.load(weights, weights_only=True))
        module.eval()
        return {**json.loads(summary.read_text()), "weights": str(weights), "cached": True}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a shared machine: one core
    try:
        scale = feature_scale(train_in[target])
        losses = train_vae(module, train_in, target, epochs=epochs, seed=seed, scale=scale, log=say)
        score_b = reconstruction_error(module, test_in, target, scale)
        kl_b = kl_score(module, test_in)
        auc, auc_kl = {}, {}
        for s in SIGNALS:
            sig_in = model_inputs(model, store.read(files[s]), params)
            auc[s] = roc_auc(score_b, reconstruction_error(module, sig_in, target, scale))
            auc_kl[s] = roc_auc(kl_b, kl_score(module, sig_in))
    finally:
        torch.set_num_threads(threads)
    tmp = weights.with_suffix(".tmp")
    torch.save(module.state_dict(), tmp)
    tmp.replace(weights)
    result = {
        "model": model,
        "params": params,
        "epochs": epochs,
        "seed": seed,
        "auc": auc,
        "auc_kl": auc_kl,
        "scale": scale.tolist(),
        "losses": losses,
        "train_rows": len(train_in[target]),
        "test_rows": len(test_in[target]),
        "data": {p: str(f) for p, f in files.items()},
    }
    summary.write_text(json.dumps(result, indent=1))
    return {**result, "weights": str(weights), "cached": False}


def load_trained(model: str, weights: str | Path, params: Mapping[str, Any] | None = None) -> Any:
    """The zoo module with weights from ``train_and_score`` (eval mode)."""
    torch = require("torch", "training the VAEs")

    from hepinfer.zoo import entry

    zoo = entry(model)
    module = zoo.build(zoo.params(dict(params or {})))
    module.load_state_dict(torch.load(Path(weights), weights_only=True))
    return module.eval()
