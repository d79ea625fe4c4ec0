"""``python -m benchmarks image``: the log's phases and the report (the real start: tests/containers)."""

from __future__ import annotations

import json

from benchmarks import image

LOG = """\
2026-12-05T05:42:50.896871002Z 2026-12-05T05:42:50+0000 [INFO] [cli] Service loaded from Bento directory
2026-12-05T05:42:51.318484598Z 2026-12-05T05:42:51+0000 [INFO] [cli] Starting production HTTP BentoServer
2026-12-05T05:42:53.157624268Z 2026-12-05T05:42:53+0000 [INFO] [:1] Service loaded from Bento directory
2026-12-05T05:42:53.159396973Z 2026-12-05T05:42:53+0000 [INFO] [:2] Service loaded from Bento directory
2026-12-05T05:42:57.457443046Z 2026-12-05T05:42:57+0000 [INFO] [:1] Service CreditRiskClassifier initialized
2026-12-05T05:42:57.467612057Z 2026-12-05T05:42:57+0000 [INFO] [:2] Service CreditRiskClassifier initialized
"""


def test_each_phase_ends_at_its_first_log_line() -> None:
    started = image._stamp("2026-12-05T05:42:48.000000000Z x")
    assert image.phases(LOG, started) == {"supervisor": 3.318, "workers_loaded": 5.158,
                                          "workers_initialized": 9.457}


def test_a_log_without_a_phase_leaves_it_out() -> None:
    assert image.phases("no stamps here\n", 0.0) == {}


def test_the_report_gives_the_verdicts_the_phases_and_the_layers(tmp_path) -> None:
    rounds = [{"engine": 0.4, "supervisor": 1.0, "workers_loaded": 1.6, "workers_initialized": 2.5,
               "ready_s": 2.6 + i} for i in range(3)]
    found = {"engine": "podman 4", "bento": "b:1", "image_bytes": 570_000_000, "user": "bentoml",
             "build_s": 5.0, "rounds": rounds, "medians": {**rounds[1]},
             "layers": [{"bytes": 126_700_000, "step": "base image"},
                        {"bytes": 19_968, "step": "the non-root user"},
                        {"bytes": 392_500_000, "step": "Python packages"},
                        {"bytes": 274_432, "step": "the bento's files"}]}
    text = image.write(found, tmp_path, machine="A test.").read_text()
    assert "- image <= 0.6 GB: **holds**" in text
    assert "- start to /readyz <= 3 s (median): **does not hold**" in text  # median 3.6 s
    assert f"| {image.LABELS['workers_initialized']} | 2.50 | +0.90 |" in text
    assert "| Python packages | 392.5 |" in text
    assert "| 2 smaller layers (the bento's files, the non-root user) | 0.3 |" in text
    assert json.loads((tmp_path / "image.json").read_text()) == found
