"""Shell commands in the notebooks (``!bentoml ...``) run the kit's BentoML from any kernel of the venv,
and a failing one fails its cell, also under nbval when the cell's output is ignored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tests.conftest import ROOT

NOTEBOOKS = ROOT / "notebooks"
NOTEBOOK_FILES = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
VENV_BIN = str(Path(sys.executable).parent)


def shell_lines(notebook: Path) -> list[tuple[int, str]]:
    cells = json.loads(notebook.read_text())["cells"]
    return [(i, line.strip()) for i, cell in enumerate(cells) if cell["cell_type"] == "code"
            for line in "".join(cell["source"]).splitlines() if line.strip().startswith("!")]


@pytest.mark.parametrize("notebook", NOTEBOOK_FILES, ids=lambda p: p.stem)
def test_shell_cells_come_after_kitnb_setup_and_have_no_pipes(notebook):
    cells = json.loads(notebook.read_text())["cells"]
    setup = next((i for i, c in enumerate(cells) if "kitnb.setup()" in "".join(c["source"])), None)
    for index, line in shell_lines(notebook):
        assert setup is not None and setup < index, f"cell {index} runs {line!r} before kitnb.setup()"
        # A pipeline's status is its last command's: `bentoml ... | head` would hide a failed bentoml.
        assert "|" not in line, f"cell {index}: {line!r} pipes a command; its failure would go unseen"


def run_nbval(tmp_path: Path, shell_cell: str) -> subprocess.CompletedProcess:
    """Run a two-cell notebook (kitnb.setup(), then SHELL_CELL tagged nbval-ignore-output) under nbval,
    with a PATH that does not hold the venv's bin folder (as in a kernel started outside ``./kit lab``)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(f"import sys\nsys.path.insert(0, {str(NOTEBOOKS)!r})\nimport kitnb\n"
                                  f"_ = kitnb.setup()"),
        nbformat.v4.new_code_cell(shell_cell, metadata={"tags": ["nbval-ignore-output"]}),
    ]
    for cell in nb.cells:
        cell.execution_count = 1
    path = tmp_path / "shell.ipynb"
    nbformat.write(nb, path)
    path_var = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != VENV_BIN)
    env = {**os.environ, "PATH": path_var, "BENTOKIT_HOME": str(tmp_path / "home")}
    return subprocess.run([sys.executable, "-m", "pytest", str(path), "-o", "addopts=", "--nbval",
                           "--nbval-current-env", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), "-q"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def test_a_failing_shell_command_fails_the_notebook_even_with_its_output_ignored(tmp_path):
    done = run_nbval(tmp_path, "!no-such-command-in-the-kit --version")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "CalledProcessError" in done.stdout and "exit status 127" in done.stdout, done.stdout


def test_bentoml_runs_from_a_kernel_whose_path_lacks_the_venv(tmp_path):
    done = run_nbval(tmp_path, "!bentoml --version")
    assert done.returncode == 0, done.stdout + done.stderr
