"""Objects per event: the seeded distribution an event loop draws each event's object count from.

The named shapes are realistic jet multiplicities; ``multiplicity`` also reads a fixed count
or a clipped Poisson from the command line.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from hepinfer.errors import ConfigurationError


@dataclass(frozen=True)
class Multiplicity:
    """Objects per event: Poisson(mean) clipped to [minimum, maximum]; fixed when all equal."""

    name: str
    mean: float
    minimum: int = 1
    maximum: int = 1

    def draw(self, rng: np.random.Generator) -> int:
        """One event's object count."""
        if self.minimum == self.maximum:
            return self.minimum
        return int(np.clip(rng.poisson(self.mean), self.minimum, self.maximum))

    def to_dict(self) -> dict[str, Any]:
        """For the record."""
        return asdict(self)


# Realistic shapes. AK4 jets (pT > 20-30 GeV) in ttbar: 4-8 typical, mean ~6.5, at least 2 in
# any selected event. AK8 jets (pT > 170-200 GeV) in QCD multijet: mostly 2, mean ~2.
DISTRIBUTIONS: dict[str, Multiplicity] = {
    "one": Multiplicity("one", 1.0, 1, 1),
    "ak4-ttbar": Multiplicity("ak4-ttbar", 6.5, 2, 20),
    "ak8-qcd": Multiplicity("ak8-qcd", 2.0, 1, 8),
}


def multiplicity(text: str) -> Multiplicity:
    """``one``, ``ak4-ttbar``, ``ak8-qcd``, ``fixed:K`` or ``poisson:MEAN[:MIN[:MAX]]``."""
    if text in DISTRIBUTIONS:
        return DISTRIBUTIONS[text]
    kind, _, rest = text.partition(":")
    parts = rest.split(":") if rest else []
    usage = (
        f"--objects {text}: use one of {', '.join(DISTRIBUTIONS)}, fixed:K or "
        "poisson:MEAN[:MIN[:MAX]] (e.g. poisson:6.5:2:20)"
    )
    try:
        if kind == "fixed" and len(parts) == 1:
            k = int(parts[0])
            dist = Multiplicity(text, float(k), k, k)
        elif kind == "poisson" and 1 <= len(parts) <= 3:
            mean = float(parts[0])
            low = int(parts[1]) if len(parts) > 1 else 1
            high = int(parts[2]) if len(parts) > 2 else max(low, int(mean + 6 * math.sqrt(mean) + 1))
            dist = Multiplicity(text, mean, low, high)
        else:
            raise ConfigurationError(usage)
    except ValueError:
        raise ConfigurationError(usage) from None
    if dist.minimum < 1 or dist.maximum < dist.minimum or dist.mean <= 0:
        raise ConfigurationError(f"--objects {text}: need 1 <= MIN <= MAX and MEAN > 0")
    return dist
