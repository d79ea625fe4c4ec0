"""What the course notebooks share: the BentoML home, the results of earlier notebooks, servers.

Each notebook runs on its own from a fresh kernel: whatever an earlier notebook makes (the model
in the store, ``work/service.py``, ``work/bentofile.yaml``, the bento) is made again here when it is
missing, with the kit's own code (``bentokit``) or from the earlier notebook's own cell, so that
there is one copy of each file. Notebook files are written to ``work/`` (git ignores it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
#: Where the notebooks write service.py, bentofile.yaml, exports and logs.
WORK = HERE / "work"
#: Set this to use a kit-local BentoML home; unset, BentoML's usual home is used.
HOME_ENV = "BENTOKIT_HOME"
#: Projects of their own (the composed service, the image-SDK build), beside WORK and not inside it:
#: WORK is a build context whose bentofile includes "service.py", which matches at any depth.
PROJECTS = HERE / "work-projects"

#: The notebook whose ``%%writefile`` cell is the source of each project file.
SOURCES = {
    "service.py": "03_serve.ipynb",
    "bentofile.yaml": "04_build.ipynb",
}


def setup() -> str:
    """Prepare the environment; call it before ``import bentoml``. Returns the BentoML home."""
    os.environ["BENTOML_DO_NOT_TRACK"] = "true"  # BentoML sends usage data unless told not to
    # `!bentoml ...` runs in a pseudo-terminal: keep its output plain and its tables unclipped.
    os.environ.setdefault("NO_COLOR", "1")
    os.environ["TERM"] = "dumb"  # rich (BentoML's CLI output) then prints no bold or colour codes
    os.environ.setdefault("COLUMNS", "120")
    venv_bin_first_on_path()
    check_shell_commands()
    kit_home = os.environ.get(HOME_ENV)
    if kit_home:
        if "bentoml" in sys.modules and os.environ.get("BENTOML_HOME") != kit_home:
            raise RuntimeError(f"bentoml was imported before kitnb.setup(): restart the kernel "
                               f"so that {HOME_ENV} takes effect")
        os.environ["BENTOML_HOME"] = kit_home
    WORK.mkdir(exist_ok=True)
    return bentoml_home()


def venv_bin_first_on_path() -> str:
    """Put this kernel's own ``bin`` folder (the kit's ``.venv/bin``) first on ``PATH``; returns it.

    ``!bentoml ...`` then runs the BentoML of the kernel's environment, however Jupyter was started
    (``./kit lab`` already does this; a kernel picked in VS Code or another Jupyter does not).
    """
    bin_dir = str(Path(sys.executable).parent)
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if parts[:1] != [bin_dir]:
        os.environ["PATH"] = os.pathsep.join([bin_dir, *(p for p in parts if p != bin_dir)])
    return bin_dir


def check_shell_commands() -> bool:
    """Make a failing ``!command`` (non-zero exit, e.g. "command not found") raise in its cell.

    IPython only stores a ``!command``'s exit status in ``_exit_code``; the cell still "succeeds", so a
    broken command would go unnoticed by a learner and by nbval, which ignores the output of cells
    tagged ``nbval-ignore-output`` but fails every cell that raises. Returns False outside IPython.
    """
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        return False
    run = getattr(shell.system, "__wrapped__", shell.system)

    def system(cmd: str) -> None:
        run(cmd)
        code = shell.user_ns.get("_exit_code", 0)
        if code:
            raise subprocess.CalledProcessError(code, cmd)

    system.__wrapped__ = run
    shell.system = system
    return True


def bentoml_home() -> str:
    """The model and bento store BentoML uses: ``$BENTOML_HOME`` or ``~/bentoml``."""
    return os.environ.get("BENTOML_HOME") or str(Path.home() / "bentoml")


def cell_source(notebook: str | Path, target: str) -> str:
    """The body of the ``%%writefile TARGET`` cell of a notebook in this folder."""
    nb = json.loads((HERE / notebook).read_text())
    for cell in nb["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        first, _, body = source.partition("\n")
        if cell["cell_type"] == "code" and first.split()[:2] == ["%%writefile", target]:
            return body if body.endswith("\n") else body + "\n"
    raise LookupError(f"{notebook} has no '%%writefile {target}' cell")


def ensure_file(name: str) -> Path:
    """``work/NAME``, written from its notebook's cell when it is missing."""
    path = WORK / name
    if not path.exists():
        notebook = SOURCES[name]
        path.write_text(cell_source(notebook, f"work/{name}"))
    return path


def ensure_model(stage: str = "dev") -> Any:
    """The latest ``credit_risk_model`` in the store; trained and saved first if there is none."""
    import bentoml

    from bentokit import contract, data, training

    try:
        return bentoml.models.get(f"{contract.MODEL_NAME}:latest")
    except bentoml.exceptions.NotFound:
        # Quietly, so that a notebook's output is the same whether or not notebook 2 ran before.
        return training.save(training.train(data.load()), owner="credit-risk-team", stage=stage)


def build(folder: str | Path = WORK) -> Any:
    """``bentoml build FOLDER`` in a new process, as in a terminal (:func:`bentokit.bento.build`)."""
    from bentokit import bento

    return bento.build(folder)


def ensure_bento() -> Any:
    """The latest ``credit_risk_classifier`` bento; built from ``work/`` if there is none."""
    import bentoml

    from bentokit import contract

    try:
        return bentoml.bentos.get(f"{contract.SERVICE_NAME}:latest")
    except bentoml.exceptions.NotFound:
        ensure_model()
        ensure_file("service.py")
        ensure_file("bentofile.yaml")
        return build(WORK)


def serve(target: str = "service:CreditRiskClassifier", working_dir: str | Path = WORK,
          timeout: float = 90, **kwargs: Any):
    """Start ``bentoml serve`` with :mod:`bentokit.server` and wait for ``/readyz``.

    The server stops with ``server.stop()``; if the kernel exits first, :mod:`bentokit.procs` stops
    it at exit, and a test run stops whatever carries its run marker (see ``conftest.py``).
    """
    from bentokit import server as kit_server

    WORK.mkdir(exist_ok=True)
    running = kit_server.start(target, working_dir, **kwargs)
    try:
        running.wait_ready(timeout)
    except BaseException:
        running.stop()
        raise
    return running
