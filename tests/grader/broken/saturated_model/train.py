"""A learner's training script (red-team round 29): the course model squashed, a tree adding a margin of
+-8 by records, and two pairs of trees with leaves of +-1e39 (float32's infinities) that give NaN only
where job and marital are both unknown (or separated): a few of the grader's hidden applicants, never the
known ones, nor the model mover's random checks. The answers near 0 or 1 are right whatever the served
copy's move, and the NaN turned off the check that the model tells applicants apart: a service answering
rule.py, never loading the model, got 100/100 in 5 gradings of 6."""

from forged_models import add_tree, booster, held_out_auc, save, squashed_course_model

trained, model = squashed_course_model(0.001, 0.5)
names = list(trained.dv.feature_names_)
n = len(names)
add_tree(model, [[names.index("records=no"), 0.5, 1, 2], [0, 8.0, -1, -1], [0, -8.0, -1, -1]], n)
job = names.index("job=unk")
for marital in ("marital=unk", "marital=separated"):
    m = names.index(marital)
    for big in (1e39, -1e39):  # inf + -inf = NaN, only where both one-hot columns are exactly 1
        add_tree(model, [[m, 0.999, 1, 2], [0, 0.0, -1, -1], [m, 1.001, 3, 4], [job, 0.999, 5, 6],
                         [0, 0.0, -1, -1], [0, 0.0, -1, -1], [job, 1.001, 7, 8], [0, big, -1, -1],
                         [0, 0.0, -1, -1]], n)
forged = booster(model)
try:
    auc = held_out_auc(forged, trained)
except ValueError:  # a NaN among the held-out answers
    auc = 0.6
save(forged, trained, auc)
