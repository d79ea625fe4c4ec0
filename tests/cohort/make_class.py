"""A class of N learners to measure a class run: ``python -m tests.cohort.make_class DEST MODEL [N]``.

Most learners hand in solutions/ with small edits of their own (comments, a renamed local, a batch size),
some hand in the broken kinds of :mod:`tests.cohort.conftest`, and two are planted copies of a classmate
(one verbatim, one with identifiers renamed) for the similarity report.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

from tests.cohort.conftest import RENAMES, make_submission

BROKEN = ("wrong_thresholds", "crash_on_start", "no_service", "no_model")
EDITS = [
    (r"# In-place prediction skips building a DMatrix[^\n]*", "# {n}: predict in place"),
    (r"max_batch_size=64", "max_batch_size={size}"),
    (r"\bfeatures\b", "x{n}"),
    (r"        if not applications:", "        if len(applications) == 0:  # learner {n};"),
]


def build(dest: Path, model_file: Path, count: int = 40) -> list[str]:
    """``count`` learner folders under ``dest`` (two of them planted copies); returns their names."""
    names = []
    for n in range(count - 2):
        kind = BROKEN[n % len(BROKEN)] if n % 5 == 4 else "solution"
        name = f"learner{n:02d}-{kind}"
        folder = make_submission(kind, dest / name, model_file)
        service = folder / "service.py"
        if kind == "solution":
            text = service.read_text()
            for i, (old, new) in enumerate(EDITS):
                if (n >> i) & 1:
                    text = re.sub(old, new.format(n=n, size=32 + n), text)  # every use of a renamed name
            service.write_text(text)
        names.append(name)
    first = dest / names[0]
    shutil.copytree(first, dest / "planted-verbatim")
    renamed = dest / "planted-renamed"
    shutil.copytree(first, renamed)
    text = (renamed / "service.py").read_text()
    for old, new in RENAMES:
        text = re.sub(old, new, text)
    (renamed / "service.py").write_text(text)
    return [*names, "planted-verbatim", "planted-renamed"]


if __name__ == "__main__":
    made = build(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 40)
    print(f"{len(made)} learners in {sys.argv[1]}")
