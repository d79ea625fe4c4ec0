"""The grader's parts without a server: source facts, bentofile validation, probes, hints."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from importlib import metadata as importlib_metadata
from pathlib import Path

import pytest

from bentokit import contract, procs
from grader import hints
from grader.checks.live import BUSY
from grader.facts import bentofile, probes
from grader.facts import source as ast_facts

ROOT = Path(__file__).resolve().parents[2]


def facts_of(tmp_path: Path, code: str) -> ast_facts.ServiceSource:
    path = tmp_path / "service.py"
    path.write_text(textwrap.dedent(code))
    return ast_facts.read(path)


def test_reference_service_facts() -> None:
    facts = ast_facts.read(ROOT / "solutions" / "service.py")
    svc = facts.service()
    assert svc is not None and svc.bento_name == contract.SERVICE_NAME
    assert {"classify", "classify_batch"} <= set(svc.apis) and svc.apis["classify_batch"].batchable
    assert svc.model_refs == {"model_ref": f"{contract.MODEL_NAME}:latest"}
    assert not facts.legacy and not facts.import_time_loads and not facts.pickle_files
    assert {k for _, k in facts.custom_object_keys} == {contract.CUSTOM_OBJECT_KEY}


def test_bentoml_1_0_code_is_recognised(tmp_path) -> None:
    facts = facts_of(tmp_path, """
        import bentoml
        from bentoml.io import JSON
        runner = bentoml.xgboost.get("credit_risk_model:latest").to_runner()
        svc = bentoml.Service("credit_risk_classifier", runners=[runner])

        @svc.api(input=JSON(), output=JSON())
        def classify(data):
            return runner.predict.run(data)
    """)
    found = " ".join(what for _, what in facts.legacy)
    for construct in ("bentoml.io", "bentoml.Service", "runners=", ".to_runner()", "input=..."):
        assert construct in found
    assert facts.service() is None
    assert "@bentoml.service" in hints.MIGRATION and "bentoml.models.BentoModel" in hints.MIGRATION


def test_import_time_loads_and_pickles_are_found(tmp_path) -> None:
    facts = facts_of(tmp_path, """
        import pickle, bentoml
        with open("model.bin", "rb") as fh:
            dv, model = pickle.load(fh)

        @bentoml.service(name="scorer")
        class CreditRiskClassifier:
            def __init__(self):
                self.model = bentoml.xgboost.load_model("credit_risk_model:latest")  # inside: fine
    """)
    assert [call for _, call in facts.import_time_loads] == ["pickle.load"]
    assert [name for _, name in facts.pickle_files] == ["model.bin"]
    assert facts.service().bento_name == "scorer"


def test_syntax_error_and_missing_file(tmp_path) -> None:
    assert not ast_facts.read(tmp_path / "nope.py").exists
    broken = facts_of(tmp_path, "def f(:\n")
    assert broken.exists and not broken.parsed and "line 1" in broken.syntax_error


@pytest.mark.parametrize("expression", ["-" * 10_000 + "1", "1" + "+1" * 100_000, "not " * 600 + "1"],
                         ids=["past_the_parsers_memory", "past_its_recursion", "past_a_walk_of_the_tree"])
def test_a_service_py_nested_too_deep_to_read_is_a_finding(tmp_path, expression) -> None:
    """Learner input past the limits of Python's parser (MemoryError, RecursionError) or of a walk of
    its tree ended the grading, and the class run's similarity report, in a traceback."""
    from grader.cohort import similarity

    facts = facts_of(tmp_path, f"import bentoml\n_ = {expression}\n")
    assert facts.exists and not facts.parsed and "nests too deeply" in facts.syntax_error
    assert len(similarity.canonical_digest(f"_ = {expression}\n")) == 64


def test_a_dotted_name_of_thousands_of_parts_is_never_parsed(tmp_path) -> None:
    """CPython's parser joins a dotted name part by part: ``import a.a.a...`` costs the square of its
    length (121 KB, 3.6 GiB, in the class run's own process: red-team round 43). Every parse of learner
    code as root refuses it first: the grader's source facts, the similarity report, the imports it
    follows."""
    from grader.cohort import similarity, submissions

    code = "import " + ".".join(["a"] * 20_000) + "\nimport bentoml\n"
    facts = facts_of(tmp_path, code)
    assert not facts.parsed and "a dotted name of 50 parts or more" in facts.syntax_error
    assert submissions.service_code(tmp_path) == code  # no import followed
    assert similarity.canonical_digest(code) == similarity.canonical_digest(" ".join(code.split()))
    assert facts_of(tmp_path, "import " + ".".join(["a"] * 49) + "\n").parsed  # below the bound


def test_a_bentofile_nested_too_deep_to_read_is_a_finding(tmp_path) -> None:
    deep = write(tmp_path, 'service: "service:X"\nlabels: ' + "[" * 3000 + "]" * 3000 + "\n")
    assert not deep.valid and "nest hundreds of levels deep" in deep.error
    assert bentofile.lock_input(tmp_path / "bentofile.yaml") is None


def test_a_bentofile_of_aliases_that_expand_without_end_is_a_finding(tmp_path) -> None:
    """566 bytes of nested aliases: PyYAML loads them as shared references, and BentoML's schema check
    turned each into text, 10^8 strings in the grader's own process as root (red-team round 41). The
    grader counts the expanded values first; a bentofile that repeats a value by reference still reads."""
    levels = ['  l1: &a1 [*p0, *p0, *p0, *p0, *p0, *p0, *p0, *p0, *p0, *p0]']
    levels += [f"  l{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(2, 9)]
    bomb = 'service: "service:X"\npython:\n  packages: &p0 ["xgboost", "x"]\nlabels:\n' + "\n".join(levels)
    found = write(tmp_path, bomb + "\n")
    assert not found.valid and "aliases expand to more than" in found.error, found.error
    for read in (bentofile.lock_input, bentofile.missing_build_files):
        assert not read(tmp_path / "bentofile.yaml")  # the other readers of the YAML refuse it too
    assert "holds itself" in write(tmp_path, 'service: "service:X"\nlabels: &a {x: *a}\n').error
    assert write(tmp_path, 'service: "service:X"\nlabels: {team: &t a, owner: *t}\n').valid


def write(tmp_path: Path, text: str) -> bentofile.Bentofile:
    path = tmp_path / "bentofile.yaml"
    path.write_text(textwrap.dedent(text))
    return bentofile.read(path)


def test_bentofile_uses_bentomls_schema(tmp_path) -> None:
    assert write(tmp_path, 'service: "service:CreditRiskClassifier"\n').valid
    unknown = write(tmp_path, 'service: "service:X"\npythn:\n  packages: []\n')
    assert not unknown.valid and "pythn" in unknown.error
    wrong_type = write(tmp_path, 'service: "service:X"\npython:\n  packages: xgboost\n')
    assert not wrong_type.valid and "packages" in wrong_type.error
    assert "not valid YAML" in write(tmp_path, "python: [\n").error
    assert "expected a mapping" in write(tmp_path, "- a\n- b\n").error


def test_package_pins() -> None:
    pins, sklearn = bentofile.check_packages(["xgboost", "sklearn", "pydantic==0.1"])
    problems = {p.name: p.problem for p in pins}
    assert "not pinned" in problems["xgboost"]
    assert "missing" in problems["scikit-learn"]
    assert "differs" in problems["pydantic"]
    assert sklearn == ["sklearn"]
    reference = bentofile.read(ROOT / "solutions" / "bentofile.yaml")
    lines, _ = bentofile.requirements(reference, ROOT / "solutions")
    assert all(not p.problem for p in bentofile.check_packages(lines)[0])


def test_include_rules_use_bentomls_path_spec(tmp_path) -> None:
    spec = bentofile.path_spec(bentofile.read(ROOT / "solutions" / "bentofile.yaml"), tmp_path)
    assert spec.includes("service.py")
    assert not spec.includes("data/CreditScoring.csv") and not spec.includes("train.ipynb")
    everything = bentofile.path_spec(write(tmp_path, 'service: "s:C"\ninclude: ["*"]\n'), tmp_path)
    assert everything.includes("CreditScoring.csv")


def test_probes_are_valid_and_fresh() -> None:
    first, second = probes.candidates(50), probes.candidates(50)
    assert first != second  # generated at grading time
    for applicant in first:
        assert set(applicant) == set(contract.FIELD_TYPES)
        for name, kind in contract.FIELD_TYPES.items():
            assert isinstance(applicant[name], kind)
            if name in contract.BOUNDS:
                low, high = contract.BOUNDS[name]
                assert low <= applicant[name] <= high
            else:
                assert applicant[name] in contract.CATEGORIES[name]


def test_probe_selection_straddles_the_thresholds() -> None:
    probabilities = [i / 100 for i in range(100)]
    chosen = probes.select(probabilities, count=12, seed=1)
    picked = [probabilities[i] for i in chosen]
    assert len(set(chosen)) == 12
    assert {0.26, 0.25, 0.51, 0.5} <= set(picked)


def test_probes_are_never_answers_that_prove_nothing() -> None:
    """An answer the served copy's move hardly changes (None here: see Run.tells) is never a probe, so a
    model saturated but for a few applicants cannot have its probes answered without it (round 29)."""
    probabilities = [None if i % 4 else i / 100 for i in range(100)]  # 25 that prove something
    for seed in range(20):
        chosen = probes.select(probabilities, count=12, seed=seed)
        assert len(set(chosen)) == 12 and all(probabilities[i] is not None for i in chosen)
    assert probes.select([None] * 50, count=12, seed=1) == []
    # Those that change fast with the move first (Run.sensitive): a guess of it must be closer there.
    prefer = {4, 8, 88, 92}
    assert set(probes.select(probabilities, count=12, seed=3, prefer=prefer)) >= prefer


@contextlib.contextmanager
def moved_run(predictions: list[float] | None = None, move: tuple[float, float] = (1.0, 0.8)):
    """A grading run of ``solutions/`` that starts nothing, whose model gives ``predictions`` (the known
    applicants, then the hidden ones) and is served moved by ``move`` (scale, shift)."""
    from grader.children.served_model import Move
    from grader.facts.run import Options, Run, ServedModels

    run = Run(Options(submission=ROOT / "solutions", needs=frozenset(), confine="off"))
    try:
        if predictions is not None:
            folder = f"{contract.MODEL_NAME}/v1"
            run.__dict__["model_facts"] = {"folder": folder, "predictions": predictions}
            run.served = ServedModels(True, {folder: Move(*move)}, {folder})
        yield run
    finally:
        run.close()


@contextlib.contextmanager
def loopback_service(respond):
    """A service on a free loopback port that answers each POST (or GET) to ``path`` with body ``raw`` by
    ``respond(path, raw)``: its status, its JSON bytes, how many seconds to wait first and, optionally,
    how many to wait before each byte of the body; yields its base URL."""
    import http.server
    import threading

    class Service(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, out, delay, *drip = respond(self.path, raw)
            time.sleep(delay)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up waiting
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                for i in range(0, len(out), 1 if drip else len(out) or 1):
                    self.wfile.write(out[i:i + 1] if drip else out)
                    self.wfile.flush()
                    time.sleep(drip[0] if drip else 0)

        do_GET = do_POST  # noqa: N815 - http.server's name

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Service)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def recording_service(answer):
    """A :func:`loopback_service` that records each JSON body posted to it and answers ``answer(body)``;
    yields its base URL and the bodies."""
    import json

    seen: list = []

    def respond(path: str, raw: bytes) -> tuple[int, bytes, float]:
        seen.append(json.loads(raw))
        return 200, json.dumps(answer(seen[-1])).encode(), 0.0

    with loopback_service(respond) as url:
        yield url, seen


def sigmoids(margins) -> list[float]:
    from grader.children.served_model import sigmoid

    return [sigmoid(m) for m in margins]


#: Hidden answers spread wide (margins -3 to 3): they tell applicants apart under any move.
SPREAD = [-3 + 6 * i / 159 for i in range(160)]
DECISION = {"probability": 0.3, "status": "MAYBE"}


@pytest.mark.parametrize(("scale", "shift", "passes"), [(1.0, 0.6, True), (1.33, -2.0, False)])
def test_two_probes_must_pin_the_move_down(scale, shift, passes) -> None:
    """The hidden answers must hold two, always probes, whose saved margins lie apart and whose moved
    answers change fast with the move (Run.probe_pair): else one guess of the move answers them all. A
    weak model's margins from -1.6 to -0.4 do, moved by +0.6; scaled by 1.33 and moved by -2 every answer
    lies near 0 (best pair 0.0013), though it still shows the move, spreads wide and takes 24 values."""
    from grader.checks.live import MIN_PAIR_STRENGTH, alike_answers
    from grader.facts.run import ServedModels

    known = [0.3] * len(contract.GOLDEN_APPLICANTS)
    with moved_run(known + sigmoids(-1.6 + 1.2 * i / 159 for i in range(160)), (scale, shift)) as run:
        strength, pair = run.probe_pair
        assert (strength >= MIN_PAIR_STRENGTH) == passes and pair is not None
        assert {i - len(run.known) for i in pair} <= set(run.probe_indexes)  # both are probes
        why = alike_answers(run)
        assert (why == "") == passes, why
        assert passes or "one guess of the move would answer them all" in why and "Save the model" in why
        run.served = ServedModels(True)  # nothing moved: nothing to guess
        assert alike_answers(run) == ""


def test_a_golden_answer_the_move_hardly_changes_earns_nothing() -> None:
    """A golden applicant whose saved answer is so near 0 that the move leaves it within the tolerance is
    answered right as saved: its part earns nothing, or a service predicting with a copy of the model kept
    a share of the golden points (red-team round 33: 0.8 of 4)."""
    from grader.checks.live import Answer, live_golden
    from grader.facts.run import LiveTarget
    from grader.plugin import Check

    names = ["sample", *(n for n in contract.GOLDEN_APPLICANTS if n != "sample")]
    saved = {name: 0.2 + 0.1 * n for n, name in enumerate(names)}
    saved[names[-1]] = 0.0005  # moved by +0.8: 0.0011, within the tolerance of 0.0005
    with moved_run([*saved.values(), *sigmoids(SPREAD)]) as run:
        assert list(run.known) == names
        run.__dict__["live"] = LiveTarget(url="http://127.0.0.1:9")  # never asked: the answers are given
        as_saved = {name: Answer(200, {"probability": p, "status": contract.status_for(p)}, "")
                    for name, p in saved.items()}  # a service predicting with a copy of the saved model
        check = Check()
        with pytest.raises(pytest.fail.Exception):
            live_golden(run, check, {"known": as_saved, "probes": []})
            check.finish()
        check.finished = True
        parts = {p.label: p for p in check.parts}
        assert parts[names[-1]].ok and parts[names[-1]].weight == 0  # right as saved, and worth nothing
        assert check.share == 0


def test_the_batch_check_never_sends_the_probes() -> None:
    """/classify_batch gets hidden applicants drawn apart from the probes: the probes, chosen by the moved
    answers, would tell the service the move, for a composed or containerised service graded later."""
    from grader.checks.live import Answer, live_batch
    from grader.facts.run import LiveTarget
    from grader.plugin import Check

    known = [0.2 + 0.1 * n for n in range(len(contract.GOLDEN_APPLICANTS))]
    with (recording_service(lambda body: [DECISION] * len(body[contract.CLASSIFY_BATCH_ARG])) as (url, seen),
          moved_run(known + sigmoids(SPREAD)) as run):
        run.__dict__["live"] = LiveTarget(url=url)
        answer = Answer(200, DECISION, "")
        given = {"known": {name: Answer(200, {"probability": p, "status": contract.status_for(p)}, "")
                           for name, p in zip(run.known, known, strict=True)},
                 "hidden": dict.fromkeys(range(160), answer), "probes": [answer] * len(run.probe_indexes)}
        live_batch(run, Check(), given)  # its parts may fail (answers differ): what was sent is the point
        sent = [run.candidates.index(a) for a in seen[0][contract.CLASSIFY_BATCH_ARG][len(run.known):]]
        assert len(sent) == len(run.probe_indexes) and set(sent) != set(run.probe_indexes)


def test_an_answer_as_saved_is_named_so_even_where_the_move_mirrors_it() -> None:
    """A moved answer can fall on one minus the saved one (0.3867 saved, 0.6133 moved): a service
    answering as saved is told so, not that it subtracted from 1 (a CI run saw one probe of 12 so); a
    service answering one minus the moved answer is still told that."""
    from grader.checks.live import Answer, problem

    with moved_run([0.3867], (1.0, 0.92)) as run:
        def said(p: float, saved: float, moved: float) -> str:
            return problem(Answer(200, {"probability": p, "status": contract.status_for(p)}, ""), moved, run,
                           saved)

        assert "is what it gives as saved" in said(0.3867, 0.3867, 0.6133)  # mirrored
        assert "one minus" in said(0.55, 0.3, 0.45)
        assert said(0.6133, 0.3867, 0.6133) == ""


def test_every_hidden_applicant_is_asked_in_a_random_order() -> None:
    """The requests a service sees must say nothing of the move: every hidden applicant is asked, in a
    random order, and the probes are chosen among them afterwards (the probes alone, the threshold ones
    first, let a service read the move from which applicants came: red-team round 33)."""
    from grader.checks.live import ask_candidates

    # No model is read: nothing of the move can shape what is sent.
    with recording_service(lambda body: DECISION) as (url, seen), moved_run() as run:
        found = ask_candidates(run, url + contract.CLASSIFY_PATH)
        order = [run.candidates.index(body[contract.CLASSIFY_ARG]) for body in seen]
    assert sorted(order) == list(range(len(run.candidates))) and order != sorted(order)
    assert sorted(found) == sorted(order) and all(a.probability == 0.3 for a in found.values())


def test_the_probes_always_hold_the_pair_given() -> None:
    """The two answers that pin the move down best (Run.probe_pair) are always probes, never one that
    proves nothing."""
    probabilities = [None if i % 7 == 0 else i / 200 for i in range(200)]
    for seed in range(20):
        chosen = probes.select(probabilities, count=12, seed=seed, prefer=set(range(40, 160)), pair=[3, 190])
        assert {3, 190} <= set(chosen) and len(set(chosen)) == 12
    assert 0 not in probes.select(probabilities, count=12, seed=1, pair=[0, 5])


@pytest.mark.parametrize(("log", "fix"), [
    ("KeyError: 'DictVectorizer'", "lower-case d"),
    ("ValueError: data did not contain feature names, but the following fields are expected",
     "feature_names"),
    ("TypeError: Service.__init__() got an unexpected keyword argument 'runners'", "@bentoml.service"),
    ("Error: [bentos] `build` failed: Failed to lock PyPI packages.", "not sklearn"),
    ("OSError: [Errno 98] Address already in use", "port is taken"),
])
def test_traps_are_named(log: str, fix: str) -> None:
    assert any(fix in text for text in hints.diagnose(log))
    assert hints.diagnose("all good") == []


def test_a_service_py_that_is_not_utf8_fails_to_parse_with_the_fix(tmp_path) -> None:
    path = tmp_path / "service.py"
    path.write_bytes('"""Service de crédit."""\nimport bentoml\n'.encode("latin-1"))
    facts = ast_facts.read(path)
    assert not facts.parsed and "not valid UTF-8" in facts.syntax_error and "save it as UTF-8" in \
        facts.syntax_error
    path.write_bytes('# -*- coding: latin-1 -*-\n"""Service de crédit."""\n'.encode("latin-1"))
    assert ast_facts.read(path).parsed  # a coding line makes it valid Python, as for the import


def test_auc_is_the_rank_definition() -> None:
    import random

    from sklearn.metrics import roc_auc_score

    from grader.facts.quality import auc

    rng = random.Random(3)
    labels = [rng.randint(0, 1) for _ in range(500)]
    scores = [round(rng.random(), 2) + 0.3 * y for y in labels]  # ties included
    assert auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert auc(labels, [0.5] * len(labels)) == 0.5
    with pytest.raises(ValueError):
        auc([1, 1], [0.2, 0.3])


def test_imported_aliases_and_named_keys_are_understood(tmp_path) -> None:
    facts = facts_of(tmp_path, """
        import bentoml as bm
        from bentoml.models import BentoModel as Ref

        DV_KEY = "dictVectorizer"

        @bm.service(resources={"cpu": "1"})
        class CreditRiskClassifier:
            model_ref = Ref("credit_risk_model:latest")

            def __init__(self):
                self.dv = self.model_ref.custom_objects[DV_KEY]

            @bm.api(batchable=True)
            def classify_batch(self, items: list) -> list:
                return items
    """)
    svc = facts.service()
    assert svc is not None and svc.model_refs == {"model_ref": f"{contract.MODEL_NAME}:latest"}
    assert svc.apis["classify_batch"].batchable
    assert [key for _, key in facts.custom_object_keys] == [contract.CUSTOM_OBJECT_KEY]
    computed = facts_of(tmp_path, """
        import bentoml
        def key():
            return "dictVectorizer"
        dv = model.custom_objects[key()]
    """)
    assert computed.custom_object_keys == [] and len(computed.computed_custom_object_keys) == 1
    fake = facts_of(tmp_path, """
        import bentoml

        def NotABentoModel(tag):
            return None

        @bentoml.service
        class CreditRiskClassifier:
            model_ref = NotABentoModel("credit_risk_model:latest")
    """)
    assert fake.service().model_refs == {}  # a local function ending in the name is no reference
    # A name the module rebinds is no longer what it was imported as: what each reference really is.
    for shadowing, real in (("def BentoModel(tag):\n    return None", {"model_ref"}),
                            ("bentoml.models.BentoModel = str", {"other_ref"}),
                            ("import json as bentoml", set())):
        source = ("from bentoml.models import BentoModel\nimport bentoml\n" + shadowing + "\n\n"
                  "@bentoml.service\nclass CreditRiskClassifier:\n"
                  "    model_ref = bentoml.models.BentoModel('credit_risk_model:latest')\n"
                  "    other_ref = BentoModel('credit_risk_model:latest')\n")
        found = facts_of(tmp_path, source).service()
        assert set(found.model_refs if found else {}) == real, shadowing


def test_control_characters_never_reach_a_report() -> None:
    from grader.report import printable

    forged = "ok\x1b[2J\x1b[32mTOTAL 100 / 100\x1b[0m\n\tnext\x07"
    assert printable(forged) == "ok[2J[32mTOTAL 100 / 100[0m\n\tnext"
    assert printable("a\u2028TOTAL 100 / 100\u2029 \u202eoob\u202c \u2067x\u2069") == "aTOTAL 100 / 100 oob x"


def test_held_out_applicants_are_kept_privately_and_only_trusted_when_private(tmp_path, monkeypatch) -> None:
    import os
    import subprocess

    from grader.facts import quality

    monkeypatch.setenv("BENTOKIT_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "credit.csv"
    data.write_text("any bytes: the key is the data's bytes and the kit's split code\n")
    kept = {"features": [{"age": 30}], "labels": [1], "data": "test data"}
    assert quality.cached_holdout(str(data)) is None
    quality.keep_holdout(str(data), kept)
    path = quality.holdout_cache(str(data))
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    assert quality.cached_holdout(str(data)) == kept
    assert quality.holdout_cache("generated") != path  # other data, another entry
    data.write_text("the instructor changed the data\n")
    assert quality.cached_holdout(str(data)) is None
    data.write_text("any bytes: the key is the data's bytes and the kit's split code\n")
    path.chmod(0o666)  # writable by others: somebody else may have written it
    assert quality.cached_holdout(str(data)) is None
    path.chmod(0o600)
    if os.geteuid() == 0:  # a file another user owns is never read (learner code runs as another user)
        subprocess.run(["chown", "65534", str(path)], check=True)
        assert quality.cached_holdout(str(data)) is None


#: A child that closes its answer pipe unanswered (or keeps it open), then stays alive a while.
PIPE_CHILD = """
import json, os, sys, time
request = json.loads(open(sys.argv[1]).read())
if request["close"]:
    os.close(request["answer_fd"])
time.sleep(60)
"""


@pytest.mark.parametrize("closes", [True, False], ids=["closes_its_pipe", "keeps_its_pipe_open"])
def test_a_piped_answer_tells_an_ended_pipe_from_a_time_limit(tmp_path, closes) -> None:
    """An answer pipe that reaches its end unanswered is a failure, not a time limit, even while the
    process is still around (an ending process closes its pipe before it can be reaped)."""
    from grader.children import Child

    (tmp_path / "pipe_child.py").write_text(PIPE_CHILD)
    child = Child("pipe_child", {"close": closes}, cwd=tmp_path, timeout=60, pipe_answer=True,
                  env={"PYTHONPATH": str(tmp_path)})  # a child never imports from its working folder
    try:
        assert child.piped_answer(timeout=10 if closes else 0.5) is None
        assert child.pipe_timed_out is not closes
        assert child.process.poll() is None  # alive either way: only the pipe tells them apart
    finally:
        child.result(timeout=0)  # kills it
    assert child.process.poll() is not None


def test_a_child_over_its_time_limit_is_counted_and_one_stopped_on_purpose_is_not(tmp_path,
                                                                                monkeypatch) -> None:
    """A class run grades a learner again, alone, when one of their learner-code processes went over
    its time limit: 120 busy processes of a classmate's import cut an honest learner from 100 to 28,
    and the 28 was kept, since only the server's readiness counted (red-team round 34)."""
    from grader.children import Child

    monkeypatch.setattr(Child, "timeouts", 0)
    (tmp_path / "pipe_child.py").write_text(PIPE_CHILD)

    def child(closes: bool) -> Child:
        return Child("pipe_child", {"close": closes}, cwd=tmp_path, timeout=60, pipe_answer=True,
                     env={"PYTHONPATH": str(tmp_path)})

    stopped = child(closes=True)
    assert stopped.piped_answer(timeout=10) is None  # its pipe ended: no time limit
    assert stopped.result(timeout=0).timed_out and Child.timeouts == 0  # stopped on purpose
    slow = child(closes=False)
    assert slow.piped_answer(timeout=0.5) is None and Child.timeouts == 1  # the answer's limit passed
    assert slow.result(timeout=0.5).timed_out and Child.timeouts == 2  # and the result's


DEEP_ANSWER_CHILD = """
import json, os, sys
request = json.loads(open(sys.argv[1]).read())
os.write(request["answer_fd"], b"[" * 100_000 + b"]" * 100_000)
"""


def test_an_answer_nested_past_the_json_readers_depth_is_no_answer(tmp_path) -> None:
    """Learner code runs in the children: an answer of 100 000 nested lists raised RecursionError in
    the grader instead of being no answer."""
    from grader.children import Child

    (tmp_path / "deep_child.py").write_text(DEEP_ANSWER_CHILD)
    child = Child("deep_child", {}, cwd=tmp_path, timeout=60, pipe_answer=True,
                  env={"PYTHONPATH": str(tmp_path)})
    try:
        assert child.piped_answer(timeout=30) is None
    finally:
        child.result(timeout=0)


def test_a_child_never_imports_from_its_working_folder(tmp_path) -> None:
    """The grader's children work in the sandbox's folder, which learner code can write: a ``grader``
    package planted there is not the one they run."""
    from grader.children import Child

    (tmp_path / "grader").mkdir()
    planted = "import sys\nopen('planted-ran', 'w').close()\nsys.exit(3)\n"
    (tmp_path / "grader" / "__init__.py").write_text(planted)
    result = Child("grader.children.holdout", {"data": str(tmp_path / "no-such.csv")}, cwd=tmp_path,
                   timeout=60).result()
    assert not (tmp_path / "planted-ran").exists() and result.returncode != 3, result.log_tail


@pytest.mark.skipif(os.geteuid() != 0, reason="confinement needs root (CI runs as root)")
def test_learner_code_cannot_change_a_confined_childs_request(tmp_path) -> None:
    """Learner code already running (the server) could otherwise rewrite the request before the child
    reads it: the model reader would predict other applicants than the live checks send."""
    from bentokit import procs
    from grader.children import Child

    with procs.Sandbox.acquire(confine=True) as box:
        child = Child("grader.children.holdout", {"data": str(tmp_path / "no-such.csv")}, cwd=box.folder,
                      timeout=60, sandbox=box)
        request = child._in.read_text()
        done = box.run(["sh", "-c", f"cat {child._in} > /dev/null && "
                                    f"{{ echo '{{}}' > {child._in} || mv -f {child._in} {child._in}.gone || "
                                    f"rm -f {child._in}; }}"])
        assert done.returncode != 0 and "Permission denied" in done.stderr, (done.stdout, done.stderr)
        assert child._in.read_text() == request
        child.result()
    assert not child._in.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="confinement needs root (CI runs as root)")
def test_only_the_childs_own_user_can_read_its_request(tmp_path) -> None:
    """The inspector's request holds the hidden probe candidates and the held-out applicants' features,
    and its path is on the inspector's command line: readable by all (mode 644), the server's user of
    the same grading and a classmate's code graded beside it read it whole."""
    from bentokit import procs
    from grader.children import Child

    with procs.Sandbox.acquire(confine=True) as box, procs.Sandbox.acquire(confine=True) as other:
        child = Child("grader.children.holdout", {"data": str(tmp_path / "no-such.csv")}, cwd=box.folder,
                      timeout=60, sandbox=box)
        done = other.run(["cat", str(child._in)])
        assert done.returncode != 0 and "Permission denied" in done.stderr, (done.stdout, done.stderr)
        assert box.run(["cat", str(child._in)]).stdout == child._in.read_text()
        child.result()


@pytest.mark.skipif(os.geteuid() != 0, reason="confinement needs root (CI runs as root)")
def test_learner_code_cannot_move_the_folders_the_grader_works_in(tmp_path) -> None:
    """Learner code already running could otherwise rename a helper's fresh folder (or the sandbox's
    own) and put a link in its place before the grader, as root, created the helper's log in it: root
    would create that file wherever the link leads."""
    from bentokit import procs
    from grader.children import Child

    with procs.Sandbox.acquire(confine=True) as box:
        child = Child("grader.children.holdout", {"data": str(tmp_path / "no-such.csv")}, cwd=box.folder,
                      timeout=60, sandbox=box)
        attempts = {
            "the helper's folder": f"mv {child._dir} $HOME/moved",
            "the sandbox's own folder": f"mv {box.folder} {box.folder}.moved",
            "a link beside them": f"ln -s /etc {box.room}/grader-child-planted",
        }
        for what, command in attempts.items():
            done = box.run(["sh", "-c", command])
            assert done.returncode != 0 and "Permission denied" in done.stderr, (what, done.stderr)
        assert child._dir.is_dir() and box.folder.is_dir() and not (box.folder / "moved").exists()
        assert child._dir.parent == box.room != box.folder and box.folder.parent == box.room
        child.result()


@pytest.mark.parametrize("name", ["client", "homework"])
def test_learner_files_import_their_neighbours_and_a_failure_names_the_line(tmp_path, name) -> None:
    """client.py and homework.py import as ``python client.py`` runs them (a module beside them is
    importable, though the child starts with ``-P``); a failing import shows the learner's own line."""
    from grader.children import Child

    (tmp_path / "helper.py").write_text("ANSWER = 42\n")
    (tmp_path / f"{name}.py").write_text("from helper import ANSWER\n\nraise ValueError(f'boom {ANSWER}')\n")
    request = {"url": "http://127.0.0.1:1", "applicants": {}} if name == "client" else {}
    result = Child(f"grader.children.{name}", request, cwd=tmp_path, timeout=60).result()
    error = result.data["error"]
    assert f'{name}.py", line 3, in <module>' in error and "ValueError: boom 42" in error, error


@pytest.mark.parametrize("printed", ["credit_risk_classifier:../../../../root", "../x:y", "a:b/c"])
def test_a_build_log_naming_a_path_for_its_tag_gives_no_bento(printed, tmp_path) -> None:
    """The build's log is learner code's to write: its tag would name the folder the grader reads (and,
    with --container, copies as root) as the bento."""
    import subprocess
    import sys

    from grader.facts.run import Build

    log = tmp_path / "log.txt"
    log.write_text(f"built\n__tag__:{printed}\n")
    build = Build(tmp_path, subprocess.Popen([sys.executable, "-c", ""]), log)
    assert build.finish(timeout=30)[:2] == ("", "ended without printing a bento tag")
    log.write_text("built\n__tag__:credit_risk_classifier:zez45zxp3wdgyax4\n")
    build = Build(tmp_path, subprocess.Popen([sys.executable, "-c", ""]), log)
    assert build.finish(timeout=30)[0] == "credit_risk_classifier:zez45zxp3wdgyax4"


def test_the_image_is_built_from_a_copy_of_the_bento_without_links_out(tmp_path) -> None:
    """`bentoml containerize` runs as root and follows links; the bento is learner code's to change."""
    from grader.facts.container import ContainerRun

    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    home = tmp_path / "home"
    bento = home / "bentos" / "credit_risk_classifier" / "v1"
    (bento / "src").mkdir(parents=True)
    (bento / "bento.yaml").write_text("name: credit_risk_classifier\n")
    (bento / "src" / "leak.txt").symlink_to(secret)
    (bento / "src" / "same.yaml").symlink_to("../bento.yaml")  # inside the bento: kept
    (home / "models" / "credit_risk_model" / "m1").mkdir(parents=True)
    (home / "models" / "credit_risk_model" / "m1" / "leak.txt").symlink_to(secret)
    staged = ContainerRun(None, False, tmp_path / "logs")._stage("credit_risk_classifier:v1", home, tmp_path)
    copy = staged / "bentos" / "credit_risk_classifier" / "v1"
    assert sorted(p.name for p in (copy / "src").iterdir()) == ["same.yaml"]
    assert (copy / "src" / "same.yaml").read_text() == "name: credit_risk_classifier\n"
    assert list((staged / "models" / "credit_risk_model" / "m1").iterdir()) == []
    # The bento's own folder swapped for a link out of the store: nothing is copied.
    outside = tmp_path / "outside" / "v2"
    outside.mkdir(parents=True)
    (home / "bentos" / "elsewhere").symlink_to(outside.parent)
    with pytest.raises(OSError, match="link out of the store"):
        ContainerRun(None, False, tmp_path / "logs2")._stage("elsewhere:v2", home, tmp_path / "logs2")


def _swap_after_listing(name: str, target: Path):
    """An ``ignore`` for ``files.copy_tree`` that, once the copy has listed the top folder (its second
    listing: the first is the size check's), turns its entry ``name`` into a link to ``target``: what
    learner code still running did between the listing and the copy of each file (red-team round 37)."""
    listings = []

    def ignore(folder: str, names: list[str]) -> set[str]:
        path = Path(folder) / name
        listings.append(folder)
        if name in names and not path.is_symlink() and listings.count(folder) == 2:
            if path.is_dir():
                for child in path.iterdir():
                    child.unlink()
                path.rmdir()
            else:
                path.unlink()
            path.symlink_to(target)
        return set()
    return ignore


def test_a_file_swapped_for_a_link_while_it_is_copied_is_never_read_through_it(tmp_path) -> None:
    """The copy lists a regular file, learner code turns it into a link to root's file, and the copy
    opens it: it is refused, not read through the link (before: the secret was copied)."""
    from grader.facts import files

    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    source = tmp_path / "bento"
    source.mkdir()
    (source / "a.txt").write_text("mine")
    (source / "b.txt").write_text("mine too")
    with pytest.raises(OSError, match="could not be copied") as raised:
        files.copy_tree(source, tmp_path / "copy", _swap_after_listing("a.txt", secret))
    assert "secret" not in str(raised.value)
    copied = tmp_path / "copy" / "a.txt"
    assert not copied.exists() or "TOPSECRET" not in copied.read_text()
    # Nothing swapped: copied as before, contents, mode and times.
    (source / "a.txt").unlink()
    (source / "a.txt").write_text("mine")
    (source / "a.txt").chmod(0o640)
    files.copy_tree(source, tmp_path / "copy2")
    assert (tmp_path / "copy2" / "a.txt").read_text() == "mine"
    assert (tmp_path / "copy2" / "a.txt").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "copy2" / "a.txt").stat().st_mtime_ns == (source / "a.txt").stat().st_mtime_ns


def _private_and_source(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A folder of root's holding a secret, and a learner's folder ``name`` holding ``src/x.py``."""
    private = tmp_path / "private"
    private.mkdir()
    (private / "id_rsa").write_text("TOPSECRET")
    source = tmp_path / name
    (source / "src").mkdir(parents=True)
    (source / "src" / "x.py").write_text("x = 1")
    return private, source


def test_a_folder_swapped_for_a_link_copies_no_file_of_another_user(tmp_path) -> None:
    """A folder listed, then swapped for a link to a folder of root's: the copy walks into it (Python's
    copy follows the folder's link), and ``owners`` refuses every file that is not learner code's."""
    from grader.facts import files

    private, source = _private_and_source(tmp_path, "bento")
    mine = {os.getuid() + 1}  # learner code's users: not this process's, whose files these are
    with pytest.raises(OSError, match="could not be copied") as raised:
        files.copy_tree(source, tmp_path / "copy", _swap_after_listing("src", private), owners=mine)
    assert "id_rsa" not in str(raised.value)
    assert not (tmp_path / "copy" / "src" / "id_rsa").exists()
    # The owner's own files are copied.
    files.copy_tree(private, tmp_path / "copy2", owners={os.getuid()})
    assert (tmp_path / "copy2" / "id_rsa").read_text() == "TOPSECRET"


def _at_first_listing(change):
    """An ``ignore`` for ``files.snapshot`` that runs ``change`` once the top folder is listed, before
    anything of it is copied: what a learner with an account on the machine does, told by inotify that
    root opened their folder (red-team round 43)."""
    done = []

    def ignore(folder: str, names: list[str]) -> set[str]:
        if not done:
            done.append(folder)
            change()
        return set()
    return ignore


def test_a_snapshot_never_reads_through_a_folder_or_file_swapped_for_a_link(tmp_path) -> None:
    """A folder and a file, listed, then swapped for links to root's: the copy by path walked into the
    folder's link (a classmate's work and root's held-out applicants in the learner's graded folder).
    The snapshot copies the links as links, then removes them: they lead out."""
    from grader.facts import files

    private, source = _private_and_source(tmp_path, "ann")
    (source / "a.txt").write_text("mine")
    (source / "b.txt").write_text("mine too")

    def swap() -> None:
        shutil.rmtree(source / "src")
        (source / "src").symlink_to(private)
        (source / "a.txt").unlink()
        (source / "a.txt").symlink_to(private / "id_rsa")

    notes = files.snapshot(source, tmp_path / "copy", _at_first_listing(swap))
    copied = [p for p in (tmp_path / "copy").rglob("*") if p.is_file()]
    assert [p.name for p in copied] == ["b.txt"] and "TOPSECRET" not in copied[0].read_text()
    assert len([n for n in notes if "outside the submission: left out" in n]) == 2, notes


def test_a_folder_swapped_for_a_link_to_a_fifo_as_it_is_entered_never_holds_the_snapshot(tmp_path,
                                                                                         monkeypatch) -> None:
    """Listed as a folder, then swapped for a link to a FIFO just before it is opened: ``os.fwalk`` opened
    it following the link, and waited for a writer that never came, holding the class run for good
    (red-team round 44). The snapshot opens a folder without following a link or waiting."""
    from grader.facts import files

    source = tmp_path / "ann"
    (source / "X").mkdir(parents=True)
    (source / "X" / "x.py").write_text("x = 1")
    (source / "service.py").write_text("print('hello')")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    real_stat = os.stat

    def stat_then_swap(path, *args, **kwargs):
        found = real_stat(path, *args, **kwargs)
        if path == "X" and kwargs.get("dir_fd") is not None and (source / "X").is_dir():
            shutil.rmtree(source / "X")
            (source / "X").symlink_to(fifo)
        return found

    monkeypatch.setattr(files.os, "stat", stat_then_swap)
    done: list[list[str]] = []
    worker = threading.Thread(target=lambda: done.append(files.snapshot(source, tmp_path / "copy")),
                              daemon=True)
    worker.start()
    worker.join(timeout=60)
    monkeypatch.undo()
    if worker.is_alive():  # the old walk: let it go, then fail
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert done, "the snapshot waited on the FIFO"
    assert sorted(p.name for p in (tmp_path / "copy").iterdir()) == ["service.py"]


def test_a_file_grown_while_it_is_snapshotted_is_copied_only_to_the_limit(tmp_path, monkeypatch) -> None:
    """A sparse file grown after the size check was copied whole: 1.5 GiB past the 512 MB limit, and
    16 TiB would fill the disk (red-team round 43). The snapshot counts what it reads."""
    from grader.facts import files

    monkeypatch.setattr(files, "MAX_BYTES", 1 << 20)  # the same code, a cheap file
    source = tmp_path / "ann"
    source.mkdir()
    (source / "weights.bin").write_bytes(b"w")

    def grow() -> None:
        with open(source / "weights.bin", "r+b") as fh:
            fh.truncate(1 << 30)  # sparse: no disk used

    with pytest.raises(files.TooLarge, match="grew while it was copied"):
        files.snapshot(source, tmp_path / "copy", _at_first_listing(grow))
    assert (tmp_path / "copy" / "weights.bin").stat().st_size <= 1 << 20


def test_the_grading_benchmark_says_how_fast_the_machine_is() -> None:
    """Gradings timed on machines of different speed can be compared by this line's two figures."""
    from grader.bench import machine_reference

    line = machine_reference()
    loop, imports = (float(n) for n in re.findall(r"(\d+\.\d+) s", line))
    assert loop > 0 and imports > 0, line
    assert f"{os.cpu_count()} cores" in line


class _RunsCode:
    def __init__(self, function, *args) -> None:
        self.call = (function, args)

    def __reduce__(self):
        return self.call


class _ExecsItsState:
    """A SciPy distribution: its ``__setstate__`` execs a template from its pickled state."""

    def __reduce__(self):
        import copyreg

        import scipy.stats
        state = scipy.stats.norm.__getstate__()
        state.pop("_random_state", None)
        state["_parse_arg_template"] = "import os\n" + state["_parse_arg_template"]
        return copyreg._reconstructor, (type(scipy.stats.norm), object, None), state


@pytest.mark.parametrize("dangerous", [
    _RunsCode(exec, "import os"),
    _RunsCode(os.system, "true"),
    _RunsCode(getattr, "text", "upper"),
    _ExecsItsState(),
], ids=["exec", "os.system", "getattr", "a class whose __setstate__ execs"])
def test_the_model_readers_pickles_name_no_code(dangerous, trained) -> None:
    """What a course model's pickles hold loads under the guard (the DictVectorizer, a pickled Booster);
    a pickle naming a function that runs code is refused, so is one holding a NumPy array (a dtype's
    pickled state can make an object field of raw bytes); the same pickle loads outside the guard."""
    import pickle

    import cloudpickle
    import numpy as np

    from grader.children.model import guarded

    with guarded():
        assert pickle.loads(cloudpickle.dumps({contract.CUSTOM_OBJECT_KEY: trained.dv}))
        assert pickle.loads(cloudpickle.dumps(trained.booster)).num_boosted_rounds()
        for refused in (dangerous, np.zeros(2), np.dtype([("a", "O")])):
            with pytest.raises(pickle.UnpicklingError, match="which is code, not a model's data"):
                pickle.loads(pickle.dumps(refused))
    harmless = _RunsCode(len, "abc")
    assert pickle.loads(pickle.dumps(harmless)) == 3  # outside the guard, pickle as usual


PIN = f"bentoml=={importlib_metadata.version('bentoml')}"


@pytest.mark.parametrize(("bentofile_yaml", "requirements_txt", "locked"), [
    ('python:\n  packages: ["sklearn"]\n  pip_args: ""\n', None, (["sklearn", PIN], [])),
    ('python:\n  packages: ["sklearn"]\n  index_url: "https://pypi.org/simple"\n', None,
     (["sklearn", PIN], ["--index-url", "https://pypi.org/simple"])),
    ('python:\n  requirements_txt: requirements.txt\n',
     b"--prefer-binary\nsklearn  # comment\nsix @ https://example.org/six.whl\n-r other.txt\n-e ./local\n"
     b"./wheels/a.whl\n--extra-index-url=https://example.org/simple\n",
     (["sklearn", PIN], ["--extra-index-url", "https://example.org/simple"])),
    ('python:\n  requirements_txt: requirements.txt\n', b"xgboost==9.9.9  # caf\xe9\n",
     (["xgboost==9.9.9", PIN], [])),
    ('python:\n  requirements_txt: requirements.txt\n', b"six==1.16.0 \\\n    --hash=sha256:abc\npydantic\n",
     (["six==1.16.0", "pydantic", PIN], [])),
    ('python:\n  packages: ["bentoml @ https://example.org/bentoml.whl", "sklearn"]\n', None,
     (["sklearn"], [])),
    ('python:\n  requirements_txt: requirements.txt\n', b"--index-url file:///root\nsklearn\n", None),
    ('python:\n  packages: ["sklearn"]\n  lock_packages: false\n', None, None),
    ('python:\n  packages: ["sklearn"]\n  lock_packages: 0\n', None, None),
    ('python:\n  packages: ["sklearn"]\n  pack_git_packages: false\n', None, None),
    ('python:\n  packages: ["sklearn"]\n  find_links: ["./wheels"]\n', None, None),
    ('python:\n  packages: ["sklearn"]\ndocker:\n  python_version: "3.12"\n', None,
     (["sklearn", PIN], ["--python-version", "3.12"])),
    ('python:\n  packages: ["\\ufeff-r /root/secret", "sklearn\\ufeff"]\n', None, (["sklearn", PIN], [])),
    ('python:\n  packages: ["\\u200b--index-url=file:///root", "sklearn"]\n', None, None),
    ('python:\n  requirements_txt: requirements.txt\n', "\ufeff-r /root/secret\n\u2060sklearn\n".encode(),
     (["sklearn", PIN], [])),
], ids=["pip_args", "index_url", "requirements_txt with options and URLs", "not UTF-8", "hashes",
        "bentoml from a URL", "a local index", "no lock", "no lock (0)", "no git packages packed",
        "local wheels", "another Python", "a byte-order mark before an option",
        "an invisible character before a local index", "a byte-order mark in requirements.txt"])
def test_the_grader_locks_what_a_build_locks(bentofile_yaml, requirements_txt, locked, tmp_path) -> None:
    """The grader's own lock (checking a build that runs learner code) takes the bentofile's plain
    requirements, remote indexes and the BentoML pin the build adds; what it leaves out (URLs, paths,
    nested files, hashes) only makes its lock easier than the build's. It checks nothing where the
    build locks nothing or looks in local files, and locks for the bentofile's Python as the build
    does (skipping another Python let a faked build pass)."""
    (tmp_path / "bentofile.yaml").write_text(bentofile_yaml)
    if requirements_txt is not None:
        (tmp_path / "requirements.txt").write_bytes(requirements_txt)
    found = bentofile.lock_input(tmp_path / "bentofile.yaml")
    assert (found and (found.requirements, found.index_args)) == locked


@pytest.mark.parametrize(("python_yaml", "complete"), [
    (None, True),  # the reference's bentofile
    ('python:\n  packages: ["sklearn"]\n  index_url: "https://pypi.org/simple"\n  no_index: false\n', True),
    ('python:\n  packages: ["sklearn", "--extra-index-url https://example.org/simple"]\n', True),
    ('python:\n  packages: ["sklearn"]\ndocker:\n  python_version: "3.12"\n', True),
    ('python:\n  packages: ["sklearn"]\n  pip_args: "--pre"\n', False),
    ('python:\n  packages: ["sklearn"]\n  trusted_host: ["example.org"]\n', False),
    ('python:\n  packages: ["sklearn", "six @ https://example.org/six.whl"]\n', False),
    ('python:\n  packages: ["sklearn", "./local"]\n', False),
    ('python:\n  packages: ["sklearn", "-r other.txt"]\n', False),
    ('python:\n  packages: ["sklearn", "--prefer-binary"]\n', False),
    ('python:\n  packages: ["six==1.16.0 --hash=sha256:abc"]\n', False),
], ids=["reference", "indexes", "an index line", "another Python", "pip_args", "trusted_host", "a URL",
        "a path", "a nested file", "another option", "hashes"])
def test_the_build_leaves_its_lock_to_the_grader_only_where_the_graders_asks_the_same(
        python_yaml, complete, tmp_path, monkeypatch) -> None:
    """The grader's builds skip their packages' lock when the grader's own asks exactly what it would:
    anything the grader leaves out, or a platform BentoML locks another one for, keeps the build's."""
    text = (ROOT / "solutions" / "bentofile.yaml").read_text() if python_yaml is None else python_yaml
    (tmp_path / "bentofile.yaml").write_text(text)
    assert bentofile.lock_input(tmp_path / "bentofile.yaml").complete is complete
    monkeypatch.setattr("platform.system", lambda: "Darwin")  # BentoML then locks for Linux
    assert not bentofile.lock_input(tmp_path / "bentofile.yaml").complete


TINY_SERVICE = """\
import bentoml

@bentoml.service{image}
class Tiny:
    @bentoml.api
    def ping(self) -> str:
        return "pong"
"""


@pytest.mark.parametrize(("unlocked", "image", "locks"), [
    (True, "", False), (False, "", True),
    (True, '(image=bentoml.images.Image(python_version="3.11").python_packages("six==1.16.0"))', True),
], ids=["unlocked", "as written", "a service's own image"])
def test_an_unlocked_build_writes_the_packages_as_listed_and_a_declared_image_keeps_its_lock(
        unlocked, image, locks, tmp_path) -> None:
    """The inspector's build (grader.children.service.build) with ``unlocked``: the bento lists the
    bentofile's lines and BentoML's pin, and no dependency of theirs (a lock lists each, pinned)."""
    folder, home = tmp_path / "project", tmp_path / "home"
    folder.mkdir()
    (folder / "service.py").write_text(TINY_SERVICE.format(image=image))
    (folder / "bentofile.yaml").write_text('service: "service:Tiny"\npython:\n  packages: ["six==1.16.0"]\n')
    script = ("import sys; from grader.children.service import build; "
              f"sys.exit(build({str(folder)!r}, unlocked={unlocked}))")
    env = {**os.environ, "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=300)  # in the project, as the inspector builds
    assert done.returncode == 0, done.stdout + done.stderr
    (requirements,) = home.glob("bentos/tiny/*/env/python/requirements.txt")
    lines = requirements.read_text().splitlines()
    assert "six==1.16.0" in lines and f"bentoml=={importlib_metadata.version('bentoml')}" in lines
    assert any(line.startswith("anyio==") for line in lines) is locks  # one of BentoML's dependencies


@pytest.mark.parametrize(("docker_and_more", "found"), [
    ('docker:\n  setup_script: "setup.sh"\n', "docker.setup_script: setup.sh is not in the submission"),
    ('docker:\n  setup_script: "present.sh"\n', ""),  # not executable: BentoML 1.4's build makes it so
    ('docker:\n  setup_script: "run.sh"\n', ""),
    ('docker:\n  dockerfile_template: "/etc/hostname"\n', "is an absolute path"),
    ('docker:\n  dockerfile_template: "../outside.j2"\n', "leads out of the bentofile's folder"),
    ('docker:\n  dockerfile_template: ".hidden/t.j2"\n', "is a hidden file or folder"),
    ('description: "file:./README.md"\n', ""),
    ('description: "file:./NOTES.md"\n', "description: ./NOTES.md is not in the submission"),
    ('python:\n  requirements_txt: "requirements.txt"\n', "python.requirements_txt: requirements.txt is not"),
    ('python:\n  wheels: ["present.sh", "dist/x.whl"]\n', "python.wheels: dist/x.whl is not in the"),
    ('conda:\n  environment_yml: "$HOME/env.yml"\n', "is an absolute path"),  # as the build expands it
    ('docker:\n  setup_script: "$NOPE/setup.sh"\n', "$NOPE/setup.sh is not in the submission"),
    ('docker:\n  setup_script: "${WHERE}/run.sh"\n', ""),
    ('docker:\n  setup_script: "~/run.sh"\n', "is an absolute path"),
], ids=["missing", "not_executable", "present", "absolute", "outside", "hidden", "description",
        "description_missing", "requirements", "wheels", "home", "unset", "set", "tilde"])
def test_the_files_a_bentofile_names_are_the_ones_a_build_can_read(docker_and_more, found, tmp_path) -> None:
    """A build runs learner code, which can print a tag past any failure: a setup_script not in the
    submission failed every real build while the bento checks passed."""
    folder = tmp_path / "submission"
    (folder / ".hidden").mkdir(parents=True)
    (folder / ".hidden" / "t.j2").write_text("")
    for name, mode in (("present.sh", 0o644), ("run.sh", 0o755), ("README.md", 0o644)):
        (folder / name).write_text("#!/bin/sh\n")
        (folder / name).chmod(mode)
    (tmp_path / "outside.j2").write_text("")
    (folder / "bentofile.yaml").write_text('service: "service:CreditRiskClassifier"\n' + docker_and_more)
    missing = bentofile.missing_build_files(folder / "bentofile.yaml", {"HOME": "/home/x", "WHERE": "."})
    assert (found in "; ".join(missing)) if found else missing == [], missing
    assert bool(missing) == bool(found)


@pytest.mark.parametrize("tag", ["../../loot", "../../loot:v1", "credit_risk_model/../../../loot"])
def test_a_model_tag_that_is_a_path_copies_nothing_from_outside_the_store(tag, tmp_path, monkeypatch) -> None:
    """The grader copies the model service.py asks for from its store into the sandbox's, as root in a
    class run: a tag naming "../../<classmate>/submission" copied a classmate's submission where the
    learner's code read it. Only a name BentoML accepts becomes a folder name."""
    from grader.facts.run import Options, Run

    store = tmp_path / "store"
    (store / "models" / contract.MODEL_NAME / "v1").mkdir(parents=True)
    (tmp_path / "loot").mkdir()
    (tmp_path / "loot" / "service.py").write_text("# a classmate's work\n")
    learner = tmp_path / "learner"
    learner.mkdir()
    (learner / "service.py").write_text(textwrap.dedent(f"""\
        import bentoml
        if False:
            @bentoml.service
            class CreditRiskClassifier:
                model = bentoml.models.BentoModel({tag!r})
        """))
    assert ast_facts.store_name(tag) is None
    monkeypatch.setenv("BENTOML_HOME", str(store))
    run = Run(Options(submission=learner, needs=frozenset(), confine="off"))
    try:
        assert run.source.model_tag == tag  # read from the source, as the grader reads it
        copied = {p.relative_to(run.sandbox.folder) for p in run.sandbox.folder.rglob("*")}
        assert not any("loot" in p.parts or p.name == "service.py" and "submission" not in p.parts
                       for p in copied), sorted(copied)
        assert (run.home / "models" / contract.MODEL_NAME / "v1").is_dir()  # the course model still is
    finally:
        run.close()


def test_the_lock_checks_user_is_listed_while_it_runs_learner_code(tmp_path) -> None:
    """A class run counts the memory of every user a grading lists (``sandbox.json``), and cleans up
    after each. The lock done again as learner code runs in a sandbox of its own (a user of its own
    when confined), taken late: it is listed while it runs, and unlisted before its user is freed."""
    from bentokit import package_index
    from grader.facts.run import Options, Run
    from tests.test_package_index import source_only_index

    index_args = source_only_index(tmp_path, tmp_path / "backend-ran")
    undecided = package_index.Lock(["learnerpkg==1.0"], index_args)
    assert undecided.failure() == "" and undecided.undecided
    run = Run(Options(submission=ROOT / "solutions", needs=frozenset(), confine="auto"))
    seen: list[list[procs.Sandbox]] = []
    run.on_sandboxes = lambda: seen.append(list(run.sandboxes))
    try:
        before = run.sandboxes
        assert run._lock_as_learner_code(undecided) is not None
        assert len(seen) == 2, seen
        assert seen[0][:-1] == before and seen[0][-1] not in before and seen[1] == before
        assert run.sandboxes == before
    finally:
        run.close()


def test_an_answer_nested_too_deep_is_no_json_and_one_too_large_is_none(monkeypatch) -> None:
    """A 400 whose detail nested 100 000 lists deep raised RecursionError in the grader (its own error, a
    "please report it" for the instructor); an answer of any size was read whole into its memory."""
    from grader.checks import live
    from grader.checks.live import MAX_ANSWER, Answer
    from grader.children import Child

    monkeypatch.setattr(Child, "timeouts", 0)

    bodies = {"/deep": b"[" * 100_000 + b"]" * 100_000, "/big": b" " * (MAX_ANSWER + 10) + b"{}",
              "/slow": b"{}"}
    with loopback_service(lambda path, raw: (400, bodies[path], 1.5 if path == "/slow" else 0.0)) as url:
        deep = Answer.post(url + "/deep", {})
        assert deep.code == 400 and deep.body is None
        big = Answer.post(url + "/big", {})
        assert big.code == 0 and big.text.startswith("no answer: over 1 MiB"), big.text
        assert Child.timeouts == 0
        monkeypatch.setattr(live, "TIMEOUT", 0.5)  # a request the service does not answer in time
        slow = Answer.post(url + "/slow", {})
        assert slow.code == 0 and Child.timeouts == 1  # counted: a class run grades the learner again


@pytest.mark.parametrize("status", sorted(BUSY))
def test_a_busy_answer_counts_as_a_time_limit_passed_and_an_error_does_not(monkeypatch, status) -> None:
    """A classmate's daemon flooded every other user's server: BentoML answered an honest learner's batch
    requests at once with 503 ("process is overloaded"), a wrong answer of theirs that the class run kept
    (red-team round 39, 100 -> 96). Counted, the class run grades the learner again, alone."""
    from grader.checks.live import Answer
    from grader.children import Child

    monkeypatch.setattr(Child, "timeouts", 0)
    answer = b'{"error": "x"}'
    with loopback_service(lambda path, raw: (status if path == "/busy" else 500, answer, 0.0)) as url:
        assert Answer.post(url + "/error", {}).code == 500 and Child.timeouts == 0
        busy = Answer.post(url + "/busy", {})
        assert busy.code == status and busy.body == {"error": "x"} and Child.timeouts == 1


def test_an_answer_that_drips_counts_as_none_once_its_time_is_up(monkeypatch) -> None:
    """A service that sends its body a byte at a time, each read well within the socket's timeout, held
    the grader for as long as it liked (red-team round 38, ``--url``): the answer's time counts in all,
    and readiness too (``/readyz`` answering 200, slowly, is not ready in time)."""
    from bentokit import server
    from grader.checks import live
    from grader.checks.live import Answer
    from grader.children import Child

    monkeypatch.setattr(Child, "timeouts", 0)
    monkeypatch.setattr(live, "TIMEOUT", 0.5)
    body = b'{"probability": 0.5, "status": "MAYBE"}'
    with loopback_service(lambda path, raw: (200, body, 0.0, 0.1 if path != "/fast" else 0)) as url:
        assert Answer.post(url + "/fast", {}).body == {"probability": 0.5, "status": "MAYBE"}
        dripped = Answer.post(url + "/classify", {})  # 4 s of body, 0.1 s a byte
        assert dripped.code == 0 and dripped.text == "no answer: still coming after 0.5 s", dripped.text
        assert Child.timeouts == 1
        with pytest.raises(server.ServerError, match="not ready"):
            server.wait_url_ready(url, timeout=1.0)
