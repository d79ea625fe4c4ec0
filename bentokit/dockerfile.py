"""What a learner's bento may ask of an image build the grader runs as root.

``bentoml containerize`` writes the learner's strings into the Dockerfile as they are: a command of the
image SDK (``Image(...).run(...)``) holding newlines adds instructions of the learner's choosing, and
``bento.yaml`` (written by learner code) can name a Dockerfile template of its own. The engine then
builds that file as root. A ``RUN --mount=type=bind,from=STAGE,source=LINK`` resolved the stage's link
on the host with Debian 12's buildah (CVE-2024-1753): the build wrote to the host's ``/`` (reproduced).
So the grader builds only a Dockerfile whose every instruction is one BentoML's own templates write:
no mount but a cache, no other ``RUN`` option, no ``COPY --from``, no ``ONBUILD``, no parser directive
but Docker's own frontend, and a ``python:3.X-slim`` or ``-alpine`` base (a base image can carry build
steps of its own: ``ONBUILD``).

Written by hand: the Dockerfile parsers on PyPI answer what a Dockerfile says, not what it may do.
The rules follow Docker's parser (lines end at ``\\n``; a backslash at a line's end continues it; a
comment or an empty line inside a continuation is skipped); anything they do not expect is refused.
"""

from __future__ import annotations

import re

#: The instructions BentoML's templates write, and the few more a Dockerfile may hold harmlessly.
HARMLESS = {"ENV", "ARG", "LABEL", "WORKDIR", "USER", "EXPOSE", "ENTRYPOINT", "CMD", "SHELL", "VOLUME",
            "STOPSIGNAL", "HEALTHCHECK"}
#: The base images BentoML picks for a Python service (a local build of one keeps its name).
BASE_IMAGE = re.compile(r"(docker\.io/(library/)?)?python:3\.\d+(\.\d+)?-(slim|alpine)[a-z0-9.-]*")
#: A line that continues on the next: a backslash, then nothing but blanks.
CONTINUED = re.compile(r"\\[ \t\r]*$")
DIRECTIVE = re.compile(r"#\s*(syntax|escape|check)\s*=\s*(.*)", re.IGNORECASE)
#: The one parser directive BentoML writes (for BuildKit): Docker's own Dockerfile frontend.
OWN_SYNTAX = re.compile(r"(docker\.io/)?docker/dockerfile:[0-9.]+(-labs)?")
#: The options a ``RUN --mount`` may have: a cache (BentoML's pip and uv caches). Not a secret: BentoML
#: fills a build's secrets from the environment of the process that runs ``containerize`` (root's).
MOUNT_KEYS = {"cache": {"type", "target", "dst", "destination", "id", "sharing", "mode", "uid", "gid"}}
COPY_OPTIONS = ("--chown=", "--chmod=")


def instructions(text: str) -> list[str]:
    """The Dockerfile's instructions, one string each, continuations joined, comments left out."""
    found: list[str] = []
    current: list[str] = []
    for line in text.split("\n"):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue  # an empty line or a comment, also inside a continuation
        if CONTINUED.search(line):
            current.append(CONTINUED.sub("", line))
            continue
        current.append(line)
        found.append(" ".join(current).strip())
        current = []
    if current:
        found.append(" ".join(current).strip())
    return found


def problems(text: str) -> list[str]:
    """Why the grader will not build this Dockerfile as root (empty: nothing found)."""
    found: list[str] = []
    if bad := sorted({f"{ord(c):#04x}" for c in text if ord(c) < 32 and c not in "\t\n\r"}):
        found.append(f"control characters in the Dockerfile ({', '.join(bad)})")
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            break
        directive = DIRECTIVE.match(stripped)
        own = directive and directive[1].lower() == "syntax" and OWN_SYNTAX.fullmatch(directive[2].strip())
        if directive and not own:
            found.append(f"a parser directive: {stripped}")
    stages: set[str] = set()
    for instruction in instructions(text):
        keyword, *words = instruction.split()
        keyword = keyword.upper()
        if keyword == "FROM":
            found += _from(words, stages)
        elif keyword == "RUN":
            found += _run(words)
        elif keyword in {"COPY", "ADD"}:
            found += [f"{keyword} {word}" for word in words if word.startswith("--")
                      and not word.startswith(COPY_OPTIONS)]
        elif keyword not in HARMLESS:
            found.append(f"the instruction {keyword} ({_short(instruction)})")
    return found


def _from(words: list[str], stages: set[str]) -> list[str]:
    if not words or words[0].startswith("--"):
        return [f"FROM {' '.join(words)[:80]}: no option is allowed"]
    image = words[0]
    if len(words) >= 3 and words[1].lower() == "as":
        stages.add(words[2].lower())
    if image.lower() in stages or BASE_IMAGE.fullmatch(image):
        return []
    return [f"the base image {image}: the grader builds on python:3.X-slim or -alpine only"]


def _run(words: list[str]) -> list[str]:
    found = []
    for word in words:
        if not word.startswith("--"):
            break
        if not word.startswith("--mount="):
            found.append(f"RUN {word}")
            continue
        options = dict(item.partition("=")[::2] for item in word[len("--mount="):].split(","))
        allowed = MOUNT_KEYS.get(options.get("type", "bind"))
        if allowed is None or set(options) - allowed:
            found.append(f"RUN {word}: only a cache may be mounted")
    return found


def _short(text: str) -> str:
    return text if len(text) <= 80 else text[:77] + "..."
