"""Speed-up of each record against the reference configuration its run's plan chose."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any


def speedups(records: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    """Reference median / record median at the same model, batch and threads, by record id.

    The reference is the one the run's plan chose (``model.reference_key``), at the record's
    thread count where that was measured; records written before the key was stored fall back
    to the reference backend's default configuration at the same model and batch.
    """
    by_key = {_key_id(r["key"]): r for r in records if r["status"] == "ok"}
    out: dict[str, float | None] = {}
    legacy = []
    for r in records:
        ref = (r.get("model") or {}).get("reference_key")
        if r["status"] != "ok":
            out[r["record_id"]] = None
        elif ref is None:
            legacy.append(r)
        else:
            base = by_key.get(_key_id({**ref, "threads": r["key"]["threads"]})) or by_key.get(_key_id(ref))
            out[r["record_id"]] = base["stats"]["median_ns"] / r["stats"]["median_ns"] if base else None
    return {**out, **_legacy_speedups(records, legacy)}


def _key_id(key: dict[str, Any]) -> str:
    return json.dumps(key, sort_keys=True, default=str)


def _legacy_speedups(
    records: Sequence[dict[str, Any]], legacy: Sequence[dict[str, Any]]
) -> dict[str, float | None]:
    """Speed-ups of records without ``model.reference_key``: the reference found by its backend."""
    if not legacy:
        return {}
    ref_median: dict[tuple[Any, ...], float] = {}
    for r in records:
        if r["status"] == "ok" and (r.get("agreement") or {}).get("verdict") == "reference":
            k = r["key"]
            ref_median[(k["model"], k["batch"])] = r["stats"]["median_ns"]
    for r in records:
        k = r["key"]
        ref_backend = r["model"].get("reference_backend")
        if r["status"] == "ok" and k["backend"] == ref_backend and not k["options"]:
            ref_median[(k["model"], k["batch"], k["threads"])] = r["stats"]["median_ns"]
    out: dict[str, float | None] = {}
    for r in legacy:
        k = r["key"]
        base = ref_median.get((k["model"], k["batch"], k["threads"])) or ref_median.get(
            (k["model"], k["batch"])
        )
        out[r["record_id"]] = base / r["stats"]["median_ns"] if base else None
    return out
