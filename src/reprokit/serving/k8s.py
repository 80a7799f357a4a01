"""Kubernetes manifests for the served model, from `serving.deployment` in conf/.

Pure: config in, manifest dicts out (`render`). `reprokit deploy k8s` writes them as one file
per object plus a kustomization (`kubectl apply -k DIR`). The container is the image
`make image` builds (BentoML's, port 3000): probes on the service's own /livez and /readyz,
API keys from a Secret mounted as a file (never an environment value in a manifest), a
non-root, read-only container with nothing but /tmp writable, and a NetworkPolicy that
admits only the namespaces named in the config.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from reprokit.config.models import DeploymentConfig, ReprokitConfig

KEYS_DIR = "/var/run/secrets/reprokit"
_DNS_LABEL_MAX = 63


def app_name(config: ReprokitConfig) -> str:
    """`<project.name>-<data.name>` as a DNS-1123 label (what Kubernetes names must be)."""
    raw = f"{config.project.name}-{config.data.name}".lower()
    label = re.sub(r"[^a-z0-9-]+", "-", raw).strip("-")[:_DNS_LABEL_MAX].rstrip("-")
    return label or "reprokit"


def _metadata(name: str, deployment: DeploymentConfig) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "labels": _labels(name)}
    if deployment.namespace:
        metadata["namespace"] = deployment.namespace
    return metadata


def _labels(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/managed-by": "reprokit"}


def _selector(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name}


def _probe(path: str, port: int, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def _container(deployment: DeploymentConfig) -> dict[str, Any]:
    port = deployment.port
    return {
        "name": "service",
        "image": deployment.image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "env": [
            {"name": "REPROKIT_API_KEYS_FILE", "value": f"{KEYS_DIR}/keys"},
            {"name": "BENTOML_DO_NOT_TRACK", "value": "true"},
        ],
        "resources": {
            "requests": deployment.requests.model_dump(),
            "limits": deployment.limits.model_dump(),
        },
        # Up to 5 minutes to load the model before liveness counts.
        "startupProbe": _probe("/livez", port, period=5, failures=60),
        "livenessProbe": _probe("/livez", port, period=10, failures=3),
        "readinessProbe": _probe("/readyz", port, period=5, failures=2),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "api-keys", "mountPath": KEYS_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }


def _deployment(name: str, deployment: DeploymentConfig) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(name, deployment),
        "spec": {
            # With an autoscaler, it owns the replica count (a fixed one would fight it).
            **({} if deployment.autoscaling.enabled else {"replicas": deployment.replicas}),
            "selector": {"matchLabels": _selector(name)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {"labels": _labels(name)},
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": deployment.run_as_user,
                        "runAsGroup": deployment.run_as_user,
                        "fsGroup": deployment.run_as_user,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [_container(deployment)],
                    "volumes": [
                        {
                            "name": "api-keys",
                            "secret": {"secretName": deployment.api_keys_secret},
                        },
                        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
                    ],
                },
            },
        },
    }


def _service(name: str, deployment: DeploymentConfig) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(name, deployment),
        "spec": {
            "type": "ClusterIP",
            "selector": _selector(name),
            "ports": [
                {"name": "http", "port": deployment.port, "targetPort": "http", "protocol": "TCP"}
            ],
        },
    }


def _autoscaler(name: str, deployment: DeploymentConfig) -> dict[str, Any]:
    scaling = deployment.autoscaling
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(name, deployment),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": scaling.min_replicas,
            "maxReplicas": scaling.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": scaling.target_cpu_percent,
                        },
                    },
                }
            ],
        },
    }


def _disruption_budget(name: str, deployment: DeploymentConfig) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(name, deployment),
        "spec": {"minAvailable": 1, "selector": {"matchLabels": _selector(name)}},
    }


def _network_policy(name: str, deployment: DeploymentConfig) -> dict[str, Any]:
    sources: list[dict[str, Any]] = [{"podSelector": {}}]  # its own namespace
    sources += [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}
        for namespace in deployment.allow_from_namespaces
    ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(name, deployment),
        "spec": {
            "podSelector": {"matchLabels": _selector(name)},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": sources, "ports": [{"port": deployment.port, "protocol": "TCP"}]}],
        },
    }


def render(config: ReprokitConfig) -> dict[str, dict[str, Any]]:
    """File name -> manifest, for every object the service needs (the Secret is the user's)."""
    name, deployment = app_name(config), config.serving.deployment
    manifests = {
        "deployment.yaml": _deployment(name, deployment),
        "service.yaml": _service(name, deployment),
        "networkpolicy.yaml": _network_policy(name, deployment),
    }
    if deployment.autoscaling.enabled:
        manifests["hpa.yaml"] = _autoscaler(name, deployment)
    scaling = deployment.autoscaling
    fewest_replicas = scaling.min_replicas if scaling.enabled else deployment.replicas
    # A budget of one pod on a single replica would block every node drain.
    if fewest_replicas > 1:
        manifests["pdb.yaml"] = _disruption_budget(name, deployment)
    return manifests


def kustomization(files: list[str], namespace: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": sorted(files),
    }
    if namespace:
        body["namespace"] = namespace
    return body


def write_manifests(config: ReprokitConfig, target: Path) -> list[str]:
    """Every manifest and their kustomization as YAML files in `target`, replaced whole (a
    failed write leaves the previous folder); the names written, sorted."""
    import yaml

    from reprokit.datasets import atomic_directory

    manifests = render(config)
    files = {
        **manifests,
        "kustomization.yaml": kustomization(list(manifests), config.serving.deployment.namespace),
    }
    with atomic_directory(target) as tmp:
        for name, manifest in files.items():
            (tmp / name).write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")
    return sorted(files)
