"""An honest learner's model: the course's features and an XGBClassifier that stopped early (its best
iteration before its last tree), saved with bentoml.xgboost as the course saves its model. Its two ways
to answer, predict_proba (up to the best iteration) and its Booster's predict (every tree), differ."""

import bentoml
import xgboost as xgb
from sklearn.feature_extraction import DictVectorizer
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from bentokit import contract, data, training


def labels(frame):
    return (frame.status == "default").astype(int).to_numpy()


credit = data.load()
full_train, test = training.split(credit)
train, validation = train_test_split(full_train, test_size=0.25, random_state=1)
dv = DictVectorizer(sparse=False)
x_train, x_validation = dv.fit_transform(training.records(train)), dv.transform(training.records(validation))
model = xgb.XGBClassifier(n_estimators=400, learning_rate=0.3, max_depth=3, early_stopping_rounds=5,
                          eval_metric="auc", n_jobs=1, random_state=1)
model.fit(x_train, labels(train), eval_set=[(x_validation, labels(validation))], verbose=False)
assert model.best_iteration < model.get_booster().num_boosted_rounds() - 1, "it did not stop early"
auc = float(roc_auc_score(labels(test), model.predict_proba(dv.transform(training.records(test)))[:, 1]))
bentoml.xgboost.save_model(contract.MODEL_NAME, model, custom_objects={contract.CUSTOM_OBJECT_KEY: dv},
                           labels={"owner": "learner", "stage": "dev"}, metadata={"auc": round(auc, 6)})
