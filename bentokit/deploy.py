"""Kubernetes manifests for the service, sized from the benchmark's CPU per request (notebook 8).

The sizing is the arithmetic of capacity planning, written out so that a learner can redo it:

    cores needed at the target load = target req/s × CPU seconds per request
    pods = ceil(cores needed / (CPU per pod × target utilisation))

The HorizontalPodAutoscaler then keeps the pods' CPU near the target utilisation between
``min_replicas`` and ``max_replicas`` (the peak load's pods).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

APP = "credit-risk-classifier"
PORT = 3000


@dataclass(frozen=True)
class Sizing:
    """Replicas for a load, from the CPU one request costs."""

    cpu_us_per_req: float
    target_rps: float
    peak_rps: float
    cpu_per_pod: float = 1.0
    utilisation: float = 0.6

    def cores(self, rps: float) -> float:
        return rps * self.cpu_us_per_req / 1e6

    def pods(self, rps: float) -> int:
        return max(1, math.ceil(self.cores(rps) / (self.cpu_per_pod * self.utilisation)))

    @property
    def min_replicas(self) -> int:
        return max(2, self.pods(self.target_rps))  # two at least: one pod may be restarting

    @property
    def max_replicas(self) -> int:
        return max(self.min_replicas, self.pods(self.peak_rps))

    def explain(self) -> str:
        """The arithmetic, line by line."""
        lines = [f"CPU per request: {self.cpu_us_per_req:.0f} µs (measured, framework included)",
                 f"pod: {self.cpu_per_pod:g} CPU, scaled at {self.utilisation:.0%} utilisation "
                 f"(headroom for bursts)"]
        for what, rps in (("target", self.target_rps), ("peak", self.peak_rps)):
            lines.append(f"{what} {rps:g} req/s × {self.cpu_us_per_req:.0f} µs = {self.cores(rps):.2f} cores"
                         f" -> ceil({self.cores(rps):.2f} / ({self.cpu_per_pod:g} × {self.utilisation:g}))"
                         f" = {self.pods(rps)} pods")
        lines.append(f"HPA: minReplicas {self.min_replicas} (at least 2), maxReplicas {self.max_replicas}, "
                     f"target CPU {self.utilisation:.0%}")
        return "\n".join(lines)


def _labels() -> dict[str, str]:
    return {"app": APP}  # a new dict each time: YAML anchors confuse readers


def manifests(image: str, sizing: Sizing, memory_request: str = "512Mi",
              memory_limit: str = "1Gi") -> list[dict[str, Any]]:
    """A Deployment (probes on /livez and /readyz, CPU requests from the sizing), a Service and an HPA."""
    cpu = f"{sizing.cpu_per_pod:g}"
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": APP, "labels": _labels()},
        "spec": {
            "replicas": sizing.min_replicas,
            "selector": {"matchLabels": _labels()},
            "template": {
                "metadata": {"labels": _labels()},
                "spec": {"containers": [{
                    "name": APP,
                    "image": image,
                    "ports": [{"name": "http", "containerPort": PORT}],
                    "env": [{"name": "BENTOML_DO_NOT_TRACK", "value": "true"}],
                    # The HPA's utilisation is measured against the request: it must be set.
                    "resources": {"requests": {"cpu": cpu, "memory": memory_request},
                                  "limits": {"cpu": cpu, "memory": memory_limit}},
                    "livenessProbe": {"httpGet": {"path": "/livez", "port": "http"},
                                      "initialDelaySeconds": 10, "periodSeconds": 10},
                    "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 5},
                }]},
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": APP, "labels": _labels()},
        "spec": {"selector": _labels(), "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
    }
    autoscaler = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": APP, "labels": _labels()},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": APP},
            "minReplicas": sizing.min_replicas,
            "maxReplicas": sizing.max_replicas,
            "metrics": [{"type": "Resource", "resource": {
                "name": "cpu", "target": {"type": "Utilization",
                                          "averageUtilization": round(sizing.utilisation * 100)}}}],
        },
    }
    return [deployment, service, autoscaler]
