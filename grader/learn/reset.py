"""Restore an exercise's files as the kit shipped them, keeping a backup of the learner's version.

The shipped version comes from the kit's own git history, not from a committed copy: the newest
commit fetched from the kit's upstream (the remote-tracking branch's reflog, skipping the learner's
own pushes) holds ``exercises/`` as shipped, whatever the learner has committed since. A checkout
without an upstream (the kit's own development clone) uses ``HEAD``.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from grader import KIT_ROOT
from grader.learn.manifest import Exercise

SHIPPED_DIR = "exercises"


class ResetError(RuntimeError):
    """The shipped version cannot be found (no git, or not a clone of the kit)."""


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", "-C", str(KIT_ROOT), *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as err:
        raise ResetError(f"git is needed to restore the shipped exercises ({err})") from err
    if done.returncode:
        raise ResetError(done.stderr.strip() or f"git {' '.join(args)} failed")
    return done.stdout


def shipped_commit() -> str:
    """The commit that holds the exercises as the kit shipped them (see the module's docstring)."""
    try:
        upstream = _git("rev-parse", "--symbolic-full-name", "@{upstream}").strip()
    except ResetError:
        upstream = ""
    if not upstream:
        return _git("rev-parse", "HEAD").strip()
    # The upstream's reflog, oldest first: "OLD NEW who when<TAB>message". A fresh clone has none (the
    # ref still points where it was cloned); the learner's own pushes are skipped.
    log = Path(_git("rev-parse", "--git-path", f"logs/{upstream}").strip())
    log = log if log.is_absolute() else KIT_ROOT / log
    entries = [line.split("\t", 1) for line in log.read_text().splitlines()] if log.is_file() else []
    for head, message in reversed([e for e in entries if len(e) == 2]):
        if not message.startswith("update by push"):
            return head.split()[1]
    if entries and not set(entries[0][0].split()[0]) <= {"0"}:
        return entries[0][0].split()[0]  # only pushes were logged: where it was before the first
    return _git("rev-parse", upstream).strip()


def shipped(name: str, commit: str) -> bytes:
    """The shipped content of ``exercises/NAME``."""
    try:
        done = subprocess.run(["git", "-C", str(KIT_ROOT), "show", f"{commit}:{SHIPPED_DIR}/{name}"],
                              capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as err:
        raise ResetError(f"git is needed to restore the shipped exercises ({err})") from err
    if done.returncode:
        raise ResetError(f"{SHIPPED_DIR}/{name} is not in the kit's commit {commit[:10]}: "
                         f"{done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def reset(exercise: Exercise, submission: Path, backups: Path) -> list[tuple[Path, Path | None]]:
    """Write the shipped files over the learner's; returns (restored file, backup or None) pairs."""
    try:
        commit = shipped_commit()
    except ResetError as err:
        raise ResetError(f"cannot find the shipped exercises in the kit's git history ({err}). "
                         f"Reset needs the kit as a git clone; otherwise copy {SHIPPED_DIR}/"
                         f"{exercise.files[0]} from the kit's repository.") from err
    contents = {name: shipped(name, commit) for name in exercise.files}  # all found before any write
    folder = backups / f"{exercise.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    done = []
    for name, content in contents.items():
        target = submission / name
        backup = None
        if target.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            backup = folder / name
            shutil.copy2(target, backup)
        submission.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        done.append((target, backup))
    return done
