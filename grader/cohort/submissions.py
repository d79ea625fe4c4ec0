"""Finding a class's submissions, fetching each into a folder of its own, and fingerprinting it."""

from __future__ import annotations

import ast
import contextlib
import csv
import dataclasses
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from bentokit import procs
from bentokit.server import kit_env
from grader.facts import files
from grader.facts.source import MODEL_NAME as TAG_PART  # a tag's name or version, as BentoML accepts one
from grader.facts.source import parse_python

#: Folders a learner may ship their model store in (besides ``.bentomodel`` exports).
STORE_DIRS = ("bentoml_home", "bentoml", ".bentoml", "model_store")
#: Never part of a submission's content (nor of its fingerprint).
NOISE = (".git", "__pycache__", ".venv", "grader-results", ".ipynb_checkpoints", ".pytest_cache")
IGNORED = shutil.ignore_patterns(*NOISE, *STORE_DIRS)
#: Where a submission's service may live: the root, or ``exercises/`` as in the kit's repository
#: (GitHub-linked Gradescope submissions and GitHub Classroom repositories are laid out so).
LAYOUTS = ("", "exercises")


class SubmissionError(RuntimeError):
    """A submission could not be prepared (not found, clone failed, model import failed)."""


class Unreachable(SubmissionError):
    """The submission could not be fetched (its clone failed, its folder is missing): nothing is known of
    the work, so a stored result of the learner stands."""


#: The most ``.bentomodel`` files of a submission imported (each is unpacked as the instructor).
MAX_EXPORTS = 4
#: A repository elsewhere: cloned with these transports only (never ``file``, nor git's ``ext``).
REMOTE = re.compile(r"^(https?|git|ssh)://|^git@")
FILE_URL = re.compile(r"^file:", re.IGNORECASE)
REMOTE_PROTOCOLS = "https:http:ssh:git"


#: Hex digits of the name's hash in a learner's id: 16 (64 bits). With 6 (24 bits), a learner who names
#: their own folder found a name with a classmate's id in a minute (red-team round 35). A class's stored
#: learners keep the id they were stored under (:func:`with_stored_ids`).
ID_HASH_DIGITS = 16


def learner_id(name: str) -> str:
    """A stable, file-name-safe id: the name's slug and a hash of the exact name.

    "Jo Smith" and "Jo_Smith" share a slug but never an id, so their folders never collide.
    """
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._-")[:40] or "learner"
    digest = hashlib.sha256(name.encode(errors="surrogateescape")).hexdigest()
    return f"{slug}-{digest[:ID_HASH_DIGITS]}"


def with_stored_ids(subs: list[Submission], stored: dict[str, dict]) -> list[Submission]:
    """``subs``, each learner stored under an id of another form (an older, shorter hash) taking that id
    (matched by their exact name): their stored result, folder and gradebook row stay theirs."""
    by_name = {record.get("learner"): learner for learner, record in stored.items()}
    return [dataclasses.replace(s, stored_id=by_name[s.learner])
            if by_name.get(s.learner, s.learner_id) != s.learner_id else s for s in subs]


@dataclass(frozen=True)
class Submission:
    """One learner's work: a folder, or a git repository (URL or path) to clone."""

    learner: str
    source: str
    submitted_at: str = ""  #: ISO 8601, when known from the platform or the class list
    #: From a class list: the folder a repository on this machine must lie in (the list's own). A
    #: repository is the learner's string, pasted: ``/srv/course/solutions.git`` (or ``file://...``)
    #: graded the course's solutions as theirs. A folder path is the instructor's own listing.
    within: str = ""
    #: The id the learner's stored result has, when not :func:`learner_id`'s (see :func:`with_stored_ids`).
    stored_id: str = ""

    @property
    def is_git(self) -> bool:
        return self.is_remote or bool(FILE_URL.match(self.source)) or self.source.endswith(".git")

    @property
    def is_remote(self) -> bool:
        return bool(REMOTE.match(self.source))

    def local_repository(self) -> Path | None:
        """The path of a repository on this machine, as git would read it (``None``: not one, or a
        ``file://`` URL naming another host): a URL's host part and percent-escapes taken into account
        (``file://localhost/srv/x.git``, ``file://LIST/%2E%2E/srv/x.git`` once read as folders inside
        the class list's folder, and git cloned /srv/x.git)."""
        if self.is_remote or not self.is_git:
            return None
        if FILE_URL.match(self.source):
            url = urlsplit(self.source)
            path = unquote(url.path)
            if url.netloc not in ("", "localhost") or not path.startswith("/"):
                return None
            return Path(os.path.normpath(path)).resolve()
        return Path(os.path.normpath(self.source)).resolve() if Path(self.source).is_absolute() else None

    def clone_source(self) -> str:
        """What ``git clone`` is given: a URL as written, a repository on this machine as its checked
        path (never a string that git could read otherwise than :meth:`refused` did)."""
        local = self.local_repository()
        return str(local) if local is not None else self.source

    def refused(self) -> str:
        """Why this source is not fetched (``''``: it is)."""
        if self.source.startswith("-"):
            return f"the source {self.source!r} starts with '-': a git option, not a repository"
        if self.is_remote or not self.is_git:
            return ""
        local = self.local_repository()
        if local is None:
            return (f"the repository {self.source} is neither a URL of another machine nor a path of this "
                    f"one: a file:// URL names no host (or localhost) and an absolute path")
        if not self.within:
            return ""
        base = Path(self.within).resolve()
        if local == base or base not in local.parents:
            return (f"the repository {self.source} is on this machine, outside the class list's folder "
                    f"{base}: a learner handing one in would have it graded as their work (a classmate's "
                    f"repository, the course's solutions); clone it under {base} if it is theirs")
        return ""

    @property
    def learner_id(self) -> str:
        return self.stored_id or learner_id(self.learner)


@dataclass
class Fetched:
    """A submission copied (or cloned) into ``root``, before its models are imported."""

    submission: Submission
    root: Path  #: the copy of the whole submission
    origin: Path  #: where its model files are read from (root's copy of the learner's folder, or the clone)
    folder: Path  #: the folder holding service.py that the grader grades (root or root/exercises)
    digest: str = ""
    commit: str = ""
    submitted_at: str = ""
    service_source: str | None = None
    notes: list[str] = field(default_factory=list)


def check_unique(subs: list[Submission]) -> list[Submission]:
    """``subs`` unchanged, or an error naming every learner listed twice (whose work would collide)."""
    twice = sorted(name for name, n in Counter(s.learner for s in subs).items() if n > 1)
    if twice:
        raise SubmissionError(f"learners listed more than once: {', '.join(twice)}; give each a unique name")
    ids = Counter(s.learner_id for s in subs)
    clash = sorted(s.learner for s in subs if ids[s.learner_id] > 1)
    if clash:
        raise SubmissionError(f"these learners' ids collide: {', '.join(clash)}; rename one of them")
    return subs


def from_folder(root: Path) -> list[Submission]:
    """One submission per sub-folder of ``root`` (hidden folders skipped), by name."""
    if not root.is_dir():
        raise SubmissionError(f"no folder of submissions at {root}")
    return check_unique([Submission(p.name, str(p.resolve())) for p in sorted(root.iterdir())
                         if p.is_dir() and not p.name.startswith(".")])


def from_csv(path: Path) -> list[Submission]:
    """Rows of ``learner,source[,submitted_at]``: a git URL, or a path (relative to the CSV's folder)."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or not {"learner", "source"} <= set(rows[0]):
        raise SubmissionError(f"{path} needs a header with the columns 'learner' and 'source'")
    out = []
    within = str(path.parent.resolve())
    for number, row in enumerate(rows, start=2):
        source = row["source"].strip()
        sub = Submission(row["learner"].strip(), source, (row.get("submitted_at") or "").strip(), within)
        if sub.submitted_at:
            try:
                datetime.fromisoformat(sub.submitted_at)
            except ValueError:
                raise SubmissionError(f"{path}, line {number}: submitted_at {sub.submitted_at!r} is not an "
                                      f"ISO 8601 time (such as 2026-03-01T18:00:00+01:00)") from None
        if not sub.is_remote and not FILE_URL.match(source) and not source.startswith("-") \
                and not Path(source).is_absolute():
            sub = Submission(sub.learner, str((path.parent / source).resolve()), sub.submitted_at, within)
        out.append(sub)
    return check_unique(out)


def _files(root: Path) -> list[Path]:
    """The regular files under ``root``, caches and environments (``NOISE``) left out, links not
    followed, no deeper than ``files.MAX_DEPTH`` folders (``rglob`` recursed into a 1100-deep
    ``__pycache__`` and ended a class run)."""
    found: list[Path] = []
    for folder, _dirs, names in files.walk(root, _noise):
        paths = [Path(folder) / name for name in names]
        found += [path for path in paths if path.is_file() and not path.is_symlink()]
    return sorted(found)


def _noise(_folder: str, names: list[str]) -> set[str]:
    return set(names) & set(NOISE)


def digest(root: Path) -> str:
    """SHA-256 of every file's relative path and bytes under ``root`` (models included, caches not)."""
    h = hashlib.sha256()
    for path in _files(root):
        h.update(os.fsencode(path.relative_to(root).as_posix()) + b"\0")  # a name as its bytes: any
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        h.update(b"\0")
    return h.hexdigest()


def _git(args: list[str], cwd: Path, timeout: float) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if done.returncode:
        raise SubmissionError(f"git {args[0]} failed: {done.stderr.strip()}")
    return done.stdout.strip()


#: The clones running now: in sessions of their own, the terminal's Ctrl-C no longer reaches them.
_cloning: set[subprocess.Popen] = set()
_cloning_lock = threading.Lock()


def stop_clones() -> None:
    """End every clone running now, with its ssh (a class run stopped with Ctrl-C)."""
    with _cloning_lock:
        running = list(_cloning)
    for process in running:
        with contextlib.suppress(procs.ProcsError):
            procs.kill_tree(process, grace=0)


def _clone(sub: Submission, target: Path, deadline: datetime | None, timeout: float) -> tuple[str, str, str]:
    """Clone ``sub`` (its last commit before ``deadline``); returns (commit, commit time, note)."""
    depth = [] if deadline else ["--depth", "1"]  # the deadline needs the history
    # A URL clones over the network's transports only; a path (refused above unless allowed) over
    # git's file transport only. No prompt for a password: a private repository fails, never waits.
    protocols = REMOTE_PROTOCOLS if sub.is_remote else "file"
    # Nor does ssh ask anything: it asked on the terminal (GIT_TERMINAL_PROMPT is git's own prompts
    # only), and a learner's ssh server put its own text there, "Instructor (root) password:", and got
    # what was typed (red-team round 42). The clone has no terminal (a session of its own, stdin
    # closed), no askpass program, and ssh runs in batch mode unless the instructor set how git runs it.
    env = {"GIT_ALLOW_PROTOCOL": protocols, "GIT_TERMINAL_PROMPT": "0", "SSH_ASKPASS_REQUIRE": "never"}
    if not (os.environ.get("GIT_SSH_COMMAND") or os.environ.get("GIT_SSH")):
        env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes"
    command = ["git", "clone", "--quiet", *depth, "--", sub.clone_source(), str(target)]
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        process = procs.spawn(command, cwd=target.parent, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    except OSError as err:  # no git here
        raise Unreachable(f"git clone {sub.source} failed: {err}") from None
    with _cloning_lock:
        _cloning.add(process)
    try:
        _, said = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:  # a host that does not answer: its ssh, say, goes with the clone
        procs.kill_tree(process, grace=0)
        raise Unreachable(f"git clone {sub.source} did not finish within {timeout:.0f} s") from None
    finally:
        with _cloning_lock:
            _cloning.discard(process)
    if process.returncode:
        raise Unreachable(f"git clone {sub.source} failed: {said.strip()}")
    note = ""
    if deadline:
        before = deadline.isoformat()
        commit = _git(["rev-list", "-1", f"--before={before}", "HEAD"], target, timeout)
        if not commit:
            raise SubmissionError(f"no commit before the deadline {before}")
        later = int(_git(["rev-list", "--count", f"{commit}..HEAD"], target, timeout) or 0)
        if later:
            note = (f"graded the last commit before the deadline ({commit[:10]}); "
                    f"{later} later commit(s) not graded")
        _git(["checkout", "--quiet", "--detach", commit], target, timeout)
    commit = _git(["rev-parse", "HEAD"], target, timeout)
    # The commit's time as seconds, not as git prints it with its zone: a zone of +9959, which git
    # accepts, printed a time no parser reads, and the class run ended storing it (red-team round 42).
    return commit, utc_iso(_git(["log", "-1", "--format=%ct", "HEAD"], target, timeout)), note


def utc_iso(seconds: float | str) -> str:
    """A time in seconds since the epoch (the learner's: a commit's, a file's) as ISO 8601 in UTC; ""
    when it is no such time (text, a year past 9999)."""
    try:
        return datetime.fromtimestamp(float(seconds), UTC).isoformat()
    except (ValueError, OverflowError, OSError):
        return ""


def _newest_mtime(root: Path) -> str:
    times = [p.stat().st_mtime for p in _files(root)]
    return utc_iso(max(times)) if times else ""


def find_service_folder(root: Path) -> Path:
    """The folder of ``root`` holding service.py: the root, or ``exercises/``; the root if none has it."""
    for layout in LAYOUTS:
        if (root / layout / "service.py").is_file():
            return root / layout
    return root


def fetch(sub: Submission, target: Path, deadline: datetime | None = None, timeout: float = 120) -> Fetched:
    """Copy or clone ``sub`` into ``target`` and fingerprint it (no learner code runs)."""
    notes: list[str] = []
    commit = ""
    if why := sub.refused():
        raise SubmissionError(why)
    # The model stores the copy leaves out count too: the digest reads every byte of them (a 15 TB
    # sparse file there hashed for hours before anyone was graded: red-team round 38).
    if sub.is_git:
        commit, when, note = _clone(sub, target, deadline, timeout)
        submitted = sub.submitted_at or when
        notes += [note] if note else []
        files.check_size(target, _noise)  # first: its limits keep the other walks shallow
        notes += files.drop_links_out(target)
        origin = target
    else:
        source = Path(sub.source)
        if not source.is_dir():
            raise Unreachable(f"no submission folder at {source}")
        files.check_size(source, _noise)  # its message names the largest file
        # The learner's folder is read once, into a copy of root's that nothing else writes: they may have
        # an account here and change it while it is read (see files.snapshot). Its models are read there.
        origin = target.with_name(f"{target.name}-as-handed-in")
        notes += files.snapshot(source, origin, _noise)
        notes += files.copy_tree(origin, target, IGNORED)
        submitted = sub.submitted_at or _newest_mtime(origin)
    folder = find_service_folder(target)
    if folder != target:
        notes.append(f"graded the service in {folder.relative_to(target).as_posix()}/")
    return Fetched(sub, target, origin, folder, digest(origin), commit, submitted, service_code(folder),
                   notes)


#: The most modules of the learner's own that :func:`service_code` joins to service.py, and the most
#: bytes it reads of each (the similarity report reads 4 MB of the whole).
MAX_MODULES = 10
MAX_MODULE_BYTES = 1 << 20
FUTURE = re.compile(r"^from __future__ import [^\n]*$", re.MULTILINE)


def _module_files(dotted: str) -> list[str]:
    """The files of the service's folder that importing ``dotted`` may run, as relative paths: the
    packages above it (``a/__init__.py``), then it as a module (``a/b.py``) or a package."""
    if len(dotted) > MAX_DOTTED:  # each part's path repeats those above it (source.parse_python already
        return []                  # refuses 50 parts; a text given to import_module is not parsed)
    parts = dotted.split(".")
    if not all(part.isidentifier() for part in parts):
        return []
    above = ["/".join(parts[:i]) + "/__init__.py" for i in range(1, len(parts))]
    return [*above, "/".join(parts) + ".py", "/".join(parts) + "/__init__.py"]


#: The longest dotted module name followed, and the most files a module's code names that are looked for.
MAX_DOTTED = 200
MAX_NAMED = 1000

#: Calls whose first argument, given as text, is the name of a module they import.
IMPORTING_CALLS = frozenset({"import_module", "__import__"})


def _imported_by_call(call: ast.Call) -> str:
    """The module an ``import_module("x")`` or ``__import__("x")`` call names as text ('' for others)."""
    called = getattr(call.func, "attr", getattr(call.func, "id", ""))
    first = call.args[0] if call.args else None
    if called in IMPORTING_CALLS and isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value
    return ""


def _own_imports(code: bytes) -> list[str]:
    """What ``code`` may load from the service's folder, as paths relative to it (see
    :func:`_module_files`); none when it does not parse. Imports, followed into packages (``from a
    import b`` may import the submodule ``a.b``); a module named as text to ``importlib.import_module``
    or ``__import__``; and any text that is a ``.py`` path, which loading by path names (``exec(open(
    "impl.py").read())``, ``spec_from_file_location``). Relative imports are read from the folder."""
    try:
        tree = parse_python(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # the parser's limits: learner input
        return []
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names += _module_files(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.module:
                names += _module_files(node.module)
            for alias in node.names:
                names += _module_files(f"{node.module}.{alias.name}" if node.module else alias.name)
        elif isinstance(node, ast.Call) and (named := _imported_by_call(node)):
            names += _module_files(named.lstrip("."))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.endswith(".py") \
                and len(node.value) < 256:
            names.append(node.value)
        if len(names) > MAX_NAMED:
            break
    return names[:MAX_NAMED]


def service_code(folder: Path) -> str | None:
    """The code the graded service runs that the learner wrote, as the similarity report compares it:
    service.py, after the files of the submission's folder it may load (see :func:`_own_imports`; and
    those they load, each once, in the order first named), each under a comment naming it. A
    classmate's service.py cut in two, its pydantic models and rules moved to an ``impl.py`` that it
    imports, compared as service.py alone went unseen (red-team round 40). Just service.py when it loads
    none; None without one."""
    service = folder / "service.py"
    if not service.is_file():
        return None
    code = service.read_bytes()
    modules: dict[str, bytes] = {}
    waiting = _own_imports(code)
    while waiting and len(modules) < MAX_MODULES:
        name = os.path.normpath(waiting.pop(0))
        path = folder / name
        if name in modules or path == service or not path.is_file() or path.is_symlink() \
                or files.escapes(path, folder):
            continue
        with contextlib.suppress(OSError), open(path, "rb") as fh:
            modules[name] = fh.read(MAX_MODULE_BYTES)
            waiting += _own_imports(modules[name])
    if not modules:
        return code.decode(errors="replace")
    # Joined, a module's `from __future__` import mid-file would not parse: the report's syntax trees
    # (which tell renamed copies) are read without them.
    parts = [*reversed(modules.items()), ("service.py", code)]
    return "".join(f"# ---- {name} ----\n{FUTURE.sub('', text.decode(errors='replace'))}\n"
                   for name, text in parts)


def _model_files_digest(version_dir: Path) -> str:
    """SHA-256 of a saved model's files, without model.yaml (it holds the save time and tag)."""
    h = hashlib.sha256()
    for path in sorted(p for p in version_dir.rglob("*") if p.is_file() and p.name != "model.yaml"):
        h.update(os.fsencode(path.relative_to(version_dir).as_posix()) + b"\0" + path.read_bytes())
    return h.hexdigest()


def stored_models(home: Path) -> list[dict[str, str]]:
    """Every model in a BentoML home: its tag, as BentoML reads its folders' names (in lower case), and
    the digest of its files. A folder whose name is no tag BentoML accepts holds no model it loads, and
    is left out: the names are the learner's, and went into the class summary as written, line breaks
    and terminal escapes included (red-team round 41)."""
    models = home / "models"
    if not models.is_dir():
        return []
    found = []
    for version in sorted(models.glob("*/*")):
        name, number = version.parent.name.lower(), version.name.lower()
        if version.is_dir() and TAG_PART.fullmatch(name) and TAG_PART.fullmatch(number):
            found.append({"tag": f"{name}:{number}", "sha256": _model_files_digest(version)})
    return found


def import_models(fetched: Fetched, home: Path, timeout: float = 120) -> tuple[list[dict], list[str]]:
    """Import the learner's ``.bentomodel`` files and any model store they ship into ``home``.

    Returns the models now in ``home`` and notes for the learner. The exports are removed from the
    copy afterwards: the models live in the home, not in the build context.
    """
    notes, imported = [], 0
    # Root writes into ``home``: it holds no link of the learner's (a dangling ``latest -> /root/x``
    # once had BentoML's import create /root/x; one to a missing folder of /tmp, made a folder of
    # root's by a classmate's code mid-import, had it write the archive's files there).
    for store in STORE_DIRS:
        models = fetched.origin / store / "models"
        if why := files.escapes(models, fetched.origin):  # a store that is a link to root's, say
            notes.append(why)
            continue
        if models.is_dir():
            copied = files.copy_tree(models, home / "models", links=False)
            notes += [f"{store}/models/{note}" for note in copied]
            notes.append(f"model store copied from {store}/")
    deadline = time.monotonic() + timeout  # for all imports: they run before the grading's own limit
    exports = _exports(fetched.origin)
    if len(exports) > MAX_EXPORTS:
        notes.append(f"{len(exports)} .bentomodel files: only the first {MAX_EXPORTS} imported "
                     f"(a submission needs one)")
    for exported in exports[:MAX_EXPORTS]:
        if why := files.escapes(exported, fetched.origin):
            notes.append(why)
            continue
        if not exported.is_file():  # a FIFO blocked the class run's reading of it for good
            notes.append(f"{exported.relative_to(fetched.origin)} is not a file: left out")
            continue
        try:
            files.check_archive(exported)  # the import below runs as the instructor: no archive bomb
        except files.NotAnExport as err:
            notes.append(f"{err}: left out")
            continue
        left = deadline - time.monotonic()
        if left <= 0:
            notes.append(f"{exported.name}: not imported, the imports took longer than {timeout:.0f} s")
            continue
        # An absolute path: BentoML resolves a relative one against / (its file system layer). As the
        # instructor, in a folder of the grader's, never the current one (GitHub Classroom's is the
        # learner's repository, whose bentoml/ package Python would otherwise import first).
        # Into an empty store of the grader's own, then copied over: never into one the learner shipped;
        # its unpacking (TMPDIR) in the same folder, removed even when the import fails half-way.
        with tempfile.TemporaryDirectory(prefix="import-", dir=home.parent) as fresh:
            done = subprocess.run([sys.executable, "-P", "-m", "bentoml", "models", "import",
                                   str(exported.resolve())], cwd=fresh,
                                  env=kit_env({"BENTOML_HOME": fresh, "TMPDIR": fresh}),
                                  capture_output=True, text=True, timeout=left)
            if done.returncode:
                notes.append(f"{exported.name} could not be imported: {done.stderr.strip()[-300:]}")
            else:
                imported += 1
                notes += files.copy_tree(Path(fresh) / "models", home / "models", links=False)
    if not imported and not notes:
        notes.append("no model found: ship the model as a .bentomodel file (bentoml models export)")
    for exported in _exports(fetched.root):
        if not exported.is_dir() or exported.is_symlink():
            exported.unlink()
    return stored_models(home), notes


def _exports(root: Path) -> list[Path]:
    """The ``.bentomodel`` entries under ``root``, sorted, never looked for in :data:`NOISE` folders (an
    rglob walked a committed ``.venv`` of a million files, which the size limits do not count)."""
    return sorted(Path(folder, name) for folder, dirs, names in files.walk(root, _noise)
                  for name in dirs + names if name.endswith(".bentomodel"))


@dataclass
class Prepared:
    """A submission fetched into ``folder`` with its models imported into the BentoML ``home``."""

    folder: Path
    home: Path
    models: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    fetched: Fetched | None = None


def prepare(sub: Submission, work: Path, timeout: float = 120, deadline: datetime | None = None) -> Prepared:
    """Fetch the submission into ``work/submission`` and fill ``work/home`` with its models."""
    home = work / "home"
    home.mkdir(parents=True)
    fetched = fetch(sub, work / "submission", deadline, timeout)
    models, notes = import_models(fetched, home, timeout)
    return Prepared(fetched.folder, home, models, fetched.notes + notes, fetched)
