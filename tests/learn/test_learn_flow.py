"""The learner's path end to end, on a temporary copy of exercises/ (never the real one).

Shipped exercises: 0 done and a hint for the first; copying each solution in turn makes exactly that
exercise done (the next one is graded in the same run and is still to do); all solutions: full marks.
Each grading starts the learner's service once, so the exercise and its successor share a run.
"""

from __future__ import annotations

import shutil

from grader.learn.grading import grade
from grader.learn.state import Progress
from tests.learn.conftest import SOLUTIONS, copy_exercises, learn, results_with_key


def test_solutions_advance_progress_one_by_one(exercise_list, homework_key_dir, tmp_path) -> None:
    submission = copy_exercises(tmp_path / "exercises")
    results = results_with_key(tmp_path / "results", homework_key_dir)
    total = len(exercise_list)

    first = learn(submission, results, "check", "--all")
    assert first.returncode == 1, first.stdout
    assert f"0 / {total} exercises done" in first.stdout
    assert f"Next: exercise {exercise_list[0].name!r}" in first.stdout
    assert f"Hint 1/{len(exercise_list[0].hints)} for {exercise_list[0].name!r}" in first.stdout
    assert exercise_list[0].hints[0].split()[0] in first.stdout
    assert not any(s["done"] for s in first.state.values())

    def copy_solution(exercise) -> None:
        for name in exercise.files:
            shutil.copy(SOLUTIONS / name, submission / name)

    for n, exercise in enumerate(exercise_list[:-1]):
        copy_solution(exercise)
        chosen = exercise_list[n:n + 2]  # this exercise and the next, in one grading
        graded = grade(submission, chosen, results)
        progress = Progress.load(results, exercise_list)
        for result in graded.results.values():
            progress.record(result)
        progress.save()
        assert graded.results[exercise.name].done, (exercise.name, graded.results[exercise.name].failed)
        assert not graded.results[chosen[1].name].done, f"{chosen[1].name} done before its solution"
        assert progress.done == n + 1, f"after {exercise.name}: {progress.done} done"

    copy_solution(exercise_list[-1])  # the last one: graded with all the others
    final = learn(submission, results, "check", "--all")
    assert final.returncode == 0, final.stdout
    assert f"{total} / {total} exercises done" in final.stdout and "All exercises are done" in final.stdout
    for state in final.state.values():
        assert state["done"] and state["score"] == state["max_score"] > 0
