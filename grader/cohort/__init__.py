"""Grading a whole class: each submission isolated, in parallel, with a gradebook and class summary.

``python -m grader.cohort grade SUBMISSIONS --out OUT`` grades every learner's folder with the
single-submission grader (``python -m grader``) in a child process of its own, with its own
BentoML home holding that learner's models, its own ports and process groups, and time and
memory limits. ``bundle`` writes a Gradescope autograder bundle and ``classroom`` a GitHub
Classroom workflow that report the same checks and points.
"""
