"""The text of ``hepinfer data info``, from ``hepinfer.data.describe.describe``'s object."""

from __future__ import annotations

from typing import Any


def event_file_lines(info: dict[str, Any]) -> list[str]:
    """One line per fact about the file: metadata, objects per event, AK4 and AK8 summaries."""
    lines = [f"{info['path']}: {info['n_events']} events"]
    lines += [f"  {key}: {value}" for key, value in info["metadata"].items()]
    if info["versions"]:
        lines.append("  versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()))
    lines.append(f"  per event (first {info['events_read']}):")
    for field, c in info["collections"].items():
        lines.append(f"    {field:10s} mean {c['mean']:6.2f}  max {c['max']}")
    hist = " ".join(f"{k}:{v}" for k, v in info["ak4_multiplicity"].items())
    lines.append(f"    AK4 jets pT>30 |eta|<2.5 per event: {hist}")
    lines.append(f"    MET median {info['met_median']:.1f} GeV")
    fat = info["fatjets"]
    if fat is not None:
        lines.append(
            f"    AK8 leading-2 jets: {fat['jets']}, pT median {fat['pt_median']:.0f} GeV, "
            f"mass median {fat['mass_median']:.0f} GeV, constituents median "
            f"{fat['constituents_median']} (>100 in {fat['over_100_constituents']:.0%})"
        )
    else:
        lines.append("    no AK8 jets / constituents: jet_vae and particlenet inputs need generated events")
    return lines
