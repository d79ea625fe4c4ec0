"""Relative paths an instructor types: the submissions folder and the learners' .bentomodel files."""

from __future__ import annotations

import contextlib
import os
import pty
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import bentoml
import pytest

from bentokit import contract, procs
from grader.cohort import classrun, runner, submissions
from grader.facts import files
from tests.conftest import ROOT


def test_a_relative_submissions_folder_imports_each_model(saved_model, tmp_path, monkeypatch) -> None:
    learner = tmp_path / "class" / "alice"
    learner.mkdir(parents=True)
    bentoml.models.export_model(saved_model.tag, str(learner / f"{contract.MODEL_NAME}.bentomodel"))
    monkeypatch.chdir(tmp_path)
    [alice] = submissions.from_folder(Path("class"))  # as typed: `grade class/ ...`
    assert Path(alice.source).is_absolute()
    prepared = submissions.prepare(alice, tmp_path / "work")
    assert [m["tag"] for m in prepared.models] == [str(saved_model.tag)], prepared.notes
    assert (prepared.home / "models" / contract.MODEL_NAME).is_dir()


def learner_with_links(folder: Path, secret: Path) -> Path:
    """A learner's folder whose links lead out of it (to a file only root reads, to the grading
    process's own environment), with a link inside it and a FIFO."""
    folder.mkdir(parents=True)
    (folder / "service.py").write_text("print('hello')\n")
    (folder / "bentofile.yaml").symlink_to(secret)
    (folder / "env.txt").symlink_to("/proc/self/environ")
    (folder / "bentoml" / "models" / contract.MODEL_NAME).mkdir(parents=True)  # a shipped model store
    (folder / "bentoml" / "models" / contract.MODEL_NAME / "latest").symlink_to(secret)
    (folder / "same.py").symlink_to("service.py")  # inside: kept
    os.mkfifo(folder / "pipe")
    return folder


def test_a_learners_links_out_of_the_submission_are_left_out_of_the_copy(tmp_path, monkeypatch) -> None:
    """The copy runs as root: a link out, followed, would hand root's files (the grader's environment,
    with its tokens) to learner code and into the feedback; a FIFO would hang the copy."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET: hunter2\n")
    secret.chmod(0o600)
    monkeypatch.setenv("INSTRUCTOR_TOKEN", "ghp_not_for_learners")
    learner = learner_with_links(tmp_path / "class" / "alice", secret)
    prepared = submissions.prepare(submissions.Submission("alice", str(learner)), tmp_path / "work")
    copy = prepared.folder
    assert sorted(p.name for p in copy.iterdir()) == ["same.py", "service.py"], prepared.notes
    assert (copy / "same.py").read_text() == "print('hello')\n"
    left_out = "\n".join(prepared.notes)
    for name in ("bentofile.yaml", "env.txt"):
        assert f"{name} is a link to" in left_out and "outside the submission" in left_out, left_out
    assert f"{contract.MODEL_NAME}/latest is a link" in left_out, left_out  # a store: no link
    assert "pipe is not a file or a folder" in left_out
    everything = b"".join(p.read_bytes() for p in tmp_path.joinpath("work").rglob("*") if p.is_file())
    assert b"hunter2" not in everything and b"ghp_not_for_learners" not in everything


def test_a_cloned_learners_links_out_of_the_repository_are_removed(tmp_path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET: hunter2\n")
    repo = tmp_path / "alice.git"
    repo.mkdir()
    (repo / "service.py").write_text("print('hello')\n")
    (repo / "bentofile.yaml").symlink_to(secret)
    (repo / "exercises").symlink_to("/etc")  # a folder link out: removed, not followed
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "links"]):
        subprocess.run([*git, *args], cwd=repo, check=True)
    fetched = submissions.fetch(submissions.Submission("alice", f"file://{repo}"), tmp_path / "clone")
    assert sorted(p.name for p in fetched.root.iterdir() if p.name != ".git") == ["service.py"], fetched.notes
    assert any("bentofile.yaml is a link to" in n for n in fetched.notes), fetched.notes
    assert fetched.folder == fetched.root


def test_a_commit_time_in_a_zone_no_parser_reads_is_read_as_seconds(tmp_path) -> None:
    """A committer zone of +9959, which git accepts, printed as a time that no parser reads: the class run
    ended as it stored that learner, before their classmates were graded, at every run (red-team round
    42). The commit's time is read in seconds since the epoch."""
    repo = tmp_path / "mallory"
    repo.mkdir()
    (repo / "service.py").write_text("print('hello')\n")
    git = ["git", "-c", "user.name=m", "-c", "user.email=m@example.org"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "first"]):
        subprocess.run([*git, *args], cwd=repo, check=True)
    tree = subprocess.run(["git", "write-tree"], cwd=repo, capture_output=True, text=True, check=True).stdout
    people = "author M <m@x> 1700000000 +0000\ncommitter M <m@x> 1700000000 +9959"
    commit = f"tree {tree.strip()}\n{people}\n\nin\n"
    made = subprocess.run(["git", "hash-object", "-t", "commit", "-w", "--stdin"], cwd=repo, input=commit,
                          capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run(["git", "reset", "-q", "--soft", made], cwd=repo, check=True)
    printed = subprocess.run(["git", "log", "-1", "--format=%cI"], cwd=repo, capture_output=True, text=True)
    assert printed.stdout.strip().endswith("+99:59")  # what was read before
    due = datetime(2030, 1, 1, tzinfo=UTC)
    fetched = submissions.fetch(submissions.Submission("mallory", f"file://{repo}"), tmp_path / "clone", due)
    assert fetched.submitted_at == "2023-11-14T22:13:20+00:00"
    assert classrun.LatePolicy(due).assess(fetched.submitted_at)["label"] == "on time"
    # A time nobody can read (a record stored before) is not checked against the deadline; it never raises.
    assert "unknown time" in classrun.LatePolicy(due).assess("2023-11-14T22:13:20+99:59")["label"]
    assert submissions.utc_iso(1e15) == "" and submissions.utc_iso("x") == ""


def test_a_class_list_time_that_cannot_be_read_is_an_error_at_once(tmp_path) -> None:
    listing = tmp_path / "class.csv"
    listing.write_text("learner,source,submitted_at\nann,a,2026-03-01T10:00:00+00:00\nbob,b,yesterday\n")
    with pytest.raises(submissions.SubmissionError, match="line 3: submitted_at 'yesterday' is not an ISO"):
        submissions.from_csv(listing)


#: Stands in for ssh, as git runs it for an ssh:// source: says how it was run and whether it could open
#: the terminal, where the real one asks its questions (and a learner's server's own: round 42).
FAKE_SSH = """#!/bin/sh
{ echo "argv: $*"; echo "askpass: ${SSH_ASKPASS_REQUIRE:-unset}"
  if (exec 3</dev/tty) 2>/dev/null; then echo "tty: open"; else echo "tty: none"; fi; } >> "$FAKE_SSH_LOG"
exit 255
"""

#: Run in a terminal of its own (pty.fork): fetch an ssh:// source, as a class run does.
FETCH_SSH = """
import sys
from pathlib import Path
from grader.cohort import submissions
open("/dev/tty").close()  # this process has the terminal
try:
    submissions.fetch(submissions.Submission("mallory", "ssh://git@127.0.0.1:9/x.git"), Path(sys.argv[1]))
except submissions.Unreachable as err:
    print("unreachable:", err)
"""


def test_an_ssh_source_is_cloned_with_no_terminal_to_prompt_on(tmp_path) -> None:
    """ssh asked on the instructor's terminal (GIT_TERMINAL_PROMPT is git's own prompts only): a learner's
    ssh server put "Instructor (root) password:" there, and got what was typed (red-team round 42). The
    clone runs with no terminal, no askpass, and ssh in batch mode."""
    fake = tmp_path / "bin" / "ssh"
    fake.parent.mkdir()
    fake.write_text(FAKE_SSH)
    fake.chmod(0o755)
    log = tmp_path / "ssh.log"
    env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}", "FAKE_SSH_LOG": str(log)}
    for name in ("GIT_SSH_COMMAND", "GIT_SSH", "SSH_ASKPASS_REQUIRE"):
        env.pop(name, None)
    pid, terminal = pty.fork()
    if pid == 0:  # the child: a session whose controlling terminal is the pty
        os.chdir(ROOT)
        os.execve(sys.executable, [sys.executable, "-c", FETCH_SSH, str(tmp_path / "clone")], env)
    said = b""
    with contextlib.suppress(OSError):  # EIO once the child has ended
        while chunk := os.read(terminal, 4096):
            said += chunk
    os.waitpid(pid, 0)
    os.close(terminal)
    assert b"unreachable: git clone" in said, said
    facts = log.read_text()
    assert "BatchMode=yes" in facts and "askpass: never" in facts and "tty: none" in facts, facts


def sparse_submission(folder: Path) -> Path:
    """A learner's folder with a sparse file: it takes no disk until a copy writes its 1 GB."""
    folder.mkdir(parents=True)
    (folder / "service.py").write_text("print('hello')\n")
    with open(folder / "weights.bin", "wb") as fh:
        fh.truncate(2**30)
    (folder / ".venv").mkdir()  # left out of every copy, so not counted
    with open(folder / ".venv" / "big.so", "wb") as fh:
        fh.truncate(2**30)
    return folder


def test_a_submission_too_large_to_copy_is_a_finding_and_nothing_is_written(tmp_path) -> None:
    """A copy of a 1 GB sparse file would write 1 GB: the class run refuses before copying anything,
    and stores why as the learner's result (it is their doing, not the machine's)."""
    learner = sparse_submission(tmp_path / "class" / "mallory")
    with pytest.raises(files.TooLarge, match=r"weights\.bin, 1024 MB"):
        files.check_size(learner, submissions.IGNORED)
    (tmp_path / "class" / "mallory" / "weights.bin").unlink()
    files.check_size(learner, submissions.IGNORED)  # what is left out (.venv) does not count
    sparse_submission(tmp_path / "class" / "eve")
    found = runner.fetch_or_outcome(submissions.Submission("eve", str(tmp_path / "class" / "eve")),
                                    tmp_path / "work")
    assert isinstance(found, runner.Outcome) and not found.no_verdict
    assert "could not prepare the submission: the submission holds more than 512 MB" in found.error
    assert not (tmp_path / "work" / "submission").exists() or not any((tmp_path / "work").rglob("*.bin"))


def test_a_submission_nested_too_deep_is_a_finding(tmp_path) -> None:
    """A folder 1000 levels deep (1000 files, far under the limit) made the walks before the copy raise
    RecursionError, which ended the class run before anyone was graded, on every run."""
    learner = tmp_path / "class" / "mallory"
    learner.mkdir(parents=True)
    (learner / "service.py").write_text("print('hello')\n")
    path = learner / "notes"
    try:
        for _ in range(1000):
            path.mkdir()
            path = path / "d"
        found = runner.fetch_or_outcome(submissions.Submission("mallory", str(learner)), tmp_path / "work")
        assert isinstance(found, runner.Outcome) and not found.no_verdict
        assert f"folders nest more than {files.MAX_DEPTH} deep" in found.error
        assert not (tmp_path / "work" / "submission").exists()
    finally:  # pytest's own removal of old test folders recurses too
        procs.remove_tree(learner / "notes")


def test_the_grader_refuses_a_submission_too_large_to_copy(tmp_path) -> None:
    learner = sparse_submission(tmp_path / "mallory")
    done = subprocess.run([sys.executable, "-m", "grader", "--submission", str(learner), "--results",
                           str(tmp_path / "results")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "the submission holds more than 512 MB" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="the check is made as root, where learner code is confined")
def test_as_root_a_class_folder_other_users_can_enter_is_refused() -> None:
    """A learner's code runs as a user of its own, who must not read a classmate's folder while it is
    graded: a class folder open to other users grades no one."""
    from grader.cohort import classrun

    # In the system's temporary folder: the test session's own folders are closed to other users.
    system_tmp = os.environ.get("BENTOKIT_TESTS_SYSTEM_TMP", "/tmp")
    room = Path(tempfile.mkdtemp(prefix="open-class-", dir=system_tmp))
    try:
        (room / "class" / "ann").mkdir(parents=True)
        (room / "class" / "ann" / "service.py").write_text("print('hello')\n")
        room.chmod(0o755)
        (room / "class").chmod(0o755)
        subs = submissions.from_folder(room / "class")
        with pytest.raises(RuntimeError, match=r"other users can reach 1 learner folder.*chmod 700 .*class"):
            classrun.refuse_open_folders(subs)
        sparse_submission(room / "class" / "big")  # a finding at its fetch: stored, were it fetched
        done = subprocess.run([sys.executable, "-m", "grader.cohort", "grade", str(room / "class"), "--out",
                               str(room / "out")], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 1 and "chmod 700" in done.stdout + done.stderr, done.stdout + done.stderr
        assert not (room / "out" / "learners").exists()  # nothing fetched, nothing stored
        (room / "class").chmod(0o700)
        classrun.refuse_open_folders(submissions.from_folder(room / "class"))  # closed: nothing to refuse
    finally:
        shutil.rmtree(room)


def test_an_export_that_unpacks_past_the_limit_is_refused_before_its_import(tmp_path, monkeypatch) -> None:
    """A .bentomodel is a compressed archive: a few MB of xz can unpack to many GB, and a class run
    imports it as the instructor. The archive is read as a stream up to the limit, and refused."""
    import io
    import tarfile

    monkeypatch.setattr(files, "MAX_BYTES", 2**20)  # the limit at 1 MB: the same code, a cheap archive
    bomb = tmp_path / "credit_risk_model.bentomodel"
    with tarfile.open(bomb, "w:xz") as tar:
        member = tarfile.TarInfo("models/credit_risk_model/v1/saved_model.ubj")
        member.size = 3 * 2**20
        tar.addfile(member, io.BytesIO(bytes(member.size)))
    assert bomb.stat().st_size < 2**16
    with pytest.raises(files.TooLarge, match="unpacks to more than 1 MB"):
        files.check_archive(bomb)
    (tmp_path / "text.bentomodel").write_text("not an archive")
    files.check_archive(tmp_path / "text.bentomodel")  # left to bentoml models import to reject


def test_a_deep_folder_the_copy_leaves_out_is_left_out_of_every_walk(tmp_path) -> None:
    """The copy and its size check leave caches out (``__pycache__``, ``.git``), but the fingerprint and
    the submission time walked them: 1100 levels there ended the class run for everyone. Now nothing
    walks them; a deep folder elsewhere (a model store's) is a finding."""
    learner = tmp_path / "class" / "mallory"
    learner.mkdir(parents=True)
    (learner / "service.py").write_text("print('hello')\n")
    try:
        for top in ("__pycache__", "bentoml_home"):
            path = learner / top
            for _ in range(1100):
                path.mkdir()
                path = path / "a"
            found = runner.fetch_or_outcome(submissions.Submission("mallory", str(learner)),
                                            tmp_path / f"work-{top}")
            if top == "__pycache__":
                assert not isinstance(found, runner.Outcome), found
                assert found.digest == submissions.digest(learner)
            else:
                assert isinstance(found, runner.Outcome) and not found.no_verdict
                assert f"nest more than {files.MAX_DEPTH} deep" in found.error
    finally:
        for top in ("__pycache__", "bentoml_home"):
            procs.remove_tree(learner / top)


def test_a_learners_folder_names_are_printed_and_stored_as_text(tmp_path) -> None:
    """An error quotes the learner's folder names: "[" and "x]" made rich read "[/x]" as markup and raise,
    which ended every class run before anyone was graded; a name that is not UTF-8 (or an exception
    message with a lone surrogate) stopped every later gradebook being written."""
    from grader.cohort import store
    from grader.report import printable

    assert printable("boom \udcff [/x]") == "boom  [/x]"
    store.write_atomic(tmp_path / "stored.md", "an older record's \udcff")  # a record stored before
    assert (tmp_path / "stored.md").read_text() == "an older record's ?"

    learner = tmp_path / "class" / "mallory"
    learner.mkdir(parents=True)
    (learner / "service.py").write_text("print('hello')\n")
    deep = os.path.join(os.fsencode(learner), b"[", b"x]\xff")
    os.makedirs(deep)
    for _ in range(files.MAX_DEPTH):
        deep = os.path.join(deep, b"a")
        os.mkdir(deep)
    (tmp_path / "class").chmod(0o700)
    try:
        for _ in range(2):  # the failed copy is stored: the second run reads it back and rebuilds
            done = subprocess.run([sys.executable, "-m", "grader.cohort", "grade", str(tmp_path / "class"),
                                   "--out", str(tmp_path / "out")], cwd=ROOT, capture_output=True,
                                  timeout=300)
            said = " ".join((done.stdout + done.stderr).decode(errors="replace").split())  # rich wraps lines
            assert done.returncode == 0 and "Traceback" not in said, said
            assert f"folders nest more than {files.MAX_DEPTH} deep ([/x]/a/a" in said, said
        feedback = next((tmp_path / "out" / "learners").glob("mallory-*/feedback.md")).read_text()
        assert "\\[/x\\]/a/a" in feedback and "\ufffd" not in feedback  # text, not a link
        assert "mallory" in (tmp_path / "out" / "gradebook.csv").read_text()
    finally:  # pytest's own removal of old test folders recurses too
        procs.remove_tree(learner)


@pytest.mark.parametrize("store", submissions.STORE_DIRS)
def test_a_model_store_past_the_size_limit_is_refused_before_it_is_read(store, tmp_path) -> None:
    """The copy leaves the model stores out (they are copied with the models, later), but the digest
    that tells a changed submission reads every byte: a sparse 15 TB file in ``model_store/`` was
    hashed for hours before anyone was graded (red-team round 38). Refused by its size, unread."""
    learner = tmp_path / "mallory"
    (learner / store).mkdir(parents=True)
    (learner / "service.py").write_text("print('hello')\n")
    with open(learner / store / "blob", "wb") as fh:
        fh.truncate(files.MAX_BYTES + 1)  # sparse: no disk used
    found = runner.fetch_or_outcome(submissions.Submission("mallory", str(learner)), tmp_path / "work")
    assert isinstance(found, runner.Outcome) and not found.no_verdict, found
    assert f"more than {files.MAX_BYTES // 2**20} MB" in found.error and f"{store}/blob" in found.error


def test_a_file_name_with_line_breaks_prints_no_line_of_its_own(tmp_path) -> None:
    """An error quoting a learner's file name goes on one line of the instructor's terminal: a name
    holding line breaks printed lines that read as the class run's own (red-team round 38: a classmate
    at 0 points, the culprit at 100)."""
    from grader.report import one_line

    assert one_line("a\n  b\tc\x1b[2J") == "a\\n  b\\tc[2J"
    learner = tmp_path / "class" / "mallory"
    learner.mkdir(parents=True)
    (learner / "service.py").write_text("print('hello')\n")
    deep = learner / "x\n  zoe: 100 points (9 s, new)\n  mallory: 100 points (9 s, new)\n"
    for _ in range(files.MAX_DEPTH + 1):
        deep = deep / "a"
    deep.mkdir(parents=True)
    (tmp_path / "class").chmod(0o700)
    try:
        done = subprocess.run([sys.executable, "-m", "grader.cohort", "grade", str(tmp_path / "class"),
                               "--out", str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True,
                              timeout=300, env={**os.environ, "COLUMNS": "1000"})  # rich wraps no line
        lines = (done.stdout + done.stderr).splitlines()
        assert done.returncode == 0 and any("nest more than" in line for line in lines), lines
        assert not [line for line in lines if line.lstrip().startswith(("zoe:", "mallory: 100"))], lines
    finally:
        procs.remove_tree(learner)


def fetched_from(origin: Path, work: Path) -> submissions.Fetched:
    """``origin`` as a class run has fetched it (its copy in ``work``)."""
    root = work / "submission"
    root.mkdir(parents=True)
    return submissions.Fetched(submissions.Submission("mallory", str(origin)), root, origin, root)


def test_models_are_imported_by_the_kits_bentoml_whatever_the_current_folder_holds(saved_model, tmp_path,
                                                                                  monkeypatch) -> None:
    """GitHub Classroom grades in the learner's repository: its own bentoml/ package was imported, as
    the instructor, by the model import started from there (root code execution on a root runner)."""
    learner = tmp_path / "repo"
    (learner / "bentoml").mkdir(parents=True)
    marker = tmp_path / "ran-as-the-instructor"
    (learner / "bentoml" / "__init__.py").write_text(f"open({str(marker)!r}, 'w').write('pwned')\n")
    bentoml.models.export_model(saved_model.tag, str(learner / f"{contract.MODEL_NAME}.bentomodel"))
    monkeypatch.chdir(learner)
    (tmp_path / "home").mkdir()
    models, notes = submissions.import_models(fetched_from(learner, tmp_path / "work"), tmp_path / "home")
    assert not marker.exists()
    assert [m["tag"] for m in models] == [str(saved_model.tag)], notes


def test_a_model_store_or_export_that_is_not_the_learners_own_file_is_left_out(saved_model, tmp_path) -> None:
    """A store folder linked to the instructor's own store was copied in, model and all (36 -> 100); a
    FIFO named like an export blocked the class run for good."""
    instructor = tmp_path / "instructor-store"
    shutil.copytree(saved_model.path, instructor / "models" / contract.MODEL_NAME / saved_model.tag.version)
    learner = tmp_path / "mallory"
    learner.mkdir()
    (learner / "bentoml_home").symlink_to(instructor)
    os.mkfifo(learner / f"{contract.MODEL_NAME}.bentomodel")
    (tmp_path / "home").mkdir()
    models, notes = submissions.import_models(fetched_from(learner, tmp_path / "work"), tmp_path / "home")
    assert models == []
    assert any("bentoml_home/models leads out of the submission" in n for n in notes), notes
    assert f"{contract.MODEL_NAME}.bentomodel is not a file: left out" in notes, notes


def test_exports_are_never_looked_for_in_environments_and_caches(tmp_path) -> None:
    """The size limits leave ``.venv``, ``.git`` and caches out, and the exports' search walked them
    whole: a committed ``.venv`` nested 1100 deep failed the learner's model import (RecursionError)."""
    learner = tmp_path / "mallory"
    (learner / ".venv").mkdir(parents=True)
    try:
        fd = os.open(learner / ".venv", os.O_RDONLY)
        for _ in range(1100):  # by descriptor: the path outgrows what one call takes
            os.mkdir("d", dir_fd=fd)
            fd, parent = os.open("d", os.O_RDONLY, dir_fd=fd), fd
            os.close(parent)
        os.close(os.open(f"{contract.MODEL_NAME}.bentomodel", os.O_WRONLY | os.O_CREAT, dir_fd=fd))
        os.close(fd)
        os.mkfifo(learner / f"{contract.MODEL_NAME}.bentomodel")
        (tmp_path / "home").mkdir()
        models, notes = submissions.import_models(fetched_from(learner, tmp_path / "work"), tmp_path / "home")
        assert models == [] and notes == [f"{contract.MODEL_NAME}.bentomodel is not a file: left out"], notes
    finally:  # pytest's own removal of old test folders recurses, and failed a later session's end
        procs.remove_tree(learner / ".venv")


@pytest.mark.parametrize("link", ["latest", "store folder"])
def test_a_link_in_a_shipped_store_never_has_the_import_write_outside(saved_model, tmp_path, monkeypatch,
                                                                       link) -> None:
    """Root imports the learner's exports into the home their shipped store was copied to. A dangling
    ``latest -> /root/x`` had BentoML create /root/x; a model folder linked to a missing folder of /tmp,
    which a classmate's code made a link to site-packages mid-import, had root write the archive's files
    there (the next grading ran them as root). The store is copied without links, the export imported
    into an empty store of the grader's."""
    learner, outside = tmp_path / "mallory", tmp_path / "outside"
    store = learner / "bentoml_home" / "models" / contract.MODEL_NAME
    if link == "latest":
        store.mkdir(parents=True)
        (store / "latest").symlink_to(outside)  # dangling: nothing to read when the copy is made
    else:
        store.parent.mkdir(parents=True)
        store.symlink_to(outside)
    bentoml.models.export_model(saved_model.tag, str(learner / f"{contract.MODEL_NAME}.bentomodel"))
    real_run = subprocess.run

    def classmate_then_run(args, *a, **kw):  # what a classmate's code does while root imports
        if "import" in args and link != "latest":
            outside.mkdir()
        return real_run(args, *a, **kw)

    monkeypatch.setattr(submissions.subprocess, "run", classmate_then_run)
    (tmp_path / "home").mkdir()
    models, notes = submissions.import_models(fetched_from(learner, tmp_path / "work"), tmp_path / "home")
    assert [m["tag"] for m in models] == [str(saved_model.tag)], notes
    assert not outside.exists() or (outside.is_dir() and not any(outside.iterdir()))
    assert not any(p.is_symlink() for p in (tmp_path / "home").rglob("*"))
    assert any("is a link: left out" in n for n in notes), notes


def test_a_dangling_link_counts_by_where_it_points(tmp_path) -> None:
    root = tmp_path / "submission"
    root.mkdir()
    (root / "out").symlink_to(tmp_path / "not-yet")
    (root / "in").symlink_to("missing-inside")
    (root / "loop").symlink_to("loop")
    assert "leads out of the submission" in files.escapes(root / "out", root)
    assert files.escapes(root / "in", root) == ""
    assert "a loop" in files.escapes(root / "loop", root)
    notes = files.drop_links_out(root)
    assert sorted(p.name for p in root.iterdir()) == ["in"], notes
    assert any("loop is a link to loop, nowhere (a loop)" in n for n in notes), notes


def test_a_class_list_repository_on_this_machine_must_be_in_the_lists_folder(tmp_path) -> None:
    """A learner's "repository" pasted into the class list as ``file:///srv/course/solutions.git``, or
    a path ending in .git, was cloned as root and graded as their work (100/100 for the course's
    solutions). A repository on this machine must lie in the class list's folder (a folder path is the
    instructor's listing); a URL clones over network transports only; a git option is refused."""
    elsewhere = tmp_path / "course" / "solutions.git"
    elsewhere.mkdir(parents=True)
    (elsewhere / "service.py").write_text("print('the course solution')\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "solutions"]):
        subprocess.run([*git, *args], cwd=elsewhere, check=True)
    shutil.copytree(elsewhere, tmp_path / "class" / "ann.git")  # her own repository, beside the list
    listing = tmp_path / "class" / "class.csv"
    up = "/".join(["%2E%2E"] * len(listing.parent.parts))  # from the list's folder up to /
    listing.write_text("learner,source\n"
                       f"mallory,file://{elsewhere}\neve,{elsewhere}\nzed,../course/solutions.git\n"
                       f"lou,file://localhost{elsewhere}\numa,FILE://{elsewhere}\n"
                       f"pat,file://{listing.parent}/{up}{elsewhere}\n"
                       "oscar,--upload-pack=touch x;.git\nann,ann.git\n")
    subs = {s.learner: s for s in submissions.from_csv(listing)}
    assert subs["pat"].local_repository() == elsewhere.resolve()  # as git reads it: %2E%2E is ..
    foreign = submissions.Submission("x", "file://example.org/srv/x.git", within=str(listing.parent))
    assert "neither a URL of another machine nor a path" in foreign.refused()
    for name in ("mallory", "eve", "zed", "lou", "uma", "pat"):
        with pytest.raises(submissions.SubmissionError, match="on this machine, outside the class list's"):
            submissions.fetch(subs[name], tmp_path / name)
        assert not (tmp_path / name).exists()
    with pytest.raises(submissions.SubmissionError, match="starts with '-'"):
        submissions.fetch(subs["oscar"], tmp_path / "oscar")
    fetched = submissions.fetch(subs["ann"], tmp_path / "ann")  # her own, beside the list: cloned
    assert (fetched.folder / "service.py").is_file() and fetched.commit
    own_url = submissions.Submission("ann", f"file://localhost{listing.parent}/ann.git",
                                     within=str(listing.parent))
    assert own_url.refused() == "" and own_url.clone_source() == str((listing.parent / "ann.git").resolve())
    folder = shutil.copytree(elsewhere, tmp_path / "course" / "bob", ignore=shutil.ignore_patterns(".git"))
    assert submissions.Submission("bob", str(folder), within=str(listing.parent)).refused() == ""
    remote = submissions.Submission("x", "https://example.invalid/x.git")
    assert remote.is_remote and remote.refused() == ""


def test_a_file_name_that_is_no_utf8_is_hashed_and_anything_unforeseen_stays_one_learners(tmp_path,
                                                                                        monkeypatch) -> None:
    """A file name of bytes that are not UTF-8 (git, tar and zip carry them) raised UnicodeEncodeError
    in the submission's digest: the class run ended with a traceback, no classmate graded, and every
    re-run failed the same way. Names are hashed as their bytes; whatever else a submission's
    preparation raises becomes that learner's error, its traceback in their log."""
    learner = tmp_path / "mallory"
    learner.mkdir()
    (learner / "service.py").write_text("print('hello')\n")
    (Path(os.fsdecode(bytes(learner) + b"/notes-\xff.txt"))).write_text("x")
    fetched = submissions.fetch(submissions.Submission("mallory", str(learner)), tmp_path / "copy")
    assert len(fetched.digest) == 64
    assert submissions.learner_id(os.fsdecode(b"mal\xfflory")).startswith("mal_lory-")

    def surprise(*_a, **_kw):
        raise ValueError("something no check foresaw")

    monkeypatch.setattr(runner, "fetch", surprise)
    outcome = runner.fetch_or_outcome(submissions.Submission("mallory", str(learner)), tmp_path / "work")
    assert outcome.error == "could not prepare the submission: ValueError: something no check foresaw"
    assert "Traceback" in outcome.log and "surprise" in outcome.log


def test_an_export_with_link_members_is_left_out_and_an_import_leaves_nothing_behind(saved_model, tmp_path,
                                                                                     monkeypatch) -> None:
    """Link members count 0 bytes in the archive check, and BentoML's import writes a whole copy of their
    target: 40 hard links to 30 MB made a 37 KB export that wrote 1.2 GB as the instructor, and a failed
    import left its unpacking in the instructor's TMPDIR. Such an export is left out; an import's
    unpacking happens in the grader's own folder; more exports than a submission needs are not imported."""
    import io
    import tarfile

    learner = tmp_path / "mallory"
    learner.mkdir()
    bentoml.models.export_model(saved_model.tag, str(learner / f"{contract.MODEL_NAME}.bentomodel"))
    with tarfile.open(learner / "bomb.bentomodel", "w:xz") as tar:
        data = tarfile.TarInfo("zeros")
        data.size = 2**20
        tar.addfile(data, io.BytesIO(bytes(data.size)))
        for n in range(3):
            link = tarfile.TarInfo(f"copy{n}")
            link.type, link.linkname = tarfile.LNKTYPE, "zeros"
            tar.addfile(link)
    for n in range(submissions.MAX_EXPORTS):
        shutil.copy(learner / f"{contract.MODEL_NAME}.bentomodel", learner / f"zz{n}.bentomodel")
    with pytest.raises(files.NotAnExport, match="'copy0', which is not a file or a folder"):
        files.check_archive(learner / "bomb.bentomodel")
    instructors_tmp = tmp_path / "instructors-tmp"
    instructors_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(instructors_tmp))
    home = tmp_path / "work" / "home"
    home.mkdir(parents=True)
    models, notes = submissions.import_models(fetched_from(learner, tmp_path / "work"), home)
    assert [m["tag"] for m in models] == [str(saved_model.tag)], notes
    assert any("bomb.bentomodel holds 'copy0'" in n and n.endswith("left out") for n in notes), notes
    assert any(f"only the first {submissions.MAX_EXPORTS} imported" in n for n in notes), notes
    assert list(instructors_tmp.iterdir()) == []  # BentoML's unpacking went to the grader's folder, and went
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["home", "submission"]


def test_folders_and_links_count_toward_the_entries_limit(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(files, "MAX_FILES", 50)
    learner = tmp_path / "mallory"
    learner.mkdir()
    (learner / "service.py").write_text("print('hello')\n")
    for n in range(30):
        (learner / f"d{n}").mkdir()
        (learner / f"l{n}").symlink_to("service.py")
    with pytest.raises(files.TooLarge, match="more than 50 files, folders and links"):
        files.check_size(learner)


def test_the_time_the_imports_took_counts_in_the_learners_limit(tmp_path) -> None:
    """The imports run before the grading, as the instructor: a submission's slow exports once took
    92 s of a 60 s limit and were graded all the same."""
    started = time.monotonic()
    run = runner.run_grader([sys.executable, "-c", "import time; time.sleep(30)"], cwd=tmp_path, env={},
                            log_path=tmp_path / "log.txt", limits=runner.Limits(seconds=20), spent=19.0)
    assert run.error == "grading took longer than the limit of 20 s" and run.over_limit  # graded again alone
    assert time.monotonic() - started < 15
