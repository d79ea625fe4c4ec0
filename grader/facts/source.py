"""Facts about a learner's ``service.py`` read from its syntax tree (nothing is executed)."""

from __future__ import annotations

import ast
import importlib.machinery
import re
from dataclasses import dataclass, field
from pathlib import Path

from bentokit import contract, private
from grader.facts import files

#: Calls that load a model or unpickle a file, by dotted name suffix.
LOAD_CALLS = ("load_model", "models.get", "pickle.load", "pickle.loads", "joblib.load", "cloudpickle.load")
#: Calls that declare a model reference the bento packs, spelled out (a local function named
#: ``NotABentoModel`` is none: a name's ending let one pass).
REF_CALLS = ("bentoml.models.BentoModel",)
PICKLE_FILE = re.compile(r"\.(bin|pkl|pickle|joblib)$")


#: A name no dotted name of BentoML's starts with: what a rebound name is read as (see aliases_of).
NOT_BENTOML = "<not bentoml>"


def aliases_of(tree: ast.AST) -> dict[str, str]:
    """Local names of imported BentoML objects: ``import bentoml as bm`` -> {"bm": "bentoml"},
    ``from bentoml import service`` -> {"service": "bentoml.service"}. Such a name (or ``bentoml``) bound
    to anything else anywhere in the module (a ``def BentoModel`` after its import, ``import other as
    bentoml``, ``bentoml.models.BentoModel = ...``) maps to NOT_BENTOML: it may not be what it was
    imported as."""
    found: dict[str, str] = {}
    other: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "bentoml" and alias.asname:
                    found[alias.asname] = alias.name
                elif alias.name.split(".")[0] != "bentoml":
                    other.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if (node.module or "").split(".")[0] == "bentoml":
                    found[alias.asname or alias.name] = f"{node.module}.{alias.name}"
                else:
                    other.add(alias.asname or alias.name)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            other.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            other.add(node.id)  # assignments, for targets, with ... as, walrus, del
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store | ast.Del):
            other.add(dotted(node))  # bentoml.models.BentoModel = ...
    imported = {*found, "bentoml"}
    found.update({name: NOT_BENTOML for name in other if name.partition(".")[0] in imported})
    return found


def canonical(name: str, aliases: dict[str, str]) -> str:
    """``name`` with an imported alias spelled out (``bm.service`` -> ``bentoml.service``);
    NOT_BENTOML for a name the module rebinds (see :func:`aliases_of`)."""
    if aliases.get(name) == NOT_BENTOML:
        return NOT_BENTOML
    head, dot, rest = name.partition(".")
    if head in aliases:
        return NOT_BENTOML if aliases[head] == NOT_BENTOML else f"{aliases[head]}{dot}{rest}"
    return name


def dotted(node: ast.AST) -> str:
    """``bentoml.models.BentoModel`` for an attribute chain, ``''`` when it is not one."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    if isinstance(node, ast.Call):
        return dotted(node.func)
    return ""


def keyword(call: ast.Call, name: str) -> ast.AST | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def constant(node: ast.AST | None) -> object:
    return node.value if isinstance(node, ast.Constant) else None


@dataclass
class Api:
    name: str
    line: int
    batchable: bool
    input_spec: bool
    is_async: bool = False


@dataclass
class ServiceClass:
    name: str
    line: int
    bento_name: str
    apis: dict[str, Api] = field(default_factory=dict)
    #: Class attributes holding a model reference: attribute -> tag literal ('' if not a literal).
    model_refs: dict[str, str] = field(default_factory=dict)
    #: Whether ``@bentoml.service(image=...)`` declares the runtime with the image SDK.
    image: bool = False


@dataclass
class ServiceSource:
    """What ``service.py`` says, line numbers included, for checks and hints."""

    path: Path
    exists: bool = False
    syntax_error: str = ""
    services: dict[str, ServiceClass] = field(default_factory=dict)
    #: (line, description) of BentoML 1.0 constructs.
    legacy: list[tuple[int, str]] = field(default_factory=list)
    #: (line, call) of model loads or unpickling that run at import time.
    import_time_loads: list[tuple[int, str]] = field(default_factory=list)
    #: (line, file name) of pickle files the code opens or loads.
    pickle_files: list[tuple[int, str]] = field(default_factory=list)
    #: (line, key) of ``custom_objects[KEY]`` reads.
    custom_object_keys: list[tuple[int, str]] = field(default_factory=list)
    #: Lines of ``custom_objects[...]`` reads whose key is computed (not known without running it).
    computed_custom_object_keys: list[int] = field(default_factory=list)
    #: Model tags written as string literals (``credit_risk_model:latest``).
    tag_literals: list[str] = field(default_factory=list)
    #: (line, keyword names) of each ``bentoml.images.Image(...)`` call: whether the Python version is
    #: chosen (``python_version=``) or left to the default, the Python of whoever builds, which the
    #: imported Image object cannot tell apart.
    image_calls: list[tuple[int, list[str]]] = field(default_factory=list)
    #: The file's bytes, as read (None when missing, or not read: see :mod:`grader.facts.files`).
    raw: bytes | None = None

    @property
    def parsed(self) -> bool:
        return self.exists and not self.syntax_error

    def service(self, name: str = contract.SERVICE_CLASS) -> ServiceClass | None:
        return self.services.get(name)

    @property
    def model_tag(self) -> str:
        """The model tag the source asks for: the class-level reference, else a literal, else latest."""
        for svc in self.services.values():
            for tag in svc.model_refs.values():
                if tag:
                    return tag
        return self.tag_literals[0] if self.tag_literals else f"{contract.MODEL_NAME}:latest"


#: A model name as BentoML accepts one (``bentoml._internal.tag``: lowercase letters, digits, "-", "_", ".",
#: beginning and ending with a letter or digit, at most 63): never a path of more than one part.
MODEL_NAME = re.compile(r"[a-z0-9](?:[-._a-z0-9]{0,61}[a-z0-9])?")


def store_name(tag: str) -> str | None:
    """The folder a model store keeps ``tag``'s versions in, when its name is one BentoML accepts; None
    otherwise. A tag in learner code becomes a path only through this: ``../../x`` names no folder."""
    name = tag.partition(":")[0].lower()  # BentoML lowercases a tag's name
    return name if MODEL_NAME.fullmatch(name) else None


def is_service_decorator(node: ast.AST, aliases: dict[str, str]) -> tuple[bool, str]:
    """Whether a decorator is ``@bentoml.service``/``@service`` (called or not), and its ``name=``."""
    name = canonical(dotted(node), aliases)
    if name not in ("bentoml.service", "service"):
        return False, ""
    given = constant(keyword(node, "name")) if isinstance(node, ast.Call) else None
    return True, given if isinstance(given, str) else ""


def api_of(func: ast.FunctionDef | ast.AsyncFunctionDef, aliases: dict[str, str]) -> Api | None:
    for deco in func.decorator_list:
        if canonical(dotted(deco), aliases) in ("bentoml.api", "api", "bentoml.task", "task"):
            call = deco if isinstance(deco, ast.Call) else None
            batchable = bool(call and constant(keyword(call, "batchable")) is True)
            spec = bool(call and keyword(call, "input_spec") is not None)
            return Api(func.name, func.lineno, batchable, spec, isinstance(func, ast.AsyncFunctionDef))
    return None


def snake_case(name: str) -> str:
    """BentoML's class name -> bento name rule."""
    return private.to_snake_case(name)


class _Visitor(ast.NodeVisitor):
    def __init__(self, facts: ServiceSource, tree: ast.Module) -> None:
        self.facts = facts
        self.depth = 0  # > 0 inside a function body: code there does not run at import
        self.aliases = aliases_of(tree)
        #: Module-level string constants (``DV_KEY = "dictVectorizer"``), for keys given by a name.
        self.strings = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
                        and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
                        for t in n.targets if isinstance(t, ast.Name)}

    def name(self, node: ast.AST) -> str:
        """The dotted name of a call or attribute, imported aliases spelled out."""
        return canonical(dotted(node), self.aliases)

    def key(self, node: ast.AST | None) -> str | None:
        """A custom object's key: a string literal, or a module-level constant holding one."""
        if isinstance(node, ast.Name):
            return self.strings.get(node.id)
        value = constant(node)
        return value if isinstance(value, str) else None

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for deco in node.decorator_list:
            self.visit(deco)
        self.depth += 1
        for stmt in node.body:
            self.visit(stmt)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for deco in node.decorator_list:
            is_svc, given = is_service_decorator(deco, self.aliases)
            if is_svc:
                svc = ServiceClass(node.name, node.lineno, given or snake_case(node.name),
                                   image=isinstance(deco, ast.Call) and keyword(deco, "image") is not None)
                for stmt in node.body:
                    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef) and \
                            (api := api_of(stmt, self.aliases)):
                        svc.apis[api.name] = api
                    value = stmt.value if isinstance(stmt, ast.Assign | ast.AnnAssign) else None
                    if isinstance(value, ast.Call) and self.name(value) in REF_CALLS:
                        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                        tag = constant(value.args[0]) if value.args else constant(keyword(value, "tag"))
                        for target in targets:
                            if isinstance(target, ast.Name):
                                svc.model_refs[target.id] = tag if isinstance(tag, str) else ""
                self.facts.services[node.name] = svc
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if (node.module or "").startswith("bentoml.io"):
            names = ", ".join(a.name for a in node.names)
            self.facts.legacy.append((node.lineno, f"from {node.module} import {names}"))

    def visit_Call(self, node: ast.Call) -> None:
        name = self.name(node)
        if name in ("bentoml.Service", "Service"):
            self.facts.legacy.append((node.lineno, "bentoml.Service(...)"))
        if keyword(node, "runners") is not None:
            self.facts.legacy.append((node.lineno, "runners=[...]"))
        if name.endswith(".to_runner"):
            self.facts.legacy.append((node.lineno, ".to_runner()"))
        if name.startswith("bentoml.io."):
            self.facts.legacy.append((node.lineno, name))
        if name.endswith(".api") and keyword(node, "input") is not None:
            self.facts.legacy.append((node.lineno, f"@{name}(input=..., output=...)"))
        if name in ("bentoml.images.Image", "images.Image", "Image", "bentoml.Image"):
            self.facts.image_calls.append((node.lineno, [k.arg for k in node.keywords if k.arg]))
        if self.depth == 0 and name.endswith(LOAD_CALLS):
            self.facts.import_time_loads.append((node.lineno, name))
        if name == "open" and node.args and isinstance(path := constant(node.args[0]), str) \
                and PICKLE_FILE.search(path):
            self.facts.pickle_files.append((node.lineno, path))
        if name.endswith(("pickle.load", "joblib.load")) and node.args \
                and isinstance(path := constant(node.args[0]), str):
            self.facts.pickle_files.append((node.lineno, path))
        if name.endswith("custom_objects.get") and node.args:
            self.record_key(node.lineno, self.key(node.args[0]))
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if dotted(node.value).endswith("custom_objects"):
            self.record_key(node.lineno, self.key(node.slice))
        self.generic_visit(node)

    def record_key(self, line: int, key: str | None) -> None:
        if key is None:
            self.facts.computed_custom_object_keys.append(line)
        else:
            self.facts.custom_object_keys.append((line, key))

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and node.value.startswith(contract.MODEL_NAME):
            self.facts.tag_literals.append(node.value)


def read(path: Path) -> ServiceSource:
    """Parse ``path`` and collect its facts; a missing file or a syntax error is recorded, not raised
    (so is a link out of the submission, the folder ``path`` is in: it is not read)."""
    facts = ServiceSource(path=path)
    if not path.is_file():
        return facts
    facts.exists = True
    try:
        raw = facts.raw = files.read_bytes(path, path.parent)
    except files.OutsideSubmission as err:
        facts.syntax_error = str(err)
        return facts
    try:  # bytes, as Python reads a module: UTF-8 unless a coding line says otherwise
        tree = parse_python(raw, filename=str(path))
    except SyntaxError as err:
        facts.syntax_error = f"line {err.lineno}: {err.msg}"
        if "UTF-8" in err.msg or "decode" in err.msg or "codec" in err.msg:
            facts.syntax_error = (f"it is not valid UTF-8 ({err.msg.split(' in file')[0]}), so Python cannot "
                                  f"import it: save it as UTF-8 (your editor's encoding setting) and "
                                  f"replace the characters it shows as ? or \ufffd")
        return facts
    except ValueError as err:  # a NUL byte
        facts.syntax_error = f"Python cannot read it ({err})"
        return facts
    except (RecursionError, MemoryError):  # learner input past the parser's own limits
        facts.syntax_error = ("an expression in it nests too deeply for Python's parser: split it up")
        return facts
    try:
        _Visitor(facts, tree).visit(tree)
    except RecursionError:  # parsed, yet deeper than a walk of its tree in Python goes
        facts.syntax_error = ("an expression in it nests too deeply for the grader to read it (hundreds of "
                              "levels): split it up")
    return facts


#: A dotted name of 50 parts (``import a.a.a...``, line continuations between them allowed): CPython's
#: parser joins a dotted name part by part, in time and memory that grow with the square of its length,
#: and a 121 KB service.py of one such line took 3.6 GiB of a class run's own process (red-team round
#: 43). No module path has fifty parts. Possessive, and only from a word's start: no backtracking.
LONG_DOTTED = re.compile(r"(?<![\w.])\w++(?:(?:[ \t\f]|\\\r?\n)*+\.(?:[ \t\f]|\\\r?\n)*+\w++){49}")


def parse_python(code: str | bytes, filename: str = "<unknown>") -> ast.Module:
    """``ast.parse`` of learner code, as root: a dotted name of 50 parts or more is refused first, with a
    SyntaxError, as the parser's own limits end it (RecursionError, MemoryError, ValueError)."""
    text = code.decode("utf-8", "replace") if isinstance(code, bytes) else code
    if found := LONG_DOTTED.search(text):
        line = text.count("\n", 0, found.start()) + 1
        raise SyntaxError("a dotted name of 50 parts or more, which Python's parser reads in time and "
                          "memory that grow with its square: shorten it", (filename, line, 1, None))
    return ast.parse(code, filename=filename)


def shadowing(folder: Path) -> list[str]:
    """The entries of the service's folder that ``import service`` would load instead of service.py: a
    package ``service`` (an ``__init__`` of any suffix) or an extension module (``service.*.so``), which
    Python's path finder takes first. A classmate's service.py as ``service/__init__.py`` ran, was served
    and built, while the grader read, compared and stored a decoy service.py (red-team round 43)."""
    package = folder / "service"
    names = ["service"] if any((package / f"__init__{suffix}").exists()
                               for suffix in importlib.machinery.all_suffixes()) else []
    return names + [f"service{suffix}" for suffix in importlib.machinery.EXTENSION_SUFFIXES
                    if (folder / f"service{suffix}").exists()]
