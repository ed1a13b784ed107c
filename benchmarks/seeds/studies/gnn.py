"""Study 7: the graph tau tagger in its scatter form: speed, agreement and ROC AUC after conversion."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from seeds.analysis import Records, Section, find, per_event_us, ratio, speedup_row


def study7(records: Records, extra: Mapping[str, Any]) -> Section:
    s = Section(7)
    flat = [
        r for r in records
        if r.get("status") == "ok" and ((r.get("key") or {}).get("model_params") or {}).get("form") == "flat"
    ]  # fmt: skip
    for b in sorted({int(r["key"].get("batch", 1)) for r in flat}):
        pt = find(flat, "gnn_tau", "pytorch", batch=b)
        ort = find(flat, "gnn_tau", "onnxruntime", batch=b)
        what = "1 graph per call" if b == 1 else f"{b} graphs of different sizes per call"
        speedup_row(
            s, f"scatter form, {what}: PyTorch / ONNX Runtime", None, per_event_us(pt), per_event_us(ort)
        )
        verdict = ((ort or {}).get("agreement") or {}).get("verdict")
        s.rows.append(
            (
                f"scatter form, {what}: ONNX Runtime outputs vs PyTorch",
                "exports, same answers",
                str(verdict or "-"),
            )
        )
    batched = ratio(
        per_event_us(find(flat, "gnn_tau", "pytorch", batch=16)),
        per_event_us(find(flat, "gnn_tau", "onnxruntime", batch=16)),
    )
    single = ratio(
        per_event_us(find(flat, "gnn_tau", "pytorch", batch=1)),
        per_event_us(find(flat, "gnn_tau", "onnxruntime", batch=1)),
    )
    if batched is not None and batched < 1:
        at_one = ""
        if single is not None:
            at_one = f" (at 1 graph per call it is {'faster' if single > 1 else 'slower too'}: {single:.2f}x)"
        s.why.append(
            f"With 16 graphs per call ONNX Runtime is {1 / batched:.1f} times slower than PyTorch "
            f"on the scatter form{at_one}: most likely its scatter and gather kernels over the "
            "flattened node list cost more than PyTorch's here; not profiled further."
        )
    report = extra.get("validate") or {}
    for b in report.get("backends", []):
        phys = b.get("physics")
        if phys:
            s.rows.append(
                (
                    f"ROC AUC after - before conversion ({b.get('backend')}, {phys.get('events')} graphs)",
                    "0 (preserved)",
                    f"{phys.get('auc_difference', float('nan')):+.1e} (AUC {phys.get('auc'):.4f}, "
                    f"{phys.get('selection_flips')} selection flips)",
                )
            )
    if not any("ROC AUC" in r[0] for r in s.rows):
        s.missing.append("hepinfer validate's physics check did not run: no ROC AUC comparison.")
    aucs = [
        float(b["physics"]["auc"]) for b in report.get("backends", []) if (b.get("physics") or {}).get("auc")
    ]
    auc = f" (its AUC here, {aucs[0]:.2f}, means nothing)" if aucs and abs(aucs[0] - 0.5) < 0.1 else ""
    s.why.append(
        f"The network is the zoo's gnn_tau, untrained{auc}; what the study checks is that "
        "conversion does not change the AUC. The scatter-add "
        "form exports to ONNX without torch_geometric and takes any number of nodes per graph "
        "(a batch of 16 is 16 graphs of different sizes in one call); the AUC comes from the kNN "
        "form, whose inputs have an event axis (the flat form's rank-1 inputs have none)."
    )
    return s
