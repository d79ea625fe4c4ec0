"""Class statistics, hints, similarity, ids, late policy and path scrubbing on small inputs (no grading)."""

from __future__ import annotations

import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bentokit import procs
from grader.cohort import classrun, gradebook, runner, scrub, similarity, store, submissions

ROOT = Path(__file__).resolve().parents[2]


def check(cid: str, passed: bool, output: str = "", score: float | None = None, points: float = 4) -> dict:
    return {"id": cid, "group": "live endpoint", "title": cid, "passed": passed, "output": output,
            "score": points if passed else (score or 0.0), "max_score": points, "hidden": False}


def record(name: str, total: float, checks: list[dict], error: str = "") -> dict:
    return {"learner": name, "id": submissions.learner_id(name), "total": total, "score": total,
            "max_score": 100, "checks": checks, "error": error, "notes": [], "graded_at": "t", "digest": "d",
            "seconds": 1.0, "peak_rss_mb": 1.0, "models": [], "late": {}, "log": ""}


def test_median_and_quartiles_interpolate():
    q1, median, q3 = gradebook.quartiles(sorted([38, 38, 74.53, 96, 100, 100]))
    assert median == pytest.approx(85.265)
    assert (q1, q3) == (pytest.approx(47.1325), pytest.approx(99.0))  # as numpy.percentile(…, [25, 75])
    assert gradebook.quartiles([7.0]) == (7.0, 7.0, 7.0) and gradebook.quartiles([]) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize(("output", "hint"), [
    ("- 12 probes\n3 of 12 hidden applicants got a wrong answer (e.g. x)", "3 of 12 hidden applicants got a "
                                                                          "wrong answer (e.g. x)"),
    ("`bentoml build` failed (exit code 1):\nLikely fix: pin xgboost\nlog", "Likely fix: pin xgboost"),
    ("\n\n- feature names: send the 13 fields\n", "- feature names: send the 13 fields"),
    ("- only a label", "- only a label"),
])
def test_the_hint_is_the_first_line_with_content(output, hint):
    assert gradebook.real_hint(output) == hint


def test_not_checked_is_apart_from_failed():
    assert gradebook.check_status(check("a", True)) == gradebook.PASSED
    status = gradebook.check_status
    assert status(check("a", False, "not checked: the service is not running")) == "not checked"
    both = "- serves: not checked: no container\n- answers: not checked"
    assert status(check("a", False, both)) == gradebook.NOT_CHECKED
    assert status(check("a", False, "not run: the whole-run time limit")) == gradebook.NOT_CHECKED
    assert status(check("a", False, "not built: service.py does not import (see the service.py checks)")
                  ) == gradebook.NOT_CHECKED
    assert status(check("a", False, "cannot be checked: service.py does not import (see the import check).")
                  ) == gradebook.NOT_CHECKED
    assert status(check("a", False, "- wrong status for 0.3")) == gradebook.FAILED
    assert status(check("a", False, "no model named credit_risk_model in the store")) == gradebook.FAILED
    assert status(check("a", False, "not checked: x", score=1.0)) == gradebook.FAILED  # it scored


def test_pass_rates_count_every_check_and_pick_the_commonest_real_hint():
    records = [
        record("a", 8, [check("ready", True), check("sample", True)]),
        record("b", 0, [check("ready", False, "`bentoml serve` exited:\nImportError: sklearn"),
                        check("sample", False, "not checked: the service is not running")]),
        record("c", 0, [check("ready", False, "`bentoml serve` exited:\nImportError: sklearn"),
                        check("sample", False, "- 3 probes\nwrong answers")]),
        record("d", 0, [check("ready", False, "timeout"),
                        check("sample", False, "- 3 probes\nwrong answers")]),
        record("e", 0, [], error="the grader wrote no summary"),
    ]
    rows = {r["id"]: r for r in gradebook.pass_rates(records)}
    assert (rows["ready"]["passed"], rows["ready"]["failed"], rows["ready"]["not_checked"]) == (1, 3, 0)
    assert rows["ready"]["hint"] == "ImportError: sklearn" and rows["ready"]["pass_rate"] == 0.25
    assert (rows["sample"]["passed"], rows["sample"]["failed"], rows["sample"]["not_checked"]) == (1, 2, 1)
    assert rows["sample"]["hint"] == "wrong answers"
    table = "\n".join(gradebook.pass_rate_table(records))
    assert "| live endpoint: sample | 4 | 1 | 2 | 1 | 25% | wrong answers |" in table


SERVICE = (ROOT / "solutions" / "service.py").read_text()


def test_similarity_sees_through_renames_and_comments_and_scores_near_copies(tmp_path):
    renamed = re.sub(r"\bfeatures\b", "feats", SERVICE).replace("# In-place prediction", "# fast path")
    edited = SERVICE.replace("max_batch_size=64", "max_batch_size=32").replace(
        "        if not applications:", "        if len(applications) == 0:")
    own = (ROOT / "exercises" / "service.py").read_text()  # the starter, untouched: nothing written
    sources = {"ann": SERVICE, "bob": renamed, "cat": edited, "dan": own}
    records = []
    for name, text in sources.items():
        rec = record(name, 0, [])
        tag = "credit_risk_model:abc" if name in ("ann", "bob") else f"credit_risk_model:{name}"
        rec["models"] = [{"tag": tag, "sha256": "same" if name != "dan" else "other"}]
        store.write_atomic(store.learner_dir(tmp_path, rec["id"]) / "service.py", text)
        records.append(rec)
    report = similarity.compare(tmp_path, records, threshold=0.9)
    assert report.identical == [["ann", "bob"]]
    pairs = {(a, b): s for a, b, s in report.pairs}
    assert pairs[("ann", "cat")] >= 0.9 and pairs[("ann", "bob")] >= 0.9
    assert not [p for p in pairs if "dan" in p]  # the untouched starter resembles no finished work
    assert report.same_tag == [("credit_risk_model:abc", ["ann", "bob"])]
    assert report.same_model_files == [("same", ["ann", "bob", "cat"])]
    text = "\n".join(similarity.markdown(report))
    assert "| ann | cat |" in text and "- ann, bob" in text


def test_model_folder_names_that_are_no_tag_never_reach_the_summary(tmp_path):
    """A learner's store held folders named ``zz:q/<text>`` and ``zz/q:<text>``: both the tag zz:q:<text>,
    "shared" by that learner alone, and written raw into summary.md, its line breaks and terminal escapes
    included (red-team round 41). Only names BentoML accepts as a tag count, each learner once."""
    forged = "x`\n**Not graded to the end**: none\n<!-- \x1b[14A\x1b[J"
    home = tmp_path / "home"
    for folder in ("credit_risk_model/abc", "Credit_Risk_Model/ABC", f"zz:q/{forged}", f"zz/q:{forged}"):
        (home / "models" / folder).mkdir(parents=True)
        (home / "models" / folder / "model.yaml").write_text("name: x\n")
    tags = [m["tag"] for m in submissions.stored_models(home)]
    assert tags == ["credit_risk_model:abc", "credit_risk_model:abc"]  # as BentoML reads them
    mallory, alice = record("mallory", 100, []), record("alice", 100, [])
    mallory["models"] = [{"tag": t, "sha256": "same"} for t in tags]
    alice["models"] = [{"tag": f"zz:q:{forged}", "sha256": "other"}]  # stored before, or by hand
    report = similarity.compare(tmp_path / "out", [mallory, alice])
    assert report.same_tag == [] and report.same_model_files == []  # one learner shares nothing
    alice2 = {**record("alice2", 100, []), "models": alice["models"]}
    page = "\n".join(similarity.markdown(similarity.compare(tmp_path / "out", [alice, alice2])))
    assert "\x1b" not in page and not [ln for ln in page.splitlines() if ln.startswith(("**Not", "<!--"))]


def test_a_copy_cut_into_modules_it_imports_is_compared_whole(tmp_path):
    """A classmate's service.py cut in two at the class, its imports, models and rules moved to an
    impl.py that service.py imports: only service.py was compared, and the copy went unseen (red-team
    round 40). The code compared is service.py after the modules of its folder it imports."""
    cut = SERVICE.index("@bentoml.service")
    names = ", ".join(re.findall(r"^(?:class|def) (\w+)", SERVICE[:cut], re.MULTILINE))
    split = tmp_path / "split"
    split.mkdir()
    (split / "impl.py").write_text(SERVICE[:cut])
    (split / "service.py").write_text(f"import bentoml\nfrom impl import {names}\n\n\n{SERVICE[cut:]}")
    (split / "train.py").write_text("import impl\n")  # not imported by the service: not compared
    whole = tmp_path / "whole"
    whole.mkdir()
    (whole / "service.py").write_text(SERVICE)
    code = submissions.service_code(split)
    assert code.index("# ---- impl.py ----") < code.index("# ---- service.py ----") and "train.py" not in code
    assert submissions.service_code(whole) == SERVICE  # one module: service.py as it is
    records = []
    for name, folder in (("ann", whole), ("cut", split)):
        records.append(record(name, 0, []))
        store.write_atomic(store.learner_dir(tmp_path / "out", records[-1]["id"]) / "service.py",
                           submissions.service_code(folder))
    report = similarity.compare(tmp_path / "out", records, threshold=0.9)
    assert [p[:2] for p in report.pairs] == [("ann", "cut")], report


@pytest.mark.parametrize("loads", [
    "from parts.rules import {names}",  # a package's submodule
    "from parts import rules\n{names_from_rules}",  # a submodule imported by name from its package
    "import importlib\nrules = importlib.import_module('parts.rules')\n{names_from_rules}",
    "exec(open('parts/rules.py').read())",  # loaded by path
])
def test_a_copy_cut_into_a_package_or_loaded_by_name_is_compared_whole(loads, tmp_path):
    """The half moved out of service.py is found however service.py loads it: from a package's submodule,
    through importlib, or by its path (a module named `impl` only was followed before)."""
    cut = SERVICE.index("@bentoml.service")
    defined = re.findall(r"^(?:class|def) (\w+)", SERVICE[:cut], re.MULTILINE)
    split = tmp_path / "split"
    (split / "parts").mkdir(parents=True)
    (split / "parts" / "__init__.py").write_text("")
    (split / "parts" / "rules.py").write_text(SERVICE[:cut])
    header = loads.format(names=", ".join(defined),
                          names_from_rules="".join(f"{n} = rules.{n}\n" for n in defined))
    (split / "service.py").write_text(f"import bentoml\n{header}\n\n\n{SERVICE[cut:]}")
    code = submissions.service_code(split)
    assert code.index("# ---- parts/rules.py ----") < code.index("# ---- service.py ----"), code[:300]


def test_similarity_is_bounded_in_time_on_repeated_tokens(tmp_path):
    """Two files of 2000 repeated lines kept difflib's exact score busy for 231 s (its cost grows with
    the cube of the repetition), and the summary is rebuilt at the end of every class run. Each
    learner's tokens are capped, and once the budget is spent the pairs left get an upper bound."""
    records = []
    for name, line in (("ann", "y = y"), ("bob", "w = w"), ("cat", "y = y")):
        rec = record(name, 0, [])
        store.write_atomic(store.learner_dir(tmp_path, rec["id"]) / "service.py", "\n".join([line] * 2000))
        records.append(rec)
    report = similarity.compare(tmp_path, records, threshold=0.9, budget=0)
    assert report.estimated == 3
    assert [p[:2] for p in report.pairs] == [("ann", "cat")]  # the bound keeps real copies above
    assert "scored by an upper bound" in "\n".join(similarity.markdown(report))
    assert similarity.as_json(report)["estimated_pairs"] == 3


def test_similarity_reads_a_padded_service_py_only_up_to_its_cap(tmp_path, monkeypatch):
    """A service.py padded with a string constant of 30 MB took two minutes of pure-Python tokenizing at
    every class run's end (red-team round 38). Only the first MAX_SOURCE characters are tokenized; past
    the cap, a file is identical only to the same code."""
    seen = []
    tokens = similarity.own_tokens
    monkeypatch.setattr(similarity, "own_tokens",
                        lambda text, base: seen.append(len(text)) or tokens(text, base))
    pad = '\n_PAD = """' + "a\n" * similarity.MAX_SOURCE + '"""\n'
    records = []
    for name, text in (("ann", SERVICE + pad), ("bob", SERVICE + pad), ("cat", SERVICE + pad + "x = 1\n"),
                       ("dan", SERVICE)):
        rec = record(name, 0, [])
        store.write_atomic(store.learner_dir(tmp_path, rec["id"]) / "service.py", text)
        records.append(rec)
    report = similarity.compare(tmp_path, records, threshold=0.9)
    assert max(seen) == similarity.MAX_SOURCE and len(seen) == 4
    assert report.identical == [["ann", "bob"]]  # the same code; cat's differs past the cap
    assert ("ann", "cat", 1.0) in report.pairs  # their tokens, up to the cap, are the same


def test_code_put_before_a_copy_neither_hides_it_nor_goes_unlisted(tmp_path, monkeypatch):
    """100 KB of comments before a verbatim copy took it past the characters compared (only comments
    were left, and no pair scored); 700 lines of junk code, under that cap, past the tokens compared
    (red-team round 39). Comment lines are dropped before the cap, and a file longer than what is
    compared, or than what is read, is listed by name."""
    monkeypatch.setattr(similarity, "MAX_READ", 200_000)
    junk = "_n = 1\n" * 700
    sources = {"ann": SERVICE, "bob": "# my own notes\n" * 7000 + SERVICE, "cat": junk + SERVICE,
               "dan": "#\n" * 100_001 + SERVICE}
    records = []
    for name, text in sources.items():
        rec = record(name, 0, [])
        store.write_atomic(store.learner_dir(tmp_path, rec["id"]) / "service.py", text)
        records.append(rec)
    report = similarity.compare(tmp_path, records, threshold=0.9)
    assert report.identical == [["ann", "bob"]] and ("ann", "bob", 1.0) in report.pairs
    assert [name for name, _, _ in report.in_part] == ["cat", "dan"]
    assert report.in_part[0][2] > similarity.MAX_TOKENS and report.in_part[1][1] > similarity.MAX_READ
    text = "\n".join(similarity.markdown(report))
    assert "**Compared in part only**" in text and "- cat: " in text and "- dan: " in text
    assert [e["learner"] for e in similarity.as_json(report)["compared_in_part"]] == ["cat", "dan"]


def test_learner_ids_are_unique_and_stable():
    assert submissions.learner_id("Jo Smith") != submissions.learner_id("Jo_Smith")
    assert submissions.learner_id("Jo Smith") == submissions.learner_id("Jo Smith")
    assert re.fullmatch(r"Jo_Smith-[0-9a-f]{16}", submissions.learner_id("Jo Smith"))
    assert re.fullmatch(r"learner-[0-9a-f]{16}", submissions.learner_id("../../"))


def test_a_csv_naming_a_learner_twice_is_an_error(tmp_path):
    listing = tmp_path / "class.csv"
    listing.write_text("learner,source\nann,a\nann,b\nbob,c\n")
    with pytest.raises(submissions.SubmissionError, match="more than once: ann"):
        submissions.from_csv(listing)


def test_late_policy_marks_and_penalises():
    due = datetime(2026, 3, 1, 23, 59, tzinfo=UTC)
    assert classrun.LatePolicy().assess("2026-03-05T00:00:00+00:00") == {}
    mark = classrun.LatePolicy(due)
    assert mark.assess("2026-03-01T22:00:00+00:00")["label"] == "on time"
    late = mark.assess("2026-03-02T01:00:00+01:00")  # 01:00 in UTC+1 is one minute late
    assert late["late"] and late["label"] == "1 min after the deadline" and late["penalty_percent"] == 0
    fined = classrun.LatePolicy(due, penalty_per_day=10).assess("2026-03-03T12:00:00-07:00")
    assert fined["penalty_percent"] == 20  # 1 d 19 h 1 min late: two started days
    assert "unknown" in mark.assess("")["label"]


def test_the_class_keeps_its_late_policy_and_says_when_it_changes(tmp_path):
    said: list[str] = []
    first, extended = datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 5, tzinfo=UTC)
    assert classrun.class_policy(tmp_path, first, 10, said.append) == classrun.LatePolicy(first, 10)
    assert said == []  # the first policy is the class's without a word
    # Regrading one learner without the flags: the class's policy, not "no deadline".
    assert classrun.class_policy(tmp_path, None, None, said.append) == classrun.LatePolicy(first, 10)
    assert said.pop() == ("The class's late policy, kept from an earlier run: deadline "
                          "2026-03-02T00:00:00+00:00, 10% per started day late.")
    # An extension: the new deadline, the penalty kept, and the change said.
    assert classrun.class_policy(tmp_path, extended, None, said.append) == classrun.LatePolicy(extended, 10)
    assert "changed: deadline 2026-03-05T00:00:00+00:00" in said.pop()
    record = {"id": "ann", "score": 22.0, "total": 17.6, "submitted_at": "2026-03-03T12:00:00+00:00"}
    assert classrun.LatePolicy(first, 10).apply(record)["total"] == 17.6  # two started days: 20%
    on_time = classrun.LatePolicy(extended, 10).apply(record)
    assert on_time["total"] == 22.0 and on_time["late"]["label"] == "on time"


def test_results_stored_before_the_class_kept_its_policy_keep_their_lateness(tmp_path):
    late = classrun.LatePolicy(datetime(2026, 3, 2, tzinfo=UTC), 10)
    store.save_record(tmp_path, late.apply({"id": "ann", "score": 22.0,
                                            "submitted_at": "2026-03-03T12:00:00"}))
    said: list[str] = []
    assert classrun.class_policy(tmp_path, None, None, said.append) is None
    assert "keeps the lateness it was graded with" in said[0] and store.read_settings(tmp_path) == {}
    assert classrun.class_policy(tmp_path, late.deadline, 10, said.append) == late  # given once: kept


def stored_learner(tmp_path: Path, name: str, submitted_at: str, score: float,
                   policy: classrun.LatePolicy) -> submissions.Submission:
    """A learner folder whose grading (``score``, under ``policy``) is stored in ``tmp_path/out``, as a
    class run leaves it: a re-run finds it unchanged and keeps it without grading."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "service.py").write_text(f"# {name}'s\n")
    sub = submissions.Submission(name, str(folder), submitted_at)
    fetched = runner.fetch_or_outcome(sub, tmp_path / "work" / sub.learner_id)
    outcome = runner.Outcome(name, sub.learner_id, graded_at="t", digest=fetched.digest, score=score,
                             max_score=100.0, submitted_at=submitted_at)
    classrun.save_outcome(tmp_path / "out", outcome, sub, policy)
    return sub


def test_an_extension_rescores_the_kept_results_without_grading_again(tmp_path):
    """A re-run with a later deadline (and no other change) must not publish the old penalties."""
    out, work = tmp_path / "out", tmp_path / "work"
    first = classrun.LatePolicy(datetime(2026, 3, 2, tzinfo=UTC), 10)
    sub = stored_learner(tmp_path, "ann", "2026-03-03T12:00:00+00:00", 22.0, first)
    store.write_settings(out, first.settings())
    assert store.load(out)[sub.learner_id]["total"] == 17.6

    done = classrun.run_class([sub], out, work, deadline=datetime(2026, 3, 5, tzinfo=UTC), say=lambda _: None)
    assert done.kept == [sub.learner_id] and done.graded == []  # kept: its submission did not change
    kept = store.load(out)[sub.learner_id]
    assert kept["total"] == 22.0 and kept["late"]["label"] == "on time"
    row = (out / "gradebook.csv").read_text().splitlines()[1].split(",")
    assert row[:3] == ["ann", sub.learner_id, "22.0"]


def test_a_class_run_refuses_to_start_on_a_disk_already_short(tmp_path, monkeypatch):
    """Every grading that runs while a file system it writes is short is graded again, alone: on a disk
    short before the run, each would be graded twice and kept as the full disk left it."""
    learners = tmp_path / "class"
    (learners / "ann").mkdir(parents=True)
    (learners / "ann" / "service.py").write_text("x = 1\n")
    free = os.statvfs(tmp_path)
    monkeypatch.setattr(runner, "MIN_FREE_BYTES", free.f_bavail * free.f_frsize + (1 << 40))
    with pytest.raises(RuntimeError, match="MiB free on the file system of .*no one was graded"):
        classrun.run_class(submissions.from_folder(learners), tmp_path / "out", tmp_path / "work",
                           say=lambda _: None)
    assert not list((tmp_path / "out").glob("learners/*/record.json"))


@pytest.mark.skipif(os.geteuid() != 0, reason="as root only: another user's folders are refused")
def test_a_results_folder_another_user_could_write_is_refused_as_root(tmp_path):
    """A learner made ``--out /tmp/results`` first: root truncated a file of root's through their
    ``.lock`` link, and they wrote themselves a record of 100, kept as unchanged by later runs (red-team
    round 43). As root, the results folder and those above it are root's, written by root alone."""
    learners = tmp_path / "class"
    (learners / "ann").mkdir(parents=True)
    (learners / "ann" / "service.py").write_text("x = 1\n")
    nobody = 65534
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    os.chown(theirs, nobody, nobody)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # writable by anyone, not sticky: anyone can move root's folder away
    for out in (theirs, theirs / "out", shared / "out"):
        with pytest.raises(RuntimeError, match="must be a folder of root's that no other user can write to"):
            classrun.run_class(submissions.from_folder(learners), out, tmp_path / "work", say=lambda _: None)
        assert not (out / ".lock").exists() and not (out / "learners").exists()
    sticky = tmp_path / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)  # as /tmp: others cannot move what is root's in it
    store.refuse_others_folder(sticky / "out")


def test_the_file_systems_watched_are_those_a_grading_writes_on_disk(tmp_path):
    """Its work folder, the sandboxes' rooms, /tmp and /var/tmp; not /dev/shm, which is memory."""
    watched = runner.written_by_grading(tmp_path)
    assert {tmp_path, procs.ROOMS, Path("/tmp"), Path("/var/tmp")} <= set(watched)
    assert Path("/dev/shm") not in watched


def test_a_deadline_that_makes_every_learner_late_is_questioned(tmp_path):
    """A year typed wrong (2025 for 2026) with a penalty zeroes the class: the run and summary.md say so."""
    out, work = tmp_path / "out", tmp_path / "work"
    subs = [stored_learner(tmp_path, name, when, 90.0, classrun.LatePolicy())
            for name, when in (("ann", "2026-03-01T10:00:00+00:00"), ("bob", "2026-03-02T09:00:00+00:00"))]

    typo = classrun.run_class(subs, out, work, deadline=datetime(2025, 3, 2, tzinfo=UTC), late_penalty=10,
                              say=lambda _: None)
    assert [r["total"] for r in store.load(out).values()] == [0.0, 0.0]
    assert typo.warning == ("Every one of the 2 learners with a submission time is late, the earliest by "
                            "364 d 10 h: check the deadline (2025-03-02T00:00:00+00:00) before publishing "
                            "the scores.")
    assert f"**Check the deadline.** {typo.warning}" in (out / "summary.md").read_text()
    fixed = classrun.run_class(subs, out, work, deadline=datetime(2026, 3, 2, tzinfo=UTC), say=lambda _: None)
    assert fixed.warning == "" and "Check the deadline" not in (out / "summary.md").read_text()
    # One learner late, or one learner at all, is no sign of a typo; nor is a time the grader cannot know.
    late = {"submitted_at": "t", "late": {"due": "d", "late": True, "seconds": 9e7}}
    on_time = {"submitted_at": "t", "late": {"due": "d", "late": False, "seconds": 0.0}}
    unknown = {"submitted_at": "", "late": {"due": "d", "late": False, "seconds": 0.0}}
    assert classrun.deadline_warning([late, late]) and not classrun.deadline_warning([late, on_time])
    assert not classrun.deadline_warning([late]) and not classrun.deadline_warning([late, unknown])


def test_the_scrubber_removes_machine_paths(tmp_path):
    work = tmp_path / "cohort-work-x" / "learner-1"
    sub = work / "submission"
    clean = scrub.Scrubber.for_grading(work, sub)
    text = (f"Graded {sub}\nFile \"{sys.prefix}/lib/python3.11/site-packages/bentoml/x.py\", line 3\n"
            f"Reports: {work}/results-1/results.json\nsee {ROOT}/grader/hints.py\n"
            f"/tmp/gradescope-abc/x/submission/service.py and /readyz and /classify")
    out = clean(text)
    assert scrub.leaks(out, [tmp_path, ROOT]) == []
    assert "Graded <submission>" in out and "<work>/results-1/results.json" in out
    assert "/readyz and /classify" in out  # URL paths are not machine paths


def test_a_name_that_is_a_formula_stays_text_in_the_gradebook():
    """A learner named like a spreadsheet formula (from a class list or a folder name) is shown, not run."""
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(gradebook.gradebook_csv([
        record('=HYPERLINK("http://example.com/x","see")', 40, [check("live_sample", False)]),
        record("@SUM(A1)", 40, [check("live_sample", False)]),
        record("Jo Smith", 80, [check("live_sample", True)], error="-"),
    ]))))
    assert [r["learner"] for r in rows] == ["'=HYPERLINK(\"http://example.com/x\",\"see\")", "'@SUM(A1)",
                                            "Jo Smith"]
    assert rows[2]["error"] == "'-" and rows[2]["total"] == "80"  # numbers stay numbers


def drawn(line: str) -> list[str]:
    """What a line of Markdown draws that learner text must not (HTML but the kit's line breaks, links,
    images, emphasis), as CommonMark reads it: markdown-it-py, which comes with rich (BentoML's)."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").parseInline(line)[0].children or []
    kinds = {"html_inline", "link_open", "image", "em_open", "strong_open"}
    return [t.type for t in tokens if t.type in kinds and t.content != "<br>"]


#: Learner text that would draw HTML, links or emphasis: each unclosed run of backticks once hid what
#: followed it from the escaping, as if it were code (red-team round 41).
DRAWING = ["```[Score 100 / 100](https://example.com/f) <img src=https://example.com/b.png> **passed**`",
           "`` ` `` <a href=x>y</a> ` _z_ ``` [w](v)", "\\`<b>b</b>` \\\\[x](y)", "``x` *a* `y``` <i>i</i>"]


@pytest.mark.parametrize("text", DRAWING)
def test_backticks_never_hide_markdown_from_the_escaping(text):
    from grader.report import markdown_cell, markdown_inline

    assert drawn(text)  # as written, it draws
    for made in (markdown_cell(text), markdown_inline(text), f"| {markdown_cell(text)} | x |"):
        assert drawn(made) == [], made


def test_a_hint_shows_no_link_image_or_html_of_the_learners_choosing():
    """A learner who alone fails a check makes its commonest hint: their error text, in the instructor's
    summary and in their own feedback and Classroom summary. It is text: no image fetched, no link or
    HTML drawn, the table's cell not ended; code spans stay code."""
    from grader.cohort import platforms

    forged = "see ![100/100](http://example.com/p.png) <img src=x> [here](http://x) `a | [b]` | x\nnext"
    records = [record("Mallory", 40, [check("live_sample", False, forged)]),
               record("Alice", 100, [check("live_sample", True)])]
    pages = ["\n".join(gradebook.pass_rate_table(records)), gradebook.feedback_markdown(records[0], 100),
             platforms.classroom_step_summary(records[0], 100)]
    for page in pages:
        row = next(line for line in page.splitlines() if "example.com" in line)
        assert "![" not in row and "](" not in row.replace("\\](", "") and "<img" not in row, row
        assert r"!\[100/100\](http://example.com/p.png) &lt;img src=x>" in row, row
        assert r"\[here\](http://x) `a \| [b]` \| x" in row, row  # the code span as written
        assert drawn(row) == [], row
    # On Gradescope a check's output is plain text, shown as written: its Markdown (a heading saying
    # "counted as passed", an image fetched from the learner's server) was drawn (red-team round 34).
    test = platforms.gradescope_from_record(records[0], 100)["tests"][0]
    assert test["output_format"] == "text" and test["output"] == forged


def test_learner_text_stays_on_its_line_in_every_markdown_page(tmp_path):
    """A file name with newlines, quoted in a learner's error, wrote a heading of its choosing into the
    instructor's summary (a fake similarity finding against classmates); a log holding a fence ended
    the feedback's code block. Names, errors and notes stay on their line; a log stays in its block."""
    from grader.cohort import platforms

    forged = "x\n\n## Similarity: confirmed copying\n\n**alice and zoe copied**\n\n## "
    mallory = record(f"mallory\n# {forged}", 0, [], error=f"the submission holds {forged} (600 MB)")
    mallory["notes"] = [f"{forged} is a link: left out"]
    mallory["log"] = "Traceback\n```\n# Fake heading after the block\n````"
    alice = record("alice", 100, [check("live_sample", True)])
    sim = similarity.compare(tmp_path, [mallory, alice], threshold=0.9)
    sim.identical = [[mallory["learner"], "alice"]]
    pages = [gradebook.summary_markdown([mallory, alice], {"graded": 2, "kept": 0, "seconds": 1.0,
                                                          "peak_rss_mb": 1.0}, sim),
             gradebook.feedback_markdown(mallory, 100), platforms.classroom_step_summary(mallory, 100),
             platforms.gradescope_from_record(mallory, 100)["output"]]
    for page in pages:
        lines = page.splitlines()
        assert not [line for line in lines if line.startswith("## Similarity: confirmed")], page
        assert not [line for line in lines if line.startswith("**alice and zoe")], page
        assert "**alice" not in page and r"\*\*alice and zoe copied\*\*" in page, page  # no bold either
        if "Fake heading" in page:  # the log: inside a fence longer than any in it
            opened = lines.index("`````text")
            closed = lines.index("`````", opened)
            assert opened < lines.index("# Fake heading after the block") < closed, page
