"""The package-index probe: it tells a machine that cannot reach the index from one that can."""

from __future__ import annotations

from bentokit import package_index


def test_the_index_answers_here() -> None:
    # CI and a learner's machine reach the index: `bentoml build` needs it to lock packages.
    assert package_index.unreachable() == ""


def test_a_refused_proxy_is_reported_with_uvs_reason(offline, monkeypatch) -> None:
    for name, value in offline.items():
        monkeypatch.setenv(name, value)
    assert "refused" in package_index.unreachable().lower()
