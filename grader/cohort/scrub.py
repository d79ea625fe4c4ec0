"""Machine paths out of learner-visible text: feedback, results.json, logs.

A learner sees ``<submission>/service.py``, never the instructor's venv or work folders. Written
by hand: it is a handful of prefix replacements, longest first, plus any temporary-folder path left.
"""

from __future__ import annotations

import re
import site
import sys
import sysconfig
import tempfile
from collections.abc import Iterable
from pathlib import Path

KIT_ROOT = Path(__file__).resolve().parents[2]


def _machine_paths() -> list[tuple[str, str]]:
    """The grader machine's own paths and what a learner sees instead."""
    pairs = [(sys.prefix, "<python>"), (sys.base_prefix, "<python>"), (str(KIT_ROOT), "<grader>")]
    for key in ("purelib", "platlib", "stdlib"):
        pairs.append((sysconfig.get_paths()[key], "<python-lib>"))
    pairs += [(p, "<python-lib>") for p in getattr(site, "getsitepackages", list)()]
    pairs.append((str(Path.home()), "<home>"))
    return pairs


class Scrubber:
    """Replaces known paths (longest first), then any temporary-folder path, in a text."""

    def __init__(self, pairs: Iterable[tuple[str | Path, str]]) -> None:
        seen: dict[str, str] = {}
        for path, label in pairs:
            text = str(path).rstrip("/")
            if len(text) > 1:
                seen.setdefault(text, label)
                resolved = str(Path(text).resolve())  # /tmp may be a link: both spellings
                seen.setdefault(resolved, label)
        self.pairs = sorted(seen.items(), key=lambda kv: -len(kv[0]))
        system_tmp = Path(tempfile.gettempdir())
        tmp = {re.escape(str(system_tmp)), re.escape(str(system_tmp.resolve())), "/tmp", "/var/tmp",
               "/private/var/folders"}
        self.tmp = re.compile(rf"(?:{'|'.join(sorted(tmp, key=len, reverse=True))})/[^\s'\"`:,;)\]>]*")

    @classmethod
    def for_grading(cls, work: Path, submission: Path) -> Scrubber:
        """For one grading: its submission copy, its work folder, and the machine's paths."""
        return cls([(submission, "<submission>"), (work, "<work>"), *_machine_paths()])

    def __call__(self, text: str) -> str:
        for path, label in self.pairs:
            text = text.replace(path, label)
        return self.tmp.sub("<tmp>", text)


def leaks(text: str, extra: Iterable[str | Path] = ()) -> list[str]:
    """Machine paths still in ``text`` (for tests and a last check before writing)."""
    needles = [sys.prefix, str(KIT_ROOT), *map(str, extra)]
    found = [n for n in needles if n and n in text]
    found += re.findall(r"/tmp/[^\s'\"`]+", text)
    return found
