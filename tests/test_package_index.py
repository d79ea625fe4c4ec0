"""The package-index probe: it tells a machine that cannot reach the index from one that can."""

from __future__ import annotations

from bentokit import package_index
from bentokit.server import free_port


def test_the_index_answers_here() -> None:
    # CI and a learner's machine reach the index: `bentoml build` needs it to lock packages.
    assert package_index.unreachable() == ""


def test_a_refused_proxy_is_reported_with_uvs_reason(monkeypatch) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    for name in ("HTTPS_PROXY", "https_proxy"):
        monkeypatch.setenv(name, closed)
    assert "refused" in package_index.unreachable().lower()
