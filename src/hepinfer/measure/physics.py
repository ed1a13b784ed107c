"""Physics-level parity: does a backend change what an analysis would select?

On a signal and a background sample, each backend's per-event score is compared with the
reference's: the Kolmogorov-Smirnov distance between their score distributions, the ROC AUC of
each and its difference, and the fraction of events whose selection flips at a working point
(the reference's cut at 1% background efficiency, applied to both). An anomaly-detection VAE's
score is its reconstruction loss. numpy only; scipy is not needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hepinfer.zoo.spec import ModelSpec


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: sup |F_a(x) - F_b(x)| of the empirical CDFs."""
    a = np.sort(np.asarray(a, dtype=np.float64).ravel())
    b = np.sort(np.asarray(b, dtype=np.float64).ravel())
    if not a.size or not b.size:
        raise ValueError("KS distance of an empty sample")
    grid = np.concatenate([a, b])
    fa = np.searchsorted(a, grid, side="right") / a.size
    fb = np.searchsorted(b, grid, side="right") / b.size
    return float(np.max(np.abs(fa - fb)))


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    # Group equal values: the average of the ranks each group spans.
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    ends = np.r_[starts[1:], xs.size]
    avg = (starts + ends + 1) / 2.0  # mean of ranks starts+1 .. ends
    ranks = np.empty(x.size, dtype=np.float64)
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def roc_auc(signal: np.ndarray, background: np.ndarray) -> float:
    """Area under the ROC curve: P(signal score > background score), ties counting one half."""
    s = np.asarray(signal, dtype=np.float64).ravel()
    b = np.asarray(background, dtype=np.float64).ravel()
    if not s.size or not b.size:
        raise ValueError("ROC AUC needs both a signal and a background sample")
    ranks = _ranks(np.concatenate([s, b]))
    u = ranks[: s.size].sum() - s.size * (s.size + 1) / 2.0  # Mann-Whitney U of the signal
    return float(u / (s.size * b.size))


def cut_at_background_efficiency(background: np.ndarray, efficiency: float) -> float:
    """The score cut that selects (score > cut) the given fraction of the background."""
    if not 0 < efficiency < 1:
        raise ValueError(f"background efficiency {efficiency} must be between 0 and 1")
    return float(np.quantile(np.asarray(background, dtype=np.float64), 1.0 - efficiency))


def parity(
    ref_signal: np.ndarray,
    ref_background: np.ndarray,
    got_signal: np.ndarray,
    got_background: np.ndarray,
    background_efficiency: float = 0.01,
) -> dict[str, Any]:
    """KS distance, AUCs, and selection flips of a backend's scores against the reference's."""
    ref_all = np.concatenate([ref_signal, ref_background])
    got_all = np.concatenate([got_signal, got_background])
    nonfinite = int(np.count_nonzero(~np.isfinite(got_all) & np.isfinite(ref_all)))
    # A NaN score is never selected, and sorts last for KS/AUC.
    clean = lambda x: np.nan_to_num(np.asarray(x, np.float64), nan=-np.inf)  # noqa: E731
    auc_ref = roc_auc(clean(ref_signal), clean(ref_background))
    auc_got = roc_auc(clean(got_signal), clean(got_background))
    cut = cut_at_background_efficiency(clean(ref_background), background_efficiency)
    sel_ref = clean(ref_all) > cut
    sel_got = clean(got_all) > cut
    return {
        "events": int(ref_all.size),
        "ks_signal": ks_distance(clean(ref_signal), clean(got_signal)),
        "ks_background": ks_distance(clean(ref_background), clean(got_background)),
        "auc_reference": auc_ref,
        "auc": auc_got,
        "auc_difference": auc_got - auc_ref,
        "working_point": {"background_efficiency": background_efficiency, "cut": cut},
        "signal_efficiency_reference": float(np.mean(clean(ref_signal) > cut)),
        "signal_efficiency": float(np.mean(clean(got_signal) > cut)),
        "selection_flips": int(np.count_nonzero(sel_ref != sel_got)),
        "selection_flip_fraction": float(np.mean(sel_ref != sel_got)),
        "nonfinite_scores": nonfinite,
    }


def score_kind(spec: ModelSpec) -> str:
    """How a model's per-event score is made, in words for the report."""
    rec = _reconstruction(spec)
    if rec is not None:
        return f"reconstruction loss: mean squared error of {rec[0]} vs input {rec[1]}"
    out = spec.outputs[0]
    return f"{out.name}[..., -1] (last column of the first output)"


def _reconstruction(spec: ModelSpec) -> tuple[str, str] | None:
    """(output, input) of an autoencoder: an output shaped like an input."""
    for o in spec.outputs:
        for i in spec.inputs:
            if o.shape == i.shape and i.role == "features":
                return o.name, i.name
    return None


def scores(
    spec: ModelSpec, inputs: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray]
) -> np.ndarray:
    """One score per event: the reconstruction loss of an autoencoder, else the first
    output's last column (a classifier's signal probability)."""
    rec = _reconstruction(spec)
    if rec is not None:
        out, inp = rec
        x = np.asarray(inputs[inp], np.float64)
        y = np.asarray(outputs[out], np.float64)
        return np.mean((y - x).reshape(x.shape[0], -1) ** 2, axis=1)
    first = np.asarray(outputs[spec.outputs[0].name], np.float64)
    return first.reshape(first.shape[0], -1)[:, -1]


def signal_like(spec: ModelSpec, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A 'signal' sample from a background one: every feature scaled by 1.5 (harder spectra),
    padding (zeros), masks and indices untouched."""
    out = {}
    for t in spec.inputs:
        x = inputs[t.name]
        out[t.name] = (x * np.asarray(1.5, x.dtype)).astype(x.dtype) if t.role == "features" else x
    return out
