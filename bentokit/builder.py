"""Rootless podman for a grader running as root: learners' images are built and run by a user of its own.

A learner's bento reaches the Dockerfile (``bentokit.dockerfile`` checks it first), and the engine runs
its commands while it builds. Built by root's podman, a command that gets past the check (Debian 12's
buildah binds host paths into a build: CVE-2024-1753, and the cache folders of later reports) acts as
root on the host. Built and run by ``bentokit-builder``, rootless, the build's root is that user on the
host, and the container's users are its subordinate ids: a command that escapes reaches what that user
can, its own image store, no more.

The user has a home of its own (``/var/lib/bentokit-builder``): its image store (the layer cache every
build reuses), its configuration (the overlay driver) and its runtime folder. Base images root's podman
has (``containers/base-image.sh`` makes ``python:3.11-slim`` on machines without a registry) are copied
into that store when it lacks them. Written by hand: podman sets up a rootless user's storage and
namespaces by itself, given a home, subordinate ids and a driver; the rest is ``useradd`` and ``usermod``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import pwd
import resource
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bentokit import dockerfile, procs
from bentokit.containers import Engine, image_names

NAME = "bentokit-builder"
HOME = Path("/var/lib/bentokit-builder")
#: Subordinate ids for the user's containers (the image's ``bentoml`` user is one of them).
ID_COUNT = 65536
#: Free space on the file system of the builder's store below which a build begins by removing the layer
#: cache (every untagged image). A learner's ``setup_script`` took all of the disk with ``fallocate`` in
#: a layer of its own, made before the bento's files are copied: removing the learner's image keeps the
#: layers below those files as the next build's cache, so that one stayed, and every later grading on
#: the machine failed for want of space (red-team round 40).
MIN_FREE_FOR_CACHE = 8 << 30
_TIMEOUT = 300.0


class BuilderError(RuntimeError):
    """The builder user could not be made ready; the message says what to do."""


@dataclass(frozen=True)
class Builder:
    """The builder user: run its podman through :meth:`engine`, or a process as it with :meth:`env`."""

    name: str
    uid: int
    gid: int
    home: Path

    def env(self) -> dict[str, str]:
        """Where its podman finds its store, configuration and runtime folder."""
        return {"HOME": str(self.home), "XDG_RUNTIME_DIR": str(self.home / "run"),
                "XDG_CONFIG_HOME": str(self.home / ".config"), "XDG_CACHE_HOME": str(self.home / ".cache"),
                "XDG_DATA_HOME": str(self.home / ".local" / "share")}

    def engine(self, engine: Engine) -> Engine:
        """``engine`` (podman), its commands run as the builder user."""
        runuser = shutil.which("runuser", path="/usr/sbin:/sbin:/usr/bin:/bin") or "runuser"
        # Nothing of the caller's environment: a TMPDIR of root's, say, is a folder the user cannot enter.
        clean = {**self.env(), "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
                 "TMPDIR": "/var/tmp", "LANG": "C.UTF-8"}
        variables = [f"{key}={value}" for key, value in clean.items()]
        return dataclasses.replace(engine, run_as=(runuser, "-u", self.name, "--", "env", "-i", "--chdir",
                                                   str(self.home), *variables), user=self.name)

    def share_base_images(self, root: Engine) -> list[str]:
        """Copy the Python base images root's podman has and the builder's lacks into the builder's
        store (the build would try to pull them); their names."""
        listing = ("images", "--format", "{{.Repository}}:{{.Tag}}")
        mine = set(_run(self.engine(root).command(*listing), f"listing the images of {self.name}").split())
        wanted = [name for name in image_names(root)
                  if dockerfile.BASE_IMAGE.fullmatch(name) and name not in mine]
        if not wanted:
            return []
        shared = procs.SHARED_TMP[0]  # not root's TMPDIR, which the builder may not enter
        with tempfile.TemporaryDirectory(prefix="bentokit-builder-images-", dir=shared) as folder:
            Path(folder).chmod(0o711)  # the builder reads the archive by its name, nothing else
            archive = Path(folder) / "images.tar"
            _run(root.command("save", "-o", str(archive), *wanted), "saving the base images")
            archive.chmod(0o644)
            _run(self.engine(root).command("load", "-i", str(archive)), "loading the base images")
        return wanted


@contextlib.contextmanager
def one_build_at_a_time(engine: Engine, home: Path = HOME) -> Iterator[list[str]]:
    """Hold the builder's build lock while the block builds (as the builder user, ``engine`` its podman);
    yields the working containers it removed first. A build killed half-way (a time limit, an
    interrupted grading) leaves buildah's working containers in the store (podman 4.3, one per step
    begun), and each holds a layer on disk: with the lock held, no build is running, so every one there
    is a leftover. Unused volumes go too, and with less than :data:`MIN_FREE_FOR_CACHE` free on the
    store's disk, the layer cache. Run as the builder user (the lock file is its own)."""
    if os.geteuid() == 0:
        raise BuilderError("the build lock is taken as the builder user, not as root")
    with open(home / "run" / "build.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # freed by the kernel when a killed build's process ends
        listed = _run(engine.command("ps", "--all", "--external", "--format", "{{.ID}} {{.Status}}"),
                      "listing the working containers")
        leftovers = [line.split()[0] for line in listed.splitlines() if line.split()[1:] == ["Storage"]]
        if leftovers:
            _run(engine.command("rm", "--force", *leftovers), "removing a killed build's working containers")
        # And volumes no container uses (the grader makes none; a container removed without its
        # anonymous volumes left them): each holds disk and one of podman's locks.
        _run(engine.command("volume", "prune", "--force"), "removing unused volumes")
        if shutil.disk_usage(home).free < MIN_FREE_FOR_CACHE:
            _run(engine.command("image", "prune", "--force"), "removing the layer cache (the disk is short)")
        yield leftovers


def ensure(root: Engine) -> Builder:
    """The builder user, made ready (once per machine: the user, its subordinate ids, its home and
    driver). Root only; a :class:`BuilderError` saying what is missing."""
    if os.geteuid() != 0:
        raise BuilderError("Rootless image builds are set up by root.")
    try:
        user = procs.ensure_user(NAME, home=str(HOME), comment="BentoML kit learner image builds",
                                 what="learners' image builds")
    except procs.SandboxError as err:
        raise BuilderError(str(err)) from None
    with open(procs.lock_dir() / "builder.lock", "w") as lock:  # two gradings setting it up at once
        fcntl.flock(lock, fcntl.LOCK_EX)
        _subordinate_ids(user)
        builder = Builder(user.pw_name, user.pw_uid, user.pw_gid, HOME)
        _home(builder, root)
    return builder


def _run(command: list[str], what: str) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=_TIMEOUT,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise BuilderError(f"{what} failed: {err}") from err
    if done.returncode != 0:
        raise BuilderError(f"{what} failed: {(done.stderr or done.stdout).strip()[-500:]}")
    return done.stdout


def _ranges(path: Path) -> list[tuple[str, int, int]]:
    found = []
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            name, _, rest = line.partition(":")
            start, _, count = rest.partition(":")
            if start.isdigit() and count.isdigit():
                found.append((name, int(start), int(count)))
    return found


def _subordinate_ids(user: pwd.struct_passwd) -> None:
    """A range of ids of its own in /etc/subuid and /etc/subgid, after every range there."""
    files = (Path("/etc/subuid"), Path("/etc/subgid"))
    if all(any(name in (user.pw_name, str(user.pw_uid)) for name, _, _ in _ranges(f)) for f in files):
        return
    if not (shutil.which("newuidmap") and shutil.which("newgidmap")):
        raise BuilderError("Rootless image builds need newuidmap and newgidmap: "
                           "`sudo apt-get install uidmap` (Debian/Ubuntu).")
    start = max([100000, *(s + c for f in files for _, s, c in _ranges(f))])
    usermod = shutil.which("usermod", path="/usr/sbin:/sbin:/usr/bin") or "usermod"
    span = f"{start}-{start + ID_COUNT - 1}"
    _run([usermod, "--add-subuids", span, "--add-subgids", span, user.pw_name],
         f"giving {user.pw_name} subordinate ids")


def _home(builder: Builder, root: Engine) -> None:
    """Its home: root's, where the builder owns its store (``.local``), caches and runtime folder and
    reads its configuration (root's: the overlay driver, vfs where the kernel has no rootless overlay).
    Nothing root writes there is in a folder the builder could swap for a link."""
    owners = {builder.home: (0, 0o755), builder.home / ".config": (0, 0o755),
              builder.home / ".config" / "containers": (0, 0o755),
              builder.home / "run": (builder.uid, 0o700), builder.home / ".local": (builder.uid, 0o700),
              builder.home / ".cache": (builder.uid, 0o700)}
    for folder, (uid, mode) in owners.items():
        folder.mkdir(mode=mode, exist_ok=True)
        os.chown(folder, uid, builder.gid if uid else 0, follow_symlinks=False)
        folder.chmod(mode)
    # Its containers' limits, no higher than its own: the build runs with the sandbox's limits
    # (procs.MAX_PROCESSES, procs.MAX_OPEN_FILES), and runc fails to raise a limit above the hard one.
    files = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    files = min(procs.MAX_OPEN_FILES, 1 << 20 if files == resource.RLIM_INFINITY else files)
    (builder.home / ".config" / "containers" / "containers.conf").write_text(
        f'[containers]\ndefault_ulimits = ["nofile={files}:{files}", '
        f'"nproc={procs.MAX_PROCESSES}:{procs.MAX_PROCESSES}"]\n')
    config = builder.home / ".config" / "containers" / "storage.conf"
    if config.exists():
        return
    engine = builder.engine(root)
    for driver in ("overlay", "vfs"):
        config.write_text(f'[storage]\ndriver = "{driver}"\n')
        try:
            _run(engine.command("info", "--format", "{{.Store.GraphDriverName}}"), "podman info")
            return
        except BuilderError:
            with contextlib.suppress(BuilderError):
                _run(engine.command("system", "reset", "--force"), "podman system reset")
    config.unlink(missing_ok=True)
    raise BuilderError(f"podman does not run rootless as {builder.name}: check `runuser -u {builder.name} -- "
                       "podman info` (subordinate ids, newuidmap, fuse-overlayfs or a recent kernel).")
