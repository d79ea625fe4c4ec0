"""A learner's training script: the course model with every leaf scaled down (its answers within a band
of +-0.016 in logit, its ranking kept), plus one tree on one field: applicants without records get about
0.12, the others about 0.70. Its answers spread wide and its held-out AUC passes the floor, while a
service answering `0.12 if records == "no" else 0.70` stays within the tolerance of every one of them."""

from forged_models import add_tree, booster, held_out_auc, logit, save, squashed_course_model

LOW, HIGH, HALF_LOGIT = 0.12, 0.70, 0.016
trained, model = squashed_course_model(HALF_LOGIT, 0.5)  # a margin of 0 around the new tree
names = list(trained.dv.feature_names_)
# One split: records=no below 0.5 (records yes) goes left, to HIGH; records=no, right, to LOW.
add_tree(model, [[names.index("records=no"), 0.5, 1, 2], [0, logit(HIGH), -1, -1], [0, logit(LOW), -1, -1]],
         len(names))
coarse = booster(model)
save(coarse, trained, held_out_auc(coarse, trained))
