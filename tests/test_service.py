"""The reference service, in-process and over HTTP: the contract every other part relies on."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from bentokit import contract, server
from tests.conftest import ROOT, SERVICE_TARGET


def post(url: str, body, path: str = contract.CLASSIFY_PATH) -> requests.Response:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(url + path, data=payload, timeout=30,
                         headers={"Content-Type": "application/json"})


def test_service_declares_the_contract():
    from solutions.service import CreditApplication, CreditRiskClassifier

    assert CreditRiskClassifier.name == contract.SERVICE_CLASS
    assert set(CreditRiskClassifier.apis) == {"classify", "classify_batch"}
    assert CreditRiskClassifier.apis["classify_batch"].batchable
    # "latest" is resolved to a version as soon as the store has one.
    assert [m.tag.name for m in CreditRiskClassifier.models] == [contract.MODEL_NAME]
    fields = CreditApplication.model_fields
    assert list(fields) == list(contract.FIELD_TYPES)
    assert {name: f.annotation for name, f in fields.items()
            if name not in contract.CATEGORIES} == {
        name: kind for name, kind in contract.FIELD_TYPES.items() if kind is not str}


def test_in_process_answers_follow_the_thresholds(saved_model, expected):
    from solutions.service import CreditApplication, CreditRiskClassifier

    service = CreditRiskClassifier()
    applicants = list(contract.GOLDEN_APPLICANTS.values())
    want = expected(applicants)
    for applicant, probability in zip(applicants, want, strict=True):
        decision = service.classify(CreditApplication(**applicant))
        assert decision.probability == pytest.approx(probability, abs=1e-6)
        assert decision.status == contract.status_for(decision.probability)


@pytest.mark.server
def test_sample_applicant_over_http(reference_server, expected):
    response = post(reference_server.url, contract.wrap(contract.SAMPLE_APPLICANT))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"probability", "status"}
    assert body["probability"] == pytest.approx(expected([contract.SAMPLE_APPLICANT])[0], abs=1e-6)
    assert body["status"] == contract.status_for(body["probability"])


@pytest.mark.server
def test_golden_applicants_cover_every_decision(reference_server, expected, credit_data):
    names = list(contract.GOLDEN_APPLICANTS)
    want = expected(list(contract.GOLDEN_APPLICANTS.values()))
    statuses = set()
    for name, probability in zip(names, want, strict=True):
        body = post(reference_server.url, contract.wrap(contract.GOLDEN_APPLICANTS[name])).json()
        assert body["probability"] == pytest.approx(probability, abs=1e-6), name
        assert body["status"] == contract.status_for(probability), name
        statuses.add(body["status"])
    if credit_data.source.startswith("file"):  # the golden set was chosen on the course data
        assert statuses == set(contract.STATUSES)


@pytest.mark.server
@pytest.mark.parametrize("name", list(contract.invalid_bodies()))
def test_invalid_bodies_get_400_with_field_detail(reference_server, name):
    response = post(reference_server.url, contract.invalid_bodies()[name])
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["detail"], body
    assert all("loc" in item and "msg" in item for item in body["detail"])


@pytest.mark.server
@pytest.mark.parametrize("raw", [b"", b"not json", b"null", b"1e999", b'"x"', b"[[]]", b"{" * 2000,
                                 b'{"credit_application": {"age": NaN}}',
                                 b'{"credit_application": {"amount": 1e400}}'])
def test_odd_bodies_never_get_a_500(reference_server, raw):
    assert post(reference_server.url, raw).status_code == 400
    assert post(reference_server.url, raw, contract.CLASSIFY_BATCH_PATH).status_code == 400


@pytest.mark.server
def test_batch_equals_single_in_order(reference_server):
    applicants = list(contract.GOLDEN_APPLICANTS.values()) * 3
    batch = post(reference_server.url, contract.wrap_batch(applicants), contract.CLASSIFY_BATCH_PATH)
    assert batch.status_code == 200
    singles = [post(reference_server.url, contract.wrap(a)).json() for a in applicants]
    assert batch.json() == singles


@pytest.mark.server
def test_concurrent_batch_calls_are_merged_correctly(reference_server):
    applicants = list(contract.GOLDEN_APPLICANTS.values())

    def call(i: int):
        chunk = applicants[i % len(applicants):] + applicants[: i % len(applicants)]
        # A 503 is the batcher keeping its max_latency_ms (load shedding, on a busy machine): the
        # client retries it with back-off, as notebook 7 teaches. Any other failure is a failure.
        for attempt in range(6):
            answer = post(reference_server.url, contract.wrap_batch(chunk), contract.CLASSIFY_BATCH_PATH)
            if answer.status_code != 503:
                break
            time.sleep(0.05 * 2**attempt)  # back-off before the retry
        assert answer.status_code == 200, answer.text
        return chunk, answer.json()

    singles = {json.dumps(a, sort_keys=True): post(reference_server.url, contract.wrap(a)).json()
               for a in applicants}
    with ThreadPoolExecutor(8) as pool:
        for chunk, answers in pool.map(call, range(16)):
            assert answers == [singles[json.dumps(a, sort_keys=True)] for a in chunk]


@pytest.mark.server
def test_invalid_batch_item_is_a_400(reference_server):
    bad = [contract.SAMPLE_APPLICANT, {**contract.SAMPLE_APPLICANT, "job": "astronaut"}]
    response = post(reference_server.url, contract.wrap_batch(bad), contract.CLASSIFY_BATCH_PATH)
    assert response.status_code == 400
    assert response.json()["detail"][0]["loc"][:2] == [contract.CLASSIFY_BATCH_ARG, 1]


@pytest.mark.server
def test_infra_endpoints(reference_server):
    for path in ("/livez", "/readyz", "/healthz", "/metrics", "/docs.json"):
        assert requests.get(reference_server.url + path, timeout=10).status_code == 200, path
    paths = requests.get(reference_server.url + "/docs.json", timeout=10).json()["paths"]
    assert {contract.CLASSIFY_PATH, contract.CLASSIFY_BATCH_PATH} <= set(paths)


TRAIN_CLASSIFIER = textwrap.dedent("""
    import bentoml, xgboost as xgb
    from bentokit import contract, data, training
    frame = data.generated().frame
    trained = training.train(data.generated(), num_boost_round=5)
    x = trained.dv.transform(training.records(frame))
    clf = xgb.XGBClassifier(n_estimators=30, max_depth=3).fit(x, (frame.status == "default").astype(int))
    bentoml.xgboost.save_model(contract.MODEL_NAME, clf,
                               custom_objects={contract.CUSTOM_OBJECT_KEY: trained.dv})
    print(clf.predict_proba(trained.dv.transform([contract.SAMPLE_APPLICANT]))[0, 1])
""")


@pytest.mark.server
def test_an_xgbclassifier_model_is_served_too(tmp_path):
    """Learners often save an XGBClassifier instead of a Booster: the service serves both."""
    env = server.kit_env({"BENTOML_HOME": str(tmp_path / "home")})
    done = subprocess.run([sys.executable, "-c", TRAIN_CLASSIFIER], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=True)
    want = float(done.stdout.strip().splitlines()[-1])
    with server.serving(SERVICE_TARGET, ROOT, timeout=90, env=env) as running:
        body = post(running.url, contract.wrap(contract.SAMPLE_APPLICANT)).json()
        batch = post(running.url, contract.wrap_batch([contract.SAMPLE_APPLICANT]),
                     contract.CLASSIFY_BATCH_PATH).json()
    assert body["probability"] == pytest.approx(want, abs=1e-6)
    assert batch == [body]


@pytest.mark.server
def test_empty_batch_gets_an_empty_answer(reference_server):
    response = post(reference_server.url, contract.wrap_batch([]), contract.CLASSIFY_BATCH_PATH)
    assert response.status_code == 200 and response.json() == []


def test_schema_example_is_the_course_sample_in_solutions_and_exercises():
    """Swagger UI's "Try it out" starts from the schema's example: the course's sample applicant."""
    from solutions.service import CreditApplication

    assert CreditApplication.model_json_schema()["example"] == contract.SAMPLE_APPLICANT
    CreditApplication(**contract.SAMPLE_APPLICANT)  # and it is valid

    def config_block(path) -> str:
        source = path.read_text()
        start = source.index("    model_config = ConfigDict(extra=")
        return source[start:source.index("\n\n", start)]

    assert config_block(ROOT / "exercises" / "service.py") == config_block(ROOT / "solutions" / "service.py")


@pytest.mark.server
def test_openapi_examples_of_both_apis_are_the_sample(reference_server):
    spec = requests.get(reference_server.url + "/docs.json", timeout=10).json()
    schemas = spec["components"]["schemas"]
    for path, arg in ((contract.CLASSIFY_PATH, contract.CLASSIFY_ARG),
                      (contract.CLASSIFY_BATCH_PATH, contract.CLASSIFY_BATCH_ARG)):
        body = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        ref = body["properties"][arg].get("items", body["properties"][arg])["$ref"]
        assert schemas[ref.rsplit("/", 1)[1]]["example"] == contract.SAMPLE_APPLICANT, path

