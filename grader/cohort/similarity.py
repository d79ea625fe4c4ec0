"""Similar submissions: identical or near-identical service.py, identical models.

- identical: the same normalized syntax tree (docstrings and comments dropped, every identifier
  renamed in order of first use), so renaming variables or rewording comments does not hide a copy;
- near-identical: token similarity (difflib's ratio) of the lines a learner wrote, that is without
  the lines of the starter file (``exercises/service.py``) that everyone shares, at or above a threshold;
- the same model tag (a tag's version is drawn at save time: two learners cannot share it by chance)
  and the same model files (expected when both trained with the course's seed and data: weaker).

A lead for the instructor to read, not a verdict. Written with the standard library (ast, tokenize,
difflib): MOSS-like services are remote, and the class's files must not leave the machine.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import io
import statistics
import time
import tokenize
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.cohort.store import learner_dir
from grader.facts.source import parse_python
from grader.report import markdown_inline

THRESHOLD = 0.9
#: The most tokens of a learner's own lines compared (the reference solution has 267).
MAX_TOKENS = 2000
#: The most characters of a service.py's code (blank and comment lines dropped) whose tokens are compared
#: (the reference has 4 400). Tokenizing is pure Python: a 30 MB string constant took two minutes at every
#: rebuild (red-team round 38).
MAX_SOURCE = 100_000
#: The most characters of a stored service.py read: dropping its blank and comment lines is quick, so
#: comments put before a copy no longer push the copy past what is compared (round 39: 100 KB of them
#: hid a verbatim copy). A file past the caps is compared in part and listed (:attr:`Report.in_part`).
MAX_READ = 4 << 20
#: The seconds of exact pair scores a rebuild of the summary spends before it estimates the rest.
BUDGET_SECONDS = 60.0
#: Pairs shown in the summary (every pair is in similarity.json).
MAX_PAIRS = 30
KIT_ROOT = Path(__file__).resolve().parents[2]
STARTER = KIT_ROOT / "exercises" / "service.py"
SKIPPED = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
           tokenize.ENCODING, tokenize.ENDMARKER}


@dataclass
class Report:
    threshold: float
    compared: int = 0
    identical: list[list[str]] = field(default_factory=list)  #: groups of learners
    pairs: list[tuple[str, str, float]] = field(default_factory=list)  #: at or above the threshold
    median_pair: float = 0.0
    #: Pairs scored by an upper bound (``quick_ratio``) once the time for exact scores was spent.
    estimated: int = 0
    same_tag: list[tuple[str, list[str]]] = field(default_factory=list)
    same_model_files: list[tuple[str, list[str]]] = field(default_factory=list)
    #: Learners whose service.py is longer than what is compared (characters read or of code, or tokens of
    #: their own), with its size: code put before a copy hides it from the scores, not from this list.
    in_part: list[tuple[str, int, int]] = field(default_factory=list)  #: learner, bytes, own tokens


class _Canonical(ast.NodeTransformer):
    """Drops docstrings and renames every identifier to ``v<n>`` in order of first use."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def _name(self, name: str) -> str:
        return self.names.setdefault(name, f"v{len(self.names)}")

    def generic_visit(self, node: ast.AST) -> ast.AST:
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
        for attr in ("name", "id", "arg", "attr", "asname"):
            value = getattr(node, attr, None)
            if isinstance(value, str):
                setattr(node, attr, self._name(value))
        return super().generic_visit(node)


def canonical_digest(source: str) -> str:
    """SHA-256 of the normalized syntax tree, or of the whitespace-normalized text if it does not parse."""
    try:
        tree = _Canonical().visit(parse_python(source))
        text = ast.dump(tree, annotate_fields=False, include_attributes=False)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # the parser's limits: learner input
        text = " ".join(source.split())
    return hashlib.sha256(text.encode()).hexdigest()


def _line_key(line: str) -> str:
    return " ".join(line.split("#", 1)[0].split())


def own_tokens(source: str, starter: str = "") -> list[str]:
    """The tokens of ``source``'s lines that are not lines of ``starter`` (comments and layout dropped)."""
    shared = {_line_key(ln) for ln in starter.splitlines()} - {""}
    kept = "\n".join(ln for ln in source.splitlines() if _line_key(ln) not in shared)
    tokens = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(kept).readline):
            if tok.type not in SKIPPED:
                tokens.append(tok.string)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        tokens = kept.split()
    return tokens


def code_lines(text: str) -> str:
    """``text`` without its blank and comment-only lines."""
    return "".join(line for line in io.StringIO(text) if line.strip() and not line.lstrip().startswith("#"))


def _read(path: Path) -> tuple[str, str, bool]:
    """A stored service.py's code (:func:`code_lines`) up to ``MAX_SOURCE`` characters; what makes two
    files identical: the code's :func:`canonical_digest`, or past the caps its code's digest (parsing it
    could take its size in memory many times over), or past ``MAX_READ`` the file's bytes'; and whether
    the file was past a cap."""
    with open(path, errors="replace") as fh:
        text = fh.read(MAX_READ + 1)
    code = code_lines(text[:MAX_READ])
    if len(text) <= MAX_READ and len(code) <= MAX_SOURCE:
        return code, canonical_digest(code), False
    if len(text) <= MAX_READ:
        return code[:MAX_SOURCE], "code:" + hashlib.sha256(code.encode()).hexdigest(), True
    with open(path, "rb") as fh:
        return code[:MAX_SOURCE], "bytes:" + hashlib.file_digest(fh, "sha256").hexdigest(), True


def _groups(keyed: dict[str, list[str]]) -> list[tuple[str, list[str]]]:
    """The keys two learners or more share, each with its learners (each once: one learner's two model
    folders of one tag once made a "shared" tag of their own, red-team round 41)."""
    shared = [(k, sorted(set(v))) for k, v in keyed.items() if len(set(v)) > 1]
    return sorted(shared, key=lambda kv: (-len(kv[1]), kv[1]))


def compare(out: Path, records: list[dict[str, Any]], threshold: float = THRESHOLD,
            starter: Path | None = STARTER, budget: float = BUDGET_SECONDS) -> Report:
    """Compare every stored learner's service.py and models (``out/learners/<id>/service.py``); after
    ``budget`` seconds of exact scores, the pairs left are scored by an upper bound (``estimated``)."""
    base = starter.read_text() if starter and starter.is_file() else ""
    label = {r["id"]: r["learner"] for r in records}
    sources, past_cap, sizes, by_tree = {}, {}, {}, defaultdict(list)
    for record in records:
        path = learner_dir(out, record["id"]) / "service.py"
        if path.is_file():
            sources[record["id"]], key, past_cap[record["id"]] = _read(path)
            sizes[record["id"]] = path.stat().st_size
            by_tree[key].append(label[record["id"]])
    report = Report(threshold, compared=len(sources))
    report.identical = [members for _, members in _groups(by_tree)]
    tokens = {rid: own_tokens(text, base) for rid, text in sources.items()}
    report.in_part = sorted((label[rid], sizes[rid], len(tokens[rid])) for rid in tokens
                            if past_cap[rid] or len(tokens[rid]) > MAX_TOKENS)
    tokens = {rid: own[:MAX_TOKENS] for rid, own in tokens.items()}
    ratios = []
    matcher = difflib.SequenceMatcher(None, autojunk=False)
    ids = sorted(tokens)
    deadline = time.monotonic() + budget
    for j, b in enumerate(ids):
        matcher.set_seq2(tokens[b])  # the matcher indexes its second sequence once for all the first ones
        for a in ids[:j]:
            matcher.set_seq1(tokens[a])
            if not (tokens[a] or tokens[b]):
                ratio = 1.0
            elif time.monotonic() < deadline:
                ratio = matcher.ratio()
            else:  # repeated tokens make ratio() cubic: two learners' files kept a run busy for minutes
                ratio = matcher.quick_ratio()
                report.estimated += 1
            ratios.append(ratio)
            if ratio >= threshold:
                report.pairs.append(tuple(sorted((label[a], label[b]))) + (round(ratio, 3),))
    report.pairs.sort(key=lambda p: (-p[2], p[0], p[1]))
    report.median_pair = round(statistics.median(ratios), 3) if ratios else 0.0
    tags: dict[str, list[str]] = defaultdict(list)
    files: dict[str, list[str]] = defaultdict(list)
    for record in records:
        for model in record.get("models", []):
            tags[model["tag"]].append(record["learner"])
            files[model["sha256"]].append(record["learner"])
    report.same_tag = _groups(tags)
    report.same_model_files = [(digest[:12], members) for digest, members in _groups(files)]
    return report


def markdown(report: Report) -> list[str]:
    """The summary's similarity section."""
    lines = ["## Similarity", "",
             f"{report.compared} service.py files compared. Near-identical: token similarity of the lines "
             f"each learner wrote (the starter file's lines removed) ≥ {report.threshold:g}; the median pair "
             f"in this class scores {report.median_pair:g} (an exercise with one right answer per gap makes "
             f"honest solutions alike: read the pairs, do not count them).", ""]
    lines += ["**Identical service.py** (same code after dropping comments and docstrings and renaming "
              "every identifier):", ""]
    lines += [f"- {_names(group)}" for group in report.identical] or ["- none"]
    if report.estimated:
        lines += ["", f"{report.estimated} pairs were scored by an upper bound (difflib's quick_ratio), "
                      f"after {BUDGET_SECONDS:.0f} s of exact scores: a pair listed below may be less alike "
                      f"than its score says."]
    if report.in_part:
        lines += ["", f"**Compared in part only** (the first {MAX_SOURCE:,} characters of code and "
                      f"{MAX_TOKENS:,} tokens of the learner's own lines are compared): code put before a "
                      f"copy hides it from the scores above, so read these files:", ""]
        lines += [f"- {_names([name])}: {size / 1000:,.0f} KB, {own:,} tokens of their own"
                  for name, size, own in report.in_part]
    lines += ["", "**Near-identical pairs** (not within one group above):", ""]
    group = {name: i for i, members in enumerate(report.identical) for name in members}
    pairs = [p for p in report.pairs if p[0] not in group or group[p[0]] != group.get(p[1])]
    if pairs:
        lines += ["| learner | learner | similarity |", "|---|---|---|"]
        lines += [f"| {_names([a])} | {_names([b])} | {score:.3f} |" for a, b, score in pairs[:MAX_PAIRS]]
        if len(pairs) > MAX_PAIRS:
            lines += ["", f"{len(pairs) - MAX_PAIRS} more pairs in similarity.json."]
    else:
        lines.append("- none")
    lines += ["", "**The same model tag** (a version is drawn when a model is saved: a shared tag is a "
              "shared file):", ""]
    lines += [f"- {markdown_inline(f'`{tag}`')}: {_names(members)}" for tag, members in report.same_tag] \
        or ["- none"]
    lines += ["", "**The same model files** (byte-identical booster and DictVectorizer; expected when "
              "learners train with the course's seed and data, so weaker than a shared tag):", ""]
    lines += [f"- `{d}`: {_names(members)}" for d, members in report.same_model_files] or ["- none"]
    return lines + [""]


def _names(learners: list[str]) -> str:
    return ", ".join(markdown_inline(name) for name in learners)


def as_json(report: Report) -> dict[str, Any]:
    return {"threshold": report.threshold, "compared": report.compared, "median_pair": report.median_pair,
            "estimated_pairs": report.estimated, "identical": report.identical,
            "pairs": [{"a": a, "b": b, "similarity": s} for a, b, s in report.pairs],
            "same_tag": [{"tag": t, "learners": m} for t, m in report.same_tag],
            "same_model_files": [{"sha256": d, "learners": m} for d, m in report.same_model_files],
            "compared_in_part": [{"learner": n, "bytes": b, "own_tokens": t} for n, b, t in report.in_part]}
