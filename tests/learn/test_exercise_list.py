"""The exercise list, the exercise files and their pointers into the notebooks (no grading here)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from grader import PACKAGE_DIR, exercises
from tests.learn.conftest import ROOT, SHIPPED, SOLUTIONS

#: `notebooks/NN_name.ipynb ... section "Title"` (or: NN_name.ipynb, "Title") in a TODO or hint.
POINTER = re.compile(r'(\d\d_\w+\.ipynb)(?:,|, section|, sections)?\s+"([^"]+)"')


def grader_check_ids() -> set[str]:
    """Every check the grader has: test functions of its default and exercise-only modules."""
    ids = set()
    for module in [*PACKAGE_DIR.glob("test_*.py"), *PACKAGE_DIR.glob(exercises.EXTRA_MODULES)]:
        tree = ast.parse(module.read_text())
        ids |= {n.name.removeprefix("test_") for n in tree.body
                if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}
    return ids


def headings(notebook: str) -> set[str]:
    nb = json.loads((ROOT / "notebooks" / notebook).read_text())
    out = set()
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            source = "".join(cell["source"])
            out |= {line.lstrip("#").strip() for line in source.splitlines() if line.startswith("#")}
    return out


def test_every_check_belongs_to_exactly_one_exercise(exercise_list) -> None:
    listed = [c for e in exercise_list for c in e.checks]
    assert len(listed) == len(set(listed)), "a check is listed under two exercises"
    assert set(listed) == grader_check_ids()


def test_exercises_and_solutions_mirror_each_other(exercise_list) -> None:
    shipped = {p.name for p in SHIPPED.iterdir() if p.is_file()}
    assert shipped == {p.name for p in SOLUTIONS.iterdir() if p.is_file()}
    for exercise in exercise_list:
        for name in exercise.files:
            assert (SHIPPED / name).is_file() and (SOLUTIONS / name).is_file(), name
            assert "TODO" in (SHIPPED / name).read_text(), f"exercises/{name} marks no gap"
            assert "TODO" not in (SOLUTIONS / name).read_text(), f"solutions/{name} still has a TODO"
        assert len(exercise.hints) >= 2, f"{exercise.name}: a nudge, then the concrete fix"


def test_pristine_copies_equal_the_shipped_exercises() -> None:
    for path in SHIPPED.iterdir():
        if path.is_file():
            pristine = exercises.PRISTINE_DIR / path.name
            assert pristine.is_file() and pristine.read_bytes() == path.read_bytes(), (
                f"grader/pristine/{path.name} differs from exercises/{path.name}: copy the new version over")


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
