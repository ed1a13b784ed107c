"""The on-disk cache: content-addressed, written atomically.

Converted models, exported zoo weights, generated data and built engines. Shared by convert/,
zoo/, data/ and the backends that build engines, so it sits at the ground.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any


def cache_dir() -> Path:
    """``$HEPINFER_CACHE``, else ``~/.cache/hepinfer``; created on first use."""
    root = Path(os.environ.get("HEPINFER_CACHE") or Path.home() / ".cache" / "hepinfer")
    root.mkdir(parents=True, exist_ok=True)
    return root


def digest(*parts: Any) -> str:
    """A short stable hash of JSON-able parts (the cache key)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def file_digest(path: Path) -> str:
    """Hash of a file's bytes (16 hex digits)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def publish(tmp: Path, final: Path) -> None:
    """Move a finished file into place in one step, so readers never see half a file."""
    os.replace(tmp, final)
