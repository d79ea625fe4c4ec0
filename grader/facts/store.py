"""Which folder of a model store BentoML reads for a tag, found without importing BentoML.

Written by hand: it mirrors ``bentoml._internal.store.Store.get`` (1.4.39), which the grader does not
import (a second of CPU at every grading); ``tests/grader/test_store.py`` holds it to ``Store.get`` on
the stores a learner can make. It differs on purpose in one way: a link (a version folder, a ``latest``
file) names nothing, and neither does a ``latest`` file whose text is no version (BentoML takes it
unchecked, as a path: red-team round 27).
"""

from __future__ import annotations

import datetime
import os
import stat
from pathlib import Path

import yaml

from grader.facts import files
from grader.facts.source import MODEL_NAME

#: A tag's version as BentoML accepts one (``bentoml._internal.tag.tag_fmt``, at most 63 characters).
VERSION = MODEL_NAME
#: The most of a ``latest`` file or a ``model.yaml`` read (BentoML's own are far smaller).
MOST_READ = 64 * 1024


def _read(path: Path) -> str | None:
    """A regular file's text, never through a link; None when it is no such file, or too large."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)  # a FIFO must not block
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # a folder, a FIFO
        os.close(fd)
        return None
    with os.fdopen(fd, "rb") as file:
        data = file.read(MOST_READ + 1)
    return data.decode("utf-8", "replace") if len(data) <= MOST_READ else None


def _versions(folder: Path) -> list[str]:
    """The version folders of a model's folder (a link is none)."""
    try:
        return sorted(v.name for v in os.scandir(folder)  # a folder named latest is no version (the file's)
                      if v.is_dir(follow_symlinks=False) and v.name != "latest")
    except OSError:
        return []


def _newest(folder: Path, versions: list[str]) -> str | None:
    """The version whose ``model.yaml`` says it was made last (BentoML's ``_recreate_latest``)."""
    made: dict[str, datetime.datetime] = {}
    for version in versions:
        text = _read(folder / version / "model.yaml")
        try:
            when = (files.load_yaml(text) or {}).get("creation_time") if text else None
            if isinstance(when, str):
                when = datetime.datetime.fromisoformat(when)
            if isinstance(when, datetime.datetime):
                made[version] = when if when.tzinfo else when.replace(tzinfo=datetime.UTC)
        except (yaml.YAMLError, ValueError, AttributeError, RecursionError):
            continue
    return max(made, key=made.__getitem__) if made else None


def served_folder(models: Path, tag: str) -> str | None:
    """The ``name/version`` folder of the store ``models`` (a ``models`` folder) that BentoML reads for
    ``tag``: its version, else the ``latest`` file's, else the newest; then a folder of exactly that name,
    else the one folder whose name begins with it. None when there is no such folder."""
    name, _, version = tag.partition(":")
    name, version = name.lower(), version.lower()
    if not MODEL_NAME.fullmatch(name):
        return None
    folder = models / name
    if folder.is_symlink() or not folder.is_dir():
        return None
    versions = _versions(folder)
    if version in ("", "latest"):
        text = _read(folder / "latest")
        version = text.strip() if text is not None else ""
        if version not in versions:  # no latest file, or one naming no folder: BentoML writes it anew
            version = _newest(folder, versions) or ""
    if not VERSION.fullmatch(version):
        return None
    if version in versions:
        return f"{name}/{version}"
    begins = [v for v in versions if v.startswith(version)]
    return f"{name}/{begins[0]}" if len(begins) == 1 else None
