"""The small judging parts of fuzz, soak and profile: what counts as a 5xx, growth, attribution."""

from __future__ import annotations

import pytest

from benchmarks import fuzz, profile, soak


def test_server_errors_are_found_in_a_bentoml_log():
    log = (
        "2026-11-24T01:16:18+0000 [INFO] [entry_service:X:1] 127.0.0.1:1 (scheme=http,method=POST,"
        "path=/classify,type=application/json,length=2) (status=400,type=application/json,length=9) 1ms\n"
        "2026-11-24T01:16:18+0000 [INFO] [entry_service:X:1] 127.0.0.1:1 (scheme=http,method=POST,"
        "path=/classify_batch,type=application/json,length=27) (status=500,type=application/json) 1ms\n"
    )
    errors = fuzz.server_errors_in_log(log)
    assert len(errors) == 1 and "/classify_batch" in errors[0]


def test_fuzz_command_checks_for_server_errors_and_is_bounded(tmp_path):
    command = fuzz.command("http://127.0.0.1:5", max_examples=7, time_limit=30, report_dir=tmp_path)
    assert command[1:3] == ["run", "http://127.0.0.1:5/docs.json"]
    assert command[command.index("--checks") + 1] == "not_a_server_error"
    assert command[command.index("--max-examples") + 1] == "7"
    assert command[command.index("--max-time") + 1] == "30"


@pytest.mark.parametrize(("samples", "expected"), [
    ([100, 100, 100, 100, 100, 100], 0.0),
    ([100, 101, 100, 110, 111, 112], 0.11),
    ([200, 200, 180, 150, 100, 100], -0.5),
])
def test_memory_growth_compares_the_last_third_with_the_first(samples, expected):
    assert soak.growth(samples) == pytest.approx(expected, abs=0.001)


def test_memory_growth_needs_samples():
    with pytest.raises(ValueError, match="at least 3"):
        soak.growth([1.0, 2.0])


def test_profile_attributes_innermost_frames_to_layers():
    site = "/venv/lib/python3.11/site-packages"
    raw = [
        f"<module> (svc.py:1);inplace_predict ({site}/xgboost/core.py:2864) 30",
        f"<module> (svc.py:1);__call__ ({site}/opentelemetry/instrumentation/asgi/__init__.py:9) 10",
        f"<module> (svc.py:1);app ({site}/starlette/routing.py:697) 10",
        "<module> (svc.py:1);Condition.wait (/usr/lib/python3.11/threading.py:327) 50",
        "",
    ]
    layers, functions, idle = profile.attribute(raw)
    assert idle == 50
    assert layers == {"model: XGBoost predict": 30, "tracing: OpenTelemetry": 10,
                      "ASGI framework: starlette": 10}
    assert sum(functions.values()) == 50
    assert profile.layer_of("f (/work/main/solutions/service.py:80)") == "service code"
    assert profile.short(f"Booster.inplace_predict ({site}/xgboost/core.py:2873)") == \
        "Booster.inplace_predict (xgboost/core.py:2873)"
    assert profile.short("wait (/usr/lib/python3.11/threading.py:327)") == "wait (threading.py:327)"
