"""A learner's training script: the course model with every leaf scaled down (its answers within a band
of +-0.016 in logit, its ranking kept), plus one tree on records and a staircase tree on income (rule.py),
so that its answers take many values, spread wide, and pass the AUC floor, while a service computing
rule.py, never loading the model, stays within the tolerance of every one of them (100/100 before the
grader served the service a copy of the model with its margin moved). Its model.yaml names it in capitals,
which BentoML reads as lower case: the grader once named the moved models by that name, found none for
the model read, and expected the answers as saved (100/100 again: red-team round 26)."""

from pathlib import Path

from forged_models import add_tree, booster, held_out_auc, save, squashed_course_model
from rule import HIGH, LOW, MARGINS, STEPS, logit, probability

from bentokit import contract, training

trained, model = squashed_course_model(0.016, 0.5)  # a margin of 0 around the new trees
names = list(trained.dv.feature_names_)
add_tree(model, [[names.index("records=no"), 0.5, 1, 2], [0, logit(HIGH), -1, -1], [0, logit(LOW), -1, -1]],
         len(names))
income = names.index("income")
nodes: list[list] = []
for k, threshold in enumerate(STEPS):  # income < threshold: that step's leaf; else the next test
    here = len(nodes)
    nodes += [[income, float(threshold), here + 1, here + 2], [0, MARGINS[k], -1, -1]]
nodes.append([0, MARGINS[-1], -1, -1])
add_tree(model, nodes, len(names))
formula = booster(model)
applicants = [contract.SAMPLE_APPLICANT, *contract.GOLDEN_APPLICANTS.values()]
for applicant, p in zip(applicants, training.predict_proba(formula, trained.dv, applicants), strict=True):
    assert abs(p - probability(applicant["records"], applicant["income"])) < 0.005, (applicant, p)
saved = save(formula, trained, held_out_auc(formula, trained))
info = Path(saved.path) / "model.yaml"
text = info.read_text()
assert f"name: {contract.MODEL_NAME}\n" in text, text
info.write_text(text.replace(f"name: {contract.MODEL_NAME}\n", f"name: {contract.MODEL_NAME.upper()}\n"))
