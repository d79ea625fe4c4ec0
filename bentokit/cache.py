"""The kit's cache folder: downloads, the demo's model store, the grader's held-out applicants, the
learner loop's train.py runs. Only what this user wrote is ever read back from it."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

CACHE_ENV = "BENTOKIT_CACHE"
#: The kit's runtime package (what cached results are computed by).
KIT_CODE = Path(__file__).resolve().parent


def cache_dir() -> Path:
    """``$BENTOKIT_CACHE`` or ``~/.cache/bentokit``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "bentokit")


def folder(name: str) -> Path:
    """The cache's folder ``name``, made private to this user (0700) when new."""
    path = cache_dir() / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def trusted(path: Path) -> bool:
    """Whether only this user can have written ``path`` and the folder holding it: both owned by this
    user and writable by nobody else (a shared ``$BENTOKIT_CACHE`` is never trusted)."""
    try:
        for item in (path, path.parent):
            found = item.stat()
            if found.st_uid != os.geteuid() or found.st_mode & 0o022:
                return False
    except OSError:
        return False
    return True


def key(*parts: bytes) -> str:
    """A cache key for what a result depends on (file contents, names, versions)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()[:32]


def kit_code(names: tuple[str, ...] = ()) -> bytes:
    """The source of the kit's runtime modules ``names`` (all of them when none are named)."""
    paths = [KIT_CODE / n for n in names] if names else sorted(KIT_CODE.glob("*.py"))
    return b"".join(p.name.encode() + p.read_bytes() for p in paths)


def data_bytes(source: str) -> bytes | None:
    """What a data source is, for a key: a file's bytes, "generated" as it is; None for other sources."""
    if source == "generated":
        return b"generated"
    return Path(source).read_bytes() if Path(source).is_file() else None
