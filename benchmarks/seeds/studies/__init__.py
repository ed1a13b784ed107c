"""From result records to each seed study's comparison with its publication, one module per
study (named by its slug in ``seeds.published``), built on the record look-ups and formatting
of ``seeds.analysis``.

Each ``studyN`` takes the bench/sweep records of its study (and, where the study runs them,
the ``hepinfer validate`` report, the disk-inclusive bench records and the ``hepinfer
eventloop`` records) and returns a :class:`Section`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from seeds.analysis import Records, Section
from seeds.studies.batch import study3
from seeds.studies.event_vae import study2
from seeds.studies.gnn import study7
from seeds.studies.jet_vae import study1
from seeds.studies.mlp import study5
from seeds.studies.rootbench import study6
from seeds.studies.taggers import study4

__all__ = ["ANALYSES", "study1", "study2", "study3", "study4", "study5", "study6", "study7"]

ANALYSES: dict[int, Callable[[Records, Mapping[str, Any]], Section]] = {
    1: study1,
    2: study2,
    3: study3,
    4: study4,
    5: study5,
    6: study6,
    7: study7,
}
