"""The kit's autograder: a pytest plugin and declared checks that grade a learner's submission folder.

Run it from the repository root with ``python -m grader`` (``./kit grade``); ``grader/README.md``
says how a grading flows and how to add a check. No learner code is imported into the grader's own
process: facts about ``service.py`` come from its syntax tree and from child processes with time
limits, and the live service runs in its own process group.
"""

import pathlib

PACKAGE_DIR = pathlib.Path(__file__).resolve().parent
#: The graded checks, one module per artifact.
CHECKS_DIR = PACKAGE_DIR / "checks"
#: The kit's repository (exercises/, solutions/, notebooks/) when the grader runs from a clone.
KIT_ROOT = PACKAGE_DIR.parent
