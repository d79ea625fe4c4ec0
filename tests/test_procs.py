"""bentokit.procs with real processes: trees that try to escape are killed whole, and learner code
runs as a user of its own (as root) that leaves nothing behind and sees only an allow-listed environment.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

from bentokit import procs
from tests.conftest import ROOT

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="confinement needs root")

#: A process that starts what learner code might: a child in a session of its own (as circus starts
#: BentoML's workers), a daemon forked twice (it stays in our session), and a daemon forked twice
#: that also leaves the session (only the spawn marker finds it). Each writes its pid to OUT/name.
ESCAPER = textwrap.dedent("""
    import os, signal, subprocess, sys, time
    out = sys.argv[1]
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # reap the middle processes: no zombie links them to us

    def mark(name):
        with open(os.path.join(out, name + ".tmp"), "w") as f:
            f.write(str(os.getpid()))
        os.replace(os.path.join(out, name + ".tmp"), os.path.join(out, name))

    def daemon(name, new_session):
        if os.fork() == 0:
            if new_session:
                os.setsid()
            if os.fork() == 0:
                mark(name)
                time.sleep(300)
            os._exit(0)

    child = ("import os, sys, time; p = os.path.join(sys.argv[1], 'setsid_child'); "
             "open(p + '.tmp', 'w').write(str(os.getpid())); os.replace(p + '.tmp', p); time.sleep(300)")
    subprocess.Popen([sys.executable, "-c", child, out], start_new_session=True)
    daemon("daemon", new_session=False)
    daemon("escaped", new_session=True)
    mark("main")
    time.sleep(300)
""")


def cmdline(proc: psutil.Process) -> list[str]:
    """The command line, or [] for a process that has just ended (a zombie, say)."""
    try:
        return proc.cmdline()
    except psutil.Error:
        return []


def wait_for_pids(folder: Path, names: list[str], timeout: float = 20.0) -> dict[str, psutil.Process]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all((folder / n).exists() for n in names):
            return {n: psutil.Process(int((folder / n).read_text())) for n in names}
        time.sleep(0.02)  # a poll interval while the processes start
    raise AssertionError(f"only {sorted(p.name for p in folder.iterdir())} of {names} started")


def start_escaper(tmp_path: Path) -> tuple[subprocess.Popen, dict[str, psutil.Process]]:
    process = procs.spawn([sys.executable, "-c", ESCAPER, str(tmp_path)], cwd=tmp_path)
    started = wait_for_pids(tmp_path, ["main", "setsid_child", "daemon", "escaped"])
    deadline = time.monotonic() + 20
    while {started[d].ppid() for d in ("daemon", "escaped")} & {c.pid for c in started["main"].children()}:
        assert time.monotonic() < deadline, "the daemons' middle processes did not exit"
        time.sleep(0.02)  # until the middle processes have exited and the daemons are orphans
    return process, started


def test_snapshot_sees_sessions_and_groups_kill_tree_leaves_nothing(tmp_path):
    process, started = start_escaper(tmp_path)
    try:
        tree = {p.pid for p in procs.snapshot([psutil.Process(process.pid)])}
        assert tree == {started[n].pid for n in ("main", "setsid_child", "daemon")}
        # the escaped daemon is out of the tree, group and session, but carries the spawn marker
        assert {p.pid for p in procs.snapshot([process])} == {p.pid for p in started.values()}
        killed = procs.kill_tree(process, grace=1.0)
    finally:
        procs.kill_tree(process, grace=0)
    assert process.returncode is not None
    assert procs.running(started.values()) == []
    assert len(killed) == 4
    assert procs.find(procs.spawn_marker(process), var=procs.SPAWN_MARKER) == []


def test_kill_tree_lets_sigterm_work_then_kills_what_ignores_it(tmp_path):
    script = textwrap.dedent("""
        import os, signal, subprocess, sys, time
        out = sys.argv[1]
        def bye(*_):
            open(os.path.join(out, "graceful"), "w").close()
            # a supervisor that starts one more worker while it shuts down, then leaves
            subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True,
                             stdout=open(os.path.join(out, "late"), "w"))
            sys.exit(0)
        signal.signal(signal.SIGTERM, bye)
        subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, "
                          "signal.SIG_IGN); open(__import__('sys').argv[1] + '/stubborn', 'w').close(); "
                          "time.sleep(300)", out])
        open(os.path.join(out, "ready"), "w").close()
        time.sleep(300)
    """)
    process = procs.spawn([sys.executable, "-c", script, str(tmp_path)], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 20
        while not ((tmp_path / "ready").exists() and (tmp_path / "stubborn").exists()):
            assert time.monotonic() < deadline, "the test's processes did not start"
            time.sleep(0.02)
        before = procs.snapshot([process])
        started = time.monotonic()
        procs.kill_tree(process, grace=1.0)
        took = time.monotonic() - started
    finally:
        procs.kill_tree(process, grace=0)
    assert (tmp_path / "graceful").exists()  # SIGTERM came first
    assert procs.running(before) == []  # the one ignoring SIGTERM was killed
    assert procs.find(procs.spawn_marker(process), var=procs.SPAWN_MARKER) == []  # the late one too
    assert took < 8


def test_what_was_started_before_a_mark_outlives_the_clean_up_since_it(tmp_path):
    """A grading run built in a process that runs other things (a test worker with the session's
    reference server) stops what it started, and only that: the server started before it lives on."""
    sleep = [sys.executable, "-c", "import time; time.sleep(60)"]
    before = procs.spawn(sleep, cwd=tmp_path)
    try:
        since = procs.mark()
        after = procs.spawn(sleep, cwd=tmp_path)
        box = procs.Sandbox.acquire(confine=False)
        procs.kill_registered(since)
        assert after.wait(timeout=10) is not None and not box.folder.exists()
        assert before.poll() is None
    finally:
        procs.kill_tree(before, grace=0)


def test_what_spawn_started_is_killed_at_exit(tmp_path):
    """kill_registered() runs at interpreter exit (in a child: here it would stop other tests' servers)."""
    code = textwrap.dedent(f"""
        import sys
        from bentokit import procs
        from tests.test_procs import start_escaper
        process, started = start_escaper(__import__("pathlib").Path({str(tmp_path)!r}))
        print(" ".join(str(p.pid) for p in started.values()))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    pids = [int(pid) for pid in done.stdout.split()]
    assert len(pids) == 4 and not any(psutil.pid_exists(pid) and procs.running([psutil.Process(pid)])
                                      for pid in pids)


def test_tree_rss_counts_a_child_in_its_own_session(tmp_path):
    hog = ("import sys, time; x = bytearray(80 * 2**20); open(sys.argv[1], 'w').close(); "
           "time.sleep(300)")
    script = (f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {hog!r}, sys.argv[1]], "
              "start_new_session=True); time.sleep(300)")
    process = procs.spawn([sys.executable, "-c", script, str(tmp_path / "ready")], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 20
        while not (tmp_path / "ready").exists():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert psutil.Process(process.pid).memory_info().rss < 40 * 2**20
        assert procs.tree_rss_mb(process) > 80
        # The same through a table the polls share: read once within its age, again after it.
        table = procs.ProcessTable(max_age=60)
        first = table.rows()
        assert procs.tree_usage(process, table=table).rss_mb > 80
        assert table.rows() is first
        table.max_age = 0
        assert table.rows() is not first
        assert procs.tree_usage(process, table=table).rss_mb > 80
    finally:
        procs.kill_tree(process, grace=0)


def test_a_shared_table_sees_a_process_started_after_it_was_read_at_its_next_reading(tmp_path):
    table = procs.ProcessTable(max_age=60)
    table.rows()
    child = "import time; time.sleep(300)"
    script = (f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {child!r}]); "
              "time.sleep(300)")
    process = procs.spawn([sys.executable, "-c", script], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 20
        while len(psutil.Process(process.pid).children()) < 1:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        stale = procs.tree_usage(process, table=table)  # the root counts; its child is not read yet
        table.max_age = 0
        fresh = procs.tree_usage(process, table=table)
        assert fresh.rss_mb > stale.rss_mb + 3 and fresh.open_files > stale.open_files
    finally:
        procs.kill_tree(process, grace=0)


def test_nothing_of_the_caller_is_ever_part_of_a_tree():
    assert procs.snapshot([os.getpid()]) == []
    with pytest.raises(ValueError):
        procs.kill_user(os.getuid())
    with pytest.raises(ValueError):
        procs.find()


def test_unconfined_sandbox_cleans_up_by_marker_and_allow_lists_the_environment(tmp_path, monkeypatch):
    """The behaviour a learner's laptop gets (not root), simulated with confine=False."""
    monkeypatch.setenv("CREDIT_SCORING_CSV", "/instructor/secret.csv")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secret")
    monkeypatch.setenv("PARENT_RUN", "parent-marker")
    with procs.Sandbox.acquire(tmp_path, confine=False, keep_env=["PARENT_RUN"]) as sandbox:
        assert not sandbox.confined and sandbox.uid == os.getuid() and "Confinement is off" in sandbox.note
        env = sandbox.env({"BENTOML_HOME": str(tmp_path / "home")})
        assert "CREDIT_SCORING_CSV" not in env and "GITHUB_TOKEN" not in env and "VIRTUAL_ENV" not in env
        assert env["HOME"] == env["TMPDIR"] == str(sandbox.folder)
        assert env["BENTOML_HOME"] == str(tmp_path / "home") and env["BENTOML_DO_NOT_TRACK"] == "true"
        assert set(env) <= {*procs.ENV_ALLOWED, "HOME", "TMPDIR", "USER", "LOGNAME", "BENTOML_DO_NOT_TRACK",
                            "PYTHONUNBUFFERED", "UV_NO_CONFIG", procs.MARKER, "BENTOML_HOME", "PARENT_RUN"}
        assert env["PARENT_RUN"] == "parent-marker"  # kept because asked for
        # run() kills its tree and whatever carries its spawn marker: this daemon clears that one
        # The shell exits only once the daemon is `sleep` (bounded wait): a fork still on its way there
        # carries the spawn marker, and run() would rightly kill it.
        script = (f"env; (env -u {procs.SPAWN_MARKER} setsid sh -c 'echo $$ > $TMPDIR/pid; exec sleep 300' "
                  ">/dev/null 2>&1 &); echo x > $TMPDIR/left; "
                  "for i in $(seq 500); do grep -qs sleep /proc/$(cat $TMPDIR/pid 2>/dev/null)/cmdline "
                  "&& break; sleep 0.01; done; rm -f $TMPDIR/pid")
        out = sandbox.run(["sh", "-c", script]).stdout
        assert "secret" not in out
        daemon = procs.find(sandbox.marker)
        assert [cmdline(p) for p in daemon] == [["sleep", "300"]]  # double-forked, new session
        left = sandbox.cleanup()
        assert any("sleep 300" in line for line in left)
        assert procs.running(daemon) == [] and list(sandbox.folder.iterdir()) == []
    assert not sandbox.folder.exists()


# --- as root: a user of its own ---------------------------------------------------------------------


@pytest.fixture
def sandbox():
    with procs.Sandbox.acquire(check=False) as box:
        yield box


def shared_folder() -> Path:
    """A root-owned 0755 folder every user can enter (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="procs-test-"))
    folder.chmod(0o755)
    return folder


@root_only
def test_sandbox_runs_as_its_own_user_and_cannot_write_outside(sandbox):
    assert sandbox.confined and sandbox.user.startswith(procs.USER_PREFIX) and sandbox.uid != 0
    assert (sandbox.folder.stat().st_uid, sandbox.folder.stat().st_mode & 0o777) == (sandbox.uid, 0o700)
    process = procs.spawn(["sleep", "300"], cwd=sandbox.folder, sandbox=sandbox)
    proc = psutil.Process(process.pid)
    try:
        assert set(proc.uids()) == {sandbox.uid} and set(proc.gids()) == {sandbox.gid}
        groups = Path(f"/proc/{proc.pid}/status").read_text().split("Groups:")[1].split("\n")[0]
        assert groups.split() == []  # root's supplementary groups are dropped
    finally:
        procs.kill_tree(process, grace=0)
    kit = shared_folder()
    try:
        done = sandbox.run(["sh", "-c", f"echo hacked > {kit}/summary.json"])
        assert done.returncode != 0 and "Permission denied" in done.stderr
        assert not (kit / "summary.json").exists()
        assert sandbox.run(["sh", "-c", "echo mine > $HOME/ok"]).returncode == 0
        assert (sandbox.folder / "ok").read_text() == "mine\n"
    finally:
        kit.rmdir()


@root_only
def test_the_grader_reads_the_sandboxs_files_only_as_its_user_could(sandbox, tmp_path):
    """Learner code can swap any file in its folder for a link: to a file of root's, or a FIFO."""
    secret = tmp_path / "secret.txt"  # root's, mode 600
    secret.write_text("TOPSECRET")
    secret.chmod(0o600)
    log = sandbox.folder / "log.txt"
    assert sandbox.run(["sh", "-c", "seq 1 1000 > $HOME/log.txt; mkfifo $HOME/fifo"]).returncode == 0
    assert sandbox.read_text(log).endswith("999\n1000\n") and sandbox.read_text(log, limit=9) == "999\n1000\n"
    done = sandbox.run(["sh", "-c", f"rm $HOME/log.txt && ln -s {secret} $HOME/log.txt"])
    assert done.returncode == 0, done.stderr
    with pytest.raises(PermissionError):
        sandbox.read_bytes(log)
    with pytest.raises(OSError):  # at once, not blocked until a writer comes
        sandbox.read_bytes(sandbox.folder / "fifo")


@root_only
def test_cleanup_removes_what_learner_code_left_in_roots_world_writable_folders(sandbox):
    """/tmp/.X11-unix and the like: root's, mode 1777; a file the user left there reached whoever held the
    same user next. A folder of another user's is never entered (it could be swapped for a link)."""
    shared = Path(tempfile.mkdtemp(prefix="procs-test-x11-", dir="/tmp"))
    shared.chmod(0o1777)
    try:
        script = f"mkdir {shared}/sub && echo left > {shared}/sub/note && echo left > {shared}/note"
        assert sandbox.run(["sh", "-c", script]).returncode == 0
        left = sandbox.cleanup()
        assert f"file {shared}/note" in left and f"file {shared}/sub" in left, left
        assert list(shared.iterdir()) == []
    finally:
        shutil.rmtree(shared)


@root_only
def test_cleanup_kills_an_environment_clearing_daemon_by_uid(sandbox):
    # The shell waits (at most 2000 polls) until the daemon is `sleep`: before env and setsid have
    # exec'd it, it still carries the run's marker and session, and the run's own clean-up kills it.
    script = ("env -i setsid sleep 301 > /dev/null 2>&1 & pid=$!; i=0; "
              "while [ \"$(tr '\\0' ' ' < /proc/$pid/cmdline)\" != 'sleep 301 ' ] && [ $i -lt 2000 ]; "
              "do i=$((i + 1)); sleep 0.01; done; echo left > /tmp/procs-test-left-$$")
    assert sandbox.run(["sh", "-c", script]).returncode == 0
    daemon = [p for p in procs.find(uid=sandbox.uid) if cmdline(p) == ["sleep", "301"]]
    assert daemon, "the daemon did not start, or the run's clean-up killed it"
    assert daemon[0].environ() == {}  # no marker to find it by
    assert procs.find(sandbox.marker) == []
    left = sandbox.cleanup()
    assert any("sleep 301" in line for line in left)
    assert any(line.startswith("file /tmp/procs-test-left-") for line in left)
    assert procs.find(uid=sandbox.uid) == [] and procs.running(daemon) == []
    assert not list(Path("/tmp").glob("procs-test-left-*"))


@root_only
def test_kill_user_outruns_a_process_that_keeps_forking(sandbox):
    procs.spawn(["sh", "-c", "while :; do setsid sleep 302 & sleep 0.01; done"], cwd=sandbox.folder,
                sandbox=sandbox)
    deadline = time.monotonic() + 10
    while len(procs.find(uid=sandbox.uid)) < 20:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    killed = procs.kill_user(sandbox.uid)
    assert len(killed) >= 20 and procs.find(uid=sandbox.uid) == []


@root_only
def test_sandbox_environment_is_an_allow_list(sandbox, monkeypatch):
    monkeypatch.setenv("CREDIT_SCORING_CSV", "/instructor/secret.csv")
    monkeypatch.setenv("VIRTUAL_ENV", "/instructor/venv")
    out = sandbox.run(["env"], env={"BENTOML_HOME": str(sandbox.folder / "home")}).stdout
    env = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert "CREDIT_SCORING_CSV" not in env and "VIRTUAL_ENV" not in env and "secret" not in out
    assert env["HOME"] == env["TMPDIR"] == str(sandbox.folder) and env["USER"] == sandbox.user
    assert env[procs.MARKER] == sandbox.marker and env["BENTOML_HOME"] == str(sandbox.folder / "home")


@root_only
def test_two_sandboxes_at_once_are_two_users_also_across_processes(sandbox, tmp_path):
    with procs.Sandbox.acquire(check=False) as other:
        assert other.uid != sandbox.uid and other.folder != sandbox.folder
    code = "from bentokit import procs; b = procs.Sandbox.acquire(check=False); print(b.uid); b.release()"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert int(out.stdout) != sandbox.uid


@root_only
def test_give_hands_a_folder_over_without_following_links(sandbox):
    sub = sandbox.folder / "submission"
    (sub / "pkg").mkdir(parents=True)
    (sub / "pkg" / "service.py").write_text("x = 1\n")
    outside = shared_folder()
    (outside / "system-file").write_text("root's\n")
    (sub / "link").symlink_to(outside)
    os.link(outside / "system-file", sub / "hardlink")
    try:
        sandbox.give(sub)
        owners = {p.name: p.stat(follow_symlinks=False).st_uid for p in [sub, *sub.rglob("*")]}
        assert owners.pop("hardlink") == 0  # may be a system file: not handed over
        assert set(owners.values()) == {sandbox.uid}
        assert outside.stat().st_uid == 0 and (outside / "system-file").stat().st_uid == 0
    finally:
        (sub / "hardlink").unlink()
        (outside / "system-file").unlink()
        outside.rmdir()


UNPRIVILEGED = textwrap.dedent("""
    import time
    from bentokit import procs
    try:
        procs.Sandbox.acquire(confine=True)
    except procs.SandboxError as err:
        print("refused:", err)
    box = procs.Sandbox.acquire()
    print("confined:", box.confined, box.uid)
    daemon = f"(env -u {procs.SPAWN_MARKER} setsid sleep 304 > /dev/null 2>&1 &)"
    procs.spawn(["sh", "-c", daemon], cwd=box.folder, sandbox=box).wait()
    deadline = time.monotonic() + 20
    while not procs.find(box.marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    print("left:", box.release())
    print("after:", procs.find(box.marker))
""")


@root_only
def test_run_unprivileged_confinement_is_off_and_said_and_cleanup_works(sandbox):
    """A learner grading on a laptop: the kit run by an ordinary user (here the sandbox's own)."""
    import bentokit

    kit = Path(bentokit.__file__).resolve().parent.parent
    for path in (Path(sys.executable), Path(sys.executable).resolve(), kit):
        if blocked := procs._unreachable(path, sandbox.uid, sandbox.gid):
            pytest.skip(f"other users cannot run this kit's Python ({blocked} is closed to them)")
    done = sandbox.run([sys.executable, "-c", UNPRIVILEGED], timeout=60)
    assert done.returncode == 0, done.stderr
    assert "refused: Confining learner code needs root" in done.stdout
    assert f"confined: False {sandbox.uid}" in done.stdout
    assert "sleep 304" in done.stdout.split("left:")[1] and "after: []" in done.stdout
    assert done.stderr.count("Confinement is off (not running as root)") == 1


@root_only
def test_check_says_which_folder_to_open(sandbox):
    # Mode 700, root's, in /tmp: the message names the first folder the user cannot enter.
    hidden = Path(tempfile.mkdtemp(prefix="procs-test-private-", dir=procs.SHARED_TMP[0]))
    try:
        (hidden / "python").symlink_to(sys.executable)
        with pytest.raises(procs.SandboxError, match=f"(?s){hidden}.*chmod o\\+rx {hidden}"):
            sandbox.check(python=str(hidden / "python"))
    finally:
        (hidden / "python").unlink()
        hidden.rmdir()


@root_only
def test_a_killed_holders_leftovers_are_reaped_once_its_slot_is_free():
    code = textwrap.dedent("""
        import os, subprocess
        from bentokit import procs
        box = procs.Sandbox.acquire(check=False)
        procs.spawn(["setsid", "sleep", "305"], cwd=box.folder, sandbox=box)
        print(box.uid, flush=True)
        os.kill(os.getpid(), 9)  # a grader killed before its clean-up
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parent.parent)
    uid = int(done.stdout)
    deadline = time.monotonic() + 10
    while not (left := [p for p in procs.find(uid=uid) if cmdline(p) == ["sleep", "305"]]):
        assert time.monotonic() < deadline, "the killed holder's process should still run"
        time.sleep(0.05)  # setsid forks, then the child becomes sleep
    # With parallel test workers, another grading may take the freed slot (and kill what its last
    # holder left) before this reap does: the report is checked only when the leftover was still here.
    still_there = procs.running(left) != []
    reaped = procs.reap_idle_sandboxes()
    assert not still_there or any("sleep 305" in line for line in reaped), reaped
    assert procs.running(left) == []  # the user's other processes may be a new holder's by now
    assert [p for p in procs.find(uid=uid) if cmdline(p) == ["sleep", "305"]] == []


@root_only
def test_the_room_of_a_killed_holder_is_removed_when_its_slot_is_reaped():
    """A grader killed before its clean-up leaves its sandbox's room (root's, so not found by owner)."""
    held = subprocess.run([sys.executable, "-c", "import os\nfrom bentokit import procs\n"
                           "box = procs.Sandbox.acquire(check=False)\n"
                           "print(box.room, box.uid)\nos._exit(0)  # no clean-up, as after SIGKILL\n"],
                          capture_output=True, text=True, timeout=60, check=True, cwd=ROOT)
    room, uid = held.stdout.split()
    assert Path(room, "home").stat().st_uid == int(uid)
    reaped = procs.reap_idle_sandboxes()
    # With parallel test workers, another grading may take the freed slot (and remove the room) first.
    assert not Path(room).exists(), reaped


#: A grader that makes a shared room as ``sys.argv[1]`` (uid, gid) in ``sys.argv[4]``, prints it, and then
#: either dies without leaving it (``die``) or holds it until its stdin ends.
SHARED_ROOM_HOLDER = """
import os, sys
from bentokit import procs
box = procs.Sandbox.in_shared_room(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
print(box.room, flush=True)
os._exit(0) if sys.argv[5] == "die" else sys.stdin.read()
"""


def test_a_shared_room_goes_once_its_grader_is_gone_never_while_it_lives(tmp_path):
    """The image builder's rooms (one per grading, the user shared by all gradings at once): a grading
    killed mid-build left its room, with the bento and models it had copied, for good."""
    import pwd

    me = pwd.getpwuid(os.getuid())
    args = [sys.executable, "-c", SHARED_ROOM_HOLDER, me.pw_name, str(me.pw_uid), str(me.pw_gid),
            str(tmp_path)]
    living = subprocess.Popen([*args, "hold"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              cwd=ROOT)
    try:
        held = Path(living.stdout.readline().strip())
        dead = Path(subprocess.run([*args, "die"], capture_output=True, text=True, timeout=60, check=True,
                                   cwd=ROOT).stdout.strip())
        being_made = tmp_path / f"{me.pw_name}-making"  # no lock file yet: never taken for abandoned
        being_made.mkdir()
        others = tmp_path / "someone-else-1"
        others.mkdir()
        (others / procs.HELD).touch()
        assert dead.is_dir() and (dead / procs.HELD).exists()

        box = procs.Sandbox.in_shared_room(me.pw_name, me.pw_uid, me.pw_gid, tmp_path)
        assert not dead.exists()
        assert held.is_dir() and being_made.is_dir() and others.is_dir()
        assert box.folder == box.room / "home" and (box.room / procs.HELD).exists()
        box.leave_room()
        box.leave_room()  # idempotent
        assert not box.room.exists()
    finally:
        living.communicate("", timeout=30)
    assert held.is_dir()  # its grader ended without leaving it: the next one removes it
    procs.Sandbox.in_shared_room(me.pw_name, me.pw_uid, me.pw_gid, tmp_path).leave_room()
    assert not held.exists()


def test_opening_up_a_folder_to_remove_it_never_follows_a_link(tmp_path):
    """The retry of a failed removal gives the folder mode 700, but through a descriptor: a name that
    is a link by then (learner code swapped it) leaves the link's target as it was."""
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o555)
    (tmp_path / "link").symlink_to(target)
    (tmp_path / "file").write_text("x")
    os.chmod(tmp_path / "file", 0o400)
    for name in ("locked", "link", "file", "missing"):
        procs._open_up(str(tmp_path / name))
    assert (locked.stat().st_mode & 0o777) == 0o700
    assert (target.stat().st_mode & 0o777) == 0o555
    assert ((tmp_path / "file").stat().st_mode & 0o777) == 0o400
    procs.remove_tree(tmp_path / "locked")
    assert not locked.exists()


@root_only
def test_release_frees_the_slot_and_removes_the_folder():
    box = procs.Sandbox.acquire(check=False)
    folder, slot = box.folder, box.slot
    procs.spawn(["sleep", "303"], cwd=folder, sandbox=box)
    left = box.release()
    assert any("sleep 303" in line for line in left) and not folder.exists() and not box.room.exists()
    assert box.release() == []  # idempotent
    with procs.Sandbox.acquire(check=False) as again:
        assert again.slot <= slot


#: A stand-in for a ``bentoml serve`` whose service kills its supervisor: a "worker" in a session of its
#: own serves /readyz on the port, and its parent (the supervisor) then kills itself.
ORPHANING_SERVER = textwrap.dedent("""
    import http.server, os, signal, subprocess, sys
    port = int(sys.argv[1])
    worker = (
        "import http.server, sys\\n"
        "class H(http.server.BaseHTTPRequestHandler):\\n"
        "    def do_GET(self):\\n"
        "        self.send_response(200); self.end_headers()\\n"
        "    def log_message(self, *a):\\n"
        "        pass\\n"
        f"http.server.HTTPServer(('127.0.0.1', {port}), H).serve_forever()\\n"
    )
    subprocess.Popen([sys.executable, "-c", worker], start_new_session=True)
    os.kill(os.getpid(), signal.SIGKILL)
""")


def test_an_orphaned_worker_answering_is_not_ready_and_is_stopped(tmp_path):
    from bentokit import server

    port = server.free_port()
    running = server.launch([sys.executable, "-c", ORPHANING_SERVER, str(port)], port, tmp_path)
    marker = procs.spawn_marker(running.process)
    try:
        with pytest.raises(server.ServerError, match="exited with code -9"):
            running.wait_ready(timeout=20)
        assert "supervisor exited" in running.problem()
    finally:
        running.stop(grace=0.5)
    assert procs.find(marker, var=procs.SPAWN_MARKER) == []


def test_a_200_counts_only_if_the_server_is_still_alive_after_it(tmp_path):
    """The answer came, but the supervisor died meanwhile: ``exited`` is asked again after the 200."""
    from bentokit import server

    port = server.free_port()
    answering = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
                                 cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    asked = []

    def exited() -> str | None:  # alive when asked before the request, gone when asked after it
        asked.append(1)
        return None if len(asked) % 2 else "the server exited with code -9"

    try:
        assert server.wait_url_ready(f"http://127.0.0.1:{port}", 20, path="/") >= 0  # up, and ready
        with pytest.raises(server.ServerError, match="exited with code -9, yet .* answered 200: .*orphaned"):
            server.wait_url_ready(f"http://127.0.0.1:{port}", 20, exited, path="/")
        assert len(asked) == 2
    finally:
        procs.kill_tree(answering, grace=0)


def test_a_readiness_time_limit_is_told_apart_from_an_exit() -> None:
    """The grader flags a grading whose server or container was not ready in time (a class run grades
    that learner again, alone) by ``NOT_READY`` in the error: an exit is the learner's own."""
    from bentokit import server

    url = f"http://127.0.0.1:{server.free_port()}"  # nothing listens there
    with pytest.raises(server.ServerError) as waited:
        server.wait_url_ready(url, 0.3, what="the container c1")
    assert server.NOT_READY in str(waited.value).splitlines()[0]
    with pytest.raises(server.ServerError) as exited:
        server.wait_url_ready(url, 5, lambda: "the container c1 exited with code 1")
    assert server.NOT_READY not in str(exited.value)


def test_a_stranger_on_the_port_is_a_problem(tmp_path):
    from bentokit import server

    port = server.free_port()
    stranger = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
                                cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    running = server.launch([sys.executable, "-c", "import time; time.sleep(300)"], port, tmp_path)
    try:
        deadline = time.monotonic() + 20
        while not server._listeners(port):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert f"port {port} is also answered by processes that are not this server's: {stranger.pid}" \
            in running.problem()
    finally:
        running.stop(grace=0)
        procs.kill_tree(stranger, grace=0)


IPV6_LISTENER = """
import socket, sys, time
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
s.bind((sys.argv[2], int(sys.argv[1])))
s.listen(1)
print("listening", flush=True)
time.sleep(300)
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="runs a listener as another user: needs root")
def test_another_users_ipv6_listener_on_the_port_takes_nothing_from_the_server(tmp_path):
    """In a class run, learner code of one grading can see a classmate's server port and bind it on
    IPv6 (IPv6-only, as the classmate's IPv4 listener holds the port): the grader's connections to
    127.0.0.1 never reach it, so it must not cost the classmate their live checks. The same listener
    of the server's own user still counts."""
    from bentokit import server

    port = server.free_port()
    running = server.launch([sys.executable, "-m", "http.server", "--bind", server.HOST, str(port)], port,
                            tmp_path)
    python = shutil.which("python3", path="/usr/bin:/bin") or sys.executable

    def squatter(host: str, **user) -> subprocess.Popen:
        listener = subprocess.Popen([python, "-c", IPV6_LISTENER, str(port), host], cwd="/",
                                    stdout=subprocess.PIPE, text=True, **user)
        assert listener.stdout.readline() == "listening\n"
        return listener

    try:
        server.wait_url_ready(running.url, 20, path="/")
        for host in ("::1", "::"):
            other = squatter(host, user="nobody")
            try:
                assert running.problem() is None, host
            finally:
                procs.kill_tree(other, grace=0)
        own = squatter("::")
        try:
            assert f"not this server's: {own.pid}" in (running.problem() or "")
        finally:
            procs.kill_tree(own, grace=0)
    finally:
        running.stop(grace=0)


def test_server_stop_uses_kill_tree_on_a_real_signal_ignoring_server(tmp_path):
    """bentokit.server's launch/stop on top of procs: a server ignoring SIGTERM still goes."""
    from bentokit import server

    port = server.free_port()
    code = textwrap.dedent(f"""
        import signal, http.server
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200); self.end_headers()
            def log_message(self, *a):
                pass
        http.server.HTTPServer(("127.0.0.1", {port}), H).serve_forever()
    """)
    running = server.launch([sys.executable, "-c", code], port, tmp_path)
    try:
        running.wait_ready(timeout=20)
        assert running.problem() is None
        seen = running.processes()
    finally:
        running.stop(grace=0.5)
    assert procs.running(seen) == [] and running.process.returncode == -signal.SIGKILL



def test_a_process_being_killed_or_waiting_to_be_reaped_is_not_alive(tmp_path, monkeypatch):
    """A supervisor its own worker killed can look alive until the kernel schedules its end: the grader
    must not count an answer from the orphaned worker meanwhile."""
    shell = subprocess.Popen(["sh", "-c", "sleep 0 & exec sleep 30"])  # sleep never reaps its child
    try:
        zombie = None
        for _ in range(500):  # bounded: the child ends at once
            kids = psutil.Process(shell.pid).children()
            if kids and kids[0].status() == psutil.STATUS_ZOMBIE:
                zombie = kids[0].pid
                break
            time.sleep(0.01)
        assert zombie is not None, "no zombie appeared"
        assert procs.being_killed(zombie) and not procs.being_killed(shell.pid)
    finally:
        shell.kill()
        shell.wait()
    assert not procs.being_killed(shell.pid)  # gone
    # A SIGKILL sent but not yet acted on cannot be held still here: its masks, as the kernel shows them.
    status = "Name:\tbentoml\nState:\tR (running)\nSigPnd:\t0000000000000000\nShdPnd:\t{}\n"
    monkeypatch.setattr(procs, "PROC", tmp_path)
    (tmp_path / "7").mkdir()
    for mask, killed in (("0000000000000100", True), ("0000000000004000", False), ("0" * 16, False)):
        (tmp_path / "7" / "status").write_text(status.format(mask))
        assert procs.being_killed(7) is killed, mask


#: Deeper than Python 3.11's recursive rmtree and os.walk go (RecursionError at about 1000 levels).
DEEP = 1500
MAKE_DEEP = f"""
import os, sys
path = sys.argv[1]
os.mkdir(path)
for _ in range({DEEP}):
    path = os.path.join(path, "d")
    os.mkdir(path)
open(os.path.join(path, "bottom"), "w").close()
"""


def test_remove_tree_removes_a_folder_deeper_than_python_recurses(tmp_path):
    subprocess.run([sys.executable, "-c", MAKE_DEEP, str(tmp_path / "deep")], check=True)
    # shutil.rmtree(..., ignore_errors=True) raised RecursionError here, which ended every later
    # grading of a class
    (tmp_path / "deep").chmod(0o500)  # and read-only, as a learner can leave it unconfined
    procs.remove_tree(tmp_path / "deep")
    assert not (tmp_path / "deep").exists()


@root_only
def test_a_deep_folder_left_in_the_shared_temp_folder_is_removed_and_the_slot_stays_usable():
    """Learner code left a folder 1500 levels deep in /tmp: removing it raised RecursionError in every
    later sandbox of that user, so every later grading of the class ended in an internal error."""
    left = Path(procs.SHARED_TMP[0]) / f"deep-{secrets.token_hex(4)}"
    try:
        with procs.Sandbox.acquire(check=False) as box:
            slot = box.slot
            assert box.run([sys.executable, "-c", MAKE_DEEP, str(left)]).returncode == 0
            assert left.stat().st_uid == box.uid
        assert not left.exists()
    finally:
        subprocess.run(["rm", "-rf", str(left)], check=False)
    with contextlib.ExitStack() as held:  # the same slot, as the next grading takes it (other gradings
        for _ in range(procs.MAX_SLOTS):  # running beside this test may take or free lower slots)
            again = held.enter_context(procs.Sandbox.acquire(check=False))
            if again.slot == slot:
                break
        assert again.slot == slot and again.confined


@root_only
def test_as_root_a_failed_removal_is_never_retried_by_path(tmp_path):
    """Learner code that outlives its server made root's removal of a file fail on purpose, then
    swapped the folder on its path for a link: the retry unlinked a file of the learner's choosing
    and gave its folder's parent (/tmp) mode 700. As root nothing is retried."""
    victim = tmp_path / "victim"
    victim.mkdir(mode=0o755)
    (victim / "canary").write_text("root's")
    tree = tmp_path / "tree"
    tree.mkdir(mode=0o755)
    (tree / "sub").symlink_to(victim)
    procs._retry(os.unlink, str(tree / "sub" / "canary"), None)
    assert (victim / "canary").read_text() == "root's"
    assert (victim.stat().st_mode & 0o777, tree.stat().st_mode & 0o777) == (0o755, 0o755)


#: Learner code holding memory outside any resident set: an unmapped memfd, a System V segment.
HOLDS_SHARED = r"""
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
fd = os.memfd_create("held")
os.write(fd, b"1" * (60 * 2**20))  # in memory, never mapped
libc.shmget.restype = ctypes.c_int
segment = libc.shmget(0, 40 * 2**20, 0o1600)  # IPC_PRIVATE, IPC_CREAT, mode 600
libc.shmat.restype = ctypes.c_void_p
address = libc.shmat(segment, None, 0)
ctypes.memset(address, 1, 40 * 2**20)
libc.shmdt(ctypes.c_void_p(address))  # detached: only the segment holds it now
print(segment, flush=True)
time.sleep(300)
"""


@root_only
def test_memory_held_in_files_and_segments_counts_and_segments_go_with_the_sandbox(sandbox):
    """A daemon held 1.5 GiB in a memfd and 512 MiB in a System V segment while the class run measured
    833 MiB under a limit of 1024, and the segment outlived the grading (shm_rmid_forced is 0)."""
    process = procs.spawn([sys.executable, "-c", HOLDS_SHARED], cwd=sandbox.folder, sandbox=sandbox,
                          stdout=subprocess.PIPE, text=True)
    try:
        segment = process.stdout.readline().strip()
        assert segment.isdigit()
        rss = psutil.Process(process.pid).memory_info().rss
        assert rss < 50 * 2**20  # neither shows as resident memory
        assert procs.tree_rss_mb(process, [sandbox.uid]) > 95
    finally:
        procs.kill_tree(process, grace=0)
    assert any(row[1] == segment for row in procs._sysv_objects(sandbox.uid, "shm"))  # outlives its process
    sandbox.cleanup()
    assert procs._sysv_objects(sandbox.uid, "shm") == []


@root_only
def test_memory_held_in_files_deep_in_dev_shm_counts(sandbox):
    """A daemon of the inspector's user wrote 1000 files of 1 MiB into a folder of /dev/shm, never more
    than one open: the class run counted only files at the top of /dev/shm, and missed them all."""
    folder = Path("/dev/shm") / f"kit-test-{secrets.token_hex(4)}"
    fill = textwrap.dedent("""\
        import os, sys
        os.makedirs(sys.argv[1])
        for i in range(100):  # one file open at a time
            with open(os.path.join(sys.argv[1], str(i)), "wb") as f:
                f.write(b"1" * 2**20)
        """)
    try:
        done = sandbox.run([sys.executable, "-c", fill, str(folder / "a" / "b")])
        assert done.returncode == 0, done.stderr
        idle = procs.spawn([sys.executable, "-c", "import time; time.sleep(60)"], cwd="/")
        try:
            assert procs.tree_rss_mb(idle, [sandbox.uid]) > 95
        finally:
            procs.kill_tree(idle, grace=0)
    finally:
        subprocess.run(["rm", "-rf", str(folder)], check=False)


@root_only
def test_a_confined_sandbox_cannot_take_every_process_of_the_machine(monkeypatch) -> None:
    """Learner code forking without end took every PID of the machine: at -j 2, the classmate graded
    beside it could start nothing. A confined sandbox's user has a process limit."""
    monkeypatch.setattr(procs, "MAX_PROCESSES", 40)
    fork_bomb = textwrap.dedent("""\
        import os, time
        count = 0
        while count < 200:
            try:
                pid = os.fork()
            except OSError:
                break
            if pid == 0:
                os.close(1), os.close(2)  # the answer's pipe ends with the parent
                time.sleep(60)
                os._exit(0)
            count += 1
        print(count, flush=True)
        """)
    with procs.Sandbox.acquire(confine=True) as box:
        process = procs.spawn([sys.executable, "-c", fork_bomb], cwd=box.folder, sandbox=box,
                              stdout=subprocess.PIPE, text=True)
        out, _ = process.communicate(timeout=60)
    assert 0 < int(out) < 40, out


def test_process_scans_hold_while_another_thread_lists_processes() -> None:
    """psutil caches its Process objects for every thread: another thread's process_iter(attrs) replaced
    the info a scan was reading (KeyError: 'ppid', two gradings of a class run lost to the grader)."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # a thread switch at nearly every step: the race shows in a few scans
    errors: list[str] = []
    done = threading.Event()

    def scan() -> None:
        try:
            for _ in range(30):
                procs.snapshot([psutil.Process()])
                procs.find(uid=2**31 - 2)
        except Exception as err:  # noqa: BLE001 - the finding
            errors.append(repr(err))
        finally:
            done.set()

    def listing() -> None:
        while not done.is_set():
            for _ in psutil.process_iter(["name"]):
                pass

    threads = [threading.Thread(target=scan), threading.Thread(target=listing)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        sys.setswitchinterval(interval)
    assert errors == []


#: A uv configuration as an attacker plants it: an index of theirs, whose package's build runs their code.
PLANTED_UV = '[pip]\nextra-index-url = ["http://127.0.0.1:9/simple"]\n'


@root_only
def test_no_uv_configuration_above_a_sandbox_reaches_its_builds() -> None:
    """`bentoml build` locks with uv, which reads a uv.toml in any folder above its working one: with
    rooms in /tmp, a /tmp/uv.toml of a classmate's code, or of any local user, gave every build an
    index whose package ran code that sent the learner's files away (red-team round 35)."""
    uv = Path(sys.executable).with_name("uv")
    with procs.Sandbox.acquire(confine=True) as box:
        for above in box.folder.parents:  # nobody else can put a file there
            st = above.stat()
            assert st.st_uid == 0 and not st.st_mode & 0o022, f"{above}: {oct(st.st_mode)}"
        (box.room / "uv.toml").write_text(PLANTED_UV)  # the test plays the attacker, as root
        (box.folder / "requirements.in").write_text("six\n")
        box.give(box.folder / "requirements.in")

        def settings(env: dict[str, str]) -> str:
            shown = subprocess.run([uv, "pip", "compile", "--show-settings", "requirements.in"],
                                   cwd=box.folder, env=env, capture_output=True, text=True, timeout=60,
                                   **box.popen_ids())
            assert shown.returncode == 0, shown.stderr
            return shown.stdout

        assert "127.0.0.1:9" not in settings(box.env())
        assert "127.0.0.1:9" in settings({k: v for k, v in box.env().items() if k != "UV_NO_CONFIG"})


def test_the_kits_own_work_folder_has_no_folder_above_it_that_others_can_write() -> None:
    """Where root computes the homework key (a `bentoml build` and a server of its own): in /tmp, a
    learner's homework.py had put a uv.toml there whose index ran its code as root (red-team round 35)."""
    folder = procs.private_tmp()
    for path in (folder, *folder.parents):
        st = path.stat()
        assert st.st_uid in (0, os.getuid()) and not st.st_mode & 0o022, f"{path}: {oct(st.st_mode)}"
