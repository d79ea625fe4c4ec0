"""``python -m grader [--submission DIR] [--url URL] [--build] [--results DIR]``: grade a submission."""

from __future__ import annotations

import os
import sys

import pytest

from grader import PACKAGE_DIR


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    args = list(sys.argv[1:] if argv is None else argv)
    # The grader's own pytest.ini, not the kit's test settings, and no third-party plugins (their
    # loading took seconds); quiet output: the grade table is what the learner reads.
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return int(pytest.main([str(PACKAGE_DIR), "-c", str(PACKAGE_DIR / "pytest.ini"),
                            "--rootdir", str(PACKAGE_DIR.parent), "-q", "--tb=no", "-rN", "--no-header",
                            "-p", "no:cacheprovider", *args]))


if __name__ == "__main__":
    raise SystemExit(main())
