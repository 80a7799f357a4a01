"""`reprokit deploy k8s`: manifests from serving.deployment, valid against Kubernetes' own
schemas (offline, strict: unknown fields fail), with the promised security settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner
from tests.support import PROJECT_ROOT, copy_project

from reprokit.cli import main
from reprokit.config.compose import compose_and_validate
from reprokit.config.models import ReprokitConfig
from reprokit.serving.k8s import app_name, render

KUBERNETES = kubernetes_validate.latest_version()


def config(*overrides: str) -> ReprokitConfig:
    return compose_and_validate(PROJECT_ROOT, list(overrides))[1]


def _container(manifests: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return manifests["deployment.yaml"]["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["serving.deployment.autoscaling.enabled=false", "serving.deployment.replicas=1"],
        ["serving.deployment.namespace=ml", "serving.deployment.allow_from_namespaces=[web,api]"],
    ],
    ids=["default", "fixed-single-replica", "namespaced"],
)
def test_every_manifest_is_valid_for_kubernetes(overrides: list[str]) -> None:
    for name, manifest in render(config(*overrides)).items():
        try:
            kubernetes_validate.validate(manifest, KUBERNETES, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{name}: {error.message} at {list(error.path)}")


def test_the_container_is_probed_non_root_read_only_and_gets_keys_from_a_secret() -> None:
    manifests = render(config())
    container = _container(manifests)
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 3000}
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    pod = manifests["deployment.yaml"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == 1034  # numeric: runAsNonRoot is enforceable
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env["REPROKIT_API_KEYS_FILE"].startswith("/var/run/secrets/reprokit/")
    assert "REPROKIT_API_KEYS" not in env  # a key never sits in a manifest
    assert pod["volumes"][0]["secret"]["secretName"] == "reprokit-api-keys"


def test_the_autoscaler_owns_the_replica_count() -> None:
    scaled = render(config())
    assert "replicas" not in scaled["deployment.yaml"]["spec"]
    assert scaled["hpa.yaml"]["spec"]["minReplicas"] == 2
    fixed = render(config("serving.deployment.autoscaling.enabled=false"))
    assert "hpa.yaml" not in fixed
    assert fixed["deployment.yaml"]["spec"]["replicas"] == 2
    single = render(
        config("serving.deployment.autoscaling.enabled=false", "serving.deployment.replicas=1")
    )
    assert "pdb.yaml" not in single  # a budget of 1 on 1 replica would block every drain


def test_network_policy_admits_its_namespace_and_the_named_ones() -> None:
    policy = render(config("serving.deployment.allow_from_namespaces=[web]"))["networkpolicy.yaml"]
    sources = policy["spec"]["ingress"][0]["from"]
    assert sources[0] == {"podSelector": {}}
    assert sources[1]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "web"}


def test_names_are_dns_labels() -> None:
    assert app_name(config()) == "reprokit-credit"
    assert app_name(config("project.name=team.churn_v2")) == "team-churn-v2-credit"


def test_bad_deployment_values_are_config_errors_naming_the_key() -> None:
    with pytest.raises(Exception, match=r"serving\.deployment\.limits\.memory"):
        config("serving.deployment.limits.memory=lots")
    with pytest.raises(Exception, match="max_replicas"):
        config("serving.deployment.autoscaling.max_replicas=1")


def test_the_command_writes_a_kustomization_and_keeps_old_output_on_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = copy_project(tmp_path / "project")
    monkeypatch.chdir(project)
    runner = CliRunner()
    written = runner.invoke(main, ["deploy", "k8s", "-o", "out"])
    assert written.exit_code == 0, written.output
    kustomization = yaml.safe_load((project / "out" / "kustomization.yaml").read_text())
    assert "deployment.yaml" in kustomization["resources"]
    before = (project / "out" / "deployment.yaml").read_text()
    failed = runner.invoke(main, ["deploy", "k8s", "-o", "out", "serving.deployment.port=0"])
    assert failed.exit_code != 0
    assert "serving.deployment.port" in failed.output
    assert "Traceback" not in failed.output
    assert (project / "out" / "deployment.yaml").read_text() == before
