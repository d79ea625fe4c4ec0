"""Notebook 8's Kubernetes manifests: valid against the Kubernetes schemas, sized by the arithmetic shown."""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest

from bentokit import deploy

#: The Kubernetes version whose schemas the manifests are checked against (kubernetes-validate bundles them).
K8S_VERSION = "1.30.0"


def sizing() -> deploy.Sizing:
    return deploy.Sizing(cpu_us_per_req=1500, target_rps=500, peak_rps=1500)


def test_the_sizing_arithmetic() -> None:
    s = sizing()
    assert s.cores(500) == pytest.approx(0.75)
    assert s.pods(500) == 2  # ceil(0.75 / 0.6)
    assert s.pods(1500) == 4  # ceil(2.25 / 0.6)
    assert (s.min_replicas, s.max_replicas) == (2, 4)
    assert deploy.Sizing(cpu_us_per_req=100, target_rps=10, peak_rps=10).min_replicas == 2
    assert "ceil(2.25 / (1 × 0.6)) = 4 pods" in s.explain()


def test_manifests_pass_the_kubernetes_schemas() -> None:
    docs = deploy.manifests("registry.example/credit-risk-classifier:v1", sizing())
    assert [d["kind"] for d in docs] == ["Deployment", "Service", "HorizontalPodAutoscaler"]
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    hpa = docs[2]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 4)
    assert docs[0]["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "1"


def test_the_validator_catches_a_broken_manifest() -> None:
    """The schema check can fail: a misspelt field and a wrong type are rejected."""
    hpa = copy.deepcopy(deploy.manifests("img:v1", sizing())[2])
    hpa["spec"]["maxReplica"] = hpa["spec"].pop("maxReplicas")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(hpa, K8S_VERSION, strict=True)
    deployment = copy.deepcopy(deploy.manifests("img:v1", sizing())[0])
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)
