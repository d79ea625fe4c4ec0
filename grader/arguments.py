"""The values the grader's commands take (argparse ``type`` functions), checked where they are typed.

A typo on a command line must be an error that says what to type, never a run that grades another
folder, zeroes a class or inflates its scores: a negative late penalty, 0 jobs, a results "folder"
that is a file, a submission folder that is not there.
"""

from __future__ import annotations

import argparse
import math
import urllib.parse
from collections.abc import Callable
from pathlib import Path


def number(least: float, most: float = math.inf, *, above: bool = False, integer: bool = False,
           what: str = "a number") -> Callable[[str], float]:
    """A number from ``least`` (``above``: greater than it) to ``most``; ``what`` says which in the error."""
    def checked(text: str) -> float:
        value = int(text) if integer else float(text)  # a ValueError: argparse's "invalid number value"
        if not (least < value if above else least <= value) or not value <= most:
            raise argparse.ArgumentTypeError(f"{text!r}: give {what}")
        return value
    checked.__name__ = "number"
    return checked


#: Seconds a step may take, and seconds for a whole run (0: nothing runs).
seconds = number(0, above=True, what="a number of seconds above 0")
deadline = number(0, what="a number of seconds, 0 or more")


def address(text: str) -> str:
    """The address of a running service: an http(s) URL with a host."""
    found = urllib.parse.urlsplit(text)
    if found.scheme not in ("http", "https") or not found.hostname:
        raise argparse.ArgumentTypeError(f"{text!r} is not a service's address: give one like "
                                         f"http://127.0.0.1:3000")
    return text


def folder_error(path: Path) -> str:
    """Why ``path`` cannot be a folder to write results into (made if missing), or ``''``."""
    if path.exists() and not path.is_dir():
        return f"{path}: that is a file; give a folder (made if missing)"
    return ""


def output_folder(text: str) -> Path:
    """A folder to write into: made if missing, never a file that is there."""
    if why := folder_error(Path(text)):
        raise argparse.ArgumentTypeError(why)
    return Path(text)


def submission_error(path: Path) -> str:
    """Why ``path`` cannot be a learner's folder, or ``''`` (graded, a missing one would score 0)."""
    if not path.is_dir():
        return (f"{path}: no such folder (it holds service.py and bentofile.yaml; the default is "
                f"exercises, from the repository's root)")
    return ""


def submission_folder(text: str) -> Path:
    """A learner's folder, which must be there."""
    if why := submission_error(Path(text)):
        raise argparse.ArgumentTypeError(why)
    return Path(text)
