"""What a learner's bento may ask of an image build the grader runs as root.

``bentoml containerize`` writes the learner's strings into the Dockerfile as they are: a command of the
image SDK (``Image(...).run(...)``) holding newlines adds instructions of the learner's choosing, and
``bento.yaml`` (written by learner code) can name a Dockerfile template of its own. The engine then
builds that file as root. A ``RUN --mount=type=bind,from=STAGE,source=LINK`` resolved the stage's link
on the host with Debian 12's buildah (CVE-2024-1753): the build wrote to the host's ``/`` (reproduced).
So the grader builds only a Dockerfile whose every instruction is one BentoML's own templates write:
no ``RUN`` option but BentoML's own package install, whole, with its cache mount (and that for Docker's
BuildKit only: BentoML writes no mount for podman), ``COPY --chown`` only, ``ADD`` from the bento only,
no ``ONBUILD`` or other instruction, no parser directive but Docker's own frontend, plain ASCII, and a
``python:3.X-slim`` or ``-alpine`` base (a base image can carry build steps of its own: ``ONBUILD``).
A cache mount is the engine's folder shared by every build on the machine: buildah keeps it on the host
(``/var/tmp/buildah-cache``), and a learner's command opening with BentoML's own two nested cache mounts
swapped the inner one for a link to the host's ``/``, which the next mount bound into the build
(reproduced). BuildKit's cache would carry one learner's packages into a classmate's image.

Written by hand: the Dockerfile parsers on PyPI answer what a Dockerfile says, not what it may do.
The rules follow Docker's parser (lines end at ``\\n``; a backslash at a line's end continues it, and
the next line is joined to it as it is, with no blank between; a comment or an empty line inside a
continuation is skipped); anything they do not expect is refused.
"""

from __future__ import annotations

import re

#: The instructions BentoML's templates write besides FROM, RUN, COPY and ADD, and LABEL and CMD.
#: Not ``VOLUME``: every run of the image made anonymous volumes in the engine's store, which stayed
#: (disk, and one of podman's 2048 locks each: enough of them and no container of anyone's starts).
HARMLESS = {"ENV", "ARG", "LABEL", "WORKDIR", "USER", "EXPOSE", "ENTRYPOINT", "CMD"}
#: The base images BentoML picks for a Python service (a local build of one keeps its name).
BASE_IMAGE = re.compile(r"(docker\.io/(library/)?)?python:3\.\d+(\.\d+)?-(slim|alpine)[a-z0-9.-]*")
#: A line that continues on the next: a backslash, then nothing but blanks.
CONTINUED = re.compile(r"\\[ \t]*$")
DIRECTIVE = re.compile(r"#\s*(syntax|escape|check)\s*=\s*(.*)", re.IGNORECASE)
#: The one parser directive BentoML writes (for BuildKit): Docker's own Dockerfile frontend.
OWN_SYNTAX = re.compile(r"(docker\.io/)?docker/dockerfile:[0-9.]+(-labs)?")
#: The one ``RUN`` with an option BentoML writes for the bentos the grader builds (``base_v2.j2``, with
#: BuildKit): the bento's package install with the engine's cache. Compared whole, blanks collapsed:
#: read as options, learner text once hid a bind mount behind a repeated ``type=`` (buildah takes the
#: first, a mapping the last), a variable (``target=$M``: buildah expands it before it splits the
#: options) or an escaped blank (``\ ,from=``); taken byte for byte but with a command of the learner's,
#: BentoML's own cache mounts reached the host (see above). No secret either: BentoML fills a build's
#: secrets from the environment of ``containerize`` (root's).
MOUNTED_INSTALL = ('RUN --mount=type=cache,sharing=locked,target=/root/.cache/ if [ -d ./src ]; then '
                   'INSTALL_ROOT="./src"; else INSTALL_ROOT="./env/python"; fi; uv --directory $INSTALL_ROOT '
                   'pip install -r $BENTO_PATH/env/python/requirements.txt')
COPY_OPTIONS = ("--chown=bentoml:bentoml",)
#: What BentoML's templates ``ADD``: files of the bento (the build context), never a URL.
BENTO_FILE = re.compile(r"\./[A-Za-z0-9_][A-Za-z0-9_./-]*")


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
        found.append("".join(current).strip())
        current = []
    if current:
        found.append("".join(current).strip())
    return found


def problems(text: str, engine: str) -> list[str]:
    """Why the grader will not build this Dockerfile with ``engine`` (``docker`` or ``podman``;
    empty: nothing found)."""
    found: list[str] = []
    # Blanks other than space and tab split words differently in the engine's parser (0x85, say); a
    # carriage return may end a continuation for one parser and not the other. BentoML writes neither.
    if bad := sorted({f"{ord(c):#04x}" for c in text if (ord(c) < 32 and c not in "\t\n") or ord(c) > 126}):
        found.append(f"control or non-ASCII characters in the Dockerfile ({', '.join(bad[:5])})")
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
        rest = instruction[len(keyword):]
        if keyword == "FROM":
            found += _from(words, stages)
        elif keyword == "RUN":
            if engine == "docker" and " ".join(instruction.split()) == MOUNTED_INSTALL:
                continue  # BentoML's own, whole (blanks outside quotes mean the same, one or more)
            bad, command = _options(keyword, rest, ())
            if not bad and "--mount" in command.lower():  # a second guard: BentoML writes none there
                bad = [f"RUN {_short(command)}: a mount in the command"]
            found += bad
        elif keyword in {"COPY", "ADD"}:
            bad, args = _options(keyword, rest, COPY_OPTIONS)
            found += bad or [f"{keyword} {word}" for word in args.split() if word.startswith("--")]
            if keyword == "ADD" and not bad:
                found += [f"ADD {_short(word)}: not a file of the bento" for word in args.split()[:-1]
                          if not BENTO_FILE.fullmatch(word) or ".." in word]
        elif keyword not in HARMLESS:
            found.append(f"the instruction {keyword} ({_short(instruction)})")
    return found


def _options(keyword: str, rest: str, allowed: tuple[str, ...]) -> tuple[list[str], str]:
    """The options at the start of an instruction's ``rest`` that are not one of ``allowed`` whole
    (the first one found), and what follows the options."""
    rest = rest.lstrip(" \t")
    while rest.startswith("--"):
        whole = next((option for option in allowed
                      if rest.startswith(option) and rest[len(option):len(option) + 1] in (" ", "\t")), None)
        if whole is None:
            return [f"{keyword} {_short(rest.split()[0])}: not an option BentoML writes"], rest
        rest = rest[len(whole):].lstrip(" \t")
    return [], rest


def _from(words: list[str], stages: set[str]) -> list[str]:
    if not words or words[0].startswith("--"):
        return [f"FROM {' '.join(words)[:80]}: no option is allowed"]
    if any("$" in word for word in words):  # expanded by the engine: a stage named $X, then FROM $X
        return [f"FROM {_short(' '.join(words))}: a variable in FROM"]
    image = words[0]
    if len(words) >= 3 and words[1].lower() == "as":
        stages.add(words[2].lower())
    if image.lower() in stages or BASE_IMAGE.fullmatch(image):
        return []
    return [f"the base image {image}: the grader builds on python:3.X-slim or -alpine only"]


def _short(text: str) -> str:
    return text if len(text) <= 80 else text[:77] + "..."
