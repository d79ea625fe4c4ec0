"""A class with a hostile learner, graded as the README says, as root: honest scores, nothing left.

The hostile learner's service has wrong thresholds (an honest score under full marks), starts
daemons that leave their session and empty their environment, and a forger that keeps writing a
perfect score into any report it can find. The class folder is given as a relative path.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bentokit import procs
from grader.cohort import runner
from tests.cohort.conftest import ROOT, cohort, gradebook_rows, make_submission
from tests.grader.conftest import graded_specs, points
from tests.grader.test_hostile import DAEMONS, FORGER, START_FORGER, insert_after_future

pytestmark = [pytest.mark.server,
              pytest.mark.skipif(os.geteuid() != 0, reason="confinement needs root (CI runs as root)")]


def learner_processes() -> list[str]:
    """Processes of any sandbox user no grading holds now: a grading running beside this test
    (another pytest-xdist worker) holds its own user, and is skipped."""
    return [procs.describe(proc)
            for user in procs.idle_sandbox_users() for proc in procs.find(uid=user.pw_uid)]


def test_a_hostile_learner_gets_an_honest_score_and_leaves_nothing(model_file, tmp_path) -> None:
    root = tmp_path / "submissions"
    make_submission("solution", root / "ok", model_file)
    mal = make_submission("wrong_thresholds", root / "mal", model_file)
    (mal / "forger.py").write_text(FORGER)
    insert_after_future(mal / "service.py", START_FORGER + DAEMONS)
    out = tmp_path / "out"
    done = cohort("grade", os.path.relpath(root, ROOT), "--out", out, "-j", "2")  # relative, as typed
    assert done.returncode == 0, done.stdout + done.stderr
    rows = gradebook_rows(out)
    full = points(graded_specs())
    assert float(rows["ok"]["total"]) == float(rows["ok"]["max_score"]) == full, rows["ok"]
    assert 0 < float(rows["mal"]["total"]) < full, rows["mal"]
    assert learner_processes() == []
    shutil.rmtree(out)  # a forger still alive would have nothing to rewrite; none is, as asserted


#: Learner code that holds 900 sockets in every process that imports it (one process may open 1024), as a
#: daemon listening on every port of the machine did (64 500: the classmates graded beside it could neither
#: serve nor connect). These are never bound: they take file descriptors, no port.
SOCKET_HOG = """
import socket as _socket
_HELD = [_socket.socket() for _ in range(900)]
"""


def test_a_learner_holding_the_machines_sockets_is_stopped_and_those_beside_graded_again(model_file,
                                                                                      tmp_path) -> None:
    """The grading over the open files limit is stopped; it and the one beside it are graded again, one
    at a time (another learner's code could have pushed the server over it by connecting to it)."""
    root = tmp_path / "submissions"
    make_submission("solution", root / "ok", model_file)
    hog = make_submission("solution", root / "hog", model_file)
    insert_after_future(hog / "service.py", SOCKET_HOG)
    out = tmp_path / "out"
    done = cohort("grade", root, "--out", out, "-j", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    said = " ".join(done.stdout.split())  # rich wraps long lines
    rows = gradebook_rows(out)
    assert "over the limit of 1000" in rows["hog"]["error"], rows["hog"]
    assert "2 to grade again, one at a time" in said and "ok: 100 points" in said, said
    assert said.count("graded again, alone") == 2, said
    full = points(graded_specs())
    assert float(rows["ok"]["total"]) == full and not rows["ok"]["error"], rows["ok"]
    assert learner_processes() == []


#: A stand-in for a grading: it records its sandboxes as the grader does (the learner's, the service
#: inspector's; then, as the lock check starts, its user too), then runs "learner code" as the user of
#: one of them, which leaves the tree (fork, setsid, fork) and holds 300 MiB.
FAKE_GRADING = r'''
import json, pathlib, subprocess, sys, time
learner, inspector, lock, uid = (int(arg) for arg in sys.argv[1:5])
results = pathlib.Path(sys.argv[sys.argv.index("--results") + 1])
def record(others):
    sandboxes = {"user": "x", "uid": learner, "confined": True, "marker": "x",
                 "others": [{"user": "y", "uid": other, "marker": "y"} for other in others]}
    (results / "sandbox.json").write_text(json.dumps(sandboxes))
record([inspector])
time.sleep(1.5)  # the runner has read the first record meanwhile
record([inspector, lock])
daemon = """
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        held = b"1" * (300 * 2**20)
        time.sleep(120)
"""
subprocess.run([sys.executable, "-c", daemon], user=uid, cwd="/", env={}, check=True)  # an allow-list
time.sleep(60)
'''


@pytest.mark.parametrize("holder", ["server's user", "inspector's user", "lock check's user"])
def test_memory_held_by_learner_code_that_left_the_tree_counts_against_the_limit(holder, tmp_path) -> None:
    """A daemon of learner code outside the grading's process tree held 3 GiB while the run measured
    693 MiB, under a limit of 2048: everything of the grading's sandbox users counts now, the service
    inspector's (which imports service.py as a user of its own) as well as the server's, and the lock
    check's, whose user the grading records only once that check starts."""
    from grader.cohort import runner

    results = tmp_path / "results"
    results.mkdir()
    with (procs.Sandbox.acquire(check=False) as box, procs.Sandbox.acquire(check=False) as other,
          procs.Sandbox.acquire(check=False) as lock):
        holds = {"server's user": box, "inspector's user": other, "lock check's user": lock}[holder]
        command = [sys.executable, "-c", FAKE_GRADING, str(box.uid), str(other.uid), str(lock.uid),
                   str(holds.uid)]
        run = runner.run_grader([*command, "--results", str(results)],
                                cwd=tmp_path, env={}, log_path=tmp_path / "log.txt",
                                limits=runner.Limits(seconds=60, memory_mb=200))
        assert "over the limit of 200 MiB" in run.error, (run.error, (tmp_path / "log.txt").read_text())
        assert run.over_limit  # a class run grades it again, alone: a classmate's request can cost memory


def oom_kill_in_a_memory_cgroup(tmp_path) -> None:
    """Have the kernel's out-of-memory killer end a process of the test's own, in a memory cgroup of
    32 MiB (cgroup v1 or v2); skip where no memory cgroup can be made."""
    v1, v2 = Path("/sys/fs/cgroup/memory"), Path("/sys/fs/cgroup")
    name = f"bentokit-test-{secrets.token_hex(4)}"
    subtree = v2 / "cgroup.subtree_control"
    if (v1 / "memory.limit_in_bytes").is_file():
        group, limits = v1 / name, {"memory.limit_in_bytes": str(32 << 20)}
    elif subtree.is_file() and "memory" in subtree.read_text().split():
        group, limits = v2 / name, {"memory.max": str(32 << 20), "memory.swap.max": "0"}
    else:
        pytest.skip("no memory cgroup to make here")
    try:
        group.mkdir()
    except OSError as err:
        pytest.skip(f"no memory cgroup to make here: {err}")
    try:
        for key, value in limits.items():
            (group / key).write_text(value)
        hog = subprocess.Popen([sys.executable, "-c", "input(); x = b'x' * (256 << 20)"],
                               stdin=subprocess.PIPE, text=True)
        (group / "cgroup.procs").write_text(str(hog.pid))
        hog.communicate("go\n", timeout=60)
        assert hog.returncode == -signal.SIGKILL
    finally:
        group.rmdir()


def test_a_grading_during_which_the_machine_ran_out_of_memory_is_graded_again_alone(tmp_path) -> None:
    """A classmate's code held memory no limit counted (a memfd it closed, still mapped): the kernel's
    out-of-memory killer ended an honest learner's server and grader beside it (red-team round 35)."""
    def grading(during=lambda: None) -> runner.Run:
        command = [sys.executable, "-c", "import sys, time; sys.stdin.close(); time.sleep(3)"]
        worker = threading.Thread(target=during)
        worker.start()
        try:
            return runner.run_grader(command, cwd=tmp_path, env={}, log_path=tmp_path / "log.txt",
                                     limits=runner.Limits(seconds=60))
        finally:
            worker.join()

    if procs.oom_kills() is None:
        pytest.skip("this kernel does not count its out-of-memory kills")
    assert grading(lambda: oom_kill_in_a_memory_cgroup(tmp_path)).out_of_memory
    assert not grading().out_of_memory


#: A stand-in for a grading whose learner code (as the user ``argv[1]``) makes ``argv[3]`` folders under
#: ``argv[2]`` in /dev/shm, open to every user when ``argv[4]`` is "open"; then it waits ``argv[5]`` s.
SHM_GRADING = r'''
import json, pathlib, subprocess, sys, time
uid, top, count, how = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
results = pathlib.Path(sys.argv[sys.argv.index("--results") + 1])
record = {"user": "x", "uid": uid, "confined": True, "marker": "x", "others": []}
(results / "sandbox.json").write_text(json.dumps(record))
flood = """
import os, sys
os.mkdir(sys.argv[1])
for i in range(int(sys.argv[2])):
    path = os.path.join(sys.argv[1], str(i))
    os.mkdir(path)
    if sys.argv[3] == "open":
        os.chmod(path, 0o777)
"""
subprocess.run([sys.executable, "-c", flood, top, count, how], user=uid, cwd="/", env={}, check=True)
time.sleep(float(sys.argv[5]))
'''


def test_folders_flooding_dev_shm_stop_their_grading_never_the_one_beside(tmp_path, monkeypatch) -> None:
    """A learner's 100 000 folders in /dev/shm, open to all, made each reading of a grading's memory there
    take 1.8 s, and the class run read for every grading at every poll: the limits of the gradings beside
    it came seconds late (red-team round 39). A reading now stops at SHARED_ENTRIES_READ entries: the
    grading whose users own the most of them is stopped and the ones beside it graded again; a grading
    reading past another's folders goes on."""
    monkeypatch.setattr(procs, "SHARED_ENTRIES_READ", 300)  # a thousand folders make the flood
    flood = Path("/dev/shm") / f"kit-test-{secrets.token_hex(4)}"

    def grading(uid: int, top: Path, folders: int, seconds: float) -> runner.Run:
        results = tmp_path / f"results-{top.name}"
        results.mkdir()
        command = [sys.executable, "-c", SHM_GRADING, str(uid), str(top), str(folders), "open", str(seconds),
                   "--results", str(results)]
        return runner.run_grader(command, cwd=tmp_path, env={}, log_path=tmp_path / f"{top.name}.txt",
                                 limits=runner.Limits(seconds=60))

    try:
        with procs.Sandbox.acquire(check=False) as box, procs.Sandbox.acquire(check=False) as other:
            flooded = grading(other.uid, flood, 1000, 30)
            assert "more than 300 files and folders in /dev/shm" in flooded.error, \
                (flooded.error, (tmp_path / f"{flood.name}.txt").read_text())
            assert flooded.disturbed_others and flooded.seconds < 30
            # Its folders are still there: a grading beside them reads past them, and goes on.
            beside = grading(box.uid, flood.with_name(flood.name + "-beside"), 0, 1)
            assert beside.error == "" and beside.returncode == 0 and not beside.disturbed_others, beside
    finally:
        subprocess.run(["rm", "-rf", str(flood), f"{flood}-beside"], check=False)


#: A stand-in for a grading whose learner code, as user ``argv[1]``, takes ``argv[3]`` bytes of the disk
#: holding ``argv[2]`` with ``fallocate`` (no memory, CPU, open files or processes), then waits.
DISK_GRADING = r'''
import os, subprocess, sys, time
uid, path, size = int(sys.argv[1]), sys.argv[2], sys.argv[3]
take = ("import os, sys\nfd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY, 0o600)\n"
        "os.posix_fallocate(fd, 0, int(sys.argv[2]))")
subprocess.run([sys.executable, "-c", take, path, size], user=uid, cwd="/", env={}, check=True)
time.sleep(1)
'''


def test_a_grading_while_a_file_system_it_writes_runs_short_is_graded_again_alone(tmp_path, monkeypatch):
    """A classmate's daemon took the whole disk with fallocate, which no limit saw: an honest learner's
    import and build failed, and the class run kept 82 of 100 (red-team round 40). The gradings that ran
    while a file system they write was short of space or files are graded again, alone."""
    free = os.statvfs(tmp_path)
    monkeypatch.setattr(runner, "MIN_FREE_BYTES", free.f_bavail * free.f_frsize - (1 << 30))
    assert runner.short_of_disk([tmp_path, "/tmp"]) == ""
    with procs.Sandbox.acquire(check=False) as box:
        taken = box.folder / "ballast"
        command = [sys.executable, "-c", DISK_GRADING, str(box.uid), str(taken), str(2 << 30)]
        run = runner.run_grader(command, cwd=box.folder, env={}, log_path=tmp_path / "log.txt",
                                limits=runner.Limits(seconds=60))
        assert run.error == "" and run.returncode == 0, (tmp_path / "log.txt").read_text()
        assert "MiB free on the file system of" in run.short_of_disk, run
        taken.unlink()
    files = os.statvfs(tmp_path).f_favail
    monkeypatch.setattr(runner, "MIN_FREE_FILES", files - 20_000)
    assert runner.short_of_disk([tmp_path]) == ""
    many = tmp_path / "many"
    many.mkdir()
    for n in range(40_000):
        (many / str(n)).touch()
    assert "files free on the file system of" in runner.short_of_disk([tmp_path])
