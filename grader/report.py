"""Scores of a grading run and the reports made from them: terminal table, Gradescope, JSON summary."""

from __future__ import annotations

import bisect
import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

#: Control characters (but newline and tab): learner code's error text must not drive a terminal
#: (an ANSI escape could clear the screen and print a fake table). And lone surrogates (an exception
#: message of learner code can hold one, a file name of bytes that are not UTF-8 decodes to one):
#: no UTF-8 file can hold them, so a report with one could never be written.
#: Unicode's line and paragraph separators (a line break to some viewers) and its bidirectional
#: embeddings, overrides and isolates (they reorder what follows them on screen) go too.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` without control characters or lone surrogates: it prints, and writes, as the text it is."""
    return CONTROL.sub("", text)


def one_line(text: str) -> str:
    """Learner text as part of one line of the instructor's terminal: :func:`printable`, its line breaks
    and tabs shown as ``\\n`` and ``\\t``. A file name holding line breaks, quoted in an error, printed
    lines of its own that read as the class run's ("  classmate: 0 points (131 s, new)")."""
    return printable(text).replace("\n", "\\n").replace("\t", "\\t")


#: An underscore that can begin or end emphasis: not between two letters or digits (``Jo_Smith`` stays).
EMPHASIS_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")


def _markdown_text(text: str) -> str:
    """Learner text outside code spans, every character Markdown acts on escaped: backslashes first (so
    none escapes what follows it), "<" (every HTML tag and autolink), "[" and "]" (links, images), "*",
    "~" and an underscore that is not inside a word (emphasis)."""
    text = text.replace("\\", "\\\\").replace("<", "&lt;").replace("[", "\\[").replace("]", "\\]")
    return EMPHASIS_UNDERSCORE.sub(r"\\_", text.replace("*", "\\*").replace("~", "\\~"))


def markdown_cell(text: str) -> str:
    """Learner text as one cell of a Markdown table: no "|" or line break that would end the cell, and
    no link, image, emphasis or HTML outside code spans (``![](http://...)`` in a hint would show, or
    fetch, what the learner chose where the instructor reads the class's summary). Code spans stay.

    Written by hand (markdown-it parses, but does not escape all but code spans): a run of backticks
    opens a code span only when a later run of the same length closes it, as in CommonMark. Splitting
    at every backtick once read the text after an unclosed run of three as code, and left its
    ``<a href>`` and ``<img>`` live (red-team round 41)."""
    text = text.strip()
    runs = list(re.finditer(r"`+", text))
    by_length: dict[int, list[int]] = {}  # each run length's runs, in order (a lookup, not a scan)
    for index, run in enumerate(runs):
        by_length.setdefault(len(run[0]), []).append(index)
    parts, done, i = [], 0, 0
    while i < len(runs):
        opening = runs[i]
        same = by_length[len(opening[0])]
        after = bisect.bisect_right(same, i)
        if after == len(same):  # no run of its length after it: literal backticks
            i += 1
            continue
        closing = same[after]
        parts += [_markdown_text(text[done:opening.start()]), text[opening.start():runs[closing].end()]]
        done, i = runs[closing].end(), closing + 1
    parts.append(_markdown_text(text[done:]))
    return "".join(parts).replace("|", "\\|").replace("\n", "<br>")


def markdown_inline(text: str) -> str:
    """Learner text (a name, an error quoting their file names) within one line of Markdown: on that
    line (a newline in a file name once wrote headings of its choosing into the class's summary), and
    as :func:`markdown_cell` makes it."""
    return markdown_cell(printable(text)).replace("<br>", " ")


def markdown_code_block(text: str, info: str = "text") -> list[str]:
    """Lines of a fenced code block holding ``text`` as it is: its fence is longer than any run of
    backticks in it, so no line of it can close the block."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + info, printable(text), fence]


#: Gradescope visibility of hidden checks: shown to learners once the due date has passed.
HIDDEN_VISIBILITY = "after_due_date"


@dataclass
class CheckResult:
    """One check's outcome."""

    id: str
    group: str
    title: str
    score: float
    max_score: float
    passed: bool
    output: str
    hidden: bool = False


@dataclass
class Report:
    submission: str
    checks: list[CheckResult] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    seconds: float = 0.0
    #: The report groups in order (from the checks' declarations).
    group_order: list[str] = field(default_factory=list)
    #: The checks' ids in report order (the declarations'), which need not be the order they ran in.
    check_order: list[str] = field(default_factory=list)
    #: Sentences about the run itself (e.g. whether learner code was confined).
    notes: list[str] = field(default_factory=list)
    #: Who learner code ran as: {"user", "uid", "confined", "marker"} (for audits and the kit's tests).
    sandbox: dict = field(default_factory=dict)
    #: The helpers the grading started (server, service inspector, bento build, model reader, ...).
    helpers: list[str] = field(default_factory=list)
    #: Why the score is no verdict on the work (Run.machine_problem); '' when it is one.
    machine_problem: str = ""
    #: The service's port was taken (Run.port_taken): a class run grades the learner again, alone.
    port_taken: bool = False
    #: The service was not ready in time, or a request got no answer in time or a busy one (HTTP 429,
    #: 503, 504): the same.
    timed_out: bool = False
    #: A process of the image's build or container could not start for want of process slots
    #: (Run.short_of_processes): the same.
    short_of_processes: bool = False

    @property
    def score(self) -> float:
        return round(sum(c.score for c in self.checks), 2)

    @property
    def max_score(self) -> float:
        return round(sum(c.max_score for c in self.checks), 2)

    def sort_checks(self) -> None:
        """Put the checks in report order (those not in it last, in the order they ran)."""
        place = {check_id: n for n, check_id in enumerate(self.check_order)}
        self.checks.sort(key=lambda c: place.get(c.id, len(place)))

    def by_group(self) -> dict[str, list[CheckResult]]:
        out: dict[str, list[CheckResult]] = {}
        for group in [*self.group_order, *(c.group for c in self.checks)]:
            members = [c for c in self.checks if c.group == group]
            if members and group not in out:
                out[group] = members
        return out

    # -- outputs ----------------------------------------------------------------------------

    def gradescope(self) -> dict:
        """Gradescope's ``results.json``: score, tests[] with name, score, max_score, output, visibility."""
        hidden = sum(c.hidden for c in self.checks)
        return {
            "score": self.score,
            "max_score": self.max_score,
            "execution_time": round(self.seconds, 1),
            "output": (f"Graded {self.submission}: {self.score:g} / {self.max_score:g} points."
                       + (f" {hidden} check(s) use hidden inputs." if hidden else "")),
            "visibility": "visible",
            "stdout_visibility": "hidden",
            "tests": [{
                "name": f"{c.group}: {c.title}",
                "number": str(i + 1),
                "score": c.score,
                "max_score": c.max_score,
                "status": "passed" if c.passed else "failed",
                "output": c.output,
                "visibility": HIDDEN_VISIBILITY if c.hidden else "visible",
            } for i, c in enumerate(self.checks)],
        }

    def summary(self) -> dict:
        return {
            "submission": self.submission,
            "score": self.score,
            "max_score": self.max_score,
            "seconds": round(self.seconds, 2),
            "notes": self.notes,
            "sandbox": self.sandbox,
            "helpers": self.helpers,
            "machine_problem": self.machine_problem,
            "port_taken": self.port_taken,
            "timed_out": self.timed_out,
            "short_of_processes": self.short_of_processes,
            "groups": {g: {"score": round(sum(c.score for c in cs), 2),
                           "max_score": round(sum(c.max_score for c in cs), 2)}
                       for g, cs in self.by_group().items()},
            "checks": [asdict(c) for c in self.checks],
        }

    def write(self, folder: Path) -> list[Path]:
        results_folder(folder)
        paths = [folder / "results.json", folder / "summary.json"]
        paths[0].write_text(json.dumps(self.gradescope(), indent=2))
        paths[1].write_text(json.dumps(self.summary(), indent=2))
        return paths

    def table(self, width: int = 88) -> list[str]:
        """The readable table: by group, each check with its points and, when failed, its hint."""
        lines = [f"Grading {self.submission}", ""]
        for group, checks in self.by_group().items():
            earned = sum(c.score for c in checks)
            possible = sum(c.max_score for c in checks)
            lines.append(f"{group}  ({earned:g} / {possible:g})")
            for c in checks:
                mark = "PASS" if c.passed else ("PART" if c.score else "FAIL")
                label = c.title + (" [hidden inputs]" if c.hidden else "")
                points = f"{c.score:g} / {c.max_score:g}"
                lines.append(f"  {mark}  {label:<{width - 20}} {points:>9}")
                if not c.passed:
                    lines += ["        " + ln for ln in c.output.splitlines()]
            lines.append("")
        lines.append(f"TOTAL  {self.score:g} / {self.max_score:g}   ({self.seconds:.1f} s)")
        hidden = [c for c in self.checks if c.hidden]
        if hidden:
            lines.append(f"Note: {len(hidden)} check(s) ({', '.join(c.title for c in hidden)}) send inputs "
                         "generated at grading time and compare with your own model's answers; their inputs "
                         "are not shown.")
        lines += self.notes
        if self.machine_problem:
            lines.append(f"This score is no verdict on the work: {self.machine_problem}. Grade again where "
                         f"that step can run.")
        return lines


def results_folder(path: Path) -> Path:
    """``path``, made if missing, private to the grader's user (0700): as root, a later learner's
    code must not read another's report. A folder that exists already keeps its mode."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path
