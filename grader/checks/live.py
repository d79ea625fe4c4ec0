"""The live endpoint: readiness, answers checked against the learner's own model, validation, load."""

from __future__ import annotations

import json
import math
import secrets
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from bentokit import bounded_http, contract
from grader import hints
from grader.children import Child
from grader.declare import IMPORT, LIVE, MODEL, Checks
from grader.facts import probes
from grader.facts.run import Run

graded = Checks(group="live endpoint", exercise="service", needs=(LIVE, IMPORT, MODEL))

#: Probabilities may be rounded to 2 decimals by the service; anything further off is a wrong answer.
TOLERANCE = probes.TOLERANCE
TIMEOUT = 10
CONCURRENT = 20
#: The largest answer read (a batch of the grader's applicants takes a few KB).
MAX_ANSWER = 1 << 20
#: Statuses of a service that says it is too busy to answer (BentoML's 503 "process is overloaded" when
#: its batching queue or ``max_concurrency`` is full, 504 when a request's time is up, 429): counted as a
#: time limit passed, since another learner's code may have sent the load. A classmate's daemon flooding
#: every other user's server had an honest learner's batch check fail on 503s, and the class run kept it
#: (red-team round 39, 100 -> 96).
BUSY = frozenset({429, 503, 504})


@dataclass
class Answer:
    """One HTTP answer: status code, parsed JSON (or None) and the raw text."""

    code: int
    body: Any
    text: str

    @classmethod
    def post(cls, url: str, payload: Any, session: requests.Session | None = None) -> Answer:
        """POST ``payload`` as JSON (on ``session``'s connections when given); an answer larger than
        MAX_ANSWER or slower than TIMEOUT in all is none, and a body nested past what Python's parser
        takes is no JSON (it raised RecursionError, which ended the check as the grader's own error). No
        answer in time, or a :data:`BUSY` one, counts as a time limit passed (``Child.count_over_time``:
        a class run grades the learner again, alone)."""
        try:
            response, data = bounded_http.request("POST", url, json=payload, timeout=TIMEOUT,
                                                  max_bytes=MAX_ANSWER, session=session)
        except bounded_http.LargeAnswer:
            return cls(0, None, f"no answer: over {MAX_ANSWER >> 20} MiB")
        except requests.Timeout as err:  # a read that waited TIMEOUT, or the whole answer past it
            Child.count_over_time()
            slow = isinstance(err, bounded_http.SlowAnswer)
            return cls(0, None, f"no answer: still coming after {TIMEOUT} s" if slow
                       else f"no answer: {type(err).__name__}")
        except requests.RequestException as err:
            return cls(0, None, f"no answer: {type(err).__name__}")
        if response.status_code in BUSY:
            Child.count_over_time()
        try:
            body = json.loads(data)
        except (ValueError, RecursionError):
            body = None
        return cls(response.status_code, body, data[:1200].decode("utf-8", errors="replace")[:300])

    @property
    def probability(self) -> float | None:
        """The answer's probability: a number from 0 to 1 (``NaN``, which JSON parsers take, compares
        false with everything, and was never "further off than the tolerance": 97/100 for a service
        answering NaN to everyone)."""
        value = self.body.get("probability") if isinstance(self.body, dict) else None
        if not isinstance(value, int | float) or isinstance(value, bool):
            return None
        return float(value) if 0.0 <= value <= 1.0 else None

    @property
    def status(self) -> str | None:
        return self.body.get("status") if isinstance(self.body, dict) else None


def need_live(run: Run, check) -> str:
    if not run.live.url:
        check.fail("not checked: the service is not running (see the first live check).")
    problem = run.serving_problem()
    if problem:
        check.fail(problem)
    return run.live.url


def need_moved(run: Run, check) -> None:
    """Fail as not checked when the grader serves the service but could not move the model it asks for:
    its answers as saved are then what a copy of the model, or a rule, gives too (red-team round 33: one
    tree giving NaN where no applicant reaches made the mover refuse the model, and a service predicting
    with a copy of it kept the sample and golden points)."""
    if why := run.served_refusal:
        check.fail(f"not checked: the grader serves your service with a copy of your model whose margin "
                   f"it moves, so that only answers computed with the model in the store are right, and it "
                   f"could not move yours: {why}. Save the model the course trains (an XGBoost "
                   f"binary:logistic model, with bentoml.xgboost.save_model: 02_train_and_save.ipynb).")


def need_expected(run: Run, check) -> None:
    """Fail as not checked when the learner's own model gave no expected answers, and fail when its
    answers do not tell the applicants apart (:func:`alike_answers`)."""
    if run.expected(0) is None:
        why = (run.model_facts.get("predict_error") or run.model_facts.get("error")
               or "no model to read").strip()
        check.fail(f"not checked: your saved model could not predict, so the right answers are unknown "
                   f"({why.splitlines()[0]}); see the model store checks.")
    if why := alike_answers(run):
        check.fail(why)


#: The least slope p(1 - p) of a known applicant's moved answer that shows the move: a guess of the move
#: must be within the tolerance over it (0.26 here; a constant of 0.9926 passed answers of 0.978 moved
#: by 0.63 to 2, slope 0.007: red-team round 32). The course model's sample keeps 0.036 or more.
KNOWN_SLOPE = 0.02


def need_telling(run: Run, check, names: list[str]) -> None:
    """Fail as not checked when the saved model's answers to all of these known applicants are so near 0
    or 1 that the served copy's move hardly changes them (:meth:`Run.sensitive` at KNOWN_SLOPE): a rule
    written into the service gives them whatever the move (red-team round 31: a model at -30 on exactly
    the public applicants got the sample and golden points without the service predicting)."""
    indexes = [list(run.known).index(name) for name in names]
    if run.served_move and not any(run.sensitive(run.saved(i), KNOWN_SLOPE) for i in indexes):
        answers = ", ".join(f"{run.saved(i):.4f}" for i in indexes)
        check.fail(f"not checked: your saved model gives {answers} here, so near 0 or 1 that the copy the "
                   f"grader served, its margin {run.served_move}, gives nearly the same: "
                   f"these answers cannot show that the service uses the model. Save the model the course "
                   f"trains (02_train_and_save.ipynb).")


#: The least spread of the learner's model's answers over the grader's hidden applicants (its 10th to
#: 90th percentile) for answers within TOLERANCE of them to show that a service uses the model. The
#: course model's spread there is 0.87 or more (40 draws of the applicants).
MIN_SPREAD = 0.1
#: The fewest distinct answers (in steps of twice the TOLERANCE) the learner's model gives the grader's
#: hidden applicants for answers within TOLERANCE of them to show that a service uses the model. The
#: course model gives 64 or more (40 draws); a rule of a few values, written into a service, gives a few.
MIN_LEVELS = 20
#: The fewest hidden applicants whose answers show the served copy's move (Run.tells), among which the
#: hidden probes are drawn. The course model gives 106 or more of 160, one trained for 10000 rounds (the
#: homework's slower model, its answers nearer 0 or 1) 27 or more (60 draws of the applicants, 18 moves
#: each, the ranges' corners among them; a move keeps the answers near its fixed point, margin
#: shift / (1 - scale), as they are).
MIN_TOLD = 20
#: How well the two hidden applicants that pin the served copy's move down best must do it
#: (:attr:`Run.probe_pair`: their margins' distance times the slopes of their moved answers; both are
#: probes). A service guessing the move then passes at most about 0.9 % of gradings (the forger's best on
#: a grid of guesses and of two-margin models, against the moves the grader draws). The course model's
#: best pair gives 0.057 or more (40 draws), the 10000-round model's 0.048 or more, a model learning
#: from shuffled labels (AUC 0.5) 0.0053 or more, under the floor in 3 of 2100 (150 draws of the
#: applicants, 14 moves each, the ranges' corners among them). A shift alone was guessed in 2.6 %.
MIN_PAIR_STRENGTH = 0.008


def alike_answers(run: Run) -> str:
    """Why answers close to the learner's model prove nothing: it gives most applicants nearly the same
    probability, or only a few probabilities. A model with its leaves squashed (AUC 0.83, every answer
    0.37 +- 0.004) let a service answering 0.37 to everyone pass every answer check; with one more tree
    setting the public sample applicant apart it passed a spread taken over the public applicants (so
    the applicants drawn at grading time are taken); with one more tree on one field (records) instead, a
    service answering `0.12 if records == "no" else 0.70` passed every check, 100/100, never loading it.
    At least MIN_TOLD answers must show the served copy's move, the hidden probes being drawn among them
    (:meth:`Run.probe_ready`: one near 0 or 1 hardly moves), and two of them, always probes, must pin the
    move down (:attr:`Run.probe_pair`, MIN_PAIR_STRENGTH: answers of one margin let one guessed number
    pass them all; a two-faced model informative only where its other face was saturated let a constant
    answer pass every probe in 8 gradings of 22, red-team round 32). A model that gives no probability
    (NaN, infinity) for a hidden applicant proves nothing either (red-team round 29: a model at +-8 by
    records with leaves of +-1e39 giving NaN to a few applicants, which turned this off)."""
    # The answers the service is held to (Run.follow: an early-stopped model's up to its best iteration,
    # when the service's follow those): every tree's told applicants apart while the service was held to
    # a first tree of +-12, which no move changes, and no hidden probe was left (red-team round 30).
    hidden = [run.saved(i) for i in range(len(run.known), len(run.model_facts.get("predictions") or []))]
    if not hidden:  # no model: the other checks say why
        return ""
    fix = ("Save the model the course trains (02_train_and_save.ipynb), whose probabilities tell applicants "
           "apart.")
    if missing := sum(1 for p in hidden if not isinstance(p, int | float) or not math.isfinite(p)):
        return (f"your saved model gives no probability (NaN or infinity) for {missing} of the grader's "
                f"{len(hidden)} hidden applicants: a service cannot be held to such answers. {fix}")
    levels = len({math.floor(p / (2 * TOLERANCE)) for p in hidden})
    deciles = statistics.quantiles(hidden, n=10) if len(hidden) >= 2 else [0.0, 0.0]
    low, high = deciles[0], deciles[-1]
    # Counted among the applicants that may be probes (both ways an early-stopped model answers).
    indexes = range(len(run.known), len(run.known) + len(hidden))
    told = sum(1 for i in indexes if run.probe_ready(i))
    strength = run.probe_pair[0] if run.served_move else MIN_PAIR_STRENGTH  # nothing moved: no guess
    if (high - low >= MIN_SPREAD and levels >= MIN_LEVELS and told >= MIN_TOLD
            and strength >= MIN_PAIR_STRENGTH):
        return ""
    if high - low < MIN_SPREAD:
        what = f"eight in ten of the grader's hidden applicants get {low:.3f} to {high:.3f}"
    elif levels < MIN_LEVELS:
        what = (f"its answers to the grader's {len(hidden)} hidden applicants take only {levels} values, "
                f"in steps of {2 * TOLERANCE:.2f}")
    elif told < MIN_TOLD:
        what = (f"{len(hidden) - told} of the grader's {len(hidden)} hidden applicants get answers so near 0 "
                f"or 1 that the copy the grader served, its margin {run.served_move}, gives "
                f"them nearly the same")
    else:
        what = (f"the answers of the copy the grader served, its margin {run.served_move}, to the grader's "
                f"{len(hidden)} hidden applicants lie so near 0 or 1, or so close together, that one guess "
                f"of the move would answer them all (no two of them pin it down: {strength:.4f}, under "
                f"{MIN_PAIR_STRENGTH})")
    return (f"your saved model hardly tells applicants apart ({what}): answers computed from it cannot be "
            f"told from a rule of a few values written into the service. {fix}")


def expects_flat_body(answer: Answer) -> bool:
    """A 400 listing the applicant's own fields as missing at the top level: the service takes a flat body."""
    detail = answer.body.get("detail") if isinstance(answer.body, dict) else None
    items = detail if isinstance(detail, list) else []
    locs = [tuple(d.get("loc") or ()) for d in items if isinstance(d, dict)]
    return any(len(loc) == 1 and loc[0] in contract.FIELD_TYPES for loc in locs)


def problem(answer: Answer, expected: float | None, run: Run, saved: float | None = None) -> str:
    """Why ``answer`` is not the decision for ``expected``, or ``''``; ``saved``: what the learner's model
    gives as saved, when the grader serves a copy of it moved (:attr:`Run.served_move`)."""
    if answer.code != 200:
        extra = ""
        if answer.code == 400 and expects_flat_body(answer):
            extra = " The service expects a flat body: " + hints.WRAPPED
        elif answer.code == 404 and "is not found in BentoML store" in answer.text and run.served.moving:
            served = ", ".join(run.served.moves) or "none"
            extra = (f" The grader serves your service only the model folder its model reference's tag "
                     f"({run.source.model_tag}) resolves to in your store ({served}): predict with the model "
                     f"that reference loads.")
        elif answer.code >= 500:
            fixes = hints.diagnose(run.server_log(60))
            extra = (" The service crashed on a valid request." + "".join(f" Likely fix: {f}" for f in fixes)
                     + ("" if fixes else " Look at the server log for the traceback."))
        return f"HTTP {answer.code}: {answer.text[:200]}.{extra}"
    if answer.probability is None or answer.status not in contract.STATUSES:
        if (answer.status not in contract.STATUSES and isinstance(answer.status, str)
                and answer.status.upper() in contract.STATUSES):
            return (f"status {answer.status!r}: the contract's statuses are upper-case "
                    f"({', '.join(contract.STATUSES)}); return {answer.status.upper()!r}.")
        return (f"the answer {answer.text[:120]} is not {{\"probability\": float, \"status\": "
                f"{' | '.join(contract.STATUSES)}}} with a probability from 0 to 1.")
    if expected is not None and not abs(answer.probability - expected) <= TOLERANCE:
        given = f"probability {answer.probability:.4f}"
        moved = (f"the grader serves your service with a copy of your model whose margin it moves (this "
                 f"time {run.served_move}), so that only answers computed with the model the "
                 f"service loads from the store are right")
        # Before "one minus": a moved answer can fall on one minus the saved one, and a service answering
        # as saved was told it subtracted from 1 (one probe of 12 in a CI run).
        if saved is not None and saved != expected and abs(answer.probability - saved) <= TOLERANCE:
            return (f"{given}, but your saved model, as the grader served it, gives {expected:.4f}; "
                    f"{answer.probability:.4f} is what it gives as saved: {moved}. Predict with that model "
                    f"for every request, not with a copy of it or a rule written into the service.")
        if abs(answer.probability - (1 - expected)) <= TOLERANCE:
            # No expected value in the text: the hidden probes' note quotes it.
            return (f"probability {answer.probability:.4f} is one minus what your saved model gives, the "
                    f"probability of NOT defaulting: the contract's probability is P(default), which the "
                    f"model predicts as is (the booster's prediction, or predict_proba(...)[:, 1]); do not "
                    f"subtract it from 1.")
        fix = "use the model and DictVectorizer from the store for every request (no hard-coded answers)."
        if saved is None or saved == expected:
            return f"{given}, but your saved model gives {expected:.4f}: {fix}"
        return (f"{given}, but your saved model gives {saved:.4f}, and {expected:.4f} as the grader served "
                f"it ({moved}): {fix}")
    return ""


#: Seconds the hidden applicants may take in all (each request has TIMEOUT too): those left unsent after
#: them get no answer.
CANDIDATES_TIMEOUT = 60.0


def ask_candidates(run: Run, url: str) -> dict[int, Answer]:
    """The service's answer to every hidden applicant (candidate), asked in a random order: the probes
    are chosen among them afterwards, by the moved answers, so the requests a service sees say nothing
    of the move. Sending only the probes, in their order, gave it away: the first four are the closest
    to each side of each threshold, and a service knowing its model read the scale and the shift from
    them (red-team round 33: the hidden probes passed in 6 gradings of 23, never loading the model)."""
    order = list(range(len(run.candidates)))
    secrets.SystemRandom().shuffle(order)
    deadline = time.monotonic() + CANDIDATES_TIMEOUT
    found = {}
    with requests.Session() as session:  # one connection kept: a quarter less CPU for 160 requests
        for i in order:
            found[i] = (Answer.post(url, contract.wrap(run.candidates[i]), session)
                        if time.monotonic() < deadline else
                        Answer(0, None, f"not sent: the grader's {len(order)} hidden applicants took over "
                                        f"{CANDIDATES_TIMEOUT:.0f} s"))
    if time.monotonic() >= deadline:  # as slow as requests without an answer: a class run grades again
        Child.count_over_time()
    return found


@pytest.fixture(scope="module")
def answers(run: Run) -> dict[str, Any]:
    """The service's answers to the sample, the golden applicants and the hidden probes (once); every
    hidden applicant is asked (:func:`ask_candidates`), the probes among them checked."""
    if not run.live.url:
        return {}
    url = run.live.url + contract.CLASSIFY_PATH
    known = {name: Answer.post(url, contract.wrap(a)) for name, a in run.known.items()}
    hidden = ask_candidates(run, url)
    given = [*enumerate(a.probability for a in known.values()),
             *((len(known) + i, a.probability) for i, a in hidden.items())]
    run.follow(given, TOLERANCE)  # which of an early-stopped model's answers the service gives
    return {"known": known, "hidden": hidden, "probes": [hidden[i] for i in run.probe_indexes]}


SAMPLE_TITLE = "sample applicant answered by your model"


def constant_answers(run: Run, answers: dict[str, Any]) -> str:
    """Why the service's answers cannot come from the model: the same probability for applicants the
    learner's own model tells apart (``''`` when that is not so)."""
    known = (answers or {}).get("known", {})
    given = [a.probability for a in known.values()]
    wanted = [expected_known(run, name) for name in known]
    if (not given or None in given or None in wanted or len({round(p, 6) for p in given}) > 1
            or max(wanted) - min(wanted) < MIN_SPREAD):  # too close to call it constant: the tolerance judges
        return ""
    return (f"every applicant gets the same probability, {given[0]:.4f}, while your saved model gives them "
            f"between {min(wanted):.2f} and {max(wanted):.2f}: compute each answer from the applicant, with "
            f"the model and its DictVectorizer (no hard-coded answers).")


def need_answering(run: Run, answers: dict[str, Any], check) -> None:
    """One root cause, one penalty: when every known applicant got the same error, or the same answer,
    the sample check names the cause and its fix, and the checks that build on working answers are
    not checked."""
    known = list((answers or {}).get("known", {}).values())
    if known and all(a.code != 200 for a in known) and len({a.code for a in known}) == 1:
        got = f"HTTP {known[0].code}" if known[0].code else "no answer"
        check.fail(f"not checked: every request to {contract.CLASSIFY_PATH} gets {got}; the cause and its "
                   f"fix are under \"{SAMPLE_TITLE}\".")
    if constant_answers(run, answers):
        check.fail(f"not checked: the service gives every applicant the same answer; the cause and its "
                   f"fix are under \"{SAMPLE_TITLE}\".")
    if alike_answers(run):
        check.fail(f"not checked: your saved model's answers cannot show that the service uses it; the cause "
                   f"and its fix are under \"{SAMPLE_TITLE}\".")


def expected_known(run: Run, name: str) -> float | None:
    return run.expected(list(run.known).index(name))


def expected_probe(run: Run, n: int) -> float | None:
    return run.expected(len(run.known) + run.probe_indexes[n])


def wrong_known(run: Run, answers: dict[str, Any], name: str) -> str:
    """Why the service's answer to the known applicant ``name`` is wrong (``''`` when it is right)."""
    return known_problem(run, answers["known"][name], name)


def known_problem(run: Run, answer: Answer, name: str) -> str:
    """Why ``answer`` to the known applicant ``name`` is wrong (``''`` when it is right)."""
    index = list(run.known).index(name)
    return problem(answer, run.expected(index), run, run.saved(index))


def wrong_probe(run: Run, answer: Answer, n: int) -> str:
    """Why the service's answer to the hidden probe ``n`` is wrong (``''`` when it is right)."""
    index = len(run.known) + run.probe_indexes[n]
    return problem(answer, run.expected(index), run, run.saved(index))


@graded(points=4)
def live_ready(run: Run, check) -> None:
    """service starts; /readyz within the time limit"""
    if not run.live.url:
        check.fail(run.live.error)
    after = f" after {run.live.ready_seconds:.1f} s" if run.live.ready_seconds else ""
    check.note(f"ready at {run.live.url}{after}")


@graded(points=2)
def live_infra(run: Run, check) -> None:
    """/livez, /readyz and /metrics answer"""
    url = need_live(run, check)
    for path in ("/livez", "/readyz", "/metrics"):
        try:
            response, body = bounded_http.request("GET", url + path, timeout=TIMEOUT)
            ok = response.status_code == 200 and (path != "/metrics" or b"bentoml_" in body)
            got = f"HTTP {response.status_code}"
        except requests.RequestException as err:
            ok, got = False, type(err).__name__
        check.part(path, ok, f"{path} gave {got}; BentoML serves it by default: serve the service with "
                             f"`bentoml serve` and do not disable it in the service config.")


@graded(points=3)
def live_sample(run: Run, check, answers) -> None:
    """sample applicant answered by your model"""
    need_live(run, check)
    need_expected(run, check)
    need_moved(run, check)
    need_telling(run, check, ["sample"])
    why = constant_answers(run, answers) or wrong_known(run, answers, "sample")
    check.part("sample applicant", not why, why)
    if run.served_move:
        check.note(f"the grader served your service a copy of your model with its margin "
                   f"{run.served_move} (drawn at each grading): the answers checked are that copy's")


@graded(points=4)
def live_golden(run: Run, check, answers) -> None:
    """golden applicants answered by your model"""
    need_live(run, check)
    need_answering(run, answers, check)
    need_expected(run, check)
    need_moved(run, check)
    need_telling(run, check, [name for name in contract.GOLDEN_APPLICANTS if name != "sample"])
    for name in contract.GOLDEN_APPLICANTS:
        if name == "sample":
            continue
        why = wrong_known(run, answers, name)
        # An answer the move hardly changes (near 0 or 1) is right as saved too: it earns nothing, else a
        # service predicting with a copy of the model kept a share (red-team round 33: 0.8 of 4).
        told = run.tells(run.saved(list(run.known).index(name)))
        check.part(name, not why, why, weight=1.0 if told else 0.0)


@graded(points=8, hidden=True)
def live_hidden_probes(run: Run, check, answers) -> None:
    """randomised probes answered by your model"""
    need_live(run, check)
    need_answering(run, answers, check)
    need_expected(run, check)
    need_moved(run, check)
    probs = answers["probes"]
    if len(probs) < probes.COUNT:  # alike_answers leaves enough, unless a bug: never pass on fewer
        check.fail(f"not checked: only {len(probs)} of the grader's hidden applicants get answers from your "
                   f"saved model that show the served copy's move (answers near 0 or 1 hardly move).")
    # All or nothing: a share of random probes would make the score vary between runs.
    wrong = [w for n, a in enumerate(probs) if (w := wrong_probe(run, a, n))]
    check.part(f"{len(probs)} probes", not wrong)
    if wrong:  # one reason, without the probe's inputs or the expected value
        # "As saved" only when every wrong answer is: a constant answer can fall on one saved answer.
        as_saved = [w for w in wrong if "is what it gives as saved" in w]
        example = next((w for w in wrong if w not in as_saved), wrong[0])
        first, _, rest = example.partition(", but your saved model")
        generic = (" Every answer must come from your saved model and its DictVectorizer: no hard-coded or "
                   "cached answers." if rest else "")
        if len(as_saved) == len(wrong):
            generic = (" They are what your model gives as saved, not what the copy of it the grader served "
                       "(its margin moved) gives: every answer must come from the model the service loads "
                       "from the store, not from a copy of it or a rule written into the service.")
        check.note(f"{len(wrong)} of {len(probs)} hidden applicants got a wrong answer "
                   f"(e.g. {first}).{generic}")


@graded(points=4)
def live_status_thresholds(run: Run, check, answers) -> None:
    """status thresholds (> 0.5 DECLINED, > 0.25 MAYBE)"""
    need_live(run, check)
    need_answering(run, answers, check)
    pairs = [(a, expected_known(run, n)) for n, a in answers["known"].items()]
    pairs += [(a, expected_probe(run, n)) for n, a in enumerate(answers["probes"])]
    decided = [(a, e) for a, e in pairs if a.probability is not None and a.status in contract.STATUSES]
    if not decided:
        check.fail(f"not checked: no answer carried a decision of the contract's form, so the thresholds "
                   f"cannot be checked; the cause and its fix are under \"{SAMPLE_TITLE}\".")
    # A service may round the probability it returns: its status may follow the unrounded value.
    wrong = [(a.probability, a.status) for a, e in decided
             if a.status not in {contract.status_for(a.probability),
                                 contract.status_for(a.probability if e is None else e)}]
    for probability, status in wrong[:3]:
        check.part(f"p={probability:.3f}", False,
                   f"answered {status}, the rule gives {contract.status_for(probability)}: use "
                   f"> {contract.DECLINED_ABOVE} DECLINED, > {contract.MAYBE_ABOVE} MAYBE, else APPROVED.")
    check.part(f"{len(decided) - len(wrong)} of {len(decided)} decisions", not wrong, weight=0.0)


INVALID_HINTS = {
    "wrong_type": "age must be an int: type the field `age: int`.",
    "unknown_category": "home='castle' must be rejected: type categories as Literal[...] of the labels.",
    "missing_field": "every field is required: declare them without defaults.",
    "negative_amount": "amount must be >= 0: Annotated[int, Field(ge=0)].",
    "minor_age": "age must be >= 18: Annotated[int, Field(ge=18)].",
    "unknown_field": "unknown fields must be rejected: model_config = ConfigDict(extra=\"forbid\").",
    "flat_body": "a flat body (no credit_application wrapper) must be rejected. " + hints.WRAPPED,
    "empty_object": "an empty body must be rejected.",
    "not_an_object": "a JSON list instead of an object must be rejected.",
    "null_field": "income=null must be rejected: type it float, not Optional[float].",
    "huge_number": "amount=10**400 must be rejected: bound it, e.g. Field(ge=0, le=1_000_000_000).",
}


#: Invalid bodies that only a bound on a field rejects (a pydantic model without one lets them in).
BOUNDS_CASES = ("negative_amount", "minor_age", "huge_number")


def validates(run: Run) -> bool:
    """Whether classify takes a pydantic model (BentoML then answers 400 to what the model rejects)."""
    svc = run.service_facts.service() if run.service_facts.imported else None
    api = (svc or {}).get("apis", {}).get("classify") or {}
    return bool(api.get("input_schema", {}).get("properties"))


@graded(points=6)
def live_invalid_bodies(run: Run, check) -> None:
    """invalid bodies get HTTP 400 with detail, never 500"""
    url = need_live(run, check) + contract.CLASSIFY_PATH
    for name, body in contract.invalid_bodies().items():
        answer = Answer.post(url, body)
        body = answer.body if isinstance(answer.body, dict) else {}
        has_detail = bool(body.get("detail") or body.get("error"))
        if answer.code == 400 and has_detail:
            check.part(name, True)
            continue
        if answer.code >= 500 and name in BOUNDS_CASES and validates(run):
            why = (f"HTTP {answer.code}: the pydantic model accepted it and the service then crashed: "
                   f"{INVALID_HINTS[name]}")
        elif answer.code >= 500:
            why = ("HTTP 500: the service crashed on bad input. Declare the parameter as the pydantic model "
                   "(credit_application: CreditApplication) so BentoML validates it and answers 400.")
        elif answer.code == 422:
            why = ("HTTP 422: BentoML 1.4 answers validation errors with 400 itself; do not raise your own "
                   "422 (or serve through another framework).")
        elif answer.code == 400:
            why = "HTTP 400 without an error detail in the body."
        else:
            why = f"HTTP {answer.code}: {INVALID_HINTS[name]}"
        check.part(name, False, why)


def same_answer(single: Answer, batched: Any) -> bool:
    """Whether a /classify answer and the batch's answer for the same applicant agree (0.0 included)."""
    if single.code != 200 or single.probability is None or not isinstance(batched, dict):
        return False
    other = batched.get("probability")
    return (batched.get("status") == single.status and isinstance(other, int | float)
            and not isinstance(other, bool) and abs(single.probability - float(other)) <= 1e-6)


@graded(points=4)
def live_batch(run: Run, check, answers) -> None:
    """/classify_batch answers the same as /classify"""
    url = need_live(run, check) + contract.CLASSIFY_BATCH_PATH
    need_answering(run, answers, check)
    names = list(run.known)
    # Hidden applicants drawn apart from the probes: the probes, chosen by the moved answers, would tell
    # the service the move, which a composed or containerised service of the same learner code graded
    # later could use.
    asked = sorted(answers["hidden"])
    hidden = secrets.SystemRandom().sample(asked, min(probes.COUNT, len(asked)))
    applicants = [run.known[n] for n in names] + [run.candidates[i] for i in hidden]
    singles = [answers["known"][n] for n in names] + [answers["hidden"][i] for i in hidden]
    batch = Answer.post(url, contract.wrap_batch(applicants))
    ok = batch.code == 200 and isinstance(batch.body, list) and len(batch.body) == len(applicants)
    check.part("one decision per applicant", ok, weight=1,
               hint=f"POST {contract.CLASSIFY_BATCH_PATH} {{\"{contract.CLASSIFY_BATCH_ARG}\": [...]}} gave "
                    f"HTTP {batch.code}: {batch.text[:160]}")
    if ok:
        differ = sum(1 for s, b in zip(singles, batch.body, strict=True) if not same_answer(s, b))
        check.part("equal to /classify", differ == 0, weight=2,
                   hint=f"{differ} of {len(applicants)} batch answers differ from /classify: both must use "
                        f"the same model, DictVectorizer and thresholds.")


@graded(points=2)
def live_concurrency(run: Run, check, answers) -> None:
    """20 concurrent requests all succeed"""
    url = need_live(run, check) + contract.CLASSIFY_PATH
    need_answering(run, answers, check)
    with ThreadPoolExecutor(CONCURRENT) as pool:
        results = list(pool.map(lambda _: Answer.post(url, contract.wrap(contract.SAMPLE_APPLICANT)),
                                range(CONCURRENT)))
    failed = [a for a in results if a.code != 200]
    svc = run.source.service()
    api = svc.apis.get("classify") if svc else None
    if api is not None and api.is_async:
        fix = ("classify is async: a blocking call inside it (time.sleep, requests, a long computation) "
               "stalls every request of the worker; await async calls, or make it a plain def (BentoML "
               "then runs it in a thread).")
    else:
        fix = ("classify is a plain def, run by BentoML in worker threads: keep no per-request state on "
               "self or in globals (two requests run at once), and give every outgoing call a timeout.")
    check.part(f"{CONCURRENT} requests", not failed,
               f"{len(failed)} of {CONCURRENT} concurrent requests failed "
               f"(e.g. {failed[0].text[:120] if failed else ''}): {fix}")
