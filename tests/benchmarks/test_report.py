"""Medians, ratios, goal verdicts and the written report, from results shaped like a real run's."""

from __future__ import annotations

import json

import pytest

from benchmarks import report
from benchmarks.targets import BASELINE_TARGET, GOAL_TARGET

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def load(clients, rps, p99, cpu, failed=0):
    return {"clients": clients, "rps": rps, "p50_ms": p99 / 3, "p99_ms": p99, "cpu_us_per_req": cpu,
            "failed": failed, "non_2xx": failed, "socket_errors": 0, "others_cores": 0.1,
            "load_avg": [0.7, 0.5, 0.2], "connections_per_process": [20, 12], "cpu_s_per_process": [5.5, 4.0]}


def results(goal_rps=(1100, 1300, 1200), goal_p99=(20.0, 25.0, 30.0), goal_cpu=(450, 500, 520)):
    runs = []
    for i in range(3):
        runs.append({"target": BASELINE_TARGET, "round": i, "cold_start_s": 1.0 + i,
                     "loads": [load(1, 700, 2.0, 600), load(32, 1000, 30.0, 600)]})
        runs.append({"target": GOAL_TARGET, "round": i, "cold_start_s": 4.0,
                     "loads": [load(1, 500, 3.0, 900), load(32, goal_rps[i], goal_p99[i], goal_cpu[i])]})
    return {
        "meta": {"started": "t0", "finished": "t1", "load_before": [0.1, 0.1, 0.1], "load_after": [1, 1, 1],
                 "cpus": 2, "python": "3.11", "platform": "linux", "model": "m:1", "data": "generated",
                 "plan": {"targets": [BASELINE_TARGET, GOAL_TARGET], "clients": [1, 32], "seconds": 10,
                          "rounds": 3, "warmup": 2}},
        "inprocess": [{"course_one_cpu_us": v, "course_one_wall_us": v, "course_batch_row_cpu_us": 9.0,
                       "service_one_cpu_us": 250.0, "service_batch_row_cpu_us": 5.0, "batch": 64}
                      for v in (240.0, 250.0, 260.0)],
        "runs": runs, "errors": [],
    }


def test_summary_takes_medians_over_rounds():
    summary = report.summarise(results())
    goal = summary["targets"][GOAL_TARGET]
    assert goal["rounds"] == 3
    assert goal["loads"][32]["rps"] == 1200
    assert goal["loads"][32]["p99_ms"] == 25.0
    assert summary["targets"][BASELINE_TARGET]["cold_start_s"] == 2.0
    assert summary["inprocess"]["course_one_cpu_us"] == 250.0


def test_headline_ratios_and_goals():
    summary = report.summarise(results())
    ratios = report.headline(summary, 32)
    assert ratios[GOAL_TARGET]["rps_vs_baseline"] == pytest.approx(1.2)
    assert ratios[GOAL_TARGET]["p99_vs_baseline"] == pytest.approx(25 / 30)
    assert ratios[GOAL_TARGET]["cpu_vs_inprocess"] == pytest.approx(500 / 250)
    assert ratios[GOAL_TARGET]["cpu_vs_own"] == pytest.approx(500 / 250)
    assert ratios[BASELINE_TARGET]["rps_vs_baseline"] == pytest.approx(1.0)
    assert set(report.goals(ratios).values()) == {True}


def test_throughput_at_the_baseline_misses_the_goal_of_more():
    verdicts = report.goals(report.headline(report.summarise(results(goal_rps=(1000, 1190, 1100))), 32))
    assert verdicts[f"throughput >= {report.THROUGHPUT_GOAL}x tuned gunicorn-Flask"] is False


def test_a_goal_that_is_missed_is_reported_as_missed():
    summary = report.summarise(results(goal_rps=(900, 800, 950), goal_p99=(40, 45, 50), goal_cpu=(900,) * 3))
    verdicts = report.goals(report.headline(summary, 32))
    assert set(verdicts.values()) == {False}


def test_a_goal_without_a_baseline_is_not_measured():
    raw = results()
    raw["runs"] = [r for r in raw["runs"] if r["target"] != BASELINE_TARGET]
    verdicts = report.goals(report.headline(report.summarise(raw), 32))
    assert verdicts[f"throughput >= {report.THROUGHPUT_GOAL}x tuned gunicorn-Flask"] is None


def test_write_produces_report_json_and_plots(tmp_path):
    path = report.write(results(), tmp_path)
    text = path.read_text()
    assert "## Headline at 32 clients" in text
    assert f"| `{GOAL_TARGET}` | 1200 | 1.20 | 25.0 | 0.83 | 500 | 2.0 | 2.0 | 250 |" in text  # 500 - 250
    assert f"| `{BASELINE_TARGET}` | 1000 | 1.00 | 30.0 | 1.00 | 600 | 2.4 | 2.4 | 350 |" in text  # 600 - 250
    assert "throughput >= 1.2x tuned gunicorn-Flask: **holds**" in text
    assert "CPU/request <= 2.5x the service's own in-process cost: **holds**" in text
    # every round, with its load average and how the connections and the CPU were split
    assert f"| `{GOAL_TARGET}` | 2 | 1200 | 30.0 | 520 | 20 + 12 | 5.5 + 4 | 0.70 | 0.10 |" in text
    assert "| `gunicorn-tuned` | gunicorn + Flask, tuned | 2 sync workers, OMP_NUM_THREADS=1" in text
    assert "Load average" in text and "[0.1, 0.1, 0.1]" in text
    for name in ("rps.png", "p99_ms.png", "cpu_per_request.png", "cold_start.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG_MAGIC, name
        assert f"]({name})" in text
    stored = json.loads((tmp_path / report.RESULTS_JSON).read_text())
    assert stored["summary"]["targets"][GOAL_TARGET]["loads"]["32"]["rps"] == 1200


def test_errors_are_listed_in_the_report(tmp_path):
    raw = results()
    raw["errors"] = [{"target": "fastapi", "round": 1, "error": "fastapi exited with code 1\ntraceback"}]
    text = report.write(raw, tmp_path).read_text()
    assert "## Errors" in text and "fastapi round 1: fastapi exited with code 1" in text


def test_each_variant_shows_what_its_setting_saves(tmp_path):
    raw = results()
    for i in range(3):
        raw["runs"].append({"target": "prod-traced", "round": i, "cold_start_s": 4.0,
                            "loads": [load(32, 800, 40.0, 700)]})
    text = report.write(raw, tmp_path).read_text()
    # production: 1200 req/s and 500 µs; with tracing back on: 800 req/s and 700 µs
    assert ("| `prod-traced`: production, tracing.excluded_urls=[] (by BENTOML_CONFIG_OPTIONS) "
            "| 700 | 200 | 800 | 1.50 |") in text


def test_no_savings_section_without_variants(tmp_path):
    assert "What each production setting saves" not in report.write(results(), tmp_path).read_text()


def test_a_note_heads_the_report(tmp_path):
    raw = results()
    raw["meta"]["note"] = "PRELIMINARY: measured on a busy machine"
    assert "**PRELIMINARY: measured on a busy machine**" in report.write(raw, tmp_path).read_text()
