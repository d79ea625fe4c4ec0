"""Child process: a Python that has imported what ``train.py`` imports, waiting to run it.

    python -P -m grader.learn.warm GO_FD READY_FD

Imports BentoML's XGBoost support, scikit-learn, pandas and the kit's data and training modules (on
2 cores, 1.5 s of the course's 1.7 s ``train.py``), says so by closing the pipe READY_FD, then reads
from the pipe GO_FD the folder to run ``train.py`` in: watch mode starts one after grading the train
exercise, and the next save runs in it.
``train.py`` runs as ``python train.py`` runs it: as ``__main__``, with ``sys.argv[0]`` and its folder
first on ``sys.path``, its traceback (without this module's frames) on stderr and exit status 1 when
it raises. An empty message ends the process without running anything.
"""

from __future__ import annotations

import os
import runpy
import sys
import traceback

SCRIPT = "train.py"


def preload() -> None:
    """What the course's train.py imports, and BentoML's XGBoost module its save needs."""
    import bentoml  # noqa: F401
    import bentoml.xgboost  # noqa: F401
    import sklearn.feature_extraction  # noqa: F401

    from bentokit import data, training  # noqa: F401


def wait_for_folder(fd: int) -> str:
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode().strip()


def run(folder: str) -> int:
    os.chdir(folder)
    script = os.path.join(folder, SCRIPT)
    sys.argv = [SCRIPT]
    sys.path.insert(0, folder)
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit:
        raise
    except BaseException as err:  # as Python reports it: from the script's own frames on
        tb = err.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != script:
            tb = tb.tb_next
        traceback.print_exception(type(err), err, tb or err.__traceback__)
        return 1
    return 0


def main() -> int:
    go, ready = int(sys.argv[1]), int(sys.argv[2])
    preload()
    os.write(ready, b"ready")
    os.close(ready)
    folder = wait_for_folder(go)
    return run(folder) if folder else 0


if __name__ == "__main__":
    sys.exit(main())
