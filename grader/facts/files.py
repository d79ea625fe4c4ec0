"""A learner's files, as the grader reads them: never through a link that leads out of their folder.

The grader often runs as root (Gradescope, GitHub Actions, a class server) while learner code runs
as a user of its own. A submission's ``bentofile.yaml -> /root/.ssh/id_rsa``, or a
``requirements_txt: ../../etc/shadow``, would otherwise have this process read a file the learner
cannot, and quote it in the learner's feedback. Links inside the submission are followed as usual.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tarfile
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

import yaml

#: The most a submission's files may hold, and how many there may be. A course submission is a few MB;
#: a sparse file takes no disk until it is copied (``truncate -s 1T``), and a copy would fill the
#: grading machine's disk for every learner after it.
MAX_BYTES = 512 * 2**20
MAX_FILES = 20_000
#: The most folders deep a submission's files may sit. Deeper ones are refused before anything walks
#: them: Python 3.11's walks and copies recurse once per level, and 1000 levels raised RecursionError,
#: which ended a class run.
MAX_DEPTH = 100


#: The most nodes a YAML document of the learner's may hold once its aliases are expanded (the kit's
#: bentofile has about 40; a bento.yaml a few hundred).
MAX_YAML_NODES = 100_000


def load_yaml(text: str | bytes) -> Any:
    """``yaml.safe_load`` of YAML the learner wrote, refusing (``yaml.YAMLError``) a document that holds
    itself or whose aliases expand past :data:`MAX_YAML_NODES` nodes. A 566-byte bentofile of nested
    aliases (``&a2 [*a1, *a1, ...]``) loads as shared references at once, but BentoML's check of it
    turned each into text: 10^8 strings, in the grader's own process, as root (red-team round 41).

    Written by hand around PyYAML's composer and constructor, which have no such limit."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _count_nodes(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _count_nodes(root: yaml.Node) -> int:
    """The nodes of ``root`` with every alias expanded, counted without expanding any (each node's
    count once, after its children's: the walk keeps its own stack, as documents nest deep)."""
    counts: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in counts:
            continue
        if isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            children = [] if isinstance(node, yaml.ScalarNode) else node.value
        if children_done:
            open_nodes.discard(id(node))
            counts[id(node)] = 1 + sum(counts[id(child)] for child in children)
            if counts[id(node)] > MAX_YAML_NODES:
                raise yaml.YAMLError(f"its aliases expand to more than {MAX_YAML_NODES:,} values: "
                                     f"write the values out instead of repeating them by reference")
            continue
        if id(node) in open_nodes:
            raise yaml.YAMLError("a value in it holds itself (an alias inside its own anchor)")
        open_nodes.add(id(node))
        stack.append((node, True))
        stack += [(child, False) for child in children if id(child) not in counts]
    return counts[id(root)]


class OutsideSubmission(ValueError):
    """The file is a link (or behind one, or a ``..`` path) that leads out of the submission."""


class TooLarge(OSError):
    """The submission's files hold more than :data:`MAX_BYTES`, are more than :data:`MAX_FILES`, or
    nest deeper than :data:`MAX_DEPTH` folders."""


def walk(root: Path, ignore: Callable[[str, list[str]], set[str]] | None = None
         ) -> Iterator[tuple[str, list[str], list[str]]]:
    """``os.walk(root)`` (top-down, never into a linked folder) without what ``ignore`` leaves out
    (``shutil.ignore_patterns``' signature); raises :class:`TooLarge` before it goes deeper than
    :data:`MAX_DEPTH` folders."""
    top = len(Path(root).parts)
    for folder, dirs, names in os.walk(root):
        skip = set(ignore(folder, dirs + names)) if ignore else set()
        dirs[:] = [d for d in dirs if d not in skip]
        if dirs and len(Path(folder).parts) - top >= MAX_DEPTH:  # before the walk recurses further
            shown = (Path(folder) / dirs[0]).relative_to(root).as_posix()
            raise TooLarge(f"the submission's folders nest more than {MAX_DEPTH} deep ({shown[:120]}…): "
                           f"hand in the service's folder without such a tree")
        yield folder, dirs, [name for name in names if name not in skip]


def check_size(root: Path, ignore: Callable[[str, list[str]], set[str]] | None = None) -> None:
    """Raise :class:`TooLarge` when what is under ``root`` (links not followed, what ``ignore`` leaves
    out not counted) exceeds the limits: the regular files' sizes as a copy would write them, the
    number of entries (files, folders and links alike: 100 000 empty folders and links took a copy 36 s
    and as many inodes), and the depth of its folders (:func:`walk`)."""
    total, count, largest = 0, 0, (0, "")

    def too_large() -> TooLarge:
        shown = Path(largest[1]).relative_to(root).as_posix() if largest[1] else "-"
        return TooLarge(f"the submission holds more than {MAX_BYTES // 2**20} MB in files or more than "
                        f"{MAX_FILES} files, folders and links (the largest file so far: {shown}, "
                        f"{largest[0] / 2**20:.0f} MB): leave data sets, environments and large files "
                        f"out of it")

    for folder, dirs, names in walk(root, ignore):
        count += len(dirs)
        for name in names:
            count += 1
            path = os.path.join(folder, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue  # gone meanwhile: the copy will say so
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
                largest = max(largest, (st.st_size, path))
            if total > MAX_BYTES or count > MAX_FILES:
                raise too_large()
        if count > MAX_FILES:
            raise too_large()


def escapes(path: Path, root: Path) -> str:
    """Why the grader does not read (or write through) ``path`` as one of ``root``'s files (``''``: it may).

    A link whose target is missing counts by where it points: ``latest -> /root/x`` is nothing to read
    today, but root would create ``/root/x`` by writing ``latest`` (BentoML's import does), and a
    classmate's code could make ``/tmp/d`` a folder of root's between the check and the use."""
    shown = path.relative_to(root) if path.is_relative_to(root) else path
    try:
        target = path.resolve()  # the existing part followed, the rest as written
    except (OSError, RuntimeError):  # a loop
        return f"{shown} is a link that leads nowhere (a loop): the grader does not read or follow it."
    base = root.resolve()
    if target == base or base in target.parents:
        return ""
    return (f"{shown} leads out of the submission (to {target}): the grader does not read files "
            f"outside it. Put the file itself in the submission folder.")


def read_bytes(path: Path, root: Path) -> bytes:
    """``path``'s bytes, when it is inside ``root``; raises OutsideSubmission (or OSError) if not."""
    if why := escapes(path, root):
        raise OutsideSubmission(why)
    return path.read_bytes()


def drop_links_out(root: Path) -> list[str]:
    """Remove the links under ``root`` that lead out of it; notes say which. Whatever copies ``root``
    afterwards as root (``grader.cohort``'s copy, ``bentoml containerize``'s build context) would
    follow them: ``service.py -> /root/.ssh/id_rsa`` would end up in the learner's hands."""
    notes: list[str] = []
    for folder, dirs, names in walk(root):
        for name in dirs + names:
            path = Path(folder) / name
            if path.is_symlink() and (why := escapes(path, root)):
                where = "nowhere (a loop)" if "a loop" in why else "outside the submission"
                notes.append(f"{path.relative_to(root).as_posix()} is a link to {os.readlink(path)}, "
                             f"{where}: left out (the grader reads no file outside it)")
                path.unlink()
    return notes


class NotAnExport(ValueError):
    """A ``.bentomodel`` archive holding what ``bentoml models export`` never writes."""


def check_archive(path: Path) -> None:
    """Raise :class:`TooLarge` when the tar archive at ``path`` (a ``.bentomodel`` export: compressed,
    often with xz, so a few MB can unpack to many GB) would unpack to more than the limits, and
    :class:`NotAnExport` when it holds anything but files and folders: a link member counts 0 bytes
    here, and its importer writes a whole copy of its target (40 hard links to 30 MB of zeros made a
    37 KB export that wrote 1.2 GB). Read with seeks, not as a stream (Python's xz stream took 92 s
    over 60 MB of zeros), and only up to the limit; a file that is no archive is left to its importer
    to reject."""
    total = count = 0
    with contextlib.suppress(tarfile.TarError, EOFError), tarfile.open(path, mode="r:*") as tar:
        for member in tar:
            if not (member.isreg() or member.isdir()):
                raise NotAnExport(f"{path.name} holds {member.name!r}, which is not a file or a folder: "
                                  f"not a model export (bentoml models export credit_risk_model:latest)")
            total, count = total + member.size, count + 1
            if total > MAX_BYTES or count > MAX_FILES:
                raise TooLarge(f"{path.name} unpacks to more than {MAX_BYTES // 2**20} MB or more than "
                               f"{MAX_FILES} files: export only the model "
                               f"(bentoml models export credit_risk_model:latest)")


def copy_tree(source: Path, target: Path,
              ignore: Callable[[str, list[str]], set[str]] | None = None, links: bool = True,
              owners: Collection[int] | None = None) -> list[str]:
    """Copy a learner's folder as root without reading anything through a link: links are copied as
    links, then those that lead out of the copy are removed (:func:`drop_links_out`); anything neither
    a file, a folder nor a link (a FIFO would hang the copy) is left out. Notes say what was left out.
    ``links=False`` leaves every link out (a model store holds none, and root writes into it).
    A file is read only if it is, once open, a regular file and no link (:func:`copy_file`), and with
    ``owners`` (learner code's users, when it may still write the folder) only a file one of them owns.
    Raises :class:`TooLarge` before copying anything when the files exceed the limits, and OSError
    when a file fails those checks (without its name, which a swapped folder makes another user's)."""
    check_size(source, ignore)
    notes: list[str] = []

    def ignored(folder: str, names: list[str]) -> set[str]:
        skip = set(ignore(folder, names)) if ignore else set()
        for name in set(names) - skip:
            mode = os.lstat(os.path.join(folder, name)).st_mode
            shown = (Path(folder) / name).relative_to(source).as_posix()
            if stat.S_ISLNK(mode) and not links:
                skip.add(name)
                notes.append(f"{shown} is a link: left out (a model store holds files only)")
            elif not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
                skip.add(name)
                notes.append(f"{shown} is not a file or a folder: left out")
        return skip

    try:
        shutil.copytree(source, target, ignore=ignored, symlinks=True, dirs_exist_ok=True,
                        copy_function=lambda src, dst: copy_file(src, dst, owners))
    except shutil.Error as err:  # not its text: through a folder swapped for a link, it names others' files
        raise OSError(f"{len(err.args[0]) if err.args else 1} of its files could not be copied: each must be "
                      f"a regular file of learner code's, never a link (something changed them while they "
                      f"were copied)") from None
    return notes + drop_links_out(target)


def snapshot(source: Path, target: Path, ignore: Callable[[str, list[str]], set[str]] | None = None
             ) -> list[str]:
    """Copy a folder that its owner may be changing meanwhile (a learner with an account on the class's
    machine, whose folder it is) as root, reading it once and by descriptors: each folder is opened
    relative to the one above it, without following a link and without waiting (``O_NOFOLLOW``,
    ``O_DIRECTORY``, ``O_NONBLOCK``), and entered only if it is the folder that was listed; each file is
    opened the same way and checked once open, and copied only while the limits hold, counted as it is
    read. Everything else then reads this copy, which nothing else writes.

    The copy by path followed a folder swapped for a link after its listing (root's held-out applicants
    and a classmate's work copied into a learner's graded folder); a file grown after the size check was
    copied whole (1.5 GiB past the 512 MB limit); and the copy, the digest and the model import each read
    the live folder, so each could be given other files (red-team round 43). ``os.fwalk`` opens a folder
    following a link before it checks it: one swapped for a link to a FIFO held the class run for good
    (round 44). Links are copied as links, then those that lead out of the copy are removed; anything
    else (a FIFO) is left out. Notes say what was left out. Raises :class:`TooLarge` (and OSError for a
    ``source`` that is itself a link or no folder).

    Written by hand: shutil's copies walk by path, and ``os.fwalk`` as said."""
    notes: list[str] = []
    state = {"bytes": 0, "entries": 0}
    target.mkdir(parents=True, exist_ok=True)
    top = os.open(source, _FOLDER_FLAGS)
    try:
        _snapshot_folder(top, source, Path(), target, ignore, state, notes)
    finally:
        os.close(top)
    return notes + drop_links_out(target)


#: How :func:`snapshot` opens a folder: never through a link, never waiting (a FIFO in its place).
_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _snapshot_folder(fd: int, source: Path, where: Path, target: Path,
                     ignore: Callable[[str, list[str]], set[str]] | None, state: dict[str, int],
                     notes: list[str]) -> None:
    """Copy the folder open as ``fd`` (``where`` in ``source``) into ``target / where``; one descriptor
    per level is open at a time, and the levels are at most :data:`MAX_DEPTH`."""
    with os.scandir(fd) as listing:
        names = [entry.name for entry in listing]
    skip = set(ignore(str(source / where), names)) if ignore else set()
    for name in [n for n in names if n not in skip]:
        state["entries"] += 1
        if state["entries"] > MAX_FILES:
            raise TooLarge(f"the submission holds more than {MAX_FILES} files, folders and links: leave "
                           f"data sets, environments and large files out of it")
        try:
            listed = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if stat.S_ISDIR(listed.st_mode):
                if len(where.parts) >= MAX_DEPTH:
                    raise TooLarge(f"the submission's folders nest more than {MAX_DEPTH} deep: hand in the "
                                   f"service's folder without such a tree")
                inner = os.open(name, _FOLDER_FLAGS, dir_fd=fd)
                try:
                    if not os.path.samestat(listed, os.fstat(inner)):
                        continue  # another folder put in its place since it was listed: not entered
                    (target / where / name).mkdir(exist_ok=True)
                    _snapshot_folder(inner, source, where / name, target, ignore, state, notes)
                finally:
                    os.close(inner)
            elif stat.S_ISLNK(listed.st_mode):
                os.symlink(os.readlink(name, dir_fd=fd), target / where / name)
            elif stat.S_ISREG(listed.st_mode):
                state["bytes"] += _copy_at(fd, name, target / where / name, MAX_BYTES - state["bytes"])
            else:
                notes.append(f"{(where / name).as_posix()} is not a file or a folder: left out")
        except (FileNotFoundError, NotADirectoryError):
            continue  # gone, or no longer a folder, since it was listed
        except OSError as err:
            if err.errno != errno.ELOOP:  # a link put in its place since it was listed: left out
                raise


def _copy_at(dir_fd: int, name: str, target: Path, room: int) -> int:
    """Copy the regular file ``name`` of the folder open as ``dir_fd`` (opened without following a link,
    checked once open) to ``target``, its mode and times too; raise :class:`TooLarge` past ``room``
    bytes. Returns the bytes copied; 0 for what is, once open, no regular file (not copied)."""
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return 0
        copied = 0
        with open(fd, "rb", closefd=False) as reader, open(target, "wb") as writer:
            while block := reader.read(min(1 << 20, room - copied + 1)):
                copied += len(block)
                if copied > room:
                    raise TooLarge(f"the submission holds more than {MAX_BYTES // 2**20} MB in files (it "
                                   f"grew while it was copied, at {name}): leave data sets, environments "
                                   f"and large files out of it")
                writer.write(block)
        os.chmod(target, stat.S_IMODE(st.st_mode) & 0o777)
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
        return copied
    finally:
        os.close(fd)


def copy_file(source: str, target: str, owners: Collection[int] | None = None) -> str:
    """Copy the regular file ``source`` to ``target`` (its mode and times too), or raise OSError. The
    file is opened without following a link and checked once open: learner code still running can
    swap a file it listed for a link to one of root's after the listing, and a path checked before it
    is opened is read through that link (red-team round 37: root's files, and the grader's own
    environment through /proc/self/environ, copied into the learner's image). A folder swapped so
    leads to files of other users, which ``owners`` refuses."""
    fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        if owners is not None and st.st_uid not in owners:
            raise PermissionError(errno.EACCES, "not a file of learner code's users")
        with open(fd, "rb", closefd=False) as reader, open(target, "wb") as writer:
            shutil.copyfileobj(reader, writer)
        os.chmod(target, stat.S_IMODE(st.st_mode) & 0o777)
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    finally:
        os.close(fd)
    return target
