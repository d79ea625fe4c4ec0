"""Read a submission's ``bentofile.yaml`` and validate it with BentoML's own build-config schema."""

from __future__ import annotations

import os
import platform
import re
import sys
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from bentokit import private
from grader.facts import files

#: Packages the service needs in the bento, by canonical name.
REQUIRED_PACKAGES = ("xgboost", "scikit-learn", "pydantic")


@dataclass
class Bentofile:
    """A parsed and validated bentofile, or the reason it is not one."""

    path: Path
    exists: bool = False
    #: The YAML mapping as written, and BentoML's own structured form of it (BentoBuildConfig).
    raw: dict[str, Any] = field(default_factory=dict)
    config: Any = None
    error: str = ""

    @property
    def valid(self) -> bool:
        return self.config is not None


def leaf_errors(err: BaseException) -> list[str]:
    """The messages at the leaves of cattrs' nested validation errors."""
    if isinstance(err, BaseExceptionGroup):
        return [msg for sub in err.exceptions for msg in leaf_errors(sub)]
    return [str(err).split("\n")[0]]


def read(path: Path) -> Bentofile:
    """Parse YAML, then structure it into ``BentoBuildConfig`` as ``bentoml build`` does."""
    facts = Bentofile(path=path)
    if not path.is_file():
        facts.error = f"{path.name} not found in {path.parent}"
        return facts
    facts.exists = True
    try:
        raw = files.load_yaml(files.read_bytes(path, path.parent).decode(errors="replace"))
    except files.OutsideSubmission as err:
        facts.error = str(err)
        return facts
    except yaml.YAMLError as err:
        facts.error = f"not valid YAML: {err}"
        return facts
    except RecursionError:  # PyYAML reads nested collections recursively
        facts.error = "not valid YAML here: its collections nest hundreds of levels deep"
        return facts
    if not isinstance(raw, dict):
        facts.error = f"expected a mapping of build options, got {type(raw).__name__}"
        return facts
    facts.raw = raw
    try:
        facts.config = private.load_build_config(raw)
    except Exception as err:  # cattrs raises ClassValidationError groups, attrs TypeError/ValueError
        facts.error = "BentoML rejects it: " + "; ".join(leaf_errors(err))
    return facts


def requirements(facts: Bentofile, base: Path) -> tuple[list[str], str]:
    """The python requirement lines (``packages`` or the ``requirements_txt`` file) and where from."""
    python = facts.config.python
    if python.requirements_txt:
        req_path = base / python.requirements_txt
        if not req_path.is_file():
            return [], f"requirements_txt {python.requirements_txt} (missing)"
        try:
            text = files.read_bytes(req_path, base).decode(errors="replace")
        except files.OutsideSubmission:  # `../../etc/shadow`, or a link out: not read
            return [], f"requirements_txt {python.requirements_txt} (outside the submission: not read)"
        lines = [ln.split("#")[0].strip() for ln in text.splitlines()]
        where = f"requirements_txt {python.requirements_txt}"
        return [ln for ln in lines if ln and not ln.startswith("-")], where
    return list(python.packages or []), "python.packages"


@dataclass
class PackageCheck:
    name: str
    requirement: str = ""
    problem: str = ""


def check_packages(lines: list[str]) -> tuple[list[PackageCheck], list[str]]:
    """Each required package's pin, and the lines that name ``sklearn`` (which no longer installs)."""
    parsed: dict[str, Requirement] = {}
    sklearn = []
    for line in lines:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        name = canonicalize_name(req.name)
        if name == "sklearn":
            sklearn.append(line)
        parsed.setdefault(name, req)
    out = []
    for name in REQUIRED_PACKAGES:
        installed = importlib_metadata.version(name)
        req = parsed.get(name)
        check = PackageCheck(name, str(req) if req else "")
        if req is None:
            check.problem = f"{name} is missing: add \"{name}=={installed}\""
        else:
            pins = [s.version for s in req.specifier if s.operator == "=="]
            if not pins:
                check.problem = f"{req} is not pinned: write \"{name}=={installed}\" (the version in use)"
            elif pins[0] != installed:
                check.problem = (f"{req} differs from the installed {name} {installed}, which the model "
                                 f"was trained with: write \"{name}=={installed}\"")
        out.append(check)
    return out, sklearn


def path_spec(facts: Bentofile, ctx_dir: Path) -> Any:
    """BentoML's own include/exclude matcher for this bentofile."""
    return private.path_spec(facts.config, ctx_dir)


#: The Python the grader (and a build on this machine) runs, as a bentofile writes it.
PYTHON_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
#: Where a lock looks for packages: bentofile python options, requirement-file options, uv's flags.
INDEX_KEYS = {"index_url": "--index-url", "extra_index_url": "--extra-index-url",
              "find_links": "--find-links"}
INDEX_FLAGS = {"-i": "--index-url", "--index-url": "--index-url", "--extra-index-url": "--extra-index-url",
               "-f": "--find-links", "--find-links": "--find-links"}


#: The bentofile's python options a lock of ``lock_input`` takes in full (any other one, such as
#: ``trusted_host`` or ``pip_args``, may change what the build's lock finds).
LOCKED_KEYS = frozenset({"packages", "requirements_txt", "index_url", "extra_index_url", "find_links",
                         "no_index", "lock_packages", "pack_git_packages"})


@dataclass
class LockInput:
    """What the grader locks to check a build: requirement lines, and uv's flags (indexes, and the
    bentofile's Python when it is not the grader's, as the build's lock has them)."""

    requirements: list[str]
    index_args: list[str]
    #: The build's lock, on this machine, asks exactly this: nothing was left out, and BentoML locks
    #: for this machine's platform (elsewhere it names Linux's). The grader's own lock then decides
    #: what the build's would, and the grader's builds skip theirs (grader.children.service).
    complete: bool = False


def _bare(line: str) -> str:
    """A requirement line without the blanks and invisible format characters around it: uv drops a
    byte-order mark, so "\ufeff-r /root/file" is an option, the same as "-r /root/file"."""
    while line and (line[0].isspace() or unicodedata.category(line[0]) == "Cf"):
        line = line[1:]
    while line and (line[-1].isspace() or unicodedata.category(line[-1]) == "Cf"):
        line = line[:-1]
    return line


def lock_input(path: Path) -> LockInput | None:
    """What ``bentoml build`` locks for the bentofile at ``path``, read from the YAML alone; None when
    it locks nothing, or looks for packages where the grader does not (local wheels or folders).

    Requirements the grader leaves out (URLs, local paths, nested and constraint files, editables) only
    make its lock easier than the build's: when even that fails, the build's failed too.
    """
    try:
        raw = files.load_yaml(files.read_bytes(path, path.parent))
    except (OSError, ValueError, yaml.YAMLError, RecursionError):
        return None
    python = raw.get("python") if isinstance(raw, dict) else None
    python = python if isinstance(python, dict) else {}
    locks = python.get("lock_packages")
    if locks is None:  # BentoML's default: it locks unless git packages are not packed
        locks = python.get("pack_git_packages") is not False
    docker = raw.get("docker") if isinstance(raw.get("docker"), dict) else {}
    if not locks or python.get("wheels"):
        return None  # nothing locked; local wheels
    args: list[str] = []
    version = ".".join(str(docker.get("python_version") or PYTHON_VERSION).split(".")[:2])
    if version != PYTHON_VERSION:  # as the build's lock does (BentoML's images.py), for that Python
        args += ["--python-version", version]
    for key, flag in INDEX_KEYS.items():
        values = python.get(key) or []
        for value in [values] if isinstance(values, str) else values:
            if not _remote(value):
                return None
            args += [flag, value]
    if python.get("no_index"):
        args.append("--no-index")
    lines = python.get("packages") or []
    if python.get("requirements_txt"):
        try:
            text = files.read_bytes(path.parent / str(python["requirements_txt"]), path.parent)
        except (OSError, ValueError):
            return None
        text = text.decode(errors="replace").replace("\\\n", " ")  # a line continued with a backslash
        lines = [ln.split(" #")[0].strip() for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    if not isinstance(lines, list):
        return None
    kept, left_out = [], bool(set(python) - LOCKED_KEYS)
    for line in (_bare(ln) for ln in lines if isinstance(ln, str) and _bare(ln)):
        if line.startswith("-"):
            words = line.replace("=", " ", 1).split()
            if words[0] == "--no-index":
                args.append("--no-index")
            elif words[0] in INDEX_FLAGS:
                if len(words) < 2 or not _remote(words[1]):
                    return None
                args += [INDEX_FLAGS[words[0]], words[1]]
            else:
                left_out = True  # -r, -c, -e, --prefer-binary, ...
            continue
        try:
            if Requirement(line).url:
                left_out = True
                continue
        except InvalidRequirement:
            if line.startswith((".", "/", "~")) or "://" in line:  # a path or a URL: left out
                left_out = True
                continue
        # uv judges a line that is no requirement, as the build's lock does; hashes are for installs
        words = line.split()
        kept.append(" ".join(word for word in words if not word.startswith("--hash")))
        left_out |= any(word.startswith("--hash") for word in words)
    if not kept:
        return None
    if not any(_names_bentoml_by_url(ln) for ln in lines if isinstance(ln, str)):  # as the build adds it
        kept.append(f"bentoml=={importlib_metadata.version('bentoml')}")
    # BentoML's images.py locks for Linux's platform on any other machine.
    here = platform.system() == "Linux" and platform.machine() == "x86_64"
    return LockInput(kept, args, complete=here and not left_out)


def _names_bentoml_by_url(line: str) -> bool:
    try:
        found = Requirement(line)
    except InvalidRequirement:
        return False
    return canonicalize_name(found.name) == "bentoml" and bool(found.url)


def _remote(value: object) -> bool:
    return isinstance(value, str) and value.startswith(("https://", "http://"))


#: The bentofile's fields that name files of the build context, which ``bentoml build`` reads (and
#: fails on when one is missing): (section, key), ``None`` for a top-level key. (A ``setup_script``
#: need not be executable: BentoML 1.4's build makes it so.)
BUILD_FILES = ((None, "description"), ("python", "requirements_txt"), ("python", "wheels"),
               ("conda", "environment_yml"), ("docker", "setup_script"), ("docker", "dockerfile_template"))


def missing_build_files(path: Path, env: Mapping[str, str] | None = None) -> list[str]:
    """The files the bentofile at ``path`` names that a build of its folder could not read, each with
    why, read from the YAML and the folder alone; ``[]`` when none (or when it cannot tell).

    BentoML expands each name (``$VAR`` from the build's environment ``env``, then ``~``), resolves it
    against the build's folder, and refuses a missing file, an absolute path, a path out of the folder
    or a hidden one. The grader checks a build's end with it because the build runs learner code,
    which can print a tag and write a bento whatever the build would have said.
    """
    try:
        raw = files.load_yaml(files.read_bytes(path, path.parent))
    except (OSError, ValueError, yaml.YAMLError, RecursionError):
        return []
    if not isinstance(raw, dict):
        return []
    missing = []
    for section, key in BUILD_FILES:
        holder = raw if section is None else raw.get(section)
        value = holder.get(key) if isinstance(holder, dict) else None
        if key == "description":
            value = value[5:].strip() if isinstance(value, str) and value.startswith("file:") else None
        for name in [value] if isinstance(value, str) else value if isinstance(value, list) else []:
            if not isinstance(name, str):
                continue
            field_name = key if section is None else f"{section}.{key}"
            if why := _unreadable_by_build(path.parent, _expanded(name, env or {})):
                missing.append(f"{field_name}: {name} {why}")
    return missing


def _expanded(name: str, env: Mapping[str, str]) -> str:
    """``os.path.expanduser(os.path.expandvars(name))`` as the build's process would have it."""
    name = re.sub(r"\$(\w+|\{([^}]*)\})", lambda m: env.get(m.group(2) or m.group(1), m.group(0)), name)
    if name == "~" or name.startswith("~/"):
        return env.get("HOME", "/") + name[1:]
    return os.path.expanduser(name) if name.startswith("~") else name


def _unreadable_by_build(folder: Path, name: str) -> str:
    if Path(name).is_absolute():
        return "is an absolute path, which the build refuses"
    target = (folder / name).resolve()
    base = folder.resolve()
    if not target.is_relative_to(base):
        return "leads out of the bentofile's folder, which the build refuses"
    if any(part.startswith(".") for part in target.relative_to(base).parts):
        return "is a hidden file or folder, which the build refuses"
    if not target.is_file():
        return "is not in the submission"
    return ""
