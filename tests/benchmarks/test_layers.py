"""``python -m benchmarks layers``: the production app driven in-process, its middlewares left out."""

from __future__ import annotations

import pytest

from benchmarks import layers


@pytest.mark.parametrize("configuration", [layers.ALL, layers.ENDPOINT])
def test_the_app_answers_and_costs_cpu_with_and_without_its_middlewares(configuration, saved_model) -> None:
    # a child process per configuration, as the benchmark runs it; it fails unless the app answered a
    # decision (the driver checks the first answer) and every middleware named was in the stack
    cost = layers._child(configuration, 50)
    assert 0 < cost < 100_000


def test_the_split_adds_up_to_the_servers_cost() -> None:
    found = {"own_classify_us": 150.0, "configurations": {layers.ALL: 340.0, layers.ENDPOINT: 280.0}}
    parts = dict(layers.split(found, server_us=455.0))
    assert sum(parts.values()) == pytest.approx(455.0)
    assert list(parts.values()) == pytest.approx([115.0, 60.0, 130.0, 150.0])
    assert len(layers.split(found, server_us=None)) == 3  # no server figure: no HTTP-server part
