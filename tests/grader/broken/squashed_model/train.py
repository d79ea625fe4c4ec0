"""A learner's training script: the course model with every leaf scaled down and base_score 0.37, so that
every probability it gives lies within 0.37 +- 0.004 while its ranking (its held-out AUC) is unchanged;
plus one tree that sets the public sample applicant apart (0.90), so that the known applicants' answers
span 0.5 while every applicant the grader draws still gets about 0.37."""

from forged_models import add_tree, booster, logit, save, squashed_course_model

from bentokit import contract, training

CENTER, HALF_WIDTH, SAMPLE_P = 0.37, 0.004, 0.90
trained, model = squashed_course_model(HALF_WIDTH / 0.25, CENTER)  # the sigmoid's slope is at most 0.25

# A chain of "feature within a hair of the sample's value" tests on every feature: only the sample
# applicant reaches the leaf that lifts it to SAMPLE_P.
names = list(trained.dv.feature_names_)
values = trained.dv.transform([contract.SAMPLE_APPLICANT])[0]
nodes: list[list] = [[0, 0.0, -1, -1]]  # the chain's first test, filled in below
test = 0
for k, value in enumerate(values):
    hair = 0.004 if names[k] in ("income", "assets", "debt") else 0.5
    low_leaf, upper, following, high_leaf = range(len(nodes), len(nodes) + 4)
    nodes[test] = [k, float(value) - hair, low_leaf, upper]
    nodes += [[0, 0.0, -1, -1], [k, float(value) + hair, following, high_leaf], [0, 0.0, -1, -1],
              [0, 0.0, -1, -1]]
    test = following
nodes[test] = [0, logit(SAMPLE_P) - logit(CENTER), -1, -1]
add_tree(model, nodes, len(names))
squashed = booster(model)
sample = training.predict_proba(squashed, trained.dv, [contract.SAMPLE_APPLICANT])[0]
assert abs(sample - SAMPLE_P) < 0.01, sample  # the tree is read as built (left child before the right)
save(squashed, trained, trained.auc)
