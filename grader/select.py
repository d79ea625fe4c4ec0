"""Pytest plugin for the learner loop: grade only the checks of some exercises, in their order.

Loaded with ``python -m grader -p grader.select --checks id,id,... grader/checks_*.py``; without
``--checks`` it changes nothing. It also names the report groups of the exercise-only check modules.
"""

from __future__ import annotations

import pytest

from grader.report import GROUPS

#: Report groups of the check modules that only the learner loop collects.
EXTRA_GROUPS = {
    "checks_train": "train.py",
    "checks_client": "client.py",
    "checks_loadtest": "locustfile.py",
    "checks_homework": "homework",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("grader").addoption(
        "--checks", default=None,
        help="comma-separated check ids (test names without test_) to run, in this order")


def pytest_configure(config: pytest.Config) -> None:
    for module, group in EXTRA_GROUPS.items():
        GROUPS.setdefault(module, group)


def check_id(item: pytest.Item) -> str:
    return item.name.removeprefix("test_")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = config.getoption("--checks")
    if wanted is None:
        return
    order = {name: n for n, name in enumerate(n for n in wanted.split(",") if n)}
    keep = sorted((i for i in items if check_id(i) in order), key=lambda i: order[check_id(i)])
    dropped = [i for i in items if check_id(i) not in order]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = keep
