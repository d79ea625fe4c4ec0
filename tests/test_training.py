"""Training the course model and saving it to the model store."""

from __future__ import annotations

import bentoml
import numpy as np
import xgboost as xgb
from sklearn.feature_extraction import DictVectorizer

from bentokit import contract, data, training


def test_real_data_reaches_the_course_auc(real_csv):
    trained = training.train(data.load(real_csv))
    assert trained.auc >= 0.80
    assert len(trained.feature_names) == 29


def test_generated_data_gives_a_useful_model():
    assert training.train(data.generated()).auc > 0.7


def test_training_is_deterministic(credit_data):
    first, second = training.train(credit_data), training.train(credit_data)
    assert first.auc == second.auc


def test_saved_model_has_tag_custom_object_labels_and_metadata(saved_model, trained):
    model = bentoml.models.get(f"{contract.MODEL_NAME}:latest")
    assert model.tag == saved_model.tag
    assert model.info.module == "bentoml.xgboost"
    dv = model.custom_objects[contract.CUSTOM_OBJECT_KEY]
    assert isinstance(dv, DictVectorizer) and hasattr(dv, "vocabulary_")
    assert model.info.labels == {"owner": "kit-tests", "stage": "test"}
    meta = model.info.metadata
    assert meta["auc"] == round(trained.auc, 6)
    assert meta["data_sha256"] == trained.data.sha256
    assert meta["data_source"] == trained.data.source
    assert meta["feature_names"] == trained.feature_names
    assert meta["params"]["num_boost_round"] == training.NUM_BOOST_ROUND
    assert meta["params"]["eta"] == 0.1 and meta["params"]["max_depth"] == 3


def test_loaded_model_predicts_as_trained(saved_model, trained):
    booster = bentoml.xgboost.load_model(saved_model.tag)
    dv = saved_model.custom_objects[contract.CUSTOM_OBJECT_KEY]
    applicants = list(contract.GOLDEN_APPLICANTS.values())
    np.testing.assert_allclose(
        training.predict_proba(booster, dv, applicants),
        training.predict_proba(trained.booster, trained.dv, applicants),
    )


def test_predict_proba_accepts_an_xgbclassifier(trained):
    frame = trained.data.frame
    x = trained.dv.transform(training.records(frame))
    y = (frame.status == "default").astype(int)
    clf = xgb.XGBClassifier(n_estimators=20, max_depth=3).fit(x, y)
    got = training.predict_proba(clf, trained.dv, [contract.SAMPLE_APPLICANT])
    row = trained.dv.transform([contract.SAMPLE_APPLICANT])
    np.testing.assert_allclose(got, clf.predict_proba(row)[:, 1], rtol=1e-6)
