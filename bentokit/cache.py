"""The kit's cache folder: downloads, the demo's model store, the grader's held-out applicants."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "BENTOKIT_CACHE"
#: The kit's runtime package (what cached results are computed by).
KIT_CODE = Path(__file__).resolve().parent


def cache_dir() -> Path:
    """``$BENTOKIT_CACHE`` or ``~/.cache/bentokit``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "bentokit")
