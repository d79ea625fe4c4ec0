"""The exercise list, the exercise files and their pointers into the notebooks (no grading here)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from grader.declare import catalogue
from tests.learn.conftest import ROOT, SHIPPED, SOLUTIONS

#: `notebooks/NN_name.ipynb ... section "Title"` (or: NN_name.ipynb, "Title") in a TODO or hint.
POINTER = re.compile(r'(\d\d[a-z]?_\w+\.ipynb)(?:,|, section|, sections)?\s+"([^"]+)"')


def headings(notebook: str) -> set[str]:
    nb = json.loads((ROOT / "notebooks" / notebook).read_text())
    out = set()
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            source = "".join(cell["source"])
            out |= {line.lstrip("#").strip() for line in source.splitlines() if line.startswith("#")}
    return out


def test_every_check_belongs_to_a_listed_exercise(exercise_list) -> None:
    names = {e.name for e in exercise_list}
    for spec in catalogue():
        # The container image check is graded only with --container, in no exercise.
        assert spec.exercise in names or (spec.container_only and not spec.exercise), spec
    assert all(e.checks for e in exercise_list), "an exercise no check grades"
    assert [e.name for e in exercise_list if e.serves] == ["service", "client", "loadtest"]


def test_exercises_and_solutions_mirror_each_other(exercise_list) -> None:
    shipped = {p.name for p in SHIPPED.iterdir() if p.is_file()}
    assert shipped == {p.name for p in SOLUTIONS.iterdir() if p.is_file()}
    for exercise in exercise_list:
        for name in exercise.files:
            assert (SHIPPED / name).is_file() and (SOLUTIONS / name).is_file(), name
            assert "TODO" in (SHIPPED / name).read_text(), f"exercises/{name} marks no gap"
            assert "TODO" not in (SOLUTIONS / name).read_text(), f"solutions/{name} still has a TODO"
        assert len(exercise.hints) >= 2, f"{exercise.name}: a nudge, then the concrete fix"


def test_todos_and_hints_point_to_existing_notebook_sections(exercise_list) -> None:
    texts = {f"exercises/{p.name}": p.read_text() for p in SHIPPED.iterdir() if p.is_file()}
    texts |= {f"hint of {e.name}": "\n".join(e.hints) for e in exercise_list}
    found = 0
    for where, text in texts.items():
        for notebook, section in POINTER.findall(" ".join(text.split())):
            assert (ROOT / "notebooks" / notebook).is_file(), f"{where}: no notebook {notebook}"
            assert section in headings(notebook), f"{where}: {notebook} has no section {section!r}"
            found += 1
    assert found >= 10
    for exercise in exercise_list:
        assert Path(ROOT / exercise.notebook).is_file(), exercise.notebook
