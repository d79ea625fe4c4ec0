"""The class's results folder: one record per learner, written atomically as soon as it is graded.

``OUT/learners/<id>/record.json`` is a learner's stored result (score, checks, the submission's
content digest, when it was graded); it is written last, after the learner's feedback, results.json,
log and service.py copy, so a record on disk always has its files. A re-run reads every record to
decide whom to grade, and the gradebook and summary are rebuilt from all of them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bentokit import procs

RECORD = "record.json"
#: The class's own settings: the deadline and the late penalty every record is scored under.
SETTINGS = "policy.json"
#: The record layout; a record of another version is regraded.
VERSION = 1


def write_atomic(path: Path, text: str | bytes) -> Path:
    """Write ``path`` through a temporary file in its folder and a rename: never half-written.

    Text is written as UTF-8, a character it cannot hold (a lone surrogate of a stored record's learner
    text) as "?": one learner's odd character never stops the gradebook being written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode(errors="replace") if isinstance(text, str) else text
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def learner_dir(out: Path, learner_id: str) -> Path:
    return out / "learners" / learner_id


def load(out: Path) -> dict[str, dict[str, Any]]:
    """Every stored record under ``out``, by learner id (unreadable or old records are skipped)."""
    records = {}
    for path in sorted((out / "learners").glob(f"*/{RECORD}")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if record.get("version") == VERSION:
            records[record["id"]] = record
    return records


def save(out: Path, record: dict[str, Any], files: dict[str, str | bytes]) -> Path:
    """Store a learner's ``files`` then their record (the commit point); returns the record's path."""
    folder = learner_dir(out, record["id"])
    for name, content in files.items():
        write_atomic(folder / name, content)
    return save_record(out, record)


def save_record(out: Path, record: dict[str, Any]) -> Path:
    """Store (or replace) a learner's record alone."""
    text = json.dumps({**record, "version": VERSION}, indent=2)
    return write_atomic(learner_dir(out, record["id"]) / RECORD, text)


def read_settings(out: Path) -> dict[str, Any]:
    """The class's settings kept in ``out`` (its late policy), or ``{}``."""
    try:
        found = json.loads((out / SETTINGS).read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def write_settings(out: Path, settings: dict[str, Any]) -> Path:
    return write_atomic(out / SETTINGS, json.dumps(settings, indent=2) + "\n")


def refuse_others_folder(out: Path) -> None:
    """As root, raise RuntimeError unless ``out`` and every folder above it are a folder of root's (or of
    the instructor who ran sudo) that no other user can write to (a sticky one, as /tmp, aside: others
    cannot move what is root's in it). A learner who made ``--out /tmp/results`` first had root truncate
    a file of root's through a ``.lock`` link, and wrote themselves a record of 100 points, kept as
    "unchanged" by every later run (red-team round 43)."""
    trusted = {0} | ({int(os.environ["SUDO_UID"])} if os.environ.get("SUDO_UID", "").isdigit() else set())
    if (folder := procs.open_to_others_above(out, trusted, sticky_above=True)) is not None:
        raise RuntimeError(
            f"{folder} must be a folder of root's that no other user can write to: as root, the class's "
            f"results go only where no learner can have put or changed anything (choose another --out, "
            f"such as one in root's home)")


@contextlib.contextmanager
def locked(out: Path) -> Iterator[None]:
    """Hold ``out``'s lock: two runs into one results folder would overwrite each other's records."""
    if os.geteuid() == 0:
        refuse_others_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:  # learner code (another user) must not list the class or read its records
        out.chmod(0o700)
    fd = os.open(out / ".lock", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with open(fd, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"another grading run is writing to {out}; wait for it or use another --out"
                               ) from None
        fh.write(str(os.getpid()))
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
