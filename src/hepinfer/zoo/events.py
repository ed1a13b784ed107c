"""Synthetic but realistic event content: falling pT spectra, angles in acceptance, empty slots.

Units: energies and momenta in units of 100 GeV, so that inputs are of order one as a trained
model's preprocessing would make them.
"""

from __future__ import annotations

import numpy as np

# event_vae's object rows, in the presentation's order (R=39): 15 jets, then 4 of each kind.
_OBJECT_GROUPS = (
    ("jet", 15, 4.0),
    ("bjet", 4, 1.0),
    ("mu+", 4, 0.3),
    ("mu-", 4, 0.3),
    ("e+", 4, 0.3),
    ("e-", 4, 0.3),
    ("photon", 4, 0.4),
)


def falling_pt(
    rng: np.random.Generator, size: tuple[int, ...] | int, minimum: float = 0.2
) -> np.ndarray:
    """A steeply falling spectrum above ``minimum``: pT ~ minimum * U^(-1/3) (power law n=4)."""
    u = rng.uniform(1e-3, 1.0, size)
    return minimum * u ** (-1.0 / 3.0)


def event_layout(rows: int) -> list[tuple[str, int, float]]:
    """Object groups (name, slots, mean multiplicity) filling ``rows`` rows.

    Jets take what the fixed 4-slot groups leave (R=39: 15 jets; R=32: 8 jets); with fewer
    than 25 rows, all rows are jets.
    """
    if rows < 25:
        return [("jet", rows, 4.0)]
    return [("jet", rows - 24, 4.0), *_OBJECT_GROUPS[1:]]


def event_objects(rng: np.random.Generator, batch: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """event_vae inputs: objects [B,1,R,4] as (E, pT, eta, phi), empty slots zero; MET [B,1]."""
    objects = np.zeros((batch, 1, rows, 4), dtype=np.float32)
    row = 0
    for _name, slots, mean in event_layout(rows):
        n = np.minimum(rng.poisson(mean, batch), slots)
        pt = -np.sort(-falling_pt(rng, (batch, slots)), axis=1)  # sorted by falling pT
        eta = np.clip(rng.normal(0.0, 1.4, (batch, slots)), -2.5, 2.5)
        phi = rng.uniform(-np.pi, np.pi, (batch, slots))
        real = np.arange(slots)[None, :] < n[:, None]
        block = np.stack([pt * np.cosh(eta), pt, eta, phi], axis=-1) * real[..., None]
        objects[:, 0, row : row + slots, :] = block
        row += slots
    met = rng.exponential(0.4, (batch, 1)).astype(np.float32)
    return objects, met


def higgs_features(rng: np.random.Generator, batch: int) -> np.ndarray:
    """Seven high-level features of the Higgs MLP: positive, of order one, skewed like masses."""
    return rng.lognormal(mean=0.0, sigma=0.5, size=(batch, 7)).astype(np.float32)
