"""The kit's autograder: a pytest plugin and check modules that grade a learner's submission folder.

Run it from the repository root with ``python -m grader`` (or ``pytest grader``); see ``--help``
under the "grader" heading for the options. No learner code is imported into the grader's own
process: facts about ``service.py`` come from its syntax tree and from child processes with time
limits, and the live service runs in its own process group.
"""

#: Where the check modules live: pytest collects this folder.
import pathlib

PACKAGE_DIR = pathlib.Path(__file__).resolve().parent
