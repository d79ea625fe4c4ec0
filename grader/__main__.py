"""``python -m grader [--submission DIR] [--url URL] [--build] [--results DIR]``: grade a submission."""

from __future__ import annotations

import os
import sys

import pytest

from grader import PACKAGE_DIR


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    args = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in args):
        print(__doc__.strip() + "\nThe grader's options are under \"the BentoML kit's grader\" below.\n")
    # Quiet pytest: the grade table is the output; -o addopts= drops the kit's own pytest defaults.
    return int(pytest.main([str(PACKAGE_DIR), "-q", "--tb=no", "-rN", "--no-header", "-p", "no:cacheprovider",
                            "-o", "addopts=", *args]))


if __name__ == "__main__":
    raise SystemExit(main())
